"""Small files in the exact on-disk formats the datasets' authors distribute, with deterministic pixels.

Each writer returns what a reader must recover: the class names and, per split (train, val and, for STL-10,
unlabeled), the images as (N, H, W, 3) or (N, H, W) uint8 arrays and their labels in the published
numbering. Pixels are seeded noise: no image equals its transpose or mirror, so a reader that read the
wrong axis order fails the round trip. `cached_split` reads a converted split back in its original order.
"""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
from PIL import Image

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
# fmt: off
CIFAR100_CLASSES = [
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
    "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
    "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
    "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo",
    "keyboard", "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree",
    "motorcycle", "mountain", "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree",
    "pear", "pickup_truck", "pine_tree", "plain", "plate", "poppy", "porcupine", "possum", "rabbit",
    "raccoon", "ray", "road", "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper",
    "snail", "snake", "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank",
    "telephone", "television", "tiger", "tractor", "train", "trout", "tulip", "turtle", "wardrobe",
    "whale", "willow_tree", "wolf", "woman", "worm",
]
CIFAR100_COARSE = [
    "aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables",
    "household_electrical_devices", "household_furniture", "insects", "large_carnivores",
    "large_man-made_outdoor_things", "large_natural_outdoor_scenes", "large_omnivores_and_herbivores",
    "medium_mammals", "non-insect_invertebrates", "people", "reptiles", "small_mammals", "trees",
    "vehicles_1", "vehicles_2",
]
# fmt: on
STL10_CLASSES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]
FASHION_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
assert len(CIFAR100_CLASSES) == 100 and len(CIFAR100_COARSE) == 20


@dataclass
class Written:
    """What was written: the folder to pass, the class names, and split -> (images, labels or None)."""

    path: Path
    classes: list[str]
    splits: dict[str, tuple[np.ndarray, np.ndarray | None]] = field(default_factory=dict)


def pixels(count: int, side: int, channels: int, seed: int) -> np.ndarray:
    shape = (count, side, side, channels) if channels > 1 else (count, side, side)
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def balanced_labels(per_class: int, num_classes: int, seed: int) -> np.ndarray:
    """`per_class` of each class, shuffled (published files are not sorted by class)."""
    labels = np.repeat(np.arange(num_classes), per_class)
    return np.random.default_rng(seed).permutation(labels)


class Python2Pickler(pickle._Pickler):
    """Protocol 2 as Python 2's cPickle wrote it: bytes as Python 2 str (BINSTRING), which reads back as
    str under torchvision's encoding="latin1" and as bytes under the authors' encoding="bytes", and
    NumPy's reconstructor under its Python 2 module name."""

    dispatch: ClassVar[dict] = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj: bytes) -> None:
        n = len(obj)
        self.write(
            pickle.SHORT_BINSTRING + bytes([n]) + obj
            if n < 256
            else pickle.BINSTRING + struct.pack("<i", n) + obj
        )
        self.memoize(obj)

    dispatch[bytes] = save_py2_str

    def save_global(self, obj: object, name: str | None = None) -> None:
        module = obj.__module__.replace("numpy._core", "numpy.core")
        self.write(pickle.GLOBAL + f"{module}\n{name or obj.__qualname__}\n".encode())
        self.memoize(obj)


def py2_pickle(path: Path, obj: object) -> None:
    with open(path, "wb") as f:
        Python2Pickler(f, protocol=2).dump(obj)


