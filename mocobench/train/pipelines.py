"""`--pipeline fast|official`: how a run feeds and steps the model, and the record of it every run keeps.

`official` is the official MoCo code's pipeline (docs/pipelines.md cites each file:line):
torchvision's ImageFolder-style dataset with `TwoCropsTransform` over the PIL transforms, colour in the loader
workers, fp32, nothing compiled. `fast` (the default) lets `--loader`, `--augment-on` and `--step-options`
pick faster paths (decode once and crop twice, FFCV, colour on the device, bf16 autocast, compile); the logits
and losses stay fp32 (losses.py), and `mocobench bench views` measures how far each loader's views are from
the reference's.
"""

from __future__ import annotations

from typing import Any

from mocobench.errors import UsageError
from mocobench.runtime.step_options import StepOptions

PIPELINES = ("fast", "official")
OFFICIAL = {"loader": "pil", "augment_on": "loader", "step_options": "fp32"}
_FLAGS = {"loader": "--loader", "augment_on": "--augment-on", "step_options": "--step-options"}


def resolve_pipeline(
    name: str, loader: str | None = None, augment_on: str | None = None, step_options: str | None = None
) -> dict[str, str]:
    """The loader, colour placement and step options of `--pipeline name` (None: not on the command line)."""
    if name not in PIPELINES:
        raise UsageError(f"unknown --pipeline {name!r}; use {' or '.join(PIPELINES)}")
    given = {"loader": loader, "augment_on": augment_on, "step_options": step_options}
    if name == "official":
        clash = [k for k, v in given.items() if v is not None and v != OFFICIAL[k]]
        if clash:
            k = clash[0]
            raise UsageError(
                f"--pipeline official fixes {_FLAGS[k]} {OFFICIAL[k]}, not {given[k]}; drop {_FLAGS[k]} "
                "or use --pipeline fast"
            )
        return {"pipeline": name, **OFFICIAL}
    return {
        "pipeline": name,
        "loader": loader or "auto",
        "augment_on": augment_on or "auto",
        "step_options": step_options or "auto",
    }


def pipeline_record(name: str, loader: dict[str, Any], options: StepOptions) -> dict[str, Any]:
    """What `config.json` records of the pipeline that ran: everything a figure's provenance needs."""
    return {
        "name": name,
        **loader,
        "precision": "bf16 autocast (logits and loss fp32)" if options.bf16 else "fp32",
        "channels_last": options.channels_last,
        "fused_sgd": options.fused,
        "compile": options.compile,
    }


def describe(pipeline: dict[str, Any]) -> str:
    """One line for a table's notes, from a run's recorded pipeline."""
    if not pipeline:
        return "not recorded"
    where = {"device": "colour on the device", "loader": "colour in the loader workers"}
    parts = [
        f"{pipeline.get('loader', '?')} loader",
        where.get(pipeline.get("augment_on", ""), "colour ?"),
        pipeline.get("stored", ""),
        pipeline.get("precision", "fp32"),
        "torch.compile" if pipeline.get("compile") else "",
        "channels_last" if pipeline.get("channels_last") else "",
    ]
    return f"{pipeline.get('name', 'fast')}: " + ", ".join(p for p in parts if p)
