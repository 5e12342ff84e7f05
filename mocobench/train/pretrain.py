"""Pre-training of every method: prepare (data, fitted config), start (the method, its run files), fit
(epochs through the one loop, `run/loop.py`, each committed by its checkpoint), finish (summary.json).

Each epoch is the official `main_moco.py` loop: lr, then for each batch the method's forward and loss and
the optimizer step. What differs between rows is only the method (`methods/`, built by `run/build.py`),
its views and loaders (`data.py`).

Determinism: the data order, every crop, and the shuffle-BN permutation are seeded by (seed, epoch, step)
(`runtime/seeds.py`), so a resumed run ends where an uninterrupted one does, and N processes match one
process with N BN groups.
"""

from __future__ import annotations

import functools
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mocobench.config.scales import row_refusal
from mocobench.config.settings import RunConfig
from mocobench.data.sources import list_pretrain
from mocobench.errors import UsageError
from mocobench.methods import Trainable
from mocobench.metrics.knn import knn_accuracy
from mocobench.models.encoders import Backbone, query_encoder
from mocobench.results import layout
from mocobench.run import config as run_config
from mocobench.run.build import build
from mocobench.run.loop import train_epoch
from mocobench.run.memory import check_fits
from mocobench.runtime import atomic, checkpoint, distributed, lock, logging_sinks
from mocobench.runtime.environment import environment
from mocobench.runtime.progress import TrainProgress, console
from mocobench.runtime.schedule import learning_rate
from mocobench.runtime.seeds import device_draw_seed, step_seed
from mocobench.runtime.step_options import StepOptions, to_input
from mocobench.train.data import Data, build_data, count_images, open_source
from mocobench.train.pipelines import pipeline_record, resolve_pipeline
from mocobench.train.resume import check_run_dir, committed_records

# What pre-training writes into its run folder (under its run lock); evaluations write other names.
PRETRAIN_FILES = (
    checkpoint.LAST,
    "checkpoint_*.pth.tar",
    layout.CONFIG,
    layout.ENV,
    layout.METRICS,
    layout.SUMMARY,
)


def train_one_epoch(
    method: Trainable,
    data: Data,
    config: RunConfig,
    epoch: int,
    seed: int,
    dist: distributed.DistInfo,
    progress: TrainProgress,
    options: StepOptions,
) -> dict[str, float]:
    """One epoch of the method through the shared loop (`run/loop.py`): every step seeded by (seed, epoch,
    step), its inputs two views (made and coloured as the loader was told) or labelled images."""
    method.model.train()
    data.set_epoch(epoch)

    def step(i: int, batch: Any) -> tuple[torch.Tensor, float, int]:
        images, targets = batch
        torch.manual_seed(step_seed(seed, epoch, i))  # the shuffle-BN permutation, identical on every rank
        if data.pairs is not None:
            inputs = data.pairs(images, device_draw_seed(seed, epoch, i, dist.rank))
        else:
            inputs = to_input(images, dist.device, options), targets.to(dist.device)
        # the method's forward and loss (MoCo eq. 1, NT-Xent, cross-entropy) under the step options
        loss, logits, labels = method.forward(method.model, inputs, options)
        return loss, float((logits.argmax(dim=1) == labels).sum()), labels.numel()

    def lr_at(epochs_done: float) -> float:  # MoCo: per epoch, no warm-up (PAPER.md); SimCLR: per step
        o = config.optim
        return learning_rate(o.lr, epochs_done, o.epochs, o.cos, o.schedule, o.warmup_epochs)

    def diverged(loss: float, epoch: int, i: int) -> str:
        return f"loss is {loss} at epoch {epoch + 1} step {i + 1}; lower the lr (--set lr=...)"

    return train_epoch(
        data.train, data.steps, step, method.optimizer, epoch, lr_at, config.optim.lr_per_step, progress,
        diverged, method.scaler, method.on_step,
    )  # fmt: skip


def _knn(model: nn.Module, data: Data, config: RunConfig, dist: distributed.DistInfo) -> float:
    """The kNN monitor on the pooled backbone features, or (`knn_on = "output"`) on the encoder's moco_dim
    output, as the official CIFAR-10 demo scores it (its `net` is encoder_q with its fc)."""
    encoder = query_encoder(model)
    features = encoder if config.run.knn_on == "output" else Backbone(encoder)
    return knn_accuracy(
        features, data.bank, data.val, data.num_classes, dist.device, config.run.knn_k, config.run.knn_t
    )


def _holding_run_lock(train: Any) -> Any:
    """Rank 0 holds `<run>/run.lock` (pid, host; `layout.LOCK`, `runtime/lock.py`) while `train` runs: the
    result store reads a run with a live lock as running, one with a stale lock or none as interrupted."""

    @functools.wraps(train)
    def wrapper(config: RunConfig, run_dir: Path, *args: Any, **kwargs: Any) -> dict[str, Any]:
        with lock.held(Path(run_dir) / layout.LOCK, enabled=os.environ.get("RANK", "0") == "0"):
            return train(config, run_dir, *args, **kwargs)

    return wrapper


