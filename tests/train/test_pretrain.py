"""The training loop end to end on tiny data: run folder, every mechanism, resume, DDP against one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from launch import GUARD_S, free_port, torchrun

from mocobench.config.recipes import resolve
from mocobench.config.settings import RunConfig
from mocobench.errors import UsageError
from mocobench.results.run_config import read_config
from mocobench.train.pretrain import pretrain

TINY = ["image_size=16", "batch_size=8", "bn_group=4", "moco_k=60", "workers=0", "knn_every=1"]


def tiny(name: str = "mlp+aug+cos", *extra: str) -> RunConfig:
    return resolve(name, "smoke", [*TINY, *extra])


def _state(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoint_last.pth.tar", weights_only=False)["state_dict"]


def test_smoke_run_writes_the_run_folder(tiny_data: Path, tmp_path: Path):
    run = tmp_path / "run"
    summary = pretrain(tiny(), run, data=tiny_data, seed=0, show_progress=False)
    assert summary["finished"] and summary["epochs_done"] == 2
    config = json.loads((run / "config.json").read_text())
    assert config["recipe"] == "mlp+aug+cos" and config["seed"] == 0 and config["data"] == str(tiny_data)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [0, 1, 2]
    assert "knn_top1" in records[0]  # the random-init reference
    for r in records[1:]:
        assert {"loss", "acc", "lr", "images_per_s", "knn_top1"} <= set(r)
    env = json.loads((run / "env.json").read_text())
    assert {"torch", "torchvision", "device", "git", "world_size"} <= set(env)
    ckpt = torch.load(run / "checkpoint_last.pth.tar", weights_only=False)
    assert ckpt["epoch"] == 2 and ckpt["arch"] == "resnet18"
    assert "module.queue" in ckpt["state_dict"] and "module.encoder_q.fc.0.weight" in ckpt["state_dict"]
    assert (
        int(ckpt["state_dict"]["module.queue_ptr"]) == (2 * 5 * 8) % 60
    )  # 2 epochs x 5 steps x 8 keys, wrapped
    assert (run / "checkpoint_0001.pth.tar").is_file()  # smoke keeps one per epoch (save_every 1)
    assert json.loads((run / "summary.json").read_text())["knn_top1"] == records[-1]["knn_top1"]


def test_resume_ends_where_an_uninterrupted_run_does(tiny_data: Path, tmp_path: Path):
    config = tiny("mlp+aug+cos", "epochs=2", "knn_every=0")
    pretrain(config, tmp_path / "full", data=tiny_data, seed=1, show_progress=False)
    part = pretrain(config, tmp_path / "cut", data=tiny_data, seed=1, stop_after_epoch=1, show_progress=False)
    assert not part["finished"] and not (tmp_path / "cut" / "summary.json").exists()
    pretrain(config, tmp_path / "cut", data=tiny_data, seed=1, resume=True, show_progress=False)
    full, cut = _state(tmp_path / "full"), _state(tmp_path / "cut")
    assert full.keys() == cut.keys()
    for key in full:
        assert torch.equal(full[key], cut[key]), key
    lines = lambda run: [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]  # noqa: E731
    assert [r["loss"] for r in lines(tmp_path / "full")[1:]] == [
        r["loss"] for r in lines(tmp_path / "cut")[1:]
    ]


def test_existing_runs_are_protected(tiny_data: Path, tmp_path: Path):
    config = tiny("moco-v1", "epochs=1", "knn_every=0")
    pretrain(config, tmp_path / "run", data=tiny_data, show_progress=False)
    with pytest.raises(UsageError, match="already holds a run"):
        pretrain(config, tmp_path / "run", data=tiny_data, show_progress=False)
    with pytest.raises(UsageError, match="started with lr="):
        pretrain(config.replace(lr=1.0), tmp_path / "run", data=tiny_data, resume=True, show_progress=False)
    with pytest.raises(UsageError, match="nothing to resume"):
        pretrain(config, tmp_path / "empty", data=tiny_data, resume=True, show_progress=False)


def test_bad_data_writes_nothing(tmp_path: Path):
    (tmp_path / "data" / "train").mkdir(parents=True)
    with pytest.raises(UsageError, match="no class folders"):
        pretrain(tiny(), tmp_path / "run", data=tmp_path / "data", show_progress=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name", ["moco-v1", "simclr-b256", "end-to-end-b256", "supervised"])
def test_every_mechanism_trains(name: str, tiny_data: Path, tmp_path: Path):
    summary = pretrain(
        tiny(name, "epochs=1", "batch_size=8"), tmp_path / name, data=tiny_data, show_progress=False
    )
    record = json.loads((tmp_path / name / "metrics.jsonl").read_text().splitlines()[-1])
    assert summary["finished"] and torch.isfinite(torch.tensor(record["loss"]))
    keys = _state(tmp_path / name).keys()
    if name == "supervised":
        assert (
            "module.fc.weight" in keys
            and json.loads((tmp_path / name / "config.json").read_text())["num_classes"] == 10
        )
    else:
        assert any(k.startswith("module.encoder") for k in keys)


@pytest.mark.slow
def test_two_processes_match_one_process(tiny_data: Path, tmp_path: Path):
    """torchrun with 2 gloo processes (DDP shuffle BN) == 1 process with BatchNorm in 2 groups.

    Two steps of 40 images (K=60, so the second enqueue wraps around): longer runs of this tiny,
    ill-conditioned model (BatchNorm over 20 values at 1x1 spatial size) amplify float rounding, which
    differs between any two thread counts, into visible differences.
    """
    args = [
        "pretrain",
        "--recipe",
        "mlp+aug+cos",
        "--scale",
        "smoke",
        "--data",
        str(tiny_data),
        "--seed",
        "3",
    ]
    for s in [*TINY, "image_size=32", "batch_size=40", "bn_group=20", "epochs=2", "knn_every=0"]:
        args += ["--set", s]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ddp = torchrun(2)
    subprocess.run([*ddp, *args, "--out", str(tmp_path / "ddp")], check=True, env=env, timeout=GUARD_S)
    subprocess.run(
        [sys.executable, "-m", "mocobench", *args, "--out", str(tmp_path / "one")],
        check=True,
        env=env,
        timeout=GUARD_S,
    )
    ddp_state, one_state = _state(tmp_path / "ddp"), _state(tmp_path / "one")
    assert int(ddp_state["module.queue_ptr"]) == int(one_state["module.queue_ptr"]) == 80 % 60
    assert torch.allclose(ddp_state["module.queue"], one_state["module.queue"], atol=1e-4)
    for key, value in one_state.items():
        if "running_" in key or "num_batches" in key:
            continue  # BN running stats: rank 0's under DDP, the mean of the groups in one process
        assert torch.allclose(ddp_state[key], value, atol=1e-4), key
    loss = lambda run: json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["loss"]  # noqa: E731
    assert loss(tmp_path / "ddp") == pytest.approx(loss(tmp_path / "one"), rel=1e-4)  # reduction order


@pytest.mark.slow
def test_two_nodes_by_rendezvous_match_one_node(tiny_data: Path, tmp_path: Path):
    """The README's multi-node launch as far as one machine allows: two launchers ("nodes") of one gloo
    process each, meeting at a c10d rendezvous endpoint, give the same weights as one launcher of two (the
    same shuffle-BN groups: batch 20 over 2 processes, 10 images a process, one group each). One process a
    node keeps the test to two processes at a time on a 2-core CI machine."""
    args = ["pretrain", "--recipe", "moco-v1", "--scale", "smoke", "--data", str(tiny_data), "--seed", "1"]
    for s in [*TINY, "image_size=32", "batch_size=20", "bn_group=10", "epochs=1", "knn_every=0"]:
        args += ["--set", s]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = [sys.executable, "-m", "torch.distributed.run"]
    endpoint = f"127.0.0.1:{free_port()}"
    nodes = [
        subprocess.Popen(
            [*run, "--nnodes", "2", "--nproc_per_node", "1", "--rdzv_backend", "c10d",
             "--rdzv_endpoint", endpoint, "--rdzv_id", "mocobench-test",
             "-m", "mocobench", *args, "--out", str(tmp_path / "two-nodes")],
            env=env,
        )
        for _ in range(2)
    ]  # fmt: skip
    assert [node.wait(timeout=GUARD_S) for node in nodes] == [0, 0]
    one_node = [*run, "--nproc_per_node", "2", "--master_port", str(free_port())]
    subprocess.run(
        [*one_node, "-m", "mocobench", *args, "--out", str(tmp_path / "one-node")], check=True, env=env
    )
    env_json = json.loads((tmp_path / "two-nodes" / "env.json").read_text())
    assert env_json["world_size"] == 2
    two, one = _state(tmp_path / "two-nodes"), _state(tmp_path / "one-node")
    for key, value in one.items():
        assert torch.allclose(two[key].float(), value.float(), atol=1e-6), key


def test_the_cifar10_demo_scores_knn_on_its_128d_output(tiny_data: Path, tmp_path: Path, monkeypatch):
    """`knn_on = "output"`: the monitor reads encoder_q with its fc (128-d), as the demo's `net` does."""
    import mocobench.train.pretrain as loop

    seen: list[tuple[int, ...]] = []

    def fake_knn(features, bank, val, num_classes, device, k, t):
        features.eval()
        seen.append(tuple(features(torch.zeros(2, 3, 32, 32)).shape))
        assert (k, t) == (200, 0.1)
        return 0.0

    monkeypatch.setattr(loop, "knn_accuracy", fake_knn)
    config = resolve("moco-cifar10-demo", "smoke", ["batch_size=8", "bn_group=4", "moco_k=64", "workers=0"])
    pretrain(config, tmp_path / "demo", data=tiny_data, seed=0, show_progress=False)
    assert seen and set(seen) == {(2, 128)}  # random init and the last epoch, both on the 128-d output
    state = _state(tmp_path / "demo")
    assert state["module.encoder_q.conv1.weight"].shape[-1] == 3  # the CIFAR stem
    monkeypatch.undo()
    seen.clear()
    monkeypatch.setattr(loop, "knn_accuracy", fake_knn)
    other = resolve("moco-v1", "smoke", [*TINY, "image_size=32", "knn_every=0", "epochs=1"])
    pretrain(other, tmp_path / "v1", data=tiny_data, seed=0, show_progress=False)
    assert set(seen) == {(2, 512)}  # the default: pooled backbone features (what linear evaluation reads)


