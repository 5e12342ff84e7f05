"""`mocobench table`: `demo` beside 1/2/3, the orderings under Tables 1 and 2, and the legacy `mini`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd


def _demo_run(folder: Path, seed: int, knn: float, scale: str = "smoke", epochs: int = 2) -> None:
    folder.mkdir(parents=True)
    config = {"recipe": "moco-cifar10-demo", "scale": scale, "seed": seed, "epochs": epochs, "data": ""}
    (folder / "config.json").write_text(json.dumps(config))
    last = {"epoch": epochs, "loss": 5.0, "images_per_s": 50.0, "epoch_seconds": 1.0, "knn_top1": knn}
    metrics = [{"epoch": 0, "knn_top1": 20.0}, last]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    (folder / "summary.json").write_text(json.dumps({"finished": True}))


def test_table_demo_writes_and_prints_the_reference(tmp_path: Path, cli):
    runs = tmp_path / "runs"
    for seed, knn in enumerate([30.0, 34.0]):
        _demo_run(runs / "smoke" / "moco-cifar10-demo" / f"seed{seed}", seed, knn)
    code, out, _ = cli("table", "demo", "--scale", "smoke", "--runs", str(runs), "--out", str(tmp_path / "t"))
    assert code == 0 and "demo_smoke.md" in out and "82.6" in out and "32.0 ± 2.8 (n=2)" in out
    md = (tmp_path / "t" / "demo_smoke.md").read_text()
    assert "pipeline check, not a result" in md and "| 2 | - | 32.0 ± 2.8 (n=2) | 2 | smoke | - |" in md
    csv = pd.read_csv(tmp_path / "t" / "demo_smoke.csv")
    assert list(csv["epochs"]) == [2, 200, 400, 800]
    code, out, _ = cli("table", "DEMO", "--out", str(tmp_path / "t"))  # default scale: paper, as published
    assert code == 0 and (tmp_path / "t" / "demo.md").is_file() and "88.7" in out


def test_table_orderings_are_printed_and_written_below_the_papers_compute(tmp_path: Path, cli):
    code, out, _ = cli("table", "1", "--scale", "cpu", "--out", str(tmp_path / "t"))
    assert code == 0 and "Orderings: the paper's significant pairs at scale cpu" in out
    assert "MoCo v1 → (a)" in out and "not resolved" in out
    back = pd.read_csv(tmp_path / "t" / "table1_cpu_orderings.csv")
    assert set(back["verdict"]) == {"not resolved"} and len(back) > 5
    first = back.iloc[0]
    assert (first["a"], first["b"], first["reason"]) == (
        "MoCo v1",
        "(a)",
        "0 seeds of MoCo v1; 0 of (a); 3 needed each",
    )
    code, out, _ = cli("table", "1", "--scale", "smoke", "--out", str(tmp_path / "t"))
    assert code == 0 and "Orderings: smoke: no verdicts" in out
    assert not (tmp_path / "t" / "table1_smoke_orderings.csv").exists()


def test_table_mini_is_the_cpu_tier(tmp_path: Path, cli):
    code, out, _ = cli("table", "2", "--scale", "mini", "--out", str(tmp_path / "t"))
    assert code == 0 and "table2_cpu.md" in out and "table2_mini" not in out


def test_table_rejects_other_names_in_one_line(tmp_path: Path, cli):
    code, _, err = cli("table", "four", "--out", str(tmp_path / "t"))
    assert code == 2 and "no table 'four'; use 1, 2, 3 or demo" in err and err.count("\n") == 1
    assert not (tmp_path / "t").exists()
