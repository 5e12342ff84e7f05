"""The methods, one module each, and the registry that maps a recipe's `mechanism` to its module.

Outside this package no code branches on a mechanism's name. The registry is read in one function,
`run/config.py::method_of`, by the two places that need a method: building the run config (`run/config.py`)
and building the method for training, benchmarking and profiling (`run/build.py::build`).

Adding a method is its module here (a `Method` subclass with a `name` registers itself, `base.py`), its
recipes and its tests: every module of this package is imported below, in name order.
"""

from __future__ import annotations

import importlib
import pkgutil

from mocobench.config.settings import RunConfig
from mocobench.errors import UsageError
from mocobench.methods.base import REGISTRY, Method, Trainable

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

INIT_TEXT = {"simclr": "SimCLR's ResNet initialisation"}
METHODS: dict[str, Method] = {name: cls() for name, cls in sorted(REGISTRY.items())}

__all__ = ["METHODS", "Method", "Trainable", "method", "validate"]


def method(mechanism: str) -> Method:
    """The method a recipe's `mechanism` names; a UsageError naming the choices for any other."""
    try:
        return METHODS[mechanism]
    except KeyError:
        raise UsageError(f"mechanism must be one of {', '.join(METHODS)}, not {mechanism!r}") from None


def validate(config: RunConfig) -> None:
    """The checks of the method `config` names, and the one that needs them all: an `init` (ResNet
    initialisation, models/encoders.py) is built only for the methods that list it."""
    chosen = method(config.method.mechanism)
    init = config.method.init
    if init not in chosen.inits:
        owners = " or ".join(name for name, m in METHODS.items() if init in m.inits)
        raise UsageError(
            f"init {init!r} is {INIT_TEXT.get(init, 'a ResNet initialisation')}, built for mechanism "
            f"{owners} only, not {chosen.name!r}; drop --set init"
        )
    chosen.validate(config)
