"""The linear protocol: what trains, what stays frozen, the sanity check, trials and linear.json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision.transforms.functional as TF
from checkpoints import moco_model, official_moco_file, write_run
from launch import GUARD_S, torchrun
from typer.testing import CliRunner

from mocobench.cli import app
from mocobench.config.linear import resolve_linear
from mocobench.data.decode import load_rgb
from mocobench.data.sources import open_data
from mocobench.errors import UsageError
from mocobench.evaluate import linear
from mocobench.evaluate.pretrained import load_pretrained
from mocobench.run import loop
from mocobench.runtime.distributed import DistInfo
from mocobench.runtime.schedule import learning_rate


def test_protocol_is_the_papers_and_scales_like_pretraining():
    paper = resolve_linear("paper")
    # PAPER.md: SGD lr 30, momentum 0.9, wd 0, batch 256, 100 epochs, x0.1 at 60 and 80, fc ~ N(0, 0.01).
    assert (paper["lr"], paper["momentum"], paper["weight_decay"]) == (30.0, 0.9, 0.0)
    assert (paper["batch_size"], paper["epochs"], paper["schedule"]) == (256, 100, [60, 80])
    assert (paper["init_std"], paper["image_size"]) == (0.01, 224)
    cpu = resolve_linear("cpu")
    assert (cpu["epochs"], cpu["batch_size"], cpu["lr"], cpu["schedule"]) == (10, 128, 15.0, [6, 8])
    assert cpu["image_size"] == 32 and resolve_linear("cpu", workers=3)["workers"] == 3
    with pytest.raises(UsageError, match="unknown scale"):
        resolve_linear("huge")


def test_classifier_trains_only_a_fresh_fc(tmp_path: Path):
    model = moco_model()
    p = load_pretrained(write_run(tmp_path / "run", model))
    torch.manual_seed(0)
    clf = linear.build_classifier(p, num_classes=100, init_std=0.01)
    trainable = [n for n, q in clf.named_parameters() if q.requires_grad]
    assert trainable == ["fc.weight", "fc.bias"]
    assert torch.equal(clf.layer4[1].bn2.running_var, model.encoder_q.layer4[1].bn2.running_var)
    assert abs(clf.fc.weight.std().item() - 0.01) < 0.001 and clf.fc.bias.abs().sum() == 0
    assert clf.fc.weight.shape == (100, 512)


def test_sanity_check_catches_changed_weights_and_bn_statistics(tmp_path: Path):
    p = load_pretrained(write_run(tmp_path / "run", moco_model()))
    clf = linear.build_classifier(p, 10, 0.01)
    ref = linear.backbone_snapshot(clf)
    assert linear.sanity_check(clf, ref) == len(ref)
    with torch.no_grad():
        clf.fc.weight.add_(1.0)  # fc may change
    linear.sanity_check(clf, ref)
    clf.layer1[0].bn1.running_mean.add_(1e-3)
    with pytest.raises(linear.SanityCheckError, match=r"layer1\.0\.bn1\.running_mean"):
        linear.sanity_check(clf, ref)


def test_topk_correct_by_hand():
    logits = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.3], [0.2, 0.3, 0.5]])
    targets = torch.tensor([1, 2, 0])
    assert linear.topk_correct(logits, targets, (1, 2)) == [1, 2]


def _protocol(**kw):
    return {**resolve_linear("smoke"), "epochs": 3, "schedule": [2, 2], **kw}


def test_a_trial_keeps_bn_in_eval_mode_and_follows_the_schedule(tiny_data: Path, tmp_path: Path):
    p = load_pretrained(write_run(tmp_path / "run", moco_model(), data=tiny_data))
    protocol = _protocol()
    rec = linear.train_linear(p, protocol, open_data(tiny_data), 0, torch.device("cpu"), show_progress=False)
    assert [r["epoch"] for r in rec["epochs"]] == [1, 2, 3]
    lrs = [r["lr"] for r in rec["epochs"]]
    assert lrs == [learning_rate(protocol["lr"], e, 3, False, [2, 2]) for e in range(3)]
    assert lrs[2] == pytest.approx(protocol["lr"] * 0.01)
    assert rec["top1"] == rec["epochs"][-1]["val_top1"] and 0 <= rec["top1"] <= 100
    assert rec["top5"] >= rec["top1"] and rec["sanity_check"].startswith("passed")
    assert rec["best_top1"] == max(r["val_top1"] for r in rec["epochs"])


def test_bn_in_train_mode_fails_the_sanity_check(tiny_data: Path, tmp_path: Path, monkeypatch):
    p = load_pretrained(write_run(tmp_path / "run", moco_model(), data=tiny_data))
    monkeypatch.setattr(linear, "frozen_mode", lambda model: model.train())  # the classic mistake
    with pytest.raises(linear.SanityCheckError, match=r"running_mean|running_var|num_batches"):
        linear.train_linear(
            p, _protocol(epochs=1), open_data(tiny_data), 0, torch.device("cpu"), show_progress=False
        )


def test_trials_resume_and_another_protocol_is_refused(tiny_data: Path, tmp_path: Path, monkeypatch):
    run = write_run(tmp_path / "run", moco_model(), data=tiny_data)
    p = load_pretrained(run)
    calls = []

    def fake_trial(pretrained, protocol, root, seed, device, show_progress=True, logger=None):
        calls.append(seed)
        fc = {"weight": torch.full((3, 4), float(seed)), "bias": torch.zeros(3)}
        return {"seed": seed, "top1": 10.0 + seed, "top5": 50.0, "seconds": 1.0, "classifier": fc}

    monkeypatch.setattr(linear, "train_linear", fake_trial)
    first = linear.run_linear(
        p, _protocol(), run, open_data(tiny_data), seed=5, trials=1, show_progress=False
    )
    assert calls == [5] and first["n"] == 1 and first["top1"] == 15.0
    both = linear.run_linear(p, _protocol(), run, open_data(tiny_data), seed=5, trials=2, show_progress=False)
    assert calls == [5, 6]  # trial 0 was kept, only trial 1 ran
    assert both["n"] == 2 and both["top1"] == 15.5 and both["top1_std"] == pytest.approx(0.7071, abs=1e-4)
    saved = json.loads((run / "linear.json").read_text())
    assert [t["trial"] for t in saved["trials"]] == [0, 1] and saved["scale"] == "smoke"
    assert saved["recipe"] == "mlp+aug+cos" and saved["protocol"]["lr"] == _protocol()["lr"]
    assert [t["classifier"] for t in saved["trials"]] == ["linear-fc-trial0.pth", "linear-fc-trial1.pth"]
    fc = torch.load(run / "linear-fc-trial1.pth", weights_only=True)
    assert fc["protocol"] == "linear" and fc["seed"] == 6
    assert torch.equal(fc["fc"]["weight"], torch.full((3, 4), 6.0))
    with pytest.raises(UsageError, match="another checkpoint, protocol or data"):
        linear.run_linear(p, _protocol(lr=1.0), run, open_data(tiny_data), trials=1, show_progress=False)
    replaced = linear.run_linear(p, _protocol(lr=1.0), run, open_data(tiny_data), trials=1, overwrite=True)
    assert replaced["n"] == 1 and json.loads((run / "linear.json").read_text())["protocol"]["lr"] == 1.0


def test_cli_writes_linear_json_for_runs_and_external_checkpoints(tiny_data: Path, tmp_path: Path):
    runner = CliRunner()
    run = write_run(tmp_path / "run", moco_model(), data=tiny_data)
    res = runner.invoke(app, ["linear", "--pretrained", str(run)])
    assert res.exit_code == 0, res.output
    result = json.loads((run / "linear.json").read_text())
    assert result["scale"] == "smoke" and result["data"] == str(tiny_data.resolve())  # the run's own data
    assert result["trials"][0]["sanity_check"].startswith("passed") and "top1" in result
    ckpt, _ = official_moco_file(tmp_path / "moco_v2_200ep_pretrain.pth.tar")
    res = runner.invoke(
        app, ["linear", "--pretrained", str(ckpt), "--data", str(tiny_data), "--scale", "smoke"]
    )
    assert res.exit_code == 0, res.output
    external = tmp_path / "runs" / "smoke" / "external" / "moco_v2_200ep_pretrain" / "linear.json"
    assert json.loads(external.read_text())["source"] == "MoCo checkpoint (official layout)"


def test_cli_bad_input_exits_2_with_one_line(tmp_path: Path):
    r = subprocess.run(
        [sys.executable, "-m", "mocobench", "linear", "--pretrained", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "does not exist" in r.stderr
    assert not (tmp_path / "runs").exists()


def test_simclr_protocol_is_simclr_v1s():
    """recipes/linear-simclr.toml against SimCLR v1's code (tag 1.0): README.md L96-103 (momentum, lr 0.1,
    wd 1e-6, 90 epochs, batch 4096, zero-initialised head), model_util.py L55 (lr x batch / 256),
    model.py L169-170 (Nesterov), data.py L164 (crop + flip, no colour, for fine-tuning)."""
    p = resolve_linear("paper", name="linear-simclr")
    assert (p["epochs"], p["batch_size"], p["lr"], p["momentum"]) == (90, 4096, 0.1 * 4096 / 256, 0.9)
    assert (p["nesterov"], p["weight_decay"], p["cos"], p["lr_per_step"]) == (True, 1e-6, True, True)
    assert (p["init_std"], p["views"], p["image_size"], p["schedule"]) == (0.0, "simclr", 224, [])
    moco = resolve_linear("paper")
    assert (moco["nesterov"], moco["cos"], moco["lr_per_step"]) == (False, False, False)
    assert moco["views"] == "moco"
    with pytest.raises(UsageError, match=r"no linear protocol 'linear-byol'.*linear, linear-simclr"):
        resolve_linear("paper", name="linear-byol")


def test_simclr_protocol_trains_with_cosine_per_step_from_a_zero_head(
    tiny_data: Path, tmp_path: Path, monkeypatch
):
    p = load_pretrained(write_run(tmp_path / "run", moco_model(), data=tiny_data))
    head = linear.build_classifier(p, 10, init_std=0.0).fc  # SimCLR's zero_init_logits_layer
    assert head.weight.abs().sum() == 0 and head.bias.abs().sum() == 0
    protocol = {**resolve_linear("smoke", name="linear-simclr"), "batch_size": 8, "epochs": 2}
    seen, real = [], loop.set_lr  # the one training loop sets the lr (run/loop.py)
    monkeypatch.setattr(loop, "set_lr", lambda opt, lr: (seen.append(lr), real(opt, lr)))
    rec = linear.train_linear(p, protocol, open_data(tiny_data), 0, torch.device("cpu"), show_progress=False)
    steps, lr = 40 // 8, protocol["lr"]
    per_step = [[learning_rate(lr, e + s / steps, 2, True, []) for s in range(steps)] for e in range(2)]
    assert seen == [*per_step[0][:1], *per_step[0], *per_step[1][:1], *per_step[1]]  # epoch start, each step
    assert rec["epochs"][-1]["lr"] == pytest.approx(per_step[1][-1]) and per_step[1][-1] < per_step[0][1] < lr
    assert rec["sanity_check"].startswith("passed") and rec["classifier"]["weight"].abs().sum() > 0


def test_simclr_protocol_scores_whole_images_at_32_px(tiny_data: Path):
    """At a configured image_size <= 32 SimCLR turns its test crop off (data.py L155-158@85e8552) and only
    reshapes (data_util.py L456): linear-simclr's validation view of a 32-px image is the image, normalised
    by the run's mean/std, whatever the data's format. The MoCo protocol is unchanged: a folder's images
    (no native size) are resized to 37 px and centre-cropped, as main_lincls.py's Resize + CenterCrop."""
    source = open_data(tiny_data)
    one = DistInfo.single(torch.device("cpu"))
    simclr = {**resolve_linear("smoke", name="linear-simclr"), "batch_size": 8}
    assert simclr["image_size"] == 32 and source.native_size is None
    val = linear.build_loaders(source, simclr, 0, one)[2].dataset
    path, _ = val.samples[0]
    whole = TF.normalize(TF.to_tensor(load_rgb(path)), list(source.mean), list(source.std))
    assert whole.shape == (3, 32, 32)
    torch.testing.assert_close(val[0][0], whole, rtol=0, atol=1e-6)
    moco = {**resolve_linear("smoke"), "batch_size": 8}
    moco_val = linear.build_loaders(source, moco, 0, one)[2].dataset
    assert moco_val.samples[0][0] == path and not torch.allclose(moco_val[0][0], whole, atol=1e-2)


