"""`mocobench reproduce table N`: run every missing step of every row of a paper table, then write it.

A step is done when its output says so (a run's `summary.json`, a trial in the row's linear protocol's
result file, `linear.json` or `linear-simclr.json`, or `voc.json` at this scale), not by timestamps; a
pre-training run with a checkpoint but no summary is resumed. So an interrupted reproduce continues where it
stopped when the same command is run again, and finished steps are never repeated.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.table import Table

from mocobench.config.linear import resolve_linear
from mocobench.config.paper import load_paper_table
from mocobench.config.recipes import recipes_for_table, resolve
from mocobench.config.scales import canonical_scale, row_refusal, steps_refusal
from mocobench.errors import UsageError
from mocobench.results import layout
from mocobench.results.store import Store, collect
from mocobench.runtime import checkpoint
from mocobench.train.data import count_images


@dataclass
class Step:
    kind: str  # "pretrain" | "linear" | "voc"
    row: str
    recipe: str
    seed: int
    run_dir: Path
    state: str  # "done" | "resume" | "run" | "refused" (the tier would make it meaningless: detail says why)
    detail: str
    estimate_s: float | None  # None: no measured speed to estimate from


def table_rows(number: int) -> list[tuple[str, str]]:
    """(paper row, recipe) of table `number`, in the paper's order (recipes list their rows)."""
    if number not in (1, 2):
        raise UsageError(
            f"reproduce covers tables 1 and 2, not {number} (table 3, memory and time, is profiled)"
        )
    by_row = recipes_for_table(number)
    rows = [(row, by_row[row]) for row in load_paper_table(number)["row"] if row in by_row]
    if not rows:
        raise UsageError(f"no recipe reproduces table {number}; reproduce covers tables 1 and 2")
    return rows


def _refused(config: dict[str, Any], images: int, labelled: int, scale: str) -> tuple[str | None, str | None]:
    """Why the tier refuses this row's pre-training, and its linear evaluation (one line each, or None)."""
    protocol = resolve_linear(scale, name=config["linear_protocol"])
    where = f"{config['recipe']}'s linear protocol {protocol['name']}"
    return row_refusal(config, images), steps_refusal(scale, protocol["batch_size"], labelled, where)


def _median(values: Any) -> float | None:
    values = [float(v) for v in values if v == v and v > 0]  # drop NaN and zeros
    return statistics.median(values) if values else None


def _pretrain_estimate(store: Store, config: dict[str, Any], epochs_left: int, images: int) -> float | None:
    """Seconds for the remaining epochs at the median measured speed of runs of the same arch, size,
    mechanism and device type in the store; None when nothing comparable was measured."""
    device_type = "cuda" if torch.cuda.is_available() else "cpu"
    runs = store.runs
    same = runs[
        (runs.arch == config["arch"])
        & (runs.image_size == config["image_size"])
        & (runs.mechanism == config["mechanism"])
        & (runs.device_type == device_type)
    ]
    speed = _median(same.images_per_s)
    if speed is None:
        return None
    steps = images // config["batch_size"]
    return epochs_left * steps * config["batch_size"] / speed


def _linear_estimate(store: Store, scale: str, protocol: str) -> float | None:
    r = store.results
    mine = (r.kind == "linear") & (r.protocol == protocol) & (r.scale == scale) & (r.metric == "top1")
    return _median(r[mine].seconds)


def _voc_estimate(store: Store, scale: str) -> float | None:
    r = store.results
    return _median(r[(r.kind == "voc") & (r.scale == scale) & (r.metric == "AP50")].seconds)


def _has_voc(number: int, row: str) -> bool:
    """Table 1 rows with VOC figures in the paper ((a) T=0.07 has none)."""
    if number != 1:
        return False
    paper = load_paper_table(1)
    return bool(paper[paper["row"] == row]["voc_ap50"].notna().any())


def _trial0_done(path: Path, scale: str) -> bool:
    """A result file holds trial 0 at this scale."""
    if not path.is_file():
        return False
    result = json.loads(path.read_text())
    return canonical_scale(result.get("scale") or "") == scale and any(
        t["trial"] == 0 for t in result.get("trials", [])
    )


def _linear_done(run_dir: Path, scale: str, protocol: str) -> bool:
    return _trial0_done(run_dir / layout.linear_result(protocol), scale)


