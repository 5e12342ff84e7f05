"""The pre-training loop shared by every recipe: MoCo, end-to-end and supervised.

The loop is the official `main_moco.py` loop: per epoch set the lr, then for each batch forward, cross-entropy
on (logits, labels), SGD step. What differs between rows is only the model (`build_model`), the
augmentation and the optimizer, all read from the resolved config.

Determinism: the data order, every crop, and the shuffle-BN permutation are seeded by (seed, epoch, step),
so a resumed run ends where an uninterrupted one does, and N processes match one process with N BN groups.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from mocobench import atomic
from mocobench.data import augment
from mocobench.data.folder import (
    FolderDataset,
    batched_loader,
    list_train_val,
    resolve_data,
    verify_images,
)
from mocobench.data.pairs import build_pair_loader
from mocobench.errors import UsageError
from mocobench.evaluate.knn import knn_accuracy
from mocobench.models.encoders import Backbone, encoder_builder
from mocobench.models.end_to_end import EndToEnd, sync_batchnorm
from mocobench.models.moco import MoCo, contrastive_accuracy
from mocobench.train import checkpoint, distributed
from mocobench.train.environment import environment
from mocobench.train.lars import LARS, lars_param_groups
from mocobench.train.progress import TrainProgress, console
from mocobench.train.schedule import learning_rate, set_lr
from mocobench.train.step import StepOptions, contrastive_loss, optimise, prepare_model, sgd, to_input

KNN_BANK_MAX = 50_000  # kNN monitor bank: at most this many training images (ImageNet would not fit)


@dataclass
class Data:
    train: Iterable[Any]  # batches of (images, targets)
    set_epoch: Callable[[int], None]
    steps: int  # batches per epoch
    bank: DataLoader
    val: DataLoader
    num_classes: int
    root: Path
    pairs: Callable[[Any, int], tuple[torch.Tensor, torch.Tensor]] | None = None  # contrastive: -> q, k
    pipeline: dict[str, Any] = field(default_factory=dict)  # loader kind, where colour ran (config.json)


def blur_sigma_px(config: dict[str, Any]) -> tuple[float, float]:
    """The paper's blur sigma is in pixels of a 224-px crop; keep it the same fraction of a smaller crop."""
    lo, hi = config["blur_sigma"]
    f = config["image_size"] / 224
    return lo * f, hi * f


