"""Pascal VOC detection AP exactly as Detectron2's `PascalVOCDetectionEvaluator` computes it (its `voc_eval`).

Per class: detections sorted by score with `np.argsort(-scores)` as Detectron2 does (so ties resolve as
numpy's default sort does: input order for small arrays), each compared with the ground-truth box of its
image with the highest IoU, matched or not. IoU > threshold on a box not yet matched is a true positive; on
a `difficult` box, neither TP nor FP; otherwise a false positive (a second detection of a matched box
included). VOC2007 uses the 11-point interpolated AP (recall 0, 0.1, ..., 1). Boxes are VOC pixel
coordinates, inclusive, so widths and heights are `x2 - x1 + 1`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IOU_THRESHOLDS = tuple(range(50, 100, 5))  # AP is the mean over IoU 0.50:0.05:0.95 (in percent)


@dataclass
class GroundTruth:
    boxes: np.ndarray  # (N, 4) x1, y1, x2, y2
    difficult: np.ndarray  # (N,) bool


def voc_ap(recall: np.ndarray, precision: np.ndarray, use_07_metric: bool = True) -> float:
    """Area under the precision/recall curve: 11-point (VOC2007) or all points (VOC2010+)."""
    if use_07_metric:
        ap = 0.0
        for t in np.arange(0.0, 1.1, 0.1):
            p = np.max(precision[recall >= t]) if np.sum(recall >= t) > 0 else 0.0
            ap += p / 11.0
        return float(ap)
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = max(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def _iou(box: np.ndarray, gts: np.ndarray) -> np.ndarray:
    ixmin = np.maximum(gts[:, 0], box[0])
    iymin = np.maximum(gts[:, 1], box[1])
    ixmax = np.minimum(gts[:, 2], box[2])
    iymax = np.minimum(gts[:, 3], box[3])
    iw = np.maximum(ixmax - ixmin + 1.0, 0.0)
    ih = np.maximum(iymax - iymin + 1.0, 0.0)
    inter = iw * ih
    union = (box[2] - box[0] + 1.0) * (box[3] - box[1] + 1.0)
    union = union + (gts[:, 2] - gts[:, 0] + 1.0) * (gts[:, 3] - gts[:, 1] + 1.0) - inter
    return inter / union


def class_ap(
    detections: list[tuple[str, float, np.ndarray]],
    ground_truth: dict[str, GroundTruth],
    iou_threshold: float = 0.5,
    use_07_metric: bool = True,
) -> float:
    """AP of one class. `detections`: (image id, score, box); `ground_truth`: this class's boxes per image
    (every test image, so detections on images without this class are false positives)."""
    npos = int(sum((~g.difficult).sum() for g in ground_truth.values()))
    matched = {image: np.zeros(len(g.boxes), dtype=bool) for image, g in ground_truth.items()}
    scores = np.array([d[1] for d in detections], dtype=float)
    order = np.argsort(-scores)  # Detectron2's voc_eval, ties included
    tp = np.zeros(len(order))
    fp = np.zeros(len(order))
    for d, i in enumerate(order):
        image, _, box = detections[i]
        gt = ground_truth.get(image)
        if gt is None or len(gt.boxes) == 0:
            fp[d] = 1
            continue
        overlaps = _iou(np.asarray(box, dtype=float), gt.boxes.astype(float))
        j = int(np.argmax(overlaps))
        if overlaps[j] > iou_threshold:
            if gt.difficult[j]:
                continue  # neither TP nor FP
            if not matched[image][j]:
                tp[d] = 1
                matched[image][j] = True
            else:
                fp[d] = 1
        else:
            fp[d] = 1
    fp, tp = np.cumsum(fp), np.cumsum(tp)
    recall = tp / float(npos) if npos else np.zeros_like(tp)
    precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    return voc_ap(recall, precision, use_07_metric)
