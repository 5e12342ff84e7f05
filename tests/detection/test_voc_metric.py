"""VOC AP on hand-checked cases: ranking, duplicates, difficult boxes, ties, no detections, 11 points."""

from __future__ import annotations

import numpy as np
import pytest

from mocobench.detection.voc_metric import GroundTruth, class_ap, voc_ap


def gt(*boxes, difficult=()):
    b = np.array(boxes, dtype=float).reshape(-1, 4)
    d = np.array([i in difficult for i in range(len(b))], dtype=bool)
    return GroundTruth(b, d)


BOX = np.array([10, 10, 49, 49], dtype=float)
FAR = np.array([100, 100, 139, 139], dtype=float)


def test_eleven_point_ap_by_hand():
    # One TP at recall 0.5 (precision 1), nothing else: points 0..0.5 have p = 1 -> 6/11.
    assert voc_ap(np.array([0.5]), np.array([1.0])) == pytest.approx(6 / 11)
    # Full recall at precision 0.5 everywhere -> 0.5.
    assert voc_ap(np.array([0.5, 1.0]), np.array([0.5, 0.5])) == pytest.approx(0.5)
    # All-point AP (VOC2010+) of the first case is 0.5.
    assert voc_ap(np.array([0.5]), np.array([1.0]), use_07_metric=False) == pytest.approx(0.5)


def test_perfect_and_empty():
    truth = {"a": gt(BOX), "b": gt(FAR)}
    assert class_ap([("a", 0.9, BOX), ("b", 0.8, FAR)], truth) == pytest.approx(1.0)
    assert class_ap([], truth) == 0.0  # a class with no detections scores 0


def test_a_false_positive_ranked_first():
    truth = {"a": gt(BOX), "b": gt()}
    # FP (image without the class) first, TP second: recall 1 at precision 0.5 -> 11-point AP 0.5.
    assert class_ap([("b", 0.9, BOX), ("a", 0.8, BOX)], truth) == pytest.approx(0.5)


def test_duplicate_detection_is_a_false_positive():
    truth = {"a": gt(BOX, FAR)}
    dets = [("a", 0.9, BOX), ("a", 0.8, BOX + 1), ("a", 0.7, FAR)]
    # TP, FP (duplicate), TP: precision at recall 0.5 is 1, at recall 1 is 2/3 -> (6*1 + 5*2/3) / 11.
    assert class_ap(dets, truth) == pytest.approx((6 + 5 * 2 / 3) / 11)


def test_difficult_boxes_are_neither_tp_nor_fp():
    truth = {"a": gt(BOX, FAR, difficult=(1,))}
    # Hitting the difficult box changes nothing; npos counts only the non-difficult box.
    assert class_ap([("a", 0.9, FAR), ("a", 0.8, BOX)], truth) == pytest.approx(1.0)
    assert class_ap([("a", 0.9, FAR)], truth) == 0.0


def test_iou_threshold_is_strict_and_inclusive_pixels():
    truth = {"a": gt([0, 0, 9, 9])}  # 10 x 10 pixels
    half = np.array([0, 0, 9, 19], dtype=float)  # 10 x 20: IoU exactly 0.5
    assert class_ap([("a", 0.9, half)], truth, iou_threshold=0.5) == 0.0  # > 0.5 needed
    assert class_ap([("a", 0.9, half)], truth, iou_threshold=0.49) == pytest.approx(1.0)


def test_ties_resolve_as_detectron2s_argsort():  # small arrays: input order
    truth = {"a": gt(BOX), "b": gt()}
    tp_first = class_ap([("a", 0.5, BOX), ("b", 0.5, BOX)], truth)
    fp_first = class_ap([("b", 0.5, BOX), ("a", 0.5, BOX)], truth)
    assert tp_first == pytest.approx(1.0) and fp_first == pytest.approx(0.5)
