import io

import pytest
import torch
from torch import nn

from mocobench.methods.optim import LARS, lars_param_groups


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))


def _grads(model: nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    for p in model.parameters():
        p.grad = torch.randn(p.shape, generator=g)


def test_param_groups_exclude_biases_and_batchnorm():
    model = _model()
    groups = lars_param_groups(model, weight_decay=1e-6)
    assert [len(g["params"]) for g in groups] == [1, 3]
    assert groups[0]["params"][0] is model[0].weight and not groups[0]["lars_exclude"]
    assert groups[0]["weight_decay"] == 1e-6
    assert groups[1]["lars_exclude"] and groups[1]["weight_decay"] == 0.0


def test_two_steps_by_hand():
    lr, mom, wd, eta = 0.5, 0.9, 0.01, 0.001
    model = _model()
    opt = LARS(lars_param_groups(model, wd), lr=lr, momentum=mom, weight_decay=wd, eta=eta)
    w, b = model[0].weight, model[0].bias
    w0, b0 = w.detach().clone(), b.detach().clone()

    _grads(model, 1)
    gw1, gb1 = w.grad.clone(), b.grad.clone()
    opt.step()
    d1 = gw1 + wd * w0
    v1 = lr * (eta * w0.norm() / d1.norm()) * d1
    w1 = w0 - v1
    torch.testing.assert_close(w, w1)
    # Excluded: no weight decay, no trust ratio, plain momentum SGD (lr inside the buffer, as SimCLR).
    torch.testing.assert_close(b, b0 - lr * gb1)

    _grads(model, 2)
    gw2, gb2 = w.grad.clone(), b.grad.clone()
    opt.step()
    d2 = gw2 + wd * w1
    v2 = mom * v1 + lr * (eta * w1.norm() / d2.norm()) * d2
    torch.testing.assert_close(w, w1 - v2)
    torch.testing.assert_close(b, b0 - lr * gb1 - (mom * lr * gb1 + lr * gb2))


def test_zero_weight_gets_trust_ratio_one():
    p = nn.Parameter(torch.zeros(2, 2))
    p.grad = torch.ones(2, 2)
    LARS([p], lr=0.1, weight_decay=0.0).step()
    torch.testing.assert_close(p.detach(), torch.full((2, 2), -0.1))


def test_state_dict_round_trip():
    model = _model()
    opt = LARS(lars_param_groups(model, 1e-6), lr=0.3)
    _grads(model, 1)
    opt.step()
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)  # as a checkpoint would (and no tensor shared with `opt`)
    buffer.seek(0)
    state = torch.load(buffer)

    clone = _model()
    clone.load_state_dict(model.state_dict())
    opt2 = LARS(lars_param_groups(clone, 1e-6), lr=0.3)
    opt2.load_state_dict(state)
    assert opt2.param_groups[1]["lars_exclude"] is True
    for m in (model, clone):
        _grads(m, 2)
    opt.step()
    opt2.step()
    for p, q in zip(model.parameters(), clone.parameters(), strict=True):
        assert torch.equal(p, q)


def test_negative_lr_rejected():
    with pytest.raises(ValueError):
        LARS([nn.Parameter(torch.ones(1))], lr=-1.0)
