"""`mocobench runs` and `runs show`: every run in the result store, and one run's records.

Everything comes from the result store (`results/store.py::collect`, `run_files`): status, epochs, kNN,
pre-training seconds and device from `Store.runs`; linear top-1 (the run's own protocol) and VOC AP50 (means
over trials) from `Store.results`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from mocobench.cli.common import RunsOpt, _scale_name, echo, line, out
from mocobench.cli.help import Command, Group

runs_app = typer.Typer(
    cls=Group,
    help="List every run in the result store (`runs show RUN`: one run's records).",
    invoke_without_command=True,
)
MISSING = "-"


def _float(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _mean(results: Any, run_dir: str, protocol: str, metric: str) -> float | None:
    rows = results[(results.run_dir == run_dir) & (results.protocol == protocol) & (results.metric == metric)]
    return _float(rows.value.mean()) if len(rows) else None


def listing(store: Any, runs_dir: Path, scale: str | None = None) -> list[dict[str, Any]]:
    """One record per run of `store` (at `scale` if given), in the store's order (by folder)."""
    records = []
    for _, r in store.runs.iterrows():
        if scale is not None and r.scale != scale:
            continue
        try:
            folder = str(Path(r.run_dir).relative_to(runs_dir))
        except ValueError:
            folder = r.run_dir
        seconds = _float(r.pretrain_seconds)
        records.append(
            {
                "run_dir": r.run_dir,
                "folder": folder,
                "recipe": r.recipe,
                "scale": r.scale,
                "seed": int(r.seed),
                "status": r.status,
                "epochs_done": int(r.epochs_done),
                "epochs": int(r.epochs),
                "best_knn": _float(r.best_knn),
                "linear_protocol": r.linear_protocol,
                "linear_top1": _mean(store.results, r.run_dir, r.linear_protocol, "top1"),
                "voc_ap50": _mean(store.results, r.run_dir, "voc", "AP50"),
                "hours": None if seconds is None else seconds / 3600,
                "device": r.device,
            }
        )
    return records


def unreadable(store: Any, runs_dir: Path) -> list[dict[str, Any]]:
    """One record per damaged folder of `store`: where it is and why it could not be read."""
    records = []
    for _, r in store.unreadable.iterrows():
        try:
            folder = str(Path(r.run_dir).relative_to(runs_dir))
        except ValueError:
            folder = r.run_dir
        records.append({"run_dir": r.run_dir, "folder": folder, "status": "unreadable", "reason": r.reason})
    return records


def _fig(value: float | None, digits: int = 1) -> str:
    return MISSING if value is None else f"{value:.{digits}f}"


def _status(record: dict[str, Any]) -> tuple[str, str]:
    """The status as (text, style)."""
    if record["status"] == "interrupted":
        return f"interrupted at epoch {record['epochs_done']}", "yellow"
    return {"finished": ("finished", "green"), "running": ("running", "cyan")}.get(
        record["status"], ("?", "")
    )


def runs_table(records: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for name, justify in [
        ("recipe", "left"), ("scale", "left"), ("seed", "right"), ("status", "left"), ("epochs", "right"),
        ("best kNN", "right"), ("linear top-1", "right"), ("VOC AP50", "right"), ("hours", "right"),
        ("device", "left"), ("folder", "left"),
    ]:  # fmt: skip
        table.add_column(name, justify=justify, overflow="fold")
    for r in records:
        table.add_row(
            line(r["recipe"]),
            line(r["scale"]),
            str(r["seed"]),
            line(_status(r)),
            f"{r['epochs_done']}/{r['epochs']}",
            _fig(r["best_knn"]),
            _fig(r["linear_top1"]),
            _fig(r["voc_ap50"]),
            _fig(r["hours"], 2),
            line(r["device"] or MISSING),
            line(r["folder"]),
        )
    return table


@runs_app.callback()
def runs(
    ctx: typer.Context,
    scale: Annotated[
        str | None, typer.Option("--scale", help="Only the runs of this scale", callback=_scale_name)
    ] = None,
    runs_dir: RunsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the records as JSON")] = False,
) -> None:
    """Every run under the runs folder: status, epochs, best kNN, linear top-1, VOC AP50, hours, device."""
    if ctx.invoked_subcommand is not None:
        return
    from mocobench.results import layout
    from mocobench.results.store import collect

    root = layout.runs_root(runs_dir)
    store = collect(root)
    records, damaged = listing(store, root, scale), unreadable(store, root)
    if as_json:
        print(json.dumps(records + damaged, indent=2))
        return
    if not records and not damaged:
        where = f" at scale {scale}" if scale else ""
        echo(f"no runs under {root}{where}; start one with mocobench pretrain")
        return
    if records:
        out.print(runs_table(records, line(f"{len(records)} runs under {root}")))
        echo("one run's records: mocobench runs show FOLDER")
    for r in damaged:
        echo(("unreadable", "red"), f": {r['folder']}: {r['reason']}")


def _section(title: str, values: dict[str, Any]) -> None:
    echo((title, "bold"))
    if not values:
        echo(f"  {MISSING}")
    for key, value in values.items():
        text = json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value)
        echo(f"  {key} = {text}")


@runs_app.command("show", cls=Command)
def show(
    run: Annotated[Path, typer.Argument(help="Run folder (or a folder relative to --runs)")],
    runs_dir: RunsOpt = None,
) -> None:
    """One run's config, pipeline, environment, status and results."""
    from mocobench.errors import UsageError
    from mocobench.results import layout
    from mocobench.results.store import collect, run_files

    root = layout.runs_root(runs_dir)
    folder = run if run.is_dir() or run.is_absolute() else root / run
    store = collect(folder) if folder.is_dir() else None
    broken = store.unreadable[store.unreadable.run_dir == str(folder)] if store is not None else None
    if broken is not None and len(broken) and str(folder) not in set(store.runs.run_dir):
        raise UsageError(f"{run} is unreadable: {broken.reason.iloc[0]}; fix or remove that file")
    if store is None or str(folder) not in set(store.runs.run_dir):
        raise UsageError(
            f"{run} is not a run folder (no readable {layout.CONFIG}); list the runs with mocobench runs"
        )
    record = next(r for r in listing(store, root) if r["run_dir"] == str(folder))
    files = run_files(folder)
    config = dict(files["config"])
    pipeline = {k: config.pop(k) for k in ("pipeline", "step_options") if k in config}
    echo((str(folder), "bold"), ": ", _status(record))
    _section("config", config)
    _section("pipeline", pipeline)
    _section("environment", files["env"])
    if files["lock"] is not None:
        _section("lock", files["lock"])
    summary = {
        "epochs": f"{record['epochs_done']}/{record['epochs']}",
        "best kNN top-1": _fig(record["best_knn"]),
        "hours": _fig(record["hours"], 2),
    }
    results = store.results[store.results.run_dir == str(folder)]
    for (protocol, metric), rows in results.groupby(["protocol", "metric"], sort=True):
        std = rows.value.std() if len(rows) > 1 else math.nan
        spread = f" +- {std:.2f}" if not math.isnan(std) else ""
        summary[f"{protocol} {metric}"] = f"{rows.value.mean():.2f}{spread} (n={len(rows)})"
    _section("results", summary)
    for reason in store.unreadable[store.unreadable.run_dir == str(folder)].reason:
        echo(("unreadable", "red"), f": {reason}")
