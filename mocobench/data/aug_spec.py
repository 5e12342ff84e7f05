"""The pre-training augmentations as data: one `ViewSpec` per pipeline, read by every implementation.

Three implementations draw from these specs and must agree in distribution (tests/data check it):
- `augment.py`: the official per-image torchvision/PIL path (the reference; `--loader pil`);
- `cpu_colour.py`: uint8 OpenCV colour work inside loader workers (fast path when training on the CPU);
- `device_augment.py`: kornia, batched per-sample on the training device (fast path on a GPU).

Geometry (RandomResizedCrop + horizontal flip) always runs where images are decoded, so one decoded image
gives both views. The flip is pulled ahead of the colour ops in every pipeline: colour ops act per pixel and
the Gaussian kernel is symmetric, so flip commutes with them and the distribution of a view is unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Jitter:
    """torchvision ColorJitter(brightness, contrast, saturation, hue), applied with probability `p`.

    Factors are drawn uniformly from [max(0, 1 - x), 1 + x] (hue: [-h, h]) and the four ops run in a random
    order, drawn per image.
    """

    brightness: float
    contrast: float
    saturation: float
    hue: float
    p: float = 1.0


@dataclass(frozen=True)
class Grayscale:
    """torchvision RandomGrayscale: ITU-R 601-2 luma copied to 3 channels, with probability `p`."""

    p: float


@dataclass(frozen=True)
class Blur:
    """Gaussian blur with sigma ~ U(sigma) in pixels of the view, with probability `p` (official MoCo)."""

    sigma: tuple[float, float]
    p: float = 0.5


@dataclass(frozen=True)
class Solarize:
    """Invert pixels >= threshold (fraction of full scale), with probability `p`. No paper row uses it."""

    p: float
    threshold: float = 0.5


ColourOp = Jitter | Grayscale | Blur | Solarize


@dataclass(frozen=True)
class ViewSpec:
    """One view: crop + flip (geometry), then `colour` in order, then ImageNet normalisation."""

    kind: str
    image_size: int
    crop_scale: tuple[float, float]
    colour: tuple[ColourOp, ...]
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5


PRETRAIN_KINDS = ("moco_v1", "aug_plus", "simclr")


def view_spec(kind: str, image_size: int, blur_sigma: Sequence[float] = (0.1, 2.0)) -> ViewSpec:
    """The spec of a pre-training pipeline; `blur_sigma` in pixels of the view (config scales it)."""
    sigma = (float(blur_sigma[0]), float(blur_sigma[1]))
    if kind == "moco_v1":
        # MoCo v1 (official main_moco.py without --aug-plus): grayscale *before* an always-on jitter.
        colour: tuple[ColourOp, ...] = (Grayscale(0.2), Jitter(0.4, 0.4, 0.4, 0.4, p=1.0))
        scale = (0.2, 1.0)
    elif kind == "aug_plus":
        # PAPER.md "aug+": jitter (hue 0.1) with p 0.8, grayscale 0.2, blur sigma [0.1, 2] with p 0.5.
        colour = (Jitter(0.4, 0.4, 0.4, 0.1, p=0.8), Grayscale(0.2), Blur(sigma, p=0.5))
        scale = (0.2, 1.0)
    elif kind == "simclr":
        # SimCLR appendix A, colour strength 1: crop scale 0.08-1, jitter (0.8, 0.8, 0.8, 0.2) with p 0.8.
        colour = (Jitter(0.8, 0.8, 0.8, 0.2, p=0.8), Grayscale(0.2), Blur(sigma, p=0.5))
        scale = (0.08, 1.0)
    else:
        raise ValueError(f"unknown augmentation {kind!r}; valid: {', '.join(PRETRAIN_KINDS)}")
    return ViewSpec(kind, image_size, scale, colour)
