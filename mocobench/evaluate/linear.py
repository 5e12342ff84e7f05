"""Linear classification on frozen features, by the protocol that scores the row (`config/linear.py`).

`linear` is the official `main_lincls.py` (PAPER.md): SGD lr 30, momentum 0.9, no weight decay, batch 256,
100 epochs, x0.1 at 60 and 80, fc ~ N(0, 0.01). `linear-simclr` is SimCLR v1's: Nesterov momentum, lr 1.6
for batch 4096, cosine per step, weight decay 1e-6, 90 epochs, a zero-initialised head, SimCLR's crops
(validation: whole images at a configured size of 32 px or less, as SimCLR; `reference.py::linear_views`).
In both the backbone is frozen and every BatchNorm stays in eval mode for the whole run (main_lincls.py
L439; SimCLR's model.py L62-64), so its running statistics cannot drift towards the linear-training data;
only `fc` trains. At the end `sanity_check` proves every backbone tensor, BN statistics included, is
bit-identical to the loaded checkpoint, and the run fails if not.

Under torchrun (`torchrun --nproc_per_node N -m mocobench linear ...`) each process takes its slice of every
global batch (`order.GlobalBatchSampler`, as pre-training) and DDP averages fc's gradients, as
`main_lincls.py` wraps its model; N processes train the weights one process does on the same global batch.
Validation is sharded without padding and the counts summed over ranks, every image counted once (the
official script has every rank score the whole set).

We report the last epoch's validation accuracy. The official script prints the best epoch's, which picks a
model on the validation set; that figure is kept too (`best_top1`), labelled, never used in tables.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from mocobench.augment.reference import linear_views
from mocobench.config.linear import DEFAULT, resolve_linear
from mocobench.config.scales import steps_refusal
from mocobench.data.folder import FolderDataset, list_train_val, verified_train_val
from mocobench.data.sources import DataSource, open_data
from mocobench.errors import UsageError
from mocobench.evaluate.pretrained import Pretrained, load_pretrained, origin, results_dir, run_data
from mocobench.loading.order import GlobalBatchSampler, batched_loader, eval_loader
from mocobench.metrics.accuracy import topk_correct
from mocobench.models.encoders import Backbone, encoder_builder
from mocobench.results import layout
from mocobench.results.trials import finished_trials, mean_std, run_missing_trials
from mocobench.run.loop import train_epoch
from mocobench.runtime import atomic, distributed, logging_sinks
from mocobench.runtime.distributed import DistInfo
from mocobench.runtime.environment import environment
from mocobench.runtime.progress import TrainProgress
from mocobench.runtime.schedule import learning_rate


class SanityCheckError(RuntimeError):
    """The frozen backbone changed during linear training: the protocol was broken."""


def build_classifier(pretrained: Pretrained, num_classes: int, init_std: float) -> nn.Module:
    """A torchvision ResNet with the pre-trained backbone, a fresh fc, and everything but fc frozen."""
    model = encoder_builder(pretrained.arch, stem=pretrained.stem)(num_classes=num_classes)
    missing, unexpected = model.load_state_dict(pretrained.state, strict=False)
    if set(missing) != {"fc.weight", "fc.bias"} or unexpected:
        raise UsageError(
            f"{pretrained.path} does not fit {pretrained.arch}: missing {list(missing)[:3]}, "
            f"unexpected {list(unexpected)[:3]}; pass a checkpoint of a torchvision ResNet"
        )
    for name, param in model.named_parameters():
        param.requires_grad = name in ("fc.weight", "fc.bias")
    if init_std > 0:
        nn.init.normal_(model.fc.weight, mean=0.0, std=init_std)
    else:  # SimCLR's zero_init_logits_layer
        nn.init.zeros_(model.fc.weight)
    nn.init.zeros_(model.fc.bias)
    return model


def frozen_mode(model: nn.Module) -> None:
    """Eval mode for the whole model during training: BN uses and keeps its pre-trained statistics."""
    model.eval()


def backbone_snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items() if not k.startswith("fc.")}


def sanity_check(model: nn.Module, reference: dict[str, torch.Tensor]) -> int:
    """Raise SanityCheckError unless every non-fc tensor equals `reference`; returns how many were checked."""
    state = model.state_dict()
    changed = [k for k, v in reference.items() if not torch.equal(state[k].cpu(), v.cpu())]
    if changed:
        raise SanityCheckError(
            f"{len(changed)} frozen backbone tensors changed during linear training (first: {changed[0]}); "
            "the linear protocol requires a frozen backbone with BatchNorm in eval mode"
        )
    return len(reference)


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, device: torch.device) -> tuple[float, float, int]:
    """Top-1 and top-5 (%) and the images scored, summed over every process's shard (top-C below 5
    classes)."""
    model.eval()
    k5 = min(5, model.fc.out_features)
    counts = torch.zeros(3, dtype=torch.float64)  # top-1 hits, top-5 hits, images
    for images, targets in loader:
        logits = model(images.to(device, non_blocking=True))
        c1, c5 = topk_correct(logits, targets.to(device), (1, k5))
        counts += torch.tensor([c1, c5, targets.numel()], dtype=torch.float64)
    counts = distributed.all_reduce_sum(counts)
    return float(100.0 * counts[0] / counts[2]), float(100.0 * counts[1] / counts[2]), int(counts[2])


def build_loaders(
    source: DataSource, protocol: dict[str, Any], seed: int, dist: DistInfo
) -> tuple[DataLoader, GlobalBatchSampler, DataLoader, int]:
    """This process's training batches (its slice of each global batch) and its shard of validation: the
    labelled train/ and the published test split val/, normalised by `protocol`'s mean/std (the run's)."""
    train_samples, val_samples, classes = list_train_val(source.root, protocol["max_images_per_class"])
    size, workers, batch = protocol["image_size"], protocol["workers"], protocol["batch_size"]
    where = f"linear protocol {protocol['name']}"
    refusal = steps_refusal(protocol["scale"], batch, len(train_samples), where)
    if refusal:
        raise UsageError(refusal)
    norm = protocol.get("mean") or source.mean, protocol.get("std") or source.std
    train_tf, val_tf = linear_views(protocol["views"], size, *norm, source.native_size)
    train_set = FolderDataset(train_samples, classes, train_tf, seed)
    train, sampler = batched_loader(train_set, batch, workers, dist, seed)
    shard = val_samples[dist.rank :: dist.world_size]  # no padding: every image once over the ranks
    val_set = FolderDataset(shard, classes, val_tf)
    val = eval_loader(val_set, batch // dist.world_size, workers, dist, persistent=True)
    return train, sampler, val, len(classes)


def _lr(protocol: dict[str, Any], epoch: float) -> float:
    return learning_rate(protocol["lr"], epoch, protocol["epochs"], protocol["cos"], protocol["schedule"])


def train_linear(
    pretrained: Pretrained,
    protocol: dict[str, Any],
    source: DataSource,
    seed: int,
    device: torch.device,
    show_progress: bool = True,
    logger: logging_sinks.RunLogger | None = None,
) -> dict[str, Any]:
    """One linear trial in this process (one of the torchrun job's, if any); returns its record (top1, top5
    of the last epoch, per-epoch log, sanity check) and keeps the trained classifier in `classifier`. Each
    epoch's record also goes to `logger` (TensorBoard, W&B)."""
    logger = logger or logging_sinks.RunLogger()
    dist = DistInfo.current(device)
    train, sampler, val, num_classes = build_loaders(source, protocol, seed, dist)
    torch.manual_seed(seed)
    model = build_classifier(pretrained, num_classes, protocol["init_std"]).to(device)
    reference = backbone_snapshot(model)
    params = [p for p in model.parameters() if p.requires_grad]
    assert len(params) == 2, "only fc.weight and fc.bias may train"  # as the official main_lincls.py
    optimizer = torch.optim.SGD(
        params,
        protocol["lr"],
        momentum=protocol["momentum"],
        weight_decay=protocol["weight_decay"],
        nesterov=protocol["nesterov"],
    )
    features = Backbone(model)  # shares the model's frozen modules; fc applied separately
    head: nn.Module = model.fc
    if dist.distributed:  # fc's gradients averaged over the processes, as main_lincls.py's DDP
        head = nn.parallel.DistributedDataParallel(
            model.fc, device_ids=[dist.local_rank] if device.type == "cuda" else None
        )
    epochs, log, steps = protocol["epochs"], [], len(sampler)

    def step(i: int, batch: Any) -> tuple[torch.Tensor, float, int]:
        images, targets = batch
        images, targets = images.to(device, non_blocking=True), targets.to(device)
        with torch.no_grad():
            feats = features(images)
        logits = head(feats)
        return (
            F.cross_entropy(logits, targets),
            topk_correct(logits.detach(), targets, (1,))[0],
            targets.numel(),
        )

    def diverged(loss: float, epoch: int, i: int) -> str:
        return f"linear loss is {loss} at epoch {epoch + 1}; the features diverged"

    t0 = time.perf_counter()
    with TrainProgress(epochs, enabled=show_progress and dist.is_main) as progress:
        for epoch in range(epochs):
            sampler.set_epoch(epoch)
            frozen_mode(model)
            fit = train_epoch(
                train, steps, step, optimizer, epoch, functools.partial(_lr, protocol),
                protocol["lr_per_step"], progress, diverged,
            )  # fmt: skip
            val_top1, val_top5, val_images = evaluate(model, val, device)
            record = {
                "epoch": epoch + 1,
                **{k: fit[k] for k in ("loss", "acc", "lr", "images_per_s")},
                "val_top1": val_top1,
                "val_top5": val_top5,
                "val_images": val_images,
            }
            log.append(record)
            logger.log(record, epoch + 1)
            progress.end_epoch(record)
    checked = sanity_check(model, reference)
    best = max(log, key=lambda r: r["val_top1"])
    return {
        "seed": seed,
        "top1": log[-1]["val_top1"],
        "top5": log[-1]["val_top5"],
        "best_top1": best["val_top1"],
        "best_epoch": best["epoch"],
        "seconds": time.perf_counter() - t0,
        "num_classes": num_classes,
        "world_size": dist.world_size,
        "sanity_check": f"passed: {checked} backbone tensors (weights and BN statistics) unchanged",
        "epochs": log,
        "classifier": {k: v.detach().cpu() for k, v in model.fc.state_dict().items()},
    }


