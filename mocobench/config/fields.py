"""Every pre-training setting: its type, the official MoCo default, and the values it may take.

Names follow the official MoCo flags (`--moco-k` -> `moco_k`, ...), so a config reads like the official
command line. A recipe file sets these keys; a tier (scales.toml) shrinks them; `--set key=value` overrides
them; nothing else exists. All three go through `coerce`, the one place a value is typed and checked, so a
bad value is refused in one line (a UsageError, exit 2) before anything is written, never as a traceback
or an out-of-memory kill later. Checks between fields are `recipes.py::validate`'s; a method's own checks
are `methods/`'s.
"""

from __future__ import annotations

import difflib
import math
import operator
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, ClassVar, NamedTuple

from mocobench.augment.spec import KINDS
from mocobench.errors import UsageError

OPTIMIZERS = ("sgd", "lars")
INITS = ("torchvision", "simclr")  # the ResNet initialisations of models/encoders.py::encoder_builder
# the encoders models/encoders.py builds (a layer above, which imports these)
ARCHS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "wide_resnet50_2", "resnext50_32x4d")
STEMS = ("imagenet", "cifar")
KNN_FEATURES = ("backbone", "output")
# image_size: below 8 px the ImageNet stem's 32x downsampling leaves 1x1 maps from layer2 on (nothing left
# to learn from; the CIFAR stem's smallest tier is 32 px); above 1024 px (21x the paper's 224 px in pixels)
# no row or tier goes, and a ResNet-50 needs several GiB an image. `run/memory.py` judges what fits a device.
IMAGE_SIZES = (8, 1024)
IMAGE_SIZES_WHY = (
    "pixels a side: the paper's 224, the small tiers' 32; what fits a device is judged at launch"
)


class BadValue(UsageError, ValueError):
    """A value a field cannot take: a UsageError (one line, exit 2) that callers may prefix with where the
    value came from (`--set key=value`, a recipe file, a tier)."""


def shown(value: Any) -> str:
    """A value as the user wrote it: a `--set` number or TOML number bare, true/false as TOML, text quoted."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return repr(value)
        return value.strip()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(shown(v) for v in value) + "]"
    return str(value)


@dataclass(frozen=True)
class Whole:
    """A whole number in [lo, hi]: 2.0 is 2, but 2.5, true and nan are refused (never rounded)."""

    kind: ClassVar[type] = int
    lo: int = 0
    hi: int | None = None
    unit: str = ""  # "epochs": "epochs must be a whole number of epochs, not 2.5"

    hint: str = ""  # why the range, or what its ends mean, for the user

    def check(self, key: str, value: Any) -> int:
        try:
            number = _number(key, value)
        except BadValue:
            number = math.nan
        if not (math.isfinite(number) and float(number).is_integer()):
            unit = f" of {self.unit}" if self.unit else ""
            raise BadValue(f"{key} must be a whole number{unit}, not {shown(value)}")
        whole = int(number)
        if whole < self.lo or (self.hi is not None and whole > self.hi):
            hint = f" ({self.hint})" if self.hint else ""
            raise BadValue(f"{key} must be {self.requirement()}, not {shown(value)}{hint}")
        return whole

    def requirement(self) -> str:
        if self.hi is None:
            return f"at least {self.lo}"
        return f"in [{self.lo}, {self.hi}]"


@dataclass(frozen=True)
class Real:
    """A finite number (nan and inf are refused) above `lo` (or at least it, `lo_open=False`) and below
    `hi` (or at most it, `hi_open=False`)."""

    kind: ClassVar[type] = float
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def check(self, key: str, value: Any) -> float:
        number = float(_number(key, value))
        if not math.isfinite(number):
            raise BadValue(f"{key} must be a finite number, not {shown(value)}")
        low = self.lo is not None and (number <= self.lo if self.lo_open else number < self.lo)
        high = self.hi is not None and (number >= self.hi if self.hi_open else number > self.hi)
        if low or high:
            raise BadValue(f"{key} must be {self.requirement()}, not {shown(value)}")
        return number

    def requirement(self) -> str:
        if self.hi is None:
            if self.lo is None:
                return "a finite number"
            if self.lo == 0 and self.lo_open:
                return "positive"
            return f"{'above' if self.lo_open else 'at least'} {self.lo:g}"
        left = "(" if self.lo_open else "["
        right = ")" if self.hi_open else "]"
        return f"in {left}{self.lo:g}, {self.hi:g}{right}"


def _number(key: str, value: Any) -> float | int:
    """`value` as a number: TOML's int or float, or a `--set` text; true/false and other text refused."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadValue(f"{key} must be a number, not {shown(value)}")
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise BadValue(f"{key} must be a number, not {shown(value)}") from None
    return value


