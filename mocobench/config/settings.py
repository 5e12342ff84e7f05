"""The run config: one frozen, typed value in groups, as Detectron2's config is made once at the boundary.

`run/config.py::resolve` makes it (recipe <- tier <- `--set`, each value through `fields.coerce`, then the
checks between fields and the method's own), `run/config.py::fit_to_data` completes it once the data is
known, and every layer below the CLI takes it whole. It is saved flat as config.json (`flat()`: the official
MoCo flag names, so a config reads like the official command line) and read back through
`results/run_config.py::read_config`, the one place an old run folder is translated.

Groups: `method` (the method and its network), `optim` (optimisation and schedule), `data` (data and
views), `run` (the run's name, seed, monitor and saving) and `ran` (what ran: recorded once the data is
open, empty before).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mocobench.config.fields import FIELDS, BadValue, Whole, coerce, shown


@dataclass(frozen=True)
class MethodConfig:
    """The method (`methods/`) and its network: what a recipe's row is mostly about."""

    mechanism: str
    arch: str
    stem: str
    init: str
    mlp: bool
    moco_dim: int
    moco_k: int
    moco_k_fraction: float
    moco_m: float
    moco_t: float
    bn_group: int
    sync_bn: bool
    num_classes: int


@dataclass(frozen=True)
class OptimConfig:
    """Optimisation: the global batch, the optimizer and the lr schedule (`runtime/schedule.py`)."""

    optimizer: str
    epochs: int
    batch_size: int
    lr: float
    momentum: float
    weight_decay: float
    cos: bool
    schedule: tuple[int, ...]
    warmup_epochs: float
    lr_per_step: bool


@dataclass(frozen=True)
class DataConfig:
    """The data and its views (`augment/spec.py`): kind, crop size, blur, normalisation, loading."""

    augmentation: str
    blur_sigma: tuple[float, float]
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    max_images_per_class: int
    embedded_per_class: int
    workers: int

    @property
    def aug_plus(self) -> bool:
        """The official flag: v2's augmentation (and SimCLR's, which it follows) rather than v1's."""
        return self.augmentation in ("aug_plus", "simclr")


@dataclass(frozen=True)
class RunOptions:
    """The run: which recipe and tier, its seed, the kNN monitor, the linear protocol, checkpoints kept."""

    knn_every: int
    knn_k: int
    knn_t: float
    knn_on: str
    linear_protocol: str
    save_every: int
    recipe: str = ""
    scale: str = "paper"
    paper_rows: tuple[tuple[int, str], ...] = ()  # (table, row) of the paper
    reference: str = ""  # a published setting that is not a paper row
    seed: int = 0


@dataclass(frozen=True)
class Ran:
    """What ran, recorded once the data is open (`train/pretrain.py::start`): evaluation reads the data."""

    data: str = ""  # as passed: embedded, a folder, cifar10:PATH, ...
    data_kind: str = ""
    data_root: str = ""
    data_classes: int = 0
    pipeline: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # train/pipelines.py's record
    step_options: str = ""


GROUPS: dict[str, type] = {
    "method": MethodConfig,
    "optim": OptimConfig,
    "data": DataConfig,
    "run": RunOptions,
    "ran": Ran,
}
GROUP_OF = {f.name: group for group, cls in GROUPS.items() for f in dataclasses.fields(cls)}
DERIVED = ("aug_plus",)  # written to config.json for its readers, never read back


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise BadValue(f"{key} must be text, not {shown(value)}")
    return value


def _rows(key: str, value: Any) -> tuple[tuple[int, str], ...]:
    try:
        return tuple((int(r["table"]), str(r["row"])) for r in value)
    except (TypeError, KeyError, ValueError):
        raise BadValue(f"{key} must be a list of {{table, row}}, not {shown(value)}") from None


def _mapping(key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise BadValue(f"{key} must be a table of names, not {shown(value)}")
    return dict(value)


# the keys that are not recipe settings (fields.FIELDS): how each is typed as it is read
_OTHER = {
    "recipe": _text,
    "scale": _text,
    "reference": _text,
    "paper_rows": _rows,
    "seed": Whole(0).check,
    "data": _text,
    "data_kind": _text,
    "data_root": _text,
    "data_classes": Whole(0).check,
    "pipeline": _mapping,
    "step_options": _text,
}


def typed(key: str, value: Any) -> Any:
    """`value` as key's group keeps it (lists as tuples: the config is frozen); BadValue if it cannot be."""
    value = coerce(key, value) if key in FIELDS else _OTHER[key](key, value)
    return tuple(value) if isinstance(value, list) else value


@dataclass(frozen=True)
class RunConfig:
    """One run's settings in groups; see the module docstring for who makes and reads it."""

    method: MethodConfig
    optim: OptimConfig
    data: DataConfig
    run: RunOptions
    ran: Ran = dataclasses.field(default_factory=Ran)

    @classmethod
    def from_flat(cls, values: Mapping[str, Any]) -> RunConfig:
        """The config of flat `values` (config.json's keys), each typed and checked (`typed`); a setting
        absent is its default (`fields.FIELDS`), a key of no group (`aug_plus`, another tool's) ignored."""
        merged = {key: spec.default for key, spec in FIELDS.items()}
        merged.update({k: v for k, v in values.items() if k in GROUP_OF})
        parts: dict[str, dict[str, Any]] = {group: {} for group in GROUPS}
        for key, value in merged.items():
            parts[GROUP_OF[key]][key] = typed(key, value)
        return cls(**{group: GROUPS[group](**part) for group, part in parts.items()})

    def replace(self, **changes: Any) -> RunConfig:
        """This config with flat `changes` (`epochs=1`), each typed and checked as when read."""
        unknown = [k for k in changes if k not in GROUP_OF]
        if unknown:
            raise KeyError(f"no run setting {unknown[0]!r}")
        groups: dict[str, dict[str, Any]] = {}
        for key, value in changes.items():
            groups.setdefault(GROUP_OF[key], {})[key] = typed(key, value)
        return dataclasses.replace(
            self, **{g: dataclasses.replace(getattr(self, g), **part) for g, part in groups.items()}
        )

    def flat(self) -> dict[str, Any]:
        """config.json: every setting under its official flag name, tuples as lists (JSON)."""
        out: dict[str, Any] = {}
        for group in GROUPS:
            for f in dataclasses.fields(GROUPS[group]):
                out[f.name] = _plain(getattr(getattr(self, group), f.name))
        out["paper_rows"] = [{"table": t, "row": r} for t, r in self.run.paper_rows]
        out["aug_plus"] = self.data.aug_plus
        return out

    def settings(self) -> dict[str, Any]:
        """The recipe settings alone (`fields.FIELDS`' keys), as `--set` and recipe files name them."""
        flat = self.flat()
        return {key: flat[key] for key in FIELDS}


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return dict(value)
    return value
