"""Where runs and their results live: the one run layout, used by every command that writes or finds one.

    $MOCOBENCH_RUNS (default ./runs)/
      <scale>/<recipe>/seed<N>/       a pre-training run: config.json, env.json, metrics.jsonl, checkpoints
                                      (checkpoint_last.pth.tar, runtime/checkpoint.py), summary.json once
                                      finished, curves.png; its evaluations beside them: linear.json (or
                                      linear-simclr.json, by the row's protocol) with each trial's
                                      classifier, voc.json (+ detection/), submitit/ (job logs of --launcher)
                                      run.lock while a process trains it (pid, host; stale = interrupted)
      <scale>/external/<file stem>/   evaluations of a checkpoint that is not a run (an official release, ...)
      <scale>/random-init/<arch>/     detection from a randomly initialised backbone (Table 1's floor)
      profile/table3.json             the `mocobench profile` record Table 3 is rendered from

The result store (`store.py`) finds folders by their content, not by these names, so runs written
anywhere with `--out` count the same; the names here are where commands put things by default.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mocobench.config.scales import ALIASES
from mocobench.errors import UsageError

RUNS_ENV = "MOCOBENCH_RUNS"
DEFAULT_RUNS = "runs"
CONFIG = "config.json"
ENV = "env.json"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
CURVES = "curves.png"
LINEAR = "linear.json"  # the default protocol's; each protocol writes <name>.json (`linear_result`)
VOC = "voc.json"
LOCK = "run.lock"  # pid and host of the process pre-training the run (runtime/lock.py); gone when it ends
SUBMITIT = "submitit"  # a submitted run's job logs
EXTERNAL = "external"
RANDOM_INIT = "random-init"


def linear_result(protocol: str) -> str:
    """The result file of linear protocol `protocol` (recipes/<protocol>.toml): linear.json, ..."""
    return f"{protocol}.json"


def linear_classifier(protocol: str, trial: int) -> str:
    """The trained classifier (fc weights) of one linear trial, beside its result file."""
    return f"{protocol}-fc-trial{trial}.pth"


def runs_root(runs: Path | None = None) -> Path:
    """`runs` if given, else `$MOCOBENCH_RUNS`, else ./runs."""
    return Path(runs) if runs is not None else Path(os.environ.get(RUNS_ENV, DEFAULT_RUNS))


def run_dir(scale: str, recipe: str, seed: int, runs: Path | None = None) -> Path:
    """The default folder of a pre-training run; one written under a tier's old name (runs/mini/...) is
    still that run's folder when no folder under the new name exists."""
    path = runs_root(runs) / scale / recipe / f"seed{seed}"
    for old, new in ALIASES.items():  # a renamed tier
        legacy = runs_root(runs) / old / recipe / f"seed{seed}"
        if scale == new and not path.exists() and legacy.is_dir():
            return legacy
    return path


def external_dir(scale: str, checkpoint: Path, runs: Path | None = None) -> Path:
    """The results folder of a checkpoint file that is not a run (named by the file, less its extensions)."""
    return runs_root(runs) / scale / EXTERNAL / Path(checkpoint).name.split(".")[0]


def random_init_dir(scale: str, arch: str, runs: Path | None = None) -> Path:
    """The results folder of detection from a randomly initialised `arch`."""
    return runs_root(runs) / scale / RANDOM_INIT / arch


def random_init_arch(folder: Path, scale: str, runs: Path | None = None) -> str | None:
    """The arch of `folder` if it is a random-init results folder of `scale` under `runs`, else None."""
    folder = Path(folder)
    return folder.name if folder.parent == runs_root(runs) / scale / RANDOM_INIT else None


def profile_record(runs: Path | None = None) -> Path:
    return runs_root(runs) / "profile" / "table3.json"


# The numbers a metrics record may carry; anything else in them makes the record unreadable.
METRIC_NUMBERS = ("loss", "acc", "lr", "images_per_s", "epoch_seconds", "knn_top1")


def metrics_problem(record: Any) -> str | None:
    """What makes `record` not a metrics record (epoch a count, every figure a number), or None."""
    if not isinstance(record, dict):
        return f"holds a {type(record).__name__}, not a JSON object"
    epoch = record.get("epoch")
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        return f"has epoch {epoch!r}, not a count of epochs"
    for key in METRIC_NUMBERS:
        value = record.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            return f"has {key} {value!r}, not a number"
    return None


def read_metrics(path: Path, skip_bad: bool = False) -> list[dict[str, Any]]:
    """The records of a `metrics.jsonl` (one JSON object a line, appended after each epoch).

    A torn last line (a run being written) is skipped. Any other line that is not a metrics record is a
    UsageError naming it (the result store lists such a run as unreadable, with that line), unless
    `skip_bad`, which skips it.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{path} is unreadable ({type(e).__name__}); restore or remove it") from e
    records = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            if skip_bad or i == len(lines):
                continue
            raise UsageError(f"{path}: line {i} is not JSON ({e.msg}); fix or remove that line") from e
        problem = metrics_problem(record)
        if problem is None:
            records.append(record)
        elif not skip_bad:
            raise UsageError(f"{path}: line {i} {problem}; fix or remove that line")
    return records
