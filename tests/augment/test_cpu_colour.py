"""cpu_colour: each uint8 OpenCV op against torchvision's PIL op, and whole pipelines against reference.py."""

from __future__ import annotations

import copy
from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from PIL import Image, ImageFilter
from torchvision import transforms as T

from mocobench.augment import cpu_colour as cc
from mocobench.augment.reference import pretrain_transform
from mocobench.augment.spec import Blur, Grayscale, Jitter, Solarize, ViewSpec, view_spec


def natural_image(size: int = 64, seed: int = 0) -> np.ndarray:
    """Smooth colour gradients, saturated shapes and a little noise: the kinds of pixels photos have."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    img = np.stack(
        [128 + 100 * np.sin(6 * (a * xx + b * yy) + c) for a, b, c in rng.uniform(-1, 1, (3, 3))], -1
    )
    img = img.astype(np.uint8)
    for _ in range(6):
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        centre = tuple(int(v) for v in rng.integers(0, size, 2))
        cv2.circle(img, centre, int(rng.integers(size // 10, size // 3)), colour, -1, cv2.LINE_AA)
    noise = rng.normal(0, 6, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


NATURAL = natural_image()
NOISE = np.random.default_rng(1).integers(0, 256, (48, 48, 3), dtype=np.uint8)


def diff(ours: np.ndarray, ref: Image.Image) -> np.ndarray:
    return np.abs(ours.astype(np.int32) - np.asarray(ref).astype(np.int32))


@pytest.mark.parametrize("img", [NATURAL, NOISE], ids=["natural", "noise"])
@pytest.mark.parametrize("factor", [0.0, 0.37, 0.6, 1.0, 1.23, 1.8])
def test_brightness_and_contrast_are_exact(img: np.ndarray, factor: float):
    # Same float32 blend and truncation as PIL's ImageEnhance, as a LUT: no difference at all.
    pil = Image.fromarray(img)
    assert diff(cc.adjust_brightness(img.copy(), factor), TF.adjust_brightness(pil, factor)).max() == 0
    assert diff(cc.adjust_contrast(img.copy(), factor), TF.adjust_contrast(pil, factor)).max() == 0


@pytest.mark.parametrize("img", [NATURAL, NOISE], ids=["natural", "noise"])
@pytest.mark.parametrize("factor", [0.0, 0.37, 0.6, 1.0, 1.23, 1.8])
def test_saturation_within_one_level(img: np.ndarray, factor: float):
    # cv2 luma (1 level off on 0.13% of colours) and addWeighted's rounding-made-truncation.
    d = diff(cc.adjust_saturation(img.copy(), factor), TF.adjust_saturation(Image.fromarray(img), factor))
    assert d.max() <= 1 and d.mean() < 0.01


def test_grayscale_and_solarize():
    for img in (NATURAL, NOISE):
        pil = Image.fromarray(img)
        d = diff(cc.to_grayscale(img.copy()), TF.rgb_to_grayscale(pil, num_output_channels=3))
        assert d.max() <= 1 and d.mean() < 0.005
        assert diff(cc.solarize(img.copy(), 0.5), TF.solarize(pil, 128)).max() == 0
        assert diff(cc.solarize(img.copy(), 0.25), TF.solarize(pil, 64)).max() == 0


@pytest.mark.parametrize("hue", [-0.5, -0.2, -0.1, -0.03, 0.0, 0.05, 0.1, 0.4])
def test_hue_within_a_few_levels(hue: float):
    """cv2's HSV_FULL rounds H and S to 256 levels, PIL truncates H to 255 per turn: mean |diff| ~1 level,
    max ~8 on photo-like pixels (~13 on uniform noise, whose dark saturated pixels quantise worst)."""
    for img, max_tol in ((NATURAL, 10), (NOISE, 16)):
        d = diff(cc.adjust_hue(img.copy(), hue), TF.adjust_hue(Image.fromarray(img), hue))
        assert d.max() <= max_tol and d.mean() < 1.5, (hue, d.max(), d.mean())
    # The shift has the right sign and size: the opposite shift is far off.
    if 0.1 <= abs(hue) < 0.5:
        wrong = diff(cc.adjust_hue(NATURAL.copy(), -hue), TF.adjust_hue(Image.fromarray(NATURAL), hue))
        assert wrong.mean() > 10


def edge_energy(img: np.ndarray) -> float:
    return float(np.abs(np.diff(np.asarray(img).astype(np.float32), axis=1)).mean())


@pytest.mark.parametrize("sigma", [0.1, 0.5, 1.0, 1.5, 2.0])
def test_blur_close_to_pils_box_approximation(sigma: float):
    """A sampled Gaussian vs PIL's 3 extended-box passes of the same variance, rounded after each pass:
    a few levels at edges, edge energy within ~20% at any sigma (PIL's per-pass rounding keeps more
    detail at sigma ~0.3, less at 0.5-0.8) and ~within 5% averaged over sigma ~ U(0.1, 2)."""
    ours = cc.gaussian_blur(NATURAL.copy(), sigma)
    ref = Image.fromarray(NATURAL).filter(ImageFilter.GaussianBlur(sigma))
    d = diff(ours, ref)
    assert d.max() <= 12 and d.mean() < 1.0
    assert edge_energy(ours) == pytest.approx(edge_energy(ref), rel=0.2)


def test_blur_edge_energy_over_the_sigma_range():
    sigmas = np.linspace(0.1, 2.0, 40)
    ours = np.mean([edge_energy(cc.gaussian_blur(NATURAL.copy(), float(s))) for s in sigmas])
    ref = np.mean(
        [edge_energy(Image.fromarray(NATURAL).filter(ImageFilter.GaussianBlur(float(s)))) for s in sigmas]
    )
    assert ours == pytest.approx(ref, rel=0.05)


def test_jitter_applies_its_draws_in_the_drawn_order():
    """ColorJitter.get_params' scheme: a permutation of the 4 ops, then factors b, c, s, h; replayed here
    with torchvision's PIL functions (differences: hue's few levels, scaled up by a later contrast)."""
    op = Jitter(0.4, 0.4, 0.4, 0.1)
    fns = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue)
    for seed in range(12):
        rng = np.random.default_rng(seed)
        replay = copy.deepcopy(rng)
        order = replay.permutation(4)
        factors = [replay.uniform(0.6, 1.4) for _ in range(3)] + [replay.uniform(-0.1, 0.1)]
        ref = Image.fromarray(NATURAL)
        for fn in order:
            ref = fns[fn](ref, factors[fn])
        d = diff(cc.color_jitter(NATURAL.copy(), op, rng), ref)
        assert d.max() <= 16 and d.mean() < 2.5, (seed, order, d.max(), d.mean())  # hue diffs, scaled


def test_apply_colour_contract():
    img = NATURAL.copy()
    ops = view_spec("simclr", 64).colour
    out = cc.apply_colour(img, ops, np.random.default_rng(0))
    assert out.dtype == np.uint8 and out.shape == img.shape and out.flags.c_contiguous
    again = cc.apply_colour(NATURAL.copy(), ops, np.random.default_rng(0))
    assert np.array_equal(out, again)  # a generator fixes every draw
    assert np.array_equal(cc.apply_colour(NATURAL.copy(), (), np.random.default_rng(0)), NATURAL)
    strided = np.ascontiguousarray(np.concatenate([NATURAL, NATURAL], 1))[:, ::2]
    assert cc.apply_colour(strided, ops, np.random.default_rng(0)).shape == strided.shape
    with pytest.raises(ValueError, match="uint8"):
        cc.apply_colour(NATURAL.astype(np.float32), ops, np.random.default_rng(0))
    always = (Jitter(0, 0, 0, 0), Grayscale(1.0), Solarize(1.0), Blur((0.1, 0.1), p=0.0))
    gray = cc.apply_colour(NATURAL.copy(), always, np.random.default_rng(0))
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()


def test_apply_colour_is_thread_safe():
    from concurrent.futures import ThreadPoolExecutor

    ops = view_spec("aug_plus", 64).colour
    expected = [cc.apply_colour(NATURAL.copy(), ops, np.random.default_rng(s)) for s in range(16)]
    with ThreadPoolExecutor(4) as pool:
        got = list(
            pool.map(lambda s: cc.apply_colour(NATURAL.copy(), ops, np.random.default_rng(s)), range(16))
        )
    assert all(np.array_equal(a, b) for a, b in zip(expected, got, strict=True))


# --- whole pipelines: distribution of outputs on one fixed image -----------------------------------------

N = 1500
BASE = natural_image(40, seed=3)


def reference_colour(kind: str) -> T.Compose:
    """reference.py's pipeline for `kind` with the crop, flip and tensor conversion taken out."""
    geometry = (T.RandomResizedCrop, T.RandomHorizontalFlip, T.ToTensor, T.Normalize)
    full = pretrain_transform(kind, BASE.shape[0]).base
    return T.Compose([t for t in full.transforms if not isinstance(t, geometry)])