def build_data(
    config: dict[str, Any],
    data: Path | None,
    seed: int,
    dist: distributed.DistInfo,
    options: StepOptions | None = None,
    loader: str = "auto",
    augment_on: str = "auto",
    beton: Path | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> Data:
    root = resolve_data(data) if dist.is_main else None
    if dist.distributed:  # rank 0 generates the embedded set once; the others wait for its path
        root = distributed.broadcast_object(root)
    assert root is not None
    train_samples, val_samples, classes = list_train_val(root, config["max_images_per_class"])
    if dist.is_main:
        verify_images(train_samples + val_samples)
    size = config["image_size"]
    workers = config["workers"]
    if config["mechanism"] == "supervised":
        train_set = FolderDataset(train_samples, classes, augment.supervised_train_transform(size), seed)
        train, sampler = batched_loader(train_set, config, dist, seed)
        set_epoch, pairs, pipeline = sampler.set_epoch, None, {"loader": "pil", "augment_on": "loader"}
    else:
        pair_loader = build_pair_loader(
            config, root, train_samples, classes, seed, dist, options or StepOptions(), loader, augment_on,
            beton, log,
        )  # fmt: skip
        train, set_epoch, pairs = pair_loader, pair_loader.set_epoch, pair_loader.to_pairs
        pipeline = pair_loader.describe()
    eval_tf = augment.eval_transform(size)
    bank_samples = train_samples
    if len(bank_samples) > KNN_BANK_MAX:
        step = len(bank_samples) / KNN_BANK_MAX
        bank_samples = [bank_samples[int(i * step)] for i in range(KNN_BANK_MAX)]
    eval_kw = {"batch_size": 256, "num_workers": workers, "shuffle": False}
    bank = DataLoader(FolderDataset(bank_samples, classes, eval_tf), **eval_kw)
    val = DataLoader(FolderDataset(val_samples, classes, eval_tf), **eval_kw)
    return Data(train, set_epoch, len(train), bank, val, len(classes), root, pairs, pipeline)


def build_model(config: dict[str, Any], num_classes: int, dist: distributed.DistInfo) -> nn.Module:
    mechanism = config["mechanism"]
    if mechanism == "supervised":
        return encoder_builder(config["arch"], 1)(num_classes=num_classes)
    if mechanism == "end-to-end":
        # One encoder sees both views: BN is global (SimCLR) or per process, never split (positives would
        # share BN groups in a pattern no multi-GPU run has).
        model = EndToEnd(
            encoder_builder(config["arch"], 1), config["moco_dim"], config["moco_t"], config["mlp"]
        )
        return sync_batchnorm(model) if config["sync_bn"] else model
    if config["bn_splits"] % dist.world_size:
        raise UsageError(
            f"bn_splits {config['bn_splits']} is not divisible by the {dist.world_size} processes; "
            f"use --set bn_splits={dist.world_size} or a multiple"
        )
    splits = config["bn_splits"] // dist.world_size
    builder = encoder_builder(config["arch"], splits)
    model = MoCo(
        builder, config["moco_dim"], config["moco_k"], config["moco_m"], config["moco_t"], config["mlp"]
    )
    try:
        model.check_batch_size(config["batch_size"])
    except ValueError as e:
        raise UsageError(str(e)) from e
    return model


def query_encoder(model: nn.Module) -> nn.Module:
    """The encoder whose features we evaluate (MoCo: encoder_q, as the official linear protocol)."""
    model = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
    for name in ("encoder_q", "encoder"):
        if hasattr(model, name):
            return getattr(model, name)
    return model


def build_optimizer(
    config: dict[str, Any], model: nn.Module, options: StepOptions | None = None
) -> torch.optim.Optimizer:
    if config["optimizer"] == "lars":
        return LARS(
            lars_param_groups(model, config["weight_decay"]),
            lr=config["lr"],
            momentum=config["momentum"],
            weight_decay=config["weight_decay"],
        )
    params = [p for p in model.parameters() if p.requires_grad]
    return sgd(params, config["lr"], config["momentum"], config["weight_decay"], options or StepOptions())


def step_seed(seed: int, epoch: int, step: int) -> int:
    return (seed * 1_000_003 + epoch) * 100_003 + step + 1


def train_one_epoch(
    model: nn.Module,
    data: Data,
    optimizer: torch.optim.Optimizer,
    config: dict[str, Any],
    epoch: int,
    seed: int,
    dist: distributed.DistInfo,
    progress: TrainProgress,
    options: StepOptions,
) -> dict[str, float]:
    model.train()
    data.set_epoch(epoch)
    steps = data.steps
    supervised = config["mechanism"] == "supervised"
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
        torch.manual_seed(step_seed(seed, epoch, step))  # the shuffle-BN permutation, identical on every rank
        if supervised:
            images, targets = to_input(images, dist.device, options), targets.to(dist.device)
            with options.autocast(dist.device):
                output = model(images)
            loss = F.cross_entropy(output.float(), targets)
            acc = contrastive_accuracy(output, targets)
        else:
            assert data.pairs is not None
            im_q, im_k = data.pairs(images, step_seed(seed, epoch, step) * 1009 + dist.rank)
            # InfoNCE (MoCo eq. 1) / NT-Xent, under the step options (bf16 autocast etc.)
            loss, logits, labels = contrastive_loss(model, im_q, im_k, options)
            acc = contrastive_accuracy(logits, labels)
        if not torch.isfinite(loss):
            raise RuntimeError(
                f"loss is {loss.item()} at epoch {epoch + 1} step {step + 1}; lower the lr (--set lr=...)"
            )
        optimise(loss, optimizer)
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
    backbone = Backbone(query_encoder(model))
    return knn_accuracy(
        backbone, data.bank, data.val, data.num_classes, dist.device, config["knn_k"], config["knn_t"]
    )


def _read_metrics(path: Path, upto_epoch: int) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in records if r["epoch"] <= upto_epoch]


def _check_resumable(run_dir: Path, config: dict[str, Any]) -> None:
    saved = json.loads((run_dir / "config.json").read_text())
    ignore = {"workers", "knn_every", "save_every"}
    diff = [k for k in config if k not in ignore and saved.get(k) != config[k]]
    if diff:
        k = diff[0]
        raise UsageError(
            f"{run_dir} was started with {k}={saved.get(k)!r}, not {config[k]!r}; "
            "resume with the same recipe, scale and --set, or use another --out"
        )


