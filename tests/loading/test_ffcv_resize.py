"""FFCV's resize of a crop (`ffcv_kernels.resize_view`) against the official PIL-bilinear one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("ffcv")

import cv2
from test_ffcv import _image, epoch_batches, pil_view

from mocobench.augment.spec import ViewSpec, view_spec
from mocobench.data.folder import list_split
from mocobench.loading.ffcv_beton import read_image
from mocobench.loading.ffcv_loader import TwoViewFFCV
from mocobench.loading.ffcv_writer import write_beton


def test_resize_view_is_pils_bilinear_where_it_enlarges() -> None:
    """Bit for bit PIL's `resize(BILINEAR)` when a side is enlarged (both pass orders of Pillow 13 included:
    sizes drawn to cover shrinking one side and enlarging the other); OpenCV's INTER_AREA when shrunk."""
    from mocobench.loading.ffcv_kernels import kernels

    resize_view = kernels().resize_view
    rng = np.random.default_rng(7)
    enlarged = 0
    for _ in range(300):
        img = _image(rng, int(rng.integers(12, 80)), int(rng.integers(12, 80)))
        size = int(rng.choice([16, 24, 32, 37]))
        h, w = int(rng.integers(1, img.shape[0] + 1)), int(rng.integers(1, img.shape[1] + 1))
        top, left = int(rng.integers(0, img.shape[0] - h + 1)), int(rng.integers(0, img.shape[1] - w + 1))
        out = np.empty((size, size, 3), np.uint8)
        resize_view(img, top, left, h, w, out)
        if h < size or w < size:
            enlarged += 1
            assert np.array_equal(out, pil_view(img, top, left, h, w, size)), (img.shape, h, w, size)
        else:
            crop = img[top : top + h, left : left + w]
            assert np.array_equal(out, cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA))
    assert 100 < enlarged < 290


def test_views_of_32px_images_are_the_official_pil_views(tmp_path: Path) -> None:
    """CIFAR and the `gpu` tier: 32-px images, 32-px views, so every crop is enlarged. The loader's views
    are the official PIL-bilinear views of its crop boxes, bit for bit (libffcv's INTER_AREA made
    nearest-neighbour-like blocks: `bench views` measured 1.43 levels, 39.2 dB off)."""
    rng = np.random.default_rng(5)
    for k in range(12):
        cdir = tmp_path / "data" / "train" / f"class{k % 2}"
        cdir.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_image(rng, 32, 32)).save(cdir / f"img{k:02d}.png")  # PNG, as CIFAR is stored
    samples = list_split(tmp_path / "data", "train")[0]
    small = write_beton(samples, tmp_path / "cifar.beton", max_resolution=512, workers=1, progress=False)
    enlarged = 0
    for spec in (ViewSpec("aug_plus", 32, (0.2, 1.0), ()), view_spec("cifar_demo", 32)):
        loader = TwoViewFFCV(small, spec, 4, seed=1, workers=1, drop_last=False)
        views, _ = epoch_batches(loader, 0)
        for pos, index in enumerate(loader.order(0).tolist()):
            img = read_image(small, index)
            for v, (top, left, h, w, flip) in enumerate(loader.crop_boxes(index, 0)):
                enlarged += h < 32 or w < 32
                want = pil_view(img, top, left, h, w, 32)
                want = want[:, ::-1] if flip else want
                diff = np.abs(views[pos, v].transpose(1, 2, 0).astype(int) - want)
                assert diff.max() == 0, (index, v, diff.mean())
    assert enlarged >= 44  # of 48 views: a crop of the whole image (scale and ratio near 1) is no resize
