"""`voc-eval` scoring: hand-checked AP cases, the results-file format, and exact agreement with Detectron2."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
from detectron2.data import MetadataCatalog
from detectron2.evaluation.pascal_voc_evaluation import PascalVOCDetectionEvaluator, voc_eval
from detectron2.structures import Boxes, Instances
from voc_fixtures import write_devkit

from mocobench.detection.voc_eval import (
    evaluate_folder,
    format_report,
    read_detections,
    write_detections,
)
from mocobench.detection.voc_metric import IOU_THRESHOLDS
from mocobench.errors import UsageError

CLASSES = ("cat", "dog", "bird")
BOX = (10, 10, 49, 49)  # 40 x 40 px (VOC boxes are inclusive)
FAR = (100, 100, 139, 139)
ONE_BASED = np.array([1, 1, 0, 0], dtype=np.float32)  # Detectron2's evaluator adds 1 to x1, y1 (float32)
HAND = {  # non-difficult: cat 2, dog 2, bird 1
    "a": [("cat", BOX), ("dog", FAR)],
    "b": [("cat", BOX), ("cat", FAR, True)],
    "c": [("dog", BOX)],
    "d": [("bird", BOX)],
}


def line(image: str, score: float, box: tuple) -> str:
    return f"{image} {score:.3f} " + " ".join(f"{v:.1f}" for v in box)


@pytest.fixture(scope="module")
def hand(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_devkit(tmp_path_factory.mktemp("hand"), HAND, CLASSES)


def run(data: Path, tmp_path: Path, dets: dict[str, list[str]], year: int = 2007) -> dict:
    folder = tmp_path / "dets"
    write_detections(folder, dets)
    return evaluate_folder(data, "test", year, folder)


def test_perfect_detections_score_100(hand: Path, tmp_path: Path) -> None:
    dets = {
        "cat": [line("a", 0.9, BOX), line("b", 0.9, BOX)],
        "dog": [line("a", 0.9, FAR), line("c", 0.9, BOX)],
        "bird": [line("d", 0.9, BOX)],
    }
    r = run(hand.parent, tmp_path, dets)  # the VOCdevkit folder works as well as VOC2007/
    # 11 points of 1/11 sum to 1 + 2e-16, in Detectron2 too.
    assert (r["AP"], r["AP50"], r["AP75"]) == pytest.approx((100, 100, 100))
    assert r["per_class"] == pytest.approx({"cat": 100, "dog": 100, "bird": 100})
    assert (r["n_images"], r["n_detections"], r["year"], r["split"]) == (4, 5, 2007, "test")
    json.dumps(r)  # the CLI's --json output


def test_difficult_box_is_neither_tp_nor_fp(hand: Path, tmp_path: Path) -> None:
    # Ranked: hit on b's difficult cat (ignored), then a TP. tp = [0, 1], fp = [0, 0], npos = 2:
    # recall [0, .5], precision [0, 1] -> 11-point AP = 6/11 (t = 0..0.5 have p = 1). Were the difficult
    # hit a FP, precision would be 0.5 and AP 3/11.
    r = run(hand, tmp_path, {"cat": [line("b", 0.9, FAR), line("a", 0.8, BOX)]})
    assert r["per_class"]["cat"] == pytest.approx(600 / 11)


def test_duplicate_detection_is_a_false_positive(hand: Path, tmp_path: Path) -> None:
    # a's dog twice, then c's: tp = [1, 1, 2], fp = [0, 1, 1], npos = 2 -> recall [.5, .5, 1],
    # precision [1, .5, 2/3]. 11-point: t <= .5 -> 1 (6 points), t >= .6 -> 2/3 (5 points): 28/33.
    dets = {"dog": [line("a", 0.9, FAR), line("a", 0.8, FAR), line("c", 0.7, BOX)]}
    assert run(hand, tmp_path, dets)["per_class"]["dog"] == pytest.approx(2800 / 33)


def test_duplicate_all_point_metric_for_2012(tmp_path: Path) -> None:
    # Same ranking under the VOC2010+ metric: envelope [1, 2/3] over recall steps of .5 -> 5/6.
    data = write_devkit(tmp_path / "voc", HAND, CLASSES, year=2012)
    dets = {"dog": [line("a", 0.9, FAR), line("a", 0.8, FAR), line("c", 0.7, BOX)]}
    assert run(data, tmp_path, dets, year=2012)["per_class"]["dog"] == pytest.approx(500 / 6)


@pytest.mark.parametrize("bird", ["empty file", "no file"])
def test_class_without_detections_scores_0_and_counts_in_the_mean(
    hand: Path, tmp_path: Path, bird: str
) -> None:
    dets = {
        "cat": [line("a", 0.9, BOX), line("b", 0.9, BOX)],
        "dog": [line("a", 0.9, FAR), line("c", 0.9, BOX)],
    }
    if bird == "empty file":
        dets["bird"] = []
    r = run(hand, tmp_path, dets)
    assert r["per_class"]["bird"] == 0
    assert r["AP50"] == pytest.approx(200 / 3)  # (100 + 100 + 0) / 3


def test_detection_on_image_without_the_class_is_a_false_positive(hand: Path, tmp_path: Path) -> None:
    # A bird on a (which has a cat there, no bird) ranks first: tp = [0, 1], fp = [1, 1], npos = 1 ->
    # recall [0, 1], precision [0, .5]: every recall point has p = .5 -> AP 50.
    r = run(hand, tmp_path, {"bird": [line("a", 0.9, BOX), line("d", 0.5, BOX)]})
    assert r["per_class"]["bird"] == pytest.approx(50)


@pytest.mark.parametrize(("fp_first", "expected"), [(True, 300 / 11), (False, 600 / 11)])
def test_score_ties_keep_file_order(hand: Path, tmp_path: Path, fp_first: bool, expected: float) -> None:
    # Equal scores rank in file order (numpy's argsort, as Detectron2). FP (c has no cat) then TP:
    # recall [0, .5], precision [0, .5] -> 6 points of .5 = 3/11; TP first: precision [1, .5] -> 6/11.
    fp, tp = line("c", 0.5, BOX), line("a", 0.5, BOX)
    r = run(hand, tmp_path, {"cat": [fp, tp] if fp_first else [tp, fp]})
    assert r["per_class"]["cat"] == pytest.approx(expected)


def test_ap_averages_iou_thresholds(hand: Path, tmp_path: Path) -> None:
    # c's dog found with IoU 0.6 (40 x 24 inside 40 x 40): a TP at IoU 0.50 and 0.55 only. Dog AP is 100
    # there and 6/11 (recall [.5, .5], precision [1, .5]) at the 8 stricter thresholds; cat and bird 0.
    r = run(hand, tmp_path, {"dog": [line("a", 0.9, FAR), line("c", 0.8, (10, 10, 49, 33))]})
    assert r["AP50"] == pytest.approx(100 / 3)
    assert r["AP75"] == pytest.approx(600 / 11 / 3)
    assert r["AP"] == pytest.approx((2 * 100 + 8 * 600 / 11) / 10 / 3)


def test_devkit_file_names_are_accepted(hand: Path, tmp_path: Path) -> None:
    (tmp_path / "comp4_det_test_bird.txt").write_text(line("d", 0.9, BOX) + "\n")
    dets = read_detections(tmp_path, CLASSES, {"a", "b", "c", "d"})
    assert [(i, s, b.tolist()) for i, s, b in dets["bird"]] == [("d", 0.9, [10, 10, 49, 49])]
    assert dets["cat"] == dets["dog"] == []


def test_write_detections_writes_every_class(tmp_path: Path) -> None:
    write_detections(tmp_path, {"cat": [line("a", 0.5, BOX)]}, classes=CLASSES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bird.txt", "cat.txt", "dog.txt"]
    assert (tmp_path / "cat.txt").read_text() == "a 0.500 10.0 10.0 49.0 49.0\n"
    assert (tmp_path / "bird.txt").read_text() == ""


def test_format_report(hand: Path, tmp_path: Path) -> None:
    text = format_report(run(hand, tmp_path, {"bird": [line("d", 0.9, BOX)]}))
    assert "AP50  33.33" in text
    assert "  bird 100.00" in text and "  cat    0.00" in text


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("a 0.9 10 10 49\n", r"cat\.txt:2: malformed .*image_id score xmin ymin xmax ymax"),
        ("a high 10 10 49 49\n", r"cat\.txt:2: malformed"),
        ("a nan 10 10 49 49\n", r"cat\.txt:2: malformed"),
        ("zz 0.9 10 10 49 49\n", r"cat\.txt:2: image 'zz' is not in the test split"),
    ],
)
def test_bad_lines_name_file_and_line(hand: Path, tmp_path: Path, content: str, expected: str) -> None:
    (tmp_path / "cat.txt").write_text(line("a", 0.5, BOX) + "\n" + content)
    with pytest.raises(UsageError, match=expected):
        evaluate_folder(hand, "test", 2007, tmp_path)


def test_folder_without_class_files_is_an_error(hand: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("nothing\n")
    with pytest.raises(UsageError, match="no detection files"):
        evaluate_folder(hand, "test", 2007, tmp_path)
    with pytest.raises(UsageError, match="no such folder"):
        evaluate_folder(hand, "test", 2007, tmp_path / "missing")


def test_both_file_names_for_one_class_is_an_error(hand: Path, tmp_path: Path) -> None:
    (tmp_path / "cat.txt").write_text("")
    (tmp_path / "comp4_det_test_cat.txt").write_text("")
    with pytest.raises(UsageError, match=r"both cat\.txt and comp4_det_test_cat\.txt"):
        evaluate_folder(hand, "test", 2007, tmp_path)


# --- Detectron2 cross-checks ---------------------------------------------------------------------------


def random_devkit(root: Path, year: int) -> tuple[Path, dict[str, list]]:
    """6 images, 3 classes, every class with non-difficult boxes, some difficult ones."""
    rng = np.random.default_rng(7)
    images: dict[str, list] = {}
    for i in range(6):
        objs = []
        for _ in range(rng.integers(1, 5)):
            x, y = rng.integers(1, 120, size=2)
            w, h = rng.integers(15, 70, size=2)
            objs.append(
                (CLASSES[rng.integers(3)], (int(x), int(y), int(x + w), int(y + h)), rng.random() < 0.2)
            )
        images[f"{i:06d}"] = objs
    images["000000"].extend((c, (5, 5, 60, 60)) for c in CLASSES)  # npos > 0 for every class
    return write_devkit(root, images, CLASSES, year=year), images


def random_predictions(
    images: dict[str, list], seed: int
) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """Per image: 0-based float32 boxes (jittered ground truth and clutter), coarse scores (ties), classes."""
    rng = np.random.default_rng(seed)
    out = []
    for image, objs in images.items():
        boxes, classes = [], []
        for name, box, *_ in objs:
            for _ in range(rng.integers(0, 3)):  # 0 = missed, 2 = duplicate
                boxes.append(np.array(box, dtype=float) - [1, 1, 0, 0] + rng.normal(0, 4, size=4))
                classes.append(CLASSES.index(name) if rng.random() < 0.85 else int(rng.integers(3)))
        for _ in range(rng.integers(0, 3)):
            x, y = rng.uniform(0, 150, size=2)
            boxes.append(np.array([x, y, x + rng.uniform(10, 60), y + rng.uniform(10, 60)]))
            classes.append(int(rng.integers(3)))
        scores = rng.integers(1, 8, size=len(boxes)) / 8 + rng.integers(0, 2, size=len(boxes)) * 1e-4
        out.append((image, np.array(boxes, dtype=np.float32).reshape(-1, 4), scores, np.array(classes)))
    return out


@pytest.mark.parametrize("year", [2007, 2012])
def test_agrees_with_detectron2_voc_eval(tmp_path: Path, year: int) -> None:
    data, images = random_devkit(tmp_path / "voc", year)
    lines: dict[str, list[str]] = {c: [] for c in CLASSES}
    for image, boxes, scores, classes in random_predictions(images, seed=year):
        for (x1, y1, x2, y2), s, k in zip(boxes + ONE_BASED, scores, classes, strict=True):
            lines[CLASSES[k]].append(f"{image} {s:.3f} {x1:.1f} {y1:.1f} {x2:.1f} {y2:.1f}")
    write_detections(tmp_path / "dets", lines)
    ours = evaluate_folder(data, "test", year, tmp_path / "dets")

    aps = {
        t: [
            100
            * voc_eval(
                str(tmp_path / "dets" / "{}.txt"),
                str(data / "Annotations" / "{}.xml"),
                str(data / "ImageSets" / "Main" / "test.txt"),
                c,
                ovthresh=t / 100,
                use_07_metric=year == 2007,
            )[2]
            for c in CLASSES
        ]
        for t in IOU_THRESHOLDS
    }
    assert 0 < ours["AP"] < ours["AP50"] < 100  # a non-trivial case
    assert ours["per_class"] == pytest.approx(dict(zip(CLASSES, aps[50], strict=True)), abs=1e-9, rel=0)
    assert ours["AP50"] == pytest.approx(np.mean(aps[50]), abs=1e-9, rel=0)
    assert ours["AP75"] == pytest.approx(np.mean(aps[75]), abs=1e-9, rel=0)
    assert ours["AP"] == pytest.approx(np.mean([np.mean(v) for v in aps.values()]), abs=1e-9, rel=0)


@pytest.mark.parametrize("year", [2007, 2012])
def test_agrees_with_detectron2_evaluator_end_to_end(tmp_path: Path, year: int) -> None:
    data, images = random_devkit(tmp_path / "voc", year)
    name = f"mocobench_test_voc_{uuid.uuid4().hex}"
    MetadataCatalog.get(name).set(thing_classes=list(CLASSES), dirname=str(data), year=year, split="test")
    evaluator = PascalVOCDetectionEvaluator(name)
    evaluator.reset()
    for image, boxes, scores, classes in random_predictions(images, seed=year + 1):
        keep = classes != 2  # bird: no predictions at all (Detectron2 scores an empty file)
        inst = Instances((200, 200))
        inst.pred_boxes = Boxes(torch.from_numpy(boxes[keep]))
        inst.scores = torch.tensor(scores[keep], dtype=torch.float32)
        inst.pred_classes = torch.tensor(classes[keep], dtype=torch.int64)
        evaluator.process([{"image_id": image}], [{"instances": inst}])
    theirs = evaluator.evaluate()["bbox"]

    # The trainer's path: the evaluator's own formatted lines, written per class, rescored from disk.
    by_class = {CLASSES[k]: v for k, v in evaluator._predictions.items()}
    write_detections(tmp_path / "dets", by_class, classes=CLASSES)
    ours = evaluate_folder(data, "test", year, tmp_path / "dets")
    assert ours["per_class"]["bird"] == 0 and ours["AP"] > 0
    for key in ("AP", "AP50", "AP75"):
        assert ours[key] == pytest.approx(theirs[key], abs=1e-9, rel=0)
