"""The git commit a figure was measured at, and whether the checkout differed from it.

Standard library only, so `scripts/gpu_check.py` reports it before torch is known to import.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]  # the checkout this mocobench runs from


def git_commit(repo: Path = REPO) -> dict[str, Any]:
    """HEAD and whether tracked files differ from it; None for both where `repo` is no git checkout."""
    try:
        head = ["git", "rev-parse", "HEAD"]
        sha = subprocess.run(head, cwd=repo, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return {"commit": None, "dirty": None}
    if sha.returncode:
        return {"commit": None, "dirty": None}
    return {"commit": sha.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
