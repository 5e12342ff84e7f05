"""curves.png of one run from its metrics.jsonl and config.json."""

from __future__ import annotations

import json

import pytest

from mocobench.errors import UsageError
from mocobench.results.layout import read_metrics
from mocobench.tables.curves import plot_run_curves

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _write_run(run_dir, lines, config=True):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    if config:
        (run_dir / "config.json").write_text(
            json.dumps({"recipe": "mlp+aug+cos", "scale": "mini", "seed": 1})
        )


def _epoch(e, **kw):
    return {"epoch": e, "loss": 7.0 - 0.1 * e, "acc": 3.0, "lr": 0.015, "images_per_s": 70.0,
            "epoch_seconds": 100.0, **kw}  # fmt: skip


def test_curves_png_written(tmp_path):
    run_dir = tmp_path / "runs" / "mini" / "mlp+aug+cos" / "seed1"
    lines = [{"epoch": 0, "knn_top1": 21.8}] + [_epoch(e) for e in range(1, 6)]
    lines[5]["knn_top1"] = 27.0
    lines.append(_epoch(5, knn_top1=29.0))  # a resumed run may repeat an epoch: the last record wins
    _write_run(run_dir, lines)
    out = plot_run_curves(run_dir)
    assert out == run_dir / "curves.png"
    assert out.read_bytes().startswith(PNG_MAGIC)
    assert not list(run_dir.glob(".*.tmp"))


def test_curves_without_config_or_knn(tmp_path):
    run_dir = tmp_path / "r"
    _write_run(run_dir, [_epoch(1), _epoch(2)], config=False)
    assert plot_run_curves(run_dir).read_bytes().startswith(PNG_MAGIC)


def test_missing_metrics_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match=r"metrics\.jsonl not found"):
        plot_run_curves(tmp_path / "nothing")


def test_no_training_epoch_is_a_usage_error(tmp_path):
    _write_run(tmp_path / "r", [{"epoch": 0, "knn_top1": 20.0}])
    with pytest.raises(UsageError, match="no training epoch yet"):
        plot_run_curves(tmp_path / "r")
    assert not (tmp_path / "r" / "curves.png").exists()


def test_torn_last_line_is_skipped_but_a_bad_middle_line_is_an_error(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(json.dumps(_epoch(1)) + "\n" + '{"epoch": 2, "lo')
    assert [r["epoch"] for r in read_metrics(path)] == [1]
    path.write_text('{"epoch": 1, "lo\n' + json.dumps(_epoch(2)) + "\n")
    with pytest.raises(UsageError, match="line 1 is not JSON"):
        read_metrics(path)
