"""`env.json`: what a figure was measured on (versions, device, processes, git commit)."""

from __future__ import annotations

import os
import platform
import socket
import sys
import time
from typing import Any

import torch
import torchvision

import mocobench
from mocobench.runtime.git import git_commit


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    return f"CPU ({cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} threads)"


def environment(device: torch.device, world_size: int, backend: str | None) -> dict[str, Any]:
    return {
        "mocobench": mocobench.__version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "cuda": torch.version.cuda if device.type == "cuda" else None,
        "device": device_name(device),
        "device_type": device.type,
        "world_size": world_size,
        "backend": backend,
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "command": " ".join(sys.argv),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "git": git_commit(),
    }