@dataclass(frozen=True)
class Launch:
    """How this process runs a config: nothing here changes what is learnt (config.json records the
    pipeline that ran).

    `pipeline` is `fast` or `official` (train/pipelines.py); with `fast`, `loader`/`augment_on` pick the input
    pipeline (loading/loaders.py) and `step_options` the step's fast paths (runtime/step_options.py; default:
    all on for a GPU, off on the CPU). `trust_checkpoint` lets --resume read a checkpoint that needs Python's
    full unpickler. Every metrics record also goes to `<run_dir>/tensorboard/pretrain` and, with `wandb`, to
    W&B (runtime/logging_sinks.py; a resumed run continues the W&B run whose id `wandb_id` holds).
    """

    device: str = "auto"
    pipeline: str = "fast"
    loader: str | None = None
    augment_on: str | None = None
    step_options: str | None = None
    beton: Path | None = None
    trust_checkpoint: bool = False
    wandb: bool = False
    wandb_project: str | None = None


@_holding_run_lock
def pretrain(
    config: RunConfig,
    run_dir: Path,
    data: str | Path | None = None,
    seed: int = 0,
    resume: bool = False,
    launch: Launch = Launch(),
    stop_after_epoch: int | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Pre-train `config` on `data` (None: the embedded set) into `run_dir` as `launch` says; returns the
    summary written to `summary.json`. `stop_after_epoch` ends early after that many epochs (tests use it to
    simulate an interruption)."""
    dist = distributed.init_distributed(launch.device)
    run_dir = Path(run_dir)
    config, source, options, data = prepare(config, run_dir, data, seed, resume, dist, launch, show_progress)
    run = start(config, run_dir, source, data, options, seed, resume, dist, launch)
    if dist.is_main:
        run.logger = logging_sinks.open_logger(
            run_dir, "pretrain", run.config.flat(), wandb=launch.wandb, project=launch.wandb_project,
            id_file=run_dir / logging_sinks.WANDB_ID, resume=resume,
        )  # fmt: skip
        if run.start_epoch == 0:
            if show_progress:
                console.print(f"run folder {run_dir}; kNN of the randomly initialised encoder (reference)...")
            commit_init_knn(run)
    t_start = time.perf_counter()
    end_epoch = fit(run, stop_after_epoch, show_progress)
    return finish(run, end_epoch, time.perf_counter() - t_start)


@dataclass
class Run:
    """One pre-training run once prepared: what `fit` trains and `finish` sums up."""

    config: RunConfig  # config.json: the settings and what ran (data, pipeline, step options)
    run_dir: Path
    data: Data
    method: Trainable
    options: StepOptions
    seed: int
    dist: distributed.DistInfo
    start_epoch: int
    records: list[dict[str, Any]]
    logger: logging_sinks.RunLogger = field(default_factory=logging_sinks.RunLogger)

    @property
    def metrics_path(self) -> Path:
        return self.run_dir / layout.METRICS


def prepare(
    config: RunConfig,
    run_dir: Path,
    data: str | Path | None,
    seed: int,
    resume: bool,
    dist: distributed.DistInfo,
    launch: Launch,
    show_progress: bool,
) -> tuple[RunConfig, Any, StepOptions, Data]:
    """The data, the config fitted to it (K, a meaningless row's refusal, its normalisation, the run folder's
    state), the step options and the loaders; nothing is written yet."""
    refusal = row_refusal(config, count_images(config, data)[0]) if data in (None, "embedded") else None
    if refusal:  # before the embedded set is generated (its size is known without it)
        raise UsageError(refusal)
    source = open_source(data, config, dist)
    n_train = len(list_pretrain(source, config.data.max_images_per_class))
    config = run_config.fit_to_data(config, n_train, source.mean, source.std).replace(seed=seed)
    check_run_dir(run_dir, config, resume)
    check_fits(config, dist.device, dist.world_size)  # a step that cannot fit is refused before any file
    chosen = resolve_pipeline(launch.pipeline, launch.loader, launch.augment_on, launch.step_options)
    options = StepOptions.parse(chosen["step_options"], dist.device)
    say = console.print if show_progress and dist.is_main else (lambda _: None)
    built = build_data(
        config, source, seed, dist, options, chosen["loader"], chosen["augment_on"], launch.beton, say
    )
    return run_config.record(config, built.num_classes), source, options, built


def start(
    config: RunConfig,
    run_dir: Path,
    source: Any,
    data: Data,
    options: StepOptions,
    seed: int,
    resume: bool,
    dist: distributed.DistInfo,
    launch: Launch,
) -> Run:
    """The method built (and restored from the last checkpoint on --resume), and rank 0's run files:
    config.json, env.json, metrics.jsonl as committed."""
    torch.manual_seed(seed)  # model initialisation
    method = build(config, data.num_classes, dist.world_size, dist.device, options)
    if dist.distributed:
        method.model = nn.parallel.DistributedDataParallel(
            method.model, device_ids=[dist.local_rank] if dist.device.type == "cuda" else None
        )
    last, start_epoch, ckpt = run_dir / checkpoint.LAST, 0, None
    if resume and last.is_file():  # (no checkpoint: interrupted before its first epoch; start again)
        ckpt = checkpoint.load(last, launch.trust_checkpoint)
        start_epoch = checkpoint.restore(
            ckpt, method.model, method.optimizer, path=last, scaler=method.scaler
        )
    config = config.replace(  # what ran (settings.Ran): evaluation reads the data from it
        data=source.spec,  # as passed (cifar10:PATH, a folder, embedded)
        data_kind=source.kind,
        data_root=str(source.root),
        data_classes=data.num_classes,
        pipeline=pipeline_record(launch.pipeline, data.pipeline, options),
        step_options=options.describe(),
    )
    run = Run(config, run_dir, data, method, options, seed, dist, start_epoch, [])
    run.records = committed_records(ckpt, run.metrics_path, start_epoch) if ckpt else []
    if dist.is_main:
        atomic.remove_stale(run_dir, PRETRAIN_FILES)  # the temporaries of a save that a kill cut short
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic.write_json(run_dir / layout.CONFIG, config.flat())
        atomic.write_json(run_dir / layout.ENV, environment(dist.device, dist.world_size, dist.backend))
        atomic.write_text(run.metrics_path, "".join(json.dumps(r) + "\n" for r in run.records))
    return run


def commit_init_knn(run: Run) -> None:
    """Epoch 0's record: the kNN of the randomly initialised encoder, the reference learning is read from."""
    rec = {"epoch": 0, "knn_top1": _knn(run.method.model, run.data, run.config, run.dist)}
    atomic.append_jsonl(run.metrics_path, rec)
    run.logger.log(rec, 0)
    run.records.append(rec)


def fit(run: Run, stop_after_epoch: int | None, show_progress: bool) -> int:
    """Train from the run's start epoch, each epoch committed by its checkpoint; returns the epochs done."""
    config, dist = run.config, run.dist
    epochs = config.optim.epochs
    end_epoch = min(epochs, stop_after_epoch) if stop_after_epoch else epochs
    enabled = show_progress and dist.is_main
    with TrainProgress(epochs, run.start_epoch, enabled=enabled) as progress, run.logger:
        for epoch in range(run.start_epoch, end_epoch):
            rec = {
                "epoch": epoch + 1,
                **train_one_epoch(run.method, run.data, config, epoch, run.seed, dist, progress, run.options),
            }
            every = config.run.knn_every
            if dist.is_main and (epoch + 1 == epochs or (every and (epoch + 1) % every == 0)):
                rec["knn_top1"] = _knn(run.method.model, run.data, config, dist)
            if dist.is_main:
                commit_epoch(run, rec)
            progress.end_epoch(rec)
            if dist.distributed:
                distributed.barrier()
    return end_epoch


def commit_epoch(run: Run, rec: dict[str, Any]) -> None:
    """The epoch commit: the checkpoint carries every record up to this epoch, and its atomic rename is the
    one moment the epoch counts as done. metrics.jsonl is appended after it; a kill in between loses no
    record: --resume rewrites metrics.jsonl from the checkpoint, and the result store reads the records from
    it while metrics.jsonl is older (layout.py)."""
    config, method, epoch = run.config, run.method, rec["epoch"]
    run.records.append(rec)
    extra = {"config": config.flat(), "seed": run.seed, "metrics": run.records}
    paths = [run.run_dir / checkpoint.LAST]
    if config.run.save_every and epoch % config.run.save_every == 0 and epoch < config.optim.epochs:
        paths.append(run.run_dir / checkpoint.periodic(epoch))
    for path in paths:
        checkpoint.save(path, method.model, method.optimizer, epoch, config.method.arch, extra, method.scaler)
    atomic.append_jsonl(run.metrics_path, rec)
    run.logger.log(rec, epoch)


def finish(run: Run, end_epoch: int, seconds: float) -> dict[str, Any]:
    """summary.json (once the run is finished) and the logger's final figures; returns the summary."""
    config, records = run.config, run.records
    summary = {
        "recipe": config.run.recipe,
        "scale": config.run.scale,
        "seed": run.seed,
        "epochs_done": end_epoch,
        "finished": end_epoch == config.optim.epochs,
        "knn_top1": next(
            (r["knn_top1"] for r in reversed(records) if "knn_top1" in r and r["epoch"] > 0), None
        ),
        "knn_top1_init": next((r["knn_top1"] for r in records if r["epoch"] == 0), None),
        "seconds_this_session": seconds,
        "run_dir": str(run.run_dir),
    }
    if run.dist.is_main and summary["finished"]:
        atomic.write_json(run.run_dir / layout.SUMMARY, summary)
    last_rec = records[-1] if records else {}
    final = {k: summary[k] for k in ("knn_top1", "knn_top1_init", "epochs_done")}
    run.logger.finish(config.flat(), {**final, **{k: last_rec.get(k) for k in ("loss", "acc")}})
    return summary
