"""The training step's fast paths as switches (`--step-options`): they change how a step runs, not what it is.

The step itself is `run/loop.py::optimise` (the official `main_moco.py` step). The switches change only how
it runs, never what it computes beyond rounding: channels_last memory format, bf16 autocast, the fused SGD
kernel (`methods/optim.py::sgd`) and `torch.compile` of the encoders. On a GPU all four are on by default
(the paper's numbers do not depend on them; `bench step` checks the loss against fp32); on the CPU all are
off, where they do not pay (bf16 autocast is slower than fp32 on CPUs without AMX, compile takes minutes).
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn

from mocobench.errors import UsageError

SWITCHES = ("channels_last", "bf16", "fused", "compile")


@dataclass(frozen=True)
class StepOptions:
    channels_last: bool = False
    bf16: bool = False
    fused: bool = False
    compile: bool = False

    @classmethod
    def defaults(cls, device: torch.device) -> StepOptions:
        on = device.type == "cuda"
        return cls(channels_last=on, bf16=on, fused=on, compile=on)

    @classmethod
    def parse(cls, text: str | None, device: torch.device) -> StepOptions:
        """`None`/"auto" -> defaults; "fp32" -> all off; else a comma list such as "bf16,channels_last"
        (switches not named are off), or "auto,-compile" to drop one switch from the defaults."""
        if text is None or text.strip() in ("", "auto"):
            return cls.defaults(device)
        if text.strip() == "fp32":
            return cls()
        words = [w.strip() for w in text.split(",") if w.strip()]
        values = asdict(cls.defaults(device)) if words[0] == "auto" else dict.fromkeys(SWITCHES, False)
        for word in words[1:] if words[0] == "auto" else words:
            name, value = (word[1:], False) if word.startswith("-") else (word, True)
            if name not in SWITCHES:
                raise UsageError(
                    f"unknown step option {name!r}; use auto, fp32 or a comma list of {', '.join(SWITCHES)} "
                    "(prefix - to turn one off, e.g. auto,-compile)"
                )
            values[name] = value
        return cls(**values)

    def describe(self) -> str:
        on = [f.name for f in fields(self) if getattr(self, f.name)]
        return ",".join(on) if on else "fp32"

    def autocast(self, device: torch.device) -> Any:
        if not self.bf16:
            return nullcontext()
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def prepare_model(model: nn.Module, options: StepOptions) -> nn.Module:
    """Apply the memory format and compile the encoders in place (state_dict keys unchanged).

    Only the encoders are compiled: MoCo's queue, shuffle and momentum update are a few small ops with
    data-dependent indices that would only cause graph breaks.
    """
    if options.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if options.compile:
        encoders = [m for name in ("encoder_q", "encoder_k", "encoder") if (m := getattr(model, name, None))]
        for encoder in encoders or [model]:
            encoder.compile()
    return model


def to_input(x: torch.Tensor, device: torch.device, options: StepOptions) -> torch.Tensor:
    x = x.to(device, non_blocking=True)
    return x.contiguous(memory_format=torch.channels_last) if options.channels_last else x
