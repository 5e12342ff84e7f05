"""A run folder's config.json read back as the typed `RunConfig`: the one place an old run is translated.

Resume, evaluation, the tables and `mocobench runs` read a run's config here, so what a run folder from an
older mocobench meant is decided once:
- a tier renamed (`mini` -> `cpu`, `config.scales.ALIASES`) reads under its current name;
- a setting added after the run was made reads as its default (`fields.FIELDS`), which is what it trained
  with (e.g. `init` before SimCLR's initialisation existed: torchvision's);
- an empty mean/std (before the data's normalisation was recorded) meant ImageNet's.
A config.json that is not a JSON object of valid settings is refused in one line (exit 2).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mocobench.augment.spec import IMAGENET_MEAN, IMAGENET_STD
from mocobench.config.fields import BadValue
from mocobench.config.scales import current_scale
from mocobench.config.settings import RunConfig
from mocobench.errors import UsageError
from mocobench.results import layout


def translated(saved: dict[str, Any]) -> RunConfig:
    """A saved config (config.json's object, or a checkpoint's) as today's typed config."""
    values = dict(saved)
    if isinstance(values.get("scale"), str):
        values["scale"] = current_scale(values["scale"])
    if not values.get("mean") or not values.get("std"):
        values["mean"], values["std"] = list(IMAGENET_MEAN), list(IMAGENET_STD)
    return RunConfig.from_flat(values)


def read_config(run_dir: Path, fix: str = "restore it, or use another run folder") -> RunConfig:
    """`<run_dir>/config.json` as a `RunConfig` (translated); a UsageError naming the file and `fix`."""
    path = Path(run_dir) / layout.CONFIG
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UsageError(f"{path} is unreadable ({type(e).__name__}); {fix}") from e
    if not isinstance(saved, dict):
        raise UsageError(f"{path} is not a JSON object; {fix}")
    try:
        return translated(saved)
    except BadValue as e:
        raise UsageError(f"{path}: {e}; {fix}") from e


def try_read_config(run_dir: Path) -> RunConfig | None:
    """`read_config`, or None where the folder has no readable, valid config.json (not a run of ours)."""
    try:
        return read_config(run_dir)
    except UsageError:
        return None
