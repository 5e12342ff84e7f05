"""Tables 1 and 2 assembled from fixture stores: values, empty cells, notes, header and rows."""

from __future__ import annotations

import dataclasses
import json
import math

import pandas as pd
import pytest
from table_stores import CPU, GPU, make, mixed_runs, result, run

from mocobench.config.recipes import recipes_for_table
from mocobench.errors import UsageError
from mocobench.results.store import collect
from mocobench.tables.assemble import build_table
from mocobench.tables.notes import VOC_NOT_YET
from mocobench.tables.render import display_frame, header_lines

T1_COLUMNS = [
    "row", "recipe", "mlp", "aug_plus", "cos", "epochs", "paper_top1", "top1_mean", "top1_std", "top1_n",
    "seeds", "knn_mean", "knn_std", "knn_n", "knn_init_mean", "runs_finished", "learns", "learns_why",
    "paper_ap50", "ap50_mean", "ap50_std", "ap50_n", "ap50_seed_std",
    "paper_ap", "ap_mean", "ap_std", "ap_n", "ap_seed_std",
    "paper_ap75", "ap75_mean", "ap75_std", "ap75_n", "ap75_seed_std",
    "voc_seeds", "voc_trials_min", "voc_trials_max",
]  # fmt: skip


def _row(result_, name):
    frame = result_.frame.set_index("row")
    return frame.loc[name]


def test_table1_columns_and_order(store):
    t = build_table(1, store, "cpu")
    assert list(t.frame.columns) == T1_COLUMNS
    assert list(t.frame["row"]) == ["supervised", "MoCo v1", "(a)", "(a) T=0.07", "(b)", "(c)", "(d)", "(e)"]
    assert list(t.frame["recipe"]) == [
        "supervised", "moco-v1", "mlp", "mlp-t0.07", "aug", "mlp+aug", "mlp+aug+cos", "mlp+aug+cos+800ep"
    ]  # fmt: skip
    for col in ("paper_top1", "top1_mean", "top1_std", "knn_mean", "ap50_mean"):
        assert t.frame[col].dtype == float


def test_two_seeds_mean_std_n(store):
    d = _row(build_table(1, store, "cpu"), "(d)")
    assert d["paper_top1"] == 67.5
    assert d["top1_mean"] == pytest.approx(31.0)
    assert d["top1_std"] == pytest.approx(math.sqrt(2), abs=1e-3)  # sample std of 30, 32
    assert (d["top1_n"], d["seeds"]) == (2, 2)
    assert d["knn_mean"] == pytest.approx(26.0)
    assert d["knn_std"] == pytest.approx(math.sqrt(2), abs=1e-3)
    # The smoke run (99.0) and its kNN (11.0) are not mixed in.
    assert d["runs_finished"] == 2


def test_table2_maps_the_same_runs(store):
    t = build_table(2, store, "cpu")
    assert "batch" in t.frame.columns and "paper_ap50" not in t.frame.columns
    v2 = _row(t, "MoCo v2, 200 ep")
    assert (v2["top1_mean"], v2["top1_n"], v2["batch"], v2["paper_top1"]) == (31.0, 2, 256, 67.5)
    assert _row(t, "SimCLR, b8192, 200 ep")["batch"] == 8192
    assert _row(t, "MoCo v2, 800 ep")["top1_mean"] == 40.0


def test_single_run_and_trials_count(store):
    t = build_table(1, store, "cpu")
    e = _row(t, "(e)")
    assert (e["top1_mean"], e["top1_n"], e["seeds"]) == (40.0, 1, 1)
    assert math.isnan(e["top1_std"])
    sup = _row(t, "supervised")  # one pre-training seed, two linear trials: n counts figures
    assert (sup["top1_mean"], sup["top1_n"], sup["seeds"]) == (70.5, 2, 1)
    assert pd.isna(sup["epochs"])


def test_ignored_results_leave_rows_empty(store):
    t = build_table(1, store, "cpu")
    for name in ("MoCo v1", "(a)", "(b)", "(c)", "(a) T=0.07"):
        row = _row(t, name)
        assert row["top1_n"] == 0 and math.isnan(row["top1_mean"]), name
    assert _row(t, "(a)")["knn_mean"] == 24.0  # finished at cpu; its linear figure is at smoke
    assert _row(t, "(b)")["runs_finished"] == 0  # unfinished
    assert math.isnan(_row(t, "(b)")["knn_mean"])


