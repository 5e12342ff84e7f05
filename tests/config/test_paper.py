"""The paper CSVs against the source: PAPER.md's markdown tables are parsed here, figure by figure."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from mocobench.config import paper as paper_mod
from mocobench.config.paper import load_linear_trials, load_paper_table, paper_dir
from mocobench.config.recipes import recipes_for_table
from mocobench.errors import UsageError

REPO = Path(__file__).resolve().parents[2]


def _md_table(text: str, heading: str) -> list[list[str]]:
    """The body rows of the first markdown table after the `## <heading>` line, as stripped cells."""
    section = text.split(f"## {heading}", 1)[1]
    rows = []
    for line in section.splitlines()[1:]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(set(c) <= {"-"} and c for c in cells):
                rows.append(cells)
        elif rows:
            break
    return rows[1:]  # without the header row


def _knob(cell: str) -> bool:
    assert cell in ("", "x")
    return cell == "x"


def _epochs(cell: str) -> float:
    return float("nan") if cell == "-" else int(cell)


def _same(a, b) -> bool:
    return (pd.isna(a) and pd.isna(b)) or a == b


def test_table1_every_figure_is_the_papers(paper_md: str):
    md = _md_table(paper_md, "Table 1")
    ours = load_paper_table(1)
    assert list(ours["row"]) == ["supervised", "MoCo v1", "(a)", "(a) T=0.07", "(b)", "(c)", "(d)", "(e)"]
    table_rows = ours[ours["row"] != "(a) T=0.07"].reset_index(drop=True)
    assert len(md) == len(table_rows) == 7
    for cells, (_, row) in zip(md, table_rows.iterrows(), strict=True):
        case, mlp, aug, cos, epochs, acc, ap50, ap, ap75 = cells
        assert case.split(" (")[0] == row["row"]
        assert (_knob(mlp), _knob(aug), _knob(cos)) == (row["mlp"], row["aug_plus"], row["cos"])
        assert _same(_epochs(epochs), row["epochs"])
        assert row["imagenet_top1"] == float(acc)
        assert (row["voc_ap50"], row["voc_ap"], row["voc_ap75"]) == (float(ap50), float(ap), float(ap75))


def test_table1_temperature_row_is_the_papers_text(paper_md: str):
    text = paper_md
    t007 = float(re.search(r"T 0\.07 gives (\d+\.\d)", text).group(1))
    t02 = float(re.search(r"T 0\.2 gives (\d+\.\d)", text).group(1))
    table = load_paper_table(1).set_index("row")
    row = table.loc["(a) T=0.07"]
    assert row["imagenet_top1"] == t007 == 62.9
    assert table.loc["(a)", "imagenet_top1"] == t02
    assert (row["mlp"], row["aug_plus"], row["cos"], row["epochs"]) == (True, False, False, 200)
    assert row[["voc_ap50", "voc_ap", "voc_ap75"]].isna().all()


def test_table2_every_figure_is_the_papers(paper_md: str):
    md = _md_table(paper_md, "Table 2")
    ours = load_paper_table(2)
    assert len(md) == len(ours) == 6
    for cells, (_, row) in zip(md, ours.iterrows(), strict=True):
        case, mlp, aug, cos, epochs, batch, acc = cells
        assert row["row"].startswith(case)
        assert f"{epochs} ep" in row["row"] or row["row"] == "MoCo v1"
        if case == "SimCLR":
            assert f"b{batch}" in row["row"]
        assert (_knob(mlp), _knob(aug), _knob(cos)) == (row["mlp"], row["aug_plus"], row["cos"])
        assert (row["epochs"], row["batch"]) == (int(epochs), int(batch))
        assert row["imagenet_top1"] == float(acc)


def test_table3_every_figure_is_the_papers(paper_md: str):
    md = _md_table(paper_md, "Table 3")
    ours = load_paper_table(3)
    assert list(ours["row"]) == ["MoCo, 256", "end-to-end, 256", "end-to-end, 4096"]
    assert len(md) == len(ours)
    for cells, (_, row) in zip(md, ours.iterrows(), strict=True):
        mechanism, batch, memory, hours = cells
        assert row["row"] == f"{mechanism}, {batch}"
        assert row["mechanism"] == mechanism.lower()
        assert row["batch"] == int(batch)
        assert row["memory_gb_per_gpu"] == float(memory.split(" GB")[0])
        assert row["memory_estimated"] == ("estimated" in memory)
        if hours == "n/a":
            assert pd.isna(row["hours_200ep"])
        else:
            assert row["hours_200ep"] == int(hours.split(" hours")[0])
    assert ours.set_index("row").loc["end-to-end, 4096", "memory_estimated"]


def test_linear_trials_are_the_references(paper_md: str):
    text = paper_md
    trials = load_linear_trials()
    for case in ("MoCo v1", "MoCo v2"):
        listed = re.search(re.escape(case) + r" \{([0-9., ]+)\}", text).group(1)
        expected = [float(v) for v in listed.split(",")]
        got = trials[trials["case"] == case].sort_values("trial")
        assert list(got["imagenet_top1"]) == expected
        assert list(got["trial"]) == [1, 2, 3, 4, 5]


def test_linear_trial_means_match_the_table():
    trials = load_linear_trials()
    means = trials.groupby("case")["imagenet_top1"].mean().round(1)
    assert means["MoCo v1"] == 60.8
    assert means["MoCo v2"] == 67.5
    # The reference's v2 mean is Table 1's (d) and Table 2's "MoCo v2, 200 ep".
    assert load_paper_table(1).set_index("row").loc["(d)", "imagenet_top1"] == 67.5
    assert load_paper_table(2).set_index("row").loc["MoCo v2, 200 ep", "imagenet_top1"] == 67.5


@pytest.mark.parametrize("n", [1, 2])
def test_paper_rows_and_recipe_rows_agree(n):
    rows = list(load_paper_table(n)["row"])
    assert len(set(rows)) == len(rows)
    assert set(recipes_for_table(n)) == set(rows)


def test_table3_rows_named_by_recipes_exist():
    rows = set(load_paper_table(3)["row"])
    assert set(recipes_for_table(3)) <= rows


def test_unknown_table_is_a_usage_error():
    with pytest.raises(UsageError, match="no table 4 in the paper; use 1, 2 or 3"):
        load_paper_table(4)


def test_paper_dir_env_override_and_bad_files(tmp_path, monkeypatch):
    assert (paper_dir() / "table1.csv").is_file()
    monkeypatch.setenv("MOCOBENCH_PAPER_TABLES", str(tmp_path))
    assert paper_dir() == tmp_path
    with pytest.raises(UsageError, match=r"table1\.csv.*MOCOBENCH_PAPER_TABLES"):
        load_paper_table(1)
    original = (REPO / "tables" / "paper" / "table2.csv").read_text()
    (tmp_path / "table2.csv").write_text(original.replace("true", "x", 1))
    with pytest.raises(UsageError, match="true or false"):
        load_paper_table(2)


def test_paper_dir_falls_back_to_the_wheel_copy_then_fails(tmp_path, monkeypatch):
    monkeypatch.delenv("MOCOBENCH_PAPER_TABLES", raising=False)
    fake = tmp_path / "site" / "mocobench" / "config" / "paper.py"
    monkeypatch.setattr(paper_mod, "__file__", str(fake))
    with pytest.raises(UsageError, match="MOCOBENCH_PAPER_TABLES"):
        paper_dir()
    (tmp_path / "site" / "mocobench" / "_paper").mkdir(parents=True)
    assert paper_dir() == tmp_path / "site" / "mocobench" / "_paper"


def test_row_notes_are_data_for_rows_of_the_paper():
    from mocobench.config.paper import paper_row_notes, row_position

    notes = paper_row_notes(1)
    assert [row for row, _ in notes] == ["(a) T=0.07", "supervised"]
    assert all(text.startswith(f"{row}: ") for row, text in notes)
    assert {row for row, _ in notes} <= set(load_paper_table(1)["row"])
    assert paper_row_notes(2) == []
    assert row_position(1, "supervised") == 0 and row_position(1, "no such row") == len(load_paper_table(1))
