"""Learning-rate schedules against PAPER.md's numbers and the official `adjust_learning_rate`."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest
import torch

from mocobench.runtime.schedule import learning_rate, linear_scaled_lr, scale_milestones, set_lr


@pytest.mark.parametrize(
    ("epoch", "expected"),
    [(0, 0.03), (119, 0.03), (120, 0.003), (159, 0.003), (160, 0.0003), (199, 0.0003)],
)
def test_step_schedule(epoch: int, expected: float) -> None:
    # PAPER.md: lr 0.03, x0.1 at epochs 120 and 160 of 200.
    assert learning_rate(0.03, epoch, 200, cos=False, schedule=[120, 160]) == pytest.approx(expected)


def test_step_schedule_three_milestones() -> None:
    # Three milestones: three decays.
    assert learning_rate(1.0, 9, 10, cos=False, schedule=[2, 5, 8]) == pytest.approx(1e-3)


def test_cosine_schedule() -> None:
    # PAPER.md: lr * 0.5 * (1 + cos(pi * epoch / epochs)); milestones are ignored.
    assert learning_rate(0.03, 0, 200, cos=True, schedule=[120, 160]) == pytest.approx(0.03)
    assert learning_rate(0.03, 100, 200, cos=True, schedule=[120, 160]) == pytest.approx(0.015)
    expected_199 = 0.03 * 0.5 * (1 + math.cos(math.pi * 199 / 200))
    assert learning_rate(0.03, 199, 200, cos=True, schedule=[]) == pytest.approx(expected_199)
    assert 0 < expected_199 < 2e-5


def test_cosine_is_monotone_per_epoch() -> None:
    lrs = [learning_rate(0.03, e, 200, cos=True, schedule=[]) for e in range(200)]
    assert all(b < a for a, b in pairwise(lrs))


def test_warmup_then_cosine() -> None:
    # SimCLR: linear ramp from 0 over the warm-up, then cosine over the remaining epochs.
    lr = 0.3
    assert learning_rate(lr, 0, 100, cos=True, schedule=[], warmup_epochs=10) == 0.0
    assert learning_rate(lr, 5, 100, cos=True, schedule=[], warmup_epochs=10) == pytest.approx(0.15)
    assert learning_rate(lr, 9.99, 100, cos=True, schedule=[], warmup_epochs=10) == pytest.approx(0.2997)
    assert learning_rate(lr, 10, 100, cos=True, schedule=[], warmup_epochs=10) == pytest.approx(0.3)
    assert learning_rate(lr, 55, 100, cos=True, schedule=[], warmup_epochs=10) == pytest.approx(0.15)
    assert learning_rate(lr, 100, 100, cos=True, schedule=[], warmup_epochs=10) == pytest.approx(
        0.0, abs=1e-12
    )


def test_warmup_then_step() -> None:
    assert learning_rate(0.1, 1, 20, cos=False, schedule=[10], warmup_epochs=2) == pytest.approx(0.05)
    assert learning_rate(0.1, 2, 20, cos=False, schedule=[10], warmup_epochs=2) == pytest.approx(0.1)
    assert learning_rate(0.1, 10, 20, cos=False, schedule=[10], warmup_epochs=2) == pytest.approx(0.01)


def test_learning_rate_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        learning_rate(0.03, 0, 0, cos=True, schedule=[])
    with pytest.raises(ValueError):
        learning_rate(0.03, 0, 10, cos=True, schedule=[], warmup_epochs=10)


def test_set_lr_sets_every_group() -> None:
    a, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [a]}, {"params": [b], "lr": 5.0}], lr=1.0)
    set_lr(opt, 0.0123)
    assert [g["lr"] for g in opt.param_groups] == [0.0123, 0.0123]


@pytest.mark.parametrize(
    ("schedule", "frm", "to", "expected"),
    [
        ([120, 160], 200, 10, [6, 8]),
        ([120, 160], 200, 200, [120, 160]),
        ([120, 160], 200, 800, [480, 640]),
        ([120, 160], 200, 20, [12, 16]),
        ([60, 80], 100, 5, [3, 4]),  # 3.0, 4.0
        ([100, 101], 200, 10, [5, 6]),  # both round to 5: the later one moves up
        ([120, 160], 200, 3, [1, 2]),  # 1.8 -> 2, 2.4 -> 2: pushed apart, both < 3
        ([190, 199], 200, 4, [2, 3]),  # 3.8 -> 4 is clamped below epochs_to
        ([1, 2], 200, 10, [1, 2]),  # 0.05 -> 0 would skip the base rate
        ([5], 200, 100, [3]),  # 2.5 rounds half up
        ([120, 160], 200, 2, [1, 1]),  # cannot be distinct: clamped, both decays kept
        ([], 200, 10, []),
    ],
)
def test_scale_milestones(schedule: list[int], frm: int, to: int, expected: list[int]) -> None:
    assert scale_milestones(schedule, frm, to) == expected


def test_scale_milestones_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        scale_milestones([160, 120], 200, 10)
    with pytest.raises(ValueError):
        scale_milestones([120], 0, 10)


def test_linear_scaled_lr() -> None:
    # PAPER.md: 0.03 for batch 256, 0.015 for 128.
    assert linear_scaled_lr(0.03, 128) == pytest.approx(0.015)
    assert linear_scaled_lr(0.03, 256) == pytest.approx(0.03)
    assert linear_scaled_lr(0.3, 4096) == pytest.approx(4.8)  # SimCLR: 0.3 x batch / 256
    assert linear_scaled_lr(0.1, 64, batch_ref=32) == pytest.approx(0.2)
    with pytest.raises(ValueError):
        linear_scaled_lr(0.03, 0)
