"""The commit every env.json and the GPU report name, and whether the checkout differed from it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from mocobench.runtime.git import git_commit


def test_commit_and_dirty_of_a_checkout_and_none_elsewhere(tmp_path: Path):
    assert git_commit(tmp_path) == {"commit": None, "dirty": None}  # not a git checkout
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(tmp_path)]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "a.txt").write_text("1")
    subprocess.run([*git, "add", "a.txt"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    head = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert git_commit(tmp_path) == {"commit": head, "dirty": False}
    (tmp_path / "a.txt").write_text("2")
    assert git_commit(tmp_path) == {"commit": head, "dirty": True}
    (tmp_path / "untracked.txt").write_text("x")  # untracked files do not make it dirty
    (tmp_path / "a.txt").write_text("1")
    assert git_commit(tmp_path)["dirty"] is False
