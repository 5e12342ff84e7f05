"""MNIST and Fashion-MNIST in their idx files (http://yann.lecun.com/exdb/mnist/,
https://github.com/zalandoresearch/fashion-mnist), each possibly gzipped as distributed.

`train-images-idx3-ubyte`, `t10k-images-idx3-ubyte`: the magic 0x00000803 (unsigned bytes, 3
dimensions), then N, rows, columns as big-endian uint32, then N row-major 28 x 28 grayscale images.
`train-labels-idx1-ubyte`, `t10k-labels-idx1-ubyte`: 0x00000801, N, then N label bytes 0..9.
train -> train/, t10k -> val/.

torchvision's parsers (`torchvision.datasets.mnist.read_image_file`, `read_sn3_pascalvincent_tensor`) do
not fit: they `open()` the path (no .gz, although the docstring says so), read the whole file and check
with `assert`, which names neither file nor fix. The 16-byte header is parsed here, plain image files are
memory-mapped in place and gzipped ones decompressed once into the conversion's scratch folder. The tests
read the files they write with torchvision's parsers, so both agree on the format.

A gzip stream is inflated only as far as its header says it reaches, plus one byte to tell a longer one:
deflate expands up to ~1000x, so a small hostile `.gz` could otherwise fill the disk or memory before the
size check refused it.
"""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from mocobench.data.folder import ArraySplit, ImageArray
from mocobench.errors import UsageError

SPLITS = {"train": "train", "val": "t10k"}  # our split -> the files' prefix
IMAGE_MAGIC, LABEL_MAGIC = 0x803, 0x801  # 0x08: unsigned byte; last byte: number of dimensions
IMAGE_HEADER = 16  # magic + 3 dimensions
LABEL_HEADER = 8  # magic + 1 dimension
CHUNK = 1 << 20  # bytes decompressed at a time
NUM_CLASSES = 10
SIDE = 28
CLASSES = {
    "mnist": [str(d) for d in range(10)],
    "fashion-mnist": [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ],
}  # fmt: skip
URLS = {
    "mnist": "http://yann.lecun.com/exdb/mnist/",
    "fashion-mnist": "https://github.com/zalandoresearch/fashion-mnist",
}
TORCHVISION_FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}


def _hint(kind: str) -> str:
    return f"pass the folder holding the four idx files (.gz or not) from {URLS[kind]}"


def file_stems(split: str) -> tuple[str, str]:
    """The published names (without .gz) of a split's image and label files."""
    prefix = SPLITS[split]
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def locate(kind: str, path: Path) -> Path:
    """`path`, or torchvision's download layout below it (`raw/`, `MNIST/raw/`, `FashionMNIST/raw/`)."""
    if not path.is_dir():
        raise UsageError(f"{path} is not a folder; {_hint(kind)}")
    candidates = (path, path / "raw", path / TORCHVISION_FOLDERS[kind] / "raw")
    first = file_stems("train")[0]
    for folder in candidates:
        if _find(folder, first) is not None:
            return folder
    return path


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem, f"{stem}.gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _file(folder: Path, stem: str, kind: str) -> Path:
    found = _find(folder, stem)
    if found is None:
        raise UsageError(f"{folder} has no {stem} (or {stem}.gz); {_hint(kind)}")
    return found


def source_files(kind: str, folder: Path) -> list[Path]:
    """The four files, their headers checked (`inspect`): a bad one is refused before any conversion."""
    files = [_file(folder, stem, kind) for split in SPLITS for stem in file_stems(split)]
    inspect(kind, folder)
    return files


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_header(path: Path, magic: int, kind: str) -> tuple[int, ...]:
    """The dimensions in an idx file's header, checked against the magic number of its kind."""
    ndim = magic & 0xFF
    try:
        with _open(path) as f:
            head = f.read(4 * (ndim + 1))
    except (OSError, EOFError, zlib.error) as e:
        raise UsageError(f"{path} is unreadable ({type(e).__name__}); {_hint(kind)}") from e
    if len(head) < 4 * (ndim + 1) or int.from_bytes(head[:4], "big") != magic:
        found = head[:4].hex() or "nothing"
        raise UsageError(f"{path} starts with {found}, not the idx magic {magic:08x}; {_hint(kind)}")
    return tuple(int.from_bytes(head[4 * i : 4 * i + 4], "big") for i in range(1, ndim + 1))


