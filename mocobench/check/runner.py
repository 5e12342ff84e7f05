"""The check's run: the budget clock, the stages' environment, and each command under its time cap.

Every stage command is its own `python -m mocobench ...` subprocess in its own process group, so a cap or
a signal stops it with its loader workers (SIGTERM, then SIGKILL after a grace), and a hang or a crash in
one stage never stops the later ones.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mocobench
from mocobench.check.options import Options
from mocobench.check.sizes import STAGES, Cap, sizes_for, uncapped
from mocobench.check.stage import Outcome, Stage, settle
from mocobench.runtime.git import git_commit

KILL_GRACE = 5.0  # seconds between SIGTERM and SIGKILL of a stage cut at its cap
# The folder holding this mocobench: first on the stages' PYTHONPATH, so they run this very code, installed
# or not.
SOURCE_ROOT = Path(mocobench.__file__).resolve().parents[1]
# a stage runs in its own process group (killpg stops its loader workers too) but in this process's session
OWN_GROUP: dict[str, Any] = (
    {"process_group": 0} if sys.version_info >= (3, 11) else {"preexec_fn": os.setpgrp}
)


class Interrupted(BaseException):
    """SIGTERM/SIGINT to the check (a job cut at its time limit, Ctrl-C): stop, report, exit."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def raise_interrupted(signum: int, _frame: Any) -> None:
    raise Interrupted(signum)


class Check:
    """The run: budget clock, the stages' environment, the stages' entries, and the commands."""

    def __init__(self, options: Options) -> None:
        self.t0 = time.monotonic()
        self.options = options
        self.device = options.device
        self.sizes = uncapped(sizes_for(self.device)) if options.no_caps else sizes_for(self.device)
        self.report_dir = options.report
        self.work = options.work
        self.logs = self.work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.data: Path | None = options.data
        self.env = dict(os.environ)
        self.env["PYTHONUNBUFFERED"] = "1"
        self.env.setdefault("MOCOBENCH_RUNS", str(self.work / "runs"))
        self.pythonpath = [str(SOURCE_ROOT), *filter(None, self.env.get("PYTHONPATH", "").split(os.pathsep))]
        self.env["PYTHONPATH"] = os.pathsep.join(self.pythonpath)
        self.started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        self.git = git_commit()
        self.setup: dict[str, Any] = {}
        self.probe: dict[str, Any] = {}
        self.stages = {name: Stage(name) for name in STAGES}
        self.proc: subprocess.Popen[bytes] | None = None

    # -- budget and commands

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def left(self) -> float:
        if self.options.no_caps:
            return math.inf
        return self.options.budget - self.elapsed() - KILL_GRACE

    def mocobench(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "mocobench", *args]

    def data_args(self) -> list[str]:
        return ["--data", str(self.data)] if self.data else []

    def put_first_on_path(self, folder: Path) -> None:
        """Make the stages import from `folder` first (the offline wheels' install target)."""
        self.pythonpath.insert(0, str(folder))
        self.env["PYTHONPATH"] = os.pathsep.join(self.pythonpath)

    def run(
        self, argv: list[str], cap: Cap, log: Path, stage: Stage | None = None, budgeted: bool = True
    ) -> Outcome:
        """Run `argv` for at most min(cap, budget left); skip it when that is below the cap's minimum.

        The set-up (wheels, probe, data) is not `budgeted`: without it no stage can run, so it gets its
        cap whatever the budget (its time still counts against the stages').
        """
        timeout = min(cap.cap, self.left()) if budgeted else cap.cap
        if timeout < cap.minimum:
            return Outcome("skipped", timeout=max(0.0, timeout), minimum=cap.minimum)
        command = shlex.join(argv)
        if stage is not None:
            stage.commands.append(command)
            stage.log = str(log)
        t = time.monotonic()
        with log.open("ab") as fh:
            fh.write(f"$ {command}\n".encode())
            fh.flush()
            self.proc = subprocess.Popen(
                argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=SOURCE_ROOT,
                env=self.env, **OWN_GROUP,
            )  # fmt: skip
            try:
                rc = self.proc.wait(timeout=None if math.isinf(timeout) else timeout)
            except subprocess.TimeoutExpired:
                self.stop_child()
                return Outcome("timed out", time.monotonic() - t, None, timeout)
            finally:
                if self.proc is not None and self.proc.poll() is None:
                    self.stop_child()
                self.proc = None
        return Outcome("ok" if rc == 0 else "failed", time.monotonic() - t, rc, timeout)

    def stop_child(self) -> None:
        """SIGTERM the running stage's process group, SIGKILL it if it is still there after a grace."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, KILL_GRACE)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def command_stage(
        self,
        stage: Stage,
        argv: list[str],
        cap: Cap,
        figures: Callable[[], dict[str, Any]],
        log_name: str | None = None,
    ) -> Outcome:
        """Run one command as (part of) `stage` and settle its status from how it ended and its files."""
        outcome = self.run(argv, cap, self.logs / f"{log_name or stage.name}.log", stage)
        stage.seconds += outcome.seconds
        settle(stage, outcome, figures)
        return outcome
