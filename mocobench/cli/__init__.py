"""The `mocobench` command line (Typer): one module per stage, each parsing options and calling the library.

recipes.py   recipes, recipes show          data.py      data synth|to-ffcv|path
pretrain.py  pretrain                       evaluate.py  linear, knn, detect-voc, voc-eval, export
tables.py    table, reproduce table         bench.py     bench loader|step, profile
runs.py      runs, runs show                check.py     check
"""

from __future__ import annotations

import sys

import typer

from mocobench.cli import bench, check, data, evaluate, pretrain, recipes, runs, tables
from mocobench.cli.common import echo, err
from mocobench.cli.help import Command, Group
from mocobench.errors import UsageError

app = typer.Typer(
    cls=Group,
    help="Reproduce the MoCo v2 paper's tables end to end.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(recipes.recipes_app, name="recipes")
app.command(cls=Command)(pretrain.pretrain)
app.command(cls=Command)(evaluate.linear)
app.command(cls=Command)(evaluate.knn)
app.command("detect-voc", cls=Command)(evaluate.detect_voc)
app.command("voc-eval", cls=Command)(evaluate.voc_eval)
app.command(cls=Command)(tables.table)
app.command(cls=Command)(bench.profile)
app.add_typer(data.data_app, name="data")
app.add_typer(tables.reproduce_app, name="reproduce")
app.add_typer(evaluate.export_app, name="export")
app.add_typer(bench.bench_app, name="bench")
app.add_typer(runs.runs_app, name="runs")
app.command(cls=Command)(check.check)


def main() -> None:
    try:
        app()
    except UsageError as e:
        echo(("error:", "bold red"), f" {e}", console=err)  # the message as given: paths hold [ ] too
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted; run the same command again to continue (pretrain: add --resume)")
        sys.exit(130)
