"""`mocobench table` prints tables that fit 100 columns (`--wide`: every column) and one fill note."""

from __future__ import annotations

from pathlib import Path

WIDTH = 100


def _table_lines(out: str) -> list[str]:
    """The printed lines up to the notes (the tables, their captions)."""
    return out.split("\n- ")[0].splitlines()


def test_table_1_fits_100_columns_and_has_one_fill_note(tmp_path: Path, cli):
    runs = tmp_path / "runs"
    code, out, err = cli("table", "1", "--scale", "smoke", "--runs", str(runs), "--out", str(tmp_path / "t"))
    assert code == 0, err
    assert max(len(line) for line in _table_lines(out)) <= WIDTH
    assert "mocobench table --wide" in out
    notes = [line for line in out.splitlines() if line.startswith("- ")]
    fill = f"`mocobench reproduce table 1 --scale smoke --runs {runs}` fills them all"
    assert fill in " ".join(out.split())
    assert " ".join(out.split()).count("fills them all") == 1
    assert not any("mocobench pretrain --recipe" in note for note in notes)
    md = (tmp_path / "t" / "table1_smoke.md").read_text()
    assert "| paper VOC AP75 |" in md and md.count("fills them all") == 1


def test_wide_prints_every_column(tmp_path: Path, cli):
    code, out, _ = cli("table", "1", "--scale", "cpu", "--wide", "--out", str(tmp_path / "t"))
    assert code == 0
    flat = " ".join(out.split())
    assert "aug+" in flat and "AP75" in flat and "Not shown here" not in flat
