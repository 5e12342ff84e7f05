"""Will a run's training step fit its device? An estimate made before anything is written or allocated.

An image size or batch that cannot fit otherwise surfaces as a CUDA out-of-memory error mid-epoch or, on a
CPU, as the kernel killing the process (no message at all). `check_fits` refuses such a config in one line
instead, from an estimate computed on the `meta` device: the encoder is built and run on shape-only
tensors, so even image_size=100000 costs no memory and well under a second.

The estimate, in fp32 bytes (mixed precision keeps less: there it errs on the large side):

- activations: the sum of the outputs of every leaf module of the encoder for one image, which is about
  what autograd keeps for backward (conv inputs, BN inputs, ReLU outputs; torchvision's in-place ReLU
  output is counted beside the BN output it overwrites, which covers the residual sums and max-pool
  indices that no leaf returns), times the per-process batch, times the views a step back-propagates
  through (the method's `grad_views`: 2 for end-to-end and SimCLR, 1 for MoCo, whose key view runs without
  gradients, and for the supervised row), times TRAINING_FACTOR;
- state: the parameters times STATE_COPIES, plus a MoCo queue of moco_k x moco_dim (counted for every
  method: no code outside `methods/` branches on a mechanism's name; 32 MiB in any recipe).
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mocobench.config.fields import IMAGE_SIZES
from mocobench.config.settings import RunConfig
from mocobench.errors import UsageError
from mocobench.models.encoders import attach_mlp_head, encoder_builder
from mocobench.run.config import method_of

GiB = 2**30
FP32 = 4  # bytes a value
# Saved activations beside those of the leaf outputs: the activation gradients alive during backward (about
# one block's worth at a time), cuDNN/oneDNN workspaces and the caching allocator's fragmentation. Measured
# on a CPU (fp32, both views with gradients through ResNet-18 at 32 px CIFAR stem and 64 px, ResNet-50 at
# 96 px): a step's peak grew by 0.9x-1.2x of the leaf outputs, beyond the gradients and momentum buffers.
TRAINING_FACTOR = 1.25
# Weights, their gradients, SGD's momentum buffer (LARS keeps one too) and MoCo's key encoder (a copy of
# the weights, no gradient): four copies of the parameters.
STATE_COPIES = 4
CGROUP_LIMITS = (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))


@functools.lru_cache(maxsize=64)
def _encoder_bytes(arch: str, stem: str, image_size: int, dim: int, mlp: bool) -> tuple[int, int]:
    """(activation bytes of one image, parameter count) of the encoder, measured on the meta device."""
    with torch.device("meta"):
        net = encoder_builder(arch, 1, stem)(num_classes=dim)
        if mlp:
            attach_mlp_head(net)
    net.eval()  # shapes only; train-mode BN refuses a batch of one image with 1x1 maps
    total = 0

    def count(module: nn.Module, inputs: Any, output: Any) -> None:
        nonlocal total
        outputs = output if isinstance(output, tuple | list) else (output,)
        total += sum(t.numel() * FP32 for t in outputs if isinstance(t, torch.Tensor))

    # nn.Identity (the CIFAR stem's max-pool) returns its input: nothing new is kept
    leaves = [m for m in net.modules() if next(m.children(), None) is None and not isinstance(m, nn.Identity)]
    handles = [m.register_forward_hook(count) for m in leaves]
    try:
        with torch.no_grad():
            net(torch.empty(1, 3, image_size, image_size, device="meta"))
    finally:
        for handle in handles:
            handle.remove()
    return total, sum(p.numel() for p in net.parameters())


def activation_estimate(config: RunConfig, per_process_batch: int) -> int:
    """Bytes of activations one process keeps to train a step of `per_process_batch` images (module doc)."""
    per_image, _ = _encoder_bytes(
        config.method.arch,
        config.method.stem,
        int(config.data.image_size),
        int(config.method.moco_dim),
        bool(config.method.mlp),
    )
    views = method_of(config).grad_views
    return math.ceil(per_image * per_process_batch * views * TRAINING_FACTOR)


def state_estimate(config: RunConfig) -> int:
    """Bytes of weights, gradients, optimizer state, key encoder and a MoCo queue (module doc)."""
    _, params = _encoder_bytes(
        config.method.arch,
        config.method.stem,
        int(config.data.image_size),
        int(config.method.moco_dim),
        bool(config.method.mlp),
    )
    return (params * STATE_COPIES + int(config.method.moco_k) * int(config.method.moco_dim)) * FP32


def device_memory(device: torch.device) -> tuple[int, str] | None:
    """(bytes, words) of the memory a process on `device` trains in; None where it is not known.

    CUDA: the card's total memory (not what is free now: another process's share comes and goes). CPU (and
    MPS, which shares it): the machine's RAM, or the container's memory limit (cgroup) when lower, since
    that is where the kernel kills the process.
    """
    if device.type == "cuda":
        if not torch.cuda.is_available():
            return None
        index = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        return int(props.total_memory), f"{props.name} (cuda:{index})"
    if device.type in ("cpu", "mps"):
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        for path in CGROUP_LIMITS:
            try:
                limit = int(path.read_text().strip())
            except (OSError, ValueError):  # absent, or "max": no limit
                continue
            if limit < ram:
                return limit, "this container's memory limit (cgroup)"
        return ram, "this machine's RAM"
    return None


def check_fits(
    config: RunConfig, device: torch.device, world_size: int, memory_bytes: int | None = None
) -> None:
    """Refuse, in one line, a config whose training step cannot fit `device`'s memory (`memory_bytes` when
    given, e.g. a device described rather than present); a device of unknown memory is not judged.

    Each of `world_size` processes trains batch_size / world_size images on its own device; on a CPU the
    processes of one machine (LOCAL_WORLD_SIZE, torchrun's) share its RAM, so their needs add up.
    """
    if memory_bytes is not None:
        memory, words = int(memory_bytes), f"the {device.type} device"
    else:
        known = device_memory(device)
        if known is None:
            return
        memory, words = known
    per_process = math.ceil(int(config.optim.batch_size) / max(world_size, 1))
    sharing = 1
    if device.type != "cuda":
        sharing = max(1, min(world_size, int(os.environ.get("LOCAL_WORLD_SIZE", world_size))))
    activations = activation_estimate(config, per_process) * sharing
    state = state_estimate(config) * sharing
    if activations + state <= memory:
        return
    images = f"{per_process} image{'s' * (per_process != 1)} a process"
    together = f", {sharing} processes together" if sharing > 1 else ""
    fix = _fix(config, per_process, (memory - state) // sharing)
    raise UsageError(
        f"{config.method.arch} ({config.method.stem} stem) at image_size={config.data.image_size} with "
        f"{images} "
        f"needs about {(activations + state) / GiB:,.1f} GiB to train (activations {activations / GiB:,.1f} "
        f"GiB, weights and optimizer state {state / GiB:,.1f} GiB{together}), more than the "
        f"{memory / GiB:,.1f} GiB of {words}; {fix}"
    )


def _fix(config: RunConfig, per_process: int, room: int) -> str:
    """What would fit in `room` bytes of activations: fewer images a process, or a smaller image (the
    activations grow about with its area; the guess is checked, a few meta forwards at most)."""
    batch = room // activation_estimate(config, 1) if room > 0 else 0
    fixes = []
    if batch >= 1:
        fixes.append(
            f"at most {batch} images a process (a smaller --set batch_size with the lr in proportion, or "
            "more processes)"
        )
    size = int(config.data.image_size)
    guess = size * math.sqrt(max(room, 0) / activation_estimate(config, per_process))
    smaller = min(math.floor(guess / 8) * 8, size - 8, IMAGE_SIZES[1])
    for _ in range(4):
        if smaller < IMAGE_SIZES[0]:
            break
        if activation_estimate(config.replace(image_size=smaller), per_process) <= room:
            fixes.append(f"--set image_size={smaller}")
            break
        smaller -= 8
    return "use " + ", or ".join(fixes) if fixes else "use a smaller --set arch or a device with more memory"