def _copy(path: Path, dst: BinaryIO, header: int, expected: int, kind: str) -> None:
    """Copy the header and `expected` bytes of `path` (inflated if gzipped) into `dst`, refusing a file
    that holds fewer or more; reads at most one byte past the declared end, so never inflates further."""
    limit, copied = header + expected + 1, 0
    try:
        with _open(path) as src:
            while copied < limit:
                chunk = src.read(min(CHUNK, limit - copied))
                if not chunk:
                    break
                dst.write(chunk)
                copied += len(chunk)
    except (OSError, EOFError, zlib.error) as e:
        problem = "is not a complete gzip file" if path.suffix == ".gz" else "is unreadable"
        raise UsageError(f"{path} {problem} ({type(e).__name__}); {_hint(kind)}") from e
    if copied == limit:
        raise UsageError(
            f"{path} goes on past the {expected} bytes its header declares (read no further); {_hint(kind)}"
        )
    _check_size(copied - header, path, expected, kind)


def _plain(path: Path, scratch: Path, expected: int, kind: str) -> Path:
    """`path`, checked to hold the header and `expected` bytes; decompressed into `scratch` if gzipped."""
    if path.suffix != ".gz":
        _check_size(path.stat().st_size - IMAGE_HEADER, path, expected, kind)
        return path
    out = scratch / path.stem
    with open(out, "wb") as dst:
        _copy(path, dst, IMAGE_HEADER, expected, kind)
    return out


def _check_size(size: int, path: Path, expected: int, kind: str) -> None:
    if size != expected:
        raise UsageError(
            f"{path} has {size} bytes after its header, not the {expected} its header declares; {_hint(kind)}"
        )


def read_labels(path: Path, kind: str) -> np.ndarray:
    """The labels of an idx1 file (read whole, as far as the header says), checked to lie in 0..9."""
    (count,) = read_header(path, LABEL_MAGIC, kind)
    buffer = io.BytesIO()
    _copy(path, buffer, LABEL_HEADER, count, kind)
    raw = np.frombuffer(buffer.getvalue(), dtype=np.uint8, offset=LABEL_HEADER)
    if count and raw.max() >= NUM_CLASSES:
        raise UsageError(f"{path} has labels up to {raw.max()}, outside 0..{NUM_CLASSES - 1}; {_hint(kind)}")
    return raw.astype(np.int64)


def inspect(kind: str, folder: Path) -> dict[str, tuple[int, ...]]:
    """Each split's image dimensions (N, rows, columns) from the headers alone, the label count checked."""
    dims = {}
    for split in SPLITS:
        image_stem, label_stem = file_stems(split)
        images = _file(folder, image_stem, kind)
        dims[split] = read_header(images, IMAGE_MAGIC, kind)
        labels = _file(folder, label_stem, kind)
        (count,) = read_header(labels, LABEL_MAGIC, kind)
        if count != dims[split][0]:
            raise UsageError(f"{labels} declares {count} labels for {dims[split][0]} images in {images.name}")
        if not count:
            raise UsageError(f"{images} holds no images; {_hint(kind)}")
        if dims[split][1:] != (SIDE, SIDE):
            rows, columns = dims[split][1:]
            raise UsageError(
                f"{images} declares images of {rows} x {columns} pixels, not the format's {SIDE} x {SIDE}; "
                f"{_hint(kind)}"
            )
    return dims


def read(kind: str, folder: Path, scratch: Path) -> tuple[list[str], dict[str, ArraySplit]]:
    """Class names and the splits train and val (t10k)."""
    dims = inspect(kind, folder)
    splits = {}
    for split in SPLITS:
        image_stem, label_stem = file_stems(split)
        source = _file(folder, image_stem, kind)
        plain = _plain(source, scratch, int(np.prod(dims[split])), kind)
        labels = read_labels(_file(folder, label_stem, kind), kind)
        splits[split] = ArraySplit(ImageArray(plain, dims[split], offset=IMAGE_HEADER), labels)
    return list(CLASSES[kind]), splits
