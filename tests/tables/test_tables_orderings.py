"""The paper's significant pairs (tables/paper/orderings.toml) against the paper CSVs, and the verdicts."""

from __future__ import annotations

import itertools
import json
import math
import re

import pandas as pd
import pytest
from table_stores import make, result, run

from mocobench.config.paper import ORDERING_METRICS, load_linear_trials, load_orderings, load_paper_table
from mocobench.results.store import collect
from mocobench.tables.assemble import build_table
from mocobench.tables.orderings import (
    HELD,
    NOT_HELD,
    NOT_RESOLVED,
    judge,
    pooled_se,
    seed_values,
    table_verdicts,
)
from mocobench.tables.render import markdown, write_table

# Knobs that make two rows one ablation step apart. Table 1: the CSV's knobs over the table's own ablation
# rows (supervised is not a step; "(a) T=0.07" is the paper's text figure, checked on its own below).
# Table 2: its knobs plus the mechanism, which the row names carry (SimCLR vs MoCo).
T1_KNOBS = ("mlp", "aug_plus", "cos", "epochs")
T2_KNOBS = ("mechanism", "mlp", "aug_plus", "cos", "epochs", "batch")
NOT_STEPS = {1: ("supervised", "(a) T=0.07"), 2: ()}


def _paper(n: int) -> pd.DataFrame:
    frame = load_paper_table(n).set_index("row")
    frame["mechanism"] = ["simclr" if r.startswith("SimCLR") else "moco" for r in frame.index]
    return frame


def _metrics(n: int) -> list[str]:
    return list(ORDERING_METRICS) if n == 1 else ["linear_top1"]


def _one_step_pairs(n: int) -> list[tuple[str, str]]:
    frame = _paper(n)
    knobs = T1_KNOBS if n == 1 else T2_KNOBS
    rows = [r for r in frame.index if r not in NOT_STEPS[n]]
    pairs = []
    for a, b in itertools.combinations(rows, 2):
        differ = sum(frame.loc[a, k] != frame.loc[b, k] for k in knobs)
        if differ <= 1:
            pairs.append((a, b))
    return pairs


def _listed() -> set[tuple[int, str, str, str]]:
    return {(o.table, o.a, o.b, o.metric) for o in load_orderings().pairs}


def test_listed_figures_are_the_paper_csvs_and_every_pair_passes_the_rule():
    orderings = load_orderings()
    assert len(orderings.pairs) == len(_listed())  # no pair twice
    for o in orderings.pairs:
        frame = _paper(o.table)
        column = ORDERING_METRICS[o.metric]
        assert (o.paper_a, o.paper_b) == (frame.loc[o.a, column], frame.loc[o.b, column]), o
        assert o.paper_b - o.paper_a > orderings.threshold(o.metric), o  # B higher, beyond 2 x spread
        assert o.shows.strip(), o


def test_linear_spread_is_the_five_moco_v2_trials():
    trials = load_linear_trials()
    v2 = trials[trials["case"] == "MoCo v2"]["imagenet_top1"]
    orderings = load_orderings()
    assert len(v2) == 5 and orderings.factor == 2.0
    assert orderings.spread["linear_top1"] == pytest.approx(v2.max() - v2.min())  # 67.7 - 67.3
    assert orderings.threshold("linear_top1") == pytest.approx(0.8)


def test_voc_spread_is_five_trials_expected_range_of_papers_std(paper_md: str):
    """PAPER.md gives one trial's expected std of AP50, AP, AP75; five trials span d2(5) = 2.326 stds."""
    found = re.search(r"expected std of AP50, AP, AP75 is about (\d+\.\d+), (\d+\.\d+), (\d+\.\d+)", paper_md)
    assert found, "PAPER.md's VOC std sentence moved"
    spread = load_orderings().spread
    for metric, std in zip(("voc_ap50", "voc_ap", "voc_ap75"), found.groups(), strict=True):
        assert spread[metric] == round(2.326 * float(std), 2), metric


