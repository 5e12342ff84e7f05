"""How every command's `--help` names its options: a flag shows no value, an option a name for its value.

Typer prints a Python type (`<bool>`, `<str>`) in the metavar column; a command-line user expects none on
a flag (`--resume`) and a word for what an option takes (`--recipe NAME`, `--seed N`). Every command and
group of the CLI is built with `Command` or `Group` (`cls=`), which fill each metavar the declaration left
unset: by the option's name where one word says more than its type, else by its type.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperCommand, TyperGroup

BY_NAME = {
    "--recipe": "NAME",
    "--recipes": "NAME,...",
    "--scale": "TIER",
    "--data": "DATA",
    "--out": "DIR",
    "--runs": "DIR",
    "--tables": "DIR",
    "--report": "DIR",
    "--work": "DIR",
    "--pretrained": "RUN|FILE",
    "--set": "KEY=VALUE",
    "--device": "DEVICE",
    "--format": "FORMAT",
    "--protocol": "NAME",
    "--launcher": "LAUNCHER",
    "--partition": "NAME",
    "--pipeline": "fast|official",
    "--loader": "LOADER",
    "--augment-on": "WHERE",
    "--step-options": "OPTIONS",
    "--options": "OPTIONS",
    "--stages": "STAGE,...",
    "--wandb-project": "PROJECT",
}
BY_TYPE = {
    "int": "N", "float": "NUMBER", "Path": "PATH", "str": "TEXT", "list[str]": "TEXT", "list[Path]": "PATH"
}  # fmt: skip


def fill_metavars(params: list[Any]) -> None:
    """Set the metavar of each option in `params` whose declaration left it unset (see the module doc)."""
    for p in params:
        if p.param_type_name != "option" or p.metavar is not None:  # Typer's own click, vendored
            continue
        if p.is_flag or p.count:
            p.metavar = ""
        else:
            long = next((o for o in p.opts if o.startswith("--")), "")
            p.metavar = BY_NAME.get(long) or BY_TYPE.get(p.bare_type(), "VALUE")


class Command(TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:  # the declared options and click's own --help
        params = super().get_params(ctx)
        fill_metavars(params)
        return params


class Group(TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        fill_metavars(params)
        return params
