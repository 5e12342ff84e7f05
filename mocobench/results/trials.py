"""Repeated trials of one evaluation (linear, VOC) in one result file: resume, refuse mixing, summarise.

The paper averages 5 trials; a result file holds its trials plus an identity (checkpoint, protocol, data)
that every trial shares. A rerun keeps the finished trials of the same identity and runs the missing
ones; a file of another identity is refused unless overwritten, so figures are never mixed silently.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from mocobench.errors import UsageError


def finished_trials(path: Path, ident: dict[str, Any], overwrite: bool, what: str) -> list[dict[str, Any]]:
    """The trials already in `path` (empty when absent or `overwrite`); another identity is a UsageError."""
    path = Path(path)
    if overwrite or not path.is_file():
        return []
    previous = json.loads(path.read_text())
    if {k: previous.get(k) for k in ident} != ident:
        raise UsageError(
            f"{path} holds {what} results of another checkpoint, protocol or data; pass --overwrite "
            "to replace them or --out for another folder"
        )
    return list(previous.get("trials", []))


def with_trial(trials: list[dict[str, Any]], record: dict[str, Any]) -> list[dict[str, Any]]:
    """`trials` plus `record`, replacing a record of the same trial number, sorted by trial."""
    return sorted([*(t for t in trials if t["trial"] != record["trial"]), record], key=lambda t: t["trial"])


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value), as the paper's "mean of 5 trials"."""
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in values) / (n - 1)) if n > 1 else 0.0
    return mean, std
