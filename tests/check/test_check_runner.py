"""The runner's caps: a command is cut at min(its cap, budget left), whatever the machine's speed."""

from __future__ import annotations

import sys
from pathlib import Path

from mocobench.check.options import parse_args
from mocobench.check.runner import Check
from mocobench.check.sizes import Cap


def test_a_stage_that_overruns_its_cap_is_cut_and_reported(tmp_path: Path) -> None:
    """A cap holds by cutting, whatever the machine: a command that never ends is stopped at its cap."""
    args = parse_args(["--device", "cpu", "--work", str(tmp_path / "w"), "--budget", "1000"])
    assert not isinstance(args, Path)
    check = Check(args)
    log = tmp_path / "never.log"
    outcome = check.run([sys.executable, "-c", "import time; time.sleep(10_000)"], Cap(2, 0), log)
    assert outcome.kind == "timed out" and outcome.timeout == 2  # min(cap, budget left)
    assert "time.sleep" in log.read_text()
