"""The paper's tables as data, and ours assembled from the result store beside them (CSV, Markdown, PNG)."""
