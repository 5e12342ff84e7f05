"""The embedded dataset: generated, deterministic, cached, in the ImageNet folder layout.

`mocobench` needs no download: without `--data` it renders ten shape classes (see `shapes.SHAPES`) into
`train/<class>/*.png` and `val/<class>/*.png`. Every nuisance is drawn independently of the class and is
one that the paper's augmentations remove: object and background colours (colour jitter, grayscale),
position and scale (random resized crop), mirror (flip) and fine pixel noise (aug+'s blur). A randomly
initialised encoder therefore clusters images by colour, not by class, and only a representation that
learned those invariances separates the classes: the effect the paper's Table 1 measures.

Each image is drawn from its own generator seeded by (seed, split, index), so the set is identical on
every machine and any image can be re-rendered alone.
"""

from __future__ import annotations

import colorsys
import hashlib
import json
import math
import multiprocessing
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PIL import Image

from mocobench.data.shapes import SHAPES, ObjectSpec, render_scene
from mocobench.runtime.atomic import replace_folder
from mocobench.runtime.home import mocobench_home

GENERATOR_VERSION = 2  # bump whenever the rendered pixels change, so caches are rebuilt


@dataclass(frozen=True)
class SynthSpec:
    """What to generate. The defaults are the embedded dataset every command uses without `--data`."""

    seed: int = 0
    image_size: int = 64
    train_per_class: int = 800
    val_per_class: int = 100
    num_classes: int = len(SHAPES)

    def key(self) -> str:
        return spec_key(GENERATOR_VERSION, self)


def spec_key(version: int, spec: Any) -> str:
    """Short hash of a generator version and a spec dataclass: the cache folder changes when either does."""
    blob = json.dumps({"version": version, **asdict(spec)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


SPLITS = {"train": 0, "val": 1}


def _luma(rgb: np.ndarray) -> float:
    return float(rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32))


# Colours come from a few hue families: enough to fool a random encoder, too few to tell instances apart.
HUES = 6


def _random_color(rng: np.random.Generator) -> np.ndarray:
    h = (rng.integers(HUES) / HUES + rng.uniform(-0.03, 0.03)) % 1.0
    s, v = rng.uniform(0.3, 1.0), rng.uniform(0.25, 1.0)
    return np.array(colorsys.hsv_to_rgb(h, s, v), dtype=np.float32) * 255


def sample_colors(
    rng: np.random.Generator, min_luma_gap: float = 45.0, background: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Object and background colours with enough brightness difference to keep the shape in grayscale.

    With `background`, only the object colour is drawn (several objects on one background).
    """
    while True:
        fg = _random_color(rng)
        bg = _random_color(rng) if background is None else background
        if abs(_luma(fg) - _luma(bg)) >= min_luma_gap:
            return fg, bg


def sample_object(
    rng: np.random.Generator,
    shape: str,
    canvas: int,
    color: np.ndarray,
    size_range: tuple[float, float],
    stripes: float = 0.0,
    margin: float = 0.4,
) -> ObjectSpec:
    """One object of `shape`: random position, scale, rotation, deformation; striped with prob `stripes`.

    The centre keeps `margin` x size from the border: 0.4 lets the object touch it but stay mostly
    visible; 0 puts it anywhere, so it may be cut by the border.
    """
    size = rng.uniform(*size_range) * canvas
    margin = margin * size
    striped = rng.uniform() < stripes
    warp = (
        rng.uniform(0, 0.15),
        rng.uniform(1.5, 3.5),
        rng.uniform(0, 2 * math.pi),
        rng.uniform(0, 0.15),
        rng.uniform(1.5, 3.5),
        rng.uniform(0, 2 * math.pi),
    )
    return ObjectSpec(
        shape=shape,
        cx=float(rng.uniform(margin, canvas - margin)),
        cy=float(rng.uniform(margin, canvas - margin)),
        size=float(size),
        rotation=float(rng.uniform(-math.pi / 6, math.pi / 6)),
        color=tuple(int(c) for c in color),
        stripe_period=float(rng.uniform(3.0, 8.0) * canvas / 64) if striped else 0.0,
        stripe_angle=float(rng.uniform(0, math.pi)),
        stripe_contrast=float(rng.uniform(0.15, 0.4)) if striped else 0.0,
        aspect=float(np.exp(rng.uniform(-0.35, 0.35))),
        shear=float(rng.uniform(-0.25, 0.25)),
        warp=tuple(float(w) for w in warp),
    )


def render_classification_image(spec: SynthSpec, split: str, index: int) -> tuple[np.ndarray, int]:
    """The image `index` of `split` and its class (images cycle through the classes)."""
    label = index % spec.num_classes
    rng = np.random.default_rng([spec.seed, SPLITS[split], index])
    fg, bg = sample_colors(rng)
    bg2 = np.clip(bg + rng.normal(0, 12, size=3), 0, 255).astype(np.float32)
    # Large objects: even a 20%-area crop (the paper's smallest) shows a part of the silhouette.
    obj = sample_object(rng, SHAPES[label], spec.image_size, fg, size_range=(0.6, 0.95))
    noise = float(rng.uniform(0, 12))
    img = render_scene(
        rng, spec.image_size, spec.image_size, [obj], background=(bg, bg2, noise), object_noise=noise
    )
    if rng.uniform() < 0.5:
        img = img[:, ::-1]
    return np.ascontiguousarray(img), label


def _write_one(job: tuple[SynthSpec, str, int, Path]) -> None:
    spec, split, index, root = job
    img, label = render_classification_image(spec, split, index)
    name = SHAPES[label]
    Image.fromarray(img).save(root / split / name / f"{name}_{index:05d}.png", compress_level=1)


T = TypeVar("T")


def run_jobs(fn: Callable[[T], None], jobs: list[T]) -> None:
    """Run `fn` over `jobs`, on a spawn pool when there are many (rendering is CPU-bound numpy)."""
    workers = min(os.cpu_count() or 1, 8)
    if workers > 1 and len(jobs) > 200:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            pool.map(fn, jobs, chunksize=64)
    else:
        for job in jobs:
            fn(job)


def write_classification(out: Path, spec: SynthSpec) -> Path:
    """Write the dataset to `out` (ImageNet layout + `synth.json`); it appears complete or not at all."""
    names = SHAPES[: spec.num_classes]

    def fill(tmp: Path) -> None:
        jobs = []
        for split, per_class in (("train", spec.train_per_class), ("val", spec.val_per_class)):
            for name in names:
                (tmp / split / name).mkdir(parents=True, exist_ok=True)
            jobs += [(spec, split, index, tmp) for index in range(per_class * spec.num_classes)]
        run_jobs(_write_one, jobs)
        meta = {"generator_version": GENERATOR_VERSION, "spec": asdict(spec), "classes": list(names)}
        (tmp / "synth.json").write_text(json.dumps(meta, indent=2) + "\n")

    return replace_folder(out, fill)


def embedded_dataset(spec: SynthSpec | None = None) -> Path:
    """Path of the cached embedded dataset, generating it on first use (a few seconds)."""
    spec = spec or SynthSpec()
    path = mocobench_home() / "data" / f"shapes-{spec.key()}"
    if not (path / "synth.json").is_file():
        write_classification(path, spec)
    return path
