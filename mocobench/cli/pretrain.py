"""`mocobench pretrain`: one paper row in this process, under torchrun, or as a submitit job."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from mocobench.cli.common import (
    AugmentOnOpt,
    BetonOpt,
    DataOpt,
    DeviceOpt,
    LoaderOpt,
    PipelineOpt,
    ScaleOpt,
    SetOpt,
    StepOptionsOpt,
    TrustOpt,
    WandbOpt,
    WandbProjectOpt,
    echo,
    writable,
)


def pretrain(
    recipe: Annotated[str, typer.Option("--recipe", help="Recipe name (mocobench recipes lists them)")],
    scale: ScaleOpt = "paper",
    data: DataOpt = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Run folder; default runs/<scale>/<recipe>/seed<N>")
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the initialisation, data order and augmentation")
    ] = 0,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run in the folder from its last checkpoint")
    ] = False,
    set_: SetOpt = None,
    device: DeviceOpt = "auto",
    launcher: Annotated[
        str, typer.Option("--launcher", help="none (this process / torchrun) | local | slurm (submitit)")
    ] = "none",
    nodes: Annotated[int, typer.Option("--nodes", help="slurm: nodes")] = 1,
    gpus_per_node: Annotated[int, typer.Option("--gpus-per-node", help="local/slurm: GPUs per node")] = 0,
    tasks_per_node: Annotated[
        int | None,
        typer.Option("--tasks-per-node", help="local/slurm: processes per node; default one per GPU, else 1"),
    ] = None,
    partition: Annotated[str | None, typer.Option("--partition", help="slurm: partition")] = None,
    timeout_min: Annotated[int, typer.Option("--timeout-min", help="local/slurm: job time limit")] = 4320,
    pipeline_name: PipelineOpt = "fast",
    loader: LoaderOpt = None,
    augment_on: AugmentOnOpt = None,
    step_options: StepOptionsOpt = None,
    beton: BetonOpt = None,
    trust: TrustOpt = False,
    wandb: WandbOpt = False,
    wandb_project: WandbProjectOpt = None,
) -> None:
    """Pre-train one paper row (MoCo, end-to-end or supervised): one process, torchrun, or submitit."""
    from mocobench.results import layout
    from mocobench.run.config import resolve
    from mocobench.tables.curves import plot_run_curves
    from mocobench.train.pretrain import Launch
    from mocobench.train.pretrain import pretrain as run_pretrain

    config = resolve(recipe, scale, set_ or [])
    run_dir = writable(
        out_dir or layout.run_dir(scale, recipe, seed), "--out" if out_dir else "the run folder"
    )
    launch = Launch(
        device, pipeline_name, loader, augment_on, step_options, beton,
        trust_checkpoint=trust,  # --resume: the checkpoint is read as data unless trusted
        wandb=wandb,  # TensorBoard always; W&B too if asked
        wandb_project=wandb_project,
    )  # fmt: skip
    if launcher != "none":
        from mocobench.train.launch import Cluster, submit

        summary = submit(
            config, run_dir, data, seed, resume, launch,
            Cluster(launcher, nodes, gpus_per_node, tasks_per_node, partition, timeout_min), log=echo,
        )  # fmt: skip
        if summary is None:  # slurm: submitted, not waited for
            return
    else:
        summary = run_pretrain(config, run_dir, data=data, seed=seed, resume=resume, launch=launch)
    if int(os.environ.get("RANK", "0")) == 0:
        plot_run_curves(run_dir)
        knn, init = summary["knn_top1"], summary["knn_top1_init"]
        line = (
            f"kNN top-1 {knn:.1f}% (random init {init:.1f}%)" if knn is not None and init is not None else ""
        )
        echo(("done", "bold green"), f": {recipe} ({scale}, seed {seed}) -> {run_dir}  {line}")
