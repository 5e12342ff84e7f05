"""Shape masks and scene rendering for the embedded datasets.

One object is an `ObjectSpec` (class, centre, size, rotation, colours, texture). `render_scene` paints any
number of objects onto a textured background; `object_coverage` and `object_box` give each object's pixels
and box, so the classification set (one object per image) and the detection set (several per image, VOC
boxes) share one renderer. Classes differ only in *shape*; colour, texture, position and scale are
nuisances, sampled independently of the class, which the MoCo augmentations (crop, colour jitter,
grayscale, blur) teach the encoder to ignore.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Ten silhouettes that stay distinguishable at 32 px. The order is the class index.
SHAPES: tuple[str, ...] = (
    "circle",
    "square",
    "triangle",
    "star",
    "cross",
    "ring",
    "hexagon",
    "crescent",
    "heart",
    "arrow",
)


VISIBLE_COVERAGE = 0.25  # a pixel belongs to an object's box when the object covers more of it than this


@dataclass(frozen=True)
class ObjectSpec:
    """One object: `shape` in SHAPES; centre and size in pixels; rotation in radians; colours in 0-255."""

    shape: str
    cx: float
    cy: float
    size: float  # side of the object's square frame, pixels
    rotation: float
    color: tuple[int, int, int]
    stripe_period: float = 0.0  # pixels; 0 means a plain fill
    stripe_angle: float = 0.0
    stripe_contrast: float = 0.0  # 0..1, fraction of the colour modulated by the stripes
    # Per-instance deformation, so that every object of a class has its own silhouette (as every cat has
    # its own): stretch along the object's axes, shear, and a smooth sinusoidal warp.
    aspect: float = 1.0  # x / y stretch
    shear: float = 0.0
    warp: tuple[float, float, float, float, float, float] = (
        0.0,
        1.0,
        0.0,
        0.0,
        1.0,
        0.0,
    )  # amp, freq, phase x2


def _polygon_inside(x: np.ndarray, y: np.ndarray, pts: list[tuple[float, float]]) -> np.ndarray:
    """Even-odd rule point-in-polygon on a grid (vectorised over pixels)."""
    inside = np.zeros(x.shape, dtype=bool)
    n = len(pts)
    for i in range(n):
        x0, y0 = pts[i]
        x1, y1 = pts[(i + 1) % n]
        crosses = (y0 > y) != (y1 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (x < x_at)
    return inside


def _regular(n: int, r: float, phase: float = -math.pi / 2) -> list[tuple[float, float]]:
    return [
        (r * math.cos(phase + 2 * math.pi * i / n), r * math.sin(phase + 2 * math.pi * i / n))
        for i in range(n)
    ]


def shape_mask(shape: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mask of `shape` on normalised coordinates: the shape fits the square [-1, 1]^2, y points down."""
    if shape == "circle":
        return x**2 + y**2 <= 0.9**2
    if shape == "square":
        return (np.abs(x) <= 0.75) & (np.abs(y) <= 0.75)
    if shape == "triangle":
        return _polygon_inside(x, y, [(0.0, -0.9), (0.9, 0.75), (-0.9, 0.75)])
    if shape == "star":
        outer, inner = _regular(5, 0.95), _regular(5, 0.4, -math.pi / 2 + math.pi / 5)
        return _polygon_inside(x, y, [p for pair in zip(outer, inner, strict=True) for p in pair])
    if shape == "cross":
        return ((np.abs(x) <= 0.28) & (np.abs(y) <= 0.9)) | ((np.abs(y) <= 0.28) & (np.abs(x) <= 0.9))
    if shape == "ring":
        r2 = x**2 + y**2
        return (r2 <= 0.92**2) & (r2 >= 0.5**2)
    if shape == "hexagon":
        return _polygon_inside(x, y, _regular(6, 0.9, 0.0))
    if shape == "crescent":
        return (x**2 + y**2 <= 0.9**2) & ((x - 0.45) ** 2 + y**2 > 0.7**2)
    if shape == "heart":
        # Two lobes over a downward triangle.
        lobes = ((x + 0.42) ** 2 + (y + 0.3) ** 2 <= 0.46**2) | ((x - 0.42) ** 2 + (y + 0.3) ** 2 <= 0.46**2)
        return lobes | _polygon_inside(x, y, [(-0.86, -0.18), (0.86, -0.18), (0.0, 0.9)])
    if shape == "arrow":
        shaft = (np.abs(y) <= 0.22) & (x >= -0.9) & (x <= 0.1)
        return shaft | _polygon_inside(x, y, [(0.0, -0.7), (0.92, 0.0), (0.0, 0.7)])
    raise ValueError(f"unknown shape {shape!r}; known: {', '.join(SHAPES)}")


