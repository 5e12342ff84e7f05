"""Training curves of one pre-training run: loss and kNN top-1 per epoch, written to `<run>/curves.png`."""

from __future__ import annotations

import io
from pathlib import Path

from mocobench.errors import UsageError
from mocobench.results import layout
from mocobench.results.run_config import try_read_config
from mocobench.runtime import atomic


def plot_run_curves(run_dir: Path) -> Path:
    """Write `run_dir/curves.png` (loss, and kNN top-1 against its random-init value) and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    run_dir = Path(run_dir)
    path = run_dir / layout.METRICS
    if not path.is_file():
        raise UsageError(f"{path} not found; pass a pre-training run folder (runs/<scale>/<recipe>/seed<N>)")
    records = layout.read_metrics(path)
    # The last record of an epoch wins (a resumed run may repeat one).
    train = {int(r["epoch"]): r for r in records if int(r.get("epoch", 0)) >= 1 and "loss" in r}
    if not train:
        raise UsageError(f"{path} has no training epoch yet; let `mocobench pretrain` run at least one epoch")
    init = [r["knn_top1"] for r in records if int(r.get("epoch", -1)) == 0 and r.get("knn_top1") is not None]
    knn = {
        int(r["epoch"]): float(r["knn_top1"])
        for r in records
        if int(r.get("epoch", 0)) >= 1 and r.get("knn_top1") is not None
    }

    config = try_read_config(run_dir)
    title = (
        f"{config.run.recipe} — scale {config.run.scale}, seed {config.run.seed}"
        if config
        else f"{run_dir.parent.name} — scale ?, seed ?"
    )
    epochs = sorted(train)
    fig, (ax_loss, ax_knn) = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    try:
        ax_loss.plot(epochs, [float(train[e]["loss"]) for e in epochs], marker=".", color="#1f77b4")
        ax_loss.set_xlabel("epoch")
        ax_loss.set_ylabel("training loss")
        ax_loss.set_title("loss")
        if knn:
            ks = sorted(knn)
            ax_knn.plot(ks, [knn[e] for e in ks], marker="o", color="#2ca02c", label="kNN top-1")
        if init:
            ax_knn.axhline(
                float(init[-1]), linestyle="--", color="#7f7f7f", label=f"random init ({init[-1]:.1f})"
            )
        if not knn and not init:
            ax_knn.text(
                0.5,
                0.5,
                "no kNN evaluation in this run",
                ha="center",
                va="center",
                transform=ax_knn.transAxes,
            )
        else:
            ax_knn.legend(loc="lower right")
        ax_knn.set_xlim(0, max(epochs) + 1)
        for ax in (ax_loss, ax_knn):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax_knn.set_xlabel("epoch")
        ax_knn.set_ylabel("kNN top-1 (%)")
        ax_knn.set_title("kNN top-1 (pre-training monitor)")
        fig.suptitle(title)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
    finally:
        plt.close(fig)
    return atomic.write_bytes(run_dir / layout.CURVES, buf.getvalue())


Curve = tuple[tuple[int, float], ...]  # (epoch, kNN top-1); epoch 0 is the random-init encoder


def knn_curve(run_dirs: list[Path]) -> Curve:
    """The mean kNN top-1 per epoch over `run_dirs` (finished runs of one row: its seeds), from each run's
    committed records; epochs where no run scored kNN are left out."""
    from mocobench.results.store import committed_records

    per: dict[int, list[float]] = {}
    for run_dir in run_dirs:
        for r in committed_records(Path(run_dir), finished=True):
            if r.get("knn_top1") is not None:
                per.setdefault(int(r["epoch"]), []).append(float(r["knn_top1"]))
    return tuple((epoch, sum(v) / len(v)) for epoch, v in sorted(per.items()))


def knn_curves_png(title: str, curves: list[tuple[str, str, Curve]]) -> bytes:
    """One panel: kNN top-1 per epoch of each (label, verdict, curve), its random-init value at epoch 0."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(7.5, 4.2), constrained_layout=True)
    try:
        for label, verdict, curve in curves:
            epochs, knn = [e for e, _ in curve], [k for _, k in curve]
            ax.plot(epochs, knn, marker="o", label=f"{label}: {verdict}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch (0: random initialisation)")
        ax.set_ylabel("kNN top-1 (%)")
        ax.set_title(title)
        ax.legend(loc="best", fontsize="small")
        ax.grid(alpha=0.3)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
    finally:
        plt.close(fig)
    return buf.getvalue()
