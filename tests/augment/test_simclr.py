"""SimCLR v1's augmentation as its code defines it (google-research/simclr, tag 1.0 = 85e8552, data_util.py):
each op against a per-pixel transcription of TensorFlow's definition, the crop's algorithm, and the three
paths (PIL reference, loader workers, device) against each other."""

from __future__ import annotations

import colorsys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mocobench.augment import cpu_colour, simclr
from mocobench.augment.device import DeviceAugment
from mocobench.augment.geometry import sample_crop_tf
from mocobench.augment.reference import SimCLRCentreCrop, SimCLRColour, simclr_eval_transform
from mocobench.augment.spec import TFBlur, TFGrayscale, TFJitter, view_spec


def images(n: int = 4, size: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def per_pixel(x: torch.Tensor, fn) -> torch.Tensor:
    """Apply `fn(r, g, b) -> (r, g, b)` pixel by pixel (the transcription the vectorised ops are held to)."""
    out = x.clone()
    for i in range(x.shape[0]):
        for yy in range(x.shape[2]):
            for xx in range(x.shape[3]):
                out[i, :, yy, xx] = torch.tensor(fn(i, *x[i, :, yy, xx].tolist()))
    return out


def test_the_spec_is_simclr_v1s():
    spec = view_spec("simclr", 224)
    jitter, gray, blur = spec.colour
    # data_util.py L61-64: brightness/contrast/saturation 0.8 x strength, hue 0.2 x strength; run.py L221-223:
    # strength 1.0; L361-362: jitter with p 0.8, then grayscale with p 0.2; L386: blur with p 0.5; L380:
    # sigma ~ U[0.1, 2.0]; L381: kernel size height // 10.
    assert jitter == TFJitter(0.8, 0.8, 0.8, 0.2, p=0.8)
    assert gray == TFGrayscale(0.2)
    assert blur == TFBlur((0.1, 2.0), p=0.5, kernel_frac=0.1)
    # L285-295: area 0.08-1, aspect 3/4-4/3, then resize_bicubic; L434: the flip right after the crop.
    assert (spec.crop, spec.crop_scale, spec.crop_ratio, spec.resize) == (
        "tensorflow", (0.08, 1.0), (3 / 4, 4 / 3), "bicubic"
    )  # fmt: skip
    assert not spec.flip_last and spec.float_colour


def test_each_op_is_tensorflows_definition():
    x = images()
    delta = torch.tensor([-0.5, -0.1, 0.2, 0.7])
    torch.testing.assert_close(simclr.brightness(x, delta), x + delta.view(-1, 1, 1, 1))  # additive
    f = torch.tensor([0.2, 0.9, 1.3, 1.8])
    means = x.mean(dim=(2, 3))  # tf.image.adjust_contrast: each channel's own mean

    def contrast(i: int, r: float, g: float, b: float) -> tuple[float, ...]:
        return tuple(
            (v - float(means[i, c])) * float(f[i]) + float(means[i, c]) for c, v in enumerate((r, g, b))
        )

    torch.testing.assert_close(simclr.contrast(x, f), per_pixel(x, contrast))

    def saturation(i: int, r: float, g: float, b: float) -> tuple[float, ...]:
        h, s, v = colorsys.rgb_to_hsv(r, g, b)
        return colorsys.hsv_to_rgb(h, min(max(s * float(f[i]), 0.0), 1.0), v)

    torch.testing.assert_close(simclr.saturation(x, f), per_pixel(x, saturation), atol=1e-5, rtol=0)
    turn = torch.tensor([-0.2, -0.05, 0.1, 0.2])

    def hue(i: int, r: float, g: float, b: float) -> tuple[float, ...]:
        h, s, v = colorsys.rgb_to_hsv(r, g, b)
        return colorsys.hsv_to_rgb((h + float(turn[i])) % 1.0, s, v)

    torch.testing.assert_close(simclr.hue(x, turn), per_pixel(x, hue), atol=1e-5, rtol=0)
    gray = simclr.grayscale(x)  # tf.image.rgb_to_grayscale's weights, tiled to 3 channels
    expected = 0.2989 * x[:, 0] + 0.5870 * x[:, 1] + 0.1140 * x[:, 2]
    torch.testing.assert_close(gray, expected.unsqueeze(1).expand(-1, 3, -1, -1))


def test_the_jitter_runs_each_images_order_and_clips_after_every_op():
    x = images(2)
    op = TFJitter(0.8, 0.8, 0.8, 0.2, p=1.0)
    params = {
        "apply": torch.tensor([True, True]),
        "order": torch.tensor([[0, 1, 2, 3], [3, 2, 1, 0]]),
        "brightness": torch.tensor([0.6, -0.6]),
        "contrast": torch.tensor([1.7, 0.4]),
        "saturation": torch.tensor([1.5, 0.3]),
        "hue": torch.tensor([0.15, -0.1]),
    }
    fns = [
        lambda y, i: simclr.brightness(y, params["brightness"][i : i + 1]),
        lambda y, i: simclr.contrast(y, params["contrast"][i : i + 1]),
        lambda y, i: simclr.saturation(y, params["saturation"][i : i + 1]),
        lambda y, i: simclr.hue(y, params["hue"][i : i + 1]),
    ]
    for i in range(2):
        y = x[i : i + 1]
        for k in params["order"][i].tolist():
            y = fns[k](y, i).clamp(0, 1)
        torch.testing.assert_close(simclr.apply(op, x, params)[i : i + 1], y)
    skipped = {**params, "apply": torch.tensor([False, True])}
    assert torch.equal(simclr.apply(op, x, skipped)[0], x[0])


def test_the_blur_is_a_zero_padded_gaussian_a_tenth_of_the_side():
    x = torch.zeros(1, 3, 40, 40)
    x[..., 20, 20] = 1.0
    x[..., 0, 0] = 1.0
    sigma = torch.tensor([1.3])
    y = simclr.blur(x, sigma)  # kernel_size 40 // 10 = 4 -> radius 2 -> 5 taps (data_util.py L313-314)
    taps = torch.arange(-2, 3, dtype=torch.float32)
    g = torch.exp(-(taps**2) / (2 * 1.3**2))
    g = g / g.sum()
    torch.testing.assert_close(y[0, 0, 18:23, 18:23], torch.outer(g, g))
    assert float(y[0, 0, :3, :3].sum()) == pytest.approx(
        float(g[2:].sum() ** 2), abs=1e-6
    )  # zeros past the edge
    small = images(1, 16)
    assert torch.equal(simclr.blur(small, torch.tensor([2.0])), small)  # 16 // 10 // 2 = 0: one tap


def test_draws_have_the_specs_distributions():
    n = 20_000
    g = torch.Generator().manual_seed(0)
    p = simclr.draw(TFJitter(0.8, 0.8, 0.8, 0.2, p=0.8), n, lambda *s: torch.rand(*s, generator=g))
    assert float(p["apply"].float().mean()) == pytest.approx(0.8, abs=0.01)
    for name, lo, hi in (
        ("brightness", -0.8, 0.8),
        ("contrast", 0.2, 1.8),
        ("saturation", 0.2, 1.8),
        ("hue", -0.2, 0.2),
    ):
        v = p[name]
        assert lo <= float(v.min()) < lo + 0.01 and hi - 0.01 < float(v.max()) <= hi
        assert float(v.mean()) == pytest.approx((lo + hi) / 2, abs=0.02)
    counts = p["order"].unique(dim=0, return_counts=True)[1]
    assert len(counts) == 24 and ((counts.double() - n / 24) ** 2 / (n / 24)).sum() < 49.7  # chi-square 0.1%


def test_the_crop_is_tensorflows_sample_distorted_bounding_box():
    rng = np.random.default_rng(0)
    boxes = np.array([sample_crop_tf(375, 500, (0.08, 1.0), (3 / 4, 4 / 3), rng) for _ in range(5000)])
    top, left, h, w = boxes.T
    area = h * w / (375 * 500)
    assert area.min() >= 0.1 and area.max() <= 1.0  # min_object_covered 0.1 (L287) beats area 0.08
    assert (w / h).min() > 0.74 and (w / h).max() < 1.35
    assert ((top + h <= 375) & (left + w <= 500)).all()
    full_height = h == 375
    assert (top[~full_height] < 375 - h[~full_height]).all()  # TF's Uniform(n) offsets never reach n
    assert abs(np.median(h) - np.median(np.sqrt(area * 375 * 500 / (w / h)))) < 3  # heights, then widths
    # An aspect that cannot fit falls back to the whole image (use_image_if_no_bounding_boxes, L262).
    assert sample_crop_tf(10, 400, (0.5, 1.0), (3 / 4, 4 / 3), rng) == (0, 0, 10, 400)


def natural(size: int = 24, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    base = np.stack([xx / size * 200 + 30, yy / size * 160 + 50, (xx + yy) / (2 * size) * 120 + 90], -1)
    return np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype(np.uint8)


def quantities(x: torch.Tensor) -> dict[str, torch.Tensor]:
    """(N, 3, H, W) float in [0, 1] -> per-image channel means, gray or not, chroma."""
    return {
        "mean": x.mean(dim=(2, 3)),
        "gray": ((x.amax(1) - x.amin(1)).amax((1, 2)) < 2e-3).double()[:, None],
        "chroma": (x.amax(1) - x.amin(1)).mean((1, 2))[:, None],
    }


def z(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    worst = 0.0
    for k in a:
        x, y = a[k].double(), b[k].double()
        se = torch.sqrt(x.var(0) / len(x) + y.var(0) / len(y)) + 1e-9
        worst = max(worst, float(((x.mean(0) - y.mean(0)).abs() / se).max()))
    return worst


N = 1200


def reference_outputs(spec) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    img = torch.from_numpy(natural()).permute(2, 0, 1).float() / 255
    colour = SimCLRColour(spec.colour)
    return quantities(torch.stack([colour(img) for _ in range(N)]))


def test_workers_and_device_give_the_references_distribution():
    spec = view_spec("simclr", 24, blur_sigma=(0.1, 2.0))
    ref = reference_outputs(spec)
    assert float(ref["gray"].mean()) == pytest.approx(0.2, abs=0.04)
    rng = np.random.default_rng(1)
    workers = torch.stack(
        [
            torch.from_numpy(cpu_colour.apply_colour(natural(), spec.colour, rng)).permute(2, 0, 1)
            for _ in range(N)
        ]
    )
    assert z(quantities(workers.float() / 255), ref) < 4.5
    batch = torch.from_numpy(natural()).permute(2, 0, 1).unsqueeze(0).expand(N, -1, -1, -1).contiguous()
    device = DeviceAugment(spec, normalize=False)(batch, torch.Generator().manual_seed(2))
    assert z(quantities(device), ref) < 4.5
    # The comparison can fail: a spec without its grayscale is caught.
    wrong = replace(spec, colour=(spec.colour[0], TFGrayscale(0.0), spec.colour[2]))
    assert (
        z(quantities(DeviceAugment(wrong, normalize=False)(batch, torch.Generator().manual_seed(2))), ref) > 6
    )


def test_the_linear_protocols_centre_crop(tmp_path: Path):
    img = Image.fromarray(natural(64)).resize((80, 64))
    crop = SimCLRCentreCrop(32)
    out = crop(img)
    assert out.shape == (3, 32, 32) and float(out.min()) >= 0 and float(out.max()) <= 1
    side = round(0.875 * 64)  # data_util.py L29: CROP_PROPORTION 0.875 of the shorter side
    top, left = (64 - side + 1) // 2, (80 - side + 1) // 2
    manual = torch.nn.functional.interpolate(
        torch.from_numpy(np.array(img)[top : top + side, left : left + side]).permute(2, 0, 1)[None].float()
        / 255,
        (32, 32),
        mode="bicubic",
        align_corners=False,
    )[0].clamp(0, 1)
    torch.testing.assert_close(out, manual)
    assert simclr_eval_transform(32)(img).shape == (3, 32, 32)
