"""The run config of a recipe, made once before any training: recipe <- tier <- --set
(`config/recipes.py::resolve`: every value typed and checked, and the checks every method shares) <- the
method's own checks <- the data fit. The result is the frozen `config.settings.RunConfig` that every layer
below the CLI takes.

`method_of` is where the registry (`methods/__init__.py`) is read: for the run config here, and for building
the method for training, benchmarking and profiling in `run/build.py`.
"""

from __future__ import annotations

from typing import Any

from mocobench import methods
from mocobench.config import recipes, scales
from mocobench.config.settings import RunConfig
from mocobench.methods import Method


def method_of(config: RunConfig) -> Method:
    """The method `config.method.mechanism` names: the registry's one reader (`run/build.py` asks here)."""
    return methods.method(config.method.mechanism)


def resolve(name: str, scale: str = "paper", overrides: list[str] | None = None) -> RunConfig:
    """The config of recipe `name` at `scale` with `--set` overrides, checked by its method too."""
    config = recipes.resolve(name, scale, overrides)
    methods.validate(config)
    return config


def fitted(config: RunConfig, n_train: int) -> RunConfig:
    """`config` with what its method fits to `n_train` training images (MoCo's K at a tier)."""
    return config.replace(**method_of(config).fit(config, n_train))


def fit_to_data(config: RunConfig, n_train: int, mean: Any, std: Any) -> RunConfig:
    """The tier's rules that need the data (a meaningless row is refused in one line), the data's
    normalisation unless set, and the method's fit."""
    return fitted(scales.fit_to_data(config, n_train, mean, std), n_train)


def facts(config: RunConfig, n_train: int) -> list[tuple[str, str]]:
    """What the tier makes of the row on `n_train` images, the method's own facts among them."""
    return scales.scale_facts(config, n_train, method_of(config).facts(config, n_train))


def numbers(config: RunConfig, n_train: int) -> dict[str, Any]:
    """The same facts as numbers: the tier's (`scales.tier_numbers`) and the method's own."""
    return {**scales.tier_numbers(config, n_train), **method_of(config).numbers(config, n_train)}


def record(config: RunConfig, num_classes: int) -> RunConfig:
    """`config` as config.json keeps it, with what the method sets once the data is known."""
    return config.replace(**method_of(config).record(config, num_classes))