def summarize(trials: list[dict[str, Any]]) -> dict[str, float | int]:
    """Mean, sample std (0 for one trial) and n of top-1, and mean top-5."""
    top1, top1_std = mean_std([t["top1"] for t in trials])
    return {
        "top1": top1,
        "top1_std": top1_std,
        "top5": mean_std([t["top5"] for t in trials])[0],
        "n": len(trials),
    }


def identity(pretrained: Pretrained, protocol: dict[str, Any], source: DataSource) -> dict[str, Any]:
    """What a linear.json's trials must share to be averaged: checkpoint, protocol and data."""
    return {
        "pretrained": str(pretrained.path.resolve()),
        "checkpoint_epoch": pretrained.epoch,
        "protocol": {k: v for k, v in protocol.items() if k != "workers"},
        "data": str(Path(source.root).resolve()),
    }


def run_linear(
    pretrained: Pretrained,
    protocol: dict[str, Any],
    out_dir: Path,
    source: DataSource,
    seed: int = 0,
    trials: int = 1,
    device: torch.device | None = None,
    overwrite: bool = False,
    show_progress: bool = True,
    env: dict[str, Any] | None = None,
    wandb: bool = False,
    wandb_project: str | None = None,
) -> dict[str, Any] | None:
    """Run the missing trials (seeds seed, seed+1, ...) into `out_dir/<protocol>.json`, written after each
    trial, with each trial's classifier beside it (`layout.linear_classifier`).

    Finished trials of the same checkpoint, protocol and data are kept, so an interrupted call resumes; a
    result file of another checkpoint or settings is refused (unless `overwrite`) rather than mixed in.
    Under torchrun every process trains and the main one writes; the others return None. Each trial's
    epochs go to `out_dir/tensorboard/<protocol>-trial<k>` and, with `wandb`, to a W&B run of that name.
    """
    device = device or torch.device("cpu")
    out_dir = Path(out_dir)
    path = out_dir / layout.linear_result(protocol["name"])
    if distributed.get_rank() == 0:  # every image decodes, before a trial writes anything (tensorboard/)
        verified_train_val(source.root, protocol["max_images_per_class"])
    ident = identity(pretrained, protocol, source)
    done = distributed.broadcast_object(finished_trials(path, ident, overwrite, "linear"))
    main = distributed.get_rank() == 0

    def run_one(trial: int) -> dict[str, Any] | None:
        logged = f"{protocol['name']}-trial{trial}"  # out_dir/tensorboard/<logged>, the W&B run's name
        run_config = {**ident, "seed": seed + trial, "trial": trial}
        logger = logging_sinks.open_logger(
            out_dir, logged, run_config, main=main, wandb=wandb, project=wandb_project
        )
        with logger:
            record = train_linear(
                pretrained, protocol, source, seed + trial, device, show_progress, logger=logger
            )
        logger.finish(run_config, {k: record.get(k) for k in ("top1", "top5", "best_top1", "best_epoch")})
        classifier = record.pop("classifier")
        if not main:
            return None
        name = layout.linear_classifier(protocol["name"], trial)
        saved = {"protocol": protocol["name"], "seed": seed + trial, "fc": classifier}
        atomic.torch_save(out_dir / name, saved)
        return {**record, "classifier": name, "device": (env or {}).get("device", str(device))}

    def result_of(trials: list[dict[str, Any]]) -> dict[str, Any]:
        return _result(pretrained, protocol, ident, trials, env)

    recorded = run_missing_trials(path, done, trials, run_one, result_of)
    return result_of(recorded) if main else None


