"""The CIFAR-10 demo table: our runs of recipe moco-cifar10-demo beside the demo's published kNN top-1."""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest
from table_stores import make, run

from mocobench.config.paper import demo_reference, load_cifar10_demo
from mocobench.tables.demo import DEMO_RECIPE, build_demo_table, display_frame, markdown, write_demo_table
from mocobench.tables.notes import PIPELINE_CHECK_DEMO

CIFAR = "/data/cifar10"


def test_published_figures_are_papers(paper_md: str):
    found = re.search(
        r"asymmetric (\d+\.\d) / (\d+\.\d) / (\d+\.\d) at (\d+) / (\d+) / (\d+) epochs; "
        r"symmetric (\d+\.\d) / (\d+\.\d) / (\d+\.\d)",
        paper_md,
    )
    assert found, "PAPER.md's CIFAR-10 demo sentence moved"
    g = found.groups()
    epochs = [int(e) for e in g[3:6]]
    assert demo_reference("asymmetric") == dict(zip(epochs, map(float, g[0:3]), strict=True))
    assert demo_reference("symmetric") == dict(zip(epochs, map(float, g[6:9]), strict=True))
    assert list(load_cifar10_demo().columns) == ["loss", "epochs", "knn_top1"]


def _demo(seed: int, knn: float, epochs: int = 200, scale: str = "paper", **kw) -> dict:
    kw = {"knn_top1_init": 30.0, "data": CIFAR, **kw}
    row = run(DEMO_RECIPE, scale=scale, seed=seed, knn_top1=knn, **kw)
    row.update(epochs=epochs, run_dir=f"runs/{scale}/{DEMO_RECIPE}/e{epochs}/seed{seed}")
    return row


def _store():
    return make(
        [
            _demo(0, 82.0),
            _demo(1, 83.0),
            _demo(2, 84.0),
            _demo(0, 86.0, epochs=400),
            _demo(3, 10.0, finished=False, epochs_done=7),  # unfinished: not shown, named in a note
            _demo(0, 99.0, scale="smoke", epochs=2),  # another scale
            run("moco-v1", scale="paper", knn_top1=50.0),  # another recipe
        ],
        [],
    )


def test_rows_by_epochs_beside_the_published_asymmetric_figure():
    t = build_demo_table(_store(), "paper")
    f = t.frame.set_index("epochs")
    assert list(f.index) == [200, 400, 800]
    assert list(f["published_knn_top1"]) == [82.6, 86.3, 88.7]
    assert (f.loc[200, "knn_mean"], f.loc[200, "knn_std"], f.loc[200, "seeds"]) == (83.0, 1.0, 3)
    assert (f.loc[400, "knn_mean"], f.loc[400, "seeds"]) == (86.0, 1) and math.isnan(f.loc[400, "knn_std"])
    assert f.loc[800, "seeds"] == 0 and math.isnan(f.loc[800, "knn_mean"])
    assert set(f["scale"]) == {"paper"} and f.loc[200, "data"] == CIFAR and f.loc[800, "data"] == ""
    assert t.stem == "demo"
    shown = display_frame(t).set_index("epochs")
    assert shown.loc["200", "ours kNN top-1 (paper)"] == "83.0 ± 1.0 (n=3)"
    assert (
        shown.loc["800", "ours kNN top-1 (paper)"] == "-"
        and shown.loc["800", "published kNN top-1 (asymmetric)"] == "88.7"
    )
    assert any("e200/seed3 is unfinished (7 of 200 epochs" in n for n in t.notes)
    assert t.header.caveats == []  # the demo as published: no tier caveat


def test_markdown_header_names_the_recipe_and_the_published_source(tmp_path):
    t = build_demo_table(_store(), "paper")
    md = markdown(t)
    assert md.startswith("# The official MoCo CIFAR-10 demo reproduced at scale paper\n")
    assert "| 200 | 82.6 | 83.0 ± 1.0 (n=3) | 3 | paper | /data/cifar10 |" in md
    assert "kNN monitor k 200, t 0.1 on the output" in md and "batch 512" in md
    assert "facebookresearch/moco colab/moco_cifar10_demo.ipynb" in md
    assert "85.3 / 88.5 / 89.7" in md  # the symmetric option's figures, named as not ported
    paths = write_demo_table(t, tmp_path)
    assert [p.name for p in paths] == ["demo.csv", "demo.md"]
    back = pd.read_csv(paths[0])
    assert list(back["epochs"]) == [200, 400, 800] and back.loc[0, "knn_mean"] == 83.0


def test_smoke_carries_the_pipeline_check_header():
    t = build_demo_table(_store(), "smoke")
    assert t.stem == "demo_smoke"
    assert t.header.caveats[0] == PIPELINE_CHECK_DEMO
    f = t.frame.set_index("epochs")
    assert list(f.index) == [2, 200, 400, 800] and f.loc[2, "knn_mean"] == 99.0
    assert math.isnan(f.loc[2, "published_knn_top1"])
    assert PIPELINE_CHECK_DEMO in markdown(t)


def test_a_demo_run_that_learned_nothing_says_so():
    store = make([_demo(s, 25.0, scale="smoke", epochs=2, data="") for s in range(2)], [])
    header = build_demo_table(store, "smoke").header.caveats
    assert header[-1].startswith("**This tier cannot learn in its budget**")
    assert "2 epochs: final kNN 25.0 ≤ 30.0 at random init" in header[-1]


@pytest.mark.parametrize(
    ("scale", "needle"), [("gpu", "a published one-GPU setting"), ("paper", "--data cifar10:PATH")]
)
def test_empty_or_refused_scale_says_what_to_run(empty_store, scale, needle):
    t = build_demo_table(empty_store, scale)
    assert (t.frame["seeds"] == 0).all() and list(t.frame["published_knn_top1"]) == [82.6, 86.3, 88.7]
    assert any(needle in n for n in t.notes)
