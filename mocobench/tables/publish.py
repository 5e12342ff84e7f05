"""From the result store to the files of a table: what `mocobench table` and `reproduce` write.

Tables 1 and 2 are assembled from every run under the runs folder (each run shown gets its training
curves, drawn where missing); Table 3 from a `mocobench profile` record; the CIFAR-10 demo table from the
runs of its recipe.
"""

from __future__ import annotations

from pathlib import Path

from mocobench.config.scales import canonical_scale
from mocobench.results import layout
from mocobench.results.store import collect
from mocobench.tables.assemble import TableResult, build_table
from mocobench.tables.curves import plot_run_curves
from mocobench.tables.demo import DemoTable, build_demo_table, write_demo_table
from mocobench.tables.render import write_table
from mocobench.tables.table3 import Table3, build_table3, read_profile, write_table3


def publish_table(number: int, scale: str, runs: Path, out_dir: Path) -> tuple[TableResult, list[Path]]:
    """Table `number` (1 or 2) at `scale` from the runs under `runs`, written into `out_dir`."""
    scale = canonical_scale(scale)  # `--scale mini`: the cpu tier's runs (results/store.py)
    store = collect(runs)
    for run in store.runs.itertuples():  # training curves of every run shown, drawn where missing
        if run.scale == scale and run.epochs_done > 0 and not (Path(run.run_dir) / layout.CURVES).is_file():
            plot_run_curves(Path(run.run_dir))
    result = build_table(number, store, scale, str(runs))
    return result, write_table(result, out_dir)


def publish_table3(profile: Path, out_dir: Path) -> tuple[Table3, list[Path]]:
    """Table 3 from the profile record at `profile`, written into `out_dir`."""
    table = build_table3(read_profile(profile))
    return table, write_table3(table, out_dir)


def publish_demo(scale: str, runs: Path, out_dir: Path) -> tuple[DemoTable, list[Path]]:
    """The CIFAR-10 demo table at `scale` from the runs under `runs`, written into `out_dir`."""
    table = build_demo_table(collect(runs), scale, str(runs))
    return table, write_demo_table(table, out_dir)
