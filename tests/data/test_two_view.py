"""two_view: torchvision's crop distribution, PIL's resize and decode, TwoViewFolder's keys and views."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torch.utils.data import DataLoader
from torchvision import transforms as T

from mocobench.data.aug_spec import view_spec
from mocobench.data.cpu_colour import apply_colour
from mocobench.data.folder import GlobalBatchSampler, list_split, load_rgb
from mocobench.data.two_view import TwoViewFolder, crop_resize_flip, decode, sample_crop, worker_init
from mocobench.errors import UsageError

RATIO = (3 / 4, 4 / 3)


def photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth colour waves, shapes with sharp edges and noise (photo-like content for resizing)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    waves = [128 + 90 * np.sin(a * xx / 9 + b * yy / 7 + c) for a, b, c in rng.uniform(-1, 1, (3, 3))]
    img = np.stack(waves, -1).astype(np.uint8)
    for _ in range(8):
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p2 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.rectangle(img, p1, p2, colour, -1)
    return np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)


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


def write(path: Path, img: np.ndarray, mode: str = "RGB", **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).convert(mode).save(path, **kw)
    return path


@pytest.mark.parametrize(
    ("name", "mode"),
    [("a.jpg", "RGB"), ("b.jpg", "L"), ("c.jpg", "CMYK"), ("d.png", "RGBA"), ("e.png", "P"), ("f.png", "LA")],
)
def test_decode_equals_load_rgb(tmp_path: Path, name: str, mode: str):
    path = write(tmp_path / name, IMG, mode)
    img = decode(path)
    assert img.dtype == np.uint8 and img.shape == (120, 160, 3) and img.flags.writeable
    assert np.array_equal(img, np.asarray(load_rgb(path)))


def test_decode_16_bit_png(tmp_path: Path):
    path = tmp_path / "g.png"
    Image.fromarray(IMG[..., 0].astype(np.uint16) * 257).save(path)
    assert np.array_equal(decode(path), np.asarray(load_rgb(path)))


def test_unreadable_images_raise_the_usage_error(tmp_path: Path):
    good = write(tmp_path / "good.jpg", IMG, quality=90).read_bytes()
    cases = {
        "garbage.jpg": b"not a jpeg",
        "empty.jpg": b"",
        "header_only.jpg": good[:20],
        "truncated.jpg": good[: len(good) // 2],
        "corrupt.jpg": good[:200] + bytes(len(good) - 202) + b"\xff\xd9",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    for name in [*cases, "missing.jpg"]:
        with pytest.raises(UsageError, match=f"unreadable image .*{re.escape(name)}"):
            decode(tmp_path / name)
        # The reference loader agrees on every one of them.
        with pytest.raises(UsageError):
            load_rgb(tmp_path / name)


# --- TwoViewFolder ---------------------------------------------------------------------------------------

S = 32


@pytest.fixture(scope="module")
def jpegs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 classes x 6 JPEGs of 60x80 / 80x60 (and one PNG), ImageNet layout."""
    root = tmp_path_factory.mktemp("jpegs")
    for c in range(2):
        for i in range(6):
            h, w = (60, 80) if i % 2 else (80, 60)
            write(root / "train" / f"class{c}" / f"{i}.jpg", photo(h, w, seed=10 * c + i), quality=90)
    write(root / "train" / "class1" / "7.png", photo(50, 70, seed=99))
    return root


def folder(
    root: Path, kind: str = "aug_plus", in_workers: bool = True, seed: int = 0, **spec
) -> TwoViewFolder:
    samples, classes = list_split(root, "train")
    return TwoViewFolder(samples, classes, replace(view_spec(kind, S), **spec), in_workers, seed=seed)


