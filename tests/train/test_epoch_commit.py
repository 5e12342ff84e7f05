"""The epoch commit under `kill -9` (train/pretrain.py): checkpoint, metrics.jsonl and `mocobench runs` agree
after a kill anywhere, `--resume` continues, and a killed save leaves no temporary behind.

Each test runs pre-training in a subprocess that SIGKILLs itself at one exact point of the epoch commit (the
hook is a patched function, so the point is reached by program order, never by timing), then inspects the
folder as a user would.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mocobench.config.recipes import resolve
from mocobench.results import layout
from mocobench.results.store import collect
from mocobench.train.pretrain import pretrain

TINY = ["image_size=16", "batch_size=8", "bn_group=4", "moco_k=60", "workers=0", "knn_every=1", "epochs=3"]

KILLED_RUN = """
import os, signal, sys
from pathlib import Path
from mocobench.config.recipes import resolve
from mocobench.runtime import atomic, checkpoint
from mocobench.train import pretrain as P

point, kill_epoch, run, data = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
config = resolve("moco-v1", "smoke", sys.argv[5:])
die = lambda: os.kill(os.getpid(), signal.SIGKILL)
save = checkpoint.save

def after_checkpoint(path, model, optimizer, epoch, *rest):  # renamed, metrics not yet appended
    save(path, model, optimizer, epoch, *rest)
    if epoch == kill_epoch and path.name == checkpoint.LAST:
        die()

def during_save(path, obj):  # the temporary half-written, not yet renamed
    import torch
    def write(f):
        torch.save(obj, f)
        if obj.get("epoch") == kill_epoch:
            f.flush()
            f.truncate(f.tell() // 2)
            die()
    return atomic._write_atomic(path, write)

def during_init_knn(*args, **kwargs):  # config.json written, no checkpoint yet
    die()

if point == "after-checkpoint":
    checkpoint.save = after_checkpoint
elif point == "during-save":
    atomic.torch_save = during_save
elif point == "init-knn":
    P._knn = during_init_knn
P.pretrain(config, run, data=data, seed=0, show_progress=False)
"""


def _killed(point: str, kill_epoch: int, run: Path, data: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, point, str(kill_epoch), str(run), str(data), *TINY],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == -9, proc.stdout + proc.stderr  # killed at the point, not failed before it


def _metric_epochs(run: Path) -> list[int]:
    return [r["epoch"] for r in layout.read_metrics(run / layout.METRICS)]


def _listed(runs: Path) -> dict:
    store = collect(runs)
    assert store.unreadable.empty, store.unreadable
    return store.runs.iloc[0].to_dict()


def _resume_and_check(run: Path, data: Path) -> None:
    summary = pretrain(resolve("moco-v1", "smoke", TINY), run, data=data, resume=True, show_progress=False)
    assert summary["finished"] and summary["epochs_done"] == 3
    assert _metric_epochs(run) == [0, 1, 2, 3]  # every epoch once: none lost, none repeated
    assert not list(run.glob(".*.tmp"))
    assert torch.load(run / "checkpoint_last.pth.tar", weights_only=True)["epoch"] == 3


@pytest.mark.slow
def test_a_kill_between_checkpoint_and_metrics_loses_no_epoch(tiny_data: Path, tmp_path: Path):
    run = tmp_path / "runs" / "run"
    _killed("after-checkpoint", 2, run, tiny_data)
    assert torch.load(run / "checkpoint_last.pth.tar", weights_only=True)["epoch"] == 2
    assert _metric_epochs(run) == [0, 1]  # the kill fell before epoch 2's line
    listed = _listed(tmp_path / "runs")  # ... but the listing reads the commit point
    assert listed["status"] == "interrupted" and listed["epochs_done"] == 2
    _resume_and_check(run, tiny_data)


@pytest.mark.slow
def test_a_kill_during_a_save_leaves_the_last_epoch_and_no_temporary(tiny_data: Path, tmp_path: Path):
    run = tmp_path / "runs" / "run"
    _killed("during-save", 2, run, tiny_data)
    assert list(run.glob(".checkpoint_last.pth.tar.*.tmp"))  # what the kill left
    assert torch.load(run / "checkpoint_last.pth.tar", weights_only=True)["epoch"] == 1
    listed = _listed(tmp_path / "runs")
    assert listed["status"] == "interrupted" and listed["epochs_done"] == 1
    _resume_and_check(run, tiny_data)


@pytest.mark.slow
def test_a_kill_during_the_random_init_knn_can_be_resumed(tiny_data: Path, tmp_path: Path):
    run = tmp_path / "runs" / "run"
    _killed("init-knn", 0, run, tiny_data)
    assert (run / layout.CONFIG).is_file() and not (run / "checkpoint_last.pth.tar").exists()
    listed = _listed(tmp_path / "runs")
    assert listed["status"] == "interrupted" and listed["epochs_done"] == 0
    _resume_and_check(run, tiny_data)
