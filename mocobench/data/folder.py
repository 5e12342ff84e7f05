"""ImageNet-layout folders (`DATA/train/<class>/*`, `DATA/val/<class>/*`): listing, checking, loading,
and writing one from the image arrays of a published format (`sources.py`).

`FolderDataset` takes `(epoch, index)` keys (`loading.order.GlobalBatchSampler`) and draws each sample's
augmentation from a generator seeded by `seeds.sample_seed(seed, epoch, index)`, so a run resumed from a
checkpoint sees exactly the crops an uninterrupted run would have, whatever the number of workers.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from mocobench.data.decode import load_rgb, verify_decodable
from mocobench.data.synth import run_jobs
from mocobench.errors import UsageError
from mocobench.runtime.seeds import sample_seed

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".JPEG")


def _class_dirs(split_dir: Path) -> list[Path]:
    return sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def list_split(root: Path, split: str, max_per_class: int = 0) -> tuple[list[tuple[Path, int]], list[str]]:
    """Samples (path, class index) of `root/split` in sorted order, and the class names."""
    split_dir = root / split
    if not split_dir.is_dir():
        raise UsageError(
            f"data folder {root} has no {split}/ folder; expected the ImageNet layout "
            f"{root}/{split}/<class>/<image> (or omit --data to use the embedded dataset)"
        )
    classes = _class_dirs(split_dir)
    if not classes:
        raise UsageError(f"{split_dir} has no class folders; put images in {split_dir}/<class>/")
    samples: list[tuple[Path, int]] = []
    for label, cdir in enumerate(classes):
        files = sorted(
            p for p in cdir.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS or p.suffix in IMAGE_EXTENSIONS
        )
        if not files:  # a class without images: its label would exist and never be seen or scored
            raise UsageError(
                f"class folder {cdir} holds no images ({', '.join(IMAGE_EXTENSIONS[:4])}, ...); every "
                "folder is a class: add its images or remove the folder"
            )
        samples += [(f, label) for f in files[: max_per_class or None]]
    return samples, [c.name for c in classes]


Samples = list[tuple[Path, int]]


def list_train_val(root: Path, max_per_class: int = 0) -> tuple[Samples, Samples, list[str]]:
    """Training samples (at most `max_per_class` per class), validation samples and the class names;
    a `val/` whose class folders differ from `train/`'s is refused (its labels would mean other classes)."""
    train, classes = list_split(root, "train", max_per_class)
    if len(classes) < 2:  # top-1 over one class is 100% whatever the features
        raise UsageError(
            f"{root}/train has one class folder ({classes[0]}), and top-1 over one class is always 100%; "
            "put each class's images in its own folder, at least 2, in train/ and val/"
        )
    val, val_classes = list_split(root, "val")
    if val_classes != classes:
        raise UsageError(
            f"{root}/val has classes {val_classes[:3]}... but train has {classes[:3]}...; "
            "use the same class folders"
        )
    return train, val, classes


def verify_images(samples: list[tuple[Path, int]]) -> None:
    """Decode the images before training starts (`decode.verify_decodable`), so a broken file stops the run
    at once with one line, not in a loader worker after the run folder was written."""
    verify_decodable([path for path, _ in samples])


def verified_train_val(root: Path, max_per_class: int = 0) -> tuple[Samples, Samples, list[str]]:
    """`list_train_val` after decoding every image it lists: what an evaluation reads, checked before it
    runs or writes anything."""
    train, val, classes = list_train_val(root, max_per_class)
    verify_images(train + val)
    return train, val, classes


class FolderDataset(Dataset):
    """Images of one split; `__getitem__` takes `(epoch, index)` keys from `GlobalBatchSampler`.

    With an int key (plain loaders, evaluation) the transform draws from the ambient generator.
    """

    def __init__(
        self, samples: list[tuple[Path, int]], classes: list[str], transform: Callable, seed: int = 0
    ):
        self.samples, self.classes, self.transform, self.seed = samples, classes, transform, seed

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[Any, int]:
        if isinstance(key, tuple):
            epoch, index = key
            s = sample_seed(self.seed, epoch, index)
            torch.manual_seed(s)
            random.seed(s)
        else:
            index = key
        path, label = self.samples[index]
        return self.transform(load_rgb(path)), label


@dataclass(frozen=True)
class ImageArray:
    """uint8 images stored back to back in one file, read through a memory map a slice at a time, so a
    2.7 GB file (STL-10's unlabeled set) is never loaded whole and pool workers read their own slices.

    `shape` is the stored layout (images first); `axes` transposes it to (N, H, W) or (N, H, W, C).
    """

    path: Path
    shape: tuple[int, ...]
    offset: int = 0
    axes: tuple[int, ...] | None = None

    def __len__(self) -> int:
        return self.shape[0]

    def read(self, start: int, stop: int) -> np.ndarray:
        stored = np.memmap(self.path, dtype=np.uint8, mode="r", offset=self.offset, shape=self.shape)
        block = stored[start:stop]
        return np.ascontiguousarray(block if self.axes is None else block.transpose(self.axes))


@dataclass(frozen=True)
class ArraySplit:
    """One split of a published format: its images and their labels (None: unlabeled images)."""

    images: ImageArray
    labels: np.ndarray | None


def class_folder_names(names: list[str]) -> list[str]:
    """Folder names for class names given in label order: `list_split` numbers classes in sorted folder
    order, so names that would sort differently (Fashion-MNIST's) get their label as a zero-padded prefix,
    and the folder index is the published label either way."""
    safe = [re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "class" for name in names]
    if safe == sorted(safe) and len(set(safe)) == len(safe):
        return safe
    width = len(str(len(names) - 1))
    return [f"{i:0{width}d}_{name}" for i, name in enumerate(safe)]


UNLABELED = "unlabeled"  # the one class folder of a split without labels
WRITE_CHUNK = 64  # images per pool job; run_jobs parallelises from 200 jobs (~13k images) on


def _write_chunk(job: tuple[ImageArray, int, int, list[int], Path, list[str]]) -> None:
    images, start, stop, labels, split_dir, folders = job
    for offset, (image, label) in enumerate(zip(images.read(start, stop), labels, strict=True)):
        path = split_dir / folders[label] / f"{start + offset:06d}.png"
        Image.fromarray(image).save(path, compress_level=1)  # lossless; faster than the default 6


def write_split(root: Path, split: str, data: ArraySplit, folders: list[str]) -> int:
    """Write `data` as `root/split/<folder of its label>/<index>.png` (grayscale stays one channel);
    unlabeled images go to `root/split/unlabeled/`. Returns the number of images."""
    n = len(data.images)
    if data.labels is None:
        labels, folders = np.zeros(n, dtype=np.int64), [UNLABELED]
    else:
        labels = np.asarray(data.labels, dtype=np.int64)
    split_dir = root / split
    for name in folders:  # every class, even one without images here: folder index = label
        (split_dir / name).mkdir(parents=True, exist_ok=True)
    jobs = [
        (data.images, s, min(s + WRITE_CHUNK, n), labels[s : s + WRITE_CHUNK].tolist(), split_dir, folders)
        for s in range(0, n, WRITE_CHUNK)
    ]
    run_jobs(_write_chunk, jobs)
    return n
