"""Pre-training beyond one shell: SLURM clusters (`--launcher slurm`) and local processes through submitit.

submitit pickles a `PretrainJob`, starts one task per GPU (per process on CPUs) on every node, and each task
turns its SLURM / local job environment into the torch.distributed variables torchrun would set (RANK,
LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), so `pretrain` runs exactly as under torchrun. When SLURM
preempts or times out the job, submitit calls `checkpoint`, which requeues the same job with `resume`: the
run continues from its last checkpoint (written every epoch), bit-exactly as `--resume` does.
`--launcher local` runs the same job through submitit's local executor, which is what the tests use.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mocobench.config.settings import RunConfig
from mocobench.errors import UsageError
from mocobench.results import layout
from mocobench.train.pretrain import Launch, pretrain
from mocobench.train.resume import check_run_dir

LAUNCHERS = ("none", "local", "slurm")


@dataclass(frozen=True)
class Cluster:
    """Where the job runs: `pretrain --launcher local|slurm` and its SLURM options."""

    launcher: str
    nodes: int
    gpus_per_node: int
    tasks_per_node: int | None  # None: one per GPU (at least one)
    partition: str | None
    timeout_min: int


@dataclass(frozen=True)
class PretrainJob:
    config: RunConfig
    run_dir: str
    data: str | None
    seed: int
    resume: bool
    launch: Launch

    def __call__(self) -> dict[str, Any]:
        import submitit

        job = submitit.JobEnvironment()
        tasks_per_node = job.num_tasks // job.num_nodes
        os.environ.update(
            {
                "RANK": str(job.global_rank),
                "LOCAL_RANK": str(job.local_rank),
                "WORLD_SIZE": str(job.num_tasks),
                "LOCAL_WORLD_SIZE": str(tasks_per_node),
                "MASTER_ADDR": job.hostnames[0],
                # One port per job, the same on every task (a requeued job keeps its id, and its port).
                "MASTER_PORT": str(20000 + zlib.crc32(str(job.job_id).encode()) % 20000),
            }
        )
        return pretrain(
            self.config,
            Path(self.run_dir),
            data=Path(self.data) if self.data else None,
            seed=self.seed,
            resume=self.resume,
            launch=self.launch,
            show_progress=False,  # the log files are the progress; a bar per task would interleave
        )

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """Called by submitit on preemption or timeout: requeue, resuming from the last checkpoint."""
        import submitit

        return submitit.helpers.DelayedSubmission(replace(self, resume=True))


def executor(
    launcher: str,
    folder: Path,
    nodes: int,
    gpus_per_node: int,
    tasks_per_node: int,
    partition: str | None,
    timeout_min: int,
    name: str,
) -> Any:
    """A submitit executor for `launcher` ("local" or "slurm"), one task per GPU (or per CPU process)."""
    import submitit

    if launcher not in ("local", "slurm"):
        raise UsageError(f"--launcher {launcher!r}: use one of {', '.join(LAUNCHERS)}")
    if min(nodes, tasks_per_node) < 1 or gpus_per_node < 0:
        raise UsageError("--nodes and the tasks per node must be >= 1, --gpus-per-node >= 0")
    if launcher == "local" and nodes != 1:
        raise UsageError("--launcher local runs on this machine only; use --nodes 1 (or --launcher slurm)")
    try:
        ex = submitit.AutoExecutor(folder=str(folder), cluster=launcher)
    except RuntimeError as e:
        hint = "run on a SLURM login node, or use --launcher local"
        raise UsageError(f"--launcher {launcher}: {e} ({hint})") from e
    params: dict[str, Any] = {
        "nodes": nodes,
        "tasks_per_node": tasks_per_node,
        "gpus_per_node": gpus_per_node,
        "timeout_min": timeout_min,
        "name": name,
    }
    if launcher == "slurm":
        params["slurm_signal_delay_s"] = 120  # time to finish the step and write the checkpoint
        if partition:
            params["slurm_partition"] = partition
    elif partition:
        raise UsageError("--partition is a SLURM option; drop it with --launcher local")
    ex.update_parameters(**params)
    return ex


def submit(
    config: RunConfig,
    run_dir: Path,
    data: Path | None,
    seed: int,
    resume: bool,
    launch: Launch,
    cluster: Cluster,
    log: Any = print,
) -> dict[str, Any] | None:
    """`pretrain --launcher local|slurm`: submit the run as a job; `local` waits and returns its summary.

    The run folder is checked here, before submission, so a bad `--out` / `--resume` fails in the shell
    rather than in a job log. One task per GPU (or `tasks_per_node` processes) on each of `nodes`.
    """
    check_run_dir(run_dir, config.replace(seed=seed), resume)
    c = cluster
    tasks = c.tasks_per_node or max(c.gpus_per_node, 1)
    logs = Path(run_dir) / layout.SUBMITIT
    ex = executor(
        c.launcher, logs, c.nodes, c.gpus_per_node, tasks, c.partition, c.timeout_min, config.run.recipe
    )
    job = ex.submit(PretrainJob(config, str(run_dir), str(data) if data else None, seed, resume, launch))
    log(f"submitted job {job.job_id} ({c.launcher}, {c.nodes} x {tasks} tasks); logs in {logs}")
    if c.launcher == "slurm":
        return None
    return job.results()[0]  # local: wait, as a foreground run would
