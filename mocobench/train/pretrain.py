"""The pre-training loop shared by every recipe: MoCo, end-to-end and supervised.

The loop is the official `main_moco.py` loop: per epoch set the lr, then for each batch forward, cross-entropy
on (logits, labels), SGD step (`step.py`). What differs between rows is only the model, the augmentation and
the optimizer, all built from the resolved config (`build.py`, `data.py`).

Determinism: the data order, every crop, and the shuffle-BN permutation are seeded by (seed, epoch, step)
(`runtime/seeds.py`), so a resumed run ends where an uninterrupted one does, and N processes match one
process with N BN groups.
"""

from __future__ import annotations

import functools
import json
import os
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mocobench.augment.spec import IMAGENET_MEAN, IMAGENET_STD
from mocobench.config.fields import FIELDS
from mocobench.config.scales import row_refusal
from mocobench.data.sources import list_pretrain
from mocobench.errors import UsageError
from mocobench.methods import Trainable
from mocobench.metrics.accuracy import contrastive_accuracy
from mocobench.metrics.knn import knn_accuracy
from mocobench.models.encoders import Backbone, query_encoder
from mocobench.results import layout
from mocobench.run import config as run_config
from mocobench.run.build import build
from mocobench.runtime import atomic, checkpoint, distributed, lock, logging_sinks
from mocobench.runtime.environment import environment
from mocobench.runtime.progress import TrainProgress, console
from mocobench.runtime.schedule import learning_rate, set_lr
from mocobench.runtime.seeds import device_draw_seed, step_seed
from mocobench.runtime.step_options import StepOptions, to_input
from mocobench.train.data import Data, build_data, count_images, open_source
from mocobench.train.pipelines import pipeline_record, resolve_pipeline
from mocobench.train.step import optimise

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
    config: dict[str, Any],
    epoch: int,
    seed: int,
    dist: distributed.DistInfo,
    progress: TrainProgress,
    options: StepOptions,
) -> dict[str, float]:
    model, optimizer = method.model, method.optimizer
    model.train()
    data.set_epoch(epoch)
    steps = data.steps
    totals = torch.zeros(3, dtype=torch.float64)  # loss sum, accuracy sum, steps
    progress.start_epoch(epoch, steps)
    t0 = time.perf_counter()
    for step, (images, targets) in enumerate(data.train):
        if config["lr_per_step"]:
            set_lr(
                optimizer,
                learning_rate(
                    config["lr"],
                    epoch + step / steps,
                    config["epochs"],
                    config["cos"],
                    config["schedule"],
                    config["warmup_epochs"],
                ),
            )
        if method.on_step is not None:
            method.on_step(epoch + step / steps)
        torch.manual_seed(step_seed(seed, epoch, step))  # the shuffle-BN permutation, identical on every rank
        if data.pairs is not None:  # two views, made (and coloured) as the loader was told
            inputs = data.pairs(images, device_draw_seed(seed, epoch, step, dist.rank))
        else:
            inputs = to_input(images, dist.device, options), targets.to(dist.device)
        # the method's forward and loss (MoCo eq. 1, NT-Xent, cross-entropy) under the step options
        loss, logits, labels = method.forward(model, inputs, options)
        acc = contrastive_accuracy(logits, labels)
        if not torch.isfinite(loss):
            raise RuntimeError(
                f"loss is {loss.item()} at epoch {epoch + 1} step {step + 1}; lower the lr (--set lr=...)"
            )
        optimise(loss, optimizer, method.scaler)
        totals += torch.tensor([loss.item(), float(acc), 1.0], dtype=torch.float64)
        elapsed = time.perf_counter() - t0
        progress.step(
            loss.item(), optimizer.param_groups[0]["lr"], (step + 1) * config["batch_size"] / elapsed
        )
    seconds = time.perf_counter() - t0
    if dist.distributed:
        torch.distributed.all_reduce(totals)
    return {
        "loss": float(totals[0] / totals[2]),
        "acc": float(totals[1] / totals[2]),
        "lr": optimizer.param_groups[0]["lr"],
        "images_per_s": steps * config["batch_size"] / seconds,
        "epoch_seconds": seconds,
    }


