"""What a method is: the interface every module of `methods/` fills, and what it hands the training loop.

A method (a recipe's `mechanism`) owns its model builder, its loss, the view kinds it accepts, its
optimizer, the settings only it reads (validated here, not in `config/`), what the data fits (MoCo's K),
and what it adds to config.json. The loop (`run/loop.py`) and the benchmarks (`bench/`) see only a
`Trainable`: one forward-and-loss per step, a per-step hook (MoCo v3 moves its momentum and lr every step),
and an optional gradient scaler whose state the checkpoint keeps. The official MoCo script is the model:
every hyper-parameter visible where the module builds with it.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from mocobench.config.settings import RunConfig
from mocobench.errors import UsageError
from mocobench.losses import cross_entropy
from mocobench.methods.optim import sgd, trainable
from mocobench.runtime.step_options import StepOptions

REGISTRY: dict[str, type[Method]] = {}  # mechanism -> its Method subclass, filled as each module is read
Changes = dict[str, Any]  # setting -> value, checked by RunConfig.replace
# One step's forward: (model, inputs, options) -> (loss, logits, labels); inputs are (im_q, im_k) for the
# two-view methods, (images, targets) for the supervised one.
Forward = Callable[[nn.Module, tuple[torch.Tensor, torch.Tensor], StepOptions], tuple[torch.Tensor, ...]]


@dataclass
class Trainable:
    """A method built for one run: what the loop, the benchmarks and the profile drive."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    forward: Forward
    # called before each step with the run's progress in epochs (epoch + step / steps)
    on_step: Callable[[float], None] | None = None
    scaler: torch.amp.GradScaler | None = None  # checkpointed with the optimizer when a method uses one


class Method(ABC):
    """The defaults; a module overrides what its method does differently. A subclass that sets `name`
    registers itself: that name is a recipe's `mechanism` (`methods/__init__.py::METHODS`)."""

    name: ClassVar[str]
    views: ClassVar[tuple[str, ...]]  # the augmentation kinds it accepts (augment/spec.py::KINDS)
    two_view: ClassVar[bool] = True  # trained on (query, key) pairs; False: on labelled single views
    # the views a step back-propagates through (what autograd keeps activations of: run/memory.py)
    grad_views: ClassVar[int] = 2
    optimizers: ClassVar[tuple[str, ...]] = ("sgd",)
    inits: ClassVar[tuple[str, ...]] = ("torchvision",)  # models/encoders.py::encoder_builder

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            if cls.name in REGISTRY:
                raise TypeError(f"two methods are named {cls.name!r}: {REGISTRY[cls.name]} and {cls}")
            REGISTRY[cls.name] = cls

    def validate(self, config: RunConfig) -> None:
        """Refuse, in one line, a config this method cannot train (shared values are checked in config/)."""
        if config.data.augmentation not in self.views:
            raise UsageError(
                f"augmentation {config.data.augmentation!r} does not fit mechanism {self.name!r}: it takes "
                f"{', '.join(self.views)}"
            )
        if config.optim.optimizer not in self.optimizers:
            raise UsageError(
                f"optimizer {config.optim.optimizer!r} is not one mechanism {self.name!r} trains with; use "
                f"{' or '.join(self.optimizers)} (--set optimizer=...)"
            )

    def fit(self, config: RunConfig, n_train: int) -> Changes:
        """The settings that follow the data (none by default), as `RunConfig.replace` takes them."""
        return {}

    def numbers(self, config: RunConfig, n_train: int) -> dict[str, float]:
        """Its own figures on `n_train` images as numbers (`recipes show --json`; none by default)."""
        return {}

    def facts(self, config: RunConfig, n_train: int) -> list[tuple[str, str]]:
        """What a tier makes of this method's own settings on `n_train` images (`recipes show`)."""
        return []

    def record(self, config: RunConfig, num_classes: int) -> Changes:
        """What it sets in config.json once the data is known (as `RunConfig.replace` takes it)."""
        return {}

    @abstractmethod
    def build_model(self, config: RunConfig, num_classes: int, world_size: int) -> nn.Module:
        """The network for one of `world_size` processes, initialised from torch's current seed."""

    def forward(self, config: RunConfig) -> Forward:
        """The step's forward and loss: a two-view model returns (logits, labels) (losses.py builds them),
        scored by `self.loss` in fp32."""
        return functools.partial(two_view_forward, loss=self.loss)

    loss = staticmethod(cross_entropy)  # over (logits, labels): MoCo eq. 1

    def optimizer(self, config: RunConfig, model: nn.Module, options: StepOptions) -> torch.optim.Optimizer:
        o = config.optim
        return sgd(trainable(model), o.lr, o.momentum, o.weight_decay, options)

    def trainable(self, config: RunConfig, model: nn.Module, options: StepOptions) -> Trainable:
        return Trainable(model, self.optimizer(config, model, options), self.forward(config))


def two_view_forward(
    model: nn.Module,
    inputs: tuple[torch.Tensor, torch.Tensor],
    options: StepOptions,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Forward (query, key) under the step options (bf16 autocast etc.), then the loss: loss, logits,
    labels."""
    im_q, im_k = inputs
    with options.autocast(im_q.device):
        logits, labels = model(im_q, im_k)
    return loss(logits, labels), logits, labels
