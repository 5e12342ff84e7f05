"""A result file that is not one (not JSON, another structure, trial numbers that are not ints, records that
do not summarise) is refused in one line naming it before any trial runs; `linear` exits 2 on it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from checkpoints import moco_model, write_run

from mocobench.errors import UsageError
from mocobench.results.trials import finished_trials, mean_std, run_missing_trials

IDENT = {"identity": "ckpt-a"}


def _result(trials: list[dict]) -> dict:
    return {**IDENT, "top1": mean_std([t["top1"] for t in trials])[0], "n": len(trials), "trials": trials}


@pytest.mark.parametrize(
    "content, problem",
    [
        ("{not json", "not JSON"),
        (b"\xff\xfe{}", "not JSON"),
        ("[1, 2]", "a JSON list, not an object"),
        (json.dumps({**IDENT, "trials": {"0": {}}}), "trials is a dict, not a list"),
        (json.dumps({**IDENT, "trials": [7]}), r"trials\[0\] = 7 has no trial number"),
        (json.dumps({**IDENT, "trials": [{"trial": "0", "top1": 1.0}]}), "has no trial number"),
        (json.dumps({**IDENT, "trials": [{"trial": 1.5, "top1": 1.0}]}), "has no trial number"),
        (json.dumps({**IDENT, "trials": [{"trial": True, "top1": 1.0}]}), "has no trial number"),
        (json.dumps({**IDENT, "trials": [{"trial": -1, "top1": 1.0}]}), "has no trial number"),
        (json.dumps({**IDENT, "trials": [{"trial": 0, "top1": 1.0}, {"trial": 0}]}), r"trials\[1\]"),
    ],
)
def test_a_file_that_is_not_a_result_file_is_refused_naming_it(content, problem, tmp_path: Path):
    path = tmp_path / "linear.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(UsageError, match=problem) as refusal:
        finished_trials(path, IDENT, overwrite=False, what="linear")
    assert str(path) in str(refusal.value) and "remove it" in str(refusal.value)
    assert "\n" not in str(refusal.value)
    assert finished_trials(path, IDENT, overwrite=True, what="linear") == []  # --overwrite replaces it


@pytest.mark.parametrize("record", [{"trial": 0}, {"trial": 0, "top1": "fifty"}, {"trial": 0, "top1": None}])
def test_finished_trials_that_do_not_summarise_are_refused_before_any_trial_runs(record, tmp_path: Path):
    path = tmp_path / "linear.json"
    path.write_text(json.dumps({**IDENT, "trials": [record]}))
    done = finished_trials(path, IDENT, overwrite=False, what="linear")
    ran: list[int] = []
    with pytest.raises(UsageError, match=r"linear\.json is not a valid result file \(its trials do not"):
        run_missing_trials(path, done, 2, lambda t: ran.append(t) or {"top1": 1.0}, _result)
    assert ran == [] and json.loads(path.read_text())["trials"] == [record]  # nothing ran, nothing written


@pytest.mark.parametrize("content", ["{not json", "[]", json.dumps({"trials": 3})])
def test_linear_over_an_invalid_linear_json_exits_2_in_one_line(
    content, tiny_data: Path, tmp_path: Path, cli
):
    run = write_run(tmp_path / "run", moco_model(), data=tiny_data)
    (run / "linear.json").write_text(content)
    before = sorted(p.name for p in run.iterdir())
    code, _, err = cli("linear", "--pretrained", str(run), "--trials", "1")
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "not a valid linear result file" in err, err
    assert sorted(p.name for p in run.iterdir()) == before and (run / "linear.json").read_text() == content
    assert not Path(os.environ["MOCOBENCH_RUNS"]).exists()
