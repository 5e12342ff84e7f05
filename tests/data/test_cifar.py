"""CIFAR-10/100 python version: pixel-exact conversion, the authors' layout, one-line errors."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from format_files import (
    CIFAR10_CLASSES,
    CIFAR100_CLASSES,
    Planted,
    assert_refused,
    cached_split,
    py2_pickle,
    write_cifar10,
    write_cifar100,
)

from mocobench.data.folder import list_train_val
from mocobench.data.sources import open_data
from mocobench.errors import UsageError


def test_cifar10_converts_pixel_exact(tmp_path: Path):
    written = write_cifar10(tmp_path)
    source = open_data(f"cifar10:{tmp_path}")  # the parent of cifar-10-batches-py/ is accepted
    assert source.kind == "cifar10" and source.native_size == 32 and source.pretrain_splits == ("train",)
    assert source.mean == (0.4914, 0.4822, 0.4465) and source.std == (0.2023, 0.1994, 0.2010)
    for split in ("train", "val"):
        images, labels, folders = cached_split(source.root, split)
        assert np.array_equal(images, written.splits[split][0])
        assert np.array_equal(labels, written.splits[split][1])
        assert folders == CIFAR10_CLASSES
    train, val, classes = list_train_val(source.root)
    assert (len(train), len(val), classes) == (20, 10, CIFAR10_CLASSES)
    assert open_data(f"cifar10:{written.path}").root == source.root  # the folder itself: same cache


def test_a_row_is_three_row_major_planes(tmp_path: Path):
    """The layout itself, not only a round trip: byte 1 is red at row 0, column 1; byte 1024 + 32 green
    at row 1, column 0; byte 2048 + 2 blue at row 0, column 2."""
    written = write_cifar10(tmp_path, train_per_class=1, test_per_class=1)
    data = np.zeros((2, 3072), dtype=np.uint8)
    data[0, 1], data[0, 1024 + 32], data[0, 2048 + 2] = 200, 150, 100
    batch = {
        b"batch_label": b"training batch 1 of 5",
        b"labels": [3, 4],
        b"data": data,
        b"filenames": [b"a", b"b"],
    }
    py2_pickle(written.path / "data_batch_1", batch)
    root = open_data(f"cifar10:{written.path}").root
    images, labels, _ = cached_split(root, "train")
    assert images[0][0, 1, 0] == 200 and images[0][1, 0, 1] == 150 and images[0][0, 2, 2] == 100
    assert images[0].sum() == 450 and labels[:2].tolist() == [3, 4]


def test_the_written_pickles_read_as_the_authors_and_torchvision_read_them(tmp_path: Path):
    written = write_cifar10(tmp_path)
    with open(written.path / "data_batch_1", "rb") as f:
        authors = pickle.load(f, encoding="bytes")  # the loader on the CIFAR page
    with open(written.path / "data_batch_1", "rb") as f:
        torchvision = pickle.load(f, encoding="latin1")  # torchvision.datasets.CIFAR10
    assert set(authors) == {b"batch_label", b"labels", b"data", b"filenames"}
    assert set(torchvision) == {"batch_label", "labels", "data", "filenames"}
    assert authors[b"data"].dtype == np.uint8 and authors[b"data"].shape == (4, 3072)
    assert (
        np.array_equal(authors[b"data"], torchvision["data"]) and authors[b"labels"] == torchvision["labels"]
    )
    hwc = torchvision["data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # torchvision's conversion
    assert np.array_equal(hwc, written.splits["train"][0][:4])
    with open(written.path / "batches.meta", "rb") as f:
        assert pickle.load(f, encoding="latin1")["label_names"] == CIFAR10_CLASSES


def test_cifar100_converts_fine_labels(tmp_path: Path):
    written = write_cifar100(tmp_path)
    source = open_data(f"cifar100:{tmp_path}")
    assert source.kind == "cifar100" and source.mean == (0.5071, 0.4865, 0.4409)
    for split in ("train", "val"):
        images, labels, folders = cached_split(source.root, split)
        assert np.array_equal(images, written.splits[split][0])
        assert np.array_equal(labels, written.splits[split][1])
    assert folders == CIFAR100_CLASSES


def _rewrite(path: Path, **changes: object) -> None:
    with open(path, "rb") as f:
        entry = pickle.load(f, encoding="bytes")
    entry.update({k.encode(): v for k, v in changes.items()})
    py2_pickle(path, entry)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda d: (d / "data_batch_3").unlink(),
            r"cifar-10-batches-py has no data_batch_3; pass the folder",
        ),
        (
            lambda d: _rewrite(d / "data_batch_2", data=np.zeros((4, 3000), np.uint8)),
            r"data_batch_2 holds uint8 data of shape \(4, 3000\), not N x 3072 uint8",
        ),
        (
            lambda d: _rewrite(d / "test_batch", labels=[0] * 9 + [10]),
            r"test_batch has labels 0\.\.10, outside 0\.\.9",
        ),
        (lambda d: _rewrite(d / "data_batch_1", labels=[1]), r"data_batch_1 has 4 images but 1 labels"),
        (
            lambda d: _rewrite(d / "batches.meta", label_names=[b"cat"] * 9),
            r"batches\.meta names 9 classes, not 10",
        ),
        (lambda d: (d / "data_batch_4").write_bytes(b"not a pickle"), r"data_batch_4 is not a CIFAR pickle"),
    ],
)
def test_damaged_files_are_refused_in_one_line(tmp_path: Path, damage, message: str):
    written = write_cifar10(tmp_path)
    damage(written.path)
    assert_refused(f"cifar10:{written.path}", message, "https://www.cs.toronto.edu/~kriz/cifar.html")


def test_wrong_paths_name_the_fix(tmp_path: Path):
    with pytest.raises(UsageError, match=r"has no data_batch_1; pass the folder 'cifar-10-batches-py'"):
        open_data(f"cifar10:{tmp_path}")
    with pytest.raises(UsageError, match=r"nope does not exist; pass the folder 'cifar-100-python'"):
        open_data(f"cifar100:{tmp_path / 'nope'}")
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(b"\x1f\x8b")
    with pytest.raises(UsageError, match=r"is a file; unpack it \(tar xzf\)"):
        open_data(f"cifar10:{archive}")
    write_cifar10(tmp_path / "ten")
    with pytest.raises(UsageError, match=r"has no train; pass the folder 'cifar-100-python'"):
        open_data(f"cifar100:{tmp_path / 'ten'}")  # CIFAR-10's files passed as CIFAR-100


def _nothing_cached(tmp_path: Path) -> bool:
    cache = tmp_path / "home" / "data"  # $MOCOBENCH_HOME/data (conftest's _isolated_home)
    return not cache.exists() or not any(cache.iterdir())


@pytest.mark.parametrize(
    ("plant", "file"),
    [
        (lambda d, m: py2_pickle(d / "test_batch", Planted(m)), "test_batch"),  # the whole pickle
        (lambda d, m: _rewrite(d / "data_batch_3", labels=Planted(m)), "data_batch_3"),  # nested in the dict
        (lambda d, m: _rewrite(d / "batches.meta", label_names=[b"cat", Planted(m)]), "batches.meta"),
    ],
)
def test_a_planted_payload_is_refused_unrun_and_nothing_is_cached(tmp_path: Path, plant, file: str):
    written = write_cifar10(tmp_path / "src")
    marker = tmp_path / "payload-ran"
    plant(written.path, marker)
    assert_refused(
        f"cifar10:{written.path}",
        rf"{file} names posix\.mkdir, which no CIFAR pickle holds: refused, nothing run \(dataset files are "
        r"data, never code\); pass the folder 'cifar-10-batches-py'",
        "https://www.cs.toronto.edu/~kriz/cifar.html",
    )
    assert not marker.exists() and _nothing_cached(tmp_path)
    with open(written.path / file, "rb") as f:
        pickle.load(f, encoding="latin1")  # the control: Python's full unpickler runs the payload
    assert marker.is_dir()


def test_the_cli_refuses_a_planted_payload_in_one_line_with_exit_2(tmp_path: Path, cli):
    written = write_cifar100(tmp_path / "src")
    marker = tmp_path / "payload-ran"
    _rewrite(written.path / "train", data=Planted(marker))
    run = tmp_path / "run"
    args = ("pretrain", "--recipe", "moco-v1", "--scale", "smoke", "--data", f"cifar100:{tmp_path / 'src'}")
    code, _, err = cli(*args, "--out", str(run))
    *progress, error = err.strip().splitlines()  # progress: "converting once into ..." (sources.py)
    assert code == 2 and error.startswith("error: cifar100:") and "Traceback" not in err
    assert "train names posix.mkdir, which no CIFAR pickle holds" in error
    assert [line for line in progress if "converting once" not in line] == []
    assert not marker.exists() and not run.exists() and _nothing_cached(tmp_path)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda d: _rewrite(d / "batches.meta", label_names=7),
            r"'label_names' is not a list of class names",
        ),
        (
            lambda d: _rewrite(d / "data_batch_1", labels=[b"x"] * 4),
            r"data_batch_1 has <U1 labels, not integ",
        ),
        (
            lambda d: _rewrite(d / "data_batch_2", labels=[[1], [2, 3]] * 2),
            r"'labels' entry that is no array",
        ),
        (
            lambda d: _rewrite(d / "data_batch_2", data=[[1], [2, 3]]),
            r"data_batch_2 has a 'data' entry that is no",
        ),
        (
            lambda d: _rewrite(d / "test_batch", labels=[1.5] * 10),
            r"test_batch has float64 labels, not integers",
        ),
    ],
)
def test_hostile_values_are_refused_in_one_line(tmp_path: Path, damage, message: str):
    written = write_cifar10(tmp_path / "src")
    damage(written.path)
    assert_refused(f"cifar10:{written.path}", message, "https://www.cs.toronto.edu/~kriz/cifar.html")
    assert _nothing_cached(tmp_path)
