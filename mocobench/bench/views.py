"""`mocobench bench views`: how far each loader's views are from the official PIL pipeline's, measured.

The loaders share one spec per augmentation (`augment/spec.py`) but not one implementation: the official
pipeline (`--loader pil`, `--pipeline official`) decodes with PIL and runs torchvision's ops on PIL images;
`torch` decodes with OpenCV and crops with torch's antialiased resize; `ffcv` crops an image stored once,
capped at 512 px and JPEG-compressed at quality 90, with its compiled resize (`ffcv_kernels.resize_view`:
OpenCV's INTER_AREA for a crop it shrinks, PIL's bilinear for one it enlarges); colour runs in the workers
(uint8 OpenCV, `augment/cpu_colour.py`) or on the device (float kornia, `augment/device.py`). Whether these
make the same views is a measurement, not a claim, so this takes the same images, draws one crop box, flip
and set of colour parameters per image, applies them through each path, and reports the mean absolute
difference (0-255 levels) and PSNR against the official pipeline's view, for the geometry alone and for the
whole view. Two independent draws of the official pipeline give the scale of a real difference between
views. The flip is applied right after the crop in every path: the colour ops act per pixel (blur with a
symmetric kernel), so where the flip goes does not change a view.

Sources: `--data`, or generated ImageNet-sized JPEGs (500x375), or with `--source-size N` generated N x N
ones: at 32 px (CIFAR, the `gpu` tier) every crop is enlarged, the case where a resize filter shows most.
`crops_enlarged` counts the drawn crops smaller than the view on a side.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image, ImageFilter
from rich.table import Table

from mocobench.augment import cpu_colour
from mocobench.augment.device import JITTER_OPS, DeviceAugment, sample_params
from mocobench.augment.geometry import crop_resize_flip, sample_crop
from mocobench.augment.spec import Blur, Grayscale, Jitter, ViewSpec, blur_sigma_px, view_spec
from mocobench.bench.images import BenchImagesSpec, bench_images
from mocobench.data.decode import decode, load_rgb
from mocobench.data.folder import list_split
from mocobench.data.sources import open_data
from mocobench.errors import UsageError
from mocobench.loading.ffcv_beton import SMART_RAW_MAX_BYTES, ffcv_available
from mocobench.loading.loaders import FFCV_JPEG_QUALITY, FFCV_MAX_RESOLUTION
from mocobench.runtime.seeds import sample_seed

AUGMENTATIONS = ("aug_plus", "moco_v1")  # torchvision's ops; SimCLR's views have one torch implementation
PAPER_BLUR_SIGMA = (0.1, 2.0)
Params = dict[str, torch.Tensor]
Box = tuple[int, int, int, int]


def sources(data: str | None, source_size: int | None = None) -> Path:
    """The folder compared: `--data`'s, else generated JPEGs of 500x375 px or, with `source_size`, N x N."""
    if data and source_size is not None:
        raise UsageError(
            "--source-size sizes the generated images; --data's are read as they are "
            "(cifar10:PATH gives 32-px ones): drop one of the two"
        )
    if data:
        return open_data(data).root
    if source_size is None:
        return bench_images()
    if source_size < 8:
        raise UsageError(f"--source-size {source_size}: need N >= 8 (32 is CIFAR's size)")
    return bench_images(BenchImagesSpec(width=source_size, height=source_size))


def draw(spec: ViewSpec, height: int, width: int, seed: int, index: int) -> tuple[Box, bool, Params]:
    """One view's crop box, flip and colour parameters, from the image's own seed."""
    s = sample_seed(seed, 0, index)
    rng = np.random.default_rng(s)
    box = sample_crop(height, width, spec.crop_scale, spec.crop_ratio, rng)
    flip = bool(rng.random() < spec.flip_p)
    return box, flip, sample_params(spec, 1, torch.Generator().manual_seed(s), "cpu")


# --- the official pipeline: torchvision's functional ops on PIL images (main_moco.py's transforms) ---------


_PIL_JITTER: dict[str, Callable[[Image.Image, float], Image.Image]] = {
    "brightness": TF.adjust_brightness,
    "contrast": TF.adjust_contrast,
    "saturation": TF.adjust_saturation,
    "hue": TF.adjust_hue,
}


