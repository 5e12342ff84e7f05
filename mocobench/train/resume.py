"""Resuming a pre-training run: whether `--out` may take the run (new, or the same config resumed), and the
metrics of the epochs its last checkpoint committed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mocobench.config.settings import GROUP_OF, RunConfig
from mocobench.errors import UsageError
from mocobench.results import layout
from mocobench.results.run_config import read_config
from mocobench.runtime import checkpoint


def committed_records(ckpt: dict[str, Any] | None, path: Path, upto_epoch: int) -> list[dict[str, Any]]:
    """The metrics of a resumed run's committed epochs: those its checkpoint carries (the commit point,
    see `pretrain`), or for a checkpoint written before it carried them, metrics.jsonl up to its epoch."""
    carried = (ckpt or {}).get("mocobench", {}).get("metrics")
    if isinstance(carried, list):
        return [dict(r) for r in carried]
    records = layout.read_metrics(path, skip_bad=True) if path.is_file() else []
    return [r for r in records if isinstance(r.get("epoch"), int) and r["epoch"] <= upto_epoch]


# settings that do not shape the training: a resumed run may change them
FREE = {"workers", "knn_every", "save_every", "linear_protocol"}


def _check_resumable(run_dir: Path, config: RunConfig) -> None:
    """The run folder's config (read as `results/run_config.py` translates an older one: a setting added
    after the run started reads as its default, as the run trained with it) is `config`, but for FREE."""
    saved = read_config(run_dir, "resume needs the run's own config.json: restore it, or use another --out")
    now, then = config.flat(), saved.flat()
    diff = [k for k in now if GROUP_OF.get(k, "ran") != "ran" and k not in FREE and then[k] != now[k]]
    if diff:
        k = diff[0]
        raise UsageError(
            f"{run_dir} was started with {k}={then[k]!r}, not {now[k]!r}; "
            "resume with the same recipe, scale and --set, or use another --out"
        )


def check_run_dir(run_dir: Path, config: RunConfig, resume: bool) -> None:
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
