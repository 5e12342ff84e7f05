"""Recipes (one TOML file per paper row, at paper scale) and scales (how `mini`/`smoke` shrink compute).

Resolution order: official defaults (`fields.FIELDS`) <- recipe file <- scale <- `--set key=value`.
A scale may shrink compute (arch, resolution, epochs, batch, queue, data) but never a row's own knob
(`fields.ROW_KNOBS`) nor the ratio between rows' epochs or batches: it multiplies epochs and batch by one
factor for every recipe, so 200:800 epochs and 256:8192 batches keep their ratio (PAPER.md Tables 1-2).
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from mocobench.config.fields import AUGMENTATIONS, FIELDS, MECHANISMS, OPTIMIZERS, ROW_KNOBS, coerce
from mocobench.errors import UsageError
from mocobench.train.schedule import scale_milestones

SCALES = ("paper", "mini", "smoke")
# Scale keys that are rules rather than field values.
NOT_RECIPES = ("scales.toml", "linear.toml")  # protocol files that live beside the recipes
_SCALE_RULES = ("description", "epochs_factor", "batch_factor", "min_batch", "detection")


def recipes_dir() -> Path:
    """`$MOCOBENCH_RECIPES`, the repo's `recipes/` (editable install), or the copy inside the wheel."""
    env = os.environ.get("MOCOBENCH_RECIPES")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parents[1]
    for candidate in (here.parent / "recipes", here / "_recipes"):
        if (candidate / "scales.toml").is_file():
            return candidate
    raise UsageError("cannot find the recipes folder; set MOCOBENCH_RECIPES to the repo's recipes/ directory")


@dataclass(frozen=True)
class PaperRow:
    table: int
    row: str


@dataclass(frozen=True)
class Recipe:
    name: str
    title: str
    rows: tuple[PaperRow, ...]
    config: dict[str, Any]
    path: Path
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path}: not valid TOML ({e}); fix the file") from e


def _check_keys(keys: Any, where: str) -> None:
    for key in keys:
        if key not in FIELDS:
            raise UsageError(f"{where}: unknown setting {key!r}{_suggest(key, FIELDS)}")


def _suggest(name: str, choices: Any) -> str:
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    return f"; did you mean {', '.join(close)}?" if close else ""


def load_recipe(path: Path) -> Recipe:
    data = read_toml(path)
    name = data.get("name", path.stem)
    if name != path.stem:
        raise UsageError(f"{path}: name {name!r} must equal the file name {path.stem!r}")
    config = data.get("config", {})
    _check_keys(config, str(path))
    rows = tuple(PaperRow(int(r["table"]), str(r["row"])) for r in data.get("paper", []))
    if not rows:
        raise UsageError(f"{path}: a recipe must name its paper table and row in [[paper]]")
    return Recipe(name, data.get("title", name), rows, config, path, data.get("notes", ""))


def all_recipes() -> dict[str, Recipe]:
    folder = recipes_dir()
    return {p.stem: load_recipe(p) for p in sorted(folder.glob("*.toml")) if p.name not in NOT_RECIPES}


def get_recipe(name: str) -> Recipe:
    recipes = all_recipes()
    if name not in recipes:
        raise UsageError(f"unknown recipe {name!r}{_suggest(name, recipes)} (list them: mocobench recipes)")
    return recipes[name]


def load_scales() -> dict[str, dict[str, Any]]:
    scales = read_toml(recipes_dir() / "scales.toml")
    for scale, rules in scales.items():
        _check_keys([k for k in rules if k not in _SCALE_RULES], f"scales.toml [{scale}]")
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


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`["lr=0.1", "cos=true"]` -> typed dict; unknown keys and bad values are UsageErrors."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise UsageError(f"--set takes key=value, got {pair!r}")
        key, value = (s.strip() for s in pair.split("=", 1))
        if key == "aug_plus":  # the official flag name: a switch between the v1 and aug+ pipelines
            key, value = "augmentation", "aug_plus" if coerce("mlp", value) else "moco_v1"
        if key not in FIELDS:
            raise UsageError(
                f"unknown --set key {key!r}{_suggest(key, FIELDS)} (see: mocobench recipes show NAME)"
            )
        try:
            out[key] = coerce(key, value)
        except ValueError as e:
            raise UsageError(f"--set {pair}: {e}") from e
    return out


def validate(config: dict[str, Any]) -> None:
    checks = (
        ("mechanism", MECHANISMS),
        ("augmentation", AUGMENTATIONS),
        ("optimizer", OPTIMIZERS),
    )
    for key, allowed in checks:
        if config[key] not in allowed:
            raise UsageError(f"{key} must be one of {', '.join(allowed)}, not {config[key]!r}")
    if (config["mechanism"] == "supervised") != (config["augmentation"] == "supervised"):
        raise UsageError(
            f"augmentation {config['augmentation']!r} does not fit mechanism {config['mechanism']!r}: "
            "the supervised recipe uses 'supervised', contrastive ones moco_v1, aug_plus or simclr"
        )
    for key in ("epochs", "batch_size", "moco_dim", "moco_k", "image_size", "bn_splits"):
        if config[key] < 1:
            raise UsageError(f"{key} must be at least 1, not {config[key]}")
    if config["mechanism"] == "moco" and config["batch_size"] % config["bn_splits"]:
        raise UsageError(
            f"batch_size {config['batch_size']} is not divisible by bn_splits {config['bn_splits']}; "
            "change one of them with --set"
        )
    if not 0 <= config["moco_m"] < 1:
        raise UsageError(f"moco_m must be in [0, 1), not {config['moco_m']}")
    if config["moco_t"] <= 0:
        raise UsageError(f"moco_t must be positive, not {config['moco_t']}")


def resolve(name: str, scale: str = "paper", overrides: list[str] | None = None) -> dict[str, Any]:
    """The full config of recipe `name` at `scale` with `--set` overrides, as written to config.json."""
    recipe = get_recipe(name)
    config = {key: spec[1] for key, spec in FIELDS.items()}
    config.update({k: coerce(k, v) for k, v in recipe.config.items()})
    config = apply_scale(config, scale)
    config.update(parse_overrides(overrides or []))
    validate(config)
    return {
        "recipe": recipe.name,
        "scale": scale,
        "paper_rows": [{"table": r.table, "row": r.row} for r in recipe.rows],
        **config,
        # Derived, read-only: the official flag name for the v1 / aug+ switch.
        "aug_plus": config["augmentation"] in ("aug_plus", "simclr"),
    }
