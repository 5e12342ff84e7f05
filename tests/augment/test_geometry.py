"""geometry: torchvision's crop distribution and PIL's resize, on uint8 arrays."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from photos import photo
from PIL import Image
from torchvision import transforms as T

from mocobench.augment.geometry import crop_resize_flip, sample_crop

RATIO = (3 / 4, 4 / 3)


def ks(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic (exact for ties: CDFs compared at every observed value)."""
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / len(a)
    cdf_b = np.searchsorted(b, grid, side="right") / len(b)
    return float(np.abs(cdf_a - cdf_b).max())


def crop_stats(boxes: np.ndarray, h: int, w: int) -> dict[str, np.ndarray]:
    top, left, bh, bw = boxes.T.astype(np.float64)
    return {
        "area": bh * bw / (h * w),
        "aspect": np.log(bw / bh),
        "cy": (top + bh / 2) / h,
        "cx": (left + bw / 2) / w,
    }


def draws(h: int, w: int, scale: tuple[float, float], n: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    ours = np.array([sample_crop(h, w, scale, RATIO, rng) for _ in range(n)])
    torch.manual_seed(0)
    img = torch.empty(1, h, w)  # get_params only reads the size
    ref = np.array([T.RandomResizedCrop.get_params(img, list(scale), list(RATIO)) for _ in range(n)])
    return ours, ref


@pytest.mark.parametrize(
    ("h", "w", "scale"),
    [(375, 500, (0.2, 1.0)), (500, 333, (0.08, 1.0)), (48, 160, (0.2, 1.0))],  # the last falls back often
)
def test_sample_crop_has_torchvisions_distribution(h: int, w: int, scale: tuple[float, float]):
    ours, ref = draws(h, w, scale)
    so, sr = crop_stats(ours, h, w), crop_stats(ref, h, w)
    for key in so:
        assert ks(so[key], sr[key]) < 0.025, key  # critical value at p = 0.001: 0.0195
    assert (ours[:, 2] <= h).all() and (ours[:, 3] <= w).all() and (ours >= 0).all()
    fallback = T.RandomResizedCrop.get_params(torch.empty(1, h, w), [10.0, 10.0], list(RATIO))  # never fits
    rate_ours = np.mean((ours == fallback).all(axis=1))
    rate_ref = np.mean((ref == fallback).all(axis=1))
    assert rate_ours == pytest.approx(rate_ref, abs=0.015)
    if (h, w) == (48, 160):
        assert rate_ref > 0.2  # the fallback really was exercised


def test_sample_crop_distribution_check_detects_a_wrong_scale():
    ours, _ = draws(375, 500, (0.3, 1.0), n=5000)
    _, ref = draws(375, 500, (0.2, 1.0), n=5000)
    assert ks(crop_stats(ours, 375, 500)["area"], crop_stats(ref, 375, 500)["area"]) > 0.05


@pytest.mark.parametrize(
    ("h", "w", "scale"),
    [(10, 1000, (0.9, 1.0)), (1000, 10, (0.9, 1.0)), (375, 500, (1.5, 2.0)), (300, 200, (1.5, 2.0))],
)
def test_sample_crop_fallback_is_torchvisions(h: int, w: int, scale: tuple[float, float]):
    """Nothing fits in 10 tries: the centred crop with the aspect clamped to `ratio` (or the whole image)."""
    rng = np.random.default_rng(0)
    expected = T.RandomResizedCrop.get_params(torch.empty(1, h, w), list(scale), list(RATIO))
    assert all(sample_crop(h, w, scale, RATIO, rng) == expected for _ in range(5))


IMG = photo(120, 160)


@pytest.mark.parametrize(
    "box",
    [(0, 0, 120, 160), (7, 11, 90, 70), (30, 40, 48, 48), (3, 5, 20, 31)],
    ids=["shrink-2.5x", "shrink-1.7x", "identity", "enlarge"],
)
def test_crop_resize_matches_torchvisions_pil_resize(box: tuple[int, int, int, int]):
    """torch's uint8 antialiased bilinear = PIL's BILINEAR resize (what torchvision runs on PIL images);
    cv2's INTER_AREA and INTER_LINEAR are measurably further off, which is why they are not used."""
    size = 48
    ref = np.asarray(TF.resized_crop(Image.fromarray(IMG), *box, [size, size], antialias=True)).astype(int)
    ours = crop_resize_flip(IMG, box, size, flip=False)
    assert ours.dtype == np.uint8 and ours.shape == (size, size, 3) and ours.flags.c_contiguous
    d = np.abs(ours.astype(int) - ref)
    assert d.mean() < 0.05 and d.max() <= 8
    assert np.array_equal(crop_resize_flip(IMG, box, size, flip=True), ours[:, ::-1])
    if box[2] > size:  # shrinking: cv2's filters are visibly different
        crop = IMG[box[0] : box[0] + box[2], box[1] : box[1] + box[3]]
        for interp in (cv2.INTER_AREA, cv2.INTER_LINEAR):
            other = cv2.resize(crop, (size, size), interpolation=interp).astype(int)
            assert np.abs(other - ref).mean() > 5 * d.mean() + 0.1