class Planted:
    """A hostile payload to plant in a pickle: Python's full unpickler calls os.mkdir(marker) (the global
    posix.mkdir), so the marker folder shows whether it ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.mkdir, (str(self.marker),)


def _cifar_rows(images: np.ndarray) -> np.ndarray:
    """(N, 32, 32, 3) -> N x 3072: the red, green, blue planes of each image, row-major."""
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(len(images), -1))


def _filenames(labels: np.ndarray, start: int) -> list[bytes]:
    return [f"image_{start + i:05d}_{label}.png".encode() for i, label in enumerate(labels)]


def write_cifar10(parent: Path, train_per_class: int = 2, test_per_class: int = 1, seed: int = 0) -> Written:
    """`parent/cifar-10-batches-py/`: data_batch_1..5 (train, split across five batches), test_batch,
    batches.meta, readme.html."""
    folder = parent / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    out = Written(folder, list(CIFAR10_CLASSES))
    train = pixels(10 * train_per_class, 32, 3, seed), balanced_labels(train_per_class, 10, seed + 1)
    test = pixels(10 * test_per_class, 32, 3, seed + 2), balanced_labels(test_per_class, 10, seed + 3)
    bounds = np.linspace(0, len(train[0]), 6).astype(int)
    for b in range(5):
        images, labels = train[0][bounds[b] : bounds[b + 1]], train[1][bounds[b] : bounds[b + 1]]
        batch = {
            b"batch_label": f"training batch {b + 1} of 5".encode(),
            b"labels": labels.tolist(),
            b"data": _cifar_rows(images),
            b"filenames": _filenames(labels, bounds[b]),
        }
        py2_pickle(folder / f"data_batch_{b + 1}", batch)
    py2_pickle(
        folder / "test_batch",
        {
            b"batch_label": b"testing batch 1 of 1",
            b"labels": test[1].tolist(),
            b"data": _cifar_rows(test[0]),
            b"filenames": _filenames(test[1], 0),
        },
    )
    names = [n.encode() for n in CIFAR10_CLASSES]
    py2_pickle(
        folder / "batches.meta", {b"num_cases_per_batch": 10000, b"label_names": names, b"num_vis": 3072}
    )
    (folder / "readme.html").write_text("<meta HTTP-EQUIV='REFRESH' content='0; url=...'>\n")
    out.splits = {"train": train, "val": test}
    return out


def write_cifar100(parent: Path, train_per_class: int = 1, test_per_class: int = 1, seed: int = 0) -> Written:
    """`parent/cifar-100-python/`: train, test, meta (fine and coarse labels)."""
    folder = parent / "cifar-100-python"
    folder.mkdir(parents=True)
    out = Written(folder, list(CIFAR100_CLASSES))
    for split, name, per_class, s in (
        ("train", "train", train_per_class, seed),
        ("val", "test", test_per_class, seed + 2),
    ):
        images, labels = pixels(100 * per_class, 32, 3, s), balanced_labels(per_class, 100, s + 1)
        py2_pickle(
            folder / name,
            {
                b"filenames": _filenames(labels, 0),
                b"batch_label": f"{'training' if name == 'train' else 'testing'} batch 1 of 1".encode(),
                b"fine_labels": labels.tolist(),
                b"coarse_labels": (labels // 5).tolist(),
                b"data": _cifar_rows(images),
            },
        )
        out.splits[split] = images, labels
    py2_pickle(
        folder / "meta",
        {
            b"fine_label_names": [n.encode() for n in CIFAR100_CLASSES],
            b"coarse_label_names": [n.encode() for n in CIFAR100_COARSE],
        },
    )
    return out


def stl10_bytes(images: np.ndarray) -> bytes:
    """(N, 96, 96, 3) -> STL-10's layout: per image the three channel planes, each column-major."""
    return np.ascontiguousarray(images.transpose(0, 3, 2, 1)).tobytes()