def _knn(model: nn.Module, data: Data, config: dict[str, Any], dist: distributed.DistInfo) -> float:
    """The kNN monitor on the pooled backbone features, or (`knn_on = "output"`) on the encoder's moco_dim
    output, as the official CIFAR-10 demo scores it (its `net` is encoder_q with its fc)."""
    encoder = query_encoder(model)
    features = encoder if config["knn_on"] == "output" else Backbone(encoder)
    return knn_accuracy(
        features, data.bank, data.val, data.num_classes, dist.device, config["knn_k"], config["knn_t"]
    )


def _committed_records(ckpt: dict[str, Any] | None, path: Path, upto_epoch: int) -> list[dict[str, Any]]:
    """The metrics of a resumed run's committed epochs: those its checkpoint carries (the commit point,
    see `pretrain`), or for a checkpoint written before it carried them, metrics.jsonl up to its epoch."""
    carried = (ckpt or {}).get("mocobench", {}).get("metrics")
    if isinstance(carried, list):
        return [dict(r) for r in carried]
    records = layout.read_metrics(path, skip_bad=True) if path.is_file() else []
    return [r for r in records if isinstance(r.get("epoch"), int) and r["epoch"] <= upto_epoch]


def _default(key: str) -> Any:
    """A setting's value in a run that predates it: the field's default; mean/std were ImageNet's."""
    if key in ("mean", "std"):
        return list(IMAGENET_MEAN if key == "mean" else IMAGENET_STD)
    return FIELDS[key][1] if key in FIELDS else None


def _saved(saved: dict[str, Any], key: str) -> Any:
    value = saved.get(key, _default(key))
    return _default(key) if key in ("mean", "std") and not value else value  # [] meant ImageNet's


