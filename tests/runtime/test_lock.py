"""runtime/lock.py: one writer per run, fresh or stale lock alike, with no read-check-write window.

The race tests start several processes at one signal and hold the winner until every contender has
answered, so exactly one must win whatever the machine's speed: a second winner would be the race itself.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mocobench.errors import UsageError
from mocobench.runtime import lock

CONTENDER = """
import sys, time, pathlib
from mocobench.errors import UsageError
from mocobench.runtime import lock
path, go, release, out = map(pathlib.Path, sys.argv[1:5])
while not go.exists():
    time.sleep(0.001)
try:
    with lock.held(path):
        out.write_text("won")
        while not release.exists():
            time.sleep(0.01)
except UsageError as e:
    out.write_text("lost: " + str(e))
"""
CONTENDERS = 4
DEADLOCK_GUARD_S = 120  # only a hung contender ever reaches it; no assertion depends on speed


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLOCK_GUARD_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _race(tmp_path: Path, path: Path) -> tuple[list[str], list[subprocess.Popen]]:
    go, release = tmp_path / "go", tmp_path / "release"
    outs = [tmp_path / f"out{i}" for i in range(CONTENDERS)]
    procs = [
        subprocess.Popen([sys.executable, "-c", CONTENDER, str(path), str(go), str(release), str(out)])
        for out in outs
    ]
    go.touch()
    try:
        _wait_for(lambda: all(o.exists() for o in outs), "every contender's answer")
        answers = [o.read_text() for o in outs]
        winner = next((p for p, a in zip(procs, answers, strict=True) if a == "won"), None)
        if winner is not None:  # while the winner holds it, the record names the winner
            assert lock.read(path)["pid"] == winner.pid and lock.is_live(path)
    finally:
        release.touch()
        for p in procs:
            p.wait(timeout=DEADLOCK_GUARD_S)
    return answers, procs


def test_processes_racing_for_a_fresh_lock_get_exactly_one_winner(tmp_path: Path):
    path = tmp_path / "run" / "run.lock"
    answers, _ = _race(tmp_path, path)
    assert answers.count("won") == 1, answers
    assert all(a.startswith("lost: ") and "is being trained by" in a for a in answers if a != "won")
    assert not path.exists()  # the winner removed it when its block ended


def test_processes_racing_for_a_stale_lock_get_exactly_one_winner(tmp_path: Path):
    path = tmp_path / "run.lock"
    path.write_text(json.dumps({"pid": _dead_pid(), "host": socket.gethostname(), "started": 0}))
    assert not lock.is_live(path)
    answers, _ = _race(tmp_path, path)
    assert answers.count("won") == 1, answers


def test_a_killed_holder_leaves_a_stale_lock_that_is_taken_over(tmp_path: Path):
    path = tmp_path / "run.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CONTENDER,
            str(path),
            str(tmp_path),
            str(tmp_path / "never"),
            str(tmp_path / "o"),
        ]
    )
    _wait_for(lambda: (tmp_path / "o").exists(), "the holder")
    assert lock.is_live(path) and lock.read(path)["pid"] == holder.pid
    with pytest.raises(UsageError, match=f"is being trained by pid {holder.pid}"), lock.held(path):
        pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert path.exists() and not lock.is_live(path)  # the file stays; the flock died with its process
    with lock.held(path):
        assert lock.read(path)["pid"] == os.getpid() and lock.is_live(path)
    assert not path.exists()


def test_the_lock_is_held_while_the_block_runs_and_removed_after(tmp_path: Path):
    path = tmp_path / "run" / "run.lock"
    with lock.held(path):
        assert lock.is_live(path) and lock.read(path)["pid"] == os.getpid()
    assert not path.exists() and not (tmp_path / "run").exists()  # nothing else written: no empty folder
    with pytest.raises(RuntimeError), lock.held(path):
        (tmp_path / "run" / "file").write_text("x")
        raise RuntimeError("a failed run")
    assert not path.exists() and (tmp_path / "run" / "file").exists()


def test_a_lock_of_this_process_refuses_a_second_block(tmp_path: Path):
    path = tmp_path / "run.lock"
    with lock.held(path), pytest.raises(UsageError, match=f"pid {os.getpid()}"), lock.held(path):
        pass


@pytest.mark.parametrize("pid", [-1, 0, 1e20, 2**40, "12", True, None])
def test_a_record_that_names_no_process_is_not_live(tmp_path: Path, pid):
    path = tmp_path / "run.lock"
    path.write_text(json.dumps({"pid": pid, "host": socket.gethostname()}))
    assert lock.read(path) is None and not lock.is_live(path)  # pid -1 would "signal" every process
    with lock.held(path):
        assert lock.read(path)["pid"] == os.getpid()


def test_a_record_of_another_host_counts_as_live(tmp_path: Path):
    path = tmp_path / "run.lock"
    path.write_text(json.dumps({"pid": 1234, "host": "elsewhere.example"}))
    assert lock.is_live(path)
    with pytest.raises(UsageError, match=r"pid 1234 on elsewhere\.example"), lock.held(path):
        pass
    assert path.exists()  # not ours to remove