@pytest.mark.parametrize("n", [1, 2])
def test_every_one_step_pair_the_rule_admits_is_listed(n):
    orderings, listed = load_orderings(), _listed()
    frame = _paper(n)
    checked = 0
    for a, b in _one_step_pairs(n):
        for metric in _metrics(n):
            column = ORDERING_METRICS[metric]
            va, vb = frame.loc[a, column], frame.loc[b, column]
            if pd.isna(va) or pd.isna(vb):
                continue
            checked += 1
            lo, hi = (a, b) if vb >= va else (b, a)
            passes = abs(vb - va) > orderings.threshold(metric)
            assert ((n, lo, hi, metric) in listed) == passes, (a, b, metric)
    assert checked >= (12 if n == 1 else 3)


def test_c_to_d_is_within_the_papers_spread_and_not_listed():
    listed = _listed()
    assert not [p for p in listed if {p[1], p[2]} == {"(c)", "(d)"}]
    t1 = _paper(1)
    assert t1.loc["(d)", "imagenet_top1"] - t1.loc["(c)", "imagenet_top1"] <= load_orderings().threshold(
        "linear_top1"
    )
    # The ones the issue names are there; the temperature step of the paper's text too.
    for pair in [
        (1, "MoCo v1", "(a)"),
        (1, "(a)", "(c)"),
        (1, "(d)", "(e)"),
        (1, "(a) T=0.07", "(a)"),
        (2, "SimCLR, b256, 200 ep", "MoCo v2, 200 ep"),
    ]:
        assert (*pair, "linear_top1") in listed, pair


# Verdicts -------------------------------------------------------------------------------------------


def _ordering(a="MoCo v1", b="(a)"):
    return next(o for o in load_orderings().pairs if (o.a, o.b, o.metric) == (a, b, "linear_top1"))


def test_pooled_se_by_hand():
    a, b = [30.0, 31.0, 32.0], [35.0, 36.0, 38.0, 39.0]
    sd_a2, sd_b2 = 1.0, sum((v - 37.0) ** 2 for v in b) / 3  # sample variances
    pooled = math.sqrt((2 * sd_a2 + 3 * sd_b2) / 5)
    assert pooled_se(a, b) == pytest.approx(pooled * math.sqrt(1 / 3 + 1 / 4))


def test_held_not_held_and_not_resolved():
    o = _ordering()
    held = judge(o, [30.0, 31.0, 32.0], [35.0, 36.0, 37.0])  # gap 5, SE 0.816
    assert held.verdict == HELD and held.gap == pytest.approx(5.0) and held.se == pytest.approx(0.8165, 1e-3)
    assert held.reason == "gap 5.0 > 2 SE 1.6"
    assert held.a == (31.0, 1.0, 3)
    reversed_ = judge(o, [35.0, 36.0, 37.0], [30.0, 31.0, 32.0])
    assert (reversed_.verdict, reversed_.reason) == (NOT_HELD, "gap -5.0: reversed by >= 2 SE 1.6")
    within = judge(o, [30.0, 31.0, 32.0], [30.0, 31.5, 32.5])
    assert (within.verdict, within.reason) == (NOT_RESOLVED, "gap 0.3 ≤ 2 SE 1.9")
    short = judge(o, [30.0, 31.0, 32.0], [35.0, 36.0])
    assert (short.verdict, short.reason) == (NOT_RESOLVED, "2 seeds of (a), 3 needed")
    assert short.gap == pytest.approx(4.5)  # still shown
    none = judge(o, [], [35.0])
    assert none.reason == "0 seeds of MoCo v1; 1 of (a); 3 needed each" and math.isnan(none.gap)


def test_one_seed_value_flips_the_verdict():
    o = _ordering()
    a, b = [30.0, 31.0, 32.0], [32.0, 33.0, 34.0]  # gap 2.0, 2 SE 1.63: held
    assert judge(o, a, b).verdict == HELD
    assert judge(o, a, [32.0, 33.0, 31.0]).verdict == NOT_RESOLVED  # gap 1.0 < 2 SE
    assert judge(o, a, [28.0, 28.5, 29.0]).verdict == NOT_HELD


