"""Backbone weights from any checkpoint we evaluate: our runs, the official MoCo releases, supervised models.

Every format reduces to a torchvision ResNet state_dict without `fc`, which is what the official
`main_lincls.py` loads (it keeps `module.encoder_q.*` and drops `module.encoder_q.fc.*`, so the MLP head of
MoCo v2 is discarded, as in the paper: the head is for pre-training only).

The ResNet stem (`models/encoders.py::STEMS`) is the checkpoint's config's `stem` for our runs ("imagenet"
for runs from before the setting), else read off conv1's kernel (7x7 imagenet, 3x3 cifar), and always
checked against that kernel. The max-pool holds no tensors, so strict loading alone cannot tell a model
with it from one without; building every model through `encoder_builder(arch, stem=...)` ties it to conv1.
A 3x3 conv1 is taken as the CIFAR stem of the MoCo demo (padding 1, no max-pool); solo-learn pads its 3x3
conv1 by 2, which no weight shape shows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mocobench.errors import UsageError
from mocobench.models.encoders import ARCHS, STEM_KERNEL, STEMS, encoder_builder
from mocobench.results import layout
from mocobench.runtime import checkpoint

# Tried in order: MoCo (ours and official) keeps the query encoder, end-to-end its one encoder, supervised
# and torchvision models have the ResNet at the top (with or without DDP's `module.`).
ENCODER_PREFIXES = ("module.encoder_q.", "encoder_q.", "module.encoder.", "encoder.", "module.", "")


@dataclass
class Pretrained:
    state: dict[str, torch.Tensor]  # torchvision ResNet keys, no fc.*
    arch: str
    path: Path  # the checkpoint file
    run_dir: Path | None  # the mocobench run folder it belongs to, if any
    epoch: int | None
    source: str  # what kind of checkpoint it was, for linear.json
    run_config: dict[str, Any] | None
    stem: str = "imagenet"  # models/encoders.py::STEMS: build the backbone with encoder_builder(arch, stem=)


def backbone_state(state_dict: dict[str, Any]) -> tuple[dict[str, torch.Tensor], str]:
    """Backbone tensors (no fc) and the prefix they were found under."""
    for prefix in ENCODER_PREFIXES:
        picked = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
        picked = {k: v for k, v in picked.items() if torch.is_tensor(v) and "." in k}
        if any(k.startswith("conv1.") for k in picked):
            return {k: v for k, v in picked.items() if not k.startswith("fc.")}, prefix
    raise UsageError(
        "no ResNet weights found in the checkpoint (expected keys like module.encoder_q.conv1.weight or "
        "conv1.weight); pass a MoCo, end-to-end, supervised or torchvision ResNet checkpoint"
    )


def _shapes(state: dict[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state.items()}


def infer_stem(state: dict[str, torch.Tensor]) -> str:
    """The stem whose conv1 kernel `state["conv1.weight"]` has (7x7 imagenet, 3x3 cifar)."""
    shape = tuple(state["conv1.weight"].shape)
    for stem, k in STEM_KERNEL.items():
        if shape[-2:] == (k, k):
            return stem
    kernels = ", ".join(f"{k}x{k} {stem}" for stem, k in STEM_KERNEL.items())
    raise UsageError(
        f"conv1 of shape {shape} fits no ResNet stem ({kernels}); pass a torchvision ResNet checkpoint"
    )


def check_stem(state: dict[str, torch.Tensor], stem: str, where: str) -> str:
    """`stem`, once it is known and fits conv1's kernel (UsageError naming both otherwise)."""
    if stem not in STEMS:
        raise UsageError(f"{where}: unknown stem {stem!r}; use one of {', '.join(STEMS)}")
    found = infer_stem(state)
    if found != stem:
        k = STEM_KERNEL[found]
        raise UsageError(
            f"{where}: stem={stem} does not fit its {k}x{k} conv1 (the {found} stem); use stem={found}, "
            f"or a checkpoint pre-trained with stem={stem}"
        )
    return stem