def official_geometry(img: Image.Image, box: Box, flip: bool, size: int) -> Image.Image:
    top, left, h, w = box
    view = TF.resized_crop(img, top, left, h, w, [size, size], TF.InterpolationMode.BILINEAR)
    return TF.hflip(view) if flip else view


def official_colour(img: Image.Image, spec: ViewSpec, p: Params) -> np.ndarray:
    for op in spec.colour:
        if isinstance(op, Jitter) and p["jitter_apply"][0]:
            for k in p["jitter_order"][0].tolist():
                name = JITTER_OPS[k]
                img = _PIL_JITTER[name](img, float(p[f"jitter_{name}"][0]))
        elif isinstance(op, Grayscale) and p["grayscale_apply"][0]:
            img = TF.rgb_to_grayscale(img, num_output_channels=3)
        elif isinstance(op, Blur) and p["blur_apply"][0]:
            img = img.filter(ImageFilter.GaussianBlur(radius=float(p["blur_sigma"][0])))  # moco/loader.py
    return np.asarray(img)


# --- our paths -----------------------------------------------------------------------------------------


_CPU_JITTER = {
    "brightness": cpu_colour.adjust_brightness,
    "contrast": cpu_colour.adjust_contrast,
    "saturation": cpu_colour.adjust_saturation,
    "hue": cpu_colour.adjust_hue,
}


def loader_colour(view: np.ndarray, spec: ViewSpec, p: Params) -> np.ndarray:
    """The workers' colour (`cpu_colour`) with the given draws, op by op as `apply_colour` runs them."""
    img = view.copy()  # the cpu_colour ops work in place
    for op in spec.colour:
        if isinstance(op, Jitter) and p["jitter_apply"][0]:
            for k in p["jitter_order"][0].tolist():
                name = JITTER_OPS[k]
                img = _CPU_JITTER[name](img, float(p[f"jitter_{name}"][0]))
        elif isinstance(op, Grayscale) and p["grayscale_apply"][0]:
            img = cpu_colour.to_grayscale(img)
        elif isinstance(op, Blur) and p["blur_apply"][0]:
            img = cpu_colour.gaussian_blur(img, float(p["blur_sigma"][0]))
    return img


def device_colour(view: np.ndarray, spec: ViewSpec, p: Params) -> np.ndarray:
    """The device's colour (kornia, `DeviceAugment.apply_params`) with the given draws, in 0-255 floats."""
    x = torch.from_numpy(np.ascontiguousarray(view)).permute(2, 0, 1)[None]
    out = DeviceAugment(spec, normalize=False).apply_params(x, p)[0]
    return out.permute(1, 2, 0).mul(255).numpy()


def ffcv_stored(path: Path) -> np.ndarray:
    """The pixels the .beton holds for `path`: capped at 512 px (INTER_AREA) and, above FFCV's raw-size
    threshold, compressed by FFCV's own JPEG encoder at quality 90 (`loading/ffcv_writer.py`)."""
    import cv2
    from ffcv.fields.rgb_image import encode_jpeg

    from mocobench.loading.ffcv_writer import load_image

    img = load_image(path, FFCV_MAX_RESOLUTION)
    if img.nbytes <= SMART_RAW_MAX_BYTES:
        return img
    data = encode_jpeg(img, FFCV_JPEG_QUALITY)
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def ffcv_geometry(stored: np.ndarray, box: Box, full: tuple[int, int], flip: bool, size: int) -> np.ndarray:
    """FFCV's crop (the loader's compiled `resize_view`) of the same relative box on the stored image."""
    from mocobench.loading.ffcv_kernels import kernels

    sy, sx = stored.shape[0] / full[0], stored.shape[1] / full[1]
    top, left, h, w = box
    t, lft = round(top * sy), round(left * sx)
    b = min(stored.shape[0], max(t + 1, round((top + h) * sy)))
    r = min(stored.shape[1], max(lft + 1, round((left + w) * sx)))
    out = np.empty((size, size, 3), np.uint8)
    kernels().resize_view(np.ascontiguousarray(stored), t, lft, b - t, r - lft, out)
    return np.ascontiguousarray(out[:, ::-1]) if flip else out


# --- the comparison -----------------------------------------------------------------------------------


def difference(a: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """(sum of |a - ref|, sum of (a - ref)^2) in 0-255 levels, accumulated over images."""
    d = a.astype(np.float64) - ref.astype(np.float64)
    return float(np.abs(d).sum()), float((d * d).sum())


def summary(abs_sum: float, sq_sum: float, count: int) -> dict[str, float]:
    mse = sq_sum / count
    return {"mad": abs_sum / count, "psnr_db": math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)}