def test_other_scale_uses_only_its_runs(store):
    t = build_table(1, store, "smoke")
    d = _row(t, "(d)")
    assert (d["top1_mean"], d["top1_n"], d["knn_mean"]) == (99.0, 1, 11.0)
    # runs/cpu/mlp/seed0 has a smoke-scale linear result, but it is a cpu run: not in the smoke table.
    assert _row(t, "(a)")["top1_n"] == 0


def test_display_cells(store):
    shown = display_frame(build_table(1, store, "cpu")).set_index("row")
    assert shown.loc["(d)", "paper top-1"] == "67.5"
    assert shown.loc["(d)", "ours linear top-1 (cpu)"] == "31.0 ± 1.4 (n=2)"
    assert shown.loc["(e)", "ours linear top-1 (cpu)"] == "40.0 (n=1)"
    assert shown.loc["(b)", "ours linear top-1 (cpu)"] == "-"
    assert shown.loc["(d)", "ours kNN top-1 (pre-training monitor)"] == "26.0 ± 1.4 (n=2)"
    assert shown.loc["(d)", "MLP"] == "✓" and shown.loc["MoCo v1", "MLP"] == ""
    assert shown.loc["supervised", "epochs"] == "-"
    assert shown.loc["(a) T=0.07", "paper VOC AP50"] == "-"
    assert shown.loc["(d)", "paper VOC AP"] == "57.0"
    assert shown.loc["(d)", "ours VOC AP"] == "-"


def test_notes_name_the_commands(store):
    notes = build_table(1, store, "cpu").notes
    text = "\n".join(notes)
    assert notes[0].startswith("Partial table: 5 of 8 rows")
    assert (
        "(c) (recipe `mlp+aug`): no finished run at scale cpu: `mocobench reproduce table 1 --scale cpu` "
        "fills it, or `mocobench pretrain --recipe mlp+aug --scale cpu` then "
        "`mocobench linear --pretrained runs/cpu/mlp+aug/seed0` and "
        "`mocobench detect-voc --pretrained runs/cpu/mlp+aug/seed0`"
    ) in notes
    assert "run `mocobench linear --pretrained runs/cpu/moco-v1/seed0`" in text
    assert "run `mocobench linear --pretrained runs/cpu/mlp/seed0`" in text  # its result is at smoke
    unfinished = [n for n in notes if n.startswith("(b)")]
    assert len(unfinished) == 1
    assert "runs/cpu/aug/seed0 is unfinished (12 of 20 epochs;" in unfinished[0]
    assert "`mocobench pretrain --recipe aug --scale cpu --seed 0 --out runs/cpu/aug/seed0 --resume`" in text
    assert VOC_NOT_YET in notes
    assert not any(n.startswith("(d)") or n.startswith("(e)") for n in notes)  # filled rows need nothing


def test_notes_name_a_custom_runs_folder(store):
    notes = build_table(1, store, "cpu", runs_dir="/data/store").notes
    assert (
        "(c) (recipe `mlp+aug`): no finished run at scale cpu: "
        "`mocobench reproduce table 1 --scale cpu --runs /data/store` fills it, or `mocobench pretrain "
        "--recipe mlp+aug --scale cpu --out /data/store/cpu/mlp+aug/seed0` then "
        "`mocobench linear --pretrained /data/store/cpu/mlp+aug/seed0` and "
        "`mocobench detect-voc --pretrained /data/store/cpu/mlp+aug/seed0`"
    ) in notes


def test_partial_statement_for_empty_and_full_tables(empty_store):
    t = build_table(2, empty_store, "cpu")
    assert t.partial
    assert t.notes[0].startswith("Partial table: none of the 6 rows")
    assert (t.frame["top1_n"] == 0).all() and t.frame["top1_mean"].isna().all()
    names = list(recipes_for_table(2).values())
    full = make(
        [run(r) for r in names], [result(f"runs/cpu/{r}/seed0", 10.0 + i) for i, r in enumerate(names)]
    )
    expected = dict(zip(names, [10.0 + i for i in range(len(names))], strict=True))
    t = build_table(2, full, "cpu")
    assert not t.partial
    assert not any("Partial" in n for n in t.notes)
    assert list(t.frame["top1_mean"]) == [expected[r] for r in t.frame["recipe"]]
    assert t.notes[0] == "Every row has a linear top-1 at scale cpu."


