"""The colour half of a pre-training view in uint8 with OpenCV, for loader workers when training on the CPU.

Same semantics as the reference PIL path (`reference.py`, i.e. torchvision's `ColorJitter`, `RandomGrayscale`,
`RandomApply` and the official MoCo `GaussianBlur` on PIL images), driven by the ops of
`spec.ViewSpec.colour` and a numpy Generator (so a sample's draws come from its own seed, see
`loading.two_view.TwoViewFolder`). Whole-image cv2 ops only (LUT / addWeighted / cvtColor /
GaussianBlur): they release the GIL and are thread-safe, so threaded loaders can call `apply_colour`
concurrently.

Differences from PIL, measured in tests/augment/test_cpu_colour.py (uint8 levels):
- brightness, contrast, solarize: identical (the same float32 blend and truncation, as 256-entry LUTs);
- grayscale / the luma inside contrast and saturation: cv2's 14-bit fixed-point luma differs from PIL's
  16-bit one by 1 level on 0.13% of all RGB colours;
- saturation: cv2.addWeighted rounds where PIL truncates; an offset of -0.499 turns rounding into
  truncation except for fractional parts in [0.999, 1): at most 1 level, on <0.5% of values;
- hue: cv2's HSV_FULL quantises H to 256 steps per turn with rounding, PIL to 255 steps with truncation,
  and S differs likewise: mean |diff| ~1 level, up to ~8 on saturated pixels (a bit-exact numba port of
  PIL's HSV code was measured 4.5x slower than these cv2 ops for the whole jitter);
- blur: a sampled Gaussian where PIL runs 3 + 3 extended-box passes of the same variance, rounding to
  uint8 after each: mean |diff| < 1 level, edge energy within 17% at any sigma, 1-2% over U(0.1, 2).
  PIL's per-pass rounding makes sigma <= 0.2 a near no-op on uint8 images (as the sampled Gaussian is);
  PIL's box cascade without that rounding (`blur.blur_batch(..., levels=None)`) blurs more than PIL there
  (8% of edge energy at sigma 0.2 vs PIL's 0%). Six rounded cv2 passes would match PIL to 1-2 levels but
  cost 2-3x more.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch

from mocobench.augment import simclr
from mocobench.augment.spec import TF_OPS, Blur, ColourOp, Grayscale, Jitter, Solarize

_LEVELS = np.arange(256, dtype=np.float32)
# cv2.addWeighted rounds to nearest; PIL's Image.blend truncates. x - 0.499 rounded == floor(x) unless
# frac(x) >= 0.999, and float32 error (~1e-5) cannot push an exact integer (a gray pixel) below it.
_TRUNCATE = -0.499


def _blend_lut(degenerate: float, factor: float) -> np.ndarray:
    """PIL `Image.blend(degenerate, img, factor)` for a constant degenerate image, as a LUT.

    PIL computes `in1 + alpha * (in2 - in1)` in float32 and truncates (clipping to [0, 255]), which
    `ImageEnhance.Brightness` (degenerate 0) and `ImageEnhance.Contrast` (degenerate = mean luma) use.
    """
    d = np.float32(degenerate)
    out = d + np.float32(factor) * (_LEVELS - d)
    return np.clip(np.floor(out), 0, 255).astype(np.uint8)


def _gray(img: np.ndarray) -> np.ndarray:
    """ITU-R 601-2 luma, PIL `convert("L")` (cv2 fixed-point: 1 level off on 0.13% of colours)."""
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)


def adjust_brightness(img: np.ndarray, factor: float) -> np.ndarray:
    """torchvision `adjust_brightness` on PIL: ImageEnhance.Brightness (scale, truncate, clip)."""
    return cv2.LUT(img, _blend_lut(0.0, factor), dst=img)


def adjust_contrast(img: np.ndarray, factor: float) -> np.ndarray:
    """torchvision `adjust_contrast` on PIL: ImageEnhance.Contrast, a blend with the rounded mean luma."""
    mean = int(cv2.mean(_gray(img))[0] + 0.5)
    return cv2.LUT(img, _blend_lut(float(mean), factor), dst=img)


def adjust_saturation(img: np.ndarray, factor: float) -> np.ndarray:
    """torchvision `adjust_saturation` on PIL: ImageEnhance.Color, a blend with the luma image."""
    gray = cv2.cvtColor(_gray(img), cv2.COLOR_GRAY2RGB)
    return cv2.addWeighted(img, factor, gray, 1.0 - factor, _TRUNCATE, dst=img)


def adjust_hue(img: np.ndarray, hue_factor: float) -> np.ndarray:
    """torchvision `adjust_hue` on PIL: shift uint8 H by int(hue_factor * 255), wrapping, in HSV."""
    if not -0.5 <= hue_factor <= 0.5:
        raise ValueError(f"hue_factor {hue_factor} is not in [-0.5, 0.5]")
    shift = int(np.int32(hue_factor * 255)) % 256  # torchvision: np.int32(...).astype(np.uint8)
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV_FULL)  # H in 0..255 for a full turn, as PIL's HSV
    hue = hsv[..., 0]
    hue += np.uint8(shift)  # wraps mod 256, as torchvision's uint8 add
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL, dst=img)


def to_grayscale(img: np.ndarray) -> np.ndarray:
    """torchvision `rgb_to_grayscale(num_output_channels=3)` on PIL: luma copied to the 3 channels."""
    return cv2.cvtColor(_gray(img), cv2.COLOR_GRAY2RGB, dst=img)


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of standard deviation `sigma` px, edges replicated (as PIL's box blur clamps).

    The reference (official MoCo `moco/loader.py` GaussianBlur) calls PIL `ImageFilter.GaussianBlur`, three
    extended-box passes per axis of the same variance, rounded to uint8 after each pass (module docstring).
    Here: a sampled Gaussian cut at 3 sigma (cv2.GaussianBlur's kernel size for uint8), applied as a float
    separable filter, ~2x faster than cv2.GaussianBlur's fixed-point path and equal to it within 1 level.
    """
    if sigma <= 0:
        return img
    ksize = round(sigma * 6 + 1) | 1
    kernel = cv2.getGaussianKernel(ksize, sigma, ktype=cv2.CV_32F)
    return cv2.sepFilter2D(img, -1, kernel, kernel, borderType=cv2.BORDER_REPLICATE)


