"""Launching multi-process jobs in tests: a free local port, and `torchrun` as the README runs it."""

from __future__ import annotations

import socket
import sys

# A subprocess's time limit in tests: only a hung process ever reaches it. Never a speed requirement (CI
# must pass on a slow or busy machine), so it is far above what any test needs even at 1/10 the speed.
GUARD_S = 3600


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(nproc: int) -> list[str]:
    """`torchrun --nproc_per_node <nproc> -m mocobench` on this machine, on a free port."""
    return [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc),
        "--master_addr", "127.0.0.1", "--master_port", str(free_port()), "-m", "mocobench",
    ]  # fmt: skip