def test_views_are_reproducible_per_key(jpegs: Path):
    ds = folder(jpegs)
    views, label = ds[(0, 3)]
    assert views.dtype == torch.uint8 and views.shape == (2, 3, S, S) and views.is_contiguous()
    assert label == ds.samples[3][1]
    assert torch.equal(views, ds[(0, 3)][0])  # same (seed, epoch, index): the same pair
    assert torch.equal(views, folder(jpegs)[(0, 3)][0])  # a fresh dataset (resumed run) too
    assert not torch.equal(views, ds[(1, 3)][0])  # next epoch: new draws
    assert not torch.equal(views, folder(jpegs, seed=1)[(0, 3)][0])
    assert not torch.equal(views[0], views[1])
    assert ds[(0, 12)][0].shape == (2, 3, S, S)  # the PNG


def test_geometry_only_views_are_the_uncoloured_crops(jpegs: Path):
    """Geometry draws come first, so both modes cut the same crops; colour then follows on the same rng."""
    geo, col = folder(jpegs, in_workers=False), folder(jpegs, in_workers=True)
    for key in [(0, i) for i in range(len(geo))]:
        index, rng = geo.rng(key)
        img = decode(geo.samples[index][0])
        crops = [crop_resize_flip(img, box, S, flip) for box, flip in geo.geometry(rng, *img.shape[:2])]
        expected = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2)
        assert torch.equal(geo[key][0], expected)
        coloured = [apply_colour(c.copy(), col.spec.colour, rng) for c in crops]
        assert torch.equal(col[key][0], torch.from_numpy(np.stack(coloured)).permute(0, 3, 1, 2))
    assert torch.equal(folder(jpegs, in_workers=True, colour=())[(2, 5)][0], geo[(2, 5)][0])


def test_the_two_views_are_independent_draws(jpegs: Path):
    ds = folder(jpegs, kind="simclr")
    area, flips, same = [], [], 0
    for index in range(3000):
        _, rng = ds.rng((0, index))
        (b0, f0), (b1, f1) = ds.geometry(rng, 375, 500)
        area.append((b0[2] * b0[3], b1[2] * b1[3]))
        flips.append((f0, f1))
        same += b0 == b1
    a = np.array(area, dtype=np.float64)
    f = np.array(flips, dtype=np.float64)
    assert abs(np.corrcoef(a.T)[0, 1]) < 0.06
    assert f.mean() == pytest.approx(0.5, abs=0.03) and abs(np.corrcoef(f.T)[0, 1]) < 0.06
    assert same == 0


def test_int_keys_draw_from_torchs_generator(jpegs: Path):
    ds = folder(jpegs)
    torch.manual_seed(0)
    a = ds[4][0]
    torch.manual_seed(0)
    assert torch.equal(a, ds[4][0])
    assert not torch.equal(a, ds[4][0])


def test_dataloader_with_two_workers(jpegs: Path):
    ds = folder(jpegs)
    sampler = GlobalBatchSampler(len(ds), 4, seed=0)
    serial = list(DataLoader(ds, batch_sampler=sampler))
    loader = DataLoader(ds, batch_sampler=sampler, num_workers=2, worker_init_fn=worker_init)
    parallel = list(loader)
    assert len(parallel) == len(serial) == 3
    for (v1, y1), (v2, y2) in zip(serial, parallel, strict=True):
        assert v2.shape == (4, 2, 3, S, S) and v2.dtype == torch.uint8
        assert torch.equal(v1, v2) and torch.equal(y1, y2)


def test_worker_init_sets_one_thread():
    before = cv2.getNumThreads(), torch.get_num_threads()
    try:
        worker_init(0)
        assert cv2.getNumThreads() == 1 and torch.get_num_threads() == 1
    finally:
        cv2.setNumThreads(before[0])
        torch.set_num_threads(before[1])


def test_unreadable_image_in_the_dataset(tmp_path: Path):
    bad = tmp_path / "train" / "cat" / "broken.jpg"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"\xff\xd8\xff not really")
    with pytest.raises(UsageError, match=r"unreadable image .*broken\.jpg"):
        folder(tmp_path)[(0, 0)]
