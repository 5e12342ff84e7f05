"""The registry: every recipe's mechanism names a method module, each method checks its own settings, and
no code outside `methods/` branches on a mechanism's name."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mocobench.augment.spec import KINDS
from mocobench.config.recipes import all_recipes
from mocobench.errors import UsageError
from mocobench.methods import METHODS, method
from mocobench.run.config import resolve

PACKAGE = Path(__file__).resolve().parents[2] / "mocobench"


def test_every_recipe_names_a_method_and_every_method_has_a_recipe():
    named = {resolve(name).method.mechanism for name in all_recipes()}
    assert named == set(METHODS) == {"moco", "end-to-end", "simclr", "supervised"}


def test_each_method_accepts_only_known_view_kinds_and_moco_takes_v1_and_aug_plus():
    for m in METHODS.values():
        assert m.views and set(m.views) <= set(KINDS)
    assert {"moco_v1", "aug_plus"} <= set(METHODS["moco"].views)
    assert METHODS["supervised"].two_view is False


def test_an_unknown_mechanism_is_one_line_naming_the_choices():
    with pytest.raises(
        UsageError, match="mechanism must be one of end-to-end, moco, simclr, supervised, not 'byol'"
    ):
        method("byol")
    with pytest.raises(UsageError, match="not 'byol'"):
        resolve("mlp+aug+cos", "smoke", ["mechanism=byol"])


def test_a_view_kind_or_optimizer_the_method_does_not_take_is_refused_by_it():
    with pytest.raises(UsageError, match="augmentation 'simclr' does not fit mechanism 'moco'"):
        resolve("mlp+aug+cos", "smoke", ["augmentation=simclr"])
    with pytest.raises(UsageError, match="optimizer 'lars' is not one mechanism 'moco' trains with"):
        resolve("mlp+aug+cos", "smoke", ["optimizer=lars"])
    assert resolve("simclr-b256", "smoke", ["optimizer=sgd"]).optim.optimizer == "sgd"


def _mechanism_names_compared(path: Path) -> list[str]:
    """Comparisons of a mechanism (`config["mechanism"] == "moco"`, `mech in ("moco", ...)`) in `path`."""
    source = path.read_text(encoding="utf-8")
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare) and "mech" in (ast.get_source_segment(source, node) or ""):
            constants = [c.value for c in ast.walk(node) if isinstance(c, ast.Constant)]
            found += [f"{path}:{node.lineno}" for v in constants if v in METHODS]
    return found


def test_no_code_outside_methods_compares_a_mechanism_name():
    hits = [
        hit
        for path in PACKAGE.rglob("*.py")
        if "methods" not in path.relative_to(PACKAGE).parts
        for hit in _mechanism_names_compared(path)
    ]
    assert hits == []


def test_a_method_module_registers_itself_and_a_name_is_taken_once():
    from mocobench.methods import moco, supervised
    from mocobench.methods.base import REGISTRY, Method

    assert type(METHODS["moco"]) is moco.MoCo and type(METHODS["supervised"]) is supervised.Supervised
    assert set(REGISTRY) == set(METHODS)  # every module of the package was read, none listed by hand
    with pytest.raises(TypeError, match="two methods are named 'moco'"):

        class Again(Method):  # a second module claiming a name already taken
            name = "moco"
            views = ("moco_v1",)

    class Unnamed(Method):  # an intermediate base (no name of its own) registers nothing
        views = ("moco_v1",)

    assert "Unnamed" not in str(REGISTRY) and set(REGISTRY) == set(METHODS)
