"""The lock a pre-training run holds while it trains (`results/layout.py::LOCK`), taken without a race.

The lock is an `flock` on `<run>/run.lock`, not the file's existence: the kernel grants it to one open file
description at a time, atomically, and drops it the moment its process dies (SIGKILL or a lost machine
included). So a lock left behind by a killed run is stale by construction, and taking it over is the same
single `flock(LOCK_EX | LOCK_NB)` as taking a fresh one: there is no read-check-write window in which two
launches could both win, fresh or stale. Once held, the file's content is rewritten with
`{"pid", "host", "started"}` for `mocobench runs`; the content is a record for people, the flock is the lock.

Two details keep it exact. The file is unlinked when the block ends; a second launcher that opened the old
file just before could then lock an orphan inode, so after locking, a taker checks that the path still names
the inode it holds and starts over if not (the classic flock-and-unlink protocol). And a record naming
another host counts as live, because a pid there cannot be checked from here and flock may not reach across
a network file system; remove such a file by hand once that run is known to be gone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mocobench.errors import UsageError

PID_MAX = 2**22  # Linux's ceiling for pid_max; a record outside 1..PID_MAX is not a process
PROBE_RETRIES, PROBE_GRACE_S = 10, 0.2  # how long a launch waits out a `runs` probe before it is refused


def read(path: str | os.PathLike) -> dict[str, Any] | None:
    """The lock's record, or None when there is none, or it is not one of ours (a pid that is no process)."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(record, dict):
        return None
    pid = record.get("pid")
    ok = isinstance(pid, int) and not isinstance(pid, bool) and 0 < pid <= PID_MAX
    return record if ok else None


def locked(path: str | os.PathLike) -> bool:
    """True if some process holds the flock on `path` now (probed with a shared lock, dropped at once)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # closing drops the probe's shared lock, if it got one
    return False


def is_live(path: str | os.PathLike) -> bool:
    """True if the run behind `path` is training: its flock is held, or its record names another host."""
    if locked(path):
        return True
    record = read(path)
    return record is not None and record.get("host") not in (None, socket.gethostname())


def _take(path: Path) -> int | None:
    """An fd holding the exclusive flock on the file now at `path`, or None if another process holds it.

    A busy lock is asked again a few times over PROBE_GRACE_S: `mocobench runs` probes it with a shared lock
    for microseconds (`locked`), which must not turn a launch away.
    """
    busy = 0
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            busy += 1
            if busy > PROBE_RETRIES:
                return None
            time.sleep(PROBE_GRACE_S / PROBE_RETRIES)
            continue
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # we locked a file its holder had just unlinked: start over on the new one


def _refusal(path: Path) -> UsageError:
    other = read(path) or {}
    who = f"pid {other['pid']} on {other.get('host')}" if other else "another process"
    return UsageError(f"{path.parent} is being trained by {who}; wait for it to end, or pass another --out")


@contextlib.contextmanager
def held(path: str | os.PathLike, enabled: bool = True) -> Iterator[None]:
    """Hold the lock `path` for the block (nothing when not `enabled`, e.g. on ranks other than 0).

    A live holder refuses the block with a UsageError; a stale file (its process gone) is taken over.
    """
    if not enabled:
        yield
        return
    path = Path(path)
    created = [p for p in (path.parent, *path.parent.parents) if not p.exists()]  # deepest first
    record = read(path)
    if record is not None and record.get("host") not in (None, socket.gethostname()):
        raise _refusal(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _take(path)
    if fd is None:
        _remove_empty(created)
        raise _refusal(path)
    try:
        record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode("utf-8"), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()  # while still holding the flock: a taker that opened it sees the inode change
        os.close(fd)
        _remove_empty(created)


def _remove_empty(folders: list[Path]) -> None:
    """A run refused before it wrote anything leaves no empty folders behind."""
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()
