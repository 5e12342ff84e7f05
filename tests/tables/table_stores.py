"""Fixture result stores: DataFrames with exactly the columns of `mocobench.results.store.collect`."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

RUN_COLUMNS = [
    "run_dir", "recipe", "scale", "seed", "arch", "image_size", "mechanism", "epochs", "batch_size",
    "finished", "epochs_done", "knn_top1", "knn_top1_init", "pretrain_seconds", "images_per_s", "device",
    "device_type", "world_size", "commit", "data", "pipeline",
]  # fmt: skip
RESULT_COLUMNS = [
    "run_dir", "kind", "protocol", "trial", "seed", "metric", "value", "scale", "device", "seconds",
]  # fmt: skip
CPU = "CPU (x86_64, 2 cores, 2 threads)"
GPU = "NVIDIA H100 80GB HBM3"
SHAPES = "/home/u/.cache/mocobench/data/shapes-9652c2afaa"


@dataclass
class FakeStore:
    runs: pd.DataFrame
    results: pd.DataFrame


def run(recipe: str, scale: str = "cpu", seed: int = 0, **kw) -> dict:
    epochs = {"cpu": 20, "gpu": 100, "smoke": 2, "paper": 200}[scale]
    row = {
        "run_dir": f"runs/{scale}/{recipe}/seed{seed}",
        "recipe": recipe,
        "scale": scale,
        "seed": seed,
        "arch": "resnet18",
        "image_size": 32,
        "mechanism": "moco",
        "epochs": epochs,
        "batch_size": 128,
        "finished": True,
        "epochs_done": epochs,
        "knn_top1": float("nan"),
        "knn_top1_init": 20.0,
        "pretrain_seconds": 1000.0,
        "images_per_s": 70.0,
        "device": CPU,
        "device_type": "cpu",
        "world_size": 1,
        "commit": "abc1234",
        "data": SHAPES,
    }
    row.update(kw)
    return row


def result(run_dir: str, value: float, metric: str = "top1", kind: str = "linear", scale: str = "cpu", **kw):
    row = {
        "run_dir": run_dir,
        "kind": kind,
        "protocol": kind if kind != "linear" else "linear-simclr" if "/simclr-" in run_dir else "linear",
        "trial": 0,
        "seed": 0,
        "metric": metric,
        "value": value,
        "scale": scale,
        "device": GPU,
        "seconds": 60.0,
    }
    row.update(kw)
    return row


def make(runs: list[dict], results: list[dict]) -> FakeStore:
    return FakeStore(
        pd.DataFrame(runs, columns=RUN_COLUMNS) if runs else pd.DataFrame(columns=RUN_COLUMNS),
        pd.DataFrame(results, columns=RESULT_COLUMNS) if results else pd.DataFrame(columns=RESULT_COLUMNS),
    )


def mixed_runs() -> tuple[list[dict], list[dict]]:
    """Every case the assembler must tell apart, at scale cpu (plus distractors at smoke)."""
    runs = [
        # (d) / MoCo v2, 200 ep: two seeds, one linear trial each -> 31.0 +- 1.414 (n=2).
        run("mlp+aug+cos", seed=0, knn_top1=25.0, commit="abc1234", device=GPU, device_type="cuda"),
        run("mlp+aug+cos", seed=1, knn_top1=27.0, commit="def5678"),
        # MoCo v1: finished, no linear result yet.
        run("moco-v1", knn_top1=22.0),
        # (b): unfinished.
        run("aug", finished=False, epochs_done=12, pretrain_seconds=600.0),
        # (a): finished, but its only linear result was taken at another scale.
        run("mlp", knn_top1=24.0),
        # (e): one run, one trial -> 40.0 (n=1).
        run("mlp+aug+cos+800ep", epochs=80, knn_top1=30.0),
        # supervised: one run, two linear trials -> n=2 from one seed.
        run("supervised", knn_top1=50.0),
        # Another scale: must be ignored at cpu.
        run("mlp+aug+cos", scale="smoke", knn_top1=11.0),
        run("moco-v1", scale="smoke", knn_top1=12.0),
    ]
    results = [
        result("runs/cpu/mlp+aug+cos/seed0", 30.0),
        result("runs/cpu/mlp+aug+cos/seed0", 55.0, metric="top5"),
        result("runs/cpu/mlp+aug+cos/seed1", 32.0, seed=1, device=CPU),
        result("runs/cpu/mlp/seed0", 50.0, scale="smoke"),
        result("runs/cpu/mlp+aug+cos+800ep/seed0", 40.0),
        result("runs/cpu/supervised/seed0", 70.0, trial=0),
        result("runs/cpu/supervised/seed0", 71.0, trial=1, seed=1),
        result("runs/smoke/mlp+aug+cos/seed0", 99.0, scale="smoke"),
        result("runs/smoke/moco-v1/seed0", 98.0, scale="smoke"),
    ]
    return runs, results
