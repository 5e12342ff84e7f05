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

Every backbone is checked before any command scores or converts it (`check_weights`): real floating-point
and finite, so a diverged run or a quantized file is refused in one line instead of scored as chance.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mocobench.config.settings import RunConfig
from mocobench.errors import UsageError
from mocobench.evaluate.formats import (
    BY_NAME,
    FORMATS,
    Format,
    allowed,
    backbone,
    detect,
    get_format,
    read_file,
)
from mocobench.models.encoders import ARCHS, STEM_KERNEL, STEMS, encoder_builder
from mocobench.results import layout
from mocobench.results.run_config import read_config
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
    run_config: RunConfig | None  # the run folder's config.json, read as results/run_config.py reads it
    stem: str = "imagenet"  # models/encoders.py::STEMS: build the backbone with encoder_builder(arch, stem=)
    format: str = "torchvision"  # evaluate/formats.py: the layout it was read as

    def scale_or(self, scale: str | None) -> str:
        """`scale` if given, else the run's own, else paper."""
        return scale or (self.run_config.run.scale if self.run_config else "paper")


def origin(pretrained: Pretrained | None) -> dict[str, Any]:
    """The run a checkpoint came from, as result files record it (None each where it is of no run)."""
    c = pretrained.run_config if pretrained else None
    return {
        "recipe": c.run.recipe if c else None,
        "pretrain_scale": c.run.scale if c else None,
        "pretrain_seed": c.run.seed if c else None,
    }


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


def infer_arch(state: dict[str, torch.Tensor], stem: str = "imagenet", fmt: str = "") -> str:
    """The torchvision ResNet (with `stem`) whose non-fc keys and shapes equal `state`'s (built on meta).

    Every backbone tensor must load: a checkpoint that fits no ResNet is refused, naming the missing and
    unexpected keys against the closest one (never a partial load)."""
    wanted = _shapes(state)
    closest: tuple[int, str, list[str], list[str], list[str]] | None = None
    for arch in ARCHS:
        with torch.device("meta"):
            model = encoder_builder(arch, stem=stem)()
        ref = {k: v for k, v in _shapes(model.state_dict()).items() if not k.startswith("fc.")}
        if ref == wanted:
            return arch
        missing = sorted(set(ref) - set(wanted))
        unexpected = sorted(set(wanted) - set(ref))
        shapes = sorted(k for k in set(ref) & set(wanted) if ref[k] != wanted[k])
        score = len(missing) + len(unexpected) + len(shapes)
        if closest is None or score < closest[0]:
            closest = (score, arch, missing, unexpected, shapes)
    assert closest is not None
    _, arch, missing, unexpected, shapes = closest
    where = f" (read as {fmt})" if fmt else ""
    parts = [
        f"{label} {len(keys)}: {', '.join(keys[:4])}{', ...' if len(keys) > 4 else ''}"
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("other shape", shapes))
        if keys
    ]
    raise UsageError(
        f"the checkpoint's backbone{where} does not fully load into any of {', '.join(ARCHS)}; against "
        f"{arch}: {'; '.join(parts)}. Pass a ResNet checkpoint, or --format for its layout"
    )


def check_weights(state: dict[str, torch.Tensor], arch: str, stem: str, where: str) -> None:
    """Refuse weights that are not weights, before anything is scored: a tensor that is not real
    floating-point (int8/uint8 would be cast to ~0 and scored as chance, complex would drop its imaginary
    part) except where torchvision's own `arch` keeps integers (BatchNorm's int64 `num_batches_tracked`),
    and any NaN/inf (a diverged run: linear would fail mid-training, kNN would score chance)."""
    with torch.device("meta"):
        reference = encoder_builder(arch, stem=stem)().state_dict()
    for key, value in state.items():
        integer_ok = key in reference and not reference[key].is_floating_point()
        real = value.is_floating_point() or (
            integer_ok and not value.is_complex() and value.dtype != torch.bool
        )
        if not real:
            dtype = str(value.dtype).removeprefix("torch.")
            raise UsageError(
                f"{where}: {key} is {dtype}, not real floating-point weights (a quantized or converted "
                "file?); pass the float checkpoint it was made from"
            )
        if value.is_floating_point():
            bad = int((~torch.isfinite(value if value.element_size() > 1 else value.float())).sum())
            if bad:
                raise UsageError(
                    f"{where}: {key} holds {bad} NaN/inf of {value.numel()} values (a diverged or corrupted "
                    "checkpoint); pass an earlier checkpoint of the run or another file"
                )


