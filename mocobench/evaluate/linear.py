"""Linear classification on frozen features: the protocol of the official `main_lincls.py` (PAPER.md).

The backbone is frozen and every BatchNorm stays in eval mode for the whole run, so its running statistics
cannot drift towards the linear-training data; only `fc` (re-initialised N(0, 0.01), bias 0) is trained, by
SGD lr 30, momentum 0.9, no weight decay, batch 256, 100 epochs, x0.1 at 60 and 80 (scaled by --scale).
At the end `sanity_check` proves every backbone tensor, BN statistics included, is bit-identical to the
loaded checkpoint, and the run fails if not.

We report the last epoch's validation accuracy. The official script prints the best epoch's, which picks a
model on the validation set; that figure is kept too (`best_top1`), labelled, never used in tables.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torch.utils.data import DataLoader

from mocobench.augment.reference import eval_transform, supervised_train_transform
from mocobench.config.linear import resolve_linear
from mocobench.data.folder import FolderDataset, list_train_val, resolve_data, verify_images
from mocobench.errors import UsageError
from mocobench.evaluate.pretrained import Pretrained, load_pretrained, results_dir
from mocobench.metrics.accuracy import topk_correct
from mocobench.models.encoders import Backbone
from mocobench.pipeline.order import GlobalBatchSampler, batched_loader, eval_loader
from mocobench.results import layout
from mocobench.results.trials import finished_trials, mean_std, run_missing_trials
from mocobench.runtime.distributed import DistInfo, resolve_device
from mocobench.runtime.environment import environment
from mocobench.runtime.progress import TrainProgress
from mocobench.runtime.schedule import learning_rate, set_lr

RESULT = layout.LINEAR


class SanityCheckError(RuntimeError):
    """The frozen backbone changed during linear training: the protocol was broken."""


def build_classifier(pretrained: Pretrained, num_classes: int, init_std: float) -> nn.Module:
    """A torchvision ResNet with the pre-trained backbone, a fresh fc, and everything but fc frozen."""
    model = getattr(torchvision.models, pretrained.arch)(num_classes=num_classes)
    missing, unexpected = model.load_state_dict(pretrained.state, strict=False)
    if set(missing) != {"fc.weight", "fc.bias"} or unexpected:
        raise UsageError(
            f"{pretrained.path} does not fit {pretrained.arch}: missing {list(missing)[:3]}, "
            f"unexpected {list(unexpected)[:3]}; pass a checkpoint of a torchvision ResNet"
        )
    for name, param in model.named_parameters():
        param.requires_grad = name in ("fc.weight", "fc.bias")
    nn.init.normal_(model.fc.weight, mean=0.0, std=init_std)
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
def evaluate(model: nn.Module, loader: DataLoader, device: torch.device) -> tuple[float, float]:
    """Top-1 and top-5 (%) over `loader` (top-5 is top-C when there are fewer than 5 classes)."""
    model.eval()
    k5 = min(5, model.fc.out_features)
    correct, total = [0, 0], 0
    for images, targets in loader:
        logits = model(images.to(device, non_blocking=True))
        c1, c5 = topk_correct(logits, targets.to(device), (1, k5))
        correct[0] += c1
        correct[1] += c5
        total += targets.numel()
    return 100.0 * correct[0] / total, 100.0 * correct[1] / total


def build_loaders(
    root: Path, protocol: dict[str, Any], seed: int, device: torch.device
) -> tuple[DataLoader, GlobalBatchSampler, DataLoader, int]:
    train_samples, val_samples, classes = list_train_val(root, protocol["max_images_per_class"])
    verify_images(train_samples + val_samples)
    size, workers, batch = protocol["image_size"], protocol["workers"], protocol["batch_size"]
    dist = DistInfo.single(device)
    # PAPER.md: train RandomResizedCrop + flip; val Resize(256/224 of the crop) + CenterCrop.
    train_set = FolderDataset(train_samples, classes, supervised_train_transform(size), seed)
    train, sampler = batched_loader(train_set, batch, workers, dist, seed)
    val_set = FolderDataset(val_samples, classes, eval_transform(size))
    val = eval_loader(val_set, batch, workers, dist, persistent=True)  # validated after every epoch
    return train, sampler, val, len(classes)


def train_linear(
    pretrained: Pretrained,
    protocol: dict[str, Any],
    root: Path,
    seed: int,
    device: torch.device,
    show_progress: bool = True,
) -> dict[str, Any]:
    """One linear trial; returns its record (top1, top5 of the last epoch, per-epoch log, sanity check)."""
    train, sampler, val, num_classes = build_loaders(root, protocol, seed, device)
    torch.manual_seed(seed)
    model = build_classifier(pretrained, num_classes, protocol["init_std"]).to(device)
    reference = backbone_snapshot(model)
    params = [p for p in model.parameters() if p.requires_grad]
    assert len(params) == 2, "only fc.weight and fc.bias may train"  # as the official main_lincls.py
    optimizer = torch.optim.SGD(
        params, protocol["lr"], momentum=protocol["momentum"], weight_decay=protocol["weight_decay"]
    )
    features = Backbone(model)  # shares the model's frozen modules; fc applied separately
    epochs, log = protocol["epochs"], []
    t0 = time.perf_counter()
    with TrainProgress(epochs, enabled=show_progress) as progress:
        for epoch in range(epochs):
            set_lr(optimizer, learning_rate(protocol["lr"], epoch, epochs, False, protocol["schedule"]))
            sampler.set_epoch(epoch)
            frozen_mode(model)
            progress.start_epoch(epoch, len(sampler))
            loss_sum, correct, seen, te = 0.0, 0, 0, time.perf_counter()
            for images, targets in train:
                images, targets = images.to(device, non_blocking=True), targets.to(device)
                with torch.no_grad():
                    feats = features(images)
                logits = model.fc(feats)
                loss = F.cross_entropy(logits, targets)
                if not torch.isfinite(loss):
                    raise RuntimeError(
                        f"linear loss is {loss.item()} at epoch {epoch + 1}; the features diverged"
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += loss.item() * targets.numel()
                correct += topk_correct(logits.detach(), targets, (1,))[0]
                seen += targets.numel()
                progress.step(loss.item(), optimizer.param_groups[0]["lr"], seen / (time.perf_counter() - te))
            val_top1, val_top5 = evaluate(model, val, device)
            record = {
                "epoch": epoch + 1,
                "loss": loss_sum / seen,
                "acc": 100.0 * correct / seen,
                "lr": optimizer.param_groups[0]["lr"],
                "images_per_s": seen / (time.perf_counter() - te),
                "val_top1": val_top1,
                "val_top5": val_top5,
            }
            log.append(record)
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
        "sanity_check": f"passed: {checked} backbone tensors (weights and BN statistics) unchanged",
        "epochs": log,
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


def identity(pretrained: Pretrained, protocol: dict[str, Any], root: Path) -> dict[str, Any]:
    """What a linear.json's trials must share to be averaged: checkpoint, protocol and data."""
    return {
        "pretrained": str(pretrained.path.resolve()),
        "checkpoint_epoch": pretrained.epoch,
        "protocol": {k: v for k, v in protocol.items() if k != "workers"},
        "data": str(Path(root).resolve()),
    }


