"""What a paper table is missing: every step (pre-train, linear, VOC trials) of each row's models, each
done, resume, run or refused.

The one judge of what is missing, below both of its readers: `reproduce.plan` gathers each model's outputs
from its run folder and runs the steps; the tables' notes (`notes.row_notes`) gather them from the result
store and render the steps as commands. Which rows have VOC figures to fill is `voc_rows`, here only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mocobench.config.paper import load_paper_table
from mocobench.config.recipes import recipes_for_table
from mocobench.config.settings import RunConfig
from mocobench.errors import UsageError


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class Model:
    """One pre-training run of a row as its outputs show it: the evidence the plan judges."""

    run_dir: Path
    seed: int
    state: str = "run"  # "done" (summary.json) | "resume" (a checkpoint, no summary) | "run" (nothing yet)
    detail: str = ""
    estimate_s: float | None = None  # seconds left of pre-training; 0.0 when done
    linear_trials: frozenset[int] = frozenset()  # trials of the row's linear protocol at the scale
    voc_trials: frozenset[int] = frozenset()  # VOC trials at the scale


class Estimates:
    """Rough seconds of the steps to run (None: unknown); `reproduce` measures them, the notes need none."""

    def linear(self, protocol: str) -> float | None:
        return None

    def voc(self) -> float | None:
        return None


def voc_rows(number: int) -> frozenset[str]:
    """The rows of table `number` with VOC figures in the paper: Table 1's but (a) T=0.07; none in Table
    2. The one rule of which rows have VOC columns to fill."""
    if number != 1:
        return frozenset()
    paper = load_paper_table(1)
    return frozenset(str(row) for row in paper[paper["voc_ap50"].notna()]["row"])


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


def _voc_steps(
    row: str, recipe: str, model: Model, config: RunConfig, n: int, voc_s: float | None
) -> list[Step]:
    """VOC trials 0..n-1 of one pre-trained model, each done once its outputs hold it at the scale; one
    refused step when the model cannot be fine-tuned (a CIFAR-stem encoder)."""
    seed, run_dir = model.seed, model.run_dir
    if config.method.stem != "imagenet":
        detail = f"{config.method.stem}-stem encoders have no Detectron2 counterpart (detect-voc)"
        return [Step("voc", row, recipe, seed, run_dir, "refused", detail, 0.0)]
    scale = config.run.scale
    steps = []
    for trial in range(n):
        state = "done" if trial in model.voc_trials else "run"
        detail = f"VOC fine-tune at {scale}" + (f", trial {trial} (trials 0-{n - 1})" if n > 1 else "")
        estimate = 0.0 if state == "done" else voc_s
        steps.append(Step("voc", row, recipe, seed, run_dir, state, detail, estimate, trial))
    return steps


def row_steps(
    number: int,
    row: str,
    config: RunConfig,
    models: Sequence[Model],
    voc_trials: int,
    detection: bool = True,
    refusals: tuple[str | None, str | None] = (None, None),
    estimates: Estimates | None = None,
) -> list[Step]:
    """Each model's steps of one row of table `number` (`config`: its recipe resolved at the scale): the
    pre-training, the linear trial 0 of the recipe's protocol and, for `voc_rows` with `detection`, VOC
    trials 0..voc_trials-1. `refusals` are the tier's reasons to refuse the pre-training and the linear
    evaluation (`reproduce`), None where it runs them."""
    estimates = estimates or Estimates()
    recipe, scale, protocol = config.run.recipe, config.run.scale, config.run.linear_protocol
    no_pretrain, no_linear = refusals
    voc = detection and row in voc_rows(number)
    voc_s = estimates.voc() if voc else None
    steps = []
    for m in models:
        if no_pretrain:
            steps.append(Step("pretrain", row, recipe, m.seed, m.run_dir, "refused", no_pretrain, 0.0))
            continue
        steps.append(Step("pretrain", row, recipe, m.seed, m.run_dir, m.state, m.detail, m.estimate_s))
        lin = "done" if 0 in m.linear_trials else "run"
        estimate = 0.0 if lin == "done" else estimates.linear(protocol)
        detail = f"{protocol} at {scale}"
        if no_linear:
            lin, detail, estimate = "refused", no_linear, 0.0
        steps.append(Step("linear", row, recipe, m.seed, m.run_dir, lin, detail, estimate))
        if voc:
            steps += _voc_steps(row, recipe, m, config, voc_trials, voc_s)
    return steps


def store_models(runs: pd.DataFrame, results: pd.DataFrame, protocol: str, first: Path) -> list[Model]:
    """A row's models as the result store shows them: `runs` of its recipe at the scale (finished: done;
    else resume), their trials of linear `protocol` and of VOC in `results` (at the scale); with no run,
    the one `reproduce` would start at `first` (seed 0's folder)."""
    if runs.empty:
        return [Model(first, 0)]
    models = []
    for _, run in runs.iterrows():
        mine = results[results["run_dir"] == run["run_dir"]]
        linear = mine[
            (mine["kind"] == "linear") & (mine["protocol"] == protocol) & (mine["metric"] == "top1")
        ]
        done = bool(run["finished"])
        detail = f"epoch {int(run['epochs_done'])} of {int(run['epochs'])} done" if not done else ""
        models.append(
            Model(
                Path(str(run["run_dir"])),
                int(run["seed"]),
                "done" if done else "resume",
                detail,
                0.0 if done else None,
                _trials(linear),
                _trials(mine[mine["kind"] == "voc"]),
            )
        )
    return models


def _trials(results: pd.DataFrame) -> frozenset[int]:
    return frozenset(int(t) for t in results["trial"] if not pd.isna(t))
