"""Each stage's figures, read through the result store's readers from the files its command wrote.

The check parses nothing itself: a run folder goes through `results.store` (its config, summary and the
committed metrics records), a linear or VOC result through `results.trials.read_result`, the bench and
profile records through `results.records`. Whatever those refuse (READ_ERRORS) makes the stage "failed:
its output could not be read", never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mocobench.config.settings import RunConfig
from mocobench.errors import UsageError
from mocobench.results import layout, records, store
from mocobench.results.run_config import read_config
from mocobench.results.trials import read_result

GIB = 2**30
READ_ERRORS = (
    OSError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    StopIteration,
    UsageError,
    store.Unreadable,
)
PIPELINE_KEYS = ("name", "loader", "augment_on", "precision", "channels_last", "fused_sgd", "compile")


def run_records(run: Path) -> tuple[dict[str, Any], RunConfig, list[dict[str, Any]]]:
    """A run folder's store row, its config.json and its committed metrics records."""
    row = store.read_run(run)
    if row is None:
        raise UsageError(f"{run} holds no pre-training run (no config.json naming a recipe)")
    config = read_config(run)
    return row, config, store.committed_records(run, row["finished"])


def is_finished(run: Path) -> bool:
    """Whether the run's summary.json says it finished (False for no run, or an unreadable summary)."""
    summary = store.run_files(run)["summary"]
    return isinstance(summary, dict) and bool(summary.get("finished"))


def pretrain_figures(run: Path) -> dict[str, Any]:
    """Loss and kNN per the run's metrics, and what ran (config.json's pipeline)."""
    row, config, metrics = run_records(run)
    init = next(r for r in metrics if r["epoch"] == 0)
    epochs = [r for r in metrics if r["epoch"] >= 1]
    figures: dict[str, Any] = {
        "epochs_planned": row["epochs"],
        "epochs_done": len(epochs),
        "knn_random_init": init.get("knn_top1"),
        "knn_per_epoch": {str(r["epoch"]): r["knn_top1"] for r in epochs if "knn_top1" in r},
        "pipeline": {k: config.ran.pipeline.get(k) for k in PIPELINE_KEYS},
        "step_options": config.ran.step_options,
        "finished": row["finished"],
    }
    if epochs:
        figures.update(
            loss_first=epochs[0]["loss"],
            loss_last=epochs[-1]["loss"],
            knn_top1=next((r["knn_top1"] for r in reversed(epochs) if "knn_top1" in r), None),
            images_per_s=epochs[-1].get("images_per_s"),
        )
    return figures


def tier_figures(run: Path) -> dict[str, Any]:
    """`pretrain_figures`, with the seconds an epoch and the row's full time at the tier from them (an
    estimate: epochs x the median training epoch, the kNN monitor's every 10 epochs not counted)."""
    figures = pretrain_figures(run)
    seconds = sorted(r["epoch_seconds"] for r in run_records(run)[2] if r["epoch"] >= 1)
    if seconds:
        median = seconds[len(seconds) // 2]
        figures.update(epoch_seconds=median, row_estimate_s=median * figures["epochs_planned"])
    return figures


def step_figures(path: Path) -> dict[str, Any]:
    """`bench step --json`: pairs/s, peak memory, the loss check."""
    r = records.read_step_record(path)
    figures: dict[str, Any] = {
        "step_options": r.step_options,
        "arch": r.arch,
        "image_size": r.image_size,
        "batch": r.batch,
        "memory_kind": r.synthetic.memory_kind,
        "synthetic_pairs_per_s": r.synthetic.pairs_per_s,
        "synthetic_peak_gib": r.synthetic.peak_bytes / GIB,
    }
    if r.loss_check is not None:
        figures["loss_check"] = r.loss_check
    if r.loader is not None:
        figures.update(
            loader=r.pipeline.get("loader"),
            loader_augment_on=r.pipeline.get("augment_on"),
            loader_pairs_per_s=r.loader.pairs_per_s,
            loader_peak_gib=r.loader.peak_bytes / GIB,
            loader_over_synthetic=r.loader_over_synthetic,
        )
    return figures


def loader_figures(path: Path) -> dict[str, Any]:
    """`bench loader --json`: pairs/s per loader and the ratio to the official (pil) one."""
    r = records.read_loader_record(path)
    return {
        "images": r.images,
        "workers": r.workers,
        "batch": r.batch,
        "image_size": r.image_size,
        "loaders": {kind: run.figures() for kind, run in r.loaders.items()},
    }


def profile_figures(record_path: Path, tables: Path) -> dict[str, Any]:
    """The profile record: Table 3's rows, and MoCo / end-to-end at batch 256 from them."""
    r = records.read_profile_record(record_path)
    rows = [
        {
            "mechanism": row.mechanism,
            "global_batch": row.global_batch,
            "per_gpu_batch": row.per_gpu_batch,
            "peak_gib": row.peak_bytes / GIB,
            "seconds_per_iteration": row.seconds_per_iteration,
            "hours_200ep": row.hours_200ep,
            "estimated": row.estimated,
        }
        for row in r.rows
    ]
    figures: dict[str, Any] = {
        "arch": r.arch,
        "image_size": r.image_size,
        "step_options": r.step_options,
        "memory_kind": r.memory_kind,
        "rows": rows,
        "record": str(record_path),
        "tables": sorted(str(p) for p in tables.iterdir() if p != record_path),
    }
    moco, e2e = r.row("moco", 256), r.row("end-to-end", 256)
    if moco and e2e:
        figures["moco_over_end_to_end_256"] = {
            "memory": moco.peak_bytes / e2e.peak_bytes,
            "time": moco.seconds_per_iteration / e2e.seconds_per_iteration,
        }
    return figures


def linear_figures(run: Path) -> dict[str, Any]:
    """The run's linear.json: top-1/top-5 and its one trial's time."""
    record = read_result(run / layout.LINEAR, "linear")
    trial = record["trials"][0]
    return {
        "top1": record["top1"],
        "top5": record["top5"],
        "n": record["n"],
        "epochs": record["protocol"]["epochs"],
        "seconds": trial.get("seconds"),
        "sanity_check": trial.get("sanity_check"),
    }


def voc_figures(run: Path) -> dict[str, Any]:
    """The run's voc.json: AP, AP50, AP75 and its one trial's iterations."""
    record = read_result(run / layout.VOC, "VOC")
    trial = record["trials"][0]
    return {
        "AP": record["AP"],
        "AP50": record["AP50"],
        "AP75": record["AP75"],
        "n": record["n"],
        "images": record.get("images"),
        "iterations": trial.get("iterations"),
        "seconds_per_iter": trial.get("seconds_per_iter"),
    }
