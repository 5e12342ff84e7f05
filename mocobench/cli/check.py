"""`mocobench check`: the installation check for a GPU machine (mocobench/check/), as a command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mocobench.check.options import DEFAULT_BUDGET, DEFAULT_REPORT, HELP, resolve
from mocobench.check.sizes import STAGES
from mocobench.cli.common import writable


def check(
    device: Annotated[str, typer.Option("--device", help=HELP["device"])] = "cuda",
    report: Annotated[Path, typer.Option("--report", help=HELP["report"])] = DEFAULT_REPORT,
    budget: Annotated[float, typer.Option("--budget", help=HELP["budget"])] = DEFAULT_BUDGET,
    data: Annotated[Path | None, typer.Option("--data", help=HELP["data"])] = None,
    wheels: Annotated[str | None, typer.Option("--wheels", help=HELP["wheels"])] = None,
    work: Annotated[Path | None, typer.Option("--work", help=HELP["work"])] = None,
    stages: Annotated[str, typer.Option("--stages", help=HELP["stages"], show_default=False)] = ",".join(
        STAGES
    ),
    no_caps: Annotated[bool, typer.Option("--no-caps", help=HELP["no_caps"])] = False,
    fetch_wheels: Annotated[
        Path | None, typer.Option("--fetch-wheels", metavar="DIR", help=HELP["fetch_wheels"])
    ] = None,
) -> None:
    """Check an installation on a GPU machine: any CUDA machine, a node with no network included.

    Every GPU path runs as a time-capped stage in priority order; the report is rewritten after each stage.

    Exit 1 if a stage failed or timed out. `--device cpu` runs every stage as a smoke on tiny data.
    """
    from mocobench.check.main import run_check
    from mocobench.check.wheels import fetch_wheels as fetch

    if fetch_wheels is not None:
        raise typer.Exit(fetch(fetch_wheels))
    options = resolve(
        device, writable(report, "--report"), budget, data, wheels,
        None if work is None else writable(work, "--work"), stages, no_caps,
    )  # fmt: skip
    raise typer.Exit(run_check(options))
