"""A tiny Pascal VOC devkit written by hand, with every tag Detectron2's `parse_rec` reads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

Obj = tuple  # (class name, (xmin, ymin, xmax, ymax)[, difficult])


def annotation_xml(image_id: str, objects: Sequence[Obj], width: int = 200, height: int = 200) -> str:
    parts = [f"<annotation><filename>{image_id}.jpg</filename>"]
    parts.append(f"<size><width>{width}</width><height>{height}</height><depth>3</depth></size>")
    for name, box, *rest in objects:
        difficult = int(bool(rest and rest[0]))
        coords = "".join(
            f"<{t}>{v}</{t}>" for t, v in zip(("xmin", "ymin", "xmax", "ymax"), box, strict=True)
        )
        parts.append(
            f"<object><name>{name}</name><pose>Unspecified</pose><truncated>0</truncated>"
            f"<difficult>{difficult}</difficult><bndbox>{coords}</bndbox></object>"
        )
    parts.append("</annotation>")
    return "\n".join(parts) + "\n"


def write_devkit(
    root: Path,
    images: Mapping[str, Sequence[Obj]],
    classes: Sequence[str] | None = None,
    year: int = 2007,
    split: str = "test",
) -> Path:
    """`root/VOCdevkit/VOC<year>/` with one XML per image, the split's image set and no images; a
    `classes.txt` when `classes` is given. Returns the VOC<year> folder."""
    devkit = Path(root) / "VOCdevkit"
    year_dir = devkit / f"VOC{year}"
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (year_dir / sub).mkdir(parents=True, exist_ok=True)
    for image_id, objects in images.items():
        (year_dir / "Annotations" / f"{image_id}.xml").write_text(annotation_xml(image_id, objects))
    (year_dir / "ImageSets" / "Main" / f"{split}.txt").write_text("".join(f"{i}\n" for i in images))
    if classes is not None:
        (devkit / "classes.txt").write_text("".join(f"{c}\n" for c in classes))
    return year_dir
