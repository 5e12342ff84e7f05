"""The one-home rules of ARCHITECTURE.md that a grep can check (the layers themselves: `make lint`)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mocobench"
# Below train/, but for config/, which owns the dict it resolves.
BELOW_TRAIN = ("runtime", "results", "augment", "data", "loading", "models", "metrics", "losses.py")


def _sources() -> dict[str, str]:
    return {str(p.relative_to(PACKAGE)): p.read_text(encoding="utf-8") for p in sorted(PACKAGE.rglob("*.py"))}


def _files_matching(pattern: str) -> list[str]:
    return [name for name, text in _sources().items() if re.search(pattern, text)]


def test_atomic_replacement_has_one_home():
    assert _files_matching(r"os\.replace\(") == ["runtime/atomic.py"]


def test_the_runs_folder_variable_is_read_in_one_place():
    assert _files_matching(r"os\.environ\.get\(RUNS_ENV|environ.*\"MOCOBENCH_RUNS\"") == ["results/layout.py"]
    assert _files_matching(r"RUNS_ENV\b") == ["results/layout.py"]


def test_the_epoch_order_and_the_seed_formulas_have_one_home():
    assert _files_matching(r"\* 7919") == ["runtime/seeds.py"]
    assert _files_matching(r"1_000_003") == ["runtime/seeds.py"]


def test_the_augmentation_kinds_are_listed_once():
    assert _files_matching(r"\(\s*\"moco_v1\",\s*\"aug_plus\",\s*\"simclr\"") == ["augment/spec.py"]


def test_nothing_below_train_takes_the_config_dict():
    offenders = []
    for name, text in _sources().items():
        if not name.startswith(BELOW_TRAIN):
            continue
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                args = [a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)]
                if "config" in args:
                    offenders.append(f"{name}::{node.name}")
    assert offenders == []


# The resolver's own steps, before the values are a RunConfig: the recipe file's and the tier's values
# (`scaled_length_and_batch` also shrinks the linear protocols' settings).
RESOLVING = {
    "config/recipes.py::scaled",
    "config/scales.py::apply_scale",
    "config/scales.py::scaled_length_and_batch",
}


def test_below_the_cli_a_run_config_is_the_typed_runconfig():
    offenders = []
    for name, text in _sources().items():
        if name.startswith("cli/"):
            continue
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs):
                    typed = ast.unparse(a.annotation) if a.annotation else ""
                    if a.arg in ("config", "run_config") and "RunConfig" not in typed:
                        offenders.append(f"{name}::{node.name}({a.arg}: {typed or '?'})")
    assert [o for o in offenders if o.split("(")[0] not in RESOLVING] == []
