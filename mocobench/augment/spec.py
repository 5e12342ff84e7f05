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


@dataclass(frozen=True)
class TFJitter:
    """SimCLR v1's colour jitter, in TensorFlow's definitions (`augment/simclr.py`), applied with `p`.

    brightness adds U[-b, b]; contrast blends each channel with its own mean by U[1-c, 1+c]; saturation
    scales HSV saturation by U[1-s, 1+s]; hue adds U[-h, h] turns; a random order per image, clipped to
    [0, 1] after each op (simclr data_util.py L122-150@85e8552).
    """

    brightness: float
    contrast: float
    saturation: float
    hue: float
    p: float = 0.8


@dataclass(frozen=True)
class TFGrayscale:
    """`tf.image.rgb_to_grayscale` (0.2989 R + 0.5870 G + 0.1140 B) tiled to 3 channels, with `p`."""

    p: float


@dataclass(frozen=True)
class TFBlur:
    """SimCLR v1's blur: a Gaussian of `kernel_frac` of the view's side (taps 2 * (size // 10 // 2) + 1),
    sigma ~ U(sigma) in pixels of the view, zero padding ('SAME'), with `p` (data_util.py L305-410)."""

    sigma: tuple[float, float]
    p: float = 0.5
    kernel_frac: float = 0.1


ColourOp = Jitter | Grayscale | Blur | Solarize | TFJitter | TFGrayscale | TFBlur
TF_OPS = (TFJitter, TFGrayscale, TFBlur)


# PAPER.md "Pre-training hyper-parameters": ImageNet mean/std, the last step of every view; a dataset with
# published statistics of its own (CIFAR, STL, MNIST: data/sources.py) normalises with those instead.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
Triple = tuple[float, float, float]


@dataclass(frozen=True)
class ViewSpec:
    """One view: crop + flip (geometry), then `colour` in order, then normalisation by `mean`/`std`."""

    kind: str
    image_size: int
    crop_scale: tuple[float, float]
    colour: tuple[ColourOp, ...]
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    flip_last: bool = (
        True  # the official code's place of the flip: after colour (MoCo), after the crop (SimCLR)
    )
    crop: str = "torchvision"  # the crop box algorithm: torchvision's RandomResizedCrop or TensorFlow's
    resize: str = "bilinear"  # the crop's resize: antialiased bilinear (torchvision on PIL) or bicubic (TF)
    mean: Triple = IMAGENET_MEAN
    std: Triple = IMAGENET_STD

    @property
    def float_colour(self) -> bool:
        """Whether the colour ops are SimCLR's, defined on float images (else torchvision's, on uint8)."""
        return any(isinstance(op, TF_OPS) for op in self.colour)


# The official MoCo CIFAR-10 demo's views (colab/moco_cifar10_demo.ipynb, PAPER.md "Small-scale reference").
PRETRAIN_KINDS = ("moco_v1", "aug_plus", "simclr", "cifar_demo")
KINDS = (*PRETRAIN_KINDS, "supervised")  # "supervised": crop + flip, the supervised and linear training views
PAPER_CROP = 224  # the crop size the paper's pixel quantities (blur sigma) are given at


def blur_sigma_px(blur_sigma: Sequence[float], image_size: int) -> tuple[float, float]:
    """The paper's blur sigma is in pixels of a 224-px crop; keep it the same fraction of a smaller crop."""
    f = image_size / PAPER_CROP
    return float(blur_sigma[0]) * f, float(blur_sigma[1]) * f


def view_spec(
    kind: str,
    image_size: int,
    blur_sigma: Sequence[float] = (0.1, 2.0),
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> ViewSpec:
    """The spec of a pre-training pipeline; `blur_sigma` in pixels of the view (config scales it)."""
    sigma = (float(blur_sigma[0]), float(blur_sigma[1]))
    norm = {"mean": _triple(mean), "std": _triple(std)}
    if kind == "moco_v1":
        # MoCo v1 (official main_moco.py without --aug-plus): grayscale *before* an always-on jitter.
        colour: tuple[ColourOp, ...] = (Grayscale(0.2), Jitter(0.4, 0.4, 0.4, 0.4, p=1.0))
        scale = (0.2, 1.0)
    elif kind == "aug_plus":
        # PAPER.md "aug+": jitter (hue 0.1) with p 0.8, grayscale 0.2, blur sigma [0.1, 2] with p 0.5.
        colour = (Jitter(0.4, 0.4, 0.4, 0.1, p=0.8), Grayscale(0.2), Blur(sigma, p=0.5))
        scale = (0.2, 1.0)
    elif kind == "simclr":
        # SimCLR v1 as its code runs it (google-research/simclr@85e8552): colour strength 1.0 (run.py
        # L221-223), jitter (0.8, 0.8, 0.8, 0.2) x strength (data_util.py L61-64) with p 0.8, grayscale p 0.2
        # (L361-362), blur p 0.5 (L386); TensorFlow's crop (area 0.08-1, aspect 3/4-4/3, 100 tries,
        # L285-295) resized bicubic (L295), flipped right after it (L434).
        colour = (TFJitter(0.8, 0.8, 0.8, 0.2, p=0.8), TFGrayscale(0.2), TFBlur(sigma, p=0.5))
        tf = {"flip_last": False, "crop": "tensorflow", "resize": "bicubic"}
        return ViewSpec(kind, image_size, (0.08, 1.0), colour, **tf, **norm)
    elif kind == "cifar_demo":
        # The official MoCo CIFAR-10 demo: RandomResizedCrop(32) at torchvision's default scale 0.08-1, flip,
        # then jitter (0.4, 0.4, 0.4, 0.1) with p 0.8 and grayscale 0.2; no blur (PAPER.md).
        colour = (Jitter(0.4, 0.4, 0.4, 0.1, p=0.8), Grayscale(0.2))
        return ViewSpec(kind, image_size, (0.08, 1.0), colour, flip_last=False, **norm)
    else:
        raise ValueError(f"unknown augmentation {kind!r}; valid: {', '.join(PRETRAIN_KINDS)}")
    return ViewSpec(kind, image_size, scale, colour, **norm)


def _triple(values: Sequence[float]) -> Triple:
    if len(values) != 3:
        raise ValueError(f"mean and std take 3 values (RGB), got {list(values)}")
    return float(values[0]), float(values[1]), float(values[2])
