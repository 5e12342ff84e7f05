"""`--data` specs: dispatch, the conversion cache (reused, keyed on the files, atomic), one-line errors."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from format_files import cached_split, write_cifar10, write_idx

from mocobench.augment.spec import IMAGENET_MEAN, IMAGENET_STD
from mocobench.data import sources
from mocobench.data.folder import class_folder_names
from mocobench.data.sources import KINDS, DataSource, list_pretrain, open_data
from mocobench.data.synth import SynthSpec
from mocobench.errors import UsageError
from mocobench.runtime.home import mocobench_home


def test_every_kind_has_a_reader_and_statistics():
    assert set(KINDS) == {"embedded", "folder", *sources.FORMATS} and set(sources.STATS) == set(KINDS)


def test_embedded_is_the_default_and_can_grow(monkeypatch: pytest.MonkeyPatch, tiny_data: Path):
    specs = []
    monkeypatch.setattr(sources, "embedded_dataset", lambda spec=None: specs.append(spec) or tiny_data)
    for spec in (None, "embedded"):
        source = open_data(spec)
        assert (source.kind, source.spec, source.root) == ("embedded", "embedded", tiny_data)
        assert (source.mean, source.std, source.native_size) == (IMAGENET_MEAN, IMAGENET_STD, None)
    open_data(None, embedded_train_per_class=1600)
    assert specs == [None, None, SynthSpec(train_per_class=1600)]


def test_a_folder_is_the_imagenet_layout(tiny_data: Path):
    for spec in (tiny_data, str(tiny_data), f"folder:{tiny_data}"):
        source = open_data(spec)
        assert source.kind == "folder" and source.root == tiny_data and source.spec == str(spec)
        assert (source.mean, source.std, source.pretrain_splits) == (IMAGENET_MEAN, IMAGENET_STD, ("train",))
    assert len(list_pretrain(source)) == 40 and len(list_pretrain(source, max_per_class=1)) == 10


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "cifar:/data/x",
            r"^cifar:/data/x: unknown data kind 'cifar'; use cifar10:PATH, cifar100:PATH, stl10:PATH",
        ),
        ("cifar10:", r"^cifar10:: no path after 'cifar10:'; pass e\.g\. cifar10:/data/cifar10$"),
        ("/no/such/folder", r"^data /no/such/folder is not a folder; pass an ImageNet-layout folder, one of"),
        ("folder:/no/such", r"^data /no/such is not a folder"),
    ],
)
def test_bad_specs_are_refused_in_one_line(spec: str, message: str):
    with pytest.raises(UsageError, match=message) as error:
        open_data(spec)
    assert "\n" not in str(error.value)


def test_the_cache_is_reused_and_records_its_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    written = write_cifar10(tmp_path / "src")
    first = open_data(f"cifar10:{written.path}")
    assert first.root.parent == mocobench_home() / "data" and first.root.name.startswith("cifar10-")
    record = json.loads((first.root / "source.json").read_text())
    assert record["source"] == str(written.path.resolve()) and record["kind"] == "cifar10"
    assert record["counts"] == {"train": 20, "val": 10} and record["classes"][0] == "airplane"
    assert [name for name, _, _ in record["files"]][:2] == ["data_batch_1", "data_batch_2"]
    assert not (first.root / ".scratch").exists()

    def refuse(*args: object) -> None:
        raise AssertionError("converted again")

    monkeypatch.setattr(sources, "write_split", refuse)
    stamp = (first.root / "source.json").stat().st_mtime_ns
    again = open_data(f"cifar10:{tmp_path / 'src'}")
    assert again == DataSource(**{**first.__dict__, "spec": f"cifar10:{tmp_path / 'src'}"})
    assert (first.root / "source.json").stat().st_mtime_ns == stamp


def test_changed_files_convert_again(tmp_path: Path):
    written = write_cifar10(tmp_path)
    first = open_data(f"cifar10:{written.path}")
    batch = written.path / "test_batch"
    with open(batch, "rb") as f:
        entry = pickle.load(f, encoding="bytes")
    entry[b"data"] = np.full_like(entry[b"data"], 7)
    with open(batch, "wb") as f:
        pickle.dump(entry, f, protocol=4)  # a Python 3 pickle (bytes keys) reads too
    os.utime(batch, ns=(0, 123456789))
    second = open_data(f"cifar10:{written.path}")
    assert second.root != first.root and (first.root / "source.json").is_file()
    assert (cached_split(second.root, "val")[0] == 7).all()


def test_a_failed_conversion_leaves_no_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    write_idx(tmp_path)
    calls = []

    def fail_second(root: Path, split: str, data: object, folders: list[str]) -> int:
        calls.append(split)
        if len(calls) == 2:
            raise UsageError("disk full")
        return 0

    monkeypatch.setattr(sources, "write_split", fail_second)
    with pytest.raises(UsageError, match=f"^mnist:{tmp_path}: disk full$"):
        open_data(f"mnist:{tmp_path}")
    assert list((mocobench_home() / "data").iterdir()) == []


def test_a_source_survives_pickling(tmp_path: Path):
    write_idx(tmp_path)
    source = open_data(f"mnist:{tmp_path}")
    assert pickle.loads(pickle.dumps(source)) == source  # torchrun's broadcast_object


def test_class_folders_sort_in_label_order():
    assert class_folder_names(["airplane", "bird", "cat"]) == ["airplane", "bird", "cat"]
    assert class_folder_names(["T-shirt/top", "Trouser", "Ankle boot"]) == [
        "0_T-shirt_top",
        "1_Trouser",
        "2_Ankle_boot",
    ]
    assert class_folder_names(["b", "a"] + [f"c{i}" for i in range(9)])[:2] == ["00_b", "01_a"]
    assert class_folder_names(["same", "same"]) == ["0_same", "1_same"]


@pytest.mark.slow
def test_pool_workers_read_their_own_slices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Many chunks go to `synth.run_jobs`' spawn pool: each worker maps the file and writes its slice."""
    from mocobench.data import folder

    monkeypatch.setattr(folder, "WRITE_CHUNK", 1)  # 250 one-image jobs: above run_jobs' pool threshold
    written = write_idx(tmp_path, train_per_class=25, test_per_class=1)
    source = open_data(f"mnist:{tmp_path}")
    images, labels, _ = cached_split(source.root, "train")
    assert np.array_equal(images, written.splits["train"][0]) and np.array_equal(
        labels, written.splits["train"][1]
    )
