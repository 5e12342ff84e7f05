"""Photo-like test images: smooth colour waves, sharp-edged shapes and noise, and writing them in any mode."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image


def photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth colour waves, shapes with sharp edges and noise (photo-like content for resizing)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    waves = [128 + 90 * np.sin(a * xx / 9 + b * yy / 7 + c) for a, b, c in rng.uniform(-1, 1, (3, 3))]
    img = np.stack(waves, -1).astype(np.uint8)
    for _ in range(8):
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p2 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.rectangle(img, p1, p2, colour, -1)
    return np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)


def write(path: Path, img: np.ndarray, mode: str = "RGB", **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).convert(mode).save(path, **kw)
    return path
