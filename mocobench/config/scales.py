"""Scales (`recipes/scales.toml`): how `mini` and `smoke` shrink a paper-scale recipe, for every recipe alike.

A scale may shrink compute (arch, resolution, epochs, batch, queue, data) but never a row's own knob
(`fields.ROW_KNOBS`) nor the ratio between rows' epochs or batches: it multiplies epochs and batch by one
factor for every recipe, so 200:800 epochs and 256:8192 batches keep their ratio (PAPER.md Tables 1-2).
"""

from __future__ import annotations

from typing import Any

from mocobench.config.fields import ROW_KNOBS, check_keys, coerce
from mocobench.config.files import read_toml, recipes_dir
from mocobench.errors import UsageError
from mocobench.runtime.schedule import scale_milestones

SCALES = ("paper", "mini", "smoke")
# Scale keys that are rules rather than field values.
_SCALE_RULES = ("description", "epochs_factor", "batch_factor", "min_batch", "detection")


def load_scales() -> dict[str, dict[str, Any]]:
    scales = read_toml(recipes_dir() / "scales.toml")
    for scale, rules in scales.items():
        check_keys([k for k in rules if k not in _SCALE_RULES], f"scales.toml [{scale}]")
        changed = [k for k in rules if k in ROW_KNOBS]
        if changed:
            raise UsageError(f"scales.toml [{scale}] changes a row's knob ({', '.join(changed)}); remove it")
    return scales


def scale_rules(scale: str) -> dict[str, Any]:
    """The rules of one scale in scales.toml; an unknown scale is a UsageError."""
    scales = load_scales()
    if scale not in scales:
        raise UsageError(f"unknown scale {scale!r}; use one of {', '.join(scales)}")
    return scales[scale]


def scaled_length_and_batch(config: dict[str, Any], rules: dict[str, Any]) -> dict[str, Any]:
    """The `epochs`, `schedule`, `batch_size` and `lr` of `config` that a scale's `rules` change.

    Shared by pre-training and the linear protocol, so both shrink alike: epochs by `epochs_factor` with
    step milestones at their fraction of training (120/160 of 200 -> 12/16 of 20), batch by `batch_factor`
    (at least `min_batch`) with the lr linear in the batch (PAPER.md: 0.03 for 256, 0.015 for 128).
    """
    out: dict[str, Any] = {}
    e_factor = float(rules.get("epochs_factor", 1.0))
    if e_factor != 1.0:
        out["epochs"] = max(1, round(config["epochs"] * e_factor))
        out["schedule"] = scale_milestones(config["schedule"], config["epochs"], out["epochs"])
    b_factor = float(rules.get("batch_factor", 1.0))
    if b_factor != 1.0:
        out["batch_size"] = max(int(rules.get("min_batch", 2)), round(config["batch_size"] * b_factor))
        out["lr"] = config["lr"] * out["batch_size"] / config["batch_size"]
    return out


def apply_scale(config: dict[str, Any], scale: str) -> dict[str, Any]:
    """Shrink `config` (a full paper-scale config) to `scale`; see the module docstring for the rules."""
    rules = scale_rules(scale)
    out = dict(config)
    for key, value in rules.items():
        if key not in _SCALE_RULES:
            out[key] = coerce(key, value)
    out.update(scaled_length_and_batch(config, rules))
    out["warmup_epochs"] = config["warmup_epochs"] * out["epochs"] / config["epochs"]
    return out
