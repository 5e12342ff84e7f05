"""The run layout: default folders under $MOCOBENCH_RUNS, and reading a run's metrics.jsonl."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mocobench.config.scales import current_scale
from mocobench.errors import UsageError
from mocobench.results import layout


def test_default_folders_follow_mocobench_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MOCOBENCH_RUNS", str(tmp_path / "store"))
    assert layout.runs_root() == tmp_path / "store"
    assert layout.run_dir("cpu", "mlp+aug+cos", 2) == tmp_path / "store" / "cpu" / "mlp+aug+cos" / "seed2"
    assert layout.external_dir("paper", Path("/dl/moco_v2_800ep_pretrain.pth.tar")) == (
        tmp_path / "store" / "paper" / "external" / "moco_v2_800ep_pretrain"
    )
    folder = layout.random_init_dir("smoke", "resnet18")
    assert folder == tmp_path / "store" / "smoke" / "random-init" / "resnet18"
    assert layout.random_init_arch(folder, "smoke") == "resnet18"
    assert layout.random_init_arch(folder, "cpu") is None  # another scale's folder
    assert layout.random_init_arch(layout.run_dir("smoke", "mlp", 0), "smoke") is None
    assert layout.profile_record() == tmp_path / "store" / "profile" / "table3.json"
    monkeypatch.delenv("MOCOBENCH_RUNS")
    assert layout.runs_root() == Path("runs") and layout.runs_root(tmp_path) == tmp_path


def test_runs_of_a_renamed_tier_keep_their_folders(tmp_path: Path):
    """`mini` became `cpu` (same settings): runs/mini/<recipe>/seedN is still that run's folder."""
    assert current_scale("mini") == "cpu" and current_scale("gpu") == "gpu"
    old = tmp_path / "mini" / "mlp" / "seed0"
    old.mkdir(parents=True)
    assert layout.run_dir("cpu", "mlp", 0, tmp_path) == old
    assert layout.run_dir("cpu", "mlp", 1, tmp_path) == tmp_path / "cpu" / "mlp" / "seed1"  # new runs: cpu/
    (tmp_path / "cpu" / "mlp" / "seed0").mkdir(parents=True)
    assert layout.run_dir("cpu", "mlp", 0, tmp_path) == tmp_path / "cpu" / "mlp" / "seed0"  # the new wins


def test_metrics_skip_a_torn_last_line_and_name_a_broken_one(tmp_path: Path):
    path = tmp_path / "metrics.jsonl"
    records = [{"epoch": 0, "knn_top1": 10.0}, {"epoch": 1, "loss": 5.0}]
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + '{"epoch": 2, "lo')
    assert layout.read_metrics(path) == records
    path.write_text(json.dumps(records[0]) + "\n{broken\n" + json.dumps(records[1]) + "\n")
    with pytest.raises(UsageError, match="line 2 is not JSON"):
        layout.read_metrics(path)
    assert layout.read_metrics(path, skip_bad=True) == records  # the store skips what it cannot read