def run_linear(
    pretrained: Pretrained,
    protocol: dict[str, Any],
    out_dir: Path,
    root: Path,
    seed: int = 0,
    trials: int = 1,
    device: torch.device | None = None,
    overwrite: bool = False,
    show_progress: bool = True,
    env: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the missing trials (seeds seed, seed+1, ...) into `out_dir/linear.json`, written after each trial.

    Finished trials of the same checkpoint, protocol and data are kept, so an interrupted call resumes; a
    linear.json of another protocol is refused (unless `overwrite`) rather than mixed in.
    """
    device = device or torch.device("cpu")
    path = Path(out_dir) / RESULT
    ident = identity(pretrained, protocol, root)
    done = finished_trials(path, ident, overwrite, "linear")

    def run_one(trial: int) -> dict[str, Any]:
        record = train_linear(pretrained, protocol, root, seed + trial, device, show_progress)
        return {**record, "device": (env or {}).get("device", str(device))}

    def result_of(trials: list[dict[str, Any]]) -> dict[str, Any]:
        return _result(pretrained, protocol, ident, trials, env)

    return result_of(run_missing_trials(path, done, trials, run_one, result_of))


def _result(
    pretrained: Pretrained,
    protocol: dict[str, Any],
    ident: dict[str, Any],
    trials: list[dict[str, Any]],
    env: dict[str, Any] | None,
) -> dict[str, Any]:
    config = pretrained.run_config or {}
    return {
        **summarize(trials),
        "scale": protocol["scale"],
        **ident,
        "arch": pretrained.arch,
        "source": pretrained.source,
        "recipe": config.get("recipe"),
        "pretrain_scale": config.get("scale"),
        "pretrain_seed": config.get("seed"),
        "report": "last epoch (best_top1 in each trial is the official script's best-epoch figure)",
        "env": env or {},
        "trials": trials,
    }


def evaluate_pretrained(
    source: Path,
    scale: str | None = None,
    data: Path | None = None,
    seed: int = 0,
    trials: int = 1,
    out_dir: Path | None = None,
    device: str = "auto",
    overwrite: bool = False,
    workers: int | None = None,
    show_progress: bool = True,
    trust: bool = False,
) -> tuple[dict[str, Any], Path]:
    """`mocobench linear`: the protocol at the run's scale (or `scale`) on the run's data (or `data`)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise UsageError("linear evaluation runs in one process; run mocobench linear without torchrun")
    if trials < 1:
        raise UsageError(f"--trials must be at least 1, not {trials}")
    pretrained = load_pretrained(source, trust)
    config = pretrained.run_config or {}
    scale = scale or config.get("scale") or "paper"
    protocol = resolve_linear(scale, workers)
    if data is None and config.get("data") and Path(config["data"]).is_dir():
        data = Path(config["data"])  # the run's own training data (its val split holds the labels to score)
    root = resolve_data(data)
    dev = resolve_device(device)
    out_dir = Path(out_dir) if out_dir else results_dir(pretrained, scale)
    env = environment(dev, 1, None)
    result = run_linear(pretrained, protocol, out_dir, root, seed, trials, dev, overwrite, show_progress, env)
    return result, out_dir / RESULT
