"""The geometry half of a view on uint8 arrays: the crop box, its resize, the flip.

Used by the CPU loaders (`loading.two_view`), which cut both views of an image from one decode, and (the
TensorFlow box) by the PIL reference of SimCLR's views. Two crop algorithms, each on a numpy generator (so a
sample's draws come from its own seed): torchvision's `RandomResizedCrop.get_params` (MoCo) and TensorFlow's
`sample_distorted_bounding_box` as SimCLR calls it (`sample_crop_tf`). Two resizes: the antialiased bilinear
filter PIL applies for torchvision, and TensorFlow's bicubic (no antialiasing) for SimCLR.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F


def sample_crop(
    height: int,
    width: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    rng: np.random.Generator,
) -> tuple[int, int, int, int]:
    """(top, left, h, w) of a RandomResizedCrop, torchvision's `get_params` algorithm on a numpy rng.

    10 tries of (area fraction ~ U(scale), log aspect ~ U(log ratio)) that must fit the image, then the
    largest centred crop with the aspect clamped to `ratio`. torchvision draws in float32 from torch's
    generator; the float64 draws here give the same distribution (rounding to whole pixels dominates).
    """
    area = height * width
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        target_area = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(log_lo, log_hi))
        w = round(math.sqrt(target_area * aspect))
        h = round(math.sqrt(target_area / aspect))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w = width
        h = round(w / min(ratio))
    elif in_ratio > max(ratio):
        h = height
        w = round(h * max(ratio))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def _lrint(x: float) -> int:
    """C's lrintf: round half to even (Python's round does the same)."""
    return round(x)


def _tf_random_crop(
    width: int, height: int, area: tuple[float, float], aspect: float, rng: np.random.Generator
) -> tuple[int, int, int, int] | None:
    """TensorFlow's `GenerateRandomCrop` (core/kernels/image/sample_distorted_bounding_box_op.cc): a height
    uniform between those of the smallest and largest area at this aspect, then a uniform offset."""
    min_area, max_area = area[0] * width * height, area[1] * width * height
    h = _lrint(math.sqrt(min_area / aspect))
    max_h = _lrint(math.sqrt(max_area / aspect))
    if _lrint(max_h * aspect) > width:
        max_h = int((width + 0.5 - 1e-7) / aspect)
        if _lrint(max_h * aspect) > width:
            max_h -= 1
    max_h = min(max_h, height)
    h = min(h, max_h)
    if h < max_h:
        h += int(rng.integers(0, max_h - h + 1))
    w = _lrint(h * aspect)
    if w * h < min_area:
        h += 1
        w = _lrint(h * aspect)
    if w * h > max_area:
        h -= 1
        w = _lrint(h * aspect)
    if not (min_area <= w * h <= max_area) or not (0 < w <= width and 0 < h <= height):
        return None
    top = int(rng.integers(0, height - h)) if h < height else 0  # Uniform(n) draws from [0, n)
    left = int(rng.integers(0, width - w)) if w < width else 0
    return top, left, h, w


def sample_crop_tf(
    height: int,
    width: int,
    area: tuple[float, float],
    ratio: tuple[float, float],
    rng: np.random.Generator,
    attempts: int = 100,
    min_covered: float = 0.1,
) -> tuple[int, int, int, int]:
    """(top, left, h, w) of SimCLR's crop: `tf.image.sample_distorted_bounding_box` over the whole image
    with `min_object_covered` 0.1, area 0.08-1, aspect 3/4-4/3 (drawn uniformly, not in log), 100 attempts,
    else the whole image (simclr data_util.py L245-295@85e8552)."""
    for _ in range(attempts):
        aspect = float(rng.uniform(ratio[0], ratio[1]))
        box = _tf_random_crop(width, height, area, aspect, rng)
        if box is not None and box[2] * box[3] >= min_covered * width * height:
            return box
    return 0, 0, height, width


def sample_box(
    spec_crop: str,
    height: int,
    width: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    rng: np.random.Generator,
) -> tuple[int, int, int, int]:
    """The crop box of `ViewSpec.crop`'s algorithm ("torchvision" or "tensorflow")."""
    if spec_crop == "tensorflow":
        return sample_crop_tf(height, width, scale, ratio, rng)
    return sample_crop(height, width, scale, ratio, rng)


def resize_planar(
    img: np.ndarray, box: tuple[int, int, int, int], size: int, mode: str = "bilinear"
) -> np.ndarray:
    """The (3, size, size) uint8 resize of `box` of an (H, W, 3) image (torch's output is planar).

    bilinear: antialiased, PIL's filter (torchvision on PIL images); bicubic: TensorFlow's
    `resize_bicubic` without antialiasing (SimCLR), rounded to uint8.
    """
    top, left, h, w = box
    x = torch.from_numpy(img[top : top + h, left : left + w]).permute(2, 0, 1).unsqueeze(0)
    if mode == "bicubic":
        y = F.interpolate(x.float(), size=(size, size), mode="bicubic", align_corners=False, antialias=False)
        return y[0].round_().clamp_(0, 255).to(torch.uint8).numpy()
    y = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return y[0].numpy()


def crop_resize_flip(
    img: np.ndarray, box: tuple[int, int, int, int], size: int, flip: bool, mode: str = "bilinear"
) -> np.ndarray:
    """Crop `box` = (top, left, h, w) of an (H, W, 3) uint8 image to (size, size, 3), mirrored if `flip`.

    torch's uint8 antialiased bilinear resize is the filter of PIL's `resize(BILINEAR)` that torchvision
    applies to PIL images (a triangle widened by the shrink factor): mean |diff| ~0.01 level against PIL,
    and ~2x faster than PIL here. cv2.INTER_AREA (a box filter) is as slow and visibly sharper,
    cv2.INTER_LINEAR aliases when shrinking (tests/augment/test_geometry.py measures both).
    """
    planes = resize_planar(img, box, size, mode)
    out = cv2.merge([planes[0], planes[1], planes[2]])  # 20x faster than numpy's transposing copy
    return cv2.flip(out, 1) if flip else out
