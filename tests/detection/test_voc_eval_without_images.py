"""`voc-eval` reads only Annotations/ and ImageSets/Main/: a VOC2007 folder without JPEGImages/ scores;
training (find_devkit's default) still needs the images."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from voc_fixtures import write_devkit

from mocobench.data.voc import find_devkit
from mocobench.detection.voc_eval import write_detections
from mocobench.errors import UsageError

BOX = (10, 10, 49, 49)


def test_a_year_folder_without_images_scores_but_does_not_train(tmp_path: Path, cli):
    year_dir = write_devkit(tmp_path, {"a": [("cat", BOX)], "b": [("dog", BOX)]}, ("cat", "dog"))
    (year_dir / "JPEGImages").rmdir()
    write_detections(tmp_path / "dets", {"cat": ["a 0.9 10 10 49 49"], "dog": ["b 0.8 10 10 49 49"]})
    code, out, err = cli(
        "voc-eval", "--data", str(year_dir), "--detections", str(tmp_path / "dets"), "--json"
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["AP50"] == pytest.approx(100.0) and result["n_images"] == 2
    assert find_devkit(tmp_path, images=False).years == {2007: year_dir}
    with pytest.raises(UsageError, match="with Annotations/, JPEGImages/ and ImageSets/Main/ inside"):
        find_devkit(tmp_path)  # what detect-voc's training reads


def test_without_annotations_scoring_says_what_it_needs(tmp_path: Path, cli):
    year_dir = write_devkit(tmp_path, {"a": [("cat", BOX)]}, ("cat",))
    for xml in (year_dir / "Annotations").iterdir():
        xml.unlink()
    (year_dir / "Annotations").rmdir()
    code, _, err = cli("voc-eval", "--data", str(year_dir), "--detections", str(tmp_path))
    assert code == 2 and err.count("\n") == 1 and "with Annotations/ and ImageSets/Main/ inside" in err
