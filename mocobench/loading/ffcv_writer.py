"""Writing FFCV `.beton` files (the format and sidecar: `ffcv_beton.py`), one image stored once.

The file is FFCV's own format (read by `ffcv.Loader`), but written by our driver rather than
`DatasetWriter.from_indexed_dataset`, for three reasons found in ffcv 1.0.2's writer:
- its worker *processes* die on a bad image while the parent polls a counter forever (a hang); here worker
  threads stop, the temporary file is removed and one `UsageError` names the image;
- its progress is a tqdm bar; here it is a Rich bar like the rest of the CLI;
- decoding (PIL) and encoding (OpenCV) release the GIL, so threads scale without pickling the dataset.
The pieces that define the format are FFCV's: `DatasetWriter.prepare/finalize` (header, field table,
metadata, allocation table), `MemoryAllocator` (page layout) and `handle_sample` -> `Field.encode`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mocobench.data.decode import load_rgb
from mocobench.data.folder import list_split
from mocobench.errors import UsageError
from mocobench.loading.ffcv_beton import (
    FORMAT_VERSION,
    SMART_RAW_MAX_BYTES,
    WRITE_MODE,
    ffcv_version,
    require_ffcv,
    samples_fingerprint,
    sidecar_path,
)
from mocobench.runtime.atomic import replacing, write_json
from mocobench.runtime.progress import counter_bar

CHUNK = 64  # consecutive samples per work item: neighbours in the file share pages, as ffcv's writer does
SPLITS = ("train", "val", "all")


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


def load_image(path: Path, max_resolution: int) -> np.ndarray:
    """RGB pixels as the PIL loader sees them (same decoder and mode conversion), longer side capped.

    Capped here with rounding: ffcv's own `resizer` floors the scaled size, leaving the longer side one
    pixel short of `max_resolution` half of the time. Same filter (INTER_AREA).
    """
    import cv2

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
                            sample = (load_image(Path(path), max_resolution), int(label))
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
        with counter_bar(progress, description, len(samples)) as advance:
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
    with replacing(out) as tmp:
        _write_file(str(tmp), samples, max_resolution, jpeg_quality, workers, progress, f"writing {out.name}")
        sidecar_path(out).unlink(missing_ok=True)
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
        "ffcv_version": ffcv_version(),
    }
    write_json(sidecar_path(out), meta)
    return out


def write_folder_betons(
    root: Path,
    out: Path,
    split: str = "all",
    max_resolution: int = 512,
    jpeg_quality: int = 90,
    workers: int = 2,
) -> list[tuple[Path, int, Path]]:
    """`mocobench data to-ffcv`: `root/train` into `out`, `root/val` into `<out stem>-val.beton` (or one
    split); returns (beton, images, source folder) per written file."""
    if split not in SPLITS:
        raise UsageError(f"unknown --split {split!r}; use train, val or all")
    out = Path(out)
    if out.suffix != ".beton":
        raise UsageError(f"--out {out} must end in .beton (val is written beside it as <name>-val.beton)")
    require_ffcv()
    targets = {"train": out, "val": out.with_name(f"{out.stem}-val.beton")}
    written = []
    for name in ("train", "val") if split == "all" else (split,):
        samples, _ = list_split(root, name)
        path = write_beton(
            samples,
            targets[name],
            max_resolution=max_resolution,
            jpeg_quality=jpeg_quality,
            workers=workers,
            source=str(root / name),
        )
        written.append((path, len(samples), root / name))
    return written
