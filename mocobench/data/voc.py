"""Pascal VOC in its devkit layout: find the years, read image sets, classes and XML annotations.

The layout every VOC tool expects (and the embedded detection set is written in):

    VOCdevkit/VOC2007/{Annotations/<id>.xml, JPEGImages/<id>.jpg, ImageSets/Main/{trainval,test}.txt}
    VOCdevkit/VOC2012/...            (07+12 trainval train the detector, 07 test scores it: PAPER.md)

Boxes stay in VOC's own convention here, 1-based inclusive pixel coordinates, exactly as in the XML;
Detectron2's loader and the AP metric convert where they need to. A `classes.txt` at the devkit root
(UTF-8, one name per line) names the classes of a non-VOC set, such as the embedded shapes; without it the 20
VOC classes apply, in Detectron2's order.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from mocobench.data.text import read_lines
from mocobench.errors import UsageError

VOC_CLASSES: tuple[str, ...] = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
    "tvmonitor",
)  # fmt: skip
CLASSES_FILE = "classes.txt"
YEARS = (2007, 2012)
SUBDIRS = ("Annotations", "JPEGImages", "ImageSets/Main")
SCORING_SUBDIRS = ("Annotations", "ImageSets/Main")  # what scoring reads (voc-eval): no images


@dataclass(frozen=True)
class VocObject:
    name: str
    box: tuple[int, int, int, int]  # xmin, ymin, xmax, ymax: 1-based, inclusive (as in the XML)
    difficult: bool = False
    truncated: bool = False


@dataclass(frozen=True)
class VocAnnotation:
    image_id: str
    width: int
    height: int
    objects: tuple[VocObject, ...]


@dataclass(frozen=True)
class VocLayout:
    """A devkit on disk: its root, the year folders present and the class names."""

    devkit: Path
    years: dict[int, Path]
    classes: tuple[str, ...]

    def year(self, year: int) -> Path:
        if year not in self.years:
            have = ", ".join(f"VOC{y}" for y in self.years) or "none"
            raise UsageError(
                f"{self.devkit}: no VOC{year}/ folder (found {have}); pass a VOCdevkit that has it"
            )
        return self.years[year]


def is_year_dir(path: Path, images: bool = True) -> bool:
    return all((path / sub).is_dir() for sub in (SUBDIRS if images else SCORING_SUBDIRS))


def find_devkit(path: Path, images: bool = True) -> VocLayout:
    """Accept a VOCdevkit folder, the folder that holds `VOCdevkit/`, or one `VOC20xx/` folder.

    A year folder needs `Annotations/`, `ImageSets/Main/` and, unless `images` is False (scoring, which
    reads only the annotations and the image sets), `JPEGImages/`."""
    path = Path(path).expanduser()
    if not path.exists():
        raise UsageError(f"{path}: no such folder; pass --data the VOCdevkit folder (VOC2007/, VOC2012/)")
    candidates = [path / "VOCdevkit", path]
    for devkit in candidates:
        years = {y: devkit / f"VOC{y}" for y in YEARS if is_year_dir(devkit / f"VOC{y}", images)}
        if years:
            return VocLayout(devkit, years, read_classes(devkit))
    for year in YEARS:
        if path.name == f"VOC{year}" and is_year_dir(path, images):
            return VocLayout(path.parent, {year: path}, read_classes(path.parent))
    needed = "Annotations/, JPEGImages/ and ImageSets/Main/" if images else "Annotations/ and ImageSets/Main/"
    raise UsageError(f"{path}: no VOC2007/ or VOC2012/ with {needed} inside; pass the VOCdevkit folder")


def read_classes(devkit: Path) -> tuple[str, ...]:
    """`classes.txt` at the devkit root if present, else the 20 VOC classes."""
    path = Path(devkit) / CLASSES_FILE
    if not path.is_file():
        return VOC_CLASSES
    names = tuple(read_lines(path, "save it as UTF-8, one class name per line"))
    if not names or len(set(names)) != len(names):
        raise UsageError(f"{path}: needs one distinct class name per line; fix or delete it")
    return names


def read_image_set(year_dir: Path, split: str) -> list[str]:
    """The image ids of `ImageSets/Main/<split>.txt`, or of `split` itself if it is a .txt file.

    The second form scores a subset, such as the capped test split a smoke-scale run writes.
    """
    path = Path(split) if split.endswith(".txt") else Path(year_dir) / "ImageSets" / "Main" / f"{split}.txt"
    if not path.is_file():
        have = sorted(p.stem for p in path.parent.glob("*.txt") if "_" not in p.stem)
        raise UsageError(f"{path}: no such image set (have: {', '.join(have) or 'none'}); check --split")
    ids = [line.split()[0] for line in read_lines(path, "save it as UTF-8, one image id per line")]
    if not ids:
        raise UsageError(f"{path}: the image set is empty; list one image id per line")
    return ids


def _int(node: ET.Element, tag: str, where: Path) -> int:
    """A pixel count or coordinate: a finite number, rounded. Detectron2's loader takes `float()` of the
    coordinates (detectron2/data/datasets/pascal_voc.py:63, sal-detectron2 0.7.2), after this check."""
    child = node.find(tag)
    if child is None or child.text is None:
        raise UsageError(f"{where}: <{tag}> is missing; the file is not a VOC annotation")
    text = child.text.strip()
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise UsageError(f"{where}: <{tag}> is {text[:40]!r}, not a finite number; fix the annotation")
    return round(value)


def parse_annotation(path: Path) -> VocAnnotation:
    """One `Annotations/<id>.xml` file."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError as e:
        raise UsageError(f"{path}: annotation missing; every id of the image set needs one") from e
    except ET.ParseError as e:
        raise UsageError(f"{path}: not valid XML ({e}); fix or regenerate the annotation") from e
    except OSError as e:
        raise UsageError(f"{path}: unreadable ({e.strerror}); fix or regenerate the annotation") from e
    size = root.find("size")
    if size is None:
        raise UsageError(f"{path}: <size> is missing; the file is not a VOC annotation")
    objects = []
    for obj in root.findall("object"):
        name = (obj.findtext("name") or "").strip()
        box = obj.find("bndbox")
        if not name or box is None:
            raise UsageError(f"{path}: an <object> lacks <name> or <bndbox>; fix the annotation")
        coords = tuple(_int(box, tag, path) for tag in ("xmin", "ymin", "xmax", "ymax"))
        objects.append(
            VocObject(
                name,
                coords,  # type: ignore[arg-type]
                difficult=(obj.findtext("difficult") or "0").strip() == "1",
                truncated=(obj.findtext("truncated") or "0").strip() == "1",
            )
        )
    return VocAnnotation(path.stem, _int(size, "width", path), _int(size, "height", path), tuple(objects))


def read_annotations(year_dir: Path, split: str, classes: tuple[str, ...]) -> list[VocAnnotation]:
    """Every annotation of a split; an object of a class not in `classes` is an error naming it."""
    out = []
    for image_id in read_image_set(year_dir, split):
        ann = parse_annotation(Path(year_dir) / "Annotations" / f"{image_id}.xml")
        for obj in ann.objects:
            if obj.name not in classes:
                raise UsageError(
                    f"{year_dir}/Annotations/{image_id}.xml: class {obj.name!r} is not one of the "
                    f"{len(classes)} classes; list the dataset's classes in {CLASSES_FILE} at the devkit root"
                )
        out.append(ann)
    return out
