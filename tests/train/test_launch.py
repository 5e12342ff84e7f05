"""submitit launching: local processes for real (the tests' stand-in for SLURM), requeue, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import submitit
from typer.testing import CliRunner

from mocobench.cli import app
from mocobench.config.recipes import resolve
from mocobench.errors import UsageError
from mocobench.train.launch import PretrainJob, executor
from mocobench.train.pretrain import Launch


@pytest.mark.slow
def test_local_launcher_runs_two_processes_like_torchrun(tiny_data: Path, tmp_path: Path):
    run = tmp_path / "run"
    args = [
        "pretrain",
        "--recipe",
        "moco-v1",
        "--scale",
        "smoke",
        "--data",
        str(tiny_data),
        "--out",
        str(run),
    ]
    res = CliRunner().invoke(app, [*args, "--launcher", "local", "--tasks-per-node", "2", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert "submitted job" in res.output and "done: moco-v1" in res.output
    env = json.loads((run / "env.json").read_text())
    assert env["world_size"] == 2 and env["backend"] == "gloo"
    assert (run / "summary.json").is_file() and list((run / "submitit").glob("*_1_log.out"))
    # The same command again is refused before anything is submitted: the folder holds a run.
    res = CliRunner().invoke(app, [*args, "--launcher", "local"])
    assert isinstance(res.exception, UsageError) and "already holds a run" in str(res.exception)


def test_preemption_requeues_the_same_run_with_resume():
    job = PretrainJob(resolve("moco-v1", "smoke"), "/runs/x", None, 3, False, Launch(device="cuda"))
    again = job.checkpoint()
    assert isinstance(again, submitit.helpers.DelayedSubmission)
    assert again.function == PretrainJob(job.config, "/runs/x", None, 3, True, Launch(device="cuda"))


def test_launcher_bad_input(tmp_path: Path):
    with pytest.raises(UsageError, match="SLURM login node"):
        executor("slurm", tmp_path, 2, 8, 8, "gpu", 60, "x")  # no srun on this machine
    with pytest.raises(UsageError, match="--nodes 1"):
        executor("local", tmp_path, 2, 0, 1, None, 60, "x")
    with pytest.raises(UsageError, match="--partition is a SLURM option"):
        executor("local", tmp_path, 1, 0, 1, "gpu", 60, "x")
    with pytest.raises(UsageError, match="use one of"):
        executor("pbs", tmp_path, 1, 0, 1, None, 60, "x")
