"""Repeated trials of one evaluation (linear, VOC) in one result file: resume, refuse mixing, summarise.

The paper averages 5 trials; a result file holds its trials plus an identity (checkpoint, protocol, data)
that every trial shares. A rerun keeps the finished trials of the same identity and runs the missing
ones; a file of another identity is refused unless overwritten, so figures are never mixed silently.
`run_missing_trials` is the loop both evaluations share: run what is missing, rewrite the file after each.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mocobench.errors import UsageError
from mocobench.runtime import atomic


def finished_trials(path: Path, ident: dict[str, Any], overwrite: bool, what: str) -> list[dict[str, Any]]:
    """The trials already in `path` (empty when absent or `overwrite`); another identity is a UsageError,
    and so is a file that is not a result file (`read_result`)."""
    path = Path(path)
    if overwrite or not path.is_file():
        return []
    previous = read_result(path, what)
    if {k: previous.get(k) for k in ident} != ident:
        raise UsageError(
            f"{path} holds {what} results of another checkpoint, protocol or data; pass --overwrite "
            "to replace them or --out for another folder"
        )
    return list(previous.get("trials", []))


def read_result(path: Path, what: str) -> dict[str, Any]:
    """`path` as a result file: a JSON object whose `trials` is a list of objects, each with its own
    `trial` number (an int >= 0, once). Anything else was not written by us (or was edited): one line
    naming the file, rather than a traceback here or a record mixed into the mean later."""

    def invalid(problem: str) -> UsageError:
        return UsageError(
            f"{path} is not a valid {what} result file ({problem}); remove it (or pass --overwrite) to "
            "run every trial again, or fix it"
        )

    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise invalid(f"not JSON: {getattr(e, 'msg', None) or type(e).__name__}") from e
    if not isinstance(previous, dict):
        raise invalid(f"a JSON {type(previous).__name__}, not an object")
    trials = previous.get("trials", [])
    if not isinstance(trials, list):
        raise invalid(f"trials is a {type(trials).__name__}, not a list")
    seen: set[int] = set()
    for i, trial in enumerate(trials):
        number = trial.get("trial") if isinstance(trial, dict) else None
        if not isinstance(number, int) or isinstance(number, bool) or number < 0 or number in seen:
            shown = json.dumps(trial)[:60]
            raise invalid(f"trials[{i}] = {shown} has no trial number of its own (an int >= 0)")
        seen.add(number)
    return previous


def with_trial(trials: list[dict[str, Any]], record: dict[str, Any]) -> list[dict[str, Any]]:
    """`trials` plus `record`, replacing a record of the same trial number, sorted by trial."""
    return sorted([*(t for t in trials if t["trial"] != record["trial"]), record], key=lambda t: t["trial"])


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value), as the paper's "mean of 5 trials"."""
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in values) / (n - 1)) if n > 1 else 0.0
    return mean, std


def run_missing_trials(
    path: Path,
    done: list[dict[str, Any]],
    trials: int,
    run_one: Callable[[int], dict[str, Any] | None],
    result_of: Callable[[list[dict[str, Any]]], dict[str, Any]],
    after_write: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Run trials 0..trials-1 not in `done`; after each, atomically rewrite `path` as `result_of(trials)`.

    `run_one(trial)` returns the trial's record, or None in a process that does not record (a non-main
    rank of a distributed run); `after_write(trial)` runs once its record is safely written. Returns every
    recorded trial, sorted. The `done` trials (read back from `path`) must summarise before any trial runs:
    a record `result_of` cannot read (a missing or non-numeric metric) is refused in one line.
    """
    if done:
        try:
            result_of(done)
        except (KeyError, TypeError, ValueError) as e:
            raise UsageError(
                f"{path} is not a valid result file (its trials do not summarise: {type(e).__name__} "
                f"{' '.join(str(e).split())}); remove it (or pass --overwrite) to run every trial again, "
                "or fix it"
            ) from e
    for trial in range(trials):
        if any(t["trial"] == trial for t in done):
            continue
        record = run_one(trial)
        if record is None:
            continue
        done = with_trial(done, {"trial": trial, **record})
        atomic.write_json(path, result_of(done))
        if after_write is not None:
            after_write(trial)
    return done
