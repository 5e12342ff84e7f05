"""A stage's entry in the report, how one command ended, and the status a stage settles on from both.

Statuses: passed, failed, timed out, skipped (with the reason), stopped at budget (the tier's planned end);
pending and running only in a report written while the check runs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mocobench.check.figures import READ_ERRORS

PASSED, FAILED, SKIPPED, TIMED_OUT, STOPPED = "passed", "failed", "skipped", "timed out", "stopped at budget"
PENDING, RUNNING = "pending", "running"
BAD = (FAILED, TIMED_OUT)


@dataclass
class Stage:
    """One stage's entry in the report."""

    name: str
    status: str = PENDING
    seconds: float = 0.0
    reason: str = ""
    commands: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    log: str = ""
    log_tail: str = ""


@dataclass
class Outcome:
    """How one command ended: ok, failed, timed out, or skipped (the budget could not give its minimum)."""

    kind: str
    seconds: float = 0.0
    returncode: int | None = None
    timeout: float = 0.0
    minimum: float = 0.0


ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def log_tail(path: Path, lines: int = 30) -> str:
    """The last lines of a stage's log, colour codes and progress-bar redraws removed."""
    try:
        with path.open("rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 65536))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    rows = [r.rstrip()[:300] for r in re.split(r"[\r\n]+", ANSI.sub("", text)) if r.strip()]
    return "\n".join(rows[-lines:])


def read_error(figures: Callable[[], dict[str, Any]], into: dict[str, Any]) -> str:
    """Read a stage's figures into `into`; the reader's error as one line ("" when they were read)."""
    try:
        into.update(figures())
    except READ_ERRORS as e:
        return f"{type(e).__name__}: {e}"
    return ""


def settle(stage: Stage, outcome: Outcome, figures: Callable[[], dict[str, Any]]) -> None:
    """Status, reason, figures and log tail of a stage from one command's outcome (worst case wins)."""
    if outcome.kind == "skipped":
        if stage.status == PENDING or stage.status == RUNNING:
            stage.status = SKIPPED
            stage.reason = f"budget: {outcome.timeout:.0f} s left, it needs at least {outcome.minimum:.0f} s"
        return
    error = read_error(figures, stage.figures)
    if outcome.kind == "ok" and not error:
        if stage.status in (PENDING, RUNNING, SKIPPED):
            stage.status, stage.reason = PASSED, ""
        return
    if outcome.kind == "ok":
        status, reason = FAILED, f"exit 0, but its output could not be read ({error})"
    elif outcome.kind == "failed":
        last = log_tail(Path(stage.log), 1)
        status, reason = FAILED, f"exit code {outcome.returncode}" + (f": {last[:200]}" if last else "")
    else:
        status, reason = TIMED_OUT, f"cut at its {outcome.timeout:.0f} s cap"
    if stage.status not in BAD:
        stage.status, stage.reason = status, reason
    stage.log_tail = log_tail(Path(stage.log))