def test_voc_results_fill_voc_columns():
    runs, results = mixed_runs()
    d0, d1 = "runs/cpu/mlp+aug+cos/seed0", "runs/cpu/mlp+aug+cos/seed1"
    results += [
        result(d0, 40.0, kind="voc", metric="AP50"),
        result(d1, 42.0, kind="voc", metric="AP50"),
        result(d0, 20.0, kind="voc", metric="AP"),
        result(d0, 15.0, kind="voc", metric="AP75", scale="smoke"),  # another protocol scale: ignored
    ]
    t = build_table(1, make(runs, results), "cpu")
    d = _row(t, "(d)")
    assert (d["ap50_mean"], d["ap50_n"], d["paper_ap50"]) == (41.0, 2, 82.4)
    # Two models, one trial each: no std across trials of one model; the seeds' spread beside it.
    assert math.isnan(d["ap50_std"]) and d["ap50_seed_std"] == pytest.approx(math.sqrt(2))
    assert (d["voc_seeds"], d["voc_trials_min"], d["voc_trials_max"]) == (2, 1, 1)
    assert (d["ap_mean"], d["ap_n"]) == (20.0, 1)
    assert d["ap75_n"] == 0 and math.isnan(d["ap75_mean"])
    assert VOC_NOT_YET not in t.notes
    assert any(n.startswith("VOC columns are partial") for n in t.notes)
    assert _row(t, "(d)")["top1_mean"] == 31.0  # VOC figures never leak into top-1


def test_voc_cells_pool_seeds_x_trials():
    """Seed 0's model fine-tuned 3 times (40, 41, 42), seed 1's twice (44, 46): the cell is the mean of all 5
    fine-tunes, its ± the pooled std across trials of one model (the paper's VOC std: means of 5 trials of
    one pre-trained model, facebookresearch/moco detection/README.md:61@7397dfe), and the spread across
    seeds the std of the per-seed means (41, 45)."""
    runs, results = mixed_runs()
    d0, d1 = "runs/cpu/mlp+aug+cos/seed0", "runs/cpu/mlp+aug+cos/seed1"
    figures = [(d0, 0, 40.0), (d0, 1, 41.0), (d0, 2, 42.0), (d1, 0, 44.0), (d1, 1, 46.0)]
    results += [result(d, v, kind="voc", metric="AP50", trial=t, seed=t) for d, t, v in figures]
    results += [result(d, v - 20, kind="voc", metric="AP", trial=t, seed=t) for d, t, v in figures[:3]]
    t = build_table(1, make(runs, results), "cpu")
    d = _row(t, "(d)")
    assert (d["ap50_mean"], d["ap50_n"]) == (pytest.approx(42.6), 5)  # not 43.0, the mean of seed means
    pooled = math.sqrt((2 * 1.0 + 1 * 2.0) / (2 + 1))  # variances 1 and 2 with 2 and 1 degrees of freedom
    assert d["ap50_std"] == pytest.approx(pooled)  # not 2.41, the std of all five as one sample
    assert d["ap50_seed_std"] == pytest.approx(math.sqrt(8))  # 41 and 45
    assert (d["ap_mean"], d["ap_std"], d["ap_n"]) == (21.0, 1.0, 3) and math.isnan(d["ap_seed_std"])
    assert (d["voc_seeds"], d["voc_trials_min"], d["voc_trials_max"]) == (2, 2, 3)
    assert display_frame(t).set_index("row").loc["(d)", "ours VOC AP50"] == "42.6 ± 1.2 (n=5)"
    assert d["top1_mean"] == 31.0 and d["top1_std"] == pytest.approx(math.sqrt(2))  # linear: as before
    note = next(n for n in t.notes if n.startswith("VOC cells"))
    assert note.endswith("By row at scale cpu: (d) 2 seeds x 2-3 trials, seed spread 2.8/-/-.")


