"""Tables 1-3 assembled from the result store beside the paper's figures (CSV, Markdown, PNG), and notes."""
