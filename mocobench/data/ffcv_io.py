"""Writing FFCV `.beton` files: each image stored once (the two views are cropped from it at load time).

The file is FFCV's own format (read by `ffcv.Loader`), but written by our driver rather than
`DatasetWriter.from_indexed_dataset`, for three reasons found in ffcv 1.0.2's writer:
- its worker *processes* die on a bad image while the parent polls a counter forever (a hang); here worker
  threads stop, the temporary file is removed and one `UsageError` names the image;
- its progress is a tqdm bar; here it is a Rich bar like the rest of the CLI;
- decoding (PIL) and encoding (OpenCV) release the GIL, so threads scale without pickling the dataset.
The pieces that define the format are FFCV's: `DatasetWriter.prepare/finalize` (header, field table,
metadata, allocation table), `MemoryAllocator` (page layout) and `handle_sample` -> `Field.encode`.

Storage: `RGBImageField(write_mode="smart", smart_threshold=SMART_RAW_MAX_BYTES)`: an image whose pixels
(after capping the longer side at `max_resolution`) take more than 48 KiB (larger than 128 x 128) is stored as
JPEG at `jpeg_quality`; smaller ones raw, since JPEG's 8 x 8 blocks are coarse on a tiny image, raw pixels
cost little there and decoding them is a copy. (ffcv's `smart` without a threshold stores everything raw.)

A sidecar `<beton>.json` records what the file holds (count, classes, options, a fingerprint of the source
files); `beton_matches` compares it with the folder now, so a stale file is rebuilt, never silently used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from mocobench.atomic import write_json
from mocobench.errors import UsageError

FORMAT_VERSION = 1
WRITE_MODE = "smart"
SMART_RAW_MAX_BYTES = 128 * 128 * 3  # images with more pixel bytes than this are JPEG-compressed
CHUNK = 64  # consecutive samples per work item: neighbours in the file share pages, as ffcv's writer does
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
    from mocobench.data.synth import mocobench_home

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


def _check_args(samples: Sequence[tuple[Path, int]], max_resolution: int, jpeg_quality: int) -> None:
    if not samples:
        raise UsageError("no images to write into the beton; check the data folder and split")
    if not 16 <= max_resolution <= 4096:
        raise UsageError(f"max_resolution {max_resolution} is out of range; use 16..4096 (e.g. 512)")
    if not 1 <= jpeg_quality <= 100:
        raise UsageError(f"jpeg_quality {jpeg_quality} is out of range; use 1..100 (e.g. 90)")
    bad = [label for _, label in samples if int(label) < 0]
    if bad:
        raise UsageError(f"negative label {bad[0]} in the samples; labels are class indices 0..C-1")


class _Aborted(Exception):
    """Another writer thread failed: stop waiting for our turn to write a page."""


def _make_allocator_class() -> type:
    from ffcv.memory_allocator import MemoryAllocator

    class Allocator(MemoryAllocator):
        """ffcv's page allocator for one thread; pages are claimed and written in order across threads.

        Its `flush_page` spins until every earlier page is written; if the thread owning one of them
        failed, that never happens, so the wait here gives up when `abort` is set.
        """

        def __init__(self, fname: str, offset: int, page_size: int, shared: Any, abort: threading.Event):
            super().__init__(fname, offset, page_size)
            if shared is not None:  # one page counter for all threads
                self.next_page_allocated = shared.next_page_allocated
                self.next_page_written = shared.next_page_written
            self.abort = abort

        def flush_page(self) -> None:
            if self.my_page >= 0:
                while self.next_page_written.value != self.my_page:
                    if self.abort.is_set():
                        raise _Aborted
                    time.sleep(0.001)
            super().flush_page()

        def __exit__(self, *exc: Any) -> None:
            try:
                if exc[0] is None:
                    self.flush_page()
            finally:
                self.fp.close()

    return Allocator


def _chunks(n: int) -> Iterator[range]:
    for start in range(0, n, CHUNK):
        yield range(start, min(start + CHUNK, n))


def _load_image(path: Path, max_resolution: int) -> np.ndarray:
    """RGB pixels as the PIL loader sees them (same decoder and mode conversion), longer side capped.

    Capped here with rounding: ffcv's own `resizer` floors the scaled size, leaving the longer side one
    pixel short of `max_resolution` half of the time. Same filter (INTER_AREA).
    """
    import cv2

    from mocobench.data.folder import load_rgb

    img = np.asarray(load_rgb(path))
    h, w = img.shape[:2]
    if max(h, w) > max_resolution:
        s = max_resolution / max(h, w)
        size = (max(1, round(w * s)), max(1, round(h * s)))
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    return img


def _write_file(
    tmp: str,
    samples: Sequence[tuple[Path, int]],
    max_resolution: int,
    jpeg_quality: int,
    workers: int,
    progress: bool,
    description: str,
) -> None:
    from ffcv.fields import IntField, RGBImageField
    from ffcv.writer import DatasetWriter, handle_sample

    fields = {
        "image": RGBImageField(
            write_mode=WRITE_MODE,
            max_resolution=max_resolution,
            smart_threshold=SMART_RAW_MAX_BYTES,
            jpeg_quality=jpeg_quality,
        ),
        "label": IntField(),
    }
    # Pages hold whole samples; the smallest power of two that fits a raw image twice keeps small
    # datasets small (each thread's last page and the first page's alignment are padding).
    page_size = 1 << max(21, (2 * 3 * max_resolution**2 - 1).bit_length())
    writer = DatasetWriter(tmp, fields, page_size=page_size, num_workers=workers)
    writer.num_samples = len(samples)
    writer.prepare()  # header + field table; metadata lives in a shared-memory block until finalize
    metadata = None
    try:
        metadata = np.frombuffer(writer.metadata_sm.buf, dtype=writer.metadata_type)
        names = writer.metadata_type.names
        jobs = iter(_chunks(len(samples)))
        lock = threading.Lock()
        abort = threading.Event()
        errors: list[BaseException] = []
        done = [0]
        Allocator = _make_allocator_class()
        first = Allocator(tmp, writer.data_region_start, writer.page_size, None, abort)
        allocators = [first] + [
            Allocator(tmp, writer.data_region_start, writer.page_size, first, abort)
            for _ in range(workers - 1)
        ]

        def work(allocator: Any) -> None:
            try:
                with allocator:
                    while not abort.is_set():
                        with lock:
                            chunk = next(jobs, None)
                        if chunk is None:
                            return
                        for ix in chunk:
                            if abort.is_set():
                                return
                            path, label = samples[ix]
                            sample = (_load_image(Path(path), max_resolution), int(label))
                            handle_sample(sample, ix, names, metadata, allocator, fields)
                            with lock:
                                done[0] += 1
            except _Aborted:
                pass
            except BaseException as e:
                with lock:
                    errors.append(e)
                abort.set()

        threads = [threading.Thread(target=work, args=(a,), daemon=True) for a in allocators]
        with _progress_bar(progress, description, len(samples)) as advance:
            for t in threads:
                t.start()
            try:
                shown = 0
                while any(t.is_alive() for t in threads):
                    time.sleep(0.1)
                    shown = advance(done[0], shown)
                advance(done[0], shown)
            except BaseException:  # Ctrl-C: stop the threads before the file is removed
                abort.set()
                for t in threads:
                    t.join()
                raise
        if errors:
            raise errors[0]
        writer.finalize([rec for a in allocators for rec in a.allocations])
    finally:
        metadata = None  # release the view (the threads have ended) before the shared block is closed
        writer.metadata_sm.close()
        writer.metadata_sm.unlink()


@contextlib.contextmanager
def _progress_bar(enabled: bool, description: str, total: int) -> Iterator[Any]:
    """`advance(done, shown) -> shown`: a Rich bar on stderr (nothing when disabled)."""
    if not enabled:
        yield lambda done, shown: done
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from mocobench.train.progress import console

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(description, total=total)

        def advance(done: int, shown: int) -> int:
            if done > shown:
                bar.update(task, completed=done)
            return done

        yield advance


def write_beton(
    samples: list[tuple[Path, int]],
    out: Path,
    *,
    max_resolution: int = 512,
    jpeg_quality: int = 90,
    workers: int = 2,
    progress: bool = True,
    source: str = "",
) -> Path:
    """Write `samples` (path, label) to the beton `out` and its sidecar `<out>.json`; return `out`.

    Each image is stored once, its longer side capped at `max_resolution` (OpenCV INTER_AREA, as ffcv).
    Atomic: the data goes to a temporary file in `out`'s folder that replaces `out` only when complete; the
    old sidecar is removed first and the new one written last, so a crash in between leaves a beton without
    sidecar, which `beton_matches` rejects. An unreadable image raises `UsageError` and leaves nothing.
    """
    require_ffcv()
    out = Path(out)
    _check_args(samples, max_resolution, jpeg_quality)
    try:
        fingerprint = samples_fingerprint(samples)
    except OSError as e:
        raise UsageError(f"cannot read {e.filename} ({e.strerror}); fix the data folder and retry") from e
    workers = max(1, min(int(workers), len(samples) // CHUNK + 1, os.cpu_count() or 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        _write_file(tmp, samples, max_resolution, jpeg_quality, workers, progress, f"writing {out.name}")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the permissions open() would
        sidecar_path(out).unlink(missing_ok=True)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    labels = [int(label) for _, label in samples]
    meta = {
        "format_version": FORMAT_VERSION,
        "source": source,
        "count": len(samples),
        "num_classes": max(labels) + 1,
        "labels_present": len(set(labels)),
        "max_resolution": max_resolution,
        "jpeg_quality": jpeg_quality,
        "write_mode": WRITE_MODE,
        "smart_threshold": SMART_RAW_MAX_BYTES,
        "fingerprint": fingerprint,
        "bytes": out.stat().st_size,
        "ffcv_version": _ffcv_version(),
    }
    write_json(sidecar_path(out), meta)
    return out


def _ffcv_version() -> str:
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
