"""The typed readers of the benchmark records: the figures as written, or one UsageError naming the file
and the key, never a KeyError later."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from mocobench.errors import UsageError
from mocobench.results.records import read_loader_record, read_profile_record, read_step_record

SYNTHETIC = {"pairs_per_s": 40.0, "peak_bytes": 2**30, "memory_kind": "cuda", "steps": 2}
STEP = {
    "recipe": "mlp+aug+cos", "arch": "resnet50", "image_size": 224, "batch": 256, "step_options": "fp32",
    "loss_check": {"rel_diff": 0.0, "rtol": 0.02}, "synthetic": SYNTHETIC,
}  # fmt: skip
LOADER = {
    "images": 80, "workers": 0, "batch": 8, "image_size": 32,
    "loaders": {
        "pil": {"pairs_per_s": 10.0, "ratio_to_reference": 1.0, "augment_on": "cpu", "kind": "pil"},
        "ffcv": {"skipped": "FFCV is not installed"},
    },
}  # fmt: skip
ROW = {
    "mechanism": "moco", "global_batch": 256, "per_gpu_batch": 32, "peak_bytes": 5e9,
    "seconds_per_iteration": 0.5, "hours_200ep": 50.0, "estimated": False,
}  # fmt: skip
PROFILE = {
    "arch": "resnet50", "image_size": 224, "step_options": "fp32", "memory_kind": "cuda",
    "rows": [ROW, {**ROW, "mechanism": "end-to-end", "peak_bytes": 1e10, "estimated": True}],
}  # fmt: skip


def write(path: Path, record: object) -> Path:
    path.write_text(json.dumps(record))
    return path


def test_a_step_record_without_the_loader(tmp_path: Path) -> None:
    r = read_step_record(write(tmp_path / "step.json", STEP))
    assert (r.arch, r.image_size, r.batch, r.step_options) == ("resnet50", 224, 256, "fp32")
    assert r.synthetic.pairs_per_s == 40.0 and r.synthetic.peak_bytes == 2**30
    assert r.loss_check == {"rel_diff": 0.0, "rtol": 0.02}
    assert r.loader is None and r.pipeline == {} and r.loader_over_synthetic is None


def test_a_step_record_with_the_loader(tmp_path: Path) -> None:
    record = {**STEP, "loader": SYNTHETIC, "pipeline": {"loader": "torch"}, "loader_over_synthetic": 1.0}
    r = read_step_record(write(tmp_path / "step.json", record))
    assert r.loader is not None and r.pipeline["loader"] == "torch" and r.loader_over_synthetic == 1.0


def test_a_loader_record(tmp_path: Path) -> None:
    r = read_loader_record(write(tmp_path / "loader.json", LOADER))
    assert r.images == 80 and r.loaders["pil"].figures() == {
        "pairs_per_s": 10.0,
        "ratio_to_reference": 1.0,
        "augment_on": "cpu",
    }
    assert r.loaders["ffcv"].figures() == {"skipped": "FFCV is not installed"}


def test_a_profile_record(tmp_path: Path) -> None:
    r = read_profile_record(write(tmp_path / "table3.json", PROFILE))
    moco, e2e = r.row("moco", 256), r.row("end-to-end", 256)
    assert moco is not None and e2e is not None and e2e.estimated and not moco.estimated
    assert r.row("moco", 1024) is None


@pytest.mark.parametrize(
    ("reader", "record", "named"),
    [
        (read_step_record, "{", "not a readable bench step record"),
        (read_step_record, [1, 2], "holds a JSON list"),
        (read_step_record, {**STEP, "batch": "256"}, "batch '256'"),
        (read_step_record, {**STEP, "synthetic": {**SYNTHETIC, "pairs_per_s": True}}, "pairs_per_s True"),
        (read_step_record, {**STEP, "loader": SYNTHETIC}, "pipeline None"),
        (read_loader_record, {**LOADER, "loaders": {"pil": {"augment_on": "cpu"}}}, "pairs_per_s None"),
        (read_loader_record, {**LOADER, "loaders": {"pil": 3}}, "loaders.pil holds 3"),
        (read_profile_record, {**PROFILE, "rows": [{**ROW, "estimated": "no"}]}, "rows[0] has estimated"),
        (read_profile_record, {**PROFILE, "rows": None}, "rows None"),
    ],
)
def test_a_record_that_lacks_a_figure_is_one_usage_error(
    tmp_path: Path, reader: Callable[[Path], object], record: object, named: str
) -> None:
    path = tmp_path / "record.json"
    path.write_text(record if isinstance(record, str) else json.dumps(record))
    with pytest.raises(UsageError, match="run the command again") as e:
        reader(path)
    assert named in str(e.value) and str(path) in str(e.value)
