"""Repeated trials in one result file: the loop linear and VOC evaluation share."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mocobench.errors import UsageError
from mocobench.results.trials import finished_trials, mean_std, run_missing_trials


def _result(trials: list[dict]) -> dict:
    top1 = [t["top1"] for t in trials]
    return {"identity": "ckpt-a", "top1": mean_std(top1)[0], "n": len(trials), "trials": trials}


def test_missing_trials_run_and_the_file_is_rewritten_after_each(tmp_path: Path):
    path = tmp_path / "linear.json"
    seen: list[tuple[str, int]] = []

    def run_one(trial: int) -> dict:
        if path.is_file():  # the previous trial is on disk before the next one starts
            seen.append(("on disk", json.loads(path.read_text())["n"]))
        return {"seed": 10 + trial, "top1": 50.0 + trial}

    done = run_missing_trials(
        path, [], 3, run_one, _result, after_write=lambda t: seen.append(("written", t))
    )
    assert [t["trial"] for t in done] == [0, 1, 2] and [t["seed"] for t in done] == [10, 11, 12]
    assert seen == [("written", 0), ("on disk", 1), ("written", 1), ("on disk", 2), ("written", 2)]
    assert json.loads(path.read_text()) == _result(done)


def test_finished_trials_are_kept_and_only_the_missing_ones_run(tmp_path: Path):
    path = tmp_path / "linear.json"
    path.write_text(json.dumps(_result([{"trial": 1, "seed": 11, "top1": 60.0}])))
    done = finished_trials(path, {"identity": "ckpt-a"}, overwrite=False, what="linear")
    ran = []
    done = run_missing_trials(
        path, done, 3, lambda t: ran.append(t) or {"seed": 10 + t, "top1": 50.0}, _result
    )
    assert ran == [0, 2] and [t["trial"] for t in done] == [0, 1, 2] and done[1]["top1"] == 60.0
    with pytest.raises(UsageError, match="another checkpoint, protocol or data"):
        finished_trials(path, {"identity": "ckpt-b"}, overwrite=False, what="linear")
    assert finished_trials(path, {"identity": "ckpt-b"}, overwrite=True, what="linear") == []


def test_a_process_that_does_not_record_writes_nothing(tmp_path: Path):
    path = tmp_path / "voc.json"
    assert run_missing_trials(path, [], 2, lambda t: None, _result) == []
    assert not path.exists()  # a non-main rank of a distributed run
