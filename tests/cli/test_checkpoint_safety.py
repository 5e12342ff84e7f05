"""A downloaded checkpoint cannot run code: every command that reads one refuses it, writing nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from checkpoints import hostile_file

from mocobench.config.recipes import resolve
from mocobench.runtime import checkpoint


@pytest.fixture
def hostile(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "the-command-ran"
    return hostile_file(tmp_path / "moco_v2_800ep_pretrain.pth.tar", marker), marker


def _refused(code: int, err: str, marker: Path) -> None:
    assert code == 2 and "holds more than tensors and plain data" in err and "--trust-checkpoint" in err
    assert not marker.exists()


def test_linear_refuses_it(cli, hostile, tmp_path: Path):
    path, marker = hostile
    code, _, err = cli("linear", "--pretrained", str(path), "--scale", "smoke")
    _refused(code, err, marker)
    assert not Path(os.environ["MOCOBENCH_RUNS"]).exists()


def test_export_refuses_it(cli, hostile, tmp_path: Path):
    path, marker = hostile
    code, _, err = cli("export", "detectron2", str(path), str(tmp_path / "out.pkl"))
    _refused(code, err, marker)
    assert not (tmp_path / "out.pkl").exists()


def test_detect_voc_refuses_it(cli, hostile):
    pytest.importorskip("detectron2")
    path, marker = hostile
    code, _, err = cli("detect-voc", "--pretrained", str(path), "--scale", "smoke")
    _refused(code, err, marker)
    assert not Path(os.environ["MOCOBENCH_RUNS"]).exists()


def test_resume_refuses_it(cli, hostile, tmp_path: Path, tiny_data: Path):
    path, marker = hostile
    run = tmp_path / "run"
    run.mkdir()
    (run / checkpoint.LAST).write_bytes(path.read_bytes())
    overrides = ["image_size=16", "batch_size=8", "moco_k=64", "workers=0"]
    (run / "config.json").write_text(
        json.dumps(resolve("mlp+aug+cos", "smoke", overrides).replace(seed=0).flat())
    )
    sets = [a for o in overrides for a in ("--set", o)]
    code, _, err = cli(
        "pretrain", "--recipe", "mlp+aug+cos", "--scale", "smoke", *sets, "--data", str(tiny_data),
        "--out", str(run), "--resume", "--device", "cpu",
    )  # fmt: skip
    _refused(code, err, marker)
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint_last.pth.tar", "config.json"]


def test_resume_onto_a_queue_of_another_k_is_refused_in_one_line_training_nothing(
    cli, tmp_path: Path, tiny_data: Path
):
    from mocobench.run.build import build_model

    run = tmp_path / "run"
    run.mkdir()
    overrides = ["image_size=16", "batch_size=8", "moco_k=64", "workers=0"]
    config = resolve("mlp+aug+cos", "smoke", overrides).replace(seed=0)
    (run / "config.json").write_text(json.dumps(config.flat()))
    other = build_model(config.replace(moco_k=32), 10, 1)  # the same row with another queue size
    state = {
        "epoch": 1,
        "arch": config.method.arch,
        "state_dict": checkpoint.official_state_dict(other),
        "optimizer": {},
    }
    torch.save(state, run / checkpoint.LAST)
    saved = (run / checkpoint.LAST).read_bytes()
    sets = [a for o in overrides for a in ("--set", o)]
    code, _, err = cli(
        "pretrain", "--recipe", "mlp+aug+cos", "--scale", "smoke", *sets, "--data", str(tiny_data),
        "--out", str(run), "--resume", "--device", "cpu",
    )  # fmt: skip
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "cannot resume: the checkpoint holds queue of shape (128, 32), this run's model (128, 64)" in err
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint_last.pth.tar", "config.json"]
    assert (run / checkpoint.LAST).read_bytes() == saved
