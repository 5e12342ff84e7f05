"""How a figure reads in a table: mean ± std (n), or the missing mark."""

import math

import pytest

from mocobench.tables.format import format_figure, nested_stats


def test_format_figure():
    assert format_figure(29.123, 0.46, 2) == "29.1 ± 0.5 (n=2)"
    assert format_figure(29.1, float("nan"), 1) == "29.1 (n=1)"
    assert format_figure(float("nan"), float("nan"), 0) == "-"


def test_nested_stats_pool_the_trials_of_each_model():
    """Mean over every trial; std pooled within models (sum of squares over sum of trials - 1), the
    paper's VOC std across trials of one model; seed_std the std of the models' means."""
    s = nested_stats({1: [44.0, 46.0], 0: [42.0, 40.0, 41.0, float("nan")]})
    assert (s.mean, s.n, s.seeds, s.trials) == (pytest.approx(42.6), 5, 2, (2, 3))
    assert s.std == pytest.approx(math.sqrt(4 / 3)) and s.seed_std == pytest.approx(math.sqrt(8))
    one = nested_stats({0: [40.0, 42.0]})
    assert (one.mean, one.std, one.seeds) == (41.0, pytest.approx(math.sqrt(2)), 1) and math.isnan(
        one.seed_std
    )
    singles = nested_stats({0: [40.0], 1: [42.0]})
    assert math.isnan(singles.std) and singles.seed_std == pytest.approx(math.sqrt(2))
    empty = nested_stats({0: [float("nan")]})
    assert (empty.n, empty.seeds, empty.trials) == (0, 0, (0, 0)) and math.isnan(empty.mean)
