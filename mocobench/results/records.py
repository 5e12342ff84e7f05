"""Typed readers of the benchmark records: `bench step --json`, `bench loader --json` and the profile record.

A caller (the installation check, a table) reads the figures through these rather than indexing the JSON
itself, so a record that lacks a figure or holds the wrong type is one UsageError naming the file and the
key, never a KeyError somewhere later.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mocobench.errors import UsageError

NUMBER = (int, float)


def read_object(path: Path, what: str) -> dict[str, Any]:
    """`path` as a JSON object; anything else is a UsageError naming the file."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        problem = getattr(e, "msg", None) or type(e).__name__
        raise UsageError(f"{path} is not a readable {what} ({problem}); run the command again") from e
    if not isinstance(value, dict):
        raise UsageError(f"{path} holds a JSON {type(value).__name__}, not a {what}; run the command again")
    return value


def typed(record: Any, key: str, kind: type | tuple[type, ...], where: str, optional: bool = False) -> Any:
    """`record[key]` if it is a `kind` (a bool is no number); None when absent and `optional`."""
    value = record.get(key) if isinstance(record, dict) else None
    if value is None and optional:
        return None
    numeric = kind is int or kind is float or kind == NUMBER
    if value is None or not isinstance(value, kind) or (numeric and isinstance(value, bool)):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise UsageError(f"{where} has {key} {value!r}, not {names}; run the command again")
    return value


@dataclass(frozen=True)
class Measured:
    """One timed run of the training step (synthetic inputs or the real loader)."""

    pairs_per_s: float
    peak_bytes: float
    memory_kind: str

    @classmethod
    def read(cls, record: Any, where: str) -> Measured:
        return cls(
            typed(record, "pairs_per_s", NUMBER, where),
            typed(record, "peak_bytes", NUMBER, where),
            typed(record, "memory_kind", str, where),
        )


@dataclass(frozen=True)
class StepRecord:
    """`bench step --json`: the step's sizes, synthetic and (when it ran) loader figures, the loss check."""

    step_options: str
    arch: str
    image_size: int
    batch: int
    synthetic: Measured
    loss_check: dict[str, Any] | None
    loader: Measured | None
    pipeline: dict[str, Any]  # the loader that ran (its `describe()`); {} without one
    loader_over_synthetic: float | None


def read_step_record(path: Path) -> StepRecord:
    r = read_object(path, "bench step record")
    where = str(path)
    loader = r.get("loader")
    return StepRecord(
        step_options=typed(r, "step_options", str, where),
        arch=typed(r, "arch", str, where),
        image_size=typed(r, "image_size", int, where),
        batch=typed(r, "batch", int, where),
        synthetic=Measured.read(typed(r, "synthetic", dict, where), f"{where}: synthetic"),
        loss_check=typed(r, "loss_check", dict, where, optional=True),
        loader=None if loader is None else Measured.read(typed(r, "loader", dict, where), f"{where}: loader"),
        pipeline=typed(r, "pipeline", dict, where) if loader is not None else {},
        loader_over_synthetic=typed(r, "loader_over_synthetic", NUMBER, where, optional=loader is None),
    )


@dataclass(frozen=True)
class LoaderRun:
    """One loader of `bench loader`: its speed and ratio to the reference, or why it was skipped."""

    pairs_per_s: float | None
    ratio_to_reference: float | None
    augment_on: str | None
    skipped: str | None

    def figures(self) -> dict[str, Any]:
        """The fields it has (a skipped loader has no speed)."""
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class LoaderRecord:
    """`bench loader --json`: the sizes it ran at and each loader's run."""

    images: int
    workers: int
    batch: int
    image_size: int
    loaders: dict[str, LoaderRun]


def read_loader_record(path: Path) -> LoaderRecord:
    r = read_object(path, "bench loader record")
    where = str(path)
    loaders = {}
    for kind, run in typed(r, "loaders", dict, where).items():
        at = f"{where}: loaders.{kind}"
        if not isinstance(run, dict):
            raise UsageError(f"{at} holds {run!r}, not an object; run the command again")
        loaders[kind] = LoaderRun(
            pairs_per_s=typed(run, "pairs_per_s", NUMBER, at, optional="skipped" in run),
            ratio_to_reference=typed(run, "ratio_to_reference", NUMBER, at, optional=True),
            augment_on=typed(run, "augment_on", str, at, optional=True),
            skipped=typed(run, "skipped", str, at, optional=True),
        )
    return LoaderRecord(
        images=typed(r, "images", int, where),
        workers=typed(r, "workers", int, where),
        batch=typed(r, "batch", int, where),
        image_size=typed(r, "image_size", int, where),
        loaders=loaders,
    )


@dataclass(frozen=True)
class ProfileRow:
    """One Table 3 configuration of the profile record, measured or (`estimated`) from the fitted lines."""

    mechanism: str
    global_batch: int
    per_gpu_batch: int
    peak_bytes: float
    seconds_per_iteration: float
    hours_200ep: float
    estimated: bool


@dataclass(frozen=True)
class ProfileRecord:
    """`mocobench profile`'s record (runs/profile/table3.json): what it measured, and Table 3's rows."""

    arch: str
    image_size: int
    step_options: str
    memory_kind: str
    rows: tuple[ProfileRow, ...]

    def row(self, mechanism: str, global_batch: int) -> ProfileRow | None:
        return next(
            (r for r in self.rows if (r.mechanism, r.global_batch) == (mechanism, global_batch)), None
        )


def read_profile_record(path: Path) -> ProfileRecord:
    r = read_object(path, "profile record")
    where = str(path)
    rows = []
    for i, row in enumerate(typed(r, "rows", list, where)):
        at = f"{where}: rows[{i}]"
        rows.append(
            ProfileRow(
                mechanism=typed(row, "mechanism", str, at),
                global_batch=typed(row, "global_batch", int, at),
                per_gpu_batch=typed(row, "per_gpu_batch", int, at),
                peak_bytes=typed(row, "peak_bytes", NUMBER, at),
                seconds_per_iteration=typed(row, "seconds_per_iteration", NUMBER, at),
                hours_200ep=typed(row, "hours_200ep", NUMBER, at),
                estimated=typed(row, "estimated", bool, at),
            )
        )
    return ProfileRecord(
        arch=typed(r, "arch", str, where),
        image_size=typed(r, "image_size", int, where),
        step_options=typed(r, "step_options", str, where),
        memory_kind=typed(r, "memory_kind", str, where),
        rows=tuple(rows),
    )
