"""Export a backbone as a plain torchvision ResNet `state_dict` (`mocobench export torchvision`).

Any checkpoint `linear` reads (our runs, official MoCo releases, end-to-end, supervised, torchvision) reduces
to torchvision's keys without `fc` (`pretrained.py`), so `torchvision.models.<arch>()` loads the file with
`load_state_dict(sd, strict=False)` and only `fc.weight`/`fc.bias` missing. Only the ImageNet stem exports:
torchvision's constructors have no 3x3 stride-1 stem without max-pool, so a CIFAR-stem conv1 would not load
(shape mismatch) or, worse, load into a model that then runs a max-pool it never saw. Refused up front.
"""

from __future__ import annotations

from pathlib import Path

import torch

from mocobench.errors import UsageError
from mocobench.evaluate.pretrained import Pretrained, load_pretrained
from mocobench.runtime import atomic

SUFFIXES = (".pth", ".pt")


def require_torchvision_stem(pretrained: Pretrained) -> None:
    """UsageError (one line) unless `pretrained` has the ImageNet stem of torchvision's ResNets."""
    if pretrained.stem != "imagenet":
        raise UsageError(
            f"{pretrained.path}: the CIFAR stem (3x3 stride-1, no max-pool) has no torchvision counterpart "
            "(torchvision's ResNets have the 7x7 stride-2 stem with max-pool); export an ImageNet-stem "
            "encoder (--set stem=imagenet)"
        )


def torchvision_state(pretrained: Pretrained) -> dict[str, torch.Tensor]:
    """The backbone as torchvision keys, contiguous CPU tensors (no fc)."""
    return {
        k: v.detach().cpu().contiguous().clone()
        for k, v in pretrained.state.items()
        if not k.startswith("fc.")
    }


def export_torchvision(
    source: Path, out: Path, trust: bool = False, fmt: str | None = None
) -> tuple[Path, int, str]:
    """`mocobench export torchvision CHECKPOINT OUT.pth`; returns the path, the tensor count and the arch."""
    out = Path(out)
    if out.suffix not in SUFFIXES:
        raise UsageError(f"{out}: torchvision state_dicts are .pth files; name it OUT.pth")
    if out.is_dir():
        raise UsageError(f"{out} is a folder; pass a file name such as {out / 'backbone.pth'}")
    pretrained = load_pretrained(source, trust, fmt_name=fmt)
    require_torchvision_stem(pretrained)
    state = torchvision_state(pretrained)
    try:
        path = atomic.torch_save(out, state)
    except OSError as e:
        raise UsageError(f"{out}: cannot write it ({e.strerror or e}); pass a writable path") from e
    return path, len(state), pretrained.arch
