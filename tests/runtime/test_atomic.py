"""Atomic writes: complete files with normal permissions, nothing left behind on failure."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mocobench.runtime import atomic


def test_written_files_are_complete_and_readable_by_others(tmp_path: Path):
    path = atomic.write_json(tmp_path / "a" / "r.json", {"top1": 67.5})
    assert json.loads(path.read_text()) == {"top1": 67.5}
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path):
    path = atomic.write_text(tmp_path / "r.txt", "old")

    def boom(f):
        f.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic._write_atomic(path, boom)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.txt"]