def chroma_angle(means: np.ndarray) -> np.ndarray:
    """Hue angle of the mean colour: brightness, contrast and saturation scale the chroma, hue turns it."""
    a = means[..., 0] - (means[..., 1] + means[..., 2]) / 2
    b = (means[..., 1] - means[..., 2]) * np.sqrt(3) / 2
    return np.arctan2(b, a)


def stats(outputs: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Per output: channel means, gray or not, relative edge energy, chroma (max - min channel), and (coloured
    outputs) the size of the hue turn from BASE."""
    arr = np.stack(outputs).astype(np.float32)  # (N, H, W, 3)
    means = arr.mean(axis=(1, 2))
    gray = (arr[..., 0] == arr[..., 1]).all(axis=(1, 2)) & (arr[..., 1] == arr[..., 2]).all(axis=(1, 2))
    # Edge energy relative to the spread of values: brightness and contrast scale both, blur only edges.
    edges = np.abs(np.diff(arr, axis=2)).mean(axis=(1, 2, 3)) / (arr.std(axis=(1, 2, 3)) + 1)
    chroma = (arr.max(axis=3) - arr.min(axis=3)).mean(axis=(1, 2))
    turn = np.angle(np.exp(1j * (chroma_angle(means) - chroma_angle(BASE.reshape(-1, 3).mean(0)))))
    return {
        "means": means,
        "gray": gray.astype(np.float32),
        "edges": edges,
        "chroma": chroma[:, None],
        "hue": np.abs(turn[~gray]),
    }


def ours(spec: ViewSpec, n: int = N, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return stats([cc.apply_colour(BASE.copy(), spec.colour, rng) for _ in range(n)])


_REFERENCE: dict[str, dict[str, np.ndarray]] = {}


def reference(kind: str) -> dict[str, np.ndarray]:
    if kind not in _REFERENCE:
        torch.manual_seed(0)
        t, pil = reference_colour(kind), Image.fromarray(BASE)
        _REFERENCE[kind] = stats([np.asarray(t(pil)) for _ in range(N)])
    return _REFERENCE[kind]


def z_scores(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, float]:
    """Two-sample z of: channel means' mean and std, gray fraction, edge energy, chroma's mean and std,
    size of the hue turn."""

    def z_mean(x: np.ndarray, y: np.ndarray) -> float:
        se = np.sqrt(x.var(axis=0) / len(x) + y.var(axis=0) / len(y)) + 1e-9
        return float(np.max(np.abs(x.mean(axis=0) - y.mean(axis=0)) / se))

    def z_std(x: np.ndarray, y: np.ndarray) -> float:
        # Delta method for the std: se(s) = se(s^2) / (2 s), se(s^2)^2 = (m4 - s^4) / n.
        def se(v: np.ndarray) -> np.ndarray:
            c = v - v.mean(axis=0)
            s2 = (c**2).mean(axis=0)
            return np.sqrt(((c**4).mean(axis=0) - s2**2) / len(v)) / (2 * np.sqrt(s2))

        return float(np.max(np.abs(x.std(axis=0) - y.std(axis=0)) / np.sqrt(se(x) ** 2 + se(y) ** 2)))

    return {
        "mean": z_mean(a["means"], b["means"]),
        "std": z_std(a["means"], b["means"]),
        "gray": z_mean(a["gray"][:, None], b["gray"][:, None]),
        "edges": z_mean(a["edges"][:, None], b["edges"][:, None]),
        "chroma": max(z_mean(a["chroma"], b["chroma"]), z_std(a["chroma"], b["chroma"])),
        "hue": z_mean(a["hue"][:, None], b["hue"][:, None]),
    }


@pytest.mark.parametrize("kind", ["moco_v1", "aug_plus"])  # SimCLR's: tests/augment/test_simclr.py
def test_pipeline_statistics_match_the_reference(kind: str):
    ref = reference(kind)
    z = z_scores(ours(view_spec(kind, BASE.shape[0])), ref)
    assert max(z.values()) < 4.5, z
    assert ref["gray"].mean() == pytest.approx(0.2, abs=0.04)


@pytest.mark.parametrize(
    ("kind", "change", "stat"),
    [
        ("aug_plus", lambda ops: (ops[0], Grayscale(0.35), ops[2]), "gray"),
        ("aug_plus", lambda ops: (replace(ops[0], p=0.5), *ops[1:]), "std"),
        ("aug_plus", lambda ops: (replace(ops[0], brightness=0.6, contrast=0.6), *ops[1:]), "std"),
        ("aug_plus", lambda ops: (*ops[:2], replace(ops[2], p=0.1)), "edges"),
        ("aug_plus", lambda ops: (replace(ops[0], hue=0.2), *ops[1:]), "hue"),
        ("aug_plus", lambda ops: (*ops[:2], replace(ops[2], sigma=(0.1, 0.7))), "edges"),
    ],
)
def test_pipeline_statistics_catch_a_wrong_spec(kind, change, stat):
    spec = view_spec(kind, BASE.shape[0])
    wrong = replace(spec, colour=change(spec.colour))
    z = z_scores(ours(wrong), reference(kind))
    assert z[stat] > 6, z
