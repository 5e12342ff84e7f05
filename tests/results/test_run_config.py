"""`results/run_config.py`: a run folder's config.json read back as the typed config, an older run's names
and keys translated in this one place, a damaged file refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mocobench.augment.spec import IMAGENET_MEAN, IMAGENET_STD
from mocobench.errors import UsageError
from mocobench.results.run_config import read_config, try_read_config
from mocobench.run.config import resolve


def _write(run: Path, obj: object) -> Path:
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.json").write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return run


def test_a_run_reads_back_as_it_was_written(tmp_path: Path):
    config = resolve("mlp+aug+cos", "smoke").replace(seed=3, mean=[0.5] * 3, std=[0.25] * 3, data="embedded")
    assert read_config(_write(tmp_path / "run", config.flat())) == config


def test_an_old_run_is_translated_where_it_is_read(tmp_path: Path):
    old = resolve("mlp+aug+cos", "cpu").flat()
    old.update(scale="mini", mean=[], std=[])  # the CPU tier's old name; before the data's stats were kept
    del old["init"], old["knn_on"]  # settings added after the run was made
    config = read_config(_write(tmp_path / "run", old))
    assert config.run.scale == "cpu"
    assert config.data.mean == tuple(IMAGENET_MEAN) and config.data.std == tuple(IMAGENET_STD)
    assert (config.method.init, config.run.knn_on) == ("torchvision", "backbone")  # what it trained with


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is unreadable (JSONDecodeError); restore it"),
        ("[1, 2]", "is not a JSON object; restore it"),
        ({"recipe": "x", "epochs": 2.5}, "config.json: epochs must be a whole number of epochs, not 2.5"),
        ({"recipe": "x", "arch": "vgg"}, "config.json: arch must be one of resnet18"),
    ],
)
def test_a_damaged_config_is_one_line(tmp_path: Path, content: object, message: str):
    run = _write(tmp_path / "run", content)
    with pytest.raises(UsageError) as info:
        read_config(run)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert try_read_config(run) is None and try_read_config(tmp_path / "nothing") is None
