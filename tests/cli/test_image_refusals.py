"""pretrain, knn and linear refuse hostile images and meaningless class folders in one line, exit 2, before
they write anything (issue 20)."""

from __future__ import annotations

from pathlib import Path

import pytest
from checkpoints import torchvision_file
from hostile import bomb_png, image_folder, truncate

PRETRAIN = (
    "pretrain",
    "--recipe",
    "moco-v1",
    "--scale",
    "smoke",
    "--set",
    "image_size=16",
    "--set",
    "batch_size=4",
    "--data",
)


def _one_line(code: int, err: str, *needles: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error:"), err
    for needle in needles:
        assert needle in lines[0], lines[0]


def _nothing_written(out: Path) -> None:
    """No config.json, env.json, metrics.jsonl, tensorboard/, result file or lock left in the folder."""
    left = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert not left, left


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    return torchvision_file(tmp_path / "resnet18.pth")[0]


def _evaluate(command: str, checkpoint: Path, data: Path, out: Path) -> tuple[str, ...]:
    return (
        command,
        "--pretrained",
        str(checkpoint),
        "--data",
        str(data),
        "--scale",
        "smoke",
        "--out",
        str(out),
    )


@pytest.mark.parametrize("workers", ["0", "1"])
def test_pretrain_refuses_a_truncated_jpeg_before_its_run_folder(tmp_path: Path, cli, workers: str):
    data = image_folder(tmp_path / "d")
    bad = truncate(data / "train" / "b" / "1.jpg")
    out = tmp_path / "run"
    code, _, err = cli(*PRETRAIN, str(data), "--out", str(out), "--set", f"workers={workers}")
    _one_line(code, err, f"unreadable image {bad}", "remove or replace the file")
    _nothing_written(out)


@pytest.mark.parametrize("command", ["pretrain", "knn", "linear"])
def test_a_decompression_bomb_is_one_line_in_every_command(
    tmp_path: Path, cli, checkpoint: Path, command: str
):
    data = image_folder(tmp_path / "d")
    bomb = bomb_png(data / "val" / "a" / "bomb.png")
    out = tmp_path / "out"
    if command == "pretrain":
        args: tuple[str, ...] = (*PRETRAIN, str(data), "--out", str(out))
    else:
        args = _evaluate(command, checkpoint, data, out)
    code, _, err = cli(*args)
    _one_line(code, err, f"image {bomb} has more than", "downscale or remove the file")
    _nothing_written(out)


@pytest.mark.parametrize("command", ["pretrain", "knn", "linear"])
def test_one_class_and_an_empty_class_folder_are_refused(tmp_path: Path, cli, checkpoint: Path, command: str):
    # enough images for a smoke batch (16): nothing but the classes is wrong
    single = image_folder(tmp_path / "single", classes=("cat",), train=16)
    empty = image_folder(tmp_path / "empty", classes=("a", "b", "c"), train=6)
    for image in (empty / "val" / "c").iterdir():
        image.unlink()
    for data, needles in (
        (single, ("train has one class folder (cat)", "at least 2")),
        (empty, (f"class folder {empty / 'val' / 'c'} holds no images", "remove the folder")),
    ):
        out = tmp_path / f"out-{data.name}"
        if command == "pretrain":
            args: tuple[str, ...] = (*PRETRAIN, str(data), "--out", str(out))
        else:
            args = _evaluate(command, checkpoint, data, out)
        _one_line(*cli(*args)[::2], *needles)
        _nothing_written(out)
