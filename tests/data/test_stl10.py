"""STL-10 binary version: column-major planes, labels 1..10, the unlabeled split for pre-training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from format_files import STL10_CLASSES, assert_refused, cached_split, stl10_bytes, write_stl10

from mocobench.data.folder import list_train_val
from mocobench.data.sources import list_pretrain, open_data
from mocobench.errors import UsageError


def test_stl10_converts_every_split_pixel_exact(tmp_path: Path):
    written = write_stl10(tmp_path)
    source = open_data(f"stl10:{tmp_path}")
    assert source.kind == "stl10" and source.native_size == 96
    assert source.pretrain_splits == ("train", "unlabeled")
    assert source.mean == (0.43, 0.42, 0.39) and source.std == (0.27, 0.26, 0.27)
    for split in ("train", "val", "unlabeled"):
        images, labels, folders = cached_split(source.root, split)
        assert np.array_equal(images, written.splits[split][0])
        if split == "unlabeled":
            assert folders == ["unlabeled"]
        else:
            assert np.array_equal(labels, written.splits[split][1]) and folders == STL10_CLASSES
    train, val, classes = list_train_val(source.root)
    assert (len(train), len(val), classes) == (20, 10, STL10_CLASSES)


def test_the_layout_is_column_major_as_torchvision_reads_it(tmp_path: Path):
    written = write_stl10(tmp_path, train_per_class=1, test_per_class=1, unlabeled=1)
    raw = np.zeros(3 * 96 * 96, dtype=np.uint8)
    raw[1] = 200  # red plane, column 0, row 1
    raw[9216 + 96] = 150  # green plane, column 1, row 0
    (written.path / "unlabeled_X.bin").write_bytes(raw.tobytes())
    images, _, _ = cached_split(open_data(f"stl10:{written.path}").root, "unlabeled")
    assert images[0][1, 0, 0] == 200 and images[0][0, 1, 1] == 150 and images[0].sum() == 350
    stored = np.frombuffer((written.path / "train_X.bin").read_bytes(), np.uint8)
    torchvision = np.transpose(stored.reshape(-1, 3, 96, 96), (0, 1, 3, 2))  # STL10.__loadfile
    assert np.array_equal(np.transpose(torchvision, (0, 2, 3, 1)), written.splits["train"][0])
    labels = np.frombuffer((written.path / "train_y.bin").read_bytes(), np.uint8)
    assert labels.min() == 1 and labels.max() == 10


def test_pretraining_reads_train_and_unlabeled(tmp_path: Path):
    write_stl10(tmp_path, train_per_class=2, test_per_class=1, unlabeled=25)
    source = open_data(f"stl10:{tmp_path}")
    samples = list_pretrain(source)
    assert len(samples) == 20 + 25
    assert sum(1 for path, label in samples if path.parent.name == "unlabeled" and label == 0) == 25
    capped = list_pretrain(source, max_per_class=1)  # 1 per class of train, as many unlabeled per class
    assert len(capped) == 10 + 10


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda d: (d / "unlabeled_X.bin").unlink(),
            r"stl10_binary has no unlabeled_X\.bin; pass the folder",
        ),
        (
            lambda d: (d / "train_X.bin").write_bytes(b"\0" * 27000),
            r"train_X\.bin has 27000 bytes, not a positive multiple of 27648",
        ),
        (lambda d: (d / "test_y.bin").write_bytes(bytes([1] * 9 + [11])), r"test_y\.bin has labels 1\.\.11"),
        (
            lambda d: (d / "train_y.bin").write_bytes(bytes([0] * 20)),
            r"train_y\.bin has labels 0\.\.0, outside 1\.\.10",
        ),
        (
            lambda d: (d / "train_y.bin").write_bytes(bytes([1] * 19)),
            r"train_y\.bin has 19 labels for 20 images",
        ),
        (lambda d: (d / "class_names.txt").write_text("cat\n" * 9), r"class_names\.txt names 9 classes"),
    ],
)
def test_damaged_files_are_refused_in_one_line(tmp_path: Path, damage, message: str):
    written = write_stl10(tmp_path)
    damage(written.path)
    assert_refused(f"stl10:{tmp_path}", message, "https://cs.stanford.edu/~acoates/stl10/")


def test_wrong_paths_name_the_fix(tmp_path: Path):
    with pytest.raises(UsageError, match=r"has no train_X\.bin; pass the folder 'stl10_binary'"):
        open_data(f"stl10:{tmp_path}")
    archive = tmp_path / "stl10_binary.tar.gz"
    archive.write_bytes(stl10_bytes(np.zeros((1, 96, 96, 3), np.uint8)))
    with pytest.raises(UsageError, match=r"is a file; unpack it"):
        open_data(f"stl10:{archive}")


def test_class_names_that_are_not_utf8_are_refused_in_one_line(tmp_path: Path):
    written = write_stl10(tmp_path)
    (written.path / "class_names.txt").write_bytes("\n".join(STL10_CLASSES).encode("utf-16"))
    assert_refused(
        f"stl10:{tmp_path}",
        r"class_names\.txt is not UTF-8 text \(byte 0xff at offset 0\); pass the folder 'stl10_binary'",
        "https://cs.stanford.edu/~acoates/stl10/",
    )
    assert not (tmp_path / "home" / "data").exists() or not any((tmp_path / "home" / "data").iterdir())
