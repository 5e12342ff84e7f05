"""Pre-training logs metrics.jsonl to TensorBoard and, with --wandb, to W&B (a resume keeps its W&B id)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from logs import tb_hparams, tb_scalars, wandb_offline_runs

from mocobench.config.recipes import resolve
from mocobench.runtime.logging_sinks import WANDB_ID
from mocobench.train.pretrain import Launch, pretrain

TINY = ["image_size=16", "batch_size=8", "bn_group=4", "moco_k=60", "workers=0", "knn_every=1", "epochs=2"]


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _as_series(records: list[dict]) -> dict[str, list[tuple[int, float]]]:
    series: dict[str, list[tuple[int, float]]] = {}
    for r in records:
        for k, v in r.items():
            if k != "epoch":
                series.setdefault(k, []).append((r["epoch"], pytest.approx(v, rel=1e-6)))
    return series


def test_the_event_files_hold_metrics_jsonl(tiny_data: Path, tmp_path: Path):
    run = tmp_path / "run"
    summary = pretrain(resolve("mlp+aug+cos", "smoke", TINY), run, data=tiny_data, show_progress=False)
    records = _records(run)
    logged = tb_scalars(run / "tensorboard" / "pretrain")
    final = {k: v for k, v in logged.items() if k.startswith("final/")}
    assert {k: v for k, v in logged.items() if k not in final} == _as_series(records)
    assert {"loss", "acc", "lr", "images_per_s", "knn_top1"} <= set(logged)
    assert logged["knn_top1"][0] == (0, pytest.approx(records[0]["knn_top1"]))  # the random-init reference
    assert final["final/knn_top1"] == [(0, pytest.approx(summary["knn_top1"]))]
    assert final["final/knn_top1_init"] == [(0, pytest.approx(summary["knn_top1_init"]))]
    hparams = tb_hparams(run / "tensorboard" / "pretrain")
    assert hparams["recipe"] == "mlp+aug+cos" and hparams["moco_k"] == 60
    assert hparams["mlp"] == 1  # a bool is a number to the hparams plugin


def test_wandb_offline_and_a_resume_continue_one_run(tiny_data: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wb"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    config, run = resolve("moco-v1", "smoke", [*TINY, "knn_every=0"]), tmp_path / "run"
    pretrain(config, run, data=tiny_data, stop_after_epoch=1, show_progress=False, launch=Launch(wandb=True))
    summary = pretrain(
        config, run, data=tiny_data, resume=True, show_progress=False, launch=Launch(wandb=True)
    )
    records = _records(run)
    first, second = wandb_offline_runs(tmp_path / "wb")
    assert first["id"] == second["id"] == (run / WANDB_ID).read_text().strip()
    assert first["config"]["recipe"] == "moco-v1" and first["config"]["data"] == str(tiny_data)
    history = first["history"] + second["history"]
    assert [h["_step"] for h in history] == [r["epoch"] for r in records] == [0, 1, 2]
    for h, r in zip(history, records, strict=True):
        logged_now = {k: v for k, v in r.items() if k != "epoch"}
        assert {k: h[k] for k in logged_now} == pytest.approx(logged_now)
    assert second["summary"]["loss"] == pytest.approx(records[-1]["loss"])
    assert second["summary"]["final/knn_top1"] == pytest.approx(summary["knn_top1"])
    # TensorBoard: each epoch once over both sessions' event files
    logged = tb_scalars(run / "tensorboard" / "pretrain")
    assert [s for s, _ in logged["loss"]] == [1, 2] and [s for s, _ in logged["knn_top1"]] == [0, 2]
