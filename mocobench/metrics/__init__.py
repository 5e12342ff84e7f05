"""Measures on features and logits: weighted kNN (the pre-training monitor) and top-k accuracy."""
