"""Datasets: ImageNet-layout folders, VOC devkits, image decoding, and the embedded generated sets."""
