"""Detectron2's `PascalVOCDetectionEvaluator`, keeping what it throws away: detections and per-class AP50.

AP, AP50 and AP75 are Detectron2's own figures. Its detections are also written in the devkit results
format (`detections/<class>.txt`), so `mocobench voc-eval` can rescore any run, and rescored here with
`mocobench.detection.voc_eval` for the per-class AP50 — whose mean must equal Detectron2's AP50, a check
recorded with every result.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from detectron2.evaluation import PascalVOCDetectionEvaluator
from detectron2.utils import comm

from mocobench.data.voc import parse_annotation
from mocobench.detection.voc_eval import ground_truth, read_detections, score, write_detections


class VocEvaluator(PascalVOCDetectionEvaluator):
    def __init__(
        self, dataset_name: str, detections_dir: Path, image_ids: list[str], image_set: Path | None = None
    ):
        super().__init__(dataset_name)
        if image_set is not None:  # a capped test split (smoke scale): score exactly the images run
            self._image_set_path = str(image_set)
        self._detections_dir = Path(detections_dir)
        self._image_ids = list(image_ids)
        self.rescored: dict[str, Any] = {}

    def evaluate(self) -> dict[str, Any] | None:
        result = super().evaluate()
        gathered = comm.gather(self._predictions, dst=0)  # every rank takes part, as in super().evaluate()
        if not comm.is_main_process():
            return result
        lines: dict[int, list[str]] = defaultdict(list)
        for per_rank in gathered:
            for cls_id, cls_lines in per_rank.items():
                lines[cls_id].extend(cls_lines)
        classes = tuple(self._class_names)
        write_detections(
            self._detections_dir, {name: lines.get(i, []) for i, name in enumerate(classes)}, classes
        )
        annotations = [parse_annotation(Path(self._anno_file_template.format(i))) for i in self._image_ids]
        detections = read_detections(self._detections_dir, classes, self._image_ids)
        ours = score(detections, ground_truth(annotations, classes), self._is_2007)
        # Kept beside, not inside, the result: Detectron2 prints every value of it as a float.
        self.rescored = {"per_class_AP50": ours["per_class"], "AP50_rescored": ours["AP50"]}
        return result
