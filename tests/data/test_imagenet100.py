"""ImageNet-100: CMC's class list, a cache of symlinks to its 100 class folders, missing classes named."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest
from format_files import write_imagenet

from mocobench.augment.spec import IMAGENET_MEAN, IMAGENET_STD
from mocobench.data.folder import list_train_val
from mocobench.data.imagenet100 import class_list
from mocobench.data.sources import list_pretrain, open_data
from mocobench.errors import UsageError

EXTRA = ["n00000001", "n00000002"]  # ImageNet classes outside the 100


def test_the_class_list_is_cmcs_with_its_source():
    wnids = class_list()
    assert len(wnids) == 100 and len(set(wnids)) == 100
    assert all(re.fullmatch(r"n\d{8}", w) for w in wnids)
    assert wnids[:2] == ["n02869837", "n01749939"]  # CMC's order, not sorted
    text = resources.files("mocobench.data").joinpath("imagenet100_classes.txt").read_text()
    assert "github.com/HobbitLong/CMC" in text and re.search(r"commit [0-9a-f]{40}", text)


def test_imagenet100_links_the_100_class_folders(tmp_path: Path):
    imagenet = write_imagenet(tmp_path / "imagenet", class_list() + EXTRA)
    source = open_data(f"imagenet100:{imagenet}")
    assert source.kind == "imagenet100" and source.native_size is None
    assert (source.mean, source.std) == (IMAGENET_MEAN, IMAGENET_STD)
    train, val, classes = list_train_val(source.root)
    assert classes == sorted(class_list()) and len(train) == 100 and len(val) == 100
    link = source.root / "train" / class_list()[0]
    assert link.is_symlink() and link.resolve() == (imagenet / "train" / class_list()[0]).resolve()
    assert not (source.root / "train" / EXTRA[0]).exists()
    assert len(list_pretrain(source)) == 100


def test_missing_classes_are_named(tmp_path: Path):
    imagenet = write_imagenet(tmp_path / "imagenet", class_list()[3:])
    with pytest.raises(
        UsageError, match=r"train lacks 3 of the 100 ImageNet-100 classes \(n02869837, n01749939,"
    ) as e:
        open_data(f"imagenet100:{imagenet}")
    assert "\n" not in str(e.value) and str(e.value).startswith(f"imagenet100:{imagenet}: ")


def test_an_unsorted_val_folder_points_to_valprep(tmp_path: Path):
    imagenet = write_imagenet(tmp_path / "imagenet", class_list())
    for wnid_dir in (imagenet / "val").iterdir():
        for image in wnid_dir.iterdir():
            image.rename(imagenet / "val" / image.name)
        wnid_dir.rmdir()
    with pytest.raises(
        UsageError, match=r"val holds no class folders; sort the validation images .*valprep\.sh"
    ):
        open_data(f"imagenet100:{imagenet}")
    with pytest.raises(UsageError, match=r"has no train/ folder"):
        open_data(f"imagenet100:{imagenet / 'val'}")
