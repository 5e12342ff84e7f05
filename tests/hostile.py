"""Hostile image files for the up-front checks: truncated JPEGs, decompression bombs a few bytes long, and
small ImageNet-layout folders to put them in."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image


def image_folder(
    root: Path, classes: Sequence[str] = ("a", "b"), train: int = 4, val: int = 2, size: int = 32
) -> Path:
    """`root/{train,val}/<class>/<i>.jpg`: seeded noise JPEGs, `train` and `val` per class."""
    rng = np.random.default_rng(0)
    for split, n in (("train", train), ("val", val)):
        for name in classes:
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{i}.jpg", quality=90)
    return root


def truncate(path: Path) -> Path:
    """Keep the first half of the file: headers intact (PIL's `verify` passes), the scan cut short."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(path: Path, width: int = 50_000, height: int = 50_000) -> Path:
    """A valid PNG signature and IHDR claiming width x height RGB pixels, one tiny IDAT: ~60 bytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(b"\0"))
        + _chunk(b"IEND", b"")
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def jpeg_claiming(path: Path, width: int, height: int) -> Path:
    """A complete 16 x 16 baseline JPEG whose frame header (SOF0) claims width x height."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((16, 16, 3), 128, dtype=np.uint8)).save(path, quality=90)
    data = bytearray(path.read_bytes())
    sof = data.index(b"\xff\xc0")  # length(2) precision(1) height(2) width(2) components(1)
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    path.write_bytes(bytes(data))
    return path
