"""Forking loader workers after the parent used cv2: the worker must start (mocobench/__init__.py)."""

from __future__ import annotations

import subprocess
import sys

# The parent runs cv2 ops large enough for OpenCV's parallel_for, then forks two DataLoader workers whose
# `worker_init` sets cv2's threads. With a live cv2 pool in the parent that init never returns.
_SCRIPT = """
import mocobench  # first, as every mocobench entry point does
import cv2, numpy as np
from torch.utils.data import DataLoader
from mocobench.loading.two_view import worker_init

a = np.random.default_rng(0).random((2000, 2000), dtype=np.float32)
for _ in range(3):
    cv2.resize(a, (500, 500), interpolation=cv2.INTER_AREA)
    cv2.GaussianBlur(a, (31, 31), 5)
loader = DataLoader(list(range(8)), batch_size=2, num_workers=2, worker_init_fn=worker_init)
print(sum(int(b.sum()) for b in loader), cv2.getNumThreads())
"""


def test_importing_mocobench_makes_cv2_single_threaded():
    out = subprocess.run(
        [sys.executable, "-c", "import mocobench, cv2; print(cv2.getNumThreads())"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stdout.split() == ["1"]


def test_workers_forked_after_the_parent_used_cv2_start():
    # only a deadlock reaches the limit: the script needs about a second
    out = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["28", "1"]
