"""`config/settings.py`: the run config is one frozen value in groups, every value typed and checked as it
is made, read or changed, and config.json round-trips through it."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from mocobench.config.fields import FIELDS, BadValue
from mocobench.config.recipes import all_recipes
from mocobench.config.settings import GROUP_OF, GROUPS, RunConfig
from mocobench.run.config import resolve

SCALES = ("paper", "gpu", "cpu", "smoke")


def every_config() -> list[RunConfig]:
    return [
        resolve(name, scale)
        for scale in SCALES
        for name, recipe in all_recipes().items()
        if not recipe.reference or scale in ("paper", "smoke")
    ]


def test_every_setting_has_exactly_one_group():
    names = [f.name for cls in GROUPS.values() for f in dataclasses.fields(cls)]
    assert len(names) == len(set(names)) == len(GROUP_OF)
    assert set(FIELDS) <= set(GROUP_OF)  # every recipe setting, and the run's own keys beside them
    assert {GROUP_OF[k] for k in ("lr", "epochs", "batch_size")} == {"optim"}
    assert (GROUP_OF["moco_k"], GROUP_OF["image_size"], GROUP_OF["seed"]) == ("method", "data", "run")


def test_config_json_round_trips_for_every_recipe_at_every_tier():
    for config in every_config():
        flat = json.loads(json.dumps(config.flat()))  # as config.json holds it
        assert RunConfig.from_flat(flat) == config, (config.run.recipe, config.run.scale)
        assert flat["aug_plus"] == config.data.aug_plus and set(config.settings()) == set(FIELDS)


def test_the_config_is_frozen_and_hashable_groups_hold_tuples():
    config = resolve("mlp+aug+cos", "smoke")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.optim.lr = 1.0  # type: ignore[misc]
    assert isinstance(config.optim.schedule, tuple) and isinstance(config.data.blur_sigma, tuple)
    assert hash(config.method) == hash(resolve("mlp+aug+cos", "smoke").method)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"epochs": 2.5}, "epochs must be a whole number of epochs, not 2.5"),
        ({"workers": -5}, "workers must be at least 0, not -5"),
        ({"lr": math.nan}, "lr must be a finite number, not nan"),
        ({"seed": -1}, "seed must be at least 0, not -1"),
        ({"recipe": 3}, "recipe must be text, not 3"),
    ],
)
def test_a_change_is_checked_as_when_the_config_was_made(change: dict, message: str):
    config = resolve("mlp+aug+cos", "smoke")
    with pytest.raises(BadValue, match=message.replace("(", r"\(").replace(")", r"\)")):
        config.replace(**change)
    with pytest.raises(KeyError, match="no run setting 'epoch'"):
        config.replace(epoch=3)
    assert config.replace(epochs="3").optim.epochs == 3 and config.optim.epochs == 2  # a new value


def test_missing_settings_read_as_their_defaults_and_unknown_keys_are_ignored():
    config = RunConfig.from_flat({"recipe": "x", "lr": 0.5, "another_tools_key": 1, "aug_plus": True})
    assert config.optim.lr == 0.5 and config.run.recipe == "x"
    assert config.method.init == FIELDS["init"].default and config.optim.epochs == FIELDS["epochs"].default
    assert config.ran.data == "" and dict(config.ran.pipeline) == {}
    with pytest.raises(BadValue, match="pipeline must be a table of names, not 3"):
        RunConfig.from_flat({"pipeline": 3})
    with pytest.raises(BadValue, match=r"paper_rows must be a list of \{table, row\}"):
        RunConfig.from_flat({"paper_rows": [{"table": 1}]})