def plan(
    number: int,
    scale: str,
    trials: int,
    runs_dir: Path,
    data: str | Path | None = None,
    only: list[str] | None = None,
    detection: bool = True,
) -> list[Step]:
    """Every step of table `number` at `scale` for seeds 0..trials-1, each marked done / resume / run.

    Table 1 rows with VOC figures in the paper also get a detection step (`detection=False` skips them).
    """
    if trials < 1:
        raise UsageError(f"--trials must be at least 1, not {trials}")
    scale = canonical_scale(scale)
    rows = table_rows(number)
    if only:
        unknown = sorted(set(only) - {recipe for _, recipe in rows})
        if unknown:
            raise UsageError(
                f"--recipes {', '.join(unknown)} not in table {number}; "
                f"use some of {', '.join(r for _, r in rows)}"
            )
        rows = [(row, recipe) for row, recipe in rows if recipe in only]
    store = collect(runs_dir)
    epochs_done = dict(zip(store.runs.run_dir, store.runs.epochs_done, strict=True))
    voc_s = _voc_estimate(store, scale)
    steps = []
    for row, recipe in rows:
        config = resolve(recipe, scale)
        images, labelled = count_images(config, data)
        no_pretrain, no_linear = _refused(config, images, labelled, scale)
        for seed in range(trials):
            run_dir = layout.run_dir(scale, recipe, seed, Path(runs_dir))
            epochs = config["epochs"]
            if no_pretrain:
                steps.append(Step("pretrain", row, recipe, seed, run_dir, "refused", no_pretrain, 0.0))
                continue
            if (run_dir / layout.SUMMARY).is_file():
                state, detail, left = "done", f"{epochs} epochs", 0
            elif (run_dir / checkpoint.LAST).is_file():
                done = int(epochs_done.get(str(run_dir), 0))
                state, detail, left = "resume", f"epoch {done} of {epochs} done", epochs - done
            else:
                state, detail, left = "run", f"{epochs} epochs x {images} images", epochs
            estimate = _pretrain_estimate(store, config, left, images) if left else 0.0
            steps.append(Step("pretrain", row, recipe, seed, run_dir, state, detail, estimate))
            protocol = config["linear_protocol"]
            lin = "done" if _linear_done(run_dir, scale, protocol) else "run"
            estimate = 0.0 if lin == "done" else _linear_estimate(store, scale, protocol)
            detail = f"{protocol} at {scale}"
            if no_linear:
                lin, detail, estimate = "refused", no_linear, 0.0
            steps.append(Step("linear", row, recipe, seed, run_dir, lin, detail, estimate))
            if detection and _has_voc(number, row):
                voc = "done" if _trial0_done(run_dir / layout.VOC, scale) else "run"
                estimate = 0.0 if voc == "done" else voc_s
                detail = f"VOC fine-tune at {scale}"
                if config["stem"] != "imagenet":
                    voc, estimate = "refused", 0.0
                    detail = f"{config['stem']}-stem encoders have no Detectron2 counterpart (detect-voc)"
                steps.append(Step("voc", row, recipe, seed, run_dir, voc, detail, estimate))
    return steps


def run_plan(
    steps: list[Step],
    scale: str,
    data: str | Path | None = None,
    device: str = "auto",
    show_progress: bool = True,
    on_step: Any = None,
    voc_data: Path | None = None,
) -> None:
    """Run every step not done, in order; stops at the first failure (rerun to continue)."""
    from mocobench.evaluate.linear import evaluate_pretrained
    from mocobench.tables.curves import plot_run_curves
    from mocobench.train.pretrain import pretrain

    for step in steps:
        if step.state in ("done", "refused"):
            continue
        if on_step is not None:
            on_step(step)
        if step.kind == "pretrain":
            config = resolve(step.recipe, scale)
            pretrain(
                config,
                step.run_dir,
                data=data,
                seed=step.seed,
                resume=step.state == "resume",
                device=device,
                show_progress=show_progress,
            )
            plot_run_curves(step.run_dir)
        elif step.kind == "linear":
            evaluate_pretrained(step.run_dir, scale, data, 0, 1, device=device, show_progress=show_progress)
        else:
            from mocobench.detection.finetune import detect_voc

            detect_voc(step.run_dir, voc_data, scale, device=device, show_progress=show_progress)


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "unknown (no measured run of this kind yet)"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def plan_table(steps: list[Step], number: int, scale: str) -> Table:
    """The plan for the terminal: every step, its state and a rough duration."""
    todo = [s for s in steps if s.state not in ("done", "refused")]
    grid = Table(title=f"reproduce table {number} at scale {scale}: {len(todo)} of {len(steps)} steps to run")
    for col in ("row", "recipe", "seed", "step", "state", "detail", "estimate"):
        grid.add_column(col)
    for s in steps:
        estimate = "-" if s.state in ("done", "refused") else format_seconds(s.estimate_s)
        grid.add_row(s.row, s.recipe, str(s.seed), s.kind, s.state, s.detail, estimate)
    return grid


def plan_total(steps: list[Step]) -> str:
    """The rough total of the steps to run, and how many have no measured speed to estimate from."""
    todo = [s for s in steps if s.state not in ("done", "refused")]
    known = [s.estimate_s for s in todo if s.estimate_s is not None]
    unknown = len(todo) - len(known)
    total = format_seconds(sum(known)) if known else "-"
    return (
        f"rough total: {total}"
        + (f" + {unknown} steps with no measured speed" if unknown else "")
        + " (estimates from the median measured speed of comparable runs in the store)"
    )
