"""Pre-training holds `<run>/run.lock` (pid, host) while it trains and removes it at the end or on failure;
the result store reads a run whose lock names a live process as running, one whose lock is stale as
interrupted."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from mocobench.config.recipes import resolve
from mocobench.results import layout
from mocobench.results.store import collect
from mocobench.train import pretrain as pretrain_module
from mocobench.train.pretrain import pretrain

TINY = ["image_size=16", "batch_size=8", "bn_group=4", "moco_k=60", "workers=0", "knn_every=1"]


def test_the_lock_is_held_while_training_and_gone_after(tiny_data: Path, tmp_path: Path, monkeypatch):
    run = tmp_path / "runs" / "smoke" / "mlp+aug+cos" / "seed0"
    seen = []
    original = pretrain_module.train_one_epoch

    def watching(*args, **kwargs):
        seen.append(json.loads((run / layout.LOCK).read_text()))
        seen.append(collect(tmp_path / "runs").runs.status.tolist())
        return original(*args, **kwargs)

    monkeypatch.setattr(pretrain_module, "train_one_epoch", watching)
    config = resolve("mlp+aug+cos", "smoke", TINY)
    pretrain(config, run, data=tiny_data, seed=0, stop_after_epoch=1, show_progress=False)
    assert seen[0]["pid"] == os.getpid() and seen[0]["host"] == socket.gethostname()
    assert seen[1] == ["running"]
    assert not (run / layout.LOCK).exists()
    assert collect(tmp_path / "runs").runs.status.tolist() == ["interrupted"]

    def failing(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(pretrain_module, "train_one_epoch", failing)
    with pytest.raises(RuntimeError):
        pretrain(config, run, data=tiny_data, seed=0, resume=True, show_progress=False)
    assert not (run / layout.LOCK).exists()
    monkeypatch.setattr(pretrain_module, "train_one_epoch", original)
    pretrain(config, run, data=tiny_data, seed=0, resume=True, show_progress=False)
    assert not (run / layout.LOCK).exists()
    assert collect(tmp_path / "runs").runs.status.tolist() == ["finished"]
