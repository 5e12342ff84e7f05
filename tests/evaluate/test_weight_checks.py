"""Weights that are not weights (NaN/inf, int8, complex) are refused in one line by every command that
reads a backbone, before anything is scored or written; half precision and BN's int64 counter still load."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import torchvision
from checkpoints import moco_model, write_run

from mocobench.errors import UsageError
from mocobench.evaluate.pretrained import load_pretrained


def _state() -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    return torchvision.models.resnet18().state_dict()


def _nan(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    state["layer2.0.conv1.weight"][0, 0, 0, 0] = float("nan")
    return state


def _inf(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    state["bn1.running_var"][3] = float("inf")
    return state


def _cast(dtype: torch.dtype):
    def cast(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v if k.endswith("num_batches_tracked") else v.to(dtype) for k, v in state.items()}

    return cast


BAD = {
    "nan": (_nan, r"layer2\.0\.conv1\.weight holds 1 NaN/inf"),
    "inf": (_inf, r"bn1\.running_var holds 1 NaN/inf"),
    "int8": (_cast(torch.int8), r"conv1\.weight is int8, not real floating-point"),
    "uint8": (_cast(torch.uint8), r"conv1\.weight is uint8, not real floating-point"),
    "complex64": (_cast(torch.complex64), r"conv1\.weight is complex64, not real floating-point"),
}


@pytest.fixture(params=sorted(BAD))
def bad(request, tmp_path: Path) -> tuple[Path, str]:
    spoil, message = BAD[request.param]
    path = tmp_path / "resnet18-bad.pth"
    torch.save(spoil(_state()), path)
    return path, message


def _one_line_refusal(code: int, err: str, message: str) -> None:
    import re

    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert re.search(message, err), err


def test_load_pretrained_refuses_them(bad):
    path, message = bad
    with pytest.raises(UsageError, match=message):
        load_pretrained(path)


def test_knn_refuses_them_writing_nothing(bad, tiny_data: Path, cli):
    path, message = bad
    code, _, err = cli("knn", "--pretrained", str(path), "--data", str(tiny_data), "--scale", "smoke")
    _one_line_refusal(code, err, message)
    assert not Path(os.environ["MOCOBENCH_RUNS"]).exists()


def test_linear_refuses_them_writing_nothing(bad, tiny_data: Path, cli):
    path, message = bad
    code, _, err = cli("linear", "--pretrained", str(path), "--data", str(tiny_data), "--scale", "smoke")
    _one_line_refusal(code, err, message)
    assert not Path(os.environ["MOCOBENCH_RUNS"]).exists()


@pytest.mark.parametrize("kind, name", [("torchvision", "r18.pth"), ("detectron2", "r18.pkl")])
def test_export_refuses_them_writing_nothing(bad, kind: str, name: str, tmp_path: Path, cli):
    path, message = bad
    code, _, err = cli("export", kind, str(path), str(tmp_path / "out" / name))
    _one_line_refusal(code, err, message)
    assert not (tmp_path / "out").exists()


def test_detect_voc_refuses_nan_weights_writing_nothing(tmp_path: Path, cli):
    pytest.importorskip("detectron2")
    path = tmp_path / "resnet18-nan.pth"
    torch.save(_nan(_state()), path)
    code, _, err = cli("detect-voc", "--pretrained", str(path), "--scale", "smoke")
    _one_line_refusal(code, err, BAD["nan"][1])
    assert not Path(os.environ["MOCOBENCH_RUNS"]).exists()


def test_a_run_whose_training_diverged_is_refused_naming_its_checkpoint(tmp_path: Path):
    model = moco_model()
    with torch.no_grad():
        model.encoder_q.layer4[1].bn2.weight.fill_(float("nan"))
    run = write_run(tmp_path / "run", model)
    with pytest.raises(UsageError, match=r"checkpoint_last\.pth\.tar: layer4\.1\.bn2\.weight holds 512 NaN"):
        load_pretrained(run)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_real_floating_weights_of_any_precision_and_bns_int64_counter_load(dtype, tmp_path: Path):
    state = _cast(dtype)(_state())
    assert state["bn1.num_batches_tracked"].dtype == torch.int64
    torch.save(state, tmp_path / "r18.pth")
    loaded = load_pretrained(tmp_path / "r18.pth")
    assert loaded.arch == "resnet18" and loaded.state["conv1.weight"].dtype == dtype


def test_an_integer_counter_is_allowed_only_where_torchvision_keeps_one(tmp_path: Path):
    state = _state()
    state["bn1.running_mean"] = torch.zeros(64, dtype=torch.int64)  # torchvision's is float
    torch.save(state, tmp_path / "r18.pth")
    with pytest.raises(UsageError, match=r"bn1\.running_mean is int64"):
        load_pretrained(tmp_path / "r18.pth")
