"""The terminal's tables fit 100 columns (`--wide`: every column), and rows with no run get one note."""

from __future__ import annotations

import io

from rich.console import Console
from table_stores import make, mixed_runs, result, run

from mocobench.tables.assemble import build_table
from mocobench.tables.notes import FillNote, display_notes
from mocobench.tables.render import TERMINAL_WIDTH, display_frame, markdown, rich_orderings, rich_table


def _text(table, width: int) -> str:
    console = Console(file=io.StringIO(), width=width, record=True)
    console.print(table)
    return console.export_text()


def _wide_figures_store():
    runs, results = mixed_runs()
    runs = [*runs, *(run("mlp+aug+cos", seed=s, knn_top1=20.0) for s in range(2, 12))]
    results = [
        *results,
        *(result(f"runs/cpu/mlp+aug+cos/seed{s}", 10.0 + 5 * s, seed=s) for s in range(2, 12)),
        # VOC: 12 models x 5 trials each, the widest cell the seeds x trials structure gives.
        *(
            result(
                f"runs/cpu/mlp+aug+cos/seed{s}", 55.5 + s + t / 7, metric="AP50", kind="voc", trial=t, seed=t
            )
            for s in range(12)
            for t in range(5)
        ),
    ]
    return make(runs, results)


def test_tables_rendered_at_100_columns_fit_and_keep_their_cells_whole():
    for store in (make(*mixed_runs()), _wide_figures_store()):
        for n in (1, 2):
            built = build_table(n, store, "cpu", runs_dir="/data/a/long/runs/folder")
            text = _text(rich_table(built), TERMINAL_WIDTH)
            assert max(len(line) for line in text.splitlines()) <= TERMINAL_WIDTH
            shown = display_frame(built)
            for recipe in shown["recipe"]:
                assert recipe in text  # never folded mid-name
            rows = [line for line in text.splitlines() if line[:1] in "┏┃┡│└"]
            assert all(line.rstrip()[-1] in "┓┃┩│┘" for line in rows)  # whole: no column cropped away
            assert "mocobench table --wide" in text
            orderings = _text(rich_orderings(built), TERMINAL_WIDTH)
            assert max(len(line) for line in orderings.splitlines()) <= TERMINAL_WIDTH
            assert "┃ verdict" in orderings and "not resolved" in orderings


def test_the_narrow_table_has_the_paper_beside_ours_and_wide_has_every_column(store):
    built = build_table(1, store, "cpu")
    narrow = _text(rich_table(built), TERMINAL_WIDTH)
    assert "31.0 ± 1.4 (n=2)" in narrow and "67.5" in narrow and "ours AP50" in narrow
    assert "┃ MLP" not in narrow and "┃ aug+" not in narrow
    wide = _text(rich_table(built, wide=True), 400)
    for column in display_frame(built).columns:
        assert column in wide
    assert "Not shown here" not in wide
    assert "| paper VOC AP75 |" in markdown(built)  # the files keep every column


def test_rows_without_a_run_get_one_note_with_one_command(store):
    built = build_table(1, store, "cpu", runs_dir="/data/store")
    fills = [note for note in built.notes if isinstance(note, FillNote)]
    assert len(fills) == 2  # (a) T=0.07 and (c): the per-row detail is kept in TableResult.notes
    shown = display_notes(built.notes)
    command = "`mocobench reproduce table 1 --scale cpu --runs /data/store` fills them all"
    merged = [note for note in shown if command in note]
    assert len(merged) == 1 and "(a) T=0.07; (c)" in merged[0]
    assert sum("mocobench reproduce table" in note for note in shown) == 2  # and the VOC table note
    assert not any("mocobench pretrain --recipe mlp+aug --scale" in note for note in shown)
    assert len(shown) == len(built.notes) - 1
    md = markdown(built)
    assert md.count("fills them all") == 1 and "--recipe mlp-t0.07" not in md


def test_one_missing_row_keeps_its_own_note(empty_store):
    notes = ["a", FillNote("row note", "(c)", 1, "cpu", "mocobench reproduce table 1 --scale cpu"), "b"]
    assert display_notes(notes) == ["a", "row note", "b"]
    built = build_table(2, empty_store, "smoke", runs_dir="/r")
    shown = display_notes(built.notes)
    assert (
        sum("`mocobench reproduce table 2 --scale smoke --runs /r` fills them all" in n for n in shown) == 1
    )
