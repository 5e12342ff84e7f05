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


def test_replacing_hands_out_a_sibling_that_replaces_the_target_only_on_success(tmp_path: Path):
    path = atomic.write_text(tmp_path / "data.bin", "old")
    with atomic.replacing(path) as tmp:
        assert tmp.parent == tmp_path and tmp != path
        tmp.write_bytes(b"new")
        assert path.read_text() == "old"  # not yet
    assert path.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["data.bin"]
    with pytest.raises(RuntimeError), atomic.replacing(path) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("writer failed")
    assert path.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["data.bin"]


def test_replace_folder_appears_whole_or_not_at_all(tmp_path: Path):
    out = tmp_path / "set"

    def fill(folder: Path) -> None:
        (folder / "a.txt").write_text("a")

    assert atomic.replace_folder(out, fill) == out and (out / "a.txt").read_text() == "a"

    def broken(folder: Path) -> None:
        (folder / "b.txt").write_text("b")
        raise RuntimeError("generator failed")

    with pytest.raises(RuntimeError):
        atomic.replace_folder(out, broken)
    assert sorted(p.name for p in out.iterdir()) == ["a.txt"]  # the old folder, untouched
    assert [p.name for p in tmp_path.iterdir()] == ["set"]  # no temporary folder left
