"""The linear classification protocol (`recipes/linear.toml`) resolved at a scale.

One protocol for every row, shrunk by the same scale rules as pre-training, so a mini-scale table scores
every row identically (PAPER.md: SGD lr 30, batch 256, 100 epochs, x0.1 at 60 and 80, fc ~ N(0, 0.01)).
"""

from __future__ import annotations

from typing import Any

from mocobench.config.files import read_toml, recipes_dir
from mocobench.config.scales import scale_rules, scaled_length_and_batch
from mocobench.errors import UsageError

LINEAR_FIELDS: dict[str, type] = {
    "epochs": int,
    "batch_size": int,
    "lr": float,
    "momentum": float,
    "weight_decay": float,
    "schedule": list,
    "init_std": float,
    "image_size": int,
    "max_images_per_class": int,
    "workers": int,
}
# Scale keys that also shape the linear protocol; the rest of a scale (arch, moco_k, ...) is pre-training's.
_SHARED_SCALE_KEYS = ("image_size", "max_images_per_class", "workers")


def paper_protocol() -> dict[str, Any]:
    path = recipes_dir() / "linear.toml"
    if not path.is_file():
        raise UsageError(f"cannot find {path}; set MOCOBENCH_RECIPES to the repo's recipes/ directory")
    config = read_toml(path).get("config", {})
    missing = [k for k in LINEAR_FIELDS if k not in config]
    unknown = [k for k in config if k not in LINEAR_FIELDS]
    if missing or unknown:
        raise UsageError(f"{path}: missing {missing} / unknown {unknown} settings; fix the file")
    return {k: LINEAR_FIELDS[k](v) for k, v in config.items()}


def resolve_linear(scale: str = "paper", workers: int | None = None) -> dict[str, Any]:
    """The linear protocol at `scale` (as written into linear.json)."""
    rules = scale_rules(scale)
    paper = paper_protocol()
    out = {**paper, **{k: LINEAR_FIELDS[k](rules[k]) for k in _SHARED_SCALE_KEYS if k in rules}}
    out.update(scaled_length_and_batch(paper, rules))
    if workers is not None:
        out["workers"] = workers
    return {"scale": scale, **out}
