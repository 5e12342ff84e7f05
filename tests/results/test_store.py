"""The result store reads run folders by content into the two frames the tables are built from."""

from __future__ import annotations

import json
import math
from pathlib import Path

from mocobench.results.store import RESULT_COLUMNS, RUN_COLUMNS, collect


def _run(
    folder: Path, recipe: str, seed: int, finished: bool = True, linear: list[float] | None = None
) -> Path:
    folder.mkdir(parents=True)
    config = {
        "recipe": recipe,
        "scale": "mini",
        "seed": seed,
        "arch": "resnet18",
        "image_size": 32,
        "mechanism": "moco",
        "epochs": 2,
        "batch_size": 128,
        "data": "/d/shapes-abc",
    }
    (folder / "config.json").write_text(json.dumps(config))
    env = {
        "device": "CPU (x86_64, 2 cores, 2 threads)",
        "device_type": "cpu",
        "world_size": 1,
        "git": {"commit": "abc123", "dirty": False},
    }
    (folder / "env.json").write_text(json.dumps(env))
    metrics = [
        {"epoch": 0, "knn_top1": 20.0},
        {"epoch": 1, "loss": 6.0, "acc": 1.0, "lr": 0.01, "images_per_s": 60.0, "epoch_seconds": 100.0},
        {
            "epoch": 2,
            "loss": 5.0,
            "acc": 2.0,
            "lr": 0.01,
            "images_per_s": 40.0,
            "epoch_seconds": 150.0,
            "knn_top1": 29.0,
        },
    ]
    lines = metrics if finished else metrics[:2]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in lines) + "{broken\n")
    if finished:
        (folder / "summary.json").write_text(json.dumps({"finished": True}))
    if linear:
        trials = [
            {"trial": i, "seed": i, "top1": v, "top5": 90.0, "seconds": 30.0, "device": "cpu"}
            for i, v in enumerate(linear)
        ]
        (folder / "linear.json").write_text(json.dumps({"scale": "mini", "trials": trials}))
    return folder


def test_runs_and_results_are_collected_by_content(tmp_path: Path):
    a = _run(tmp_path / "mini" / "mlp" / "seed0", "mlp", 0, linear=[30.0, 32.0])
    b = _run(tmp_path / "elsewhere" / "custom-out", "mlp", 1, finished=False)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "config.json").write_text("{not json")  # skipped, not fatal
    ext = tmp_path / "mini" / "external" / "moco_v2"
    ext.mkdir(parents=True)
    (ext / "linear.json").write_text(json.dumps({"scale": "mini", "trials": [{"trial": 0, "top1": 60.0}]}))
    store = collect(tmp_path)
    assert list(store.runs.columns) == list(RUN_COLUMNS)
    assert list(store.results.columns) == list(RESULT_COLUMNS)
    runs = store.runs.set_index("run_dir")
    assert set(runs.index) == {str(a), str(b)}
    ra, rb = runs.loc[str(a)], runs.loc[str(b)]
    assert ra.finished and ra.epochs_done == 2 and ra.knn_top1 == 29.0 and ra.knn_top1_init == 20.0
    assert ra.pretrain_seconds == 250.0 and ra.images_per_s == 50.0 and ra.commit == "abc123"
    assert not rb.finished and rb.epochs_done == 1 and math.isnan(rb.knn_top1)
    top1 = store.results[store.results.metric == "top1"]
    assert sorted(top1.value) == [30.0, 32.0, 60.0]  # the external checkpoint's result is kept too
    assert set(top1[top1.run_dir == str(a)].trial) == {0, 1}
    # config.json and linear.json say "mini", the CPU tier's old name: read as "cpu" (LEGACY_SCALES)
    assert (store.results[store.results.run_dir == str(a)].scale == "cpu").all()
    assert set(store.runs.scale) == {"cpu"}


def test_empty_or_missing_runs_folder_gives_empty_frames(tmp_path: Path):
    for folder in (tmp_path, tmp_path / "missing"):
        store = collect(folder)
        assert store.runs.empty and store.results.empty
        assert list(store.runs.columns) == list(RUN_COLUMNS)


def test_every_linear_protocols_result_file_is_read_with_its_protocol(tmp_path: Path):
    """linear.json and linear-simclr.json side by side: rows tagged by the protocol that made them."""
    a = _run(tmp_path / "mini" / "simclr-b256" / "seed0", "simclr-b256", 0, linear=[30.0])
    (a / "linear-simclr.json").write_text(
        json.dumps({"scale": "mini", "trials": [{"trial": 0, "top1": 41.0}]})
    )
    (a / "linear-fc-trial0.pth").write_bytes(b"not a result")  # a classifier beside them: not read
    (a / "voc.json").write_text(json.dumps({"scale": "mini", "trials": [{"trial": 0, "AP50": 9.0}]}))
    only = tmp_path / "elsewhere"
    only.mkdir()
    (only / "linear-simclr.json").write_text(
        json.dumps({"scale": "mini", "trials": [{"trial": 0, "top1": 7.0}]})
    )
    r = collect(tmp_path).results
    top1 = r[r.metric == "top1"].set_index(["run_dir", "protocol"])["value"].to_dict()
    assert top1 == {
        (str(a), "linear"): 30.0,
        (str(a), "linear-simclr"): 41.0,
        (str(only), "linear-simclr"): 7.0,
    }
    assert r[r.kind == "voc"][["protocol", "value"]].values.tolist() == [["voc", 9.0]]


def test_only_the_legacy_scale_name_is_renamed(tmp_path: Path):
    """`mini` (the CPU tier before issue 14) becomes `cpu` in runs and results; other scales stay."""
    a = _run(tmp_path / "mini" / "mlp" / "seed0", "mlp", 0, linear=[30.0])
    b = _run(tmp_path / "smoke" / "mlp" / "seed0", "mlp", 0)
    config = json.loads((b / "config.json").read_text())
    (b / "config.json").write_text(json.dumps({**config, "scale": "smoke"}))
    (b / "voc.json").write_text(json.dumps({"scale": "smoke", "trials": [{"trial": 0, "AP50": 9.0}]}))
    store = collect(tmp_path)
    assert store.runs.set_index("run_dir")["scale"].to_dict() == {str(a): "cpu", str(b): "smoke"}
    assert store.results.groupby("run_dir")["scale"].first().to_dict() == {str(a): "cpu", str(b): "smoke"}
