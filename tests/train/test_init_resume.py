"""Resuming a run whose config.json predates the `init` field: it reads as the default, torchvision's, which
is what such a run was built with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mocobench.config.recipes import resolve
from mocobench.config.settings import RunConfig
from mocobench.errors import UsageError
from mocobench.results import layout
from mocobench.runtime import checkpoint
from mocobench.train.resume import check_run_dir


def _fitted(name: str, *sets: str) -> RunConfig:
    """The config as `pretrain` checks it: resolved, then fitted to the data (its mean/std set)."""
    return resolve(name, "smoke", list(sets)).replace(mean=[0.5] * 3, std=[0.25] * 3, seed=0)


def _old_run(run: Path, config: RunConfig) -> None:
    run.mkdir(parents=True)
    (run / layout.CONFIG).write_text(json.dumps({k: v for k, v in config.flat().items() if k != "init"}))
    (run / checkpoint.LAST).write_bytes(b"")  # check_run_dir only asks whether there is one


def test_a_run_without_init_resumes_as_torchvisions_and_a_simclr_row_is_told_how(tmp_path: Path):
    moco = _fitted("mlp+aug+cos")
    _old_run(tmp_path / "moco", moco)
    check_run_dir(tmp_path / "moco", moco, resume=True)  # default init: nothing changed

    old = _fitted("simclr-b256", "init=torchvision")  # what its recipe built before the field
    _old_run(tmp_path / "simclr", old)
    check_run_dir(tmp_path / "simclr", old, resume=True)
    with pytest.raises(
        UsageError, match=r"was started with init='torchvision', not 'simclr'; resume with the same recipe"
    ):
        check_run_dir(tmp_path / "simclr", _fitted("simclr-b256"), resume=True)
