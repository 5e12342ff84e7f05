"""`mocobench recipes` and `recipes show`: the paper rows and their resolved settings."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from mocobench.cli.common import DataOpt, ScaleOpt, SetOpt, line, out
from mocobench.cli.help import Command, Group

recipes_app = typer.Typer(
    cls=Group, help="List paper recipes, or show one resolved config.", invoke_without_command=True
)


@recipes_app.callback()
def recipes_list(ctx: typer.Context) -> None:
    """List every recipe: its paper table and row, and the knobs that define it."""
    if ctx.invoked_subcommand is not None:
        return
    from mocobench.config.recipes import listing

    rows = listing()
    table = Table(title="mocobench recipes (paper scale; --scale gpu|cpu|smoke shrinks compute)")
    for col in rows[0]:
        table.add_column(col, no_wrap=col == "recipe")
    for row in rows:
        table.add_row(*row.values())
    out.print(table)


@recipes_app.command("show", cls=Command)
def recipes_show(
    name: Annotated[str, typer.Argument(help="Recipe name, e.g. mlp+aug+cos")],
    scale: ScaleOpt = "paper",
    set_: SetOpt = None,
    data: DataOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the resolved config as one JSON object")
    ] = False,
) -> None:
    """Show the resolved config of one recipe at a scale, with overrides, and what the scale makes of the
    row on the data (steps an epoch, dropped images, K/N, blur sigma in px, BN groups; refused or not)."""
    from mocobench.run.config import facts as tier_facts
    from mocobench.run.config import fitted, numbers, resolve
    from mocobench.train.data import count_images

    config = resolve(name, scale, set_ or [])
    images, _ = count_images(config, data)
    config = fitted(config, images)  # as pre-training fits it to these images (MoCo's K)
    if as_json:
        print(json.dumps({"config": config.flat(), "facts": numbers(config, images)}))
        return
    table = Table(title=f"{name} at scale {config.run.scale}")
    table.add_column("setting")
    table.add_column("value")
    for key, value in config.flat().items():
        table.add_row(key, json.dumps(value))
    out.print(table)
    on = data or "the embedded set"  # a path, printed as given (common.py::line)
    facts = Table(title=line(f"what --scale {config.run.scale} makes of {name} on {on}"))
    facts.add_column("fact")
    facts.add_column("value")
    for fact, value in tier_facts(config, images):
        facts.add_row(fact, value)
    out.print(facts)