@dataclass(frozen=True)
class Numbers:
    """A list of numbers, each as `item` checks it, of one of `lengths` (None: any), ascending as
    `order` asks ("" none, "<=" non-decreasing, "<" increasing). `shape` says all of it to the user."""

    kind: ClassVar[type] = list
    item: Whole | Real
    shape: str
    lengths: tuple[int, ...] | None = None
    order: str = ""

    def check(self, key: str, value: Any) -> list[Any]:
        items = value
        if isinstance(value, str):  # --set schedule=120,160 (or [120,160]); --set mean= is the empty list
            items = [x.strip() for x in value.strip().strip("[]").split(",") if x.strip()]
        refusal = BadValue(
            f"{key} must be {self.shape}, not {value.strip() if isinstance(value, str) else shown(value)}"
        )
        if not isinstance(items, list | tuple):
            raise refusal
        try:
            out = [self.item.check(key, x) for x in items]
        except BadValue:
            raise refusal from None
        ascending = {"": lambda a, b: True, "<": operator.lt, "<=": operator.le}[self.order]
        unordered = not all(ascending(a, b) for a, b in pairwise(out))
        if (self.lengths is not None and len(out) not in self.lengths) or unordered:
            raise refusal
        return out


@dataclass(frozen=True)
class Choice:
    """One of `options`; no options: any text (a method's own registry checks it, `methods/`)."""

    kind: ClassVar[type] = str
    options: tuple[str, ...] = ()

    def check(self, key: str, value: Any) -> str:
        if not isinstance(value, str) or (self.options and value not in self.options):
            need = f"one of {', '.join(self.options)}" if self.options else "a name"
            raise BadValue(f"{key} must be {need}, not {value!r}")
        return value


