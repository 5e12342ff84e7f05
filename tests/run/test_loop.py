"""The one training loop (run/loop.py): its lr, totals, finite-loss check and optional gradient scaler."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mocobench.run import loop
from mocobench.runtime.progress import TrainProgress


def _fixture(steps: int = 4):
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    x = torch.randn(steps, 5, 3)
    y = torch.randint(0, 2, (steps, 5))
    batches = list(zip(x, y, strict=True))

    def step(i: int, batch):
        images, targets = batch
        logits = model(images)
        correct = float((logits.argmax(1) == targets).sum())
        return nn.functional.cross_entropy(logits, targets), correct, targets.numel()

    return model, optimizer, batches, step


def _epoch(batches, step, optimizer, lr_per_step: bool, seen: list[float], **kw):
    def lr_at(t: float) -> float:
        seen.append(t)
        return 0.1 / (1 + t)

    with TrainProgress(1, enabled=False) as progress:
        return loop.train_epoch(
            batches,
            len(batches),
            step,
            optimizer,
            2,
            lr_at,
            lr_per_step,
            progress,
            lambda *a: "diverged",
            **kw,
        )


def test_the_lr_is_set_per_epoch_or_per_step_from_the_schedule():
    _, optimizer, batches, step = _fixture()
    seen: list[float] = []
    rec = _epoch(batches, step, optimizer, False, seen)
    assert seen == [2] and rec["lr"] == pytest.approx(0.1 / 3)
    seen.clear()
    rec = _epoch(batches, step, optimizer, True, seen)
    assert seen == [2, 2.0, 2.25, 2.5, 2.75] and rec["lr"] == pytest.approx(0.1 / 3.75)


def test_the_record_is_the_per_example_mean_and_the_step_is_main_moco_s():
    model, optimizer, batches, step = _fixture()
    twin = nn.Linear(3, 2)
    twin.load_state_dict(model.state_dict())
    twin_opt = torch.optim.SGD(twin.parameters(), lr=1.0)
    losses, hits = [], 0.0
    for images, targets in batches:  # the same epoch by hand, lr per epoch
        for g in twin_opt.param_groups:
            g["lr"] = 0.1 / 3
        logits = twin(images)
        loss = nn.functional.cross_entropy(logits, targets)
        hits += float((logits.argmax(1) == targets).sum())
        twin_opt.zero_grad()
        loss.backward()
        twin_opt.step()
        losses.append(loss.item())
    rec = _epoch(batches, step, optimizer, False, [])
    assert rec["loss"] == pytest.approx(sum(losses) / len(losses))
    assert rec["acc"] == pytest.approx(100 * hits / 20)
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_a_non_finite_loss_stops_the_epoch_with_the_callers_words():
    _, optimizer, batches, _ = _fixture()

    def nan_step(i, batch):
        return torch.tensor(float("nan"), requires_grad=True), 0.0, 5

    with pytest.raises(RuntimeError, match="diverged"):
        _epoch(batches, nan_step, optimizer, False, [])


def test_a_gradient_scaler_drives_the_step_when_the_method_has_one():
    model, optimizer, batches, step = _fixture()
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**4, growth_interval=1)
    before = [p.detach().clone() for p in model.parameters()]
    _epoch(batches, step, optimizer, False, [], scaler=scaler)
    assert scaler.get_scale() == 2.0**8  # four finite steps, each grows the scale
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
