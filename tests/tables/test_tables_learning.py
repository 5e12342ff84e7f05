"""Each row's verdict on whether it learned, in the table's CSV and Markdown, and its kNN per epoch beside
the table (`<stem>_knn.png`), read from the runs' own metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from table_stores import RESULT_COLUMNS, RUN_COLUMNS, FakeStore, result, run

from mocobench.tables.assemble import build_table
from mocobench.tables.render import markdown, write_table


def _run_folder(root: Path, recipe: str, knn: list[float]) -> str:
    folder = root / "smoke" / recipe / "seed0"
    folder.mkdir(parents=True)
    records = [{"epoch": e, "knn_top1": k, **({"loss": 6.0} if e else {})} for e, k in enumerate(knn)]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(folder)


def test_rows_carry_their_verdict_and_their_knn_curve(tmp_path: Path):
    v1 = _run_folder(tmp_path, "moco-v1", [14.0, 12.0, 18.0, 24.0])  # x1.71: learns
    d = _run_folder(tmp_path, "mlp+aug+cos", [14.0, 13.0, 14.5, 15.0])  # above random init, not x1.5
    runs = [
        run("moco-v1", "smoke", run_dir=v1, knn_top1=24.0, knn_top1_init=14.0, num_classes=10),
        run("mlp+aug+cos", "smoke", run_dir=d, knn_top1=15.0, knn_top1_init=14.0, num_classes=10),
    ]
    results = [result(v1, 30.0, scale="smoke"), result(d, 21.0, scale="smoke")]
    store = FakeStore(
        pd.DataFrame(runs, columns=[*RUN_COLUMNS, "num_classes"]),
        pd.DataFrame(results, columns=RESULT_COLUMNS),
    )
    t = build_table(1, store, "smoke", runs_dir=str(tmp_path))
    rows = {r.label: r for r in t.rows}
    assert rows["MoCo v1"].learns.verdict == "learns" and rows["(d)"].learns.verdict == "a little"
    assert rows["MoCo v1"].knn_curve == ((0, 14.0), (1, 12.0), (2, 18.0), (3, 24.0))
    frame = t.frame.set_index("row")
    assert frame.loc["MoCo v1", "learns"] == "learns" and frame.loc["(b)", "learns"] == "-"  # (b): no run
    assert "kNN 14.0 → 24.0, x1.71" in frame.loc["MoCo v1", "learns_why"]
    assert "| learns |" in markdown(t) and "| a little |" in markdown(t)
    paths = write_table(t, tmp_path / "tables")
    png = tmp_path / "tables" / "table1_smoke_knn.png"
    assert png in paths and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
