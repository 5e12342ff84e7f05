"""The pre-training augmentations as data: one `ViewSpec` per pipeline, read by every implementation.

The one list of augmentation kinds (`KINDS`) and the one definition of each pipeline (`view_spec`). Every
implementation is built from a spec and must agree with the others in distribution (tests/augment check it):
- `reference.py`: the official per-image torchvision/PIL path (the reference; `--loader pil`);
- `geometry.py` + `cpu_colour.py`: uint8 crops and OpenCV colour inside loader workers (fast CPU path);
- `device.py`: kornia, batched per-sample on the training device (fast path on a GPU).

Geometry (RandomResizedCrop + horizontal flip) always runs where images are decoded, so one decoded image
gives both views. The fast paths flip before the colour ops: colour ops act per pixel and the Gaussian
kernel is symmetric, so flip commutes with them and the distribution of a view is unchanged. The reference
keeps the official order (`flip_last`), which also keeps its draws from torch's generator in that order.
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
    flip_last: bool = (
        True  # the official code's place of the flip: after colour (MoCo), after the crop (SimCLR)
    )


PRETRAIN_KINDS = ("moco_v1", "aug_plus", "simclr")
KINDS = (*PRETRAIN_KINDS, "supervised")  # "supervised": crop + flip, the supervised and linear training views
# PAPER.md "Pre-training hyper-parameters": ImageNet mean/std, the last step of every view.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PAPER_CROP = 224  # the crop size the paper's pixel quantities (blur sigma) are given at


def blur_sigma_px(blur_sigma: Sequence[float], image_size: int) -> tuple[float, float]:
    """The paper's blur sigma is in pixels of a 224-px crop; keep it the same fraction of a smaller crop."""
    f = image_size / PAPER_CROP
    return float(blur_sigma[0]) * f, float(blur_sigma[1]) * f


def view_spec(kind: str, image_size: int, blur_sigma: Sequence[float] = (0.1, 2.0)) -> ViewSpec:
    """The spec of a pre-training pipeline; `blur_sigma` in pixels of the view (config scales it)."""
    sigma = (float(blur_sigma[0]), float(blur_sigma[1]))
    flip_last = True
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
        # Its code flips right after the crop.
        colour = (Jitter(0.8, 0.8, 0.8, 0.2, p=0.8), Grayscale(0.2), Blur(sigma, p=0.5))
        scale, flip_last = (0.08, 1.0), False
    else:
        raise ValueError(f"unknown augmentation {kind!r}; valid: {', '.join(PRETRAIN_KINDS)}")
    return ViewSpec(kind, image_size, scale, colour, flip_last=flip_last)
