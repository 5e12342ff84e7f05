"""The run config of a recipe: recipe <- tier <- --set (`config/recipes.py::resolve`, the values every
method shares) <- the method's own checks <- the data fit.

`method_of` is where the registry (`methods/__init__.py`) is read: for the run config here, and for building
the method for training, benchmarking and profiling in `run/build.py`.
"""

from __future__ import annotations

from typing import Any

from mocobench import methods
from mocobench.config import recipes, scales
from mocobench.methods import Method

Config = dict[str, Any]


def method_of(config: Config) -> Method:
    """The method `config["mechanism"]` names: the registry's one reader (`run/build.py` asks here too)."""
    return methods.method(config["mechanism"])


def resolve(name: str, scale: str = "paper", overrides: list[str] | None = None) -> Config:
    """The config of recipe `name` at `scale` with `--set` overrides, checked by its method too."""
    config = recipes.resolve(name, scale, overrides)
    methods.validate(config)
    return config


def fitted(config: Config, n_train: int) -> Config:
    """`config` with what its method fits to `n_train` training images (MoCo's K at a tier)."""
    return {**config, **method_of(config).fit(config, n_train)}


def fit_to_data(config: Config, n_train: int, mean: Any, std: Any) -> Config:
    """The tier's rules that need the data (a meaningless row is refused in one line), the data's
    normalisation unless set, and the method's fit."""
    return fitted(scales.fit_to_data(config, n_train, mean, std), n_train)


def facts(config: Config, n_train: int) -> list[tuple[str, str]]:
    """What the tier makes of the row on `n_train` images, the method's own facts among them."""
    return scales.scale_facts(config, n_train, method_of(config).facts(config, n_train))


def record(config: Config, num_classes: int) -> Config:
    """`config` as config.json keeps it, with what the method adds once the data is known."""
    return {**config, **method_of(config).record(config, num_classes)}
