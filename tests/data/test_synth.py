"""The embedded dataset: deterministic, class = shape only, cached, written whole or not at all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mocobench.data import shapes
from mocobench.data.synth import (
    SynthSpec,
    embedded_dataset,
    render_classification_image,
    sample_colors,
    write_classification,
)

SPEC = SynthSpec(seed=3, image_size=32, train_per_class=2, val_per_class=1)


def test_rendering_is_deterministic_and_seeded():
    a, la = render_classification_image(SPEC, "train", 7)
    b, lb = render_classification_image(SPEC, "train", 7)
    c, _ = render_classification_image(SynthSpec(seed=4, image_size=32), "train", 7)
    assert la == lb == 7 % 10
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.shape == (32, 32, 3) and a.dtype == np.uint8


def test_every_shape_has_a_distinct_mask():
    yy, xx = np.mgrid[-1:1:64j, -1:1:64j]
    masks = {name: shapes.shape_mask(name, xx, yy) for name in shapes.SHAPES}
    for name, mask in masks.items():
        assert 0.1 < mask.mean() < 0.9, name
    names = list(masks)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert (masks[a] != masks[b]).mean() > 0.03, (a, b)


def test_colours_are_independent_of_class_and_keep_luma_contrast():
    rng = np.random.default_rng(0)
    for _ in range(50):
        fg, bg = sample_colors(rng)
        luma = np.array([0.299, 0.587, 0.114])
        assert abs(fg @ luma - bg @ luma) >= 45
    # Mean image colour per class is about the same: colour carries no class information.
    means = np.zeros((10, 3))
    for i in range(400):
        img, label = render_classification_image(SynthSpec(image_size=32), "train", i)
        means[label] += img.reshape(-1, 3).mean(0) / 40
    assert np.ptp(means, axis=0).max() < 40


def test_object_box_covers_the_object():
    obj = shapes.ObjectSpec("square", cx=20, cy=12, size=10, rotation=0.0, color=(255, 0, 0))
    x0, y0, x1, y1 = shapes.object_box(obj, 32, 32)
    assert (x0, y0, x1, y1) == (16, 8, 23, 15)  # 0.75 of the half-size 5 around (20, 12)
    far = shapes.ObjectSpec("circle", cx=-50, cy=-50, size=4, rotation=0.0, color=(0, 0, 0))
    assert shapes.object_box(far, 32, 32) is None


def test_write_classification_layout(tmp_path: Path):
    out = write_classification(tmp_path / "shapes", SPEC)
    train = sorted(out.glob("train/*/*.png"))
    val = sorted(out.glob("val/*/*.png"))
    assert len(train) == 20 and len(val) == 10
    assert sorted(p.name for p in (out / "train").iterdir()) == sorted(shapes.SHAPES)
    assert Image.open(train[0]).size == (32, 32)
    assert (out / "synth.json").is_file()
    assert not list(tmp_path.glob(".*tmp*"))  # the temporary folder was renamed into place


def test_embedded_dataset_is_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MOCOBENCH_HOME", str(tmp_path))
    first = embedded_dataset(SPEC)
    stamp = (first / "synth.json").stat().st_mtime_ns
    assert embedded_dataset(SPEC) == first
    assert (first / "synth.json").stat().st_mtime_ns == stamp
    assert first.parent == tmp_path / "data"
