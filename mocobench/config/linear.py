"""The linear classification protocols (`recipes/linear*.toml`) resolved at a scale.

Two protocols, each the one its authors' code runs: `linear` is the official MoCo `main_lincls.py` (PAPER.md:
SGD lr 30, batch 256, 100 epochs, x0.1 at 60 and 80, fc ~ N(0, 0.01), BN frozen) and scores every row but
SimCLR's; `linear-simclr` is SimCLR v1's (`recipes/linear-simclr.toml` cites its code), which scores the
SimCLR rows of Table 2, whose paper figures come from it. A recipe names its protocol (`linear_protocol`).
Both shrink by the same scale rules as pre-training, so a tier's table scores like rows alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mocobench.config.files import read_toml, recipes_dir
from mocobench.config.scales import canonical_scale, scale_rules, scaled_length_and_batch
from mocobench.errors import UsageError

DEFAULT = "linear"
LINEAR_FIELDS: dict[str, type] = {
    "epochs": int,
    "batch_size": int,
    "lr": float,
    "momentum": float,
    "nesterov": bool,
    "weight_decay": float,
    "cos": bool,  # cosine decay (else x0.1 at each `schedule` milestone)
    "lr_per_step": bool,  # the lr set every step (SimCLR) or every epoch (main_lincls.py)
    "schedule": list,
    "init_std": float,  # fc weight ~ N(0, init_std), bias 0; 0 initialises the weight to zero
    "views": str,  # "moco": RandomResizedCrop + flip / Resize + CenterCrop; "simclr": SimCLR's crops, and
    # whole images when image_size <= 32 (augment/reference.py::linear_views)
    "image_size": int,
    "max_images_per_class": int,
    "workers": int,
}
VIEWS = ("moco", "simclr")
# Scale keys that also shape the linear protocol; the rest of a scale (arch, moco_k, ...) is pre-training's.
_SHARED_SCALE_KEYS = ("image_size", "max_images_per_class", "workers")


def protocol_names() -> list[str]:
    """Every protocol file beside the recipes: `linear.toml`, `linear-simclr.toml`, ..."""
    return sorted(p.stem for p in recipes_dir().glob("linear*.toml"))


def _read(name: str) -> tuple[Path, dict[str, Any]]:
    path = recipes_dir() / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(protocol_names()) or "none"
        raise UsageError(f"no linear protocol {name!r} ({path} is missing); use one of {known}")
    return path, read_toml(path)


def protocol_title(name: str) -> str:
    """The protocol file's one-line title, for table notes."""
    return str(_read(name)[1].get("title", name))


def paper_protocol(name: str = DEFAULT) -> dict[str, Any]:
    path, data = _read(name)
    config = data.get("config", {})
    missing = [k for k in LINEAR_FIELDS if k not in config]
    unknown = [k for k in config if k not in LINEAR_FIELDS]
    if missing or unknown:
        raise UsageError(f"{path}: missing {missing} / unknown {unknown} settings; fix the file")
    protocol = {k: LINEAR_FIELDS[k](v) for k, v in config.items()}
    if protocol["views"] not in VIEWS:
        raise UsageError(f"{path}: views must be one of {', '.join(VIEWS)}, not {protocol['views']!r}")
    return protocol


def resolve_linear(scale: str = "paper", workers: int | None = None, name: str = DEFAULT) -> dict[str, Any]:
    """The linear protocol `name` at `scale` (as written into its result file)."""
    scale = canonical_scale(scale)
    rules = scale_rules(scale)
    paper = paper_protocol(name)
    out = {**paper, **{k: LINEAR_FIELDS[k](rules[k]) for k in _SHARED_SCALE_KEYS if k in rules}}
    out.update(scaled_length_and_batch(paper, rules))
    if workers is not None:
        out["workers"] = workers
    return {"scale": scale, "name": name, **out}
