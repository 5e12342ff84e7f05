"""Files written for a table (names per scale, CSV round-trip, Markdown cells, PNG) and the Rich table."""

from __future__ import annotations

import io

import pandas as pd
from rich.console import Console

from mocobench.tables.assemble import build_table
from mocobench.tables.render import markdown, rich_table, write_table

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_files_per_scale(store, empty_store, tmp_path):
    cpu = write_table(build_table(1, store, "cpu"), tmp_path)
    names = ["table1_cpu.csv", "table1_cpu.md", "table1_cpu.png", "table1_cpu_orderings.csv"]
    assert [p.name for p in cpu] == names  # below the paper's compute: the verdicts beside the table
    paper = write_table(build_table(2, empty_store, "paper"), tmp_path)
    assert [p.name for p in paper] == ["table2.csv", "table2.md", "table2.png"]
    assert all(p.is_file() and p.parent == tmp_path for p in cpu + paper)
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporary file behind
    smoke = write_table(build_table(1, store, "smoke"), tmp_path)  # a pipeline check: no verdicts to write
    assert [p.name for p in smoke] == ["table1_smoke.csv", "table1_smoke.md", "table1_smoke.png"]
    for path in (cpu[2], paper[2]):
        assert path.read_bytes().startswith(PNG_MAGIC)


def test_csv_round_trips(store, tmp_path):
    t = build_table(1, store, "cpu")
    csv = write_table(t, tmp_path)[0]
    back = pd.read_csv(csv)
    assert list(back.columns) == list(t.frame.columns)
    assert list(back["row"]) == list(t.frame["row"])
    for col in ("paper_top1", "top1_mean", "top1_std", "knn_mean", "paper_ap50"):
        pd.testing.assert_series_equal(back[col], t.frame[col].astype(float), check_names=False)
    assert list(back["top1_n"]) == list(t.frame["top1_n"])
    assert back.set_index("row").loc["(d)", "top1_mean"] == 31.0
    assert pd.isna(back.set_index("row").loc["supervised", "epochs"])


def test_markdown_puts_the_paper_beside_ours(store, tmp_path):
    md = write_table(build_table(1, store, "cpu"), tmp_path)[1].read_text(encoding="utf-8")
    assert md.startswith("# Table 1 (MoCo v2 paper) reproduced at scale cpu\n")
    d_line = next(line for line in md.splitlines() if line.startswith("| (d) |"))
    assert "| 67.5 | 31.0 ± 1.4 (n=2) |" in d_line
    b_line = next(line for line in md.splitlines() if line.startswith("| (b) |"))
    assert "| 63.4 | - |" in b_line
    assert "These are cpu-scale numbers" in md
    assert (
        "**Compare orderings only**: absolute figures at this scale are not comparable to the paper's." in md
    )
    assert "NVIDIA H100 80GB HBM3" in md and "abc1234" in md
    assert "embedded generated shapes dataset" in md
    assert "- Partial table: 5 of 8 rows" in md
    assert "`mocobench linear --pretrained runs/cpu/moco-v1/seed0`" in md


def test_markdown_escapes_pipes_and_has_no_warning_at_paper_scale(empty_store):
    t = build_table(2, empty_store, "paper")
    md = markdown(t)
    assert "These are" not in md
    row = next(line for line in md.splitlines() if line.startswith("| SimCLR, b8192, 200 ep |"))
    assert "| 66.6 | - |" in row
    columns = md.splitlines()[next(i for i, line in enumerate(md.splitlines()) if line.startswith("| row |"))]
    assert row.count("|") == columns.count("|")
    t.frame.loc[0, "row"] = "a|b"
    assert "| a\\|b |" in markdown(t)


def test_rich_table_shows_the_same_cells(store):
    table = rich_table(build_table(1, store, "cpu"))
    console = Console(file=io.StringIO(), width=400, record=True)
    console.print(table)
    text = console.export_text()
    assert "31.0 ± 1.4 (n=2)" in text
    assert "67.5" in text
    assert "Table 1 (MoCo v2 paper) reproduced at scale cpu" in text
    assert "Compare orderings only: absolute figures at this scale are not comparable to the paper's." in text


def test_table_1_states_the_voc_protocol_at_its_scale(store, tmp_path):
    md = write_table(build_table(1, store, "cpu"), tmp_path)[1].read_text(encoding="utf-8")
    line = next(line for line in md.splitlines() if line.startswith("**VOC protocol**"))
    assert "150 iterations x 2 images" in line and "test 64 px" in line and "first 50 test images" in line
    md2 = write_table(build_table(2, store, "cpu"), tmp_path)[1].read_text(encoding="utf-8")
    assert "VOC protocol" not in md2  # Table 2 has no VOC columns
