"""Data folders: clear errors, per-sample seeded augmentation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torchvision import transforms

from mocobench.data.folder import FolderDataset, list_split, list_train_val, verify_images
from mocobench.data.sources import open_data
from mocobench.errors import UsageError


def test_list_split_reads_the_imagenet_layout(tiny_data: Path):
    samples, classes = list_split(tiny_data, "train")
    assert len(classes) == 10 and len(samples) == 40
    assert [label for _, label in samples] == sorted(label for _, label in samples)
    capped, _ = list_split(tiny_data, "train", max_per_class=2)
    assert len(capped) == 20


def test_bad_folders_give_clear_errors(tmp_path: Path):
    with pytest.raises(UsageError, match="is not a folder"):
        open_data(tmp_path / "nope")
    with pytest.raises(UsageError, match="has no train/ folder"):
        list_split(tmp_path, "train")
    (tmp_path / "train").mkdir()
    with pytest.raises(UsageError, match="no class folders"):
        list_split(tmp_path, "train")
    (tmp_path / "train" / "cat").mkdir()
    with pytest.raises(UsageError, match="holds no images"):
        list_split(tmp_path, "train")


def test_unreadable_image_is_named(tmp_path: Path):
    bad = tmp_path / "train" / "cat" / "broken.jpg"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a jpeg")
    samples, _ = list_split(tmp_path, "train")
    with pytest.raises(UsageError, match=r"unreadable image .*broken\.jpg"):
        verify_images(samples)


def test_augmentation_is_a_function_of_seed_epoch_index(tiny_data: Path):
    samples, classes = list_split(tiny_data, "train")
    tf = transforms.Compose([transforms.RandomResizedCrop(16), transforms.ToTensor()])
    ds = FolderDataset(samples, classes, tf, seed=5)
    a, b = ds[(0, 3)][0], ds[(0, 3)][0]
    torch.manual_seed(123)  # the ambient generator must not matter
    c = ds[(0, 3)][0]
    assert torch.equal(a, b) and torch.equal(a, c)
    assert not torch.equal(a, ds[(1, 3)][0])


def test_train_and_val_must_have_the_same_classes(tiny_data: Path, tmp_path: Path):
    train, val, classes = list_train_val(tiny_data, max_per_class=2)
    assert len(train) == 2 * len(classes) and len(val) == 2 * len(classes)
    for split, names in (("train", ("a", "b")), ("val", ("a", "c"))):
        for name in names:
            (tmp_path / split / name).mkdir(parents=True)
            (tmp_path / split / name / "x.png").write_bytes(b"")
    with pytest.raises(UsageError, match="same class folders"):
        list_train_val(tmp_path)