def test_header_and_rows(store):
    t = build_table(1, store, "cpu")
    header = t.header
    assert header.scale == "cpu"
    assert "ResNet-18 at 32 px" in header.scale_description
    w = header.warning
    assert w.startswith(
        "These are cpu-scale numbers (ResNet-18 at 32 px on the embedded generated shapes dataset)"
    )
    assert w.endswith("), not comparable in absolute value to the paper's ImageNet figures.")
    assert list(header.caveats) == [
        "**Compare orderings only**: absolute figures at this scale are not comparable to the paper's."
    ]
    assert [p.name for p in header.linear_protocols] == ["linear"]  # Table 1: one protocol scores every row
    linear = header.linear_protocols[0]
    pretrain_seconds = {r.label: r.compute.pretrain_seconds for r in t.rows if r.compute}
    assert linear.image_size == 32 and list(linear.rows) == list(pretrain_seconds)
    fields = set(dataclasses.asdict(linear))
    assert fields >= {"epochs", "batch_size", "lr", "schedule", "cos", "nesterov", "weight_decay"}
    compute = {r.label: r.compute for r in t.rows if r.compute}
    assert compute["(d)"].arch == "resnet18" and compute["(d)"].batch_size == 128
    assert compute["(e)"].epochs == 4 * compute["(d)"].epochs
    assert pretrain_seconds["(d)"] == 2000.0 and pretrain_seconds["(b)"] is None
    assert list(header.hardware_pretrain) == [f"{CPU}, world size 1", f"{GPU}, world size 1"]
    assert list(header.hardware_evaluation) == [CPU, GPU]
    assert list(header.data) == ["embedded generated shapes dataset (shapes-9652c2afaa)"]
    assert list(header.commits) == ["abc1234", "def5678"]
    assert "runs/smoke/mlp+aug+cos/seed0" not in header.runs
    assert "runs/cpu/aug/seed0" not in header.runs  # unfinished: not used


def test_header_paper_scale_has_no_warning_and_names_other_data():
    store = make(
        [run("moco-v1", scale="paper", data="/data/imagenet", commit="")],
        [result("runs/paper/moco-v1/seed0", 60.5, scale="paper")],
    )
    header = build_table(1, store, "paper").header
    assert header.warning == ""
    assert list(header.data) == ["/data/imagenet"]
    assert header.runs_without_commit == 1 and list(header.commits) == []
    assert build_table(1, store, "cpu").header.warning.startswith("These are cpu-scale numbers")


def test_output_is_a_pure_function_of_the_store(store):
    a = build_table(1, store, "cpu")
    shuffled = type(store)(
        store.runs.sample(frac=1.0, random_state=1).reset_index(drop=True),
        store.results.sample(frac=1.0, random_state=2).reset_index(drop=True),
    )
    b = build_table(1, shuffled, "cpu")
    pd.testing.assert_frame_equal(a.frame, b.frame)
    assert (a.notes, a.header, repr(a.rows)) == (b.notes, b.header, repr(b.rows))  # repr: NaN equals NaN


@pytest.mark.parametrize(
    ("n", "scale", "match"),
    [
        (3, "cpu", "table 3 .*mocobench profile"),
        (4, "cpu", "no table 4 in the paper; use 1, 2 or 3"),
        (1, "huge", "unknown scale 'huge'"),
    ],
)
def test_usage_errors(empty_store, n, scale, match):
    with pytest.raises(UsageError, match=match):
        build_table(n, empty_store, scale)


def test_random_init_detection_is_noted_as_the_floor(tmp_path):
    folder = tmp_path / "cpu" / "random-init" / "resnet18"
    folder.mkdir(parents=True)
    result = {"scale": "cpu", "n": 1, "arch": "resnet18", "AP": 1.0, "AP50": 3.31, "AP75": 0.5}
    trial = {"trial": 0, "seed": 0, "AP": 1.0, "AP50": 3.31, "AP75": 0.5}
    (folder / "voc.json").write_text(
        json.dumps({**result, "AP_std": 0, "AP50_std": 0, "AP75_std": 0, "trials": [trial]})
    )
    store = collect(tmp_path)  # the random-init result is in the store, as any voc.json is
    notes = build_table(1, store, "cpu", runs_dir=str(tmp_path)).notes
    floor = [n for n in notes if n.startswith("Reference, not a paper row")]
    assert len(floor) == 1 and "ResNet-18" in floor[0] and "AP50 3.3" in floor[0]
    assert not build_table(1, store, "smoke", runs_dir=str(tmp_path)).notes[0].startswith("Reference")
    assert not [n for n in build_table(2, store, "cpu", runs_dir=str(tmp_path)).notes if "Reference" in n]


