"""The VOC devkit reader: the layouts it accepts, what it reads, and one-line errors naming the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from mocobench.data.voc import (
    VOC_CLASSES,
    find_devkit,
    parse_annotation,
    read_annotations,
    read_classes,
    read_image_set,
)
from mocobench.errors import UsageError

XML = """<annotation>
  <folder>VOC2007</folder>
  <filename>{id}.jpg</filename>
  <size><width>50</width><height>40</height><depth>3</depth></size>
  <segmented>0</segmented>
  {objects}
</annotation>
"""
OBJ = (
    "<object><name>{name}</name><pose>Unspecified</pose><truncated>{t}</truncated><difficult>{d}</difficult>"
    "<bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
)


def make_year(devkit: Path, year: int = 2007, objects: dict[str, str] | None = None) -> Path:
    """A VOC year folder whose trainval set lists the ids of `objects` (id -> <object> XML)."""
    objects = (
        objects if objects is not None else {"000001": OBJ.format(name="dog", t=0, d=0, b=(1, 2, 30, 40))}
    )
    year_dir = devkit / f"VOC{year}"
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (year_dir / sub).mkdir(parents=True, exist_ok=True)
    for image_id, xml in objects.items():
        (year_dir / "Annotations" / f"{image_id}.xml").write_text(XML.format(id=image_id, objects=xml))
    (year_dir / "ImageSets" / "Main" / "trainval.txt").write_text("".join(f"{i}\n" for i in objects))
    return year_dir


def test_find_devkit_accepts_the_devkit_its_parent_and_one_year(tmp_path: Path):
    devkit = tmp_path / "VOCdevkit"
    make_year(devkit, 2007)
    make_year(devkit, 2012)
    for path in (devkit, tmp_path):
        layout = find_devkit(path)
        assert layout.devkit == devkit
        assert layout.years == {2007: devkit / "VOC2007", 2012: devkit / "VOC2012"}
        assert layout.classes == VOC_CLASSES
    one = find_devkit(devkit / "VOC2007")
    assert one.devkit == devkit and one.years == {2007: devkit / "VOC2007"}
    with pytest.raises(UsageError, match=r"no VOC2012/ folder \(found VOC2007\)"):
        one.year(2012)


def test_missing_folder_or_no_voc_year_is_a_usage_error(tmp_path: Path):
    with pytest.raises(UsageError, match="no such folder; pass --data the VOCdevkit folder"):
        find_devkit(tmp_path / "nowhere")
    (tmp_path / "VOCdevkit" / "VOC2007" / "Annotations").mkdir(
        parents=True
    )  # JPEGImages/, ImageSets/ missing
    with pytest.raises(UsageError, match="no VOC2007/ or VOC2012/ with Annotations/, JPEGImages/"):
        find_devkit(tmp_path / "VOCdevkit")


def test_image_sets(tmp_path: Path):
    year_dir = make_year(tmp_path, objects={"a": "", "b": ""})
    main = year_dir / "ImageSets" / "Main"
    (main / "train.txt").write_text("a  1\n\n")  # per-line extras (as in the per-class files) are ignored
    (main / "dog_trainval.txt").write_text("a 1\nb -1\n")  # per-class files are not image sets
    (main / "val.txt").write_text("\n")
    assert read_image_set(year_dir, "trainval") == ["a", "b"]
    assert read_image_set(year_dir, "train") == ["a"]
    (tmp_path / "subset.txt").write_text("b\n")
    assert read_image_set(year_dir, str(tmp_path / "subset.txt")) == ["b"]  # a file of ids: a subset
    with pytest.raises(UsageError, match=r"no such image set \(have: train, trainval, val\); check --split"):
        read_image_set(year_dir, "test")
    with pytest.raises(UsageError, match="the image set is empty"):
        read_image_set(year_dir, "val")


def test_parse_annotation_reads_boxes_and_flags(tmp_path: Path):
    bare = (
        "<object><name>car</name><bndbox><xmin>3</xmin><ymin>4</ymin><xmax>9</xmax><ymax>10</ymax></bndbox>"
    )
    objects = "".join(
        (
            OBJ.format(name="dog", t=0, d=1, b=(1, 2, 30, 40)),
            OBJ.format(name=" cat ", t=1, d=0, b=(5, 6, 7.0, 8)),  # padded name, a float coordinate
            bare + "</object>",
        )
    )
    year_dir = make_year(tmp_path, objects={"000007": objects})
    ann = parse_annotation(year_dir / "Annotations" / "000007.xml")
    assert (ann.image_id, ann.width, ann.height) == ("000007", 50, 40)
    assert [(o.name, o.box, o.difficult, o.truncated) for o in ann.objects] == [
        ("dog", (1, 2, 30, 40), True, False),
        ("cat", (5, 6, 7, 8), False, True),
        ("car", (3, 4, 9, 10), False, False),  # no <difficult>/<truncated>: neither
    ]
    assert all(isinstance(c, int) for o in ann.objects for c in o.box)


def test_bad_annotations_are_usage_errors(tmp_path: Path):
    year_dir = make_year(tmp_path)
    xml = year_dir / "Annotations" / "000001.xml"
    with pytest.raises(UsageError, match="annotation missing; every id of the image set needs one"):
        parse_annotation(year_dir / "Annotations" / "000002.xml")
    xml.write_text("<annotation><size><width>5</width>")
    with pytest.raises(UsageError, match=r"000001\.xml: not valid XML .*; fix or regenerate"):
        parse_annotation(xml)
    xml.write_text("<annotation><object><name>dog</name></object></annotation>")
    with pytest.raises(UsageError, match="<size> is missing; the file is not a VOC annotation"):
        parse_annotation(xml)
    xml.write_text(XML.format(id="000001", objects="<object><name>dog</name></object>"))
    with pytest.raises(UsageError, match="lacks <name> or <bndbox>"):
        parse_annotation(xml)
    xml.write_text(XML.format(id="000001", objects=OBJ.format(name="dog", t=0, d=0, b=(1, 2, 3, 4))))
    xml.write_text(xml.read_text().replace("<ymax>4</ymax>", ""))
    with pytest.raises(UsageError, match="<ymax> is missing"):
        parse_annotation(xml)


def test_an_unknown_class_names_itself_and_classes_txt(tmp_path: Path):
    year_dir = make_year(tmp_path)
    assert [a.objects[0].name for a in read_annotations(year_dir, "trainval", VOC_CLASSES)] == ["dog"]
    with pytest.raises(
        UsageError, match=r"000001\.xml: class 'dog' is not one of the 2 classes; .*classes\.txt"
    ):
        read_annotations(year_dir, "trainval", ("circle", "square"))


def test_read_classes(tmp_path: Path):
    assert read_classes(tmp_path) == VOC_CLASSES
    assert len(VOC_CLASSES) == 20 and VOC_CLASSES[0] == "aeroplane" and VOC_CLASSES[-1] == "tvmonitor"
    (tmp_path / "classes.txt").write_text("circle\n\n  square \n")
    assert read_classes(tmp_path) == ("circle", "square")
    make_year(tmp_path)
    assert find_devkit(tmp_path).classes == ("circle", "square")
    for bad in ("circle\ncircle\n", "\n \n"):
        (tmp_path / "classes.txt").write_text(bad)
        with pytest.raises(UsageError, match=r"classes\.txt: needs one distinct class name per line"):
            read_classes(tmp_path)


@pytest.mark.parametrize("value", ["abc", "nan", "1e999", "-inf", "1,5"])
def test_a_coordinate_that_is_no_finite_number_is_refused_in_one_line(tmp_path: Path, value: str):
    year_dir = make_year(tmp_path, objects={"000001": OBJ.format(name="dog", t=0, d=0, b=(1, 2, value, 40))})
    xml = year_dir / "Annotations" / "000001.xml"
    with pytest.raises(UsageError) as error:
        parse_annotation(xml)
    assert str(error.value) == f"{xml}: <xmax> is {value!r}, not a finite number; fix the annotation"


def test_a_size_that_is_no_number_is_refused(tmp_path: Path):
    year_dir = make_year(tmp_path)
    xml = year_dir / "Annotations" / "000001.xml"
    xml.write_text(xml.read_text().replace("<width>50</width>", "<width> 5O </width>"))
    with pytest.raises(UsageError, match=r"<width> is '5O', not a finite number"):
        parse_annotation(xml)


def test_the_cli_refuses_a_bad_coordinate_with_exit_2(tmp_path: Path, cli):
    year_dir = make_year(tmp_path, objects={"000001": OBJ.format(name="dog", t=0, d=0, b=(1, 2, "nan", 40))})
    (year_dir / "ImageSets" / "Main" / "test.txt").write_text("000001\n")
    (tmp_path / "dets").mkdir()
    (tmp_path / "dets" / "dog.txt").write_text("000001 0.9 1 2 30 40\n")
    code, out, err = cli("voc-eval", "--data", str(year_dir), "--detections", str(tmp_path / "dets"))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "000001.xml: <xmax> is 'nan', not a finite number; fix the annotation" in err


def test_text_files_that_are_not_utf8_are_refused_in_one_line(tmp_path: Path):
    year_dir = make_year(tmp_path)
    (tmp_path / "classes.txt").write_bytes("circle\ncarré\n".encode("latin-1"))
    with pytest.raises(UsageError) as error:
        read_classes(tmp_path)
    assert str(error.value) == (
        f"{tmp_path / 'classes.txt'} is not UTF-8 text (byte 0xe9 at offset 11); "
        "save it as UTF-8, one class name per line"
    )
    with pytest.raises(UsageError, match=r"classes\.txt is not UTF-8 text"):
        find_devkit(tmp_path)
    (tmp_path / "classes.txt").write_bytes("\ufeffcircle\ncarré\n".encode())  # UTF-8 with a BOM (Notepad)
    assert read_classes(tmp_path) == ("circle", "carré")
    (year_dir / "ImageSets" / "Main" / "train.txt").write_bytes(b"000001\n\xff\xfe\n")
    with pytest.raises(
        UsageError, match=r"train\.txt is not UTF-8 text \(byte 0xff at offset 7\); save it as"
    ):
        read_image_set(year_dir, "train")
