"""Whether a row learned, judged from its runs' own figures: the one rule every table prints.

A pre-trained encoder **learns** when both of its figures say so:
- its final kNN top-1 is at least `KNN_GAIN` (1.5) times its kNN at random initialisation, in the same
  run (`metrics.jsonl`: epoch 0 is the random-init encoder, the kNN monitor of `train/pretrain.py`);
- its linear top-1 (`<protocol>.json`) is at least `OVER_CHANCE` (2) times chance, 100 / classes.
It shows **no learning** when its final kNN is not above its random-init kNN, or its linear top-1 is within
`MARGIN` points of chance; in between it learned **a little**. A figure that is missing is not judged.
Random-init kNN is the reference, not chance: on the embedded set a random encoder clusters by colour and
is above chance already (`data/synth.py`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

KNN_GAIN = 1.5
OVER_CHANCE = 2.0
MARGIN = 5.0  # points above chance that a linear top-1 must clear to show any learning

LEARNS, LITTLE, NONE, UNJUDGED = "learns", "a little", "no", "-"


def _missing(x: float | None) -> bool:
    return x is None or math.isnan(x)


@dataclass(frozen=True)
class Learned:
    """A row's verdict (`LEARNS`, `LITTLE`, `NONE`, or `UNJUDGED` without figures) and the figures behind
    it, as one line."""

    verdict: str
    why: str

    def __str__(self) -> str:
        return f"{self.verdict} ({self.why})" if self.why else self.verdict


def judge(
    knn_init: float | None, knn_final: float | None, linear: float | None, classes: int | None
) -> Learned:
    """The verdict of one row (or run) from its kNN at random init and at the end, its linear top-1 and
    its number of classes (None: chance unknown, the linear figure is not judged)."""
    parts, levels = [], []
    if not (_missing(knn_init) or _missing(knn_final)):
        assert knn_init is not None and knn_final is not None
        gain = knn_final / knn_init if knn_init > 0 else math.inf
        parts.append(f"kNN {knn_init:.1f} → {knn_final:.1f}, x{gain:.2f}")
        levels.append(LEARNS if gain >= KNN_GAIN else LITTLE if knn_final > knn_init else NONE)
    if not _missing(linear) and classes:
        assert linear is not None
        chance = 100.0 / classes
        parts.append(f"linear {linear:.1f} = x{linear / chance:.2f} chance")
        levels.append(
            LEARNS if linear >= OVER_CHANCE * chance else LITTLE if linear > chance + MARGIN else NONE
        )
    if not levels:
        return Learned(UNJUDGED, "")
    order = (NONE, LITTLE, LEARNS)
    return Learned(min(levels, key=order.index), "; ".join(parts))


NOT_JUDGED = Learned(UNJUDGED, "")
RULE = (
    f"A row learns when its final kNN is at least {KNN_GAIN:g}x its kNN at random initialisation and its "
    f"linear top-1 at least {OVER_CHANCE:g}x chance (100 / classes); it shows no learning when its final "
    f"kNN is not above random init or its linear top-1 is within {MARGIN:g} points of chance; in between, "
    "a little."
)
