"""CIFAR-10 and CIFAR-100, "python version" (https://www.cs.toronto.edu/~kriz/cifar.html).

`cifar-10-batches-py/` holds the pickles `data_batch_1`..`data_batch_5`, `test_batch` and `batches.meta`;
`cifar-100-python/` holds `train`, `test` and `meta`. Each data pickle is a dict whose `data` is an
N x 3072 uint8 array, each row the red, green and blue 32 x 32 planes in row-major order, and whose
`labels` (CIFAR-100: `fine_labels`) lists N class indices; the meta pickle names the classes
(`label_names`, CIFAR-100: `fine_label_names`). They were written by Python 2, so the keys come back as
str with torchvision's `encoding="latin1"` and as bytes with the authors' `encoding="bytes"`: both are read.
The pickles are read as data (`unpickle.py`): a global other than numpy's array reconstruction is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mocobench.data import unpickle
from mocobench.data.folder import ArraySplit, ImageArray
from mocobench.errors import UsageError

URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
SIDE = 32
IMAGE_BYTES = 3 * SIDE * SIDE


@dataclass(frozen=True)
class Layout:
    folder: str  # the folder the archive unpacks to
    train: tuple[str, ...]
    test: str
    meta: str
    labels_key: str
    names_key: str
    num_classes: int


LAYOUTS = {
    "cifar10": Layout(
        "cifar-10-batches-py",
        tuple(f"data_batch_{i}" for i in range(1, 6)),
        "test_batch",
        "batches.meta",
        "labels",
        "label_names",
        10,
    ),
    "cifar100": Layout(
        "cifar-100-python", ("train",), "test", "meta", "fine_labels", "fine_label_names", 100
    ),
}


def _hint(kind: str) -> str:
    return f"pass the folder '{LAYOUTS[kind].folder}' of the python version from {URL}"


def locate(kind: str, path: Path) -> Path:
    """The folder holding the pickles: `path` itself or its `cifar-10-batches-py/` (`cifar-100-python/`)."""
    layout = LAYOUTS[kind]
    if path.is_file():
        raise UsageError(f"{path} is a file; unpack it (tar xzf) and {_hint(kind)}")
    if not path.is_dir():
        raise UsageError(f"{path} does not exist; {_hint(kind)}")
    inner = path / layout.folder
    return inner if not (path / layout.train[0]).exists() and inner.is_dir() else path


def source_files(kind: str, folder: Path) -> list[Path]:
    layout = LAYOUTS[kind]
    files = [folder / name for name in (*layout.train, layout.test, layout.meta)]
    for f in files:
        if not f.is_file():
            raise UsageError(f"{folder} has no {f.name}; {_hint(kind)}")
    return files


def _unpickle(path: Path, kind: str) -> dict[str, Any]:
    """A pickle of the format, read as data: numpy arrays and plain values only (`unpickle.py`)."""
    try:
        entry = unpickle.read(path, unpickle.NUMPY_ARRAYS)
    except unpickle.RefusedGlobal as e:
        raise UsageError(
            f"{path} names {e.name}, which no CIFAR pickle holds: refused, nothing run (dataset files "
            f"are data, never code); {_hint(kind)}"
        ) from None
    except (OSError, *unpickle.UNREADABLE) as e:
        raise UsageError(f"{path} is not a CIFAR pickle ({type(e).__name__}); {_hint(kind)}") from e
    if not isinstance(entry, dict):
        raise UsageError(f"{path} holds a {type(entry).__name__}, not a dict; {_hint(kind)}")
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in entry.items()}


def _field(entry: dict[str, Any], key: str, path: Path, kind: str) -> Any:
    if key not in entry:
        raise UsageError(f"{path} has no '{key}' entry; {_hint(kind)}")
    return entry[key]


def _array(entry: dict[str, Any], key: str, path: Path, kind: str) -> np.ndarray:
    try:
        return np.asarray(_field(entry, key, path, kind))
    except (ValueError, TypeError, OverflowError) as e:  # ragged lists, values numpy cannot hold
        raise UsageError(
            f"{path} has a '{key}' entry that is no array ({type(e).__name__}); {_hint(kind)}"
        ) from e


def class_names(kind: str, folder: Path) -> list[str]:
    layout = LAYOUTS[kind]
    path = folder / layout.meta
    names = _field(_unpickle(path, kind), layout.names_key, path, kind)
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, (str, bytes)) for n in names):
        raise UsageError(f"{path}: '{layout.names_key}' is not a list of class names; {_hint(kind)}")
    names = [n.decode("latin1") if isinstance(n, bytes) else n for n in names]
    if len(names) != layout.num_classes:
        raise UsageError(f"{path} names {len(names)} classes, not {layout.num_classes}; {_hint(kind)}")
    return names


def _unpack_batches(kind: str, folder: Path, names: tuple[str, ...], raw: Path) -> np.ndarray:
    """Append the images of the pickles `names` to the raw file `raw` (one pickle in memory at a time)
    and return their labels."""
    layout = LAYOUTS[kind]
    labels = []
    with open(raw, "wb") as out:
        for name in names:
            path = folder / name
            entry = _unpickle(path, kind)
            data = _array(entry, "data", path, kind)
            if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != IMAGE_BYTES:
                raise UsageError(
                    f"{path} holds {data.dtype} data of shape {data.shape}, not N x {IMAGE_BYTES} uint8 "
                    f"(3 x {SIDE} x {SIDE} per image); {_hint(kind)}"
                )
            label = _array(entry, layout.labels_key, path, kind)
            if label.shape != (len(data),):
                raise UsageError(f"{path} has {len(data)} images but {label.size} labels; {_hint(kind)}")
            if len(label) and label.dtype.kind not in "iu":
                raise UsageError(f"{path} has {label.dtype} labels, not integers; {_hint(kind)}")
            if len(label) and (label.min() < 0 or label.max() >= layout.num_classes):
                raise UsageError(
                    f"{path} has labels {label.min()}..{label.max()}, outside 0..{layout.num_classes - 1}; "
                    f"{_hint(kind)}"
                )
            np.ascontiguousarray(data).tofile(out)
            labels.append(label.astype(np.int64))
    if not sum(len(label) for label in labels):
        raise UsageError(f"{folder / names[0]} holds no images; {_hint(kind)}")
    return np.concatenate(labels)


def read(kind: str, folder: Path, scratch: Path) -> tuple[list[str], dict[str, ArraySplit]]:
    """Class names and the splits (train -> train, test -> val). The pickles are unpacked once into raw
    files in `scratch`, which pool workers map a slice at a time."""
    layout = LAYOUTS[kind]
    classes = class_names(kind, folder)
    splits = {}
    for split, names in (("train", layout.train), ("val", (layout.test,))):
        raw = scratch / f"{split}.u8"
        labels = _unpack_batches(kind, folder, names, raw)
        images = ImageArray(raw, (len(labels), 3, SIDE, SIDE), axes=(0, 2, 3, 1))  # channel planes -> HWC
        splits[split] = ArraySplit(images, labels)
    return classes, splits
