"""Each linear trial logs its epochs to `<run>/tensorboard/<protocol>-trial<k>` and, with --wandb, W&B."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from checkpoints import moco_model, write_run
from logs import tb_scalars, wandb_offline_runs

from mocobench.config.linear import resolve_linear
from mocobench.data.sources import open_data
from mocobench.evaluate import linear
from mocobench.evaluate.pretrained import load_pretrained


def test_each_trial_logs_its_epochs_to_tensorboard_and_wandb(tiny_data: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wb"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = write_run(tmp_path / "run", moco_model(), data=tiny_data)
    protocol = {**resolve_linear("smoke"), "epochs": 2, "schedule": [1, 1]}
    result = linear.run_linear(
        load_pretrained(run), protocol, run, open_data(tiny_data), trials=2, show_progress=False, wandb=True
    )
    assert json.loads((run / "linear.json").read_text())["n"] == 2
    runs = wandb_offline_runs(tmp_path / "wb")
    assert [r["name"] for r in runs] == ["run/linear-trial0", "run/linear-trial1"]
    for trial, wb in zip(result["trials"], runs, strict=True):
        logged = tb_scalars(run / "tensorboard" / f"linear-trial{trial['trial']}")
        for key in ("loss", "acc", "lr", "images_per_s", "val_top1", "val_top5", "val_images"):
            assert logged[key] == [(r["epoch"], pytest.approx(r[key], rel=1e-6)) for r in trial["epochs"]]
            assert [h[key] for h in wb["history"]] == pytest.approx([r[key] for r in trial["epochs"]])
        assert logged["final/top1"] == [(0, pytest.approx(trial["top1"]))]
        assert logged["final/top5"] == [(0, pytest.approx(trial["top5"]))]
        assert wb["summary"]["final/top1"] == pytest.approx(trial["top1"])
        assert wb["config"]["seed"] == trial["seed"] and wb["config"]["protocol"]["name"] == "linear"
