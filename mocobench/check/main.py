"""Running the check: set-up, then each selected stage in priority order, the report after every step.

Exit codes: 0 when nothing failed, 1 when a stage or the set-up failed or timed out, 2 for bad options,
128 + the signal when SIGTERM/SIGINT stopped it (the report then says which stage was cut and skips the rest).
"""

from __future__ import annotations

import signal
from pathlib import Path

from mocobench.check.options import Options, parse_args, wheels_dir
from mocobench.check.report import MARKDOWN_NAME, write_report
from mocobench.check.runner import Check, Interrupted, raise_interrupted
from mocobench.check.setup import install_wheels, make_tiny_data, run_probe
from mocobench.check.sizes import STAGES
from mocobench.check.stage import PENDING, RUNNING, SKIPPED, TIMED_OUT, Stage, log_tail
from mocobench.check.stages import STAGE_FUNCTIONS
from mocobench.check.wheels import fetch_wheels


def run_check(options: Options) -> int:
    """The whole check with `options`; its exit code."""
    c = Check(options)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, raise_interrupted)
    current: Stage | None = None

    def say(text: str) -> None:
        print(f"[gpu-check {c.elapsed():5.0f} s] {text}", flush=True)

    for name in STAGES:
        if name not in options.stages:
            c.stages[name].status, c.stages[name].reason = SKIPPED, "not selected (--stages)"
    try:
        write_report(c)
        wheels = wheels_dir(options.wheels)
        if wheels is not None:
            install_wheels(c, wheels)
            say(f"wheels: {c.setup['wheels']['status']}")
        run_probe(c)
        say(f"device: {c.probe.get('device', 'unknown')}, torch {c.probe.get('torch')}")
        if options.device == "cpu" and options.data is None:
            make_tiny_data(c)
        write_report(c)
        for name in options.stages:
            current = c.stages[name]
            current.status = RUNNING
            write_report(c)
            STAGE_FUNCTIONS[name](c, current)
            if current.status == RUNNING:  # a stage that ran nothing (every command skipped)
                current.status = SKIPPED
            say(
                f"{name}: {current.status} in {current.seconds:.1f} s"
                + (f" ({current.reason})" if current.reason else "")
            )
            write_report(c)
        current = None
    except Interrupted as e:
        c.stop_child()
        if current is not None:
            current.status = TIMED_OUT
            current.reason = f"the check was stopped by signal {e.signum} while this stage ran"
            if current.log:
                current.log_tail = log_tail(Path(current.log))
        for stage in c.stages.values():
            if stage.status == PENDING:
                stage.status, stage.reason = SKIPPED, "not run: the check was stopped"
        write_report(c)
        say(f"stopped by signal {e.signum}; report in {options.report}")
        return 128 + e.signum
    bad = write_report(c)["failed"]
    say(f"report: {options.report / MARKDOWN_NAME} (work folder {c.work})")
    if bad:
        say(f"failed: {', '.join(bad)}")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """The argparse front end (`scripts/gpu_check.py`): the same options as `mocobench check`."""
    parsed = parse_args(argv)
    if isinstance(parsed, Path):
        return fetch_wheels(parsed)
    return run_check(parsed)