@pytest.mark.slow
def test_two_processes_train_the_classifier_one_process_does(tiny_data: Path, tmp_path: Path):
    """`torchrun --nproc_per_node 2 -m mocobench linear` (gloo) == one process: each rank takes half of every
    global batch and DDP averages fc's gradients; validation is sharded and every image counted once."""
    run = write_run(tmp_path / "run", moco_model(), data=tiny_data)
    args = ["linear", "--pretrained", str(run), "--device", "cpu", "--workers", "0", "--trials", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(
        [*torchrun(2), *args, "--out", str(tmp_path / "ddp")], check=True, env=env, timeout=GUARD_S
    )
    subprocess.run(
        [sys.executable, "-m", "mocobench", *args, "--out", str(tmp_path / "one")],
        check=True,
        env=env,
        timeout=GUARD_S,
    )
    ddp, one = (json.loads((tmp_path / d / "linear.json").read_text()) for d in ("ddp", "one"))
    assert [t["world_size"] for t in ddp["trials"]] == [2, 2] and ddp["env"]["world_size"] == 2
    assert [t["world_size"] for t in one["trials"]] == [1, 1]
    for a, b in zip(ddp["trials"], one["trials"], strict=True):
        assert [e["val_images"] for e in a["epochs"]] == [e["val_images"] for e in b["epochs"]] == [20]
        assert a["top1"] == b["top1"] and a["top5"] == b["top5"]
        assert a["epochs"][0]["loss"] == pytest.approx(b["epochs"][0]["loss"], rel=1e-5)
        fc_a, fc_b = (
            torch.load(tmp_path / d / a["classifier"], weights_only=True)["fc"] for d in ("ddp", "one")
        )
        for key in ("weight", "bias"):
            torch.testing.assert_close(fc_a[key], fc_b[key], atol=1e-5, rtol=1e-4)
