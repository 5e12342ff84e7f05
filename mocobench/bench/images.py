"""ImageNet-sized JPEGs for the loader benchmark, generated (no download) and cached.

The loader's cost is mostly JPEG decoding and resizing, which depend on pixel count and compressed size,
not on what is pictured. ImageNet's training images are about 400x350 px on average, ~110 KB at JPEG
quality ~90; these are 500x375 shapes scenes with grain, so the decoder has real entropy to work through.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from mocobench.data.synth import (
    SHAPES,
    SynthSpec,
    render_classification_image,
    run_jobs,
    spec_key,
)
from mocobench.runtime.atomic import replace_folder
from mocobench.runtime.home import mocobench_home

BENCH_IMAGES_VERSION = 2  # 2: no empty class folders


@dataclass(frozen=True)
class BenchImagesSpec:
    images: int = 256
    width: int = 500
    height: int = 375
    quality: int = 90
    grain: float = 10.0  # std of per-pixel noise, in 0-255 levels (photographic sensor grain)
    seed: int = 0


def _write_one(job: tuple[BenchImagesSpec, int, Path]) -> None:
    spec, index, root = job
    shapes = SynthSpec(seed=spec.seed, image_size=spec.width)
    img, label = render_classification_image(shapes, "train", index)
    rng = np.random.default_rng([spec.seed, 7, index])
    img = img[: spec.height].astype(np.float32) + rng.normal(0, spec.grain, (spec.height, spec.width, 3))
    name = SHAPES[label]
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(
        root / "train" / name / f"{name}_{index:05d}.jpg", quality=spec.quality
    )


def bench_images(spec: BenchImagesSpec | None = None) -> Path:
    """An ImageNet-layout folder (train/ and a 1-image-per-class val/) of `spec.images` JPEGs, cached."""
    spec = spec or BenchImagesSpec()
    path = mocobench_home() / "data" / f"bench-jpeg-{spec_key(BENCH_IMAGES_VERSION, spec)}"
    if (path / "bench.json").is_file():
        return path

    def fill(tmp: Path) -> None:
        for split in ("train", "val"):
            for name in SHAPES:
                (tmp / split / name).mkdir(parents=True)
        run_jobs(_write_one, [(spec, i, tmp) for i in range(spec.images)])
        for name in SHAPES:  # val/ mirrors train/'s classes (the folder reader requires it)
            first = next((tmp / "train" / name).iterdir(), None)
            if first is not None:
                (tmp / "val" / name / first.name).write_bytes(first.read_bytes())
            else:  # fewer images than classes: no empty class folder (the folder reader refuses one)
                for split in ("train", "val"):
                    (tmp / split / name).rmdir()
        (tmp / "bench.json").write_text(json.dumps({"version": BENCH_IMAGES_VERSION, **asdict(spec)}) + "\n")

    return replace_folder(path, fill)
