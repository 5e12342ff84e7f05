"""MNIST / Fashion-MNIST idx files (gzipped or not), and Debian's installed Fashion-MNIST."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from format_files import FASHION_CLASSES, cached_split, idx_bytes, write_idx
from torchvision.datasets.mnist import read_image_file, read_label_file

from mocobench.data import idx
from mocobench.data.sources import open_data
from mocobench.errors import UsageError

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")  # apt-get install dataset-fashion-mnist


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_converts_pixel_exact(tmp_path: Path, gz: bool):
    written = write_idx(tmp_path / "mnist", gz=gz)
    source = open_data(f"mnist:{written.path}")
    assert source.kind == "mnist" and source.native_size == 28
    assert source.mean == (0.1307,) * 3 and source.std == (0.3081,) * 3
    for split in ("train", "val"):
        images, labels, folders = cached_split(source.root, split)
        assert images.shape[1:] == (28, 28)  # stored as one-channel PNGs
        assert np.array_equal(images, written.splits[split][0])
        assert np.array_equal(labels, written.splits[split][1])
    assert folders == [str(d) for d in range(10)]


def test_fashion_mnist_folders_keep_the_published_label_order(tmp_path: Path):
    written = write_idx(tmp_path, classes=FASHION_CLASSES)
    source = open_data(f"fashion-mnist:{tmp_path}")
    assert source.mean == (0.2860,) * 3 and source.std == (0.3530,) * 3
    images, labels, folders = cached_split(source.root, "train")
    assert folders[0] == "0_T-shirt_top" and folders[9] == "9_Ankle_boot"
    assert np.array_equal(images, written.splits["train"][0]) and np.array_equal(
        labels, written.splits["train"][1]
    )


def test_the_written_files_are_what_torchvision_parses(tmp_path: Path):
    written = write_idx(tmp_path, gz=False)
    images = read_image_file(str(tmp_path / "train-images-idx3-ubyte"))
    labels = read_label_file(str(tmp_path / "t10k-labels-idx1-ubyte"))
    assert torch.equal(images, torch.from_numpy(written.splits["train"][0]))
    assert labels.tolist() == written.splits["val"][1].tolist()
    header = (tmp_path / "train-images-idx3-ubyte").read_bytes()[:16]
    assert header == bytes.fromhex("00000803") + (20).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2


def test_torchvision_download_layout_is_found(tmp_path: Path):
    write_idx(tmp_path / "MNIST" / "raw")
    assert open_data(f"mnist:{tmp_path}").kind == "mnist"


def _gzip(path: Path, data: bytes) -> None:
    with gzip.open(path, "wb") as f:
        f.write(data)


def _gunzip(path: Path) -> bytes:
    with gzip.open(path, "rb") as f:
        return f.read()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda d: (d / "t10k-labels-idx1-ubyte.gz").unlink(),
            r"has no t10k-labels-idx1-ubyte \(or .*\.gz\)",
        ),
        (
            lambda d: _gzip(d / "train-images-idx3-ubyte.gz", bytes.fromhex("00000801") + b"\0" * 20),
            r"train-images-idx3-ubyte\.gz starts with 00000801, not the idx magic 00000803",
        ),
        (
            lambda d: _gzip(d / "t10k-images-idx3-ubyte.gz", _gunzip(d / "t10k-images-idx3-ubyte.gz")[:-5]),
            r"t10k-images-idx3-ubyte\.gz has 7835 bytes after its header, not the 7840",
        ),
        (
            lambda d: _gzip(
                d / "train-labels-idx1-ubyte.gz", _gunzip(d / "train-labels-idx1-ubyte.gz")[:-1] + b"\x0a"
            ),
            r"train-labels-idx1-ubyte\.gz has labels up to 10, outside 0\.\.9",
        ),
        (
            lambda d: _gzip(
                d / "t10k-labels-idx1-ubyte.gz",
                bytes.fromhex("00000801") + (3).to_bytes(4, "big") + b"\0" * 3,
            ),
            r"declares 3 labels for 10 images",
        ),
        (
            lambda d: (d / "train-images-idx3-ubyte.gz").write_bytes(
                (d / "train-images-idx3-ubyte.gz").read_bytes()[:100]
            ),
            r"train-images-idx3-ubyte\.gz is not a complete gzip file",
        ),
    ],
)
def test_damaged_files_are_refused_in_one_line(tmp_path: Path, damage, message: str):
    write_idx(tmp_path)
    damage(tmp_path)
    with pytest.raises(UsageError, match=message) as error:
        open_data(f"mnist:{tmp_path}")
    text = str(error.value)
    assert "\n" not in text and text.startswith(f"mnist:{tmp_path}: ")


def test_a_missing_folder_names_the_fix(tmp_path: Path):
    with pytest.raises(UsageError, match=r"nope is not a folder; pass the folder holding the four idx files"):
        open_data(f"fashion-mnist:{tmp_path / 'nope'}")


def test_debians_fashion_mnist_is_read_in_place():
    """Debian's dataset-fashion-mnist, the real files: headers and labels only (converting takes ~20 s)."""
    if not (DEBIAN_FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{DEBIAN_FASHION_MNIST} is missing: CI must apt-get install dataset-fashion-mnist")
        pytest.skip(f"{DEBIAN_FASHION_MNIST} absent (apt-get install dataset-fashion-mnist)")
    folder = idx.locate("fashion-mnist", DEBIAN_FASHION_MNIST)
    assert [p.name for p in idx.source_files("fashion-mnist", folder)] == [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]
    assert idx.inspect("fashion-mnist", folder) == {"train": (60000, 28, 28), "val": (10000, 28, 28)}
    for split, per_class in (("train", 6000), ("val", 1000)):
        labels = idx.read_labels(folder / f"{idx.file_stems(split)[1]}.gz", "fashion-mnist")
        assert np.bincount(labels).tolist() == [per_class] * 10


@pytest.mark.parametrize(("rows", "columns"), [(0, 0), (32, 32)])
def test_images_not_28_by_28_are_refused_in_one_line(tmp_path: Path, rows: int, columns: int):
    write_idx(tmp_path, gz=False)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((20, rows, columns), np.uint8)))
    with pytest.raises(UsageError) as error:
        open_data(f"mnist:{tmp_path}")
    images = tmp_path / "train-images-idx3-ubyte"
    assert str(error.value) == (
        f"mnist:{tmp_path}: {images} declares images of {rows} x {columns} pixels, not the format's 28 x 28; "
        f"{idx._hint('mnist')}"
    )
    assert not (tmp_path / "home" / "data").exists()  # refused from the headers, before any conversion