def write_stl10(
    parent: Path, train_per_class: int = 2, test_per_class: int = 1, unlabeled: int = 7, seed: int = 0
) -> Written:
    """`parent/stl10_binary/`: train_X.bin, train_y.bin (labels 1..10), test_X.bin, test_y.bin,
    unlabeled_X.bin, class_names.txt, fold_indices.txt."""
    folder = parent / "stl10_binary"
    folder.mkdir(parents=True)
    out = Written(folder, list(STL10_CLASSES))
    for split, name, per_class, s in (
        ("train", "train", train_per_class, seed),
        ("val", "test", test_per_class, seed + 2),
    ):
        images, labels = pixels(10 * per_class, 96, 3, s), balanced_labels(per_class, 10, s + 1)
        (folder / f"{name}_X.bin").write_bytes(stl10_bytes(images))
        (folder / f"{name}_y.bin").write_bytes((labels + 1).astype(np.uint8).tobytes())
        out.splits[split] = images, labels
    extra = pixels(unlabeled, 96, 3, seed + 4)
    (folder / "unlabeled_X.bin").write_bytes(stl10_bytes(extra))
    out.splits["unlabeled"] = extra, None
    (folder / "class_names.txt").write_text("".join(f"{n}\n" for n in STL10_CLASSES))
    n_train = len(out.splits["train"][0])
    folds = [" ".join(str(i) for i in range(f, n_train, 10)) for f in range(10)]
    (folder / "fold_indices.txt").write_text("".join(f"{line} \n" for line in folds))
    return out


def idx_bytes(array: np.ndarray) -> bytes:
    """An idx file: magic 0x0000 08 <ndim>, the dimensions as big-endian uint32, then the uint8 data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx(
    folder: Path,
    train_per_class: int = 2,
    test_per_class: int = 1,
    gz: bool = True,
    seed: int = 0,
    classes: list[str] | None = None,
) -> Written:
    """`folder/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`, 28 x 28 grayscale (MNIST's layout,
    Fashion-MNIST's too)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = Written(folder, classes or [str(d) for d in range(10)])
    for split, prefix, per_class, s in (
        ("train", "train", train_per_class, seed),
        ("val", "t10k", test_per_class, seed + 2),
    ):
        images, labels = pixels(10 * per_class, 28, 1, s), balanced_labels(per_class, 10, s + 1)
        for kind, array in (("images-idx3", images), ("labels-idx1", labels.astype(np.uint8))):
            name = f"{prefix}-{kind}-ubyte"
            data = idx_bytes(array)
            if gz:
                with gzip.open(folder / f"{name}.gz", "wb") as f:
                    f.write(data)
            else:
                (folder / name).write_bytes(data)
        out.splits[split] = images, labels
    return out


def write_imagenet(root: Path, wnids: list[str], per_class: int = 1, seed: int = 0) -> Path:
    """An ImageNet folder: train/<wnid>/<wnid>_<i>.JPEG and val/<wnid>/ILSVRC2012_val_<n>.JPEG (PNG bytes
    suffice: the reader links class folders and never opens an image)."""
    rng = np.random.default_rng(seed)
    n = 0
    for split in ("train", "val"):
        for wnid in wnids:
            (root / split / wnid).mkdir(parents=True)
            for i in range(per_class):
                n += 1
                name = f"{wnid}_{i}.JPEG" if split == "train" else f"ILSVRC2012_val_{n:08d}.JPEG"
                Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(
                    root / split / wnid / name, "PNG"
                )
    return root


def cached_split(root: Path, split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A converted split read back in its original order (files are named by index): the images, their
    labels (folder index, as `list_split` numbers them) and the folder names."""
    folders = sorted(p.name for p in (root / split).iterdir() if p.is_dir())
    items = []
    for label, name in enumerate(folders):
        for png in (root / split / name).glob("*.png"):
            with Image.open(png) as im:
                items.append((int(png.stem), label, np.array(im)))
    items.sort(key=lambda item: item[0])
    assert [i for i, _, _ in items] == list(range(len(items)))
    return np.stack([a for _, _, a in items]), np.array([label for _, label, _ in items]), folders


def assert_refused(spec: str, message: str, url: str) -> None:
    """`open_data(spec)` refuses in one line that starts with the spec, matches `message` and names
    where the published files come from (`url`)."""
    import pytest

    from mocobench.data.sources import open_data
    from mocobench.errors import UsageError

    with pytest.raises(UsageError, match=message) as error:
        open_data(spec)
    text = str(error.value)
    assert "\n" not in text and text.startswith(f"{spec}: ") and url in text
