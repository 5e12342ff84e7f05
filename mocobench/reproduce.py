"""`mocobench reproduce table N`: run every missing step of every row of a paper table, then write it.

A step is done when its output says so (a run's `summary.json`, a trial in the row's linear protocol's
result file, `linear.json` or `linear-simclr.json`, or VOC trial t in `voc.json` at this scale), not by
timestamps; a pre-training run with a checkpoint but no summary is resumed. So an interrupted reproduce
continues where it stopped when the same command is run again, and finished steps are never repeated.

Each pre-training seed is one model; Table 1's VOC figures are several fine-tunes of it (trials 0..N-1, N
the tier's `voc_trials`: 5 at paper scale, as "These results are means of 5 trials",
facebookresearch/moco detection/README.md:61@7397dfe), each its own step, so a partial `voc.json` resumes
only its missing trials.
"""

from __future__ import annotations

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
from mocobench.config.scales import voc_trials as tier_voc_trials
from mocobench.errors import UsageError
from mocobench.results import layout
from mocobench.results.store import Store, collect
from mocobench.results.trials import read_result
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
    trial: int = 0  # the evaluation trial a "linear" or "voc" step fills (its number in the result file)


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


def _trials_done(path: Path, scale: str) -> set[int]:
    """The trial numbers a result file holds at this scale (none when absent or of another scale)."""
    if not path.is_file():
        return set()
    result = read_result(path, "voc" if path.name == layout.VOC else "linear")  # a damaged file: one line
    if canonical_scale(str(result.get("scale") or "")) != scale:
        return set()
    return {t["trial"] for t in result.get("trials", [])}


def _linear_done(run_dir: Path, scale: str, protocol: str) -> bool:
    return 0 in _trials_done(run_dir / layout.linear_result(protocol), scale)


def _voc_steps(
    row: str, recipe: str, seed: int, config: dict[str, Any], run_dir: Path, n: int, voc_s: float | None
) -> list[Step]:
    """VOC trials 0..n-1 of one pre-trained model, each done once `voc.json` at this scale holds it; one
    refused step when the model cannot be fine-tuned (a CIFAR-stem encoder)."""
    if config["stem"] != "imagenet":
        detail = f"{config['stem']}-stem encoders have no Detectron2 counterpart (detect-voc)"
        return [Step("voc", row, recipe, seed, run_dir, "refused", detail, 0.0)]
    scale = config["scale"]
    done = _trials_done(run_dir / layout.VOC, scale)
    steps = []
    for trial in range(n):
        state = "done" if trial in done else "run"
        detail = f"VOC fine-tune at {scale}" + (f", trial {trial} (trials 0-{n - 1})" if n > 1 else "")
        estimate = 0.0 if state == "done" else voc_s
        steps.append(Step("voc", row, recipe, seed, run_dir, state, detail, estimate, trial))
    return steps


def plan(
    number: int,
    scale: str,
    seeds: int,
    runs_dir: Path,
    data: str | Path | None = None,
    only: list[str] | None = None,
    detection: bool = True,
    voc_trials: int | None = None,
) -> list[Step]:
    """Every step of table `number` at `scale` for pre-training seeds 0..seeds-1, each marked done /
    resume / run.

    Table 1 rows with VOC figures in the paper also get, per seed, VOC trials 0..N-1 (N = `voc_trials`,
    by default the tier's, `config.scales.voc_trials`; `detection=False` skips them).
    """
    if seeds < 1:
        raise UsageError(f"--seeds must be at least 1, not {seeds}")
    n_voc = tier_voc_trials(scale) if voc_trials is None else voc_trials
    if n_voc < 1:
        raise UsageError(f"--voc-trials must be at least 1, not {n_voc}")
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
        for seed in range(seeds):
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
                steps += _voc_steps(row, recipe, seed, config, run_dir, n_voc, voc_s)
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

            # Runs the missing trials up to `step.trial` (the earlier ones are done: steps run in order),
            # each with detect-voc's own seed for its trial.
            detect_voc(
                step.run_dir,
                voc_data,
                scale,
                trials=step.trial + 1,
                device=device,
                show_progress=show_progress,
            )


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
        kind = f"{s.kind} {s.trial}" if s.kind == "voc" and s.state != "refused" else s.kind
        grid.add_row(s.row, s.recipe, str(s.seed), kind, s.state, s.detail, estimate)
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