def _bomb(path: Path, header_and_payload: bytes, extra_mib: int) -> None:
    """A gzip file whose first bytes are a valid idx file and which then inflates `extra_mib` MiB further
    (zeros: about 1000x smaller compressed)."""
    zeros = bytes(1 << 20)
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(header_and_payload)
        for _ in range(extra_mib):
            f.write(zeros)


@pytest.mark.parametrize(
    ("stem", "declared"), [("t10k-images-idx3-ubyte", 10 * 28 * 28), ("t10k-labels-idx1-ubyte", 10)]
)
def test_a_gzip_inflating_past_its_header_is_refused_without_inflating_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stem: str, declared: int
):
    write_idx(tmp_path)
    bomb = tmp_path / f"{stem}.gz"
    _bomb(bomb, _gunzip(bomb), extra_mib=64)
    assert bomb.stat().st_size < (1 << 20)  # a small file that inflates to 64 MiB
    inflated: list[int] = []  # bytes each opening of the bomb inflated
    real_open = gzip.open

    def counting_open(path, mode="rb"):  # type: ignore[no-untyped-def]
        f = real_open(path, mode)
        if Path(path) == bomb:
            read, n = f.read, len(inflated)
            inflated.append(0)

            def counted(size: int = -1) -> bytes:
                data = read(size)
                inflated[n] += len(data)
                return data

            f.read = counted
        return f

    monkeypatch.setattr(gzip, "open", counting_open)
    with pytest.raises(UsageError) as error:
        open_data(f"mnist:{tmp_path}")
    header = 16 if "images" in stem else 8
    assert 0 < max(inflated) <= header + declared + 1  # the header, the payload and one byte more
    message = f"{bomb} goes on past the {declared} bytes its header declares (read no further)"
    assert message in str(error.value)
    assert not (tmp_path / "home" / "data").exists() or not any((tmp_path / "home" / "data").iterdir())


def test_a_truncated_label_gzip_is_refused_in_one_line(tmp_path: Path):
    write_idx(tmp_path)
    labels = tmp_path / "train-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:-12])  # the header still inflates; the rest does not
    with pytest.raises(
        UsageError, match=r"train-labels-idx1-ubyte\.gz is not a complete gzip file \(EOFError\)"
    ):
        open_data(f"mnist:{tmp_path}")
