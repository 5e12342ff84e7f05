"""Linear classification on frozen features (the paper's protocol) from any checkpoint we can read."""