@dataclass(frozen=True)
class Flag:
    """true or false; from `--set` also 1/0, yes/no, on/off."""

    kind: ClassVar[type] = bool

    def check(self, key: str, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise BadValue(f"{key} takes true or false, not {value!r}")


Rule = Whole | Real | Numbers | Choice | Flag


class Field(NamedTuple):
    """One setting: `FIELDS[key][0]` its type, `[1]` its default, `[2]` its help, `[3]` its values."""

    type: type
    default: Any
    help: str
    rule: Rule


def field(default: Any, help: str, rule: Rule) -> Field:
    return Field(rule.kind, default, help, rule)


# key -> Field(type, default, help, values). Defaults are the official main_moco.py defaults (MoCo v1,
# PAPER.md).
FIELDS: dict[str, Field] = {
    "mechanism": field(
        "moco",
        "the method: the name of a module of mocobench/methods/ (mocobench recipes lists each row's)",
        Choice(),  # the registry (methods/__init__.py) names the choices, a layer above config
    ),
    "arch": field("resnet50", "torchvision ResNet constructor name", Choice(ARCHS)),
    "stem": field(
        "imagenet",
        "ResNet stem: imagenet (7x7 stride-2 conv + max-pool) | cifar (3x3 stride-1 conv, no max-pool: "
        "small images, as the official MoCo CIFAR-10 demo)",
        Choice(STEMS),
    ),
    "init": field(
        "torchvision",
        "ResNet initialisation: torchvision (convs Kaiming fan-out, gain 2) | simclr (SimCLR v1's: convs TF1 "
        "variance scaling, fan-in truncated normal; each residual block's last BN gamma 0; mechanism simclr)",
        Choice(INITS),
    ),
    "epochs": field(200, "training epochs", Whole(1, unit="epochs")),
    "batch_size": field(256, "global batch (all processes together)", Whole(1, unit="images")),
    "lr": field(0.03, "base learning rate for this global batch", Real(0, lo_open=True)),
    "momentum": field(0.9, "SGD momentum", Real(0, 1, hi_open=True)),  # 1 never forgets: no descent
    "weight_decay": field(1e-4, "weight decay", Real(0)),
    "optimizer": field("sgd", "sgd | lars (SimCLR)", Choice(OPTIMIZERS)),
    "cos": field(False, "cosine schedule per epoch instead of steps", Flag()),
    "schedule": field(
        [120, 160],
        "epochs at which a step schedule multiplies lr by 0.1",
        # in order; a tier's short run may merge two (runtime/schedule.py::scale_milestones keeps a
        # milestone's fraction of training: 120,160 of 200 is 1,1 of 2); a repeat applies 0.1 twice
        Numbers(
            Whole(0),
            "increasing whole epochs like 120,160 (or empty; a repeat applies 0.1 twice)",
            order="<=",
        ),
    ),
    "warmup_epochs": field(0.0, "linear warm-up (SimCLR only; MoCo has none)", Real(0)),  # < epochs: validate
    "lr_per_step": field(False, "update lr every step (SimCLR) instead of every epoch (MoCo)", Flag()),
    "mlp": field(False, "2-layer MLP projection head (MoCo v2)", Flag()),
    "augmentation": field("moco_v1", " | ".join(KINDS), Choice(KINDS)),
    "blur_sigma": field(
        [0.1, 2.0],
        "Gaussian blur sigma range in pixels of a 224-px image",
        # augment/device.py draws sigma ~ U[lo, hi] and refuses anything but 0 <= lo <= hi
        Numbers(Real(0), "two sigmas lo,hi in pixels with 0 <= lo <= hi, like 0.1,2.0", (2,), "<="),
    ),
    "moco_dim": field(128, "feature dimension", Whole(1)),
    "moco_k": field(65536, "queue size (negative keys)", Whole(1)),
    "moco_k_fraction": field(
        0.0,
        "when > 0, K is this fraction of the training images, a multiple of the batch (a tier's rule: "
        "ImageNet's 65536 / 1.28M = 0.0512); --set moco_k turns it off",
        Real(0, 1),
    ),
    "moco_m": field(0.999, "momentum of the key encoder", Real(0, 1, hi_open=True)),  # 1: never updated
    "moco_t": field(
        0.07, "softmax temperature (also the end-to-end NT-Xent temperature)", Real(0, lo_open=True)
    ),
    "image_size": field(224, "crop size in pixels", Whole(*IMAGE_SIZES, "pixels", IMAGE_SIZES_WHY)),
    "mean": field(
        [],
        "normalisation mean (RGB); empty: the dataset's (ImageNet's for folders)",
        # of pixel values in [0, 1] (augment/spec.py normalises after ToTensor), so 0.485, not 123.7
        Numbers(Real(0, 1), "empty or three values in [0, 1] (RGB), like 0.485,0.456,0.406", (0, 3)),
    ),
    "std": field(
        [],
        "normalisation std (RGB); empty: the dataset's (ImageNet's for folders)",
        Numbers(
            Real(0, 1, lo_open=True), "empty or three values in (0, 1] (RGB), like 0.229,0.224,0.225", (0, 3)
        ),
    ),
    "bn_group": field(
        32,
        "images per BatchNorm group in shuffle BN (the paper's 256 over 8 GPUs); groups per process: "
        "per-process batch / bn_group",
        Whole(1, unit="images"),
    ),
    "sync_bn": field(False, "synchronised (global) BatchNorm across processes (SimCLR)", Flag()),
    "num_classes": field(1000, "classes of the supervised recipe (set from the data)", Whole(1)),
    "max_images_per_class": field(
        0, "use at most this many training images per class (0: all)", Whole(0, unit="images")
    ),
    "embedded_per_class": field(
        0,
        "training images per class of the embedded dataset (0: its default, 800); a tier grows it so its "
        "largest batch still takes enough steps an epoch",
        Whole(0, unit="images"),
    ),
    "workers": field(
        2,
        "data loader worker processes",
        Whole(0, unit="processes", hint="data loader processes; 0 loads in the main process"),
    ),
    "knn_every": field(10, "epochs between kNN evaluations (0: only at the end)", Whole(0, unit="epochs")),
    "knn_k": field(200, "neighbours of the weighted kNN monitor", Whole(1, unit="neighbours")),
    "knn_t": field(0.1, "temperature of the weighted kNN monitor", Real(0, lo_open=True)),
    "knn_on": field(
        "backbone",
        "features of the kNN monitor: backbone (pooled, what linear evaluation reads) | output (the "
        "encoder's moco_dim output, as the official CIFAR-10 demo scores it)",
        Choice(KNN_FEATURES),
    ),
    "linear_protocol": field(
        "linear", "the linear protocol scoring this row: recipes/<name>.toml", Choice()
    ),  # a file's name: recipes.py::validate checks it is one
    "save_every": field(
        10,
        "epochs between kept checkpoints (checkpoint_last is written every epoch; 0: none kept)",
        Whole(0, unit="epochs"),
    ),
}

# Keys each paper row is *about*: a scale must never change them (PAPER.md Tables 1 and 2).
ROW_KNOBS = ("mechanism", "mlp", "augmentation", "cos", "moco_t", "optimizer", "sync_bn", "init")


def coerce(key: str, value: Any) -> Any:
    """`value` (from TOML or a `--set` string) as the field's type, checked against the values it may take;
    a BadValue (a UsageError and a ValueError) naming the key, the value and what it must be if not."""
    return FIELDS[key].rule.check(key, value)


def check_keys(keys: Any, where: str) -> None:
    for key in keys:
        if key not in FIELDS:
            raise UsageError(f"{where}: unknown setting {key!r}{suggest(key, FIELDS)}")


def suggest(name: str, choices: Any) -> str:
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    return f"; did you mean {', '.join(close)}?" if close else ""
