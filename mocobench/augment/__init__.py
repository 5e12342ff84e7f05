"""The augmentations: one spec per pipeline, and the PIL reference, CPU and device implementations of it."""
