"""One damaged run folder never disables the result store: it is listed as unreadable with its reason, and
`runs`, `runs show` and `table` show everything else (issue 20's hostile tries, each a case below)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mocobench.results import layout
from mocobench.results.store import collect

CONFIG = {
    "recipe": "mlp", "scale": "cpu", "seed": 0, "arch": "resnet18", "image_size": 32, "mechanism": "moco",
    "epochs": 2, "batch_size": 128, "data": "/d/shapes",
}  # fmt: skip
METRICS = [{"epoch": 0, "knn_top1": 20.0}, {"epoch": 1, "loss": 6.0, "images_per_s": 50.0, "knn_top1": 30.0}]


def _run(folder: Path, config: dict | None = None, metrics: list | None = None) -> Path:
    folder.mkdir(parents=True)
    (folder / layout.CONFIG).write_text(json.dumps(config or CONFIG))
    lines = [json.dumps(m) for m in (metrics if metrics is not None else METRICS)]
    (folder / layout.METRICS).write_text("".join(line + "\n" for line in lines))
    return folder


# (what a hostile hand or a damaged disk put in the folder, the reason the listing gives)
DAMAGE = {
    "metrics epoch 'three'": (
        lambda d: _run(d, metrics=[*METRICS, {"epoch": "three", "loss": 5.0}]),
        "line 3 has epoch 'three'",
    ),
    "metrics loss a string": (
        lambda d: _run(d, metrics=[*METRICS[:1], {"epoch": 1, "loss": "x"}]),
        "has loss",
    ),
    "metrics line not JSON": (
        lambda d: (_run(d), (d / layout.METRICS).write_text('{"epoch": 0}\nnot json\n{"epoch": 1}\n')),
        "line 2 is not JSON",
    ),
    "config epochs 'six'": (
        lambda d: _run(d, config={**CONFIG, "epochs": "six"}),
        "epochs must be a whole number of epochs, not 'six'",
    ),
    "config seed null-ish list": (
        lambda d: _run(d, config={**CONFIG, "seed": [0]}),
        "seed must be a whole number, not [0]",
    ),
    "env.json a list": (lambda d: (_run(d), (d / layout.ENV).write_text("[1, 2]")), "env.json holds a list"),
    "summary not JSON": (
        lambda d: (_run(d), (d / layout.SUMMARY).write_text("{")),
        "summary.json is not JSON",
    ),
    "linear.json trials not a list": (
        lambda d: (_run(d), (d / layout.LINEAR).write_text('{"trials": 3}')),
        "linear.json has no list of trials",
    ),
    "linear.json top1 a string": (
        lambda d: (_run(d), (d / layout.LINEAR).write_text('{"trials": [{"trial": 0, "top1": "high"}]}')),
        "top1 'high'",
    ),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_a_damaged_folder_is_listed_as_unreadable_and_the_rest_is_shown(tmp_path: Path, cli, case: str):
    runs = tmp_path / "runs"
    _run(runs / "cpu" / "mlp" / "seed0")
    damage, reason = DAMAGE[case]
    damage(runs / "cpu" / "mlp" / "seed1")
    store = collect(runs)
    assert str(runs / "cpu" / "mlp" / "seed0") in set(store.runs.run_dir)
    assert list(store.unreadable.run_dir) == [str(runs / "cpu" / "mlp" / "seed1")]
    assert reason in store.unreadable.reason.iloc[0]

    code, out, err = cli("runs", "--runs", str(runs))
    assert code == 0, err
    assert "cpu/mlp/seed0" in out and "unreadable: cpu/mlp/seed1" in out and reason in out.replace("\n", "")
    code, out, err = cli("runs", "--runs", str(runs), "--json")
    assert code == 0, err
    listed = {r["folder"]: r for r in json.loads(out)}
    assert listed["cpu/mlp/seed1"]["status"] == "unreadable" and reason in listed["cpu/mlp/seed1"]["reason"]
    code, out, err = cli("runs", "show", "cpu/mlp/seed0", "--runs", str(runs))
    assert code == 0, err
    code, out, err = cli("table", "1", "--runs", str(runs), "--scale", "cpu", "--out", str(tmp_path / "t"))
    assert code == 0, err


def test_runs_show_of_a_damaged_run_is_one_line(tmp_path: Path, cli):
    runs = tmp_path / "runs"
    DAMAGE["config epochs 'six'"][0](runs / "cpu" / "mlp" / "seed0")
    code, _, err = cli("runs", "show", "cpu/mlp/seed0", "--runs", str(runs))
    assert code == 2 and err.count("\n") == 1 and "not 'six'" in err


@pytest.mark.parametrize("pid", [1e20, -1, 0, "12"])
def test_a_lock_that_names_no_process_reads_as_interrupted(tmp_path: Path, cli, pid):
    runs = tmp_path / "runs"
    run = _run(runs / "cpu" / "mlp" / "seed0")
    (run / layout.LOCK).write_text(json.dumps({"pid": pid, "host": "x"}))
    assert collect(runs).runs.status.tolist() == ["interrupted"]  # pid -1 would "signal" every process
    code, out, err = cli("runs", "--runs", str(runs))
    assert code == 0 and "interrupted at epoch 1" in out, err
    code, out, err = cli("runs", "show", "cpu/mlp/seed0", "--runs", str(runs))
    assert code == 0, err
