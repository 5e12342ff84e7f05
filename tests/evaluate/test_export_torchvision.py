"""`mocobench export torchvision`: a plain torchvision state_dict, every backbone tensor, only fc missing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import torchvision

from mocobench.errors import UsageError
from mocobench.evaluate.export import export_torchvision
from mocobench.models.encoders import encoder_builder
from mocobench.models.moco import MoCo
from tests.checkpoints import moco_model, official_moco_file, torchvision_file, write_run


def _loads_into_torchvision(path: Path, arch: str, expected: dict[str, torch.Tensor]) -> None:
    sd = torch.load(path, weights_only=True)
    assert set(sd) == {k for k in expected if not k.startswith("fc.")}
    model = getattr(torchvision.models, arch)()
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert sorted(missing) == ["fc.bias", "fc.weight"] and unexpected == []
    loaded = model.state_dict()
    for k, v in expected.items():
        if not k.startswith("fc."):
            assert torch.equal(loaded[k], v), k


def test_a_run_round_trips_through_the_cli(tmp_path: Path, cli):
    model = moco_model()
    run = write_run(tmp_path / "run", model)
    code, out, err = cli("export", "torchvision", str(run), str(tmp_path / "out" / "r18.pth"))
    assert code == 0, err
    assert "torchvision.models.resnet18()" in out
    _loads_into_torchvision(tmp_path / "out" / "r18.pth", "resnet18", model.encoder_q.state_dict())
    assert not list((tmp_path / "out").glob(".*.tmp"))  # written atomically: no temporary left


def test_official_and_torchvision_files_round_trip(tmp_path: Path):
    path, model = official_moco_file(tmp_path / "moco.pth.tar")
    _, count, arch = export_torchvision(path, tmp_path / "moco.pth")
    assert arch == "resnet18" and count == len([k for k in model.encoder_q.state_dict() if "fc" not in k])
    _loads_into_torchvision(tmp_path / "moco.pth", "resnet18", model.encoder_q.state_dict())
    path, tv = torchvision_file(tmp_path / "tv.pth")
    export_torchvision(path, tmp_path / "tv_out.pth")
    _loads_into_torchvision(tmp_path / "tv_out.pth", "resnet18", tv.state_dict())


def test_format_forces_the_layout_read(tmp_path: Path, cli):
    path, model = official_moco_file(tmp_path / "moco.pth.tar")
    out = tmp_path / "forced.pth"
    code, _, err = cli("export", "torchvision", str(path), str(out), "--format", "moco")
    assert code == 0, err
    _loads_into_torchvision(out, "resnet18", model.encoder_q.state_dict())
    code, _, err = cli("export", "torchvision", str(path), str(tmp_path / "no.pth"), "--format", "vissl")
    assert code == 2 and not (tmp_path / "no.pth").exists()  # not a VISSL file: refused, nothing written


REFUSAL = "the CIFAR stem (3x3 stride-1, no max-pool) has no torchvision counterpart"


def test_a_cifar_stem_is_refused_in_one_line_with_exit_2(tmp_path: Path, cli):
    torch.manual_seed(0)
    model = MoCo(encoder_builder("resnet18", 1, "cifar"), dim=16, K=32, m=0.99, T=0.2, mlp=True)
    run = write_run(tmp_path / "run", model)
    config = (run / "config.json").read_text().replace('"seed": 0', '"seed": 0, "stem": "cifar"')
    (run / "config.json").write_text(config)
    code, _, err = cli("export", "torchvision", str(run), str(tmp_path / "c.pth"))
    assert code == 2 and err.count("\n") == 1 and REFUSAL in err
    assert not (tmp_path / "c.pth").exists()
    with pytest.raises(UsageError, match=re.escape(REFUSAL)):
        export_torchvision(run, tmp_path / "c.pth")


def test_bad_paths_are_one_line(tmp_path: Path, cli):
    path, _ = official_moco_file(tmp_path / "moco.pth.tar")
    (tmp_path / "a_file").write_text("")
    cases = [
        ((str(tmp_path / "missing.pth.tar"), str(tmp_path / "o.pth")), "does not exist"),
        ((str(path), str(tmp_path / "o.pkl")), "name it OUT.pth"),
        ((str(path), str(tmp_path / "a_file" / "o.pth")), "cannot write it"),
    ]
    for args, message in cases:
        code, _, err = cli("export", "torchvision", *args)
        assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "o.pth").exists()
