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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mocobench.results import layout
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
    """A run or result file that says "mini" is read as "cpu" (`layout.RENAMED_SCALES`): same settings."""
    return layout.current_scale(str(name))


@dataclass
class Store:
    runs: pd.DataFrame
    results: pd.DataFrame

    def run(self, run_dir: str) -> pd.Series:
        return self.runs[self.runs.run_dir == run_dir].iloc[0]


def _json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None  # a folder being written by another process, or not ours: skipped, not fatal


def _nan(x: Any) -> float:
    return math.nan if x is None else float(x)


def status(run_dir: Path, finished: bool) -> str:
    """`finished` (summary.json says so), `running` (run.lock names a live process) or `interrupted`."""
    if finished:
        return "finished"
    return "running" if lock.is_live(lock.read(Path(run_dir) / layout.LOCK)) else "interrupted"


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


def read_run(run_dir: Path) -> dict[str, Any] | None:
    config = _json(run_dir / layout.CONFIG)
    if config is None or "recipe" not in config:
        return None
    env = _json(run_dir / layout.ENV) or {}
    summary = _json(run_dir / layout.SUMMARY) or {}
    metrics = run_dir / layout.METRICS
    records = layout.read_metrics(metrics, skip_bad=True) if metrics.is_file() else []
    trained = [r for r in records if r.get("epoch", 0) > 0 and "loss" in r]
    knn = [r for r in trained if "knn_top1" in r]
    init = [r for r in records if r.get("epoch") == 0 and "knn_top1" in r]
    return {
        "run_dir": str(run_dir),
        "recipe": config["recipe"],
        "scale": _scale(config.get("scale", "paper")),
        "seed": int(config.get("seed", 0)),
        "arch": config.get("arch", ""),
        "image_size": int(config.get("image_size", 0)),
        "mechanism": config.get("mechanism", ""),
        "epochs": int(config.get("epochs", 0)),
        "batch_size": int(config.get("batch_size", 0)),
        "finished": bool(summary.get("finished", False)),
        "epochs_done": max((r["epoch"] for r in trained), default=0),
        "knn_top1": _nan(knn[-1]["knn_top1"]) if knn else math.nan,
        "knn_top1_init": _nan(init[0]["knn_top1"]) if init else math.nan,
        "pretrain_seconds": float(sum(r.get("epoch_seconds", 0.0) for r in trained)),
        "images_per_s": (sum(r["images_per_s"] for r in trained) / len(trained)) if trained else math.nan,
        "device": env.get("device", ""),
        "device_type": env.get("device_type", ""),
        "world_size": int(env.get("world_size", 1)),
        "commit": (env.get("git") or {}).get("commit", "") or "",
        "data": str(config.get("data", "")),
        "num_classes": float(config.get("data_classes") or math.nan),
        "pipeline": json.dumps(config.get("pipeline") or {}, sort_keys=True),
        "best_knn": max((_nan(r["knn_top1"]) for r in knn), default=math.nan),
        "linear_protocol": str(config.get("linear_protocol") or "linear"),
        "status": status(run_dir, bool(summary.get("finished", False))),
    }


def read_results(folder: Path) -> list[dict[str, Any]]:
    rows = []
    for kind, (pattern, metrics) in RESULT_FILES.items():
        for path in sorted(folder.glob(pattern)):
            rows.extend(_result_rows(folder, kind, path, metrics))
    return rows


def _result_rows(folder: Path, kind: str, path: Path, metrics: tuple[str, ...]) -> list[dict[str, Any]]:
    result = _json(path)
    if not result or not isinstance(result.get("trials"), list):
        return []
    protocol = path.stem if kind == "linear" else kind
    rows = []
    for trial in result["trials"]:
        for metric in metrics:
            if trial.get(metric) is None:
                continue
            rows.append(
                {
                    "run_dir": str(folder),
                    "kind": kind,
                    "protocol": protocol,
                    "trial": int(trial["trial"]),
                    "seed": int(trial.get("seed", 0)),
                    "metric": metric,
                    "value": float(trial[metric]),
                    "scale": _scale(result.get("scale", "")),
                    "device": trial.get("device", ""),
                    "seconds": float(trial.get("seconds", math.nan)),
                }
            )
    return rows


def collect(runs_dir: Path) -> Store:
    """Every run and result under `runs_dir`, sorted by path (the frames never depend on file order)."""
    runs_dir = Path(runs_dir)
    runs, results = [], []
    folders = set()
    if runs_dir.is_dir():
        for name in (layout.CONFIG, *(f for f, _ in RESULT_FILES.values())):
            folders.update(p.parent for p in runs_dir.rglob(name))
    for folder in sorted(folders):
        run = read_run(folder)
        if run is not None:
            runs.append(run)
        results.extend(read_results(folder))
    return Store(
        pd.DataFrame(runs, columns=list(RUN_COLUMNS)), pd.DataFrame(results, columns=list(RESULT_COLUMNS))
    )
