"""Table 3 (memory and time, MoCo vs end-to-end) from a `mocobench profile` record, beside the paper.

Ours and the paper's figures measure related but different things, and the table says which: the paper's
memory is per V100 as the framework reported it, ours is peak allocated on CUDA (tensors only) or the
peak RSS of the process on the CPU; the paper's hours are measured, ours are seconds per iteration here
times the iterations of 200 epochs on 8 such devices (an estimate). The ratios MoCo / end-to-end are the
figures that compare across hardware.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from rich.table import Table

from mocobench.bench.profile import ratios
from mocobench.config.paper import load_paper_table
from mocobench.errors import UsageError
from mocobench.runtime import atomic

GIB = 2**30
DAGGER = "†"
ROW_NAMES = {"moco": "MoCo", "end-to-end": "end-to-end"}


@dataclass
class Table3:
    frame: pd.DataFrame
    record: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    @property
    def stem(self) -> str:
        """`table3` for the paper's R50 at 224 px; otherwise the arch and size join the name."""
        r = self.record
        return (
            "table3"
            if (r["arch"], r["image_size"]) == ("resnet50", 224)
            else (f"table3_{r['arch']}_{r['image_size']}px")
        )


def read_profile(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no profile at {path}; run `mocobench profile` first (or pass --profile FILE)")
    try:
        record = json.loads(path.read_text())
        record["rows"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise UsageError(f"{path} is not a mocobench profile ({e}); run `mocobench profile` again") from e
    return record


def build_table3(record: dict[str, Any]) -> Table3:
    paper = load_paper_table(3)
    paper_by = {(str(r["mechanism"]), int(r["batch"])): r for _, r in paper.iterrows()}
    rows = []
    for r in record["rows"]:
        p = paper_by.get((r["mechanism"], r["global_batch"]))
        rows.append(
            {
                "row": f"{ROW_NAMES[r['mechanism']]}, {r['global_batch']}",
                "mechanism": r["mechanism"],
                "batch": r["global_batch"],
                "per_gpu_batch": r["per_gpu_batch"],
                "paper_memory_gb": None if p is None else p["memory_gb_per_gpu"],
                "paper_memory_estimated": None if p is None else bool(p["memory_estimated"]),
                "paper_hours_200ep": None
                if p is None or pd.isna(p["hours_200ep"])
                else int(p["hours_200ep"]),
                "ours_memory_gib": r["peak_bytes"] / GIB,
                "ours_memory_kind": record["memory_kind"],
                "ours_estimated": bool(r["estimated"]),
                "ours_seconds_per_iteration": r["seconds_per_iteration"],
                "ours_hours_200ep_estimate": r["hours_200ep"],
                "note": r.get("note", ""),
            }
        )
    frame = pd.DataFrame(rows)
    ours = ratios(record)
    p_moco, p_e2e = paper_by[("moco", 256)], paper_by[("end-to-end", 256)]
    frame.attrs["ratios"] = {
        "paper_memory": float(p_moco["memory_gb_per_gpu"] / p_e2e["memory_gb_per_gpu"]),
        "paper_time": float(p_moco["hours_200ep"] / p_e2e["hours_200ep"]),
        "ours_memory": ours["memory"],
        "ours_time": ours["time"],
    }
    notes = [
        f"{DAGGER} estimated, not run: the configuration would not fit the device (memory from a straight "
        f"line through measured per-GPU batches {', '.join(map(str, record['fit_batches']))}; time "
        "likewise). "
        "The paper's 93.0 GB for end-to-end at 4096 is its own estimate.",
        "Time per 200 epochs (ours) = 200 x 1,281,167 / batch iterations x seconds per iteration measured "
        f"here, as if {record['gpus']} devices like this one ran in parallel with free communication: an "
        "estimate. The paper's hours are measured on 8 V100s.",
        f"Memory (ours) is the {record['memory_kind']} of one process at the per-GPU batch; the paper's is "
        "per V100 16G as reported there. Compare the ratios MoCo / end-to-end across hardware.",
    ]
    if record["memory_kind"].startswith("peak RSS"):
        points = [p for line in record["lines"].values() for p in line["points"]]
        base = max((p.get("baseline_rss_bytes", 0) for p in points), default=0) / 2**20
        notes.append(
            "On the CPU each configuration runs in a fresh process (forked from one that imported PyTorch "
            "and built no model); its peak RSS includes what that process holds of Python and PyTorch before "
            f"any model is built (up to {base:.0f} MiB here), which pulls the memory ratio towards 1."
        )
    return Table3(frame, record, notes)


def _gib(value: float, estimated: bool) -> str:
    return f"{value:.1f}{DAGGER}" if estimated else f"{value:.1f}"


def display_frame(table: Table3) -> pd.DataFrame:
    out = []
    for _, r in table.frame.iterrows():
        paper_mem = (
            "-"
            if pd.isna(r["paper_memory_gb"])
            else _gib(r["paper_memory_gb"], bool(r["paper_memory_estimated"]))
        )
        out.append(
            {
                "mechanism": ROW_NAMES[r["mechanism"]],
                "batch": str(r["batch"]),
                "per GPU": str(r["per_gpu_batch"]),
                "paper memory / GPU (GB)": paper_mem,
                "ours memory (GiB)": _gib(r["ours_memory_gib"], bool(r["ours_estimated"])),
                "paper time / 200 ep (h)": "-"
                if pd.isna(r["paper_hours_200ep"])
                else str(int(r["paper_hours_200ep"])),
                "ours s / iteration": _seconds(r["ours_seconds_per_iteration"], bool(r["ours_estimated"])),
                "ours time / 200 ep (h, estimate)": _gib(
                    r["ours_hours_200ep_estimate"], bool(r["ours_estimated"])
                ),
            }
        )
    return pd.DataFrame(out, dtype=str)


def _seconds(value: float, estimated: bool) -> str:
    text = f"{value:.3f}" if value < 10 else f"{value:.1f}"
    return text + (DAGGER if estimated else "")


def _ratio(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.2f}"


def markdown(table: Table3) -> str:
    r = table.record
    dev = r["device"]
    frame = display_frame(table)
    lines = [
        "# Table 3 (MoCo v2 paper): memory and time, MoCo vs end-to-end",
        "",
        f"**Device**: {dev['device']} (torch {dev['torch']}, CUDA {dev.get('cuda') or '-'}), "
        f"measured {dev['started']}, mocobench commit {(dev.get('git') or {}).get('commit') or 'unknown'}.  ",
        f"**Model**: {r['arch']} at {r['image_size']} px, MoCo v2 (`mlp+aug+cos`) and end-to-end "
        f"(`end-to-end-b256/-b4096`) settings, step options {r['step_options']}, synthetic inputs on the "
        f"device, {r['steps']} timed iterations after {r['warmup']} warm-up.  ",
        f"**Memory (ours)**: {r['memory_kind']}.",
        "",
        "| " + " | ".join(frame.columns) + " |",
        "|" + "---|" * len(frame.columns),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in frame.itertuples(index=False)]
    ra = table.frame.attrs["ratios"]
    lines += [
        "",
        "| MoCo / end-to-end at batch 256 | paper | ours |",
        "|---|---|---|",
        f"| memory | {_ratio(ra['paper_memory'])} | {_ratio(ra['ours_memory'])} |",
        f"| time | {_ratio(ra['paper_time'])} | {_ratio(ra['ours_time'])} |",
        "",
        "## Notes",
        "",
        *[f"- {n}" for n in table.notes],
        *[f"- {row['row']}: {row['note']}" for _, row in table.frame.iterrows() if row["note"]],
        "",
    ]
    return "\n".join(lines)


def write_table3(table: Table3, out_dir: Path) -> list[Path]:
    """`<stem>.csv` (the numbers and the ratios as attrs columns) and `<stem>.md`, atomically."""
    out_dir = Path(out_dir)
    frame = table.frame.copy()
    for key, value in table.frame.attrs["ratios"].items():
        frame[f"ratio_{key}_256"] = value
    csv_path = atomic.write_text(out_dir / f"{table.stem}.csv", frame.to_csv(index=False))
    md_path = atomic.write_text(out_dir / f"{table.stem}.md", markdown(table))
    return [csv_path, md_path]


def rich_table(table: Table3) -> Table:
    """The table for the terminal (the Markdown's cells); ratios and notes are printed by the caller."""
    shown = display_frame(table)
    view = Table(title=f"Table 3 on {table.record['device']['device']}")
    for col in shown.columns:
        view.add_column(col, justify="right")
    for row in shown.itertuples(index=False):
        view.add_row(*row)
    return view


def ratio_line(table: Table3) -> str:
    """The ratios MoCo / end-to-end at batch 256 in one line, with the Markdown's cells."""
    ra = table.frame.attrs["ratios"]
    cells = [
        f"| {name} | {_ratio(ra[f'paper_{name}'])} | {_ratio(ra[f'ours_{name}'])} |"
        for name in ("memory", "time")
    ]
    return "MoCo / end-to-end at 256 (paper | ours): " + "; ".join(cells)
