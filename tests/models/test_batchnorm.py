import copy

import pytest
import torch
from tiny_net import TinyNet
from torch import nn

from mocobench.models.batchnorm import GlobalBatchNorm, SplitBatchNorm2d, split_bn, sync_batchnorm


def _pair(num_splits: int, **kwargs) -> tuple[SplitBatchNorm2d, nn.BatchNorm2d]:
    torch.manual_seed(0)
    ref = nn.BatchNorm2d(3, **kwargs)
    if ref.affine:
        nn.init.normal_(ref.weight)
        nn.init.normal_(ref.bias)
    ref.running_mean.normal_()
    ref.running_var.uniform_(0.5, 2.0)
    split = SplitBatchNorm2d(3, num_splits=num_splits, **kwargs)
    split.load_state_dict(ref.state_dict())
    return split, ref


def test_train_mode_equals_per_chunk_batchnorm_and_mean_running_stats():
    split, ref = _pair(num_splits=3)
    x = torch.randn(6, 3, 4, 5) * 3 + 1
    x.requires_grad_(True)
    out = split(x)

    copies = [copy.deepcopy(ref) for _ in range(3)]
    x_ref = x.detach().clone().requires_grad_(True)
    expected = torch.cat([bn(chunk) for bn, chunk in zip(copies, x_ref.chunk(3), strict=True)])
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)

    mean = torch.stack([bn.running_mean for bn in copies]).mean(0)
    var = torch.stack([bn.running_var for bn in copies]).mean(0)
    torch.testing.assert_close(split.running_mean, mean)
    torch.testing.assert_close(split.running_var, var)
    assert int(split.num_batches_tracked) == 1

    # Gradients equal those of the per-chunk copies, summed for the shared affine parameters.
    w = torch.randn_like(out)
    (out * w).sum().backward()
    (expected * w).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(split.weight.grad, sum(bn.weight.grad for bn in copies), atol=1e-5, rtol=1e-5)


def test_differs_from_whole_batch_batchnorm():
    split, ref = _pair(num_splits=2)
    x = torch.cat([torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4) + 5])
    assert not torch.allclose(split(x), ref(x), atol=1e-3)


def test_cumulative_average_momentum_none():
    split, ref = _pair(num_splits=2, momentum=None)
    x = torch.randn(4, 3, 2, 2)
    split(x)
    copies = [copy.deepcopy(ref) for _ in range(2)]
    for bn, chunk in zip(copies, x.chunk(2), strict=True):
        bn(chunk)
    torch.testing.assert_close(split.running_mean, (copies[0].running_mean + copies[1].running_mean) / 2)


def test_eval_mode_equals_batchnorm():
    split, ref = _pair(num_splits=2)
    split.eval()
    ref.eval()
    x = torch.randn(3, 3, 4, 4)  # any batch size in eval
    torch.testing.assert_close(split(x), ref(x))


def test_state_dict_keys_equal_batchnorm():
    split, ref = _pair(num_splits=4)
    assert list(split.state_dict()) == list(ref.state_dict())


def test_batch_not_divisible_raises_naming_both_numbers():
    split, _ = _pair(num_splits=4)
    with pytest.raises(ValueError, match=r"\b6\b.*\b4\b"):
        split(torch.randn(6, 3, 2, 2))


def test_split_bn_factory():
    assert split_bn(1) is nn.BatchNorm2d
    layer = split_bn(8)(16)
    assert isinstance(layer, SplitBatchNorm2d)
    assert layer.num_splits == 8 and layer.num_features == 16


def test_sync_batchnorm_is_a_no_op_in_one_process():
    model = TinyNet()
    assert sync_batchnorm(model) is model
    assert type(model.bn) is nn.BatchNorm2d


def test_global_batchnorm_single_process_is_batchnorm():
    torch.manual_seed(0)
    ref = nn.BatchNorm2d(4)
    bn = GlobalBatchNorm(4)
    bn.load_state_dict(ref.state_dict())
    x = torch.randn(5, 4, 3, 3)
    torch.testing.assert_close(bn(x), ref(x))
    assert list(bn.state_dict()) == list(ref.state_dict())
