"""Two-view loaders for pre-training (folder, FFCV), one epoch order, and the choice between them."""