def _read(path: Path, trust: bool, fmt: str | None = None) -> tuple[Any, Format]:
    """The file as data (evaluate/formats.py) and its format (`fmt` if given, else detected)."""
    forced = get_format(fmt) if fmt else None
    read = read_file(path, trust, (forced,) if forced else FORMATS)
    if not isinstance(read.obj, dict):
        raise UsageError(
            f"{path} holds a {type(read.obj).__name__}, not a checkpoint dict; pass a state_dict file"
        )
    found = forced or detect(read.obj)
    # a class another format's pickles carry does not speak for this one
    foreign = sorted(name for name in read.stubbed if not allowed(name, (found,)))
    if foreign:
        raise UsageError(
            f"{path} (read as {found.name}) holds more than tensors and plain data (GLOBAL "
            f"{', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}); {checkpoint.TRUST_HINT}"
        )
    return read.obj, found


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


def stated_stem(obj: dict[str, Any], run_config: RunConfig | None) -> str | None:
    """The stem our checkpoint's config (else its run's config.json) records, "imagenet" where a config
    predates the setting; None for a file with neither (an external checkpoint: conv1 tells)."""
    ours = obj.get("mocobench")
    carried = ours.get("config") if isinstance(ours, dict) else None
    if isinstance(carried, dict):
        return str(carried.get("stem", "imagenet"))
    return run_config.method.stem if run_config else None


def load_pretrained(
    source: Path, trust: bool = False, stem: str | None = None, fmt_name: str | None = None
) -> Pretrained:
    """`source` is a finished run folder or a checkpoint file (ours, official MoCo, another tool's layout in
    evaluate/formats.py, or a state_dict); `fmt_name` forces its format, else it is detected.

    Read as data (`evaluate/formats.py::read_file`); `trust` allows a file that needs Python's full unpickler.
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
    obj, fmt = _read(path, trust, fmt_name)
    found_backbone = backbone(obj, fmt)
    if found_backbone is None:
        guess = detect(obj)
        hint = f" (it looks like {guess.name})" if guess is not fmt else ""
        raise UsageError(
            f"{path}: no ResNet weights under {', '.join(repr(p) for p in fmt.prefixes)} as format "
            f"{fmt.name} expects{hint}; pass a ResNet checkpoint of one of {', '.join(BY_NAME)}"
        )
    state, prefix = found_backbone
    run_config = None
    if run_dir is not None and (run_dir / layout.CONFIG).is_file():
        run_config = read_config(run_dir, f"restore it, or pass {path} itself")
    recorded = stated_stem(obj, run_config)
    found = check_stem(state, recorded, str(path)) if recorded else infer_stem(state)
    if stem is not None:
        check_stem(state, stem, str(path))
    arch = infer_arch(state, found, fmt.name)  # always: every backbone tensor must load
    check_weights(state, arch, found, str(path))
    named = fmt.name == "torchvision" and prefix
    kind = f"ResNet state_dict (keys under {prefix!r})" if named else fmt.title
    epoch = obj.get("epoch")
    epoch = int(epoch) if isinstance(epoch, int | float | str) and str(epoch).isdigit() else None
    return Pretrained(state, arch, path, run_dir, epoch, kind, run_config, found, fmt.name)


def results_dir(pretrained: Pretrained, scale: str) -> Path:
    """Where the evaluations of `pretrained` go: its run's folder, else `<runs>/<scale>/external/<stem>`."""
    if pretrained.run_dir is not None:
        return pretrained.run_dir
    return layout.external_dir(scale, pretrained.path)


def run_data(config: RunConfig | None, data: str | Path | None) -> tuple[str | Path | None, int | None]:
    """What an evaluation reads: `data` if given, else the data the run trained on (`config.ran.data`;
    None, the embedded set, where that folder is gone), and the run's embedded-set size (None: default)."""
    if config is None:
        return data, None
    if data is None and config.ran.data:
        data = config.ran.data
        if data != "embedded" and ":" not in data and not Path(data).is_dir():
            data = None  # a run whose folder is gone: the embedded set
    return data, config.data.embedded_per_class or None
