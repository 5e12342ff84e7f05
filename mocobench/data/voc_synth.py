"""The embedded detection dataset: the shapes rendered as a Pascal VOC devkit (07+12 trainval, 07 test).

The paper's Table 2 fine-tunes a pre-trained encoder as a Faster R-CNN on VOC; without `--data` that
needs a detection set as small and download-free as the classification one. Each image holds several
objects (1..`max_objects`) of random classes, drawn with the classification set's nuisances (colours from
the same hue families and luma contrast, deformations, gradient background, pixel noise), so an encoder
pre-trained on the embedded classification set transfers. Objects may cross the border (VOC
`truncated`) and later ones occlude earlier ones; an object left mostly hidden is marked `difficult`, as
VOC's annotators mark objects hard to recognise, and one left nearly invisible is dropped from the scene.
Boxes bound the visible pixels, in VOC's 1-based inclusive coordinates, so VOC tools and Detectron2's
loader read the set unchanged (see `voc.py` for the layout).

Each image is drawn from its own generator seeded by (seed, year, split, index): identical on every
machine, and any image can be re-rendered alone.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from mocobench.data.shapes import SHAPES, VISIBLE_COVERAGE, mask_box, object_coverage, render_scene
from mocobench.data.synth import (
    run_jobs,
    sample_colors,
    sample_object,
    spec_key,
)
from mocobench.data.voc import CLASSES_FILE, SUBDIRS, VocAnnotation, VocObject
from mocobench.runtime.atomic import replace_folder
from mocobench.runtime.home import mocobench_home

VOC_GENERATOR_VERSION = 2  # bump whenever the rendered pixels or annotations change, so caches are rebuilt
SPLIT_CODES = {"trainval": 0, "test": 1}  # the rendered splits; train/val are halves of trainval
SIZE_RANGE = (0.25, 0.6)  # object size as a fraction of the canvas: small enough for several per image
MIN_VISIBLE = 0.15  # an object with less of its in-canvas area visible is dropped (not painted)
DIFFICULT_BELOW = 0.5  # ... and one with less than this is `difficult` (heavily occluded)


@dataclass(frozen=True)
class VocSynthSpec:
    """What to generate. The defaults are the embedded detection set used without `--data`."""

    seed: int = 0
    image_size: int = 96
    trainval_2007: int = 500
    trainval_2012: int = 500
    test_2007: int = 200
    num_classes: int = len(SHAPES)
    max_objects: int = 4

    def __post_init__(self) -> None:
        if not 1 <= self.num_classes <= len(SHAPES) or self.max_objects < 1:
            raise ValueError(f"need 1 <= num_classes <= {len(SHAPES)} and max_objects >= 1, got {self}")

    @property
    def classes(self) -> tuple[str, ...]:
        return SHAPES[: self.num_classes]

    def key(self) -> str:
        return spec_key(VOC_GENERATOR_VERSION, self)


def image_ids(spec: VocSynthSpec) -> dict[tuple[int, str], list[str]]:
    """Ids of each rendered (year, split), in index order; VOC2007 test ids continue after trainval's."""
    n07 = spec.trainval_2007
    return {
        (2007, "trainval"): [f"{i:06d}" for i in range(1, n07 + 1)],
        (2007, "test"): [f"{i:06d}" for i in range(n07 + 1, n07 + spec.test_2007 + 1)],
        (2012, "trainval"): [f"2012_{i:06d}" for i in range(1, spec.trainval_2012 + 1)],
    }


def _visible_masks(coverages: list[np.ndarray]) -> list[np.ndarray | None]:
    """Each object's pixels not hidden by a later kept object, top-down; None for a dropped object.

    Top-down because an object is only hidden by later ones, so dropping one changes only what lies below.
    """
    hidden = np.zeros(coverages[0].shape, dtype=bool)
    out: list[np.ndarray | None] = [None] * len(coverages)
    for i in reversed(range(len(coverages))):
        mask = coverages[i] > VISIBLE_COVERAGE
        visible = mask & ~hidden
        area = int(mask.sum())
        if area and visible.sum() >= MIN_VISIBLE * area:
            out[i] = visible
            hidden |= mask
    return out