def infer_arch(state: dict[str, torch.Tensor], stem: str = "imagenet") -> str:
    """The torchvision ResNet (with `stem`) whose non-fc keys and shapes equal `state`'s (built on meta)."""
    wanted = _shapes(state)
    for arch in ARCHS:
        with torch.device("meta"):
            model = encoder_builder(arch, stem=stem)()
        ref = {k: v for k, v in _shapes(model.state_dict()).items() if not k.startswith("fc.")}
        if ref == wanted:
            return arch
    raise UsageError(
        f"the checkpoint's backbone matches none of {', '.join(ARCHS)}; pass a torchvision ResNet checkpoint"
    )


def _read(path: Path, trust: bool) -> dict[str, Any]:
    obj = checkpoint.read(path, trust)
    if not isinstance(obj, dict):
        raise UsageError(
            f"{path} holds a {type(obj).__name__}, not a checkpoint dict; pass a state_dict file"
        )
    return obj


def _run_checkpoint(run_dir: Path) -> Path:
    last = run_dir / checkpoint.LAST
    if not last.is_file():
        raise UsageError(
            f"{run_dir} holds no {checkpoint.LAST}; pass a run folder written by mocobench pretrain "
            "or a checkpoint file"
        )
    if not (run_dir / layout.SUMMARY).is_file():
        raise UsageError(
            f"the run in {run_dir} is unfinished; continue it with mocobench pretrain ... --resume "
            f"--out {run_dir}, or pass {last} itself to evaluate it as it is"
        )
    return last


def stated_stem(obj: dict[str, Any], run_config: dict[str, Any] | None) -> str | None:
    """The stem our checkpoint's config (else its run's config.json) records, "imagenet" where a config
    predates the setting; None for a file with neither (an external checkpoint: conv1 tells)."""
    ours = obj.get("mocobench")
    for config in (ours.get("config") if isinstance(ours, dict) else None, run_config):
        if isinstance(config, dict):
            return str(config.get("stem", "imagenet"))
    return None


def load_pretrained(source: Path, trust: bool = False, stem: str | None = None) -> Pretrained:
    """`source` is a finished run folder or a checkpoint file (ours, official MoCo, or a state_dict).

    Read as data (`runtime/checkpoint.py::read`); `trust` allows a file that needs Python's full unpickler.
    `stem`, if given, is the stem the caller expects: a checkpoint of another is refused.
    """
    source = Path(source).expanduser()
    if source.is_dir():
        path, run_dir = _run_checkpoint(source), source
    elif source.is_file():
        path = source
        # Only a run's own final checkpoint speaks for the run; a periodic one is evaluated on its own.
        is_last = path.name == checkpoint.LAST and (path.parent / layout.SUMMARY).is_file()
        run_dir = path.parent if is_last else None
    else:
        raise UsageError(f"--pretrained {source} does not exist; pass a run folder or a checkpoint file")
    obj = _read(path, trust)
    state_dict = obj.get("state_dict", obj.get("model", obj))
    if not isinstance(state_dict, dict):
        raise UsageError(f"{path}: 'state_dict' is not a dict; pass a MoCo-layout or state_dict checkpoint")
    state, prefix = backbone_state(state_dict)
    run_config = None
    if run_dir is not None and (run_dir / layout.CONFIG).is_file():
        run_config = json.loads((run_dir / layout.CONFIG).read_text())
    recorded = stated_stem(obj, run_config)
    found = check_stem(state, recorded, str(path)) if recorded else infer_stem(state)
    if stem is not None:
        check_stem(state, stem, str(path))
    arch = obj.get("arch") if isinstance(obj.get("arch"), str) else None
    if arch is None or arch not in ARCHS:
        arch = infer_arch(state, found)
    if "mocobench" in obj:
        kind = "mocobench checkpoint"
    elif prefix.endswith("encoder_q."):
        kind = "MoCo checkpoint (official layout)"
    else:
        kind = f"ResNet state_dict (keys under {prefix!r})" if prefix else "ResNet state_dict"
    epoch = obj.get("epoch")
    epoch = int(epoch) if epoch is not None else None
    return Pretrained(state, arch, path, run_dir, epoch, kind, run_config, found)


def results_dir(pretrained: Pretrained, scale: str) -> Path:
    """Where the evaluations of `pretrained` go: its run's folder, else `<runs>/<scale>/external/<stem>`."""
    if pretrained.run_dir is not None:
        return pretrained.run_dir
    return layout.external_dir(scale, pretrained.path)
