"""How a figure reads in a table: mean ± std (n), or the missing mark."""

from mocobench.tables.format import format_figure


def test_format_figure():
    assert format_figure(29.123, 0.46, 2) == "29.1 ± 0.5 (n=2)"
    assert format_figure(29.1, float("nan"), 1) == "29.1 (n=1)"
    assert format_figure(float("nan"), float("nan"), 0) == "-"
