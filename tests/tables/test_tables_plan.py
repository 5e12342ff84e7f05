"""The one judge of what a table is missing (`tables/plan.py`): the rows with VOC, and each model's steps,
as `reproduce` and the tables' notes both read them."""

from __future__ import annotations

from pathlib import Path

from table_stores import make, mixed_runs, result

from mocobench.config.recipes import resolve
from mocobench.tables.assemble import build_table
from mocobench.tables.notes import FillNote
from mocobench.tables.plan import Model, row_steps, store_models, voc_rows


def test_voc_rows_are_the_paper_rows_with_voc_figures():
    rows = voc_rows(1)
    assert "(a) T=0.07" not in rows and {"supervised", "MoCo v1", "(d)", "(e)"} <= rows
    assert voc_rows(2) == frozenset()


def test_row_steps_mark_each_model_by_its_outputs():
    config = resolve("mlp+aug+cos", "cpu")
    done = Model(Path("r/seed0"), 0, "done", linear_trials=frozenset({0}), voc_trials=frozenset({0}))
    fresh = Model(Path("r/seed1"), 1)
    steps = row_steps(1, "(d)", config, [done, fresh], voc_trials=2)
    assert [(s.seed, s.kind, s.trial, s.state) for s in steps] == [
        (0, "pretrain", 0, "done"),
        (0, "linear", 0, "done"),
        (0, "voc", 0, "done"),
        (0, "voc", 1, "run"),
        (1, "pretrain", 0, "run"),
        (1, "linear", 0, "run"),
        (1, "voc", 0, "run"),
        (1, "voc", 1, "run"),
    ]
    assert not [s for s in row_steps(1, "(a) T=0.07", config, [fresh], 2) if s.kind == "voc"]
    assert not [s for s in row_steps(1, "(d)", config, [fresh], 2, detection=False) if s.kind == "voc"]
    refused = row_steps(1, "(d)", config, [fresh], 2, refusals=("too few images", None))
    assert [(s.kind, s.state, s.detail) for s in refused] == [("pretrain", "refused", "too few images")]


def test_store_models_read_the_store_and_start_seed_0_when_empty():
    runs, results = mixed_runs()
    store = make(runs, [*results, result("runs/cpu/mlp+aug+cos/seed0", 40.0, kind="voc", metric="AP50")])
    mine = store.runs[(store.runs["recipe"] == "mlp+aug+cos") & (store.runs["scale"] == "cpu")]
    at_cpu = store.results[store.results["scale"] == "cpu"]
    models = store_models(mine, at_cpu, "linear", Path("unused"))
    assert [(str(m.run_dir), m.state, m.linear_trials, m.voc_trials) for m in models] == [
        ("runs/cpu/mlp+aug+cos/seed0", "done", {0}, {0}),
        ("runs/cpu/mlp+aug+cos/seed1", "done", {0}, set()),
    ]
    aug = store.runs[store.runs["recipe"] == "aug"]
    assert [(m.state, m.detail) for m in store_models(aug, at_cpu, "linear", Path("x"))] == [
        ("resume", "epoch 12 of 20 done")
    ]
    assert store_models(mine.iloc[:0], at_cpu, "linear", Path("r/seed0")) == [Model(Path("r/seed0"), 0)]


def test_notes_render_the_plans_steps(store):
    """A row the plan gives no VOC step (the paper has no VOC figure for T=0.07) is filled by pre-training
    and its linear evaluation alone; the rows with VOC figures also by detect-voc."""
    t = build_table(1, store, "cpu")
    t007 = next(n for n in t.notes if isinstance(n, FillNote) and n.row == "(a) T=0.07")
    assert "mocobench linear --pretrained runs/cpu/mlp-t0.07/seed0" in t007 and "detect-voc" not in t007
    c = next(n for n in t.notes if n.startswith("(c)"))
    assert "`mocobench detect-voc --pretrained runs/cpu/mlp+aug/seed0`" in c
    row = next(r for r in t.rows if r.label == "(c)")
    assert [s.kind for s in row.steps] == ["pretrain", "linear", "voc"] and row.voc
