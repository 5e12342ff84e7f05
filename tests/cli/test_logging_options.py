"""`--wandb` and `--wandb-project` reach the library from pretrain, linear and detect-voc."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mocobench.cli import app
from mocobench.detection import finetune
from mocobench.evaluate import linear
from mocobench.train import pretrain


@pytest.mark.parametrize("flags", [[], ["--wandb", "--wandb-project", "proj"], ["--no-wandb"]])
def test_the_options_reach_the_three_commands(flags: list[str], tmp_path: Path, monkeypatch):
    seen: dict[str, tuple] = {}

    def recorder(name: str, result):
        def record(*args, **kwargs):
            options = kwargs.get("launch", kwargs)  # pretrain's ride in its Launch
            get = options.get if isinstance(options, dict) else lambda key: getattr(options, key)
            seen[name] = (get("wandb"), get("wandb_project"))
            return result

        return record

    summary = {"knn_top1": None, "knn_top1_init": None}
    monkeypatch.setattr(pretrain, "pretrain", recorder("pretrain", summary))
    monkeypatch.setattr("mocobench.tables.curves.plot_run_curves", lambda run_dir: None)
    monkeypatch.setattr(linear, "evaluate_pretrained", recorder("linear", (None, tmp_path)))
    monkeypatch.setattr(finetune, "detect_voc", recorder("detect-voc", ({}, tmp_path)))
    runner = CliRunner()
    for args in (
        ["pretrain", "--recipe", "moco-v1", "--scale", "smoke", "--out", str(tmp_path / "run")],
        ["linear", "--pretrained", str(tmp_path / "run")],
        ["detect-voc", "--pretrained", "random"],
    ):
        res = runner.invoke(app, [*args, *flags])
        assert res.exit_code == 0, res.output
    expected = (True, "proj") if "--wandb" in flags else (False, None)
    assert seen == {name: expected for name in ("pretrain", "linear", "detect-voc")}