def test_once_some_row_has_voc_the_rows_without_say_how_to_fill_them():
    runs, results = mixed_runs()
    d0 = next(r["run_dir"] for r in runs if r["recipe"] == "mlp+aug+cos")
    t = build_table(1, make(runs, [*results, result(d0, 40.0, kind="voc", metric="AP50")]), "cpu")
    e_notes = [n for n in t.notes if n.startswith("(e)")]
    assert e_notes and "`mocobench detect-voc --pretrained" in e_notes[0]
    assert not [n for n in t.notes if n.startswith("(a) T=0.07") and "VOC result" in n]  # no paper VOC


def test_notes_say_which_pipeline_made_the_figures():
    runs, results = mixed_runs()
    official = json.dumps(
        {
            "name": "official",
            "loader": "pil",
            "augment_on": "loader",
            "stored": "the folder's image files",
            "precision": "fp32",
            "compile": False,
        },
        sort_keys=True,
    )
    for r in runs:
        r["pipeline"] = official
    notes = build_table(1, make(runs, results), "cpu").notes
    line = [n for n in notes if n.startswith("Input pipeline")]
    assert line == [
        "Input pipeline and precision of every run shown: official: pil loader, colour in the loader "
        "workers, the folder's image files, fp32."
    ]
    fast = json.dumps(
        {"name": "fast", "loader": "ffcv", "augment_on": "device", "precision": "bf16 autocast"}
    )
    runs[0]["pipeline"] = fast
    notes = build_table(1, make(runs, results), "cpu").notes
    by_row = [n for n in notes if n.startswith("Input pipelines and precision, by row:")]
    assert len(by_row) == 1 and "fast: ffcv loader, colour on the device, bf16 autocast" in by_row[0]


def test_each_row_is_scored_by_its_recipes_linear_protocol():
    """Table 2's SimCLR rows take SimCLR's linear protocol, the MoCo rows MoCo's; a figure of the other
    protocol never fills a row, and the header names both protocols and the rows each scores."""
    simclr, moco = "runs/cpu/simclr-b256/seed0", "runs/cpu/moco-v1/seed0"
    store = make(
        [run("simclr-b256"), run("moco-v1")],
        [
            result(simclr, 40.0, protocol="linear"),  # scored with MoCo's protocol: not this row's figure
            result(moco, 35.0, protocol="linear-simclr"),
            result(moco, 30.0, protocol="linear"),
        ],
    )
    t = build_table(2, store, "cpu")
    assert (
        math.isnan(_row(t, "SimCLR, b256, 200 ep")["top1_mean"]) and _row(t, "MoCo v1")["top1_mean"] == 30.0
    )
    assert any("no linear top-1" in n and simclr in n for n in t.notes)
    store.results.loc[0, "protocol"] = "linear-simclr"
    t = build_table(2, store, "cpu")
    assert _row(t, "SimCLR, b256, 200 ep")["top1_mean"] == 40.0
    protocols = {p.name: p for p in t.header.linear_protocols}
    assert list(protocols) == ["linear", "linear-simclr"]
    assert [r for r in protocols["linear-simclr"].rows if "SimCLR" not in r] == []
    assert "MoCo v1" in protocols["linear"].rows and protocols["linear-simclr"].nesterov
    notes = "\n".join(t.notes)
    simclr_rows = ", ".join(protocols["linear-simclr"].rows)
    assert (
        "Linear top-1 by protocol, as each row's authors scored it: `linear` (Linear classification" in notes
    )
    assert "(ImageNet protocol), recipes/linear.toml) for MoCo v1, " in notes
    assert "`linear-simclr` (Linear classification on frozen features (SimCLR v1's protocol), " in notes
    assert f"recipes/linear-simclr.toml) for {simclr_rows}." in notes
    one = "\n".join(build_table(1, store, "cpu").notes)
    assert "Linear top-1 of every row by protocol `linear` (Linear classification on frozen features" in one
    header = "\n".join(header_lines(t))
    assert (
        "**Linear protocol `linear-simclr`** (SimCLR, b256, 200 ep, " in header
        and ", cosine, Nesterov" in header
    )
    assert "**Linear protocol `linear`** (MoCo v1, " in header and "(x0.1 at epochs" in header
