"""The lock file a pre-training run holds while it trains (`results/layout.py::LOCK`).

`held(path)` writes `{"pid", "host", "started"}` (atomically) when the block starts and removes it when the
block ends, normally or by an exception (Ctrl-C included). A lock left behind by a process that was killed
(SIGKILL, a lost node) is stale: `is_live` tells it by its pid on this host. A lock written on another host
cannot be checked from here and counts as live. A live lock of another process refuses a second writer.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mocobench.errors import UsageError
from mocobench.runtime import atomic


def read(path: str | os.PathLike) -> dict[str, Any] | None:
    """The lock's record, or None when there is none (or it is not one of ours)."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("pid"), int) else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return False
    return True


def is_live(record: dict[str, Any] | None) -> bool:
    """True if the lock names a running process (or one on another host, which cannot be checked)."""
    if record is None:
        return False
    if record.get("host") not in (None, socket.gethostname()):
        return True
    return pid_alive(int(record["pid"]))


@contextlib.contextmanager
def held(path: str | os.PathLike, enabled: bool = True) -> Iterator[None]:
    """Hold the lock file `path` for the block (nothing when not `enabled`, e.g. on ranks other than 0)."""
    if not enabled:
        yield
        return
    path = Path(path)
    other = read(path)
    if other is not None and other.get("pid") != os.getpid() and is_live(other):
        raise UsageError(
            f"{path.parent} is being trained by pid {other['pid']} on {other.get('host')}; wait for it, or "
            f"remove {path} if that process is gone"
        )
    created = [p for p in (path.parent, *path.parent.parents) if not p.exists()]  # deepest first
    record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
    atomic.write_json(path, record)
    try:
        yield
    finally:
        if read(path) == record:
            path.unlink(missing_ok=True)
        for folder in created:  # a run refused before it wrote anything leaves no empty folders
            with contextlib.suppress(OSError):
                folder.rmdir()