def test_seed_values_average_each_seeds_trials():
    trials = pd.DataFrame(
        {
            "run_dir": ["r/seed0", "r/seed0", "r/seed1", "elsewhere"],
            "value": [30.0, 32.0, 40.0, 99.0],
        }
    )
    assert seed_values(trials, {"r/seed1": 1, "r/seed0": 0}) == [31.0, 40.0]  # by seed; unknown runs ignored


def _three_seed_store(mlp: list[float], v1: list[float] | None = None, scale: str = "cpu"):
    v1 = v1 or [30.0, 31.0, 32.0]
    runs, results = [], []
    for recipe, values in (("moco-v1", v1), ("mlp", mlp)):
        for seed, value in enumerate(values):
            runs.append(run(recipe, scale=scale, seed=seed, knn_top1=30.0))
            results.append(result(f"runs/{scale}/{recipe}/seed{seed}", value, scale=scale))
    return make(runs, results)


def _verdict(t, a, b, metric="linear_top1"):
    return next(v for v in t.verdicts if (v.ordering.a, v.ordering.b, v.ordering.metric) == (a, b, metric))


def test_table_verdicts_from_the_store_and_one_seed_flips_them():
    t = build_table(1, _three_seed_store([35.0, 36.0, 37.0]), "cpu")
    assert [v.ordering.a for v in t.verdicts] == [o.a for o in load_orderings().for_table(1)]
    v = _verdict(t, "MoCo v1", "(a)")
    assert v.verdict == HELD and (v.a[2], v.b[2]) == (3, 3)
    assert _verdict(t, "(a)", "(c)").reason == "0 seeds of (c), 3 needed"
    t = build_table(1, _three_seed_store([35.0, 36.0, 27.0]), "cpu")  # one seed of (a) changed
    assert _verdict(t, "MoCo v1", "(a)").verdict == NOT_RESOLVED


def test_two_trials_of_one_seed_are_one_seed():
    store = _three_seed_store([35.0, 36.0])
    store.results.loc[len(store.results)] = result("runs/cpu/mlp/seed1", 38.0, trial=1, seed=1)
    v = _verdict(build_table(1, store, "cpu"), "MoCo v1", "(a)")
    assert v.b[:2] == (pytest.approx(36.0), pytest.approx(math.sqrt(2))) and v.b[2] == 2  # 35, mean(36, 38)
    assert (v.verdict, v.reason) == (NOT_RESOLVED, "2 seeds of (a), 3 needed")


def test_voc_pairs_are_judged_on_voc_figures():
    store = _three_seed_store([35.0, 36.0, 37.0])
    runs = [run("supervised", seed=s) for s in range(3)]
    voc = [result(f"runs/cpu/supervised/seed{s}", 10.0 + s, kind="voc", metric="AP") for s in range(3)]
    voc += [result(f"runs/cpu/moco-v1/seed{s}", 20.0 + s, kind="voc", metric="AP") for s in range(3)]
    store = make([*store.runs.to_dict("records"), *runs], [*store.results.to_dict("records"), *voc])
    t = build_table(1, store, "cpu")
    v = _verdict(t, "supervised", "MoCo v1", "voc_ap")
    assert v.verdict == HELD and v.gap == pytest.approx(10.0)
    assert _verdict(t, "supervised", "MoCo v1", "voc_ap75").reason.startswith("0 seeds of supervised")


