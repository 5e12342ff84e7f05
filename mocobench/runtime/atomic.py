"""Atomic writes: a crash or Ctrl-C never leaves a half-written checkpoint, result file, beton or dataset.

The one home of `os.replace` in mocobench. Everything is written to a temporary sibling of the target
(same folder, so the same file system), flushed, then renamed over the target: rename is atomic on POSIX, so
a reader sees the old file or the new one, never a part. `replacing` hands out the temporary path for
writers that need a file name (FFCV's writer); `replace_folder` does the same for a whole folder.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def replacing(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary file beside `path`, renamed over `path` when the block ends, removed if it raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the permissions open() would
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _target(tmp: Path) -> str | None:
    """The file name a `replacing` temporary (`.NAME.XXXXXXXX.tmp`) was to become, else None."""
    name = tmp.name
    if not (name.startswith(".") and name.endswith(".tmp")) or name.count(".") < 3:
        return None
    return name[1:].rsplit(".", 2)[0]


def remove_stale(folder: str | os.PathLike, names: tuple[str, ...] = ("*",)) -> list[Path]:
    """Remove the temporaries that a kill during `replacing` left in `folder` (of targets matching `names`).

    Only for a folder whose writer holds it alone (a run under its lock): another writer's temporary in
    flight would be removed too.
    """
    removed = []
    for tmp in Path(folder).glob(".*.tmp"):
        target = _target(tmp)
        if target and tmp.is_file() and any(fnmatch.fnmatchcase(target, n) for n in names):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                removed.append(tmp)
    return removed


def _write_atomic(path: str | os.PathLike, write: Callable[[Any], None]) -> Path:
    with replacing(path) as tmp, open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    return Path(path)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return _write_atomic(path, lambda f: f.write(data))


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def torch_save(path: str | os.PathLike, obj: Any) -> Path:
    import torch

    return _write_atomic(path, lambda f: torch.save(obj, f))


def append_jsonl(path: str | os.PathLike, record: dict) -> None:
    """Append one JSON line. A line is written in one call, so a reader never sees half a record."""
    line = json.dumps(record) + "\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()


def replace_folder(out: str | os.PathLike, fill: Callable[[Path], None]) -> Path:
    """Fill a temporary sibling of `out`, then rename it into place: `out` appears whole or not at all."""
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        fill(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return out
