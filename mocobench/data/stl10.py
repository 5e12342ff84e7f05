"""STL-10, binary version (https://cs.stanford.edu/~acoates/stl10/): `stl10_binary/`.

`train_X.bin` (5,000 images), `test_X.bin` (8,000) and `unlabeled_X.bin` (100,000) hold 96 x 96 x 3 uint8
images back to back, each as its red, green and blue planes, every plane in column-major order (MATLAB's);
torchvision reshapes to (N, 3, 96, 96) and swaps the last two axes. `train_y.bin` and `test_y.bin` hold one
label byte per image, 1..10, in the order of `class_names.txt`. Pre-training reads train + unlabeled, the
evaluation train (the linear set, the kNN bank) and test (val/). The 2.7 GB unlabeled file is memory-mapped
and converted a slice at a time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mocobench.data.folder import ArraySplit, ImageArray
from mocobench.data.text import read_lines
from mocobench.errors import UsageError

FOLDER = "stl10_binary"
URL = "https://cs.stanford.edu/~acoates/stl10/"
SIDE = 96
IMAGE_BYTES = 3 * SIDE * SIDE
NUM_CLASSES = 10
IMAGES = {"train": "train_X.bin", "val": "test_X.bin", "unlabeled": "unlabeled_X.bin"}
LABELS = {"train": "train_y.bin", "val": "test_y.bin"}
CLASS_NAMES = "class_names.txt"
HINT = f"pass the folder '{FOLDER}' of the binary version from {URL}"


def locate(path: Path) -> Path:
    """`path` itself or its `stl10_binary/`."""
    if path.is_file():
        raise UsageError(f"{path} is a file; unpack it (tar xzf) and {HINT}")
    if not path.is_dir():
        raise UsageError(f"{path} does not exist; {HINT}")
    inner = path / FOLDER
    return inner if not (path / IMAGES["train"]).exists() and inner.is_dir() else path


def source_files(folder: Path) -> list[Path]:
    files = [folder / name for name in (*IMAGES.values(), *LABELS.values(), CLASS_NAMES)]
    for f in files:
        if not f.is_file():
            raise UsageError(f"{folder} has no {f.name}; {HINT}")
    return files


def class_names(folder: Path) -> list[str]:
    path = folder / CLASS_NAMES
    names = read_lines(path, HINT)
    if len(names) != NUM_CLASSES:
        raise UsageError(f"{path} names {len(names)} classes, not {NUM_CLASSES}; {HINT}")
    return names


def _images(path: Path) -> ImageArray:
    size = path.stat().st_size
    if size == 0 or size % IMAGE_BYTES:
        raise UsageError(
            f"{path} has {size} bytes, not a positive multiple of {IMAGE_BYTES} (3 x {SIDE} x {SIDE} "
            f"per image); {HINT}"
        )
    # stored (N, channel, column, row): to (N, row, column, channel)
    return ImageArray(path, (size // IMAGE_BYTES, 3, SIDE, SIDE), axes=(0, 3, 2, 1))


def _labels(path: Path, count: int) -> np.ndarray:
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size != count:
        raise UsageError(f"{path} has {raw.size} labels for {count} images; {HINT}")
    if raw.min() < 1 or raw.max() > NUM_CLASSES:
        raise UsageError(f"{path} has labels {raw.min()}..{raw.max()}, outside 1..{NUM_CLASSES}; {HINT}")
    return raw.astype(np.int64) - 1


def read(folder: Path, scratch: Path) -> tuple[list[str], dict[str, ArraySplit]]:
    """Class names and the splits train, val (the test set) and unlabeled; nothing is copied to `scratch`."""
    classes = class_names(folder)
    splits = {}
    for split, name in IMAGES.items():
        images = _images(folder / name)
        labels = _labels(folder / LABELS[split], len(images)) if split in LABELS else None
        splits[split] = ArraySplit(images, labels)
    return classes, splits
