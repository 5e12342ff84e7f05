"""`mocobench table` and `reproduce table`: the paper's tables (and the CIFAR-10 demo's) from the runs, and
every missing run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mocobench.cli.common import DataOpt, ProfileOpt, RunsOpt, ScaleOpt, TablesOpt, echo, err, out, writable
from mocobench.cli.help import Command, Group

reproduce_app = typer.Typer(
    cls=Group,
    help="Run every missing step of a paper table (pre-train, linear, VOC), then write the table.",
    no_args_is_help=True,
)


def _width(wide: bool) -> int | None:
    """The width tables print at: at most `render.TERMINAL_WIDTH` columns unless --wide."""
    from mocobench.tables.render import TERMINAL_WIDTH

    return None if wide else min(out.width, TERMINAL_WIDTH)


def show_table(number: int, scale: str, runs: Path, out_dir: Path, wide: bool = False) -> None:
    """Write table `number` from the runs and print it with its notes (one note for the rows with no run)."""
    from mocobench.tables.notes import display_notes
    from mocobench.tables.publish import publish_table
    from mocobench.tables.render import rich_orderings, rich_table

    result, paths = publish_table(number, scale, runs, out_dir)
    out.print(rich_table(result, wide), width=_width(wide))
    orderings = rich_orderings(result, wide)
    if orderings is not None:
        out.print(orderings, highlight=False, width=_width(wide))
    for note in display_notes(result.notes):
        out.print(f"- {note}", highlight=False)
    echo("wrote " + ", ".join(str(p) for p in paths))


def show_demo(scale: str, runs: Path, out_dir: Path) -> None:
    """Write the CIFAR-10 demo table from the runs and print it with its notes."""
    from mocobench.tables.demo import rich_table
    from mocobench.tables.publish import publish_demo

    table, paths = publish_demo(scale, runs, out_dir)
    out.print(rich_table(table), width=_width(False))
    for note in table.notes:
        out.print(f"- {note}", highlight=False)
    echo("wrote " + ", ".join(str(p) for p in paths))


def show_table3(profile: Path, out_dir: Path) -> None:
    """Write Table 3 from a profile record and print it with its ratios and notes."""
    from mocobench.tables.publish import publish_table3
    from mocobench.tables.table3 import ratio_line, rich_table

    table3, paths = publish_table3(profile, out_dir)
    out.print(rich_table(table3))
    out.print(ratio_line(table3), highlight=False)
    for note in table3.notes:
        out.print(f"- {note}", highlight=False)
    echo("wrote " + ", ".join(str(p) for p in paths))


def table(
    number: Annotated[
        str,
        typer.Argument(
            help="Paper table: 1 (ablation), 2 (MoCo vs SimCLR), 3 (memory and time); or demo (the official "
            "MoCo CIFAR-10 demo's published kNN top-1 beside our runs of recipe moco-cifar10-demo)",
            metavar="1|2|3|demo",
        ),
    ],
    scale: ScaleOpt = "paper",
    runs: RunsOpt = None,
    out_dir: TablesOpt = Path("tables"),
    profile_path: ProfileOpt = None,
    wide: Annotated[
        bool, typer.Option("--wide", help="Print every column (default: the ones that fit 100 columns)")
    ] = False,
) -> None:
    """Assemble a paper table from the runs (Table 3: from the profile), beside the paper's figures; below
    the paper's compute, with verdicts on the paper's orderings. `demo`: the CIFAR-10 demo's reference."""
    from mocobench.errors import UsageError
    from mocobench.results import layout

    writable(out_dir)
    if number.strip().lower() == "demo":
        show_demo(scale, layout.runs_root(runs), out_dir)
        return
    try:
        n = int(number)
    except ValueError:
        raise UsageError(f"no table {number!r}; use 1, 2, 3 or demo") from None
    if n == 3:
        show_table3(profile_path or layout.profile_record(runs), out_dir)
        return
    show_table(n, scale, layout.runs_root(runs), out_dir, wide)


def _seeds(seeds: int | None, trials: int | None) -> int:
    """`--seeds`, or `--trials` (its name before VOC trials were planned: it always meant seeds)."""
    from mocobench.errors import UsageError

    if trials is None:
        return 1 if seeds is None else seeds
    if seeds is not None and seeds != trials:
        raise UsageError(f"--trials {trials} is the old name of --seeds, which says {seeds}; drop --trials")
    err.print(
        f"[dim]reproduce --trials is now --seeds (pre-training seeds); --voc-trials sets the VOC fine-tunes "
        f"of each model; running --seeds {trials}[/]"
    )
    return trials


@reproduce_app.command("table", cls=Command)
def reproduce_table(
    number: Annotated[int, typer.Argument(help="Paper table: 1 or 2")],
    scale: ScaleOpt = "paper",
    seeds: Annotated[
        int | None, typer.Option("--seeds", help="Pre-training seeds per row (0..N-1)", show_default="1")
    ] = None,
    voc_trials: Annotated[
        int | None,
        typer.Option(
            "--voc-trials",
            help="Table 1: VOC fine-tunes of each pre-trained model (trials 0..N-1)",
            show_default="the tier's voc_trials in recipes/scales.toml; paper: 5, as the paper",
        ),
    ] = None,
    trials: Annotated[
        int | None, typer.Option("--trials", help="Deprecated: the old name of --seeds", hidden=True)
    ] = None,
    runs: RunsOpt = None,
    data: DataOpt = None,
    recipes: Annotated[
        str | None, typer.Option("--recipes", help="Only these rows' recipes, comma-separated")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the steps and rough durations; run nothing")
    ] = False,
    voc_data: Annotated[
        Path | None,
        typer.Option("--voc-data", help="VOCdevkit for Table 1's VOC columns; default: the embedded VOC set"),
    ] = None,
    detection: Annotated[
        bool, typer.Option("--detection/--no-detection", help="Table 1: also fine-tune on VOC per row")
    ] = True,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda")] = "auto",
    out_dir: TablesOpt = Path("tables"),
) -> None:
    """Pre-train and evaluate every row still missing (finished steps are skipped; rerun to resume)."""
    from mocobench.reproduce import plan, plan_table, plan_total, run_plan
    from mocobench.results import layout

    root = layout.runs_root(runs)
    if not dry_run:  # before any step runs
        writable(root, "--runs" if runs else "the runs folder")
        writable(out_dir)
    only = [r.strip() for r in recipes.split(",") if r.strip()] if recipes else None
    steps = plan(number, scale, _seeds(seeds, trials), root, data, only, detection, voc_trials)
    out.print(plan_table(steps, number, scale))
    out.print(plan_total(steps))
    if dry_run:
        return
    run_plan(
        steps,
        scale,
        data,
        device,
        on_step=lambda s: out.print(
            f"[bold]{s.kind}[/] {s.recipe} seed {s.seed}" + (f" trial {s.trial}" if s.kind == "voc" else "")
        ),
        voc_data=voc_data,
    )
    show_table(number, scale, root, out_dir)
