"""Verdicts on the paper's orderings at a smaller scale: does our row B beat our row A beyond our own noise?

At a non-paper scale absolute figures are not comparable to the paper's (PAPER.md's tables are ResNet-50 on
ImageNet); what can carry over is the order of two rows. `tables/paper/orderings.toml` lists the pairs
whose gap in the paper exceeds twice the paper's own trial spread (linear top-1: 0.8 points, the five
MoCo v2 trials spanning 67.3-67.7, PAPER.md "Linear classification protocol"). Each gets a verdict:

- `held`: both rows have >= 3 pre-training seeds and mean(B) - mean(A) > 2 SE;
- `not held`: both have >= 3 seeds and the gap is at least 2 SE the other way;
- `not resolved`: otherwise, with the reason (too few seeds, or a gap within 2 SE).

SE = s_p * sqrt(1/n_A + 1/n_B), s_p the pooled sample SD of the two rows' seed values. A row's seed value
is the mean of that pre-training seed's evaluation trials: trials of one seed share its backbone, so the
seeds, not the trials, are the independent samples.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from mocobench.config.paper import PaperOrdering, load_linear_trials, load_orderings
from mocobench.tables.format import MISSING, seed_groups, stats

MIN_SEEDS = 3
SE_FACTOR = 2.0
HELD, NOT_HELD, NOT_RESOLVED = "held", "not held", "not resolved"
NO_VERDICTS_AT_SMOKE = "smoke: no verdicts"
METRIC_LABELS = {
    "linear_top1": "linear top-1",
    "voc_ap50": "VOC AP50",
    "voc_ap": "VOC AP",
    "voc_ap75": "VOC AP75",
}


def rule_text() -> str:
    """The rule in one paragraph, under the verdicts."""
    orderings = load_orderings()
    trials = load_linear_trials()
    v2 = trials[trials["case"] == "MoCo v2"]["imagenet_top1"]
    thresholds = ", ".join(f"{METRIC_LABELS[m]} {orderings.threshold(m):.2f}" for m in orderings.spread)
    return (
        f"Pairs (tables/paper/orderings.toml): the paper's gaps above {orderings.factor:g}x its own trial "
        f"spread ({thresholds} points; the linear spread is the {len(v2)} MoCo v2 trials' "
        f"{v2.min():.1f}-{v2.max():.1f}, PAPER.md). Ours: each pre-training seed's mean over its trials; "
        f"**held** when both rows have >= {MIN_SEEDS} seeds and mean(B) - mean(A) > {SE_FACTOR:g} SE "
        f"(SE = pooled SD x sqrt(1/n_A + 1/n_B)), **not held** when the gap is at least {SE_FACTOR:g} SE "
        "the other way, otherwise **not resolved** (the reason says why)."
    )


@dataclass(frozen=True)
class Verdict:
    """One ordering judged on our seeds: each side's (mean, sample SD, seeds), the gap B - A and its SE."""

    ordering: PaperOrdering
    a: tuple[float, float, int]
    b: tuple[float, float, int]
    gap: float
    se: float
    verdict: str
    reason: str


def seed_values(trials: pd.DataFrame, seed_of: Mapping[str, int]) -> list[float]:
    """One value per pre-training seed: the mean of its trials (`trials` has run_dir and value columns;
    `seed_of` maps each run folder to its pre-training seed). Sorted by seed: order never matters."""
    return [math.fsum(v) / len(v) for _, v in sorted(seed_groups(trials, seed_of).items())]


def pooled_se(a: Sequence[float], b: Sequence[float]) -> float:
    """SE of mean(b) - mean(a) with the pooled sample SD; NaN below 2 values in all."""
    (_, sa, na), (_, sb, nb) = stats(pd.Series(a, dtype=float)), stats(pd.Series(b, dtype=float))
    if na < 1 or nb < 1 or na + nb < 3:
        return math.nan
    ss = (na - 1) * (0.0 if na == 1 else sa**2) + (nb - 1) * (0.0 if nb == 1 else sb**2)
    return math.sqrt(ss / (na + nb - 2)) * math.sqrt(1 / na + 1 / nb)


def _seeds(n: int) -> str:
    return f"{n} seed{'' if n == 1 else 's'}"


