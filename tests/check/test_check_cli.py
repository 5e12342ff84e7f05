"""The two front ends of the check: `mocobench check` and the `scripts/gpu_check.py` shim that docs name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from launch import GUARD_S

from mocobench.check.options import parse_args
from mocobench.check.sizes import STAGES

REPO = Path(__file__).resolve().parents[2]


def test_check_help_names_every_option(cli) -> None:
    code, out, _ = cli("check", "--help")
    assert code == 0
    text = " ".join(out.split())
    assert "GPU machine" in text and "any CUDA machine" in text
    for option in (
        "--device",
        "--report",
        "--budget",
        "--data",
        "--wheels",
        "--work",
        "--stages",
        "--no-caps",
    ):
        assert option in out
    assert "--fetch-wheels" in out


def test_an_unknown_stage_is_refused_in_one_line(cli, tmp_path: Path) -> None:
    code, _, err = cli("check", "--device", "cpu", "--work", str(tmp_path / "w"), "--stages", "pretrain,tier")
    assert code == 2 and "unknown stage 'pretrain'" in err


def test_a_used_work_folder_is_refused(cli, tmp_path: Path) -> None:
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "run1").mkdir()
    code, _, err = cli("check", "--device", "cpu", "--work", str(tmp_path / "w"))
    assert code == 2 and "is not empty" in err


def test_the_script_shim_runs_the_same_check() -> None:
    proc = subprocess.run(
        [sys.executable, "scripts/gpu_check.py", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=GUARD_S,
    )
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())
    assert "--no-caps" in text and f"stages, in priority order: {', '.join(STAGES)}" in text


def test_stages_run_in_priority_order_whatever_order_they_are_named_in(tmp_path: Path) -> None:
    options = parse_args(["--device", "cpu", "--work", str(tmp_path / "w"), "--stages", "tier,linear"])
    assert not isinstance(options, Path)
    assert options.stages == ["linear", "tier"]
