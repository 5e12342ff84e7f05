"""Peak memory of a block of work: allocated bytes on CUDA, resident set size of the process on the CPU.

The two are different quantities and every figure carries its `kind`: CUDA's peak *allocated* counts the
tensors only (weights, optimizer state, activations, the queue), not the caching allocator's slack or the
CUDA context, so it is below what nvidia-smi (the paper's V100 figures) shows. On the CPU the peak RSS of
the process also holds the Python interpreter and PyTorch's libraries; we reset the kernel's high-water
mark before the block (Linux `clear_refs`), so it is the peak during the block, baseline included.
"""

from __future__ import annotations

import gc
from pathlib import Path

import torch

CUDA_KIND = "peak allocated (CUDA)"
CPU_KIND = "peak RSS (CPU process)"


def _status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise OSError(f"no {field} in /proc/self/status")


def _vm_hwm_bytes() -> int:
    return _status_bytes("VmHWM")


def current_rss_bytes() -> int:
    """Resident set size now (the idle interpreter's, when called before any model is built)."""
    return _status_bytes("VmRSS")


def _reset_rss_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # Linux >= 4.0: reset VmHWM to the current RSS
        return True
    except OSError:
        return False


class PeakMemory:
    """`with PeakMemory(device) as peak: ...` then `peak.bytes` and `peak.kind`."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.kind = CUDA_KIND if device.type == "cuda" else CPU_KIND
        self.bytes = 0
        self.reset_ok = True

    def __enter__(self) -> PeakMemory:
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self.reset_ok = _reset_rss_peak()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.bytes = torch.cuda.max_memory_allocated(self.device)
        else:
            self.bytes = _vm_hwm_bytes()


def device_memory_bytes(device: torch.device) -> int:
    """What the device can hold: GPU memory, or the machine's RAM (MemTotal) for the CPU."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    raise OSError("no MemTotal in /proc/meminfo")
