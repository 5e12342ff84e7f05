"""Where the recipe files are, and how they are read: TOML recipes, scales and protocols."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import tomllib

from mocobench.errors import UsageError


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


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path}: not valid TOML ({e}); fix the file") from e