def object_coverage(obj: ObjectSpec, height: int, width: int, supersample: int = 2) -> np.ndarray:
    """Anti-aliased coverage (0..1) of one object on an H x W canvas."""
    s = supersample
    ys = (np.arange(height * s) + 0.5) / s
    xs = (np.arange(width * s) + 0.5) / s
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    # Into the object's frame: translate, rotate, scale so the shape's square is [-1, 1]^2.
    dx, dy = xx - obj.cx, yy - obj.cy
    c, sn = math.cos(obj.rotation), math.sin(obj.rotation)
    half = obj.size / 2
    u = (c * dx + sn * dy) / half
    v = (-sn * dx + c * dy) / half
    u, v = u / math.sqrt(obj.aspect) + obj.shear * v, v * math.sqrt(obj.aspect)
    au, fu, pu, av, fv, pv = obj.warp
    u, v = u + au * np.sin(fu * v + pu), v + av * np.sin(fv * u + pv)
    mask = shape_mask(obj.shape, u, v).astype(np.float32)
    return mask.reshape(height, s, width, s).mean(axis=(1, 3))


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Tight 0-based pixel box (xmin, ymin, xmax, ymax) of a boolean mask (None: empty)."""
    if not mask.any():
        return None
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    return int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])


def object_box(obj: ObjectSpec, height: int, width: int) -> tuple[int, int, int, int] | None:
    """Tight pixel box (xmin, ymin, xmax, ymax), of the visible object (None: off-canvas)."""
    return mask_box(object_coverage(obj, height, width) > VISIBLE_COVERAGE)


def _stripes(obj: ObjectSpec, height: int, width: int) -> np.ndarray:
    if obj.stripe_period <= 0:
        return np.ones((height, width), dtype=np.float32)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    phase = (
        (xx * math.cos(obj.stripe_angle) + yy * math.sin(obj.stripe_angle)) * 2 * math.pi / obj.stripe_period
    )
    return (1.0 - obj.stripe_contrast * 0.5 * (1 + np.sin(phase))).astype(np.float32)


def render_background(
    rng: np.random.Generator, height: int, width: int, color_a: np.ndarray, color_b: np.ndarray, noise: float
) -> np.ndarray:
    """A linear gradient between two colours plus per-pixel noise (fine texture that blur removes)."""
    angle = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    t = xx * math.cos(angle) + yy * math.sin(angle)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    img = color_a[None, None, :] * (1 - t[..., None]) + color_b[None, None, :] * t[..., None]
    img += rng.normal(0.0, noise, size=(height, width, 3)).astype(np.float32)
    return img


def render_scene(
    rng: np.random.Generator,
    height: int,
    width: int,
    objects: list[ObjectSpec],
    background: tuple[np.ndarray, np.ndarray, float],
    object_noise: float,
    coverages: list[np.ndarray] | None = None,
) -> np.ndarray:
    """Paint `objects` in order (later ones occlude earlier) over a background; returns uint8 HxWx3.

    `coverages` are the objects' `object_coverage`, when the caller already computed them (a detection
    set needs them before painting, to find what stays visible).
    """
    img = render_background(rng, height, width, *background)
    for i, obj in enumerate(objects):
        cov = (object_coverage(obj, height, width) if coverages is None else coverages[i])[..., None]
        fill = (
            np.asarray(obj.color, dtype=np.float32)[None, None, :] * _stripes(obj, height, width)[..., None]
        )
        fill = fill + rng.normal(0.0, object_noise, size=(height, width, 3)).astype(np.float32)
        img = img * (1 - cov) + fill * cov
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)
