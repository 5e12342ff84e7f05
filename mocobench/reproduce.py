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
from pathlib import Path
from typing import Any

import torch
from rich.table import Table

from mocobench.config.linear import resolve_linear
from mocobench.config.scales import canonical_scale, row_refusal, steps_refusal
from mocobench.config.scales import voc_trials as tier_voc_trials
from mocobench.config.settings import RunConfig
from mocobench.errors import UsageError
from mocobench.results import layout
from mocobench.results.store import Store, collect
from mocobench.results.trials import read_result
from mocobench.run.config import resolve
from mocobench.runtime import checkpoint
from mocobench.tables.plan import Estimates, Model, Step, row_steps, table_rows, voc_rows
from mocobench.train.data import count_images


def _refused(config: RunConfig, images: int, labelled: int, scale: str) -> tuple[str | None, str | None]:
    """Why the tier refuses this row's pre-training, and its linear evaluation (one line each, or None)."""
    protocol = resolve_linear(scale, name=config.run.linear_protocol)
    where = f"{config.run.recipe}'s linear protocol {protocol['name']}"
    return row_refusal(config, images), steps_refusal(scale, protocol["batch_size"], labelled, where)


def _median(values: Any) -> float | None:
    values = [float(v) for v in values if v == v and v > 0]  # drop NaN and zeros
    return statistics.median(values) if values else None


def _pretrain_estimate(store: Store, config: RunConfig, epochs_left: int, images: int) -> float | None:
    """Seconds for the remaining epochs at the median measured speed of runs of the same arch, size,
    mechanism and device type in the store; None when nothing comparable was measured."""
    device_type = "cuda" if torch.cuda.is_available() else "cpu"
    runs = store.runs
    same = runs[
        (runs.arch == config.method.arch)
        & (runs.image_size == config.data.image_size)
        & (runs.mechanism == config.method.mechanism)
        & (runs.device_type == device_type)
    ]
    speed = _median(same.images_per_s)
    if speed is None:
        return None
    steps = images // config.optim.batch_size
    return epochs_left * steps * config.optim.batch_size / speed


class _Measured(Estimates):
    """Estimates from the median measured seconds of the store's linear and VOC trials at the scale."""

    def __init__(self, store: Store, scale: str) -> None:
        self.store, self.scale = store, scale

    def linear(self, protocol: str) -> float | None:
        r = self.store.results
        mine = (
            (r.kind == "linear") & (r.protocol == protocol) & (r.scale == self.scale) & (r.metric == "top1")
        )
        return _median(r[mine].seconds)

    def voc(self) -> float | None:
        r = self.store.results
        return _median(r[(r.kind == "voc") & (r.scale == self.scale) & (r.metric == "AP50")].seconds)


def _trials_done(path: Path, scale: str) -> set[int]:
    """The trial numbers a result file holds at this scale (none when absent or of another scale)."""
    if not path.is_file():
        return set()
    result = read_result(path, "voc" if path.name == layout.VOC else "linear")  # a damaged file: one line
    if canonical_scale(str(result.get("scale") or "")) != scale:
        return set()
    return {t["trial"] for t in result.get("trials", [])}


def _model(store: Store, config: RunConfig, run_dir: Path, seed: int, images: int, voc: bool) -> Model:
    """One seed's model as its run folder shows it: `summary.json` (done), a checkpoint (resume) or
    nothing (run), and the trials of its result files at the scale (VOC's only where `voc`)."""
    scale, epochs = config.run.scale, config.optim.epochs
    if (run_dir / layout.SUMMARY).is_file():
        state, detail, left = "done", f"{epochs} epochs", 0
    elif (run_dir / checkpoint.LAST).is_file():
        epochs_done = dict(zip(store.runs.run_dir, store.runs.epochs_done, strict=True))
        done = int(epochs_done.get(str(run_dir), 0))
        state, detail, left = "resume", f"epoch {done} of {epochs} done", epochs - done
    else:
        state, detail, left = "run", f"{epochs} epochs x {images} images", epochs
    estimate = _pretrain_estimate(store, config, left, images) if left else 0.0
    linear = _trials_done(run_dir / layout.linear_result(config.run.linear_protocol), scale)
    voc_done = _trials_done(run_dir / layout.VOC, scale) if voc else set()
    return Model(run_dir, seed, state, detail, estimate, frozenset(linear), frozenset(voc_done))


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
    resume / run (`tables.plan.row_steps` judges; this reads the run folders).

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
    estimates = _Measured(store, scale)
    steps = []
    for row, recipe in rows:
        config = resolve(recipe, scale)
        images, labelled = count_images(config, data)
        refusals = _refused(config, images, labelled, scale)
        # voc.json is read only where the plan has VOC steps that can run (not for a CIFAR-stem encoder)
        voc = detection and row in voc_rows(number) and config.method.stem == "imagenet"
        models = []
        for seed in range(seeds):
            run_dir = layout.run_dir(scale, recipe, seed, Path(runs_dir))
            refused = refusals[0] is not None  # a refused pre-training: its run folder is not read
            models.append(
                Model(run_dir, seed) if refused else _model(store, config, run_dir, seed, images, voc)
            )
        steps += row_steps(number, row, config, models, n_voc, detection, refusals, estimates)
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
    from mocobench.train.pretrain import Launch, pretrain

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
                launch=Launch(device=device),
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