def solarize(img: np.ndarray, threshold: float) -> np.ndarray:
    """Invert pixels with value / 255 >= threshold (the float rule; 128 for the usual 0.5)."""
    cut = math.ceil(threshold * 255 - 1e-6)
    levels = np.arange(256)
    return cv2.LUT(img, np.where(levels >= cut, 255 - levels, levels).astype(np.uint8), dst=img)


def _factor(x: float, rng: np.random.Generator) -> float | None:
    """torchvision ColorJitter's range for brightness/contrast/saturation: U[max(0, 1 - x), 1 + x]."""
    return None if x == 0 else float(rng.uniform(max(0.0, 1.0 - x), 1.0 + x))


def color_jitter(img: np.ndarray, op: Jitter, rng: np.random.Generator) -> np.ndarray:
    """torchvision ColorJitter: draw the op order, then the factors (b, c, s, h), apply in that order."""
    order = rng.permutation(4)
    b = _factor(op.brightness, rng)
    c = _factor(op.contrast, rng)
    s = _factor(op.saturation, rng)
    h = None if op.hue == 0 else float(rng.uniform(-op.hue, op.hue))
    for fn in order:
        if fn == 0 and b is not None:
            img = adjust_brightness(img, b)
        elif fn == 1 and c is not None:
            img = adjust_contrast(img, c)
        elif fn == 2 and s is not None:
            img = adjust_saturation(img, s)
        elif fn == 3 and h is not None:
            img = adjust_hue(img, h)
    return img


def apply_colour(img: np.ndarray, ops: tuple[ColourOp, ...], rng: np.random.Generator) -> np.ndarray:
    """Apply `ops` in order to an (H, W, 3) uint8 RGB image (possibly in place); returns the result.

    Each op fires with its probability `p` (torchvision RandomApply / RandomGrayscale: u < p).
    """
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {img.dtype} {img.shape}")
    if any(isinstance(op, TF_OPS) for op in ops):
        return _apply_float(img, ops, rng)
    if not img.flags.c_contiguous:
        img = np.ascontiguousarray(img)
    for op in ops:
        if rng.random() >= op.p:
            continue
        if isinstance(op, Jitter):
            img = color_jitter(img, op, rng)
        elif isinstance(op, Grayscale):
            img = to_grayscale(img)
        elif isinstance(op, Blur):
            img = gaussian_blur(img, float(rng.uniform(op.sigma[0], op.sigma[1])))
        elif isinstance(op, Solarize):
            img = solarize(img, op.threshold)
        else:
            raise TypeError(f"unknown colour op {op!r}")
    return img


def _apply_float(img: np.ndarray, ops: tuple[ColourOp, ...], rng: np.random.Generator) -> np.ndarray:
    """SimCLR's ops, defined on float images (`augment/simclr.py`), on one uint8 view: float in [0, 1], the
    ops with this sample's draws, back to uint8 rounded (the loader hands over uint8 views)."""
    if not all(isinstance(op, TF_OPS) for op in ops):
        raise TypeError(f"SimCLR's float ops and torchvision's uint8 ops cannot be mixed in one spec: {ops}")
    x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).unsqueeze(0).float().div_(255)

    def rand(*shape: int) -> torch.Tensor:
        return torch.from_numpy(rng.random(shape, dtype=np.float32))

    for op in ops:
        x = simclr.apply(op, x, simclr.draw(op, 1, rand))
    out = x[0].mul_(255).round_().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0)
    return np.ascontiguousarray(out.numpy())
