"""`tables/learning.py`: the one rule for whether a row learned, at its boundaries."""

from __future__ import annotations

import math

import pytest

from mocobench.tables.learning import LEARNS, LITTLE, NONE, UNJUDGED, judge

NAN = math.nan


@pytest.mark.parametrize(
    ("knn_init", "knn_final", "linear", "classes", "verdict"),
    [
        (14.0, 21.0, 20.0, 10, LEARNS),  # exactly 1.5x its random init, exactly 2x chance
        (14.0, 20.9, 40.0, 10, LITTLE),  # above random init, but not 1.5x
        (14.0, 30.0, 19.9, 10, LITTLE),  # linear above chance + 5 points, under 2x chance
        (14.0, 14.0, 40.0, 10, NONE),  # the kNN never rose
        (14.0, 30.0, 15.0, 10, NONE),  # linear within 5 points of chance
        (14.0, 30.0, NAN, None, LEARNS),  # only the kNN to judge
        (NAN, NAN, 40.0, 10, LEARNS),  # only the linear figure
        (NAN, NAN, 40.0, None, UNJUDGED),  # chance unknown and no kNN: nothing to judge
        (0.0, 5.0, NAN, None, LEARNS),  # from zero, any rise is a gain
    ],
)
def test_the_verdict_at_its_boundaries(knn_init, knn_final, linear, classes, verdict):
    assert judge(knn_init, knn_final, linear, classes).verdict == verdict


def test_the_verdict_states_its_figures():
    v = judge(14.1, 25.0, 31.9, 10)
    assert str(v) == "learns (kNN 14.1 → 25.0, x1.77; linear 31.9 = x3.19 chance)"
    assert str(judge(NAN, NAN, NAN, 10)) == "-"
