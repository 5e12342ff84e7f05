"""`detect-voc` end to end through Detectron2 on a tiny embedded VOC set (smoke scale: seconds per trial)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision
from launch import GUARD_S
from typer.testing import CliRunner

from mocobench.cli import app
from mocobench.data.voc_synth import VocSynthSpec, write_voc
from mocobench.detection import finetune, install
from mocobench.errors import UsageError
from mocobench.models.encoders import encoder_builder

SPEC = VocSynthSpec(image_size=64, trainval_2007=10, trainval_2012=8, test_2007=12)


@pytest.fixture(scope="module")
def tiny_voc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_voc(tmp_path_factory.mktemp("voc") / "tiny", SPEC) / "VOCdevkit"


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "resnet18-tv.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    return path


@pytest.mark.slow
def test_smoke_fine_tune_writes_voc_json_that_voc_eval_reproduces(tiny_voc, resnet18_file, tmp_path):
    out = tmp_path / "out"
    result, path = finetune.detect_voc(resnet18_file, tiny_voc, "smoke", out_dir=out, show_progress=False)
    assert path == out / "voc.json" and json.loads(path.read_text()) == result
    assert result["n"] == 1 and result["scale"] == "smoke" and result["arch"] == "resnet18"
    assert result["protocol"]["max_iter"] == 3 and result["protocol"]["depth"] == 18
    assert result["images"] == {"train": 16, "test": 12}  # 8 + 8 trainval (cap 16), all 12 test images
    trial = result["trials"][0]
    assert all(0.0 <= trial[m] <= 100.0 for m in ("AP", "AP50", "AP75"))
    assert list(trial["per_class_AP50"]) == list(SPEC.classes)
    # Detectron2's AP50 and ours, rescored from the detections it wrote, are the same metric.
    assert trial["AP50_rescored"] == pytest.approx(trial["AP50"], abs=1e-9)
    trial_dir = out / "detection" / "trial0"
    assert not list(trial_dir.glob("*.pth"))  # checkpoints removed once the trial is recorded
    assert (trial_dir / "config.yaml").is_file() and (trial_dir / "metrics.json").is_file()
    detections = trial_dir / "detections"
    res = CliRunner().invoke(
        app, ["voc-eval", "--data", str(tiny_voc), "--detections", str(detections), "--json"]
    )
    assert res.exit_code == 0, res.output
    rescored = json.loads(res.output)
    for metric in ("AP", "AP50", "AP75"):
        assert rescored[metric] == pytest.approx(trial[metric], abs=1e-9)
    # A rerun finds the trial done and trains nothing; a voc.json of another protocol is refused.
    again, _ = finetune.detect_voc(resnet18_file, tiny_voc, "smoke", out_dir=out, show_progress=False)
    assert again["trials"] == result["trials"]
    changed = {**result, "protocol": {**result["protocol"], "max_iter": 99}}
    path.write_text(json.dumps(changed))
    with pytest.raises(UsageError, match="another checkpoint, protocol or data"):
        finetune.detect_voc(resnet18_file, tiny_voc, "smoke", out_dir=out, show_progress=False)


@pytest.mark.slow
def test_random_init_trials_from_the_cli_go_to_the_random_init_folder(tiny_voc, tmp_path):
    res = CliRunner().invoke(
        app,
        [
            "detect-voc",
            "--pretrained",
            "random",
            "--scale",
            "smoke",
            "--data",
            str(tiny_voc),
            "--trials",
            "2",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "VOC (smoke, n=2): AP50" in res.output and "+-" in res.output
    result = json.loads(
        (Path(os.environ["MOCOBENCH_RUNS"]) / "smoke" / "random-init" / "resnet18" / "voc.json").read_text()
    )
    assert result["init"] == "random" and result["source"] == "random"
    assert [t["seed"] for t in result["trials"]] == [0, 1] and result["n"] == 2
    mean = sum(t["AP50"] for t in result["trials"]) / 2
    assert result["AP50"] == pytest.approx(mean) and result["AP50_std"] >= 0


@pytest.mark.slow
def test_two_processes_under_torchrun_on_cpu(tiny_voc, tmp_path):
    """gloo, DDP without device ids, naiveSyncBN across processes, the evaluator gathering from both."""
    out = tmp_path / "ddp"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "mocobench", "detect-voc", "--pretrained", "random", "--scale", "smoke",
        "--data", str(tiny_voc), "--out", str(out), "--device", "cpu",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=GUARD_S)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((out / "voc.json").read_text())
    assert result["trials"][0]["world_size"] == 2 and result["env"]["backend"] == "gloo"
    assert result["trials"][0]["AP50_rescored"] == pytest.approx(result["trials"][0]["AP50"], abs=1e-9)


@pytest.mark.parametrize(
    ("scale", "arch"), [("paper", "resnet50"), ("mini", "resnet18"), ("smoke", "resnet18")]
)
def test_the_recorded_protocol_is_what_the_cfg_runs(scale: str, arch: str, tmp_path: Path):
    from mocobench.detection.cfg import build_cfg

    cfg = build_cfg(scale, arch, "", ("a",), "b", 10, tmp_path, 0, "cpu")
    recorded = finetune.protocol(scale, arch)
    assert recorded["max_iter"] == cfg.SOLVER.MAX_ITER and recorded["base_lr"] == cfg.SOLVER.BASE_LR
    assert recorded["ims_per_batch"] == cfg.SOLVER.IMS_PER_BATCH
    assert tuple(recorded["steps"]) == tuple(cfg.SOLVER.STEPS)
    assert recorded["warmup_iters"] == cfg.SOLVER.WARMUP_ITERS
    assert tuple(recorded["min_size_train"]) == tuple(cfg.INPUT.MIN_SIZE_TRAIN)
    assert recorded["min_size_test"] == cfg.INPUT.MIN_SIZE_TEST
    assert recorded["depth"] == cfg.MODEL.RESNETS.DEPTH and recorded["norm"] == cfg.MODEL.RESNETS.NORM
    assert recorded["roi_heads"] == cfg.MODEL.ROI_HEADS.NAME
    assert recorded["precise_bn_iters"] == cfg.TEST.PRECISE_BN.NUM_ITER


def test_missing_detectron2_is_one_line_with_the_install_command(monkeypatch):
    def fail(name: str):  # type: ignore[no-untyped-def]
        raise ImportError(f"No module named {name!r}")

    monkeypatch.setattr(install.importlib, "import_module", fail)
    with pytest.raises(UsageError, match=r"sal-detectron2==0\.7\.2") as e:
        install.require_detectron2()
    assert "\n" not in str(e.value)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mocobench", *args], capture_output=True, text=True)


def test_bad_input_is_one_line_exit_2_before_anything_runs(tiny_voc, resnet18_file, tmp_path):
    r = _cli(
        "detect-voc", "--pretrained", str(resnet18_file), "--data", str(tmp_path), "--out", str(tmp_path)
    )
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no VOC2007/ or VOC2012/" in r.stderr
    assert not (tmp_path / "detection").exists()
    with pytest.raises(UsageError):
        finetune.detect_voc(tmp_path / "nope.pth", tiny_voc, "smoke")
    with pytest.raises(UsageError, match="at least 1"):
        finetune.detect_voc("random", tiny_voc, "smoke", trials=0)
    with pytest.raises(UsageError, match="drop --arch"):
        finetune.detect_voc(resnet18_file, tiny_voc, "smoke", arch="resnet50")
    with pytest.raises(UsageError, match="unknown scale"):
        finetune.detect_voc("random", tiny_voc, "tiny")
    assert not Path(os.environ["MOCOBENCH_RUNS"]).exists()


def test_data_synth_writes_the_voc_set(tmp_path):
    res = CliRunner().invoke(
        app, ["data", "synth", "--voc", "--out", str(tmp_path / "v"), "--trainval", "2", "--test", "2"]
    )
    assert res.exit_code == 0, res.output
    devkit = tmp_path / "v" / "VOCdevkit"
    assert (devkit / "classes.txt").is_file()
    assert (devkit / "VOC2007" / "ImageSets" / "Main" / "test.txt").read_text().split() == [
        "000003",
        "000004",
    ]


def test_a_cifar_stem_checkpoint_is_refused_before_anything_runs(tiny_voc, tmp_path):
    source = tmp_path / "cifar.pth.tar"  # a CIFAR-stem ResNet-18 state_dict: its 3x3 conv1 tells the stem
    torch.save(encoder_builder("resnet18", stem="cifar")().state_dict(), source)
    r = _cli("detect-voc", "--pretrained", str(source), "--data", str(tiny_voc), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "the CIFAR stem (3x3 stride-1, no max-pool) has no Detectron2 counterpart" in r.stderr
    assert "--set stem=imagenet" in r.stderr
    assert not (tmp_path / "o").exists()
    with pytest.raises(UsageError, match="no Detectron2 counterpart"):
        finetune.resolve_init(source, "smoke", None)
    assert not Path(os.environ["MOCOBENCH_RUNS"]).exists()
