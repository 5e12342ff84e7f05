"""The data unpickler: numpy arrays and plain values load, every other global is refused unrun."""

from __future__ import annotations

import pickle
import pickletools
from pathlib import Path

import numpy as np
import pytest
from format_files import Planted, py2_pickle

from mocobench.data import unpickle


def _globals(path: Path) -> set[str]:
    return {
        str(arg).replace(" ", ".")
        for op, arg, _ in pickletools.genops(path.read_bytes())
        if op.name == "GLOBAL"
    }


def test_the_cifar_format_loads_and_names_exactly_the_allowed_globals(tmp_path: Path):
    """What CIFAR's pickles hold (protocol 2, numpy.core names: format_files.py writes them so)."""
    data = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072)
    entry = {b"data": data, b"labels": [1, 2], b"batch_label": b"training batch 1 of 5", b"num_vis": 3072}
    py2_pickle(tmp_path / "batch", entry)
    assert _globals(tmp_path / "batch") == {
        "numpy.core.multiarray._reconstruct",
        "numpy.ndarray",
        "numpy.dtype",
    }
    loaded = unpickle.read(tmp_path / "batch")
    assert set(loaded) == {"data", "labels", "batch_label", "num_vis"}  # latin1: Python 2 str -> str
    assert np.array_equal(loaded["data"], data) and loaded["data"].dtype == np.uint8
    assert loaded["labels"] == [1, 2] and loaded["num_vis"] == 3072
    assert unpickle.read(tmp_path / "batch", encoding="bytes")[b"batch_label"] == b"training batch 1 of 5"
    with open(tmp_path / "numpy2", "wb") as f:
        pickle.dump({"a": data}, f, protocol=3)  # numpy >= 2 names numpy._core.multiarray._reconstruct
    assert np.array_equal(unpickle.read(tmp_path / "numpy2")["a"], data)


@pytest.mark.parametrize(
    "make",
    [
        lambda m: Planted(m),  # the whole pickle
        lambda m: {b"data": np.zeros(3, np.uint8), b"labels": [Planted(m)]},  # nested in a container
        lambda m: {b"data": np.array([Planted(m)], dtype=object)},  # inside an object array's state
    ],
)
def test_a_planted_payload_is_refused_before_it_runs(tmp_path: Path, make):
    marker = tmp_path / "ran"
    py2_pickle(tmp_path / "hostile", make(marker))
    with pytest.raises(unpickle.RefusedGlobal) as error:
        unpickle.read(tmp_path / "hostile")
    assert error.value.name == "posix.mkdir" and not marker.exists()
    with open(tmp_path / "hostile", "rb") as f:
        pickle.load(f, encoding="latin1")  # the control: Python's full unpickler runs it
    assert marker.is_dir()


@pytest.mark.parametrize(
    ("obj", "protocol", "name"),
    [
        (np.zeros(3, np.uint8), 5, "numpy._core.numeric._frombuffer"),  # not in CIFAR's pickles
        (b"raw", 2, "_codecs.encode"),  # Python 3's protocol 2 bytes: not Python 2's
        ({1, 2}, 2, "__builtin__.set"),
        (np.uint8(3), 2, "numpy._core.multiarray.scalar"),
    ],
)
def test_globals_outside_the_format_are_refused(tmp_path: Path, obj: object, protocol: int, name: str):
    (tmp_path / "p").write_bytes(pickle.dumps(obj, protocol=protocol))
    with pytest.raises(unpickle.RefusedGlobal) as error:
        unpickle.read(tmp_path / "p")
    assert error.value.name.replace("numpy.core.", "numpy._core.") == name  # numpy 1.x: numpy.core


@pytest.mark.parametrize(
    "raw",
    [
        b"\x80\x02P0\n.",  # a persistent id: no persistent_load
        b"\x80\x02\x82\x01.",  # an extension code: copyreg's registry is empty
        b"\x80\x04\x8e" + (1 << 40).to_bytes(8, "little") + b"abc",  # a length far past the file
        b"\x80\x02]q\x00(K\x01",  # truncated
        b"not a pickle",
    ],
)
def test_damaged_pickles_raise_one_of_unreadable(tmp_path: Path, raw: bytes):
    (tmp_path / "p").write_bytes(raw)
    with pytest.raises(unpickle.UNREADABLE):
        unpickle.read(tmp_path / "p")
