"""A method built for one run, on one device: the one function that training, `bench step` and `profile`
build through, and the bare network for the checks that need only its shape."""

from __future__ import annotations

import torch
from torch import nn

from mocobench.config.settings import RunConfig
from mocobench.methods import Trainable
from mocobench.run.config import method_of
from mocobench.runtime.step_options import StepOptions, prepare_model


def build_model(config: RunConfig, num_classes: int, world_size: int) -> nn.Module:
    """The network of the method `config` names, for one of `world_size` processes, initialised from
    torch's current seed."""
    return method_of(config).build_model(config, num_classes, world_size)


def build(
    config: RunConfig, num_classes: int, world_size: int, device: torch.device, options: StepOptions
) -> Trainable:
    """`build_model` on `device` under the step options, with the method's optimizer, forward and hooks."""
    model = prepare_model(build_model(config, num_classes, world_size).to(device), options)
    return method_of(config).trainable(config, model, options)