def _result(
    pretrained: Pretrained,
    protocol: dict[str, Any],
    ident: dict[str, Any],
    trials: list[dict[str, Any]],
    env: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        **summarize(trials),
        "scale": protocol["scale"],
        **ident,
        "arch": pretrained.arch,
        "stem": pretrained.stem,
        "source": pretrained.source,
        "format": pretrained.format,
        **origin(pretrained),
        "report": "last epoch (best_top1 in each trial is the official script's best-epoch figure)",
        "env": env or {},
        "trials": trials,
    }


def protocol_of(pretrained: Pretrained, name: str | None) -> str:
    """`name` if given, else the protocol the run's recipe names (`linear_protocol`), else the default."""
    config = pretrained.run_config
    return name or (config.run.linear_protocol if config else "") or DEFAULT


def evaluate_pretrained(
    checkpoint: Path,
    scale: str | None = None,
    data: str | Path | None = None,
    seed: int = 0,
    trials: int = 1,
    out_dir: Path | None = None,
    device: str = "auto",
    overwrite: bool = False,
    workers: int | None = None,
    show_progress: bool = True,
    trust: bool = False,
    protocol: str | None = None,
    wandb: bool = False,
    wandb_project: str | None = None,
    fmt: str | None = None,
) -> tuple[dict[str, Any] | None, Path]:
    """`mocobench linear`: the run's protocol (or `protocol`) at the run's scale (or `scale`) on the run's
    data (or `data`), in this process or in each of a torchrun job's (the result is None in all but rank 0).
    """
    if trials < 1:
        raise UsageError(f"--trials must be at least 1, not {trials}")
    pretrained = load_pretrained(checkpoint, trust, fmt_name=fmt)
    config = pretrained.run_config
    scale = pretrained.scale_or(scale)
    settings = resolve_linear(scale, workers, protocol_of(pretrained, protocol))
    data, grow = run_data(config, data)  # the run's own data: its val split holds the labels to score
    if config and config.data.mean and (data is None or data == config.ran.data):
        # the run's normalisation (a --set mean/std included) scores its features
        settings.update(mean=list(config.data.mean), std=list(config.data.std))
    joined = distributed.is_dist()  # a caller's process group is the caller's to close
    dist = distributed.init_distributed(device)
    # rank 0 generates or converts the data if needed; the others wait for its record (as pre-training)
    source = open_data(data, grow) if dist.is_main else None
    source = distributed.broadcast_object(source)
    assert source is not None
    out_dir = Path(out_dir) if out_dir else results_dir(pretrained, scale)
    env = environment(dist.device, dist.world_size, dist.backend)
    try:
        result = run_linear(
            pretrained, settings, out_dir, source, seed, trials, dist.device, overwrite, show_progress, env,
            wandb, wandb_project,
        )  # fmt: skip
    finally:
        if not joined:
            distributed.cleanup()
    return result, out_dir / layout.linear_result(settings["name"])
