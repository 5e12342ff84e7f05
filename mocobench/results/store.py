"""The result store: every run folder under a runs directory, read into two pandas DataFrames.

Layout (`layout.py`): each pre-training run is a folder with `config.json`, `env.json`, `metrics.jsonl`,
checkpoints and, once finished, `summary.json`; its evaluations are written beside them (`linear.json` or
another linear protocol's `<name>.json`, `voc.json`). Folders are found by content, not by name or
timestamp, so runs moved or written with `--out` anywhere under the runs directory count the same. Results
of checkpoints that are not runs (official releases in `<scale>/external/`, random initialisation in
`<scale>/random-init/`) appear in `results` only.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mocobench.config.fields import BadValue
from mocobench.config.scales import current_scale
from mocobench.errors import UsageError
from mocobench.results import layout
from mocobench.results.run_config import translated
from mocobench.runtime import lock

RUN_COLUMNS = (
    "run_dir",
    "recipe",
    "scale",
    "seed",
    "arch",
    "image_size",
    "mechanism",
    "epochs",
    "batch_size",
    "finished",
    "epochs_done",
    "knn_top1",
    "knn_top1_init",
    "pretrain_seconds",
    "images_per_s",
    "device",
    "device_type",
    "world_size",
    "commit",
    "data",
    "num_classes",  # classes of the run's data (config.json's data_classes; NaN for runs before it)
    "pipeline",  # config.json's record of the input pipeline and precision, as sorted JSON
    "best_knn",  # the highest kNN top-1 of any trained epoch (knn_top1 is the last one)
    "linear_protocol",  # the protocol the run's recipe is scored with (config.json; "linear" before it)
    "status",  # finished | running (a live run.lock) | interrupted (no summary, no live lock): STATUSES
)
STATUSES = ("finished", "running", "interrupted")
RESULT_COLUMNS = (
    "run_dir",
    "kind",
    "protocol",  # the linear protocol that scored it (linear, linear-simclr); "voc" for detection
    "trial",
    "seed",
    "metric",
    "value",
    "scale",
    "device",
    "seconds",
)
# Result files and the metrics they contribute (kind -> file pattern, metrics): every linear protocol's
# <name>.json (`layout.linear_result`), and voc.json.
RESULT_FILES = {
    "linear": (layout.linear_result("linear*"), ("top1", "top5")),
    "voc": (layout.VOC, ("AP", "AP50", "AP75")),
}


def _scale(name: Any) -> str:
    """A run or result file that says "mini" is read as "cpu" (`config.scales.ALIASES`): same settings."""
    return current_scale(str(name))


UNREADABLE_COLUMNS = ("run_dir", "reason")


@dataclass
class Store:
    runs: pd.DataFrame
    results: pd.DataFrame
    # Folders of ours that could not be read (a hand-edited or damaged file), each with its reason: listed
    # by `mocobench runs`, left out of every table, never the end of the listing.
    unreadable: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(UNREADABLE_COLUMNS)))

    def run(self, run_dir: str) -> pd.Series:
        return self.runs[self.runs.run_dir == run_dir].iloc[0]


class Unreadable(Exception):
    """A run or result file that is ours but does not hold what it must: the reason, for the listing."""


def _json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # a folder being written by another process, or not ours: skipped, not fatal


def _object(path: Path) -> dict[str, Any]:
    """A JSON object file that must be one: {} when absent, Unreadable when it is something else."""
    if not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise Unreadable(f"{path.name} is not JSON ({type(e).__name__})") from e
    if not isinstance(value, dict):
        raise Unreadable(f"{path.name} holds a {type(value).__name__}, not a JSON object")
    return value


def _typed(record: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any, where: str) -> Any:
    """`record[key]` if it is a `kind` (bool is no number), `default` when absent or null, else Unreadable."""
    value = record.get(key)
    if value is None:
        return default
    numeric = kind in (int, float) or kind == (int, float)
    if not isinstance(value, kind) or (numeric and isinstance(value, bool)):
        raise Unreadable(f"{where} has {key} {value!r}, not {_kind_name(kind)}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true/false", dict: "an object"}
    return " or ".join(names.get(k, k.__name__) for k in (kind if isinstance(kind, tuple) else (kind,)))


def _nan(x: Any) -> float:
    return math.nan if x is None else float(x)


def status(run_dir: Path, finished: bool) -> str:
    """`finished` (summary.json says so), `running` (run.lock is held) or `interrupted`."""
    if finished:
        return "finished"
    return "running" if lock.is_live(Path(run_dir) / layout.LOCK) else "interrupted"


def run_files(run_dir: Path) -> dict[str, Any]:
    """A run folder's own records as they are on disk: config.json, env.json, summary.json (`{}` when absent
    or unreadable), and the lock (None when there is none), for `mocobench runs show`."""
    run_dir = Path(run_dir)
    return {
        "config": _json(run_dir / layout.CONFIG) or {},
        "env": _json(run_dir / layout.ENV) or {},
        "summary": _json(run_dir / layout.SUMMARY) or {},
        "lock": lock.read(run_dir / layout.LOCK),
    }


def committed_records(run_dir: Path, finished: bool) -> list[dict[str, Any]]:
    """The metrics of the epochs a run has committed (train/pretrain.py: its checkpoint is the commit point).

    metrics.jsonl is appended just after each checkpoint; while it is no newer than checkpoint_last (a kill
    fell between the two), the records come from the checkpoint, so the listing, the checkpoint and a
    `--resume` always agree on the epoch. Only then is the checkpoint opened (memory-mapped).
    """
    from mocobench.runtime import checkpoint  # torch: imported only for a run that needs it

    metrics, last = run_dir / layout.METRICS, run_dir / checkpoint.LAST
    try:
        records = layout.read_metrics(metrics) if metrics.is_file() else []
    except UsageError as e:
        raise Unreadable(str(e).split("; ")[0].replace(f"{run_dir}/", "")) from e
    if finished or not last.is_file():
        return records
    if metrics.is_file() and metrics.stat().st_mtime_ns > last.stat().st_mtime_ns:
        return records
    try:
        epoch, carried = checkpoint.committed(last)
    except UsageError as e:
        raise Unreadable(f"{last.name} is unreadable") from e
    if carried is None:  # a checkpoint that predates carried records: metrics.jsonl up to its epoch
        return [r for r in records if r["epoch"] <= epoch]
    return [r for r in carried if layout.metrics_problem(r) is None]


def read_run(run_dir: Path) -> dict[str, Any] | None:
    """One run's row, None for a folder that is not a run, Unreadable (with its reason) for a damaged one."""
    saved = _json(run_dir / layout.CONFIG)
    if not isinstance(saved, dict) or "recipe" not in saved:
        return None
    try:
        config = translated(saved)  # typed, an older run's names and keys as today's
    except BadValue as e:
        raise Unreadable(f"{layout.CONFIG}: {e}") from e
    m, o, d, ran = config.method, config.optim, config.data, config.ran
    env = _object(run_dir / layout.ENV)
    summary = _object(run_dir / layout.SUMMARY)
    finished = bool(_typed(summary, "finished", bool, False, layout.SUMMARY))
    records = committed_records(run_dir, finished)
    trained = [r for r in records if r["epoch"] > 0 and "loss" in r]
    knn = [r for r in trained if r.get("knn_top1") is not None]
    init = [r for r in records if r["epoch"] == 0 and r.get("knn_top1") is not None]
    speeds = [r["images_per_s"] for r in trained if r.get("images_per_s") is not None]
    return {
        "run_dir": str(run_dir),
        "recipe": config.run.recipe,
        "scale": config.run.scale,
        "seed": config.run.seed,
        "arch": m.arch,
        "image_size": d.image_size,
        "mechanism": m.mechanism,
        "epochs": o.epochs,
        "batch_size": o.batch_size,
        "finished": finished,
        "epochs_done": max((r["epoch"] for r in trained), default=0),
        "knn_top1": _nan(knn[-1]["knn_top1"]) if knn else math.nan,
        "knn_top1_init": _nan(init[0]["knn_top1"]) if init else math.nan,
        "pretrain_seconds": float(sum(r.get("epoch_seconds") or 0.0 for r in trained)),
        "images_per_s": (sum(speeds) / len(speeds)) if speeds else math.nan,
        "device": _typed(env, "device", str, "", layout.ENV),
        "device_type": _typed(env, "device_type", str, "", layout.ENV),
        "world_size": _typed(env, "world_size", int, 1, layout.ENV),
        "commit": str((_typed(env, "git", dict, {}, layout.ENV)).get("commit") or ""),
        "data": ran.data,
        "num_classes": float(ran.data_classes or math.nan),
        "pipeline": json.dumps(dict(ran.pipeline), sort_keys=True),
        "best_knn": max((_nan(r["knn_top1"]) for r in knn), default=math.nan),
        "linear_protocol": config.run.linear_protocol or "linear",
        "status": status(run_dir, finished),
    }


