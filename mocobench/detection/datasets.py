"""Register a VOC devkit with Detectron2: 07+12 trainval to train, 07 test to score (PAPER.md).

Detectron2's own `load_voc_instances` reads the annotations (difficult boxes included in training, as
Detectron2 and the official MoCo runs do). A scale may cap the images a run touches (smoke); the test cap
takes the first ids of the image set and writes them to an image-set file of the run, which the evaluator
reads instead of `test.txt`, so recall is computed over exactly the images that were scored.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from mocobench.data.decode import verify_decodable
from mocobench.data.voc import VocLayout, read_annotations, read_image_set
from mocobench.runtime import atomic

TRAIN = ((2007, "trainval"), (2012, "trainval"))
TEST = (2007, "test")


@dataclass(frozen=True)
class Registered:
    train: tuple[str, ...]
    test: str
    classes: tuple[str, ...]
    test_image_set: Path | None  # None: the split's own ImageSets/Main/test.txt
    n_train: int
    test_ids: tuple[str, ...]


def _capped(loader, cap: int):  # type: ignore[no-untyped-def]
    return lambda: loader()[:cap] if cap else loader()


def _per_year(max_train: int) -> int:
    return -(-max_train // len(TRAIN)) if max_train else 0


def _jpeg(year_dir: Path, image_id: str) -> Path:
    """What Detectron2 reads for an id: detectron2/data/datasets/pascal_voc.py:42 (sal-detectron2 0.7.2)."""
    return year_dir / "JPEGImages" / f"{image_id}.jpg"


def selected_images(layout: VocLayout, max_train: int = 0, max_test: int = 0) -> tuple[int, list[str]]:
    """How many training images a run uses and which test ids it scores (the caps' first ids).

    Also the input check: a missing year, image set or annotation, or an unknown class, is a clear error
    here, before anything runs or is written; so is an image of the selection that does not decode whole
    (`decode.verify_decodable`: every one up to its limit, a fixed sample of larger selections). Detectron2
    decodes them with PIL, as the check does (detectron2/data/detection_utils.py:166 `read_image`).
    """
    for year, split in (*TRAIN, TEST):
        read_annotations(layout.year(year), split, layout.classes)
    per_year = _per_year(max_train)
    n_train, images = 0, []
    for year, split in TRAIN:
        ids = read_image_set(layout.years[year], split)[: per_year or None]
        n_train += len(ids)
        images += [_jpeg(layout.years[year], i) for i in ids]
    ids = read_image_set(layout.years[TEST[0]], TEST[1])[: max_test or None]
    verify_decodable([*images, *(_jpeg(layout.years[TEST[0]], i) for i in ids)])
    return n_train, ids


def register_voc(
    layout: VocLayout, out_dir: Path, max_train: int, selection: tuple[int, list[str]]
) -> Registered:
    """Register the devkit's splits under names unique to its path and caps; returns what was registered.

    `selection` is `selected_images(layout, max_train, max_test)`, which the caller has already checked.
    """
    from detectron2.data import DatasetCatalog, MetadataCatalog
    from detectron2.data.datasets.pascal_voc import load_voc_instances

    n_train, ids = selection
    tag = hashlib.sha256(f"{layout.devkit.resolve()}|{max_train}|{len(ids)}".encode()).hexdigest()[:8]
    per_year = _per_year(max_train)
    names = []
    for year, split in TRAIN:
        name = f"mocobench_voc{year}_{split}_{tag}"
        dirname = str(layout.years[year])
        if name not in DatasetCatalog.list():
            DatasetCatalog.register(
                name,
                _capped(lambda d=dirname, s=split: load_voc_instances(d, s, layout.classes), per_year),
            )
            MetadataCatalog.get(name).set(
                thing_classes=list(layout.classes), dirname=dirname, year=year, split=split
            )
        names.append(name)
    year, split = TEST
    image_set = None
    if len(ids) < len(read_image_set(layout.years[year], split)):
        image_set = atomic.write_text(Path(out_dir) / f"{split}_first{len(ids)}.txt", "\n".join(ids) + "\n")
    test = f"mocobench_voc{year}_{split}_{tag}"
    if test not in DatasetCatalog.list():
        dirname = str(layout.years[year])
        DatasetCatalog.register(
            test, _capped(lambda d=dirname: load_voc_instances(d, split, layout.classes), len(ids))
        )
        MetadataCatalog.get(test).set(
            thing_classes=list(layout.classes), dirname=dirname, year=year, split=split
        )
    return Registered(tuple(names), test, layout.classes, image_set, n_train, tuple(ids))