def test_verdicts_are_rendered_and_written_beside_the_table(tmp_path):
    t = build_table(1, _three_seed_store([35.0, 36.0, 37.0]), "cpu")
    md = markdown(t)
    section = md[md.index("## Orderings") : md.index("## Notes")]
    assert "held, 0 not held," in section and "2 SE" in section and "orderings.toml" in section
    line = next(x for x in section.splitlines() if x.startswith("| MoCo v1 → (a) | linear top-1 |"))
    assert "| 60.6 → 66.2 (+5.6) |" in line and "| 31.0 ± 1.0 (3 seeds) | 36.0 ± 1.0 (3 seeds) |" in line
    assert line.endswith("| +5.0 ± 0.8 | held (gap 5.0 > 2 SE 1.6) |")
    csv = next(p for p in write_table(t, tmp_path) if p.name == "table1_cpu_orderings.csv")
    back = pd.read_csv(csv)
    assert len(back) == len(t.verdicts)
    row = back[(back["a"] == "MoCo v1") & (back["b"] == "(a)")].iloc[0]
    assert (row["verdict"], row["a_seeds"], row["b_mean"], row["paper_gap"]) == (HELD, 3, 36.0, 5.6)


def test_no_verdicts_at_smoke_or_paper_scale():
    smoke = build_table(1, _three_seed_store([35.0, 36.0, 37.0], scale="smoke"), "smoke")
    assert smoke.verdicts == [] and smoke.header.orderings == "smoke"
    assert "smoke: no verdicts: its figures are a pipeline check, not a result." in markdown(smoke)
    paper = build_table(1, _three_seed_store([35.0, 36.0, 37.0], scale="paper"), "paper")
    assert paper.verdicts == [] and "## Orderings" not in markdown(paper)


def test_table_verdicts_keep_only_the_metrics_asked():
    verdicts = table_verdicts(1, {}, ["linear_top1"])
    assert verdicts and {v.ordering.metric for v in verdicts} == {"linear_top1"}
    assert {v.ordering.metric for v in table_verdicts(1, {})} == set(ORDERING_METRICS)


def test_legacy_mini_runs_are_the_cpu_tiers(tmp_path):
    """A run folder written when the CPU tier was `mini` counts under --scale cpu (results/store.py)."""
    for seed, value in enumerate([30.0, 31.0, 32.0]):
        folder = tmp_path / "mini" / "moco-v1" / f"seed{seed}"
        folder.mkdir(parents=True)
        config = {"recipe": "moco-v1", "scale": "mini", "seed": seed, "image_size": 32, "data": "/d"}
        (folder / "config.json").write_text(json.dumps(config))
        (folder / "summary.json").write_text(json.dumps({"finished": True}))
        trials = [{"trial": 0, "seed": 0, "top1": value}]
        (folder / "linear.json").write_text(json.dumps({"scale": "mini", "trials": trials}))
    store = collect(tmp_path)
    for scale in ("cpu", "mini"):  # --scale mini is the cpu tier's table
        t = build_table(1, store, scale, str(tmp_path))
        assert t.scale == "cpu" and t.stem == "table1_cpu"
        v1 = t.frame.set_index("row").loc["MoCo v1"]
        assert (v1["top1_mean"], v1["seeds"]) == (31.0, 3)
        assert _verdict(t, "MoCo v1", "(a)").a[2] == 3


def test_a_broken_orderings_file_is_one_usage_error(tmp_path, monkeypatch):
    import shutil

    from mocobench.config.paper import paper_dir
    from mocobench.errors import UsageError

    for name in ("table1.csv", "table2.csv", "linear_trials.csv"):
        shutil.copy(paper_dir() / name, tmp_path / name)
    text = (paper_dir() / "orderings.toml").read_text().replace('metric = "voc_ap50"', 'metric = "voc_ap60"')
    (tmp_path / "orderings.toml").write_text(text)
    monkeypatch.setenv("MOCOBENCH_PAPER_TABLES", str(tmp_path))
    with pytest.raises(UsageError, match="unknown metric voc_ap60"):
        load_orderings()
    (tmp_path / "orderings.toml").unlink()
    with pytest.raises(UsageError, match=r"orderings\.toml.*MOCOBENCH_PAPER_TABLES"):
        load_orderings()
