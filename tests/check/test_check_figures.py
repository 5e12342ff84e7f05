"""The check's figures come through the result store's readers: what they refuse is a failed stage whose
"output could not be read", never a traceback that ends the check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mocobench.check import stages as stage_functions
from mocobench.check.figures import is_finished, linear_figures, pretrain_figures, step_figures
from mocobench.check.options import parse_args
from mocobench.check.runner import Check
from mocobench.check.stage import FAILED, PASSED, Outcome, Stage, settle
from mocobench.results import layout

CONFIG = {
    "recipe": "mlp+aug+cos", "scale": "smoke", "seed": 0, "arch": "resnet18", "image_size": 16,
    "mechanism": "moco", "epochs": 2, "batch_size": 8, "step_options": "fp32",
    "pipeline": {"name": "fast", "loader": "torch", "augment_on": "cpu"},
}  # fmt: skip
METRICS = [
    {"epoch": 0, "knn_top1": 10.0},
    {"epoch": 1, "loss": 6.0, "knn_top1": 12.0, "epoch_seconds": 3.0, "images_per_s": 5.0},
    {"epoch": 2, "loss": 5.5, "knn_top1": 14.0, "epoch_seconds": 2.0, "images_per_s": 6.0},
]


def make_run(folder: Path, metrics_text: str | None = None) -> Path:
    folder.mkdir(parents=True)
    (folder / layout.CONFIG).write_text(json.dumps(CONFIG))
    text = "".join(json.dumps(m) + "\n" for m in METRICS) if metrics_text is None else metrics_text
    (folder / layout.METRICS).write_text(text)
    (folder / layout.SUMMARY).write_text(json.dumps({"finished": True}))
    return folder


def ran(stage: Stage, figures: Any) -> Stage:
    """`stage` settled as if its command exited 0 and wrote what `figures` reads."""
    settle(stage, Outcome("ok"), figures)
    return stage


def test_a_run_folder_is_read_through_the_store(tmp_path: Path) -> None:
    figures = pretrain_figures(make_run(tmp_path / "run"))
    assert figures["epochs_planned"] == 2 and figures["epochs_done"] == 2 and figures["finished"] is True
    assert figures["knn_random_init"] == 10.0 and figures["knn_per_epoch"] == {"1": 12.0, "2": 14.0}
    assert (figures["loss_first"], figures["loss_last"], figures["knn_top1"]) == (6.0, 5.5, 14.0)
    assert figures["pipeline"]["name"] == "fast" and figures["step_options"] == "fp32"


@pytest.mark.parametrize(
    "damage",
    [
        '{"epoch": 0}\nnot json\n{"epoch": 1, "loss": 5.0}\n',  # a line that is not JSON (not the last)
        '{"epoch": 0}\n{"epoch": "one", "loss": 5.0}\n',  # not a metrics record
        '{"epoch": 0}\n{"epoch": 1, "loss": "low"}\n',  # a figure that is no number
    ],
)
def test_a_damaged_metrics_file_is_a_failed_stage_not_a_traceback(tmp_path: Path, damage: str) -> None:
    run = make_run(tmp_path / "run", metrics_text=damage)
    stage = ran(Stage("pretrain-fast"), lambda: pretrain_figures(run))
    assert stage.status == FAILED
    assert stage.reason.startswith("exit 0, but its output could not be read"), stage.reason
    assert "metrics.jsonl" in stage.reason


def test_a_folder_that_is_no_run_is_unreadable_output(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    stage = ran(Stage("pretrain-fast"), lambda: pretrain_figures(tmp_path / "empty"))
    assert stage.status == FAILED and "could not be read" in stage.reason and "UsageError" in stage.reason


def test_a_damaged_result_file_is_unreadable_output(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    (run / layout.LINEAR).write_text('{"trials": [{"top1": 3}]}')  # a trial with no number
    stage = ran(Stage("linear"), lambda: linear_figures(run))
    assert stage.status == FAILED and "not a valid linear result file" in stage.reason


def test_a_bench_record_missing_a_figure_is_unreadable_output(tmp_path: Path) -> None:
    record = tmp_path / "bench_step_0.json"
    record.write_text(json.dumps({"step_options": "fp32", "arch": "resnet18", "image_size": 32, "batch": 16}))
    stage = ran(Stage("fp32"), lambda: step_figures(record))
    assert stage.status == FAILED and "synthetic None" in stage.reason


def test_a_tier_run_that_ended_but_cannot_be_read_fails_the_stage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tier reads its runs itself (a cut run is its planned end): an unreadable one still fails it."""
    options = parse_args(["--device", "cpu", "--work", str(tmp_path / "w"), "--no-caps"])
    assert not isinstance(options, Path)
    check = Check(options)
    for recipe in ("moco-v1", "mlp+aug+cos"):
        make_run(check.work / f"tier-{recipe}", metrics_text='{"epoch": 0}\n{"epoch": "x"}\n')
    monkeypatch.setattr(check, "run", lambda *a, **k: Outcome("ok", seconds=1.0, returncode=0))
    stage = check.stages["tier"]
    stage_functions.stage_tier(check, stage)
    assert stage.status == FAILED and "could not be read" in stage.reason
    assert "error" in stage.figures["moco-v1"]


def test_a_readable_tier_run_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    options = parse_args(["--device", "cpu", "--work", str(tmp_path / "w"), "--no-caps"])
    assert not isinstance(options, Path)
    check = Check(options)
    for recipe in ("moco-v1", "mlp+aug+cos"):
        make_run(check.work / f"tier-{recipe}")
    monkeypatch.setattr(check, "run", lambda *a, **k: Outcome("ok", seconds=1.0, returncode=0))
    stage = check.stages["tier"]
    stage_functions.stage_tier(check, stage)
    assert stage.status == PASSED, stage.reason
    assert stage.figures["moco-v1"]["epoch_seconds"] == 3.0  # the median of 2.0 and 3.0 (upper)
    assert stage.figures["moco-v1"]["row_estimate_s"] == 6.0


@pytest.mark.parametrize("summary", ["{", "[1]", '{"finished": false}'])
def test_a_run_whose_summary_does_not_say_finished_is_not_finished(tmp_path: Path, summary: str) -> None:
    """What later stages need (pretrain-fast's finished run): a damaged summary is no finished run."""
    run = make_run(tmp_path / "run")
    (run / layout.SUMMARY).write_text(summary)
    assert is_finished(run) is False
    assert is_finished(tmp_path / "no-run") is False
