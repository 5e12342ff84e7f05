"""Score detections in the Pascal VOC devkit results format, with the metric of Detectron2's evaluator.

The files are the ones Detectron2's `PascalVOCDetectionEvaluator` writes and the devkit reads: one per
class, named `<class>.txt` (Detectron2) or `comp4_det_<split>_<class>.txt` (the official devkit), each line
`image_id score xmin ymin xmax ymax` in VOC's 1-based inclusive pixel coordinates. Writing them during
training and reading them back here lets `mocobench voc-eval` rescore a run without the model. AP is the
mean over IoU 0.50:0.05:0.95 of the mean over classes, as Detectron2 reports it (in percent), with the
11-point metric for VOC2007 (`voc_metric`).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from mocobench.data.voc import VocAnnotation, find_devkit, read_annotations
from mocobench.detection.voc_metric import IOU_THRESHOLDS, GroundTruth, class_ap
from mocobench.errors import UsageError
from mocobench.runtime.atomic import write_text

Detection = tuple[str, float, np.ndarray]  # image id, score, box (x1, y1, x2, y2; VOC coordinates)
LINE_FORMAT = "image_id score xmin ymin xmax ymax"


def devkit_name(split: str, cls: str) -> str:
    """The official devkit's results file name (competition 4: any training data)."""
    return f"comp4_det_{split}_{cls}.txt"


def ground_truth(
    annotations: Sequence[VocAnnotation], classes: Sequence[str]
) -> dict[str, dict[str, GroundTruth]]:
    """Per class, per image of the split, the boxes as in the XML (what Detectron2's voc_eval compares to).

    Every image appears for every class, with zero boxes where the class is absent, so a detection there
    is a false positive rather than an unknown image.
    """
    out: dict[str, dict[str, GroundTruth]] = {}
    for cls in classes:
        per_image = {}
        for ann in annotations:
            objs = [o for o in ann.objects if o.name == cls]
            boxes = np.array([o.box for o in objs], dtype=float).reshape(-1, 4)
            per_image[ann.image_id] = GroundTruth(boxes, np.array([o.difficult for o in objs], dtype=bool))
        out[cls] = per_image
    return out


def _class_file(folder: Path, cls: str, split: str) -> Path | None:
    found = [p for p in (folder / f"{cls}.txt", folder / devkit_name(split, cls)) if p.is_file()]
    if len(found) > 1:
        raise UsageError(
            f"{folder}: both {found[0].name} and {found[1].name} hold {cls!r} detections; delete one of them"
        )
    return found[0] if found else None


def _parse_line(line: str, where: str, image_ids: Collection[str], split: str) -> Detection:
    fields = line.split()
    try:
        if len(fields) != 6:
            raise ValueError
        score, *box = (float(f) for f in fields[1:])
        if not all(math.isfinite(v) for v in (score, *box)):
            raise ValueError
    except ValueError:
        raise UsageError(f"{where}: malformed detection {line.strip()!r}; expected '{LINE_FORMAT}'") from None
    if fields[0] not in image_ids:
        raise UsageError(
            f"{where}: image {fields[0]!r} is not in the {split} split; pass the --split (and --year) the "
            "detections are for"
        )
    return fields[0], score, np.array(box, dtype=float)


def read_detections(
    folder: Path, classes: Sequence[str], image_ids: Collection[str], split: str = "test"
) -> dict[str, list[Detection]]:
    """Each class's detections in file order (which decides ties, as in Detectron2); none if no file."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise UsageError(f"{folder}: no such folder; pass --detections the folder of <class>.txt files")
    ids = image_ids if isinstance(image_ids, (set, frozenset, dict)) else set(image_ids)
    out: dict[str, list[Detection]] = {}
    n_files = 0
    for cls in classes:
        path = _class_file(folder, cls, split)
        out[cls] = []
        if path is None:
            continue
        n_files += 1
        text = path.read_text(encoding="utf-8", errors="replace")
        for n, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                out[cls].append(_parse_line(line, f"{path}:{n}", ids, split))
    if n_files == 0:
        raise UsageError(
            f"{folder}: no detection files (<class>.txt or {devkit_name(split, '<class>')}) for any of the "
            f"{len(classes)} classes ({', '.join(classes[:3])}, ...); pass the folder that holds them"
        )
    return out


def write_detections(
    folder: Path, lines_by_class: Mapping[str, Sequence[str]], classes: Iterable[str] = ()
) -> None:
    """One `<class>.txt` per class (also for each of `classes` without lines, so a missing file is never
    ambiguous), each written atomically; lines as Detectron2's evaluator formats them."""
    folder = Path(folder)
    names = dict.fromkeys([*classes, *lines_by_class])
    for cls in names:
        write_text(folder / f"{cls}.txt", "".join(f"{line}\n" for line in lines_by_class.get(cls, ())))


def score(
    detections: Mapping[str, Sequence[Detection]],
    gt: Mapping[str, Mapping[str, GroundTruth]],
    use_07_metric: bool,
) -> dict:
    """AP, AP50, AP75 (percent) and per-class AP50, averaged in Detectron2's order (classes, then IoUs)."""
    classes = list(gt)
    aps = {
        t: [100 * class_ap(list(detections.get(c, ())), gt[c], t / 100, use_07_metric) for c in classes]
        for t in IOU_THRESHOLDS
    }
    mean = {t: float(np.mean(v)) for t, v in aps.items()}
    images = {image for per_image in gt.values() for image in per_image}
    return {
        "AP": float(np.mean(list(mean.values()))),
        "AP50": mean[50],
        "AP75": mean[75],
        "per_class": dict(zip(classes, aps[50], strict=True)),
        "n_images": len(images),
        "n_detections": sum(len(detections.get(c, ())) for c in classes),
    }


def evaluate_folder(data: Path, split: str, year: int, detections: Path) -> dict:
    """`mocobench voc-eval`: score a folder of results files against a devkit split."""
    layout = find_devkit(Path(data), images=False)  # scoring reads Annotations/ and ImageSets/Main/ only
    year_dir = layout.year(year)
    annotations = read_annotations(year_dir, split, layout.classes)
    ids = {a.image_id for a in annotations}
    dets = read_detections(Path(detections), layout.classes, ids, split)
    result = score(dets, ground_truth(annotations, layout.classes), use_07_metric=year == 2007)
    return {**result, "data": str(year_dir), "split": split, "year": year}


def format_report(result: Mapping) -> str:
    """The CLI's plain-text output: the three headline numbers, then AP50 per class."""
    head = f"VOC{result['year']} {result['split']}" if "year" in result else "VOC"
    lines = [
        f"{head}: {result['n_images']} images, {result['n_detections']} detections",
        f"AP   {result['AP']:6.2f}",
        f"AP50 {result['AP50']:6.2f}",
        f"AP75 {result['AP75']:6.2f}",
        "AP50 per class:",
    ]
    width = max((len(c) for c in result["per_class"]), default=0)
    lines += [f"  {c:<{width}} {ap:6.2f}" for c, ap in result["per_class"].items()]
    return "\n".join(lines)