def bench_views(
    root: Path,
    images: int = 64,
    image_size: int = 224,
    augmentation: str = "aug_plus",
    seed: int = 0,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Mean |difference| and PSNR of each path's views against the official pipeline's, same parameters."""
    if augmentation not in AUGMENTATIONS:
        raise UsageError(f"--augmentation {augmentation!r}: use one of {', '.join(AUGMENTATIONS)}")
    if images < 1 or image_size < 8:
        raise UsageError("need --images >= 1 and --image-size >= 8")
    samples, _ = list_split(root, "train")
    if not samples:
        raise UsageError(f"{root}/train holds no images; pass an ImageNet-layout folder")
    samples = samples[:images]
    spec = view_spec(augmentation, image_size, blur_sigma_px(PAPER_BLUR_SIGMA, image_size))
    paths = ["torch, colour in the workers", "torch, colour on the device"]
    if ffcv_available():
        paths.append("ffcv, colour on the device")
    totals = {p: {"geometry": [0.0, 0.0], "view": [0.0, 0.0]} for p in [*paths, "official, another draw"]}
    capped = 0  # images the .beton stores smaller than the file
    enlarged = 0  # crops smaller than the view on a side
    log(f"{len(samples)} images, {image_size} px views, {augmentation}")
    for index, (path, _) in enumerate(samples):
        pil = load_rgb(path)
        full = (pil.height, pil.width)
        box, flip, params = draw(spec, *full, seed, index)
        enlarged += box[2] < image_size or box[3] < image_size
        ref_geom_img = official_geometry(pil, box, flip, image_size)
        ref_geom = np.asarray(ref_geom_img)
        ref = official_colour(ref_geom_img, spec, params)
        torch_geom = crop_resize_flip(decode(path), box, image_size, flip)
        ours = {
            "torch, colour in the workers": (torch_geom, loader_colour(torch_geom, spec, params)),
            "torch, colour on the device": (torch_geom, device_colour(torch_geom, spec, params)),
        }
        if "ffcv, colour on the device" in paths:
            stored = ffcv_stored(Path(path))
            capped += stored.shape[:2] != full
            ffcv_geom = ffcv_geometry(stored, box, full, flip, image_size)
            ours["ffcv, colour on the device"] = (ffcv_geom, device_colour(ffcv_geom, spec, params))
        box2, flip2, params2 = draw(spec, *full, seed + 1, index)
        other_geom = official_geometry(pil, box2, flip2, image_size)
        ours["official, another draw"] = (np.asarray(other_geom), official_colour(other_geom, spec, params2))
        for name, (geom, view) in ours.items():
            for part, a, b in (("geometry", geom, ref_geom), ("view", view, ref)):
                s = difference(a, b)
                totals[name][part][0] += s[0]
                totals[name][part][1] += s[1]
    count = len(samples) * image_size * image_size * 3
    results = {
        name: {part: summary(*sums, count) for part, sums in parts.items()} for name, parts in totals.items()
    }
    return {
        "data": str(root),
        "images": len(samples),
        "image_size": image_size,
        "augmentation": augmentation,
        "seed": seed,
        "ffcv": "installed" if ffcv_available() else "not installed: its path is not measured",
        "ffcv_stored": "longer side capped at 512 px; JPEG q90 above 128x128x3 bytes",
        "ffcv_capped_images": capped,
        "crops_enlarged": enlarged,
        "paths": results,
    }


def rich_table(record: dict[str, Any]) -> Table:
    view = Table(
        title=f"bench views: {record['images']} images ({record['crops_enlarged']} crops enlarged), "
        f"{record['image_size']} px, {record['augmentation']}; "
        "difference from the official PIL pipeline's view, same parameters"
    )
    for col in ("path", "geometry |diff|", "geometry PSNR", "view |diff|", "view PSNR"):
        view.add_column(col, justify="right")
    for name, r in record["paths"].items():
        g, v = r["geometry"], r["view"]
        view.add_row(
            name, f"{g['mad']:.2f}", f"{g['psnr_db']:.1f} dB", f"{v['mad']:.2f}", f"{v['psnr_db']:.1f} dB"
        )
    return view
