"""The `init` field: which ResNet initialisation a row builds (torchvision's, or SimCLR's for its rows), so
that `recipes show` and config.json record it and no tier changes it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mocobench.config.fields import FIELDS, INITS, ROW_KNOBS
from mocobench.config.recipes import all_recipes
from mocobench.config.scales import load_scales
from mocobench.errors import UsageError
from mocobench.run.config import resolve


@pytest.mark.parametrize("scale", ["paper", "gpu", "cpu", "smoke"])
def test_simclr_rows_and_only_they_build_simclrs_resnet_at_every_tier(scale: str):
    assert FIELDS["init"][1] == "torchvision" and INITS == ("torchvision", "simclr")
    for name, recipe in all_recipes().items():
        if recipe.reference and scale not in ("paper", "smoke"):
            continue  # a published one-GPU setting runs only as published (or as a smoke check)
        config = resolve(name, scale)
        assert config.method.init == ("simclr" if config.method.mechanism == "simclr" else "torchvision"), (
            name
        )


def test_a_tier_cannot_change_the_init(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """It is part of what a SimCLR row is (fields.ROW_KNOBS), like its mechanism and augmentation."""
    assert "init" in ROW_KNOBS
    recipes = tmp_path / "recipes"
    shutil.copytree(Path(__file__).resolve().parents[2] / "recipes", recipes)
    scales = recipes / "scales.toml"
    scales.write_text(scales.read_text().replace("[gpu]\n", '[gpu]\ninit = "simclr"\n', 1))
    monkeypatch.setenv("MOCOBENCH_RECIPES", str(recipes))
    with pytest.raises(UsageError, match=r"scales.toml \[gpu\] changes a row's knob \(init\); remove it"):
        load_scales()


def test_an_init_the_builder_lacks_or_outside_simclr_is_refused_in_one_line():
    with pytest.raises(UsageError, match="init must be one of torchvision, simclr, not 'kaiming'"):
        resolve("simclr-b256", "smoke", ["init=kaiming"])
    with pytest.raises(UsageError, match="built for mechanism simclr only, not 'moco'; drop --set init"):
        resolve("mlp+aug+cos", "smoke", ["init=simclr"])
    # a SimCLR row may be built with torchvision's init, e.g. to resume a run that predates the field
    assert resolve("simclr-b256", "smoke", ["init=torchvision"]).method.init == "torchvision"


def test_recipes_show_prints_the_init(cli):
    code, out, _ = cli("recipes", "show", "simclr-b256", "--scale", "gpu", "--json")
    assert code == 0 and json.loads(out)["config"]["init"] == "simclr"
    code, out, _ = cli("recipes", "show", "mlp+aug+cos", "--json")
    assert code == 0 and json.loads(out)["config"]["init"] == "torchvision"