def _check_resumable(run_dir: Path, config: dict[str, Any]) -> None:
    try:
        saved = json.loads((run_dir / layout.CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UsageError(
            f"{run_dir / layout.CONFIG} is unreadable ({type(e).__name__}); resume needs the run's own "
            "config.json: restore it, or start a new run with another --out"
        ) from e
    if not isinstance(saved, dict):
        raise UsageError(f"{run_dir / layout.CONFIG} is not a JSON object; restore it, or use another --out")
    ignore = {"workers", "knn_every", "save_every", "linear_protocol"}  # none shapes the training
    # a setting added after the run started reads as its default (FIELDS), as the run trained with it
    diff = [k for k in config if k not in ignore and _saved(saved, k) != config[k]]
    if diff:
        k = diff[0]
        raise UsageError(
            f"{run_dir} was started with {k}={saved.get(k)!r}, not {config[k]!r}; "
            "resume with the same recipe, scale and --set, or use another --out"
        )


def check_run_dir(run_dir: Path, config: dict[str, Any], resume: bool) -> None:
    """A new run needs an empty folder; a resumed one a checkpoint of the same config (UsageError if not).

    A run interrupted before its first checkpoint (during the random-init kNN) has a config.json and no
    checkpoint: `--resume` starts it again from epoch 0, as `mocobench runs` tells the user to.
    """
    last = Path(run_dir) / checkpoint.LAST
    if resume:
        if not last.is_file() and not (Path(run_dir) / layout.CONFIG).is_file():
            raise UsageError(f"nothing to resume in {run_dir} (no {checkpoint.LAST}); run without --resume")
        _check_resumable(Path(run_dir), config)
    elif last.is_file() or (Path(run_dir) / layout.SUMMARY).is_file():
        raise UsageError(
            f"{run_dir} already holds a run; pass --resume to continue it, or --out for a new folder"
        )


def _holding_run_lock(train: Any) -> Any:
    """Rank 0 holds `<run>/run.lock` (pid, host; `layout.LOCK`, `runtime/lock.py`) while `train` runs: the
    result store reads a run with a live lock as running, one with a stale lock or none as interrupted."""

    @functools.wraps(train)
    def wrapper(config: dict[str, Any], run_dir: Path, *args: Any, **kwargs: Any) -> dict[str, Any]:
        with lock.held(Path(run_dir) / layout.LOCK, enabled=os.environ.get("RANK", "0") == "0"):
            return train(config, run_dir, *args, **kwargs)

    return wrapper


@_holding_run_lock
def pretrain(
    config: dict[str, Any],
    run_dir: Path,
    data: str | Path | None = None,
    seed: int = 0,
    resume: bool = False,
    device: str = "auto",
    stop_after_epoch: int | None = None,
    show_progress: bool = True,
    pipeline: str = "fast",
    loader: str | None = None,
    augment_on: str | None = None,
    step_options: str | None = None,
    beton: Path | None = None,
    trust_checkpoint: bool = False,
    wandb: bool = False,
    wandb_project: str | None = None,
) -> dict[str, Any]:
    """Pre-train `config` into `run_dir`; returns the summary written to `summary.json`.

    `stop_after_epoch` ends early after that many epochs (tests use it to simulate an interruption).
    `pipeline` is `fast` or `official` (train/pipelines.py); with `fast`, `loader`/`augment_on` pick the input
    pipeline (pipeline/loaders.py) and `step_options` the step's fast paths (runtime/step_options.py; default:
    all on for a GPU, off on the CPU). config.json records what ran. Each record of metrics.jsonl also goes
    to `<run_dir>/tensorboard/pretrain` and, with `wandb`, to W&B (runtime/logging_sinks.py; a resumed run
    continues the W&B run whose id `wandb_id` holds).
    """
    dist = distributed.init_distributed(device)
    run_dir = Path(run_dir)
    last = run_dir / checkpoint.LAST
    refusal = row_refusal(config, count_images(config, data)[0]) if data in (None, "embedded") else None
    if refusal:  # before the embedded set is generated (its size is known without it)
        raise UsageError(refusal)
    source = open_source(data, config, dist)
    # the tier's rules that need the data's size (K, a meaningless row's refusal) and its normalisation
    n_train = len(list_pretrain(source, config["max_images_per_class"]))
    config = {**run_config.fit_to_data(config, n_train, source.mean, source.std), "seed": seed}
    check_run_dir(run_dir, config, resume)

    chosen = resolve_pipeline(pipeline, loader, augment_on, step_options)
    options = StepOptions.parse(chosen["step_options"], dist.device)
    say = console.print if show_progress and dist.is_main else (lambda _: None)
    data = build_data(config, source, seed, dist, options, chosen["loader"], chosen["augment_on"], beton, say)
    config = run_config.record(config, data.num_classes)
    torch.manual_seed(seed)  # model initialisation
    method = build(config, data.num_classes, dist.world_size, dist.device, options)
    model, optimizer = method.model, method.optimizer
    if dist.distributed:
        model = method.model = nn.parallel.DistributedDataParallel(
            model, device_ids=[dist.local_rank] if dist.device.type == "cuda" else None
        )

    start_epoch, ckpt = 0, None
    if resume and last.is_file():  # (no checkpoint: interrupted before its first epoch; start again)
        ckpt = checkpoint.load(last, trust_checkpoint)
        start_epoch = checkpoint.restore(ckpt, model, optimizer, path=last, scaler=method.scaler)
    metrics_path = run_dir / layout.METRICS
    records = _committed_records(ckpt, metrics_path, start_epoch) if ckpt else []
    if dist.is_main:
        atomic.remove_stale(run_dir, PRETRAIN_FILES)  # the temporaries of a save that a kill cut short
    logger = logging_sinks.RunLogger()  # rank 0's logs to TensorBoard (and W&B); the others' do nothing
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        ran = {
            "data": source.spec,  # what was passed (cifar10:PATH, a folder, embedded): linear reads it
            "data_kind": source.kind,
            "data_root": str(source.root),
            "data_classes": data.num_classes,
            "pipeline": pipeline_record(pipeline, data.pipeline, options),
            "step_options": options.describe(),
        }
        atomic.write_json(run_dir / layout.CONFIG, {**config, **ran})
        atomic.write_json(run_dir / layout.ENV, environment(dist.device, dist.world_size, dist.backend))
        atomic.write_text(metrics_path, "".join(json.dumps(r) + "\n" for r in records))
        id_file = run_dir / logging_sinks.WANDB_ID
        logger = logging_sinks.open_logger(
            run_dir, "pretrain", {**config, **ran}, wandb=wandb, project=wandb_project, id_file=id_file,
            resume=resume,
        )  # fmt: skip
        if start_epoch == 0:
            if show_progress:
                console.print(f"run folder {run_dir}; kNN of the randomly initialised encoder (reference)...")
            rec = {"epoch": 0, "knn_top1": _knn(model, data, config, dist)}  # random-init reference
            atomic.append_jsonl(metrics_path, rec)
            logger.log(rec, 0)
            records.append(rec)

    epochs = config["epochs"]
    end_epoch = min(epochs, stop_after_epoch) if stop_after_epoch else epochs
    t_start = time.perf_counter()
    with TrainProgress(epochs, start_epoch, enabled=show_progress and dist.is_main) as progress, logger:
        for epoch in range(start_epoch, end_epoch):
            if not config["lr_per_step"]:  # MoCo: lr set once per epoch (PAPER.md: "per epoch, no warm-up")
                set_lr(
                    optimizer,
                    learning_rate(
                        config["lr"],
                        epoch,
                        epochs,
                        config["cos"],
                        config["schedule"],
                        config["warmup_epochs"],
                    ),
                )
            rec = {
                "epoch": epoch + 1,
                **train_one_epoch(method, data, config, epoch, seed, dist, progress, options),
            }
            every = config["knn_every"]
            if dist.is_main and (epoch + 1 == epochs or (every and (epoch + 1) % every == 0)):
                rec["knn_top1"] = _knn(model, data, config, dist)
            if dist.is_main:
                # The epoch commit: the checkpoint carries every record up to this epoch, and its atomic
                # rename is the one moment the epoch counts as done. metrics.jsonl is appended after it; a
                # kill in between loses no record: --resume rewrites metrics.jsonl from the checkpoint, and
                # the result store reads the records from it while metrics.jsonl is older (layout.py).
                records.append(rec)
                extra = {"config": config, "seed": seed, "metrics": records}
                checkpoint.save(last, model, optimizer, epoch + 1, config["arch"], extra, method.scaler)
                if config["save_every"] and (epoch + 1) % config["save_every"] == 0 and epoch + 1 < epochs:
                    checkpoint.save(
                        run_dir / checkpoint.periodic(epoch + 1),
                        model,
                        optimizer,
                        epoch + 1,
                        config["arch"],
                        extra,
                        method.scaler,
                    )
                atomic.append_jsonl(metrics_path, rec)
                logger.log(rec, rec["epoch"])
            progress.end_epoch(rec)
            if dist.distributed:
                distributed.barrier()

    summary = {
        "recipe": config["recipe"],
        "scale": config["scale"],
        "seed": seed,
        "epochs_done": end_epoch,
        "finished": end_epoch == epochs,
        "knn_top1": next(
            (r["knn_top1"] for r in reversed(records) if "knn_top1" in r and r["epoch"] > 0), None
        ),
        "knn_top1_init": next((r["knn_top1"] for r in records if r["epoch"] == 0), None),
        "seconds_this_session": time.perf_counter() - t_start,
        "run_dir": str(run_dir),
    }
    if dist.is_main and summary["finished"]:
        atomic.write_json(run_dir / layout.SUMMARY, summary)
    last_rec = records[-1] if records else {}
    final = {k: summary[k] for k in ("knn_top1", "knn_top1_init", "epochs_done")}
    logger.finish(config, {**final, **{k: last_rec.get(k) for k in ("loss", "acc")}})
    return summary
