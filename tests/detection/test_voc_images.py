"""detect-voc decodes the JPEGs it will read before it creates detection/ or tensorboard/ (issue 20)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hostile import truncate

from mocobench.data.voc import find_devkit, read_image_set
from mocobench.data.voc_synth import VocSynthSpec, write_voc
from mocobench.detection.datasets import selected_images
from mocobench.errors import UsageError

SPEC = VocSynthSpec(image_size=32, trainval_2007=4, trainval_2012=2, test_2007=3)


@pytest.fixture
def devkit(tmp_path: Path) -> Path:
    return write_voc(tmp_path / "voc", SPEC) / "VOCdevkit"


def test_detect_voc_refuses_a_truncated_jpeg_before_it_writes(devkit: Path, tmp_path: Path, cli):
    year = devkit / "VOC2007"
    bad = truncate(year / "JPEGImages" / f"{read_image_set(year, 'test')[0]}.jpg")
    out = tmp_path / "out"
    args = (
        "detect-voc",
        "--pretrained",
        "random",
        "--scale",
        "smoke",
        "--data",
        str(devkit),
        "--out",
        str(out),
    )
    code, _, err = cli(*args)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, err
    assert lines[0] == f"error: unreadable image {bad} (OSError); remove or replace the file"
    assert not (out / "detection").exists() and not (out / "tensorboard").exists()
    assert not out.exists() or not list(out.iterdir())


def test_the_check_reads_the_selection_the_caps_make(devkit: Path):
    layout = find_devkit(devkit)
    year = devkit / "VOC2007"
    last = read_image_set(year, "trainval")[-1]
    bad = truncate(year / "JPEGImages" / f"{last}.jpg")
    assert selected_images(layout, max_train=2, max_test=1) == (2, read_image_set(year, "test")[:1])
    with pytest.raises(UsageError, match=f"unreadable image {bad}"):
        selected_images(layout)  # uncapped: the last 2007 trainval image is read, and refused
    (year / "JPEGImages" / f"{last}.jpg").unlink()
    with pytest.raises(UsageError, match=rf"unreadable image {bad} \(FileNotFoundError\)"):
        selected_images(layout)
