"""The run logger: scalars to TensorBoard event files and W&B, the hparams record, W&B's offline choice."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
from logs import tb_hparams, tb_scalars, wandb_offline_runs

from mocobench.runtime import logging_sinks


def test_scalars_and_the_config_go_to_the_run_folder(tmp_path: Path):
    logger = logging_sinks.open_logger(tmp_path, "pretrain")
    logger.log({"epoch": 0, "knn_top1": 12.5}, 0)
    logger.log({"epoch": 1, "loss": 3.25, "acc": 50.0, "name": "x", "flag": True, "none": None}, 1)
    logger.finish({"recipe": "moco-v1", "lr": 0.03, "schedule": [120, 160]}, {"knn_top1": 12.5, "x": None})
    folder = tmp_path / "tensorboard" / "pretrain"
    assert tb_scalars(folder) == {  # numbers only; `epoch` is the step, not a tag
        "knn_top1": [(0, 12.5)],
        "loss": [(1, 3.25)],
        "acc": [(1, 50.0)],
        "final/knn_top1": [(0, 12.5)],
    }
    assert tb_hparams(folder) == {"recipe": "moco-v1", "lr": pytest.approx(0.03), "schedule": "[120, 160]"}
    assert [p.parent for p in tmp_path.rglob("events.out.tfevents.*")] == [folder]  # one folder, no subfolder


def test_other_ranks_log_nothing(tmp_path: Path):
    logger = logging_sinks.open_logger(tmp_path, "pretrain", main=False, wandb=True)
    logger.log({"loss": 1.0}, 1)
    logger.finish({"a": 1}, {"b": 2.0})
    assert not (tmp_path / "tensorboard").exists() and not (tmp_path / "wandb").exists()


def test_without_tensorboard_it_says_so_once_and_continues(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    monkeypatch.setattr(logging_sinks, "_warned", set())
    for name in ("a", "b"):
        logger = logging_sinks.open_logger(tmp_path, name)
        logger.log({"loss": 1.0}, 1)
        logger.finish({"a": 1}, {})
    assert capsys.readouterr().out.count("tensorboard is not installed") == 1
    assert not (tmp_path / "tensorboard").exists()


def test_wandb_runs_offline_without_a_key_or_a_network(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert logging_sinks.wandb_mode() is None  # W&B's own setting wins
    monkeypatch.delenv("WANDB_MODE")
    assert logging_sinks.wandb_mode() == "offline"
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)

    def unreachable(*args, **kwargs):
        raise OSError("no route")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    assert logging_sinks.wandb_mode() == "offline"

    class Connection:
        def close(self) -> None:
            pass

    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: Connection())
    assert logging_sinks.wandb_mode() == "online"


def test_wandb_offline_run_holds_the_scalars_and_a_resume_keeps_its_id(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wb"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    run, id_file = tmp_path / "run", tmp_path / "run" / logging_sinks.WANDB_ID
    for step, resume in ((1, False), (2, True)):
        logger = logging_sinks.open_logger(
            run, "pretrain", {"lr": 0.03}, wandb=True, project="p", id_file=id_file, resume=resume
        )
        logger.log({"epoch": step, "loss": 4.0 - step}, step)
        logger.finish({"lr": 0.03}, {"knn_top1": 10.0 * step})
    first, second = wandb_offline_runs(tmp_path / "wb")
    assert first["id"] == second["id"] == id_file.read_text().strip()
    assert first["name"] == "run/pretrain" and first["config"]["lr"] == 0.03
    assert [(r["_step"], r["loss"]) for r in first["history"] + second["history"]] == [(1, 3.0), (2, 2.0)]
    assert second["summary"]["loss"] == 2.0 and second["summary"]["final/knn_top1"] == 20.0
    fresh = logging_sinks.open_logger(run, "pretrain", wandb=True, id_file=id_file)  # not a resume
    fresh.finish()
    assert id_file.read_text().strip() != first["id"]
