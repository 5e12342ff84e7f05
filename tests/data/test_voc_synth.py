"""The embedded detection set: deterministic, a VOC devkit every reader accepts, boxes of what is visible."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from detectron2.data.datasets.pascal_voc import load_voc_instances

from mocobench.data import voc_synth
from mocobench.data.shapes import SHAPES, object_box
from mocobench.data.voc import find_devkit, read_annotations, read_image_set
from mocobench.data.voc_synth import VocSynthSpec, embedded_voc, render_detection_image, write_voc
from mocobench.errors import UsageError

SMALL = VocSynthSpec(seed=1, image_size=64, trainval_2007=12, trainval_2012=8, test_2007=10)


@pytest.fixture(scope="module")
def small_voc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_voc(tmp_path_factory.mktemp("voc") / "small", SMALL)


def all_annotations(root: Path) -> list:
    layout = find_devkit(root / "VOCdevkit")
    splits = {2007: ("trainval", "test"), 2012: ("trainval",)}
    return [
        ann
        for year, names in splits.items()
        for s in names
        for ann in read_annotations(layout.year(year), s, layout.classes)
    ]


def test_rendering_is_deterministic_and_seeded():
    a, objs_a = render_detection_image(SMALL, 2007, "trainval", 3)
    b, objs_b = render_detection_image(SMALL, 2007, "trainval", 3)
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and objs_a == objs_b and 1 <= len(objs_a) <= SMALL.max_objects
    for other in (
        render_detection_image(VocSynthSpec(seed=2, image_size=64), 2007, "trainval", 3),
        render_detection_image(SMALL, 2012, "trainval", 3),
        render_detection_image(SMALL, 2007, "test", 3),
    ):
        assert not np.array_equal(a, other[0])


def test_two_writes_are_byte_identical(tmp_path: Path, small_voc: Path):
    again = write_voc(tmp_path / "again", SMALL)
    files = sorted(p.relative_to(small_voc) for p in small_voc.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert all((small_voc / f).read_bytes() == (again / f).read_bytes() for f in files)
    assert not list(tmp_path.glob(".*tmp*"))  # the temporary folder was renamed into place


def test_a_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def boom(fn, jobs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(voc_synth, "run_jobs", boom)
    with pytest.raises(RuntimeError):
        write_voc(tmp_path / "voc", SMALL)
    assert list(tmp_path.iterdir()) == []


def test_layout_is_a_voc_devkit(small_voc: Path):
    layout = find_devkit(small_voc)
    assert layout.devkit == small_voc / "VOCdevkit" and set(layout.years) == {2007, 2012}
    assert layout.classes == SHAPES[: SMALL.num_classes]
    sizes = {
        (year, split): len(read_image_set(layout.year(year), split))
        for year, split in [(2007, s) for s in ("trainval", "train", "val", "test")]
        + [(2012, s) for s in ("trainval", "train", "val")]
    }
    assert sizes == {
        (2007, "trainval"): 12, (2007, "train"): 6, (2007, "val"): 6, (2007, "test"): 10,
        (2012, "trainval"): 8, (2012, "train"): 4, (2012, "val"): 4,
    }  # fmt: skip
    with pytest.raises(UsageError, match="no such image set"):
        read_image_set(layout.year(2012), "test")
    meta = json.loads((small_voc / "synth.json").read_text())
    assert meta["generator_version"] == voc_synth.VOC_GENERATOR_VERSION
    assert meta["spec"]["trainval_2007"] == 12 and meta["classes"] == list(layout.classes)
    for year in (2007, 2012):
        for ann in read_annotations(layout.year(year), "trainval", layout.classes):
            assert (layout.year(year) / "JPEGImages" / f"{ann.image_id}.jpg").is_file()


def test_xml_is_in_the_standard_voc_form(small_voc: Path):
    root = ET.parse(small_voc / "VOCdevkit" / "VOC2007" / "Annotations" / "000011.xml").getroot()
    assert [c.tag for c in root][:5] == ["folder", "filename", "size", "segmented", "object"]
    assert (root.findtext("folder"), root.findtext("filename"), root.findtext("segmented")) == (
        "VOC2007",
        "000011.jpg",
        "0",
    )
    assert [(c.tag, c.text) for c in root.find("size")] == [("width", "64"), ("height", "64"), ("depth", "3")]
    for obj in root.findall("object"):
        assert [c.tag for c in obj] == ["name", "pose", "truncated", "difficult", "bndbox"]
        assert obj.findtext("pose") == "Unspecified" and obj.findtext("difficult") in ("0", "1")
        assert [c.tag for c in obj.find("bndbox")] == ["xmin", "ymin", "xmax", "ymax"]


def test_ids_are_disjoint_and_train_val_halve_trainval(small_voc: Path):
    layout = find_devkit(small_voc)
    voc07, voc12 = layout.year(2007), layout.year(2012)
    trainval, test = read_image_set(voc07, "trainval"), read_image_set(voc07, "test")
    assert trainval[0] == "000001" and test[0] == "000013" and not set(trainval) & set(test)
    for year_dir in (voc07, voc12):
        train, val = read_image_set(year_dir, "train"), read_image_set(year_dir, "val")
        assert not set(train) & set(val) and sorted(train + val) == read_image_set(year_dir, "trainval")
    assert read_image_set(voc12, "trainval")[0] == "2012_000001"


def test_boxes_are_1_based_inside_the_image_and_border_objects_truncated(small_voc: Path):
    objects = [obj for ann in all_annotations(small_voc) for obj in ann.objects]
    assert len(objects) > 30
    for obj in objects:
        x0, y0, x1, y1 = obj.box
        assert 1 <= x0 <= x1 <= 64 and 1 <= y0 <= y1 <= 64
        on_border = x0 == 1 or y0 == 1 or x1 == 64 or y1 == 64
        assert obj.truncated or not on_border  # visible at the border -> the object crosses it
    assert any(o.box[0] == 1 or o.box[1] == 1 for o in objects)  # 1-based: pixel 0 is coordinate 1
    assert any(o.truncated for o in objects) and not all(o.truncated for o in objects)


def test_detectron2_reads_the_set(small_voc: Path):
    layout = find_devkit(small_voc)
    for year, split in ((2007, "trainval"), (2007, "test"), (2012, "train")):
        dicts = load_voc_instances(str(layout.year(year)), split, layout.classes)
        anns = read_annotations(layout.year(year), split, layout.classes)
        assert [d["image_id"] for d in dicts] == [a.image_id for a in anns]
        for d, ann in zip(dicts, anns, strict=True):
            assert Path(d["file_name"]).is_file() and (d["height"], d["width"]) == (64, 64)
            got = [(layout.classes[i["category_id"]], i["bbox"]) for i in d["annotations"]]
            assert got == [(o.name, [o.box[0] - 1, o.box[1] - 1, o.box[2], o.box[3]]) for o in ann.objects]


def test_boxes_bound_the_visible_object(monkeypatch: pytest.MonkeyPatch):
    made, sample_object = [], voc_synth.sample_object

    def recording(*args, **kwargs):
        made.append(sample_object(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(voc_synth, "sample_object", recording)
    for index in range(12):
        made.clear()
        _, objects = render_detection_image(SMALL, 2007, "trainval", index)
        full = [tuple(c + 1 for c in object_box(obj, 64, 64)) for obj in made]
        # The top object is never occluded: its box is object_box + 1 (so is a single isolated object's).
        assert objects[-1].box == full[-1] and not objects[-1].difficult
        if len(objects) == len(made):  # none dropped: an occluded box lies within the object's full box
            for obj, (x0, y0, x1, y1) in zip(objects, full, strict=True):
                assert x0 <= obj.box[0] <= obj.box[2] <= x1 and y0 <= obj.box[1] <= obj.box[3] <= y1
    single = VocSynthSpec(seed=1, image_size=64, max_objects=1)
    made.clear()
    _, [obj] = render_detection_image(single, 2007, "test", 0)
    assert obj.box == tuple(c + 1 for c in object_box(made[0], 64, 64))


def test_a_few_objects_are_difficult():
    spec = VocSynthSpec()
    objects = [o for i in range(200) for o in render_detection_image(spec, 2007, "trainval", i)[1]]
    difficult = sum(o.difficult for o in objects) / len(objects)
    assert 0.01 < difficult < 0.2, difficult


def test_embedded_voc_is_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MOCOBENCH_HOME", str(tmp_path))
    spec = VocSynthSpec(image_size=32, trainval_2007=4, trainval_2012=2, test_2007=2)
    first = embedded_voc(spec)
    assert first == tmp_path / "data" / f"voc-shapes-{spec.key()}" / "VOCdevkit"
    assert find_devkit(first).classes == SHAPES
    monkeypatch.setattr(voc_synth, "write_voc", lambda *a: pytest.fail("rewrote the cached set"))
    assert embedded_voc(spec) == first
    assert spec.key() != VocSynthSpec(image_size=32).key()