def judge(ordering: PaperOrdering, a: Sequence[float], b: Sequence[float]) -> Verdict:
    """The verdict on `ordering` from the seed values of its row A (`a`) and row B (`b`)."""
    sa, sb = stats(pd.Series(a, dtype=float)), stats(pd.Series(b, dtype=float))
    gap = sb[0] - sa[0] if sa[2] and sb[2] else math.nan
    se = pooled_se(a, b)
    short = [(row, s[2]) for row, s in ((ordering.a, sa), (ordering.b, sb)) if s[2] < MIN_SEEDS]
    if short:
        if len(short) == 1:
            reason = f"{_seeds(short[0][1])} of {short[0][0]}, {MIN_SEEDS} needed"
        else:
            (ra, na), (rb, nb) = short
            reason = f"{_seeds(na)} of {ra}; {nb} of {rb}; {MIN_SEEDS} needed each"
        return Verdict(ordering, sa, sb, gap, se, NOT_RESOLVED, reason)
    two = SE_FACTOR * se
    if gap > two:
        return Verdict(ordering, sa, sb, gap, se, HELD, f"gap {gap:.1f} > 2 SE {two:.1f}")
    if gap < 0 and -gap >= two:
        return Verdict(ordering, sa, sb, gap, se, NOT_HELD, f"gap {gap:.1f}: reversed by >= 2 SE {two:.1f}")
    if gap >= 0:
        reason = f"gap {gap:.1f} ≤ 2 SE {two:.1f}"
    else:
        reason = f"gap {gap:.1f}: reversed by less than 2 SE {two:.1f}"
    return Verdict(ordering, sa, sb, gap, se, NOT_RESOLVED, reason)


def table_verdicts(
    n: int, seeds_by_row: Mapping[tuple[str, str], Sequence[float]], metrics: Sequence[str] | None = None
) -> list[Verdict]:
    """A verdict on each ordering of table `n` (the file's order) from `(row, metric) -> seed values`;
    `metrics` keeps only those metrics (a scale without VOC has no VOC pairs)."""
    out = []
    for o in load_orderings().for_table(n):
        if metrics is not None and o.metric not in metrics:
            continue
        out.append(judge(o, seeds_by_row.get((o.a, o.metric), []), seeds_by_row.get((o.b, o.metric), [])))
    return out


def verdict_frame(verdicts: Sequence[Verdict]) -> pd.DataFrame:
    """The verdicts as numbers, for `<table>_orderings.csv`."""
    rows = []
    for v in verdicts:
        o = v.ordering
        rows.append(
            {
                "table": o.table,
                "a": o.a,
                "b": o.b,
                "metric": o.metric,
                "paper_a": o.paper_a,
                "paper_b": o.paper_b,
                "paper_gap": round(o.paper_gap, 6),
                "a_mean": v.a[0],
                "a_sd": v.a[1],
                "a_seeds": v.a[2],
                "b_mean": v.b[0],
                "b_sd": v.b[1],
                "b_seeds": v.b[2],
                "gap": v.gap,
                "se": v.se,
                "verdict": v.verdict,
                "reason": v.reason,
                "shows": o.shows,
            }
        )
    columns = ["table", "a", "b", "metric", "paper_a", "paper_b", "paper_gap", "a_mean", "a_sd", "a_seeds"]
    columns += ["b_mean", "b_sd", "b_seeds", "gap", "se", "verdict", "reason", "shows"]
    return pd.DataFrame(rows, columns=columns)


def _side(mean: float, sd: float, n: int) -> str:
    if n == 0:
        return MISSING
    spread = "" if pd.isna(sd) else f" ± {sd:.1f}"
    return f"{mean:.1f}{spread} ({_seeds(n)})"


def display_verdicts(verdicts: Sequence[Verdict]) -> pd.DataFrame:
    """The verdicts as the cells of the Markdown and terminal tables."""
    rows = []
    for v in verdicts:
        o = v.ordering
        ours = MISSING if pd.isna(v.gap) else f"{v.gap:+.1f}" + ("" if pd.isna(v.se) else f" ± {v.se:.1f}")
        rows.append(
            {
                "pair (A → B)": f"{o.a} → {o.b}",
                "metric": METRIC_LABELS.get(o.metric, o.metric),
                "paper A → B (gap)": f"{o.paper_a:.1f} → {o.paper_b:.1f} ({o.paper_gap:+.1f})",
                "what it shows": o.shows,
                "ours A (mean ± SD)": _side(*v.a),
                "ours B (mean ± SD)": _side(*v.b),
                "ours gap ± SE": ours,
                "verdict": f"{v.verdict} ({v.reason})",
            }
        )
    return pd.DataFrame(rows, dtype=str)