def test_pretrain_and_linear_on_cifar10_files(tmp_path: Path):
    """`cifar10:PATH` end to end: converted once, CIFAR's mean/std recorded and used, the test split scored
    whole at 32 px, K fitted to the data at a tier that sets it as a fraction."""
    from format_files import write_cifar10

    from mocobench.evaluate.linear import evaluate_pretrained

    written = write_cifar10(tmp_path / "src", train_per_class=4, test_per_class=2)
    spec = f"cifar10:{written.path}"
    run = tmp_path / "run"
    config = tiny("mlp+aug+cos", "image_size=32", "moco_k_fraction=0.4")  # 0.4 x 40 images = 16: 2 batches
    pretrain(config, run, data=spec, seed=0, show_progress=False)
    config = json.loads((run / "config.json").read_text())
    assert config["moco_k"] == 16
    assert config["data"] == spec and config["data_kind"] == "cifar10" and config["data_classes"] == 10
    assert config["mean"] == [0.4914, 0.4822, 0.4465] and config["std"] == [0.2023, 0.1994, 0.2010]
    result, path = evaluate_pretrained(run, show_progress=False)  # the run's own data by default
    assert path == run / "linear.json" and result["trials"][0]["epochs"][-1]["val_images"] == 20
    assert result["trials"][0]["num_classes"] == 10
    from mocobench.data.sources import open_data
    from mocobench.train.data import eval_views

    views = eval_views(read_config(run), open_data(spec))  # the run's config as evaluation reads it
    assert [type(t).__name__ for t in views.transforms] == ["ToTensor", "Normalize"]  # whole 32-px image
