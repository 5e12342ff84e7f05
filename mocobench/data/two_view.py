"""Fast two-view data path for pre-training from an ImageNet-layout folder: decode once, crop twice.

The official loader (`augment.TwoCropsTransform` over torchvision `ImageFolder`, as official MoCo's
`moco/loader.py` TwoCropsTransform: two independent draws of one augmentation give the query and the key)
decodes a JPEG and runs the whole PIL pipeline twice per image. Here each image is decoded once (cv2 /
libjpeg-turbo), two independent RandomResizedCrop + flip views are cut from it (antialiased bilinear
resize in uint8, the same filter as PIL's), and the colour ops of the `ViewSpec` run in uint8 in the
loader worker (`cpu_colour`) or, with `colour_in_workers=False`, later on the training device.

A view's distribution equals the reference's: the crop parameters use torchvision's algorithm, the flip
is drawn per view and moved ahead of the colour ops (they commute, see `aug_spec`), and the two views
draw independently. Draws come from a numpy Generator seeded by `folder.sample_seed(seed, epoch, index)`,
both views' geometry first, so a resumed run sees the same crops and the geometry-only mode cuts exactly
the crops the colour mode does.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from mocobench.data.aug_spec import ViewSpec
from mocobench.data.cpu_colour import apply_colour
from mocobench.data.folder import load_rgb, sample_seed
from mocobench.errors import UsageError

_JPEG_MAGIC = b"\xff\xd8\xff"
_JPEG_END = b"\xff\xd9"  # a truncated file lacks it: cv2 would return a half-grey image, PIL raises
# RGB output straight from libjpeg-turbo (OpenCV >= 4.10; older ones decode BGR and convert); EXIF
# orientation ignored because PIL's Image.open (the reference's loader) ignores it too.
_RGB_FLAG = getattr(cv2, "IMREAD_COLOR_RGB", None)
_CV2_FLAGS = (cv2.IMREAD_COLOR if _RGB_FLAG is None else _RGB_FLAG) | cv2.IMREAD_IGNORE_ORIENTATION


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


def _resize_planar(img: np.ndarray, box: tuple[int, int, int, int], size: int) -> np.ndarray:
    """The (3, size, size) uint8 resize of `box` of an (H, W, 3) image (torch's output is planar)."""
    top, left, h, w = box
    x = torch.from_numpy(img[top : top + h, left : left + w]).permute(2, 0, 1).unsqueeze(0)
    y = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return y[0].numpy()


def crop_resize_flip(img: np.ndarray, box: tuple[int, int, int, int], size: int, flip: bool) -> np.ndarray:
    """Crop `box` = (top, left, h, w) of an (H, W, 3) uint8 image to (size, size, 3), mirrored if `flip`.

    torch's uint8 antialiased bilinear resize is the filter of PIL's `resize(BILINEAR)` that torchvision
    applies to PIL images (a triangle widened by the shrink factor): mean |diff| ~0.01 level against PIL,
    and ~2x faster than PIL here. cv2.INTER_AREA (a box filter) is as slow and visibly sharper,
    cv2.INTER_LINEAR aliases when shrinking (tests/data/test_two_view.py measures both).
    """
    planes = _resize_planar(img, box, size)
    out = cv2.merge([planes[0], planes[1], planes[2]])  # 20x faster than numpy's transposing copy
    return cv2.flip(out, 1) if flip else out


def decode(path: Path | str) -> np.ndarray:
    """An (H, W, 3) uint8 RGB array of the image at `path`, as `folder.load_rgb` would give.

    Complete JPEGs (nearly all of ImageNet) go through cv2.imdecode, ~25% faster than PIL and bit-identical
    (both libjpeg-turbo, EXIF orientation ignored by both). Everything else goes through PIL's
    `convert("RGB")`, which defines the semantics for palettes, alpha, 16-bit and CMYK (4-component JPEGs:
    cv2 converts them with another formula) and raises the one-line UsageError for a broken file;
    so do JPEGs without their end marker (truncated: cv2 would return them half grey) or that cv2 refuses.
    """
    try:
        buf = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise UsageError(f"unreadable image {path} ({type(e).__name__}); remove or replace the file") from e
    if buf[:3].tobytes() == _JPEG_MAGIC and buf[-2:].tobytes() == _JPEG_END and not _is_cmyk_jpeg(buf):
        try:
            img = cv2.imdecode(buf, _CV2_FLAGS)
        except cv2.error:
            img = None
        if img is not None and img.ndim == 3 and img.shape[2] == 3:
            return img if _RGB_FLAG is not None else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return np.array(load_rgb(Path(path)))  # a writable copy (PIL's buffer is read-only)


def _is_cmyk_jpeg(buf: np.ndarray) -> bool:
    """True if the JPEG's frame header (SOFn) declares 4 components.

    libjpeg gives CMYK to cv2 and PIL, which turn it to RGB with different formulas; PIL is the reference.
    """
    data = buf.tobytes()
    i, n = 2, len(data)
    while i + 9 < n:
        if data[i] != 0xFF:
            return False
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length field
            i += 2
            continue
        length = (data[i + 2] << 8) | data[i + 3]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return data[i + 9] == 4  # SOFn: length(2) precision(1) height(2) width(2) components(1)
        if marker == 0xDA:  # start of scan before any frame header: malformed, let the decoders decide
            return False
        i += 2 + length
    return False


def worker_init(worker_id: int) -> None:
    """DataLoader `worker_init_fn`: one thread per worker for cv2 and torch (the workers are the parallelism;
    nested thread pools only oversubscribe the cores)."""
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


class TwoViewFolder(Dataset):
    """Images of one split as `(views, label)`: `views` uint8 (2, 3, S, S), view 0 the query, 1 the key.

    Keys are `(epoch, index)` from `folder.GlobalBatchSampler` (draws seeded by `sample_seed`), or a plain
    index, which draws a seed from torch's ambient generator (seeded per worker by the DataLoader).
    With `colour_in_workers=False` the views are geometry only (crop + flip) and the spec's colour ops are
    left to the training device.
    """

    def __init__(
        self,
        samples: list[tuple[Path, int]],
        classes: list[str],
        spec: ViewSpec,
        colour_in_workers: bool,
        seed: int = 0,
    ):
        self.samples, self.classes, self.spec = samples, classes, spec
        self.colour_in_workers, self.seed = colour_in_workers, seed

    def __len__(self) -> int:
        return len(self.samples)

    def rng(self, key: int | tuple[int, int]) -> tuple[int, np.random.Generator]:
        """The sample index and its generator for a dataset key."""
        if isinstance(key, tuple):
            epoch, index = key
            s = sample_seed(self.seed, epoch, index)
        else:
            index = int(key)
            s = int(torch.randint(0, 2**63 - 1, ()).item())
        return index, np.random.default_rng(s)

    def geometry(
        self, rng: np.random.Generator, height: int, width: int
    ) -> list[tuple[tuple[int, int, int, int], bool]]:
        """The two views' (box, flip), independent draws from `rng` (query first)."""
        spec = self.spec
        out = []
        for _ in range(2):
            box = sample_crop(height, width, spec.crop_scale, spec.crop_ratio, rng)
            out.append((box, bool(rng.random() < spec.flip_p)))
        return out

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, int]:
        index, rng = self.rng(key)
        path, label = self.samples[index]
        img = decode(path)
        size = self.spec.image_size
        views = torch.empty((2, 3, size, size), dtype=torch.uint8)
        out = views.numpy()
        # Both views' geometry is drawn before any colour, so it does not depend on where colour runs.
        for k, (box, flip) in enumerate(self.geometry(rng, img.shape[0], img.shape[1])):
            if self.colour_in_workers:
                view = apply_colour(crop_resize_flip(img, box, size, flip), self.spec.colour, rng)
                cv2.split(view, mv=[out[k, 0], out[k, 1], out[k, 2]])  # HWC -> CHW into the batch
            else:
                planes = _resize_planar(img, box, size)
                out[k] = planes[:, :, ::-1] if flip else planes
        return views, label