def render_detection_image(
    spec: VocSynthSpec, year: int, split: str, index: int
) -> tuple[np.ndarray, list[VocObject]]:
    """The image `index` of (`year`, `split`) and its objects in paint order (boxes 1-based, as VOC)."""
    rng = np.random.default_rng([spec.seed, year, SPLIT_CODES[split], index])
    size = spec.image_size
    _, bg = sample_colors(rng)
    bg2 = np.clip(bg + rng.normal(0, 12, size=3), 0, 255).astype(np.float32)
    noise = float(rng.uniform(0, 12))
    objects = []
    for _ in range(int(rng.integers(1, spec.max_objects + 1))):
        shape = spec.classes[int(rng.integers(spec.num_classes))]
        fg, _ = sample_colors(rng, background=bg)
        objects.append(sample_object(rng, shape, size, fg, size_range=SIZE_RANGE, margin=0.25))
    coverages = [object_coverage(obj, size, size) for obj in objects]
    kept, annotations = [], []
    for obj, cov, visible in zip(objects, coverages, _visible_masks(coverages), strict=True):
        if visible is None:
            continue
        mask = cov > VISIBLE_COVERAGE
        box = mask_box(visible)
        assert box is not None  # _visible_masks keeps only objects with visible pixels
        kept.append((obj, cov))
        annotations.append(
            VocObject(
                obj.shape,
                (box[0] + 1, box[1] + 1, box[2] + 1, box[3] + 1),
                difficult=bool(visible.sum() < DIFFICULT_BELOW * mask.sum()),
                truncated=bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any()),
            )
        )
    img = render_scene(
        rng,
        size,
        size,
        [obj for obj, _ in kept],
        background=(bg, bg2, noise),
        object_noise=noise,
        coverages=[cov for _, cov in kept],
    )
    return img, annotations


def annotation_xml(ann: VocAnnotation, folder: str) -> str:
    """`ann` as a VOC `Annotations/<id>.xml` file."""
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = folder
    ET.SubElement(root, "filename").text = f"{ann.image_id}.jpg"
    size = ET.SubElement(root, "size")
    for tag, value in (("width", ann.width), ("height", ann.height), ("depth", 3)):
        ET.SubElement(size, tag).text = str(value)
    ET.SubElement(root, "segmented").text = "0"
    for obj in ann.objects:
        node = ET.SubElement(root, "object")
        ET.SubElement(node, "name").text = obj.name
        ET.SubElement(node, "pose").text = "Unspecified"
        ET.SubElement(node, "truncated").text = str(int(obj.truncated))
        ET.SubElement(node, "difficult").text = str(int(obj.difficult))
        box = ET.SubElement(node, "bndbox")
        for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), obj.box, strict=True):
            ET.SubElement(box, tag).text = str(value)
    ET.indent(root, space="\t")
    return ET.tostring(root, encoding="unicode") + "\n"


def _write_one(job: tuple[VocSynthSpec, int, str, int, str, Path]) -> None:
    spec, year, split, index, image_id, year_dir = job
    img, objects = render_detection_image(spec, year, split, index)
    Image.fromarray(img).save(year_dir / "JPEGImages" / f"{image_id}.jpg", quality=95)
    ann = VocAnnotation(image_id, spec.image_size, spec.image_size, tuple(objects))
    (year_dir / "Annotations" / f"{image_id}.xml").write_text(annotation_xml(ann, f"VOC{year}"))


def _image_sets(ids: dict[tuple[int, str], list[str]]) -> dict[int, dict[str, list[str]]]:
    """Per year, the non-empty image sets: the rendered splits, plus train/val as alternate trainval ids."""
    sets: dict[int, dict[str, list[str]]] = {}
    for (year, split), names in ids.items():
        year_sets = sets.setdefault(year, {})
        year_sets[split] = names
        if split == "trainval":
            year_sets["train"], year_sets["val"] = names[0::2], names[1::2]
    return {year: {k: v for k, v in s.items() if v} for year, s in sets.items() if any(s.values())}


def write_voc(out: Path, spec: VocSynthSpec) -> Path:
    """Write `out/VOCdevkit/` (+ `classes.txt`) and `out/synth.json`; it appears complete or not at all."""
    ids = image_ids(spec)

    def fill(tmp: Path) -> None:
        devkit = tmp / "VOCdevkit"
        devkit.mkdir()
        jobs = []
        for year, sets in _image_sets(ids).items():
            year_dir = devkit / f"VOC{year}"
            for sub in SUBDIRS:
                (year_dir / sub).mkdir(parents=True)
            for name, names in sets.items():
                (year_dir / "ImageSets" / "Main" / f"{name}.txt").write_text("".join(f"{i}\n" for i in names))
            for split in SPLIT_CODES:
                jobs += [
                    (spec, year, split, k, i, year_dir) for k, i in enumerate(ids.get((year, split), []))
                ]
        run_jobs(_write_one, jobs)
        (devkit / CLASSES_FILE).write_text("".join(f"{c}\n" for c in spec.classes))
        meta = {
            "generator_version": VOC_GENERATOR_VERSION,
            "spec": asdict(spec),
            "classes": list(spec.classes),
        }
        (tmp / "synth.json").write_text(json.dumps(meta, indent=2) + "\n")

    return replace_folder(out, fill)


def embedded_voc(spec: VocSynthSpec | None = None) -> Path:
    """The cached embedded VOCdevkit folder, generating it on first use (seconds)."""
    spec = spec or VocSynthSpec()
    path = mocobench_home() / "data" / f"voc-shapes-{spec.key()}"
    if not (path / "synth.json").is_file():
        write_voc(path, spec)
    return path / "VOCdevkit"
