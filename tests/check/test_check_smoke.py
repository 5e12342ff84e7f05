"""`mocobench check` on the CPU: the GPU check's every stage as a smoke, so its commands, figure readers and
report are exercised on every CI run even though CI has no GPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from launch import GUARD_S

REPO = Path(__file__).resolve().parents[2]
STAGES = [
    "pretrain-fast",
    "pretrain-official",
    "bench-step",
    "bench-loader",
    "profile",
    "linear",
    "detect-voc",
    "tier",
]
FINE = {"passed", "skipped", "stopped at budget"}
DEADLOCK_GUARD_S = GUARD_S  # only a hung run reaches it: no assertion depends on the machine's speed


def run_check(
    tmp_path: Path, *args: str, timeout: float
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any], str, float]:
    """`mocobench check` in a subprocess, its caches, runs, work folder and report all under tmp_path."""
    env = {**os.environ, "MOCOBENCH_HOME": str(tmp_path / "home"), "MOCOBENCH_RUNS": str(tmp_path / "runs")}
    report = tmp_path / "report"
    argv = [
        sys.executable, "-m", "mocobench", "check", "--device", "cpu", "--report", str(report), "--work",
        str(tmp_path / "work"), "--wheels", "none", *args,
    ]  # fmt: skip
    t0 = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.monotonic() - t0
    record = json.loads((report / "gpu_check.json").read_text())
    markdown = (report / "gpu_check.md").read_text()
    return proc, record, markdown, wall


def by_name(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in record["stages"]}


@pytest.mark.slow
def test_cpu_smoke_runs_every_stage_to_its_end(tmp_path: Path) -> None:
    """Every stage's work on the CPU, with no time caps (`--no-caps`): what it checks is the stages' commands,
    figures and report, never how fast this machine runs them (a busy CI machine once skipped the tier)."""
    proc, record, markdown, _ = run_check(tmp_path, "--no-caps", timeout=DEADLOCK_GUARD_S)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert record["capped"] is False and "no time caps" in markdown
    assert [s["name"] for s in record["stages"]] == STAGES
    stages = by_name(record)
    for stage in record["stages"]:
        assert stage["status"] in FINE, stage
        if stage["status"] != "passed":  # skipped only for a missing dependency, never for time
            assert stage["reason"] and "budget" not in stage["reason"], stage
    tier = stages["tier"]  # MoCo v1 and (d) at --scale gpu, timed (a smoke of the evidence run)
    assert tier["status"] == "passed", tier
    assert set(tier["figures"]) == {"moco-v1", "mlp+aug+cos"}, tier
    for figures in tier["figures"].values():
        assert figures["epochs_planned"] == 2 and figures["knn_random_init"] is not None
        assert figures["epochs_done"] == 2 and figures["row_estimate_s"] == 2 * figures["epoch_seconds"]
    fast = stages["pretrain-fast"]
    assert fast["status"] == "passed"
    assert fast["figures"]["pipeline"]["name"] == "fast" and fast["figures"]["loss_last"] > 0
    official = stages["pretrain-official"]
    assert official["status"] == "passed", official
    # both pipelines' losses, read from both runs' metrics.jsonl
    assert official["figures"]["pipeline"]["loader"] == "pil"
    assert official["figures"]["fast_loss_last"] == fast["figures"]["loss_last"]
    step = stages["bench-step"]["figures"]["runs"]
    assert step["channels_last,bf16,fused,compile"]["status"] == "skipped"
    assert step["fp32"]["status"] == "passed"
    assert step["fp32"]["synthetic_pairs_per_s"] > 0 and step["fp32"]["loss_check"]["rel_diff"] == 0
    assert record["device"].startswith("CPU")
    assert record["device"] in markdown and record["torch"] in markdown
    for name in STAGES:
        assert f"| {name} | {stages[name]['status']}" in markdown


@pytest.mark.slow
def test_a_failing_stage_fails_the_run_and_later_stages_still_run(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-data"
    proc, record, markdown, _ = run_check(
        tmp_path,
        "--no-caps",
        "--data",
        str(missing),
        "--stages",
        "pretrain-fast,bench-step,linear",
        timeout=DEADLOCK_GUARD_S,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert [s["name"] for s in record["stages"]] == STAGES
    stages = by_name(record)
    failed = stages["pretrain-fast"]
    assert failed["status"] == "failed" and "exit code 2" in failed["reason"]
    assert str(missing) in failed["log_tail"]
    assert stages["bench-step"]["status"] == "passed"  # ran after the failure
    assert stages["linear"]["status"] == "skipped" and "pretrain-fast" in stages["linear"]["reason"]
    for name in ("pretrain-official", "bench-loader", "profile", "detect-voc", "tier"):
        assert stages[name]["status"] == "skipped" and "not selected" in stages[name]["reason"]
    assert record["failed"] == ["pretrain-fast"]
    assert "pretrain-fast | failed" in markdown and str(missing) in markdown


def test_stages_the_budget_cannot_hold_are_skipped_not_failed(tmp_path: Path) -> None:
    proc, record, _, _ = run_check(
        tmp_path, "--budget", "1", "--stages", "pretrain-fast,tier", timeout=DEADLOCK_GUARD_S
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    stages = by_name(record)
    for name in ("pretrain-fast", "tier"):
        assert stages[name]["status"] == "skipped" and stages[name]["reason"].startswith("budget"), stages[
            name
        ]
        assert stages[name]["commands"] == []
