"""ImageNet-layout folders (`DATA/train/<class>/*`, `DATA/val/<class>/*`): checking, loading, batching.

Two choices make runs reproducible to the bit, whatever the number of processes or loader workers:
- `GlobalBatchSampler` draws one permutation per (seed, epoch) and cuts it into *global* batches; each
  process takes its contiguous slice, so gathering the slices in rank order rebuilds the single-process
  batch (what the DDP test and shuffle BN rely on).
- every sample's augmentation is drawn from a generator seeded by (seed, epoch, index), so a run resumed
  from a checkpoint sees exactly the crops an uninterrupted run would have.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset, Sampler

from mocobench.errors import UsageError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".JPEG")
VERIFY_ALL_BELOW = 20_000  # folders up to this size are checked image by image before training starts
VERIFY_SAMPLE = 500  # larger folders: a deterministic sample


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
        if max_per_class:
            files = files[:max_per_class]
        samples += [(f, label) for f in files]
    if not samples:
        raise UsageError(
            f"{split_dir} holds no images ({', '.join(IMAGE_EXTENSIONS[:4])}, ...); add images or fix --data"
        )
    return samples, [c.name for c in classes]


Samples = list[tuple[Path, int]]


def list_train_val(root: Path, max_per_class: int = 0) -> tuple[Samples, Samples, list[str]]:
    """Training samples (at most `max_per_class` per class), validation samples and the class names;
    a `val/` whose class folders differ from `train/`'s is refused (its labels would mean other classes)."""
    train, classes = list_split(root, "train", max_per_class)
    val, val_classes = list_split(root, "val")
    if val_classes != classes:
        raise UsageError(
            f"{root}/val has classes {val_classes[:3]}... but train has {classes[:3]}...; "
            "use the same class folders"
        )
    return train, val, classes


def verify_images(samples: list[tuple[Path, int]]) -> None:
    """Open images before training starts so a broken file stops the run at once, not hours in."""
    if len(samples) > VERIFY_ALL_BELOW:
        samples = random.Random(0).sample(samples, VERIFY_SAMPLE)
    for path, _ in samples:
        try:
            with Image.open(path) as im:
                im.verify()
        except (UnidentifiedImageError, OSError, SyntaxError) as e:
            raise UsageError(
                f"unreadable image {path} ({type(e).__name__}); remove or replace the file"
            ) from e


def load_rgb(path: Path) -> Image.Image:
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except (UnidentifiedImageError, OSError) as e:
        raise UsageError(f"unreadable image {path} ({type(e).__name__}); remove or replace the file") from e


def sample_seed(seed: int, epoch: int, index: int) -> int:
    return ((seed * 1_000_003 + epoch) * 10_000_019 + index) % (2**63 - 1)


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


class GlobalBatchSampler(Sampler[list[tuple[int, int]]]):
    """Per-(seed, epoch) permutation cut into global batches (last partial one dropped, as the paper's
    `drop_last=True`); yields this rank's contiguous slice of each, as `(epoch, index)` keys."""

    def __init__(self, size: int, global_batch: int, rank: int = 0, world_size: int = 1, seed: int = 0):
        if global_batch % world_size:
            raise UsageError(
                f"batch_size {global_batch} is not divisible by the {world_size} processes; "
                "choose a batch or process count that divides it"
            )
        if size < global_batch:
            raise UsageError(
                f"the training set has {size} images, fewer than one batch of {global_batch}; "
                "use more data or a smaller batch (--set batch_size=N)"
            )
        self.size, self.global_batch, self.rank, self.world_size, self.seed = (
            size,
            global_batch,
            rank,
            world_size,
            seed,
        )
        self.local_batch = global_batch // world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size // self.global_batch

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        g = torch.Generator().manual_seed(self.seed * 7919 + self.epoch)
        perm = torch.randperm(self.size, generator=g).tolist()
        lo = self.rank * self.local_batch
        for b in range(len(self)):
            batch = perm[b * self.global_batch : (b + 1) * self.global_batch]
            yield [(self.epoch, i) for i in batch[lo : lo + self.local_batch]]


def batched_loader(
    dataset: Dataset, config: dict[str, Any], dist: Any, seed: int, worker_init: Callable | None = None
) -> tuple[DataLoader, GlobalBatchSampler]:
    """A training DataLoader over `dataset` in `GlobalBatchSampler` order (config's global batch, workers)."""
    sampler = GlobalBatchSampler(len(dataset), config["batch_size"], dist.rank, dist.world_size, seed)
    workers = config["workers"]
    loader = DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=workers,
        pin_memory=dist.device.type == "cuda",
        persistent_workers=workers > 0,
        worker_init_fn=worker_init if workers > 0 else None,
    )
    return loader, sampler


def resolve_data(data: Path | None) -> Path:
    """`--data` checked, or the embedded dataset (generated on first use)."""
    if data is None:
        from mocobench.data.synth import embedded_dataset

        return embedded_dataset()
    data = Path(data).expanduser()
    if not data.is_dir():
        raise UsageError(f"data folder {data} does not exist; pass an ImageNet-layout folder or omit --data")
    return data