def check_run_dir(run_dir: Path, config: dict[str, Any], resume: bool) -> None:
    """A new run needs an empty folder; a resumed one a checkpoint of the same config (UsageError if not)."""
    last = Path(run_dir) / checkpoint.LAST
    if resume:
        if not last.is_file():
            raise UsageError(f"nothing to resume in {run_dir} (no {checkpoint.LAST}); run without --resume")
        _check_resumable(Path(run_dir), config)
    elif last.is_file() or (Path(run_dir) / "summary.json").is_file():
        raise UsageError(
            f"{run_dir} already holds a run; pass --resume to continue it, or --out for a new folder"
        )


def pretrain(
    config: dict[str, Any],
    run_dir: Path,
    data: Path | None = None,
    seed: int = 0,
    resume: bool = False,
    device: str = "auto",
    stop_after_epoch: int | None = None,
    show_progress: bool = True,
    loader: str = "auto",
    augment_on: str = "auto",
    step_options: str | None = None,
    beton: Path | None = None,
) -> dict[str, Any]:
    """Pre-train `config` into `run_dir`; returns the summary written to `summary.json`.

    `stop_after_epoch` ends early after that many epochs (tests use it to simulate an interruption).
    `loader`/`augment_on` pick the input pipeline (data/pairs.py), `step_options` the step's fast paths
    (train/step.py; default: all on for a GPU, off on the CPU); config.json records what ran.
    """
    dist = distributed.init_distributed(device)
    run_dir = Path(run_dir)
    last = run_dir / checkpoint.LAST
    config = {**config, "seed": seed}
    check_run_dir(run_dir, config, resume)

    options = StepOptions.parse(step_options, dist.device)
    say = console.print if show_progress and dist.is_main else (lambda _: None)
    data = build_data(config, data, seed, dist, options, loader, augment_on, beton, say)
    if config["mechanism"] == "supervised":
        config["num_classes"] = data.num_classes
    torch.manual_seed(seed)  # model initialisation
    model = prepare_model(build_model(config, data.num_classes, dist).to(dist.device), options)
    optimizer = build_optimizer(config, model, options)
    if dist.distributed:
        model = nn.parallel.DistributedDataParallel(
            model, device_ids=[dist.local_rank] if dist.device.type == "cuda" else None
        )

    start_epoch = 0
    if resume:
        start_epoch = checkpoint.restore(checkpoint.load(last), model, optimizer)
    metrics_path = run_dir / "metrics.jsonl"
    records = _read_metrics(metrics_path, start_epoch) if resume else []
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        ran = {"data": str(data.root), "pipeline": data.pipeline, "step_options": options.describe()}
        atomic.write_json(run_dir / "config.json", {**config, **ran})
        atomic.write_json(run_dir / "env.json", environment(dist.device, dist.world_size, dist.backend))
        atomic.write_text(metrics_path, "".join(json.dumps(r) + "\n" for r in records))
        if start_epoch == 0:
            if show_progress:
                console.print(f"run folder {run_dir}; kNN of the randomly initialised encoder (reference)...")
            rec = {"epoch": 0, "knn_top1": _knn(model, data, config, dist)}  # random-init reference
            atomic.append_jsonl(metrics_path, rec)
            records.append(rec)

    epochs = config["epochs"]
    end_epoch = min(epochs, stop_after_epoch) if stop_after_epoch else epochs
    t_start = time.perf_counter()
    with TrainProgress(epochs, start_epoch, enabled=show_progress and dist.is_main) as progress:
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
                **train_one_epoch(model, data, optimizer, config, epoch, seed, dist, progress, options),
            }
            every = config["knn_every"]
            if dist.is_main and (epoch + 1 == epochs or (every and (epoch + 1) % every == 0)):
                rec["knn_top1"] = _knn(model, data, config, dist)
            if dist.is_main:
                extra = {"config": config, "seed": seed}
                checkpoint.save(last, model, optimizer, epoch + 1, config["arch"], extra)
                if config["save_every"] and (epoch + 1) % config["save_every"] == 0 and epoch + 1 < epochs:
                    checkpoint.save(
                        run_dir / f"checkpoint_{epoch + 1:04d}.pth.tar",
                        model,
                        optimizer,
                        epoch + 1,
                        config["arch"],
                        extra,
                    )
                atomic.append_jsonl(metrics_path, rec)
                records.append(rec)
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
        atomic.write_json(run_dir / "summary.json", summary)
    return summary