def read_results(folder: Path) -> list[dict[str, Any]]:
    """The trial rows of every result file in `folder`; Unreadable names the first file that is damaged."""
    rows = []
    for kind, (pattern, metrics) in RESULT_FILES.items():
        for path in sorted(folder.glob(pattern)):
            rows.extend(_result_rows(folder, kind, path, metrics))
    return rows


def _result_rows(folder: Path, kind: str, path: Path, metrics: tuple[str, ...]) -> list[dict[str, Any]]:
    result = _object(path)
    trials = result.get("trials")
    if not isinstance(trials, list):
        raise Unreadable(f"{path.name} has no list of trials")
    protocol = path.stem if kind == "linear" else kind
    scale = _scale(_typed(result, "scale", str, "", path.name))
    rows = []
    for i, trial in enumerate(trials):
        where = f"{path.name} trial {i}"
        if not isinstance(trial, dict):
            raise Unreadable(f"{where} is a {type(trial).__name__}, not a JSON object")
        number = _typed(trial, "trial", int, None, where)
        if number is None:
            raise Unreadable(f"{where} has no trial number")
        for metric in metrics:
            value = _typed(trial, metric, (int, float), None, where)
            if value is None:
                continue
            rows.append(
                {
                    "run_dir": str(folder),
                    "kind": kind,
                    "protocol": protocol,
                    "trial": number,
                    "seed": _typed(trial, "seed", int, 0, where),
                    "metric": metric,
                    "value": float(value),
                    "scale": scale,
                    "device": _typed(trial, "device", str, "", where),
                    "seconds": float(_typed(trial, "seconds", (int, float), math.nan, where)),
                }
            )
    return rows


def collect(runs_dir: Path) -> Store:
    """Every run and result under `runs_dir`, sorted by path (the frames never depend on file order).

    A damaged folder of ours (a config, metrics line, lock or result file that does not hold what it must)
    goes to `Store.unreadable` with its reason; everything else is still read.
    """
    runs_dir = Path(runs_dir)
    runs, results, unreadable = [], [], []
    folders = set()
    if runs_dir.is_dir():
        for name in (layout.CONFIG, *(f for f, _ in RESULT_FILES.values())):
            folders.update(p.parent for p in runs_dir.rglob(name))
    for folder in sorted(folders):
        for read, into in ((read_run, runs), (read_results, results)):
            try:
                value = read(folder)
            except Unreadable as e:
                unreadable.append({"run_dir": str(folder), "reason": str(e)})
                continue
            if isinstance(value, list):
                into.extend(value)
            elif value is not None:
                into.append(value)
    return Store(
        pd.DataFrame(runs, columns=list(RUN_COLUMNS)),
        pd.DataFrame(results, columns=list(RESULT_COLUMNS)),
        pd.DataFrame(unreadable, columns=list(UNREADABLE_COLUMNS)),
    )
