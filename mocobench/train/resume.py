"""Resuming a pre-training run: whether `--out` may take the run (new, or the same config resumed), and the
metrics of the epochs its last checkpoint committed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mocobench.augment.spec import IMAGENET_MEAN, IMAGENET_STD
from mocobench.config.fields import FIELDS
from mocobench.errors import UsageError
from mocobench.results import layout
from mocobench.runtime import checkpoint


def committed_records(ckpt: dict[str, Any] | None, path: Path, upto_epoch: int) -> list[dict[str, Any]]:
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
