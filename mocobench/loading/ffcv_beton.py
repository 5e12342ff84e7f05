"""FFCV `.beton` files as mocobench stores them: each image once (the two views are cropped at load time).

Whether FFCV is usable, where a folder's beton is cached, and whether a beton still matches its folder;
`ffcv_writer.py` writes them.

Storage: `RGBImageField(write_mode="smart", smart_threshold=SMART_RAW_MAX_BYTES)`: an image whose pixels
(after capping the longer side at `max_resolution`) take more than 48 KiB (larger than 128 x 128) is stored as
JPEG at `jpeg_quality`; smaller ones raw, since JPEG's 8 x 8 blocks are coarse on a tiny image, raw pixels
cost little there and decoding them is a copy. (ffcv's `smart` without a threshold stores everything raw.)

A sidecar `<beton>.json` records what the file holds (count, classes, options, a fingerprint of the source
files); `beton_matches` compares it with the folder now, so a stale file is rebuilt, never silently used.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from mocobench.errors import UsageError
from mocobench.runtime.home import mocobench_home

FORMAT_VERSION = 1
WRITE_MODE = "smart"
SMART_RAW_MAX_BYTES = 128 * 128 * 3  # images with more pixel bytes than this are JPEG-compressed
INSTALL_HINT = (
    "pip install 'mocobench[ffcv]' (needs the apt packages pkg-config libopencv-dev libturbojpeg0-dev)"
)


@cache
def _ffcv_import_error() -> str:
    try:
        import ffcv
        import ffcv.libffcv  # noqa: F401  (loads the native library: libturbojpeg, OpenCV)
    except (ImportError, OSError) as e:
        return f"{type(e).__name__}: {e}".splitlines()[0]
    return ""


def ffcv_available() -> bool:
    """Whether ffcv and its native library import."""
    return not _ffcv_import_error()


def require_ffcv() -> None:
    """Raise a one-line `UsageError` with the install command when ffcv cannot be used."""
    err = _ffcv_import_error()
    if err:
        raise UsageError(f"the FFCV loader needs ffcv ({err}); install it with {INSTALL_HINT}")


def sidecar_path(beton: Path) -> Path:
    return Path(f"{beton}.json")


def samples_fingerprint(samples: Sequence[tuple[Path, int]]) -> str:
    """Hash of (path relative to the samples' common folder, size, mtime, label) in order.

    Stat only, no reading: a changed, added, removed, relabelled or reordered image changes it; moving the
    whole folder (with mtimes kept, e.g. `mv`, `cp -a`, `rsync -a`) does not.
    """
    h = hashlib.sha256()
    if samples:
        base = os.path.commonpath([os.fspath(Path(p).parent) for p, _ in samples])
        for path, label in samples:
            st = os.stat(path)
            rel = os.path.relpath(path, base).replace(os.sep, "/")
            h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0{int(label)}\n".encode())
    return h.hexdigest()[:20]


def default_beton(root: Path, split: str, max_resolution: int, jpeg_quality: int) -> Path:
    """Cache location of the beton of `root/split` written with these options."""
    root = Path(root).expanduser().resolve()
    key = hashlib.sha256(f"{root}\0{split}".encode()).hexdigest()[:10]
    name = f"{root.name or 'data'}-{split}-{max_resolution}px-q{jpeg_quality}-{key}.beton"
    return mocobench_home() / "ffcv" / name


def read_sidecar(beton: Path) -> dict[str, Any] | None:
    """The sidecar of `beton`, or None when it is missing or unreadable."""
    try:
        meta = json.loads(sidecar_path(beton).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def beton_matches(
    beton: Path, samples: Sequence[tuple[Path, int]], max_resolution: int, jpeg_quality: int
) -> bool:
    """True when `beton` and its sidecar exist and were written from exactly these samples and options."""
    beton = Path(beton)
    meta = read_sidecar(beton)
    if meta is None or not beton.is_file():
        return False
    try:
        fingerprint = samples_fingerprint(samples)
    except OSError:  # a listed file vanished
        return False
    return (
        meta.get("format_version") == FORMAT_VERSION
        and meta.get("write_mode") == WRITE_MODE
        and meta.get("smart_threshold") == SMART_RAW_MAX_BYTES
        and meta.get("max_resolution") == max_resolution
        and meta.get("jpeg_quality") == jpeg_quality
        and meta.get("count") == len(samples)
        and meta.get("bytes") == beton.stat().st_size
        and meta.get("fingerprint") == fingerprint
    )


def ffcv_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ffcv")  # ffcv.__version__ says 0.0.3rc1 in 1.0.2
    except PackageNotFoundError:
        return "unknown"


def read_image(beton: Path, index: int) -> np.ndarray:
    """Stored image `index` of `beton` as (H, W, 3) uint8 RGB (OpenCV's JPEG decoder; for checks)."""
    import cv2
    from ffcv.reader import Reader

    reader = Reader(os.fspath(beton))
    field = reader.metadata["f0"][index]
    ptrs, sizes = reader.alloc_table["ptr"], reader.alloc_table["size"]
    ptr = int(field["data_ptr"])
    size = int(sizes[np.flatnonzero(ptrs == ptr)[0]])
    data = np.fromfile(os.fspath(beton), dtype=np.uint8, count=size, offset=ptr)
    h, w = int(field["height"]), int(field["width"])
    if int(field["mode"]) == 0:  # jpg
        return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return data.reshape(h, w, 3)


def read_labels(beton: Path) -> np.ndarray:
    """All labels of `beton`, in stored order."""
    from ffcv.reader import Reader

    return np.asarray(Reader(os.fspath(beton)).metadata["f1"], dtype=np.int64)
