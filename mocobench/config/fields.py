"""Every pre-training setting, with its type and the official MoCo default.

Names follow the official MoCo flags (`--moco-k` -> `moco_k`, ...), so a config reads like the official
command line. A recipe file sets these keys; `--set key=value` overrides them; nothing else exists.
"""

from __future__ import annotations

import difflib
from typing import Any

from mocobench.augment.spec import KINDS
from mocobench.errors import UsageError

OPTIMIZERS = ("sgd", "lars")
INITS = ("torchvision", "simclr")  # the ResNet initialisations of models/encoders.py::encoder_builder

# key -> (type, default, help). Defaults are the official main_moco.py defaults (MoCo v1, PAPER.md).
FIELDS: dict[str, tuple[type, Any, str]] = {
    "mechanism": (
        str,
        "moco",
        "the method: a module of mocobench/methods/ (moco, end-to-end, simclr, supervised)",
    ),
    "arch": (str, "resnet50", "torchvision ResNet constructor name"),
    "stem": (
        str,
        "imagenet",
        "ResNet stem: imagenet (7x7 stride-2 conv + max-pool) | cifar (3x3 stride-1 conv, no max-pool: "
        "small images, as the official MoCo CIFAR-10 demo)",
    ),
    "init": (
        str,
        "torchvision",
        "ResNet initialisation: torchvision (convs Kaiming fan-out, gain 2) | simclr (SimCLR v1's: convs TF1 "
        "variance scaling, fan-in truncated normal; each residual block's last BN gamma 0; mechanism simclr)",
    ),
    "epochs": (int, 200, "training epochs"),
    "batch_size": (int, 256, "global batch (all processes together)"),
    "lr": (float, 0.03, "base learning rate for this global batch"),
    "momentum": (float, 0.9, "SGD momentum"),
    "weight_decay": (float, 1e-4, "weight decay"),
    "optimizer": (str, "sgd", "sgd | lars (SimCLR)"),
    "cos": (bool, False, "cosine schedule per epoch instead of steps"),
    "schedule": (list, [120, 160], "epochs at which a step schedule multiplies lr by 0.1"),
    "warmup_epochs": (float, 0.0, "linear warm-up (SimCLR only; MoCo has none)"),
    "lr_per_step": (bool, False, "update lr every step (SimCLR) instead of every epoch (MoCo)"),
    "mlp": (bool, False, "2-layer MLP projection head (MoCo v2)"),
    "augmentation": (str, "moco_v1", " | ".join(KINDS)),
    "blur_sigma": (list, [0.1, 2.0], "Gaussian blur sigma range in pixels of a 224-px image"),
    "moco_dim": (int, 128, "feature dimension"),
    "moco_k": (int, 65536, "queue size (negative keys)"),
    "moco_k_fraction": (
        float,
        0.0,
        "when > 0, K is this fraction of the training images, a multiple of the batch (a tier's rule: "
        "ImageNet's 65536 / 1.28M = 0.0512); --set moco_k turns it off",
    ),
    "moco_m": (float, 0.999, "momentum of the key encoder"),
    "moco_t": (float, 0.07, "softmax temperature (also the end-to-end NT-Xent temperature)"),
    "image_size": (int, 224, "crop size in pixels"),
    "mean": (list, [], "normalisation mean (RGB); empty: the dataset's (ImageNet's for folders)"),
    "std": (list, [], "normalisation std (RGB); empty: the dataset's (ImageNet's for folders)"),
    "bn_group": (
        int,
        32,
        "images per BatchNorm group in shuffle BN (the paper's 256 over 8 GPUs); groups per process: "
        "per-process batch / bn_group",
    ),
    "sync_bn": (bool, False, "synchronised (global) BatchNorm across processes (SimCLR)"),
    "num_classes": (int, 1000, "classes of the supervised recipe (set from the data)"),
    "max_images_per_class": (int, 0, "use at most this many training images per class (0: all)"),
    "embedded_per_class": (
        int,
        0,
        "training images per class of the embedded dataset (0: its default, 800); a tier grows it so its "
        "largest batch still takes enough steps an epoch",
    ),
    "workers": (int, 2, "data loader worker processes"),
    "knn_every": (int, 10, "epochs between kNN evaluations (0: only at the end)"),
    "knn_k": (int, 200, "neighbours of the weighted kNN monitor"),
    "knn_t": (float, 0.1, "temperature of the weighted kNN monitor"),
    "knn_on": (
        str,
        "backbone",
        "features of the kNN monitor: backbone (pooled, what linear evaluation reads) | output (the "
        "encoder's moco_dim output, as the official CIFAR-10 demo scores it)",
    ),
    "linear_protocol": (str, "linear", "the linear protocol scoring this row: recipes/<name>.toml"),
    "save_every": (int, 10, "epochs between kept checkpoints (checkpoint_last is written every epoch)"),
}

# Keys each paper row is *about*: a scale must never change them (PAPER.md Tables 1 and 2).
ROW_KNOBS = ("mechanism", "mlp", "augmentation", "cos", "moco_t", "optimizer", "sync_bn", "init")


def coerce(key: str, value: Any) -> Any:
    """Convert `value` (from TOML or a `--set` string) to the field's type; raise ValueError if it cannot."""
    typ = FIELDS[key][0]
    if typ is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{key} takes true or false, not {value!r}")
    if typ is list:
        if isinstance(value, str):
            text = value.strip().strip("[]")
            value = [
                float(x) if "." in x or "e" in x.lower() else int(x) for x in text.split(",") if x.strip()
            ]
        if not isinstance(value, list | tuple):
            raise ValueError(f"{key} takes a list like 120,160, not {value!r}")
        return list(value)
    if typ is int:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{key} takes a whole number, not {value!r}")
        return int(float(value)) if isinstance(value, str) else int(value)
    if typ is float:
        return float(value)
    return str(value)


def check_keys(keys: Any, where: str) -> None:
    for key in keys:
        if key not in FIELDS:
            raise UsageError(f"{where}: unknown setting {key!r}{suggest(key, FIELDS)}")


def suggest(name: str, choices: Any) -> str:
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    return f"; did you mean {', '.join(close)}?" if close else ""
