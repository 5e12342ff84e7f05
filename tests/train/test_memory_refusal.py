"""Pre-training refuses a step its device cannot hold (run/memory.py) in one line, before any run file."""

from __future__ import annotations

from pathlib import Path


def test_a_step_too_large_for_the_machine_is_one_line_and_no_folder(cli, tiny_data: Path, tmp_path: Path):
    out = tmp_path / "run"
    code, _, err = cli(
        "pretrain", "--recipe", "mlp+aug+cos", "--scale", "smoke", "--data", str(tiny_data),
        "--out", str(out), "--device", "cpu", "--set", "arch=resnet50", "--set", "image_size=1024",
        "--set", "batch_size=512", "--set", "moco_k=1024", "--set", "bn_group=16",
    )  # fmt: skip
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, err
    assert "GiB" in lines[0] and "image_size=" in lines[0]
    assert not out.exists()


def test_an_image_size_no_tier_uses_is_refused_at_the_command_line(cli, tmp_path: Path):
    code, _, err = cli("recipes", "show", "mlp+aug+cos", "--scale", "smoke", "--set", "image_size=100000")
    assert code == 2 and "image_size must be in [8, 1024], not 100000" in err


def test_the_knn_monitor_batches_no_more_images_than_a_training_step(tiny_data: Path):
    """The monitor's forward runs where the training step was judged to fit (`run/memory.py`): its batches
    are at most a process's training batch (at image_size 1024, 256 images a batch was killed for memory)."""
    import torch

    from mocobench.data.sources import open_data
    from mocobench.run.config import resolve
    from mocobench.runtime.distributed import DistInfo
    from mocobench.train.data import KNN_BATCH, build_data

    config = resolve("mlp+aug+cos", "smoke", ["workers=0", "batch_size=8", "bn_group=4", "moco_k=16"])
    source = open_data(tiny_data)
    config = config.replace(mean=list(source.mean), std=list(source.std))
    one = build_data(config, source, 0, DistInfo(0, 1, 0, torch.device("cpu"), None))
    assert one.bank.batch_size == one.val.batch_size == 8 < KNN_BATCH
    two = build_data(config, source, 0, DistInfo(0, 2, 0, torch.device("cpu"), None))
    assert two.bank.batch_size == 4  # 8 images over 2 processes
