"""`mocobench runs` and `runs show`: every run from the result store, each status told apart."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mocobench.results import layout
from mocobench.results.store import collect
from mocobench.runtime import lock


def _run(
    folder: Path,
    recipe: str,
    seed: int = 0,
    epochs_done: int = 2,
    finished: bool = True,
    linear: list[float] | None = None,
    voc: list[float] | None = None,
    scale: str = "cpu",
) -> Path:
    folder.mkdir(parents=True)
    config = {
        "recipe": recipe, "scale": scale, "seed": seed, "arch": "resnet18", "image_size": 32,
        "mechanism": "moco", "epochs": 2, "batch_size": 128, "data": "/d/shapes", "stem": "imagenet",
        "pipeline": {"loader": "torch", "augment_on": "loader"}, "step_options": "none",
    }  # fmt: skip
    (folder / layout.CONFIG).write_text(json.dumps(config))
    env = {"device": "CPU (2 cores)", "device_type": "cpu", "world_size": 1, "torch": "2.9"}
    (folder / layout.ENV).write_text(json.dumps(env))
    metrics = [{"epoch": 0, "knn_top1": 20.0}]
    for epoch in range(1, epochs_done + 1):
        metrics.append(
            {
                "epoch": epoch,
                "loss": 6.0,
                "images_per_s": 50.0,
                "epoch_seconds": 1800.0,
                "knn_top1": 30.0 - epoch,
            }
        )
    (folder / layout.METRICS).write_text("".join(json.dumps(m) + "\n" for m in metrics))
    if finished:
        (folder / layout.SUMMARY).write_text(json.dumps({"finished": True}))
    if linear:
        trials = [{"trial": i, "seed": i, "top1": v, "top5": 90.0} for i, v in enumerate(linear)]
        (folder / layout.LINEAR).write_text(json.dumps({"scale": "cpu", "trials": trials}))
    if voc:
        trials = [{"trial": i, "seed": i, "AP": 1.0, "AP50": v, "AP75": 1.0} for i, v in enumerate(voc)]
        (folder / layout.VOC).write_text(json.dumps({"scale": "cpu", "trials": trials}))
    return folder


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def store_dir(tmp_path: Path) -> Iterator[Path]:
    runs = tmp_path / "runs"
    _run(runs / "cpu" / "mlp" / "seed0", "mlp", linear=[60.0, 62.0], voc=[40.0])
    live = _run(runs / "cpu" / "mlp" / "seed1", "mlp", 1, epochs_done=1, finished=False)
    stale = _run(runs / "cpu" / "aug" / "seed0", "aug", epochs_done=1, finished=False)
    (stale / layout.LOCK).write_text(json.dumps({"pid": _dead_pid(), "host": socket.gethostname()}))
    _run(
        runs / "smoke" / "aug" / "seed0", "aug", epochs_done=1, finished=False, scale="smoke"
    )  # no lock at all
    with lock.held(live / layout.LOCK):  # running: its flock is held while the test runs
        yield runs


def test_the_store_tells_each_status_and_the_best_knn(store_dir: Path):
    runs = collect(store_dir).runs.set_index("run_dir")
    status = {str(Path(k).relative_to(store_dir)): v for k, v in runs.status.items()}
    assert status == {
        "cpu/mlp/seed0": "finished",
        "cpu/mlp/seed1": "running",
        "cpu/aug/seed0": "interrupted",
        "smoke/aug/seed0": "interrupted",
    }
    finished = runs.loc[str(store_dir / "cpu" / "mlp" / "seed0")]
    assert finished.best_knn == 29.0 and finished.knn_top1 == 28.0 and finished.linear_protocol == "linear"


def test_json_lists_every_run(store_dir: Path, cli):
    code, out, err = cli("runs", "--runs", str(store_dir), "--json")
    assert code == 0, err
    records = {r["folder"]: r for r in json.loads(out)}
    assert len(records) == 4
    done = records["cpu/mlp/seed0"]
    assert done["status"] == "finished" and done["linear_top1"] == 61.0 and done["voc_ap50"] == 40.0
    assert done["best_knn"] == 29.0 and done["hours"] == 1.0 and done["epochs_done"] == 2
    assert records["cpu/mlp/seed1"]["status"] == "running"
    assert (
        records["cpu/aug/seed0"]["status"] == "interrupted" and records["cpu/aug/seed0"]["epochs_done"] == 1
    )
    assert records["cpu/aug/seed0"]["linear_top1"] is None
    code, out, _ = cli("runs", "--runs", str(store_dir), "--json", "--scale", "smoke")
    assert [r["folder"] for r in json.loads(out)] == ["smoke/aug/seed0"]


def test_the_table_shows_each_status(store_dir: Path, cli):
    code, out, err = cli("runs", "--runs", str(store_dir))
    assert code == 0, err
    assert "finished" in out and "running" in out and "interrupted at epoch 1" in out
    assert "61.0" in out and "40.0" in out and "29.0" in out


def test_an_empty_store_says_how_to_start(tmp_path: Path, cli):
    code, out, _ = cli("runs", "--runs", str(tmp_path / "none"))
    assert code == 0 and "no runs under" in out and "mocobench pretrain" in out


def test_show_prints_config_pipeline_environment_and_results(store_dir: Path, cli):
    code, out, err = cli("runs", "show", "cpu/mlp/seed0", "--runs", str(store_dir))
    assert code == 0, err
    for section in ("config", "pipeline", "environment", "results"):
        assert f"\n{section}\n" in out
    assert "recipe = mlp" in out and '"loader": "torch"' in out and "torch = 2.9" in out
    assert "linear top1 = 61.00 +- 1.41 (n=2)" in out and "voc AP50 = 40.00 (n=1)" in out
    code, out, _ = cli("runs", "show", str(store_dir / "cpu" / "mlp" / "seed1"))
    assert code == 0 and "running" in out and "\nlock\n" in out


def test_show_of_a_folder_that_is_no_run_is_one_line(tmp_path: Path, cli):
    code, _, err = cli("runs", "show", str(tmp_path))
    assert code == 2 and err.count("\n") == 1 and "is not a run folder" in err
