"""Convert a ResNet checkpoint to Detectron2's ResNet naming, as the official MoCo detection converter does.

torchvision -> Detectron2: `conv1`/`bn1` at the top become the stem (`stem.conv1`, `stem.conv1.norm`),
`layerN` becomes `res{N+1}`, `bnK` becomes `convK.norm`, `downsample.0/.1` become `shortcut`/`shortcut.norm`.
Tensors are stored as numpy arrays in a pickle with `matching_heuristics: True`, which tells Detectron2's
checkpointer to match the remaining names itself. `fc` (and an MoCo MLP head) is not part of the backbone
and is left out.

Only ImageNet-stem encoders convert (`require_imagenet_stem`, also for `detect-voc`): Detectron2's
`BasicStem` is a 7x7 stride-2 conv with a fixed max-pool in its forward, with no 3x3 stride-1 option, and
its checkpointer skips a tensor of the wrong shape with a warning, so a CIFAR-stem conv1 would leave the
detector's stem randomly initialised and the rest of the backbone fed maps it never saw. Refused up front.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import torch

from mocobench.errors import UsageError
from mocobench.evaluate.pretrained import Pretrained, load_pretrained
from mocobench.runtime import atomic


def require_imagenet_stem(pretrained: Pretrained) -> None:
    """UsageError (one line) unless `pretrained` has the ImageNet stem Detectron2's ResNet is built with."""
    if pretrained.stem != "imagenet":
        raise UsageError(
            f"{pretrained.path}: the CIFAR stem (3x3 stride-1, no max-pool) has no Detectron2 counterpart; "
            "VOC detection needs an ImageNet-stem encoder (--set stem=imagenet)"
        )


def detectron2_name(key: str) -> str:
    """A torchvision ResNet key in Detectron2's naming: layer1.0.bn1.weight -> res2.0.conv1.norm.weight."""
    if not key.startswith("layer"):
        key = "stem." + key
    key = re.sub(r"layer(\d)", lambda m: f"res{int(m.group(1)) + 1}", key)
    key = re.sub(r"bn(\d)", r"conv\1.norm", key)
    return key.replace("downsample.0", "shortcut").replace("downsample.1", "shortcut.norm")


def to_detectron2(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The pickle content Detectron2 loads for a backbone `state` (torchvision keys, no fc)."""
    model = {
        detectron2_name(k): v.detach().cpu().numpy() for k, v in state.items() if not k.startswith("fc.")
    }
    return {"model": model, "__author__": "mocobench (MoCo layout)", "matching_heuristics": True}


def export_detectron2(
    source: Path, out: Path, trust: bool = False, fmt: str | None = None
) -> tuple[Path, int]:
    """`mocobench export detectron2 CHECKPOINT OUT.pkl`; returns the path and the number of tensors."""
    out = Path(out)
    if out.suffix != ".pkl":
        raise UsageError(f"{out}: Detectron2 reads converted weights from a .pkl file; name it OUT.pkl")
    pretrained = load_pretrained(source, trust, fmt_name=fmt)
    require_imagenet_stem(pretrained)
    content = to_detectron2(pretrained.state)
    try:
        path = atomic.write_bytes(out, pickle.dumps(content))
    except OSError as e:
        raise UsageError(f"{out}: cannot write it ({e.strerror or e}); pass a writable path") from e
    return path, len(content["model"])
