import copy
import functools

import pytest
import torch
import torch.nn.functional as F
import torchvision
from tiny_net import TinyNet
from torch import nn

from mocobench.models.batchnorm import SplitBatchNorm2d, split_bn
from mocobench.models.moco import MoCo


def _moco(**kwargs) -> MoCo:
    torch.manual_seed(0)
    kwargs.setdefault("dim", 8)
    kwargs.setdefault("K", 16)
    return MoCo(kwargs.pop("base_encoder", TinyNet), **kwargs)


def _images(n: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 8, 8, generator=g), torch.randn(n, 3, 8, 8, generator=g)


def _encode(encoder: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return F.normalize(encoder(x), dim=1)


def test_logits_shape_and_labels():
    model = _moco(K=16)
    logits, labels = model(*_images(4))
    assert logits.shape == (4, 17)
    assert labels.dtype == torch.long and labels.tolist() == [0, 0, 0, 0]


def test_logits_are_q_dot_k_and_q_dot_queue_over_T():
    model = _moco(T=0.2, m=0.5)
    with torch.no_grad():  # make the momentum update visible: keys must come from the updated encoder
        for p in model.encoder_q.parameters():
            p.add_(torch.randn_like(p))
    im_q, im_k = _images(4)
    queue_before = model.queue.clone()
    logits, _ = model(im_q, im_k)
    # No optimizer step happened: encoder_q and the (updated) encoder_k are those the forward used.
    q = _encode(model.encoder_q, im_q)
    k = _encode(model.encoder_k, im_k)  # plain BN: the shuffle does not change the keys
    torch.testing.assert_close(logits[:, 0], (q * k).sum(1) / 0.2, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(logits[:, 1:], q @ queue_before / 0.2, atol=1e-5, rtol=1e-5)


def test_temperature_scales_logits():
    im_q, im_k = _images(4)
    a, _ = _moco(T=0.07)(im_q, im_k)
    b, _ = _moco(T=0.5)(im_q, im_k)
    torch.testing.assert_close(a * 0.07, b * 0.5, atol=1e-6, rtol=1e-5)
    assert a.abs().max() > 1.0 / 0.5  # |cosine| <= 1, so only 1/T can make logits this large


def test_key_encoder_is_a_frozen_copy():
    model = _moco()
    for pq, pk in zip(model.encoder_q.parameters(), model.encoder_k.parameters(), strict=True):
        assert torch.equal(pq, pk)
        assert pq.requires_grad and not pk.requires_grad
    logits, labels = model(*_images(4))
    F.cross_entropy(logits, labels).backward()
    assert all(p.grad is None for p in model.encoder_k.parameters())
    assert all(p.grad is not None for p in model.encoder_q.parameters())


def test_momentum_update_happens_first_with_exact_formula():
    model = _moco(m=0.9)
    with torch.no_grad():
        for p in model.encoder_q.parameters():
            p.add_(torch.randn_like(p))
    q_before = [p.detach().clone() for p in model.encoder_q.parameters()]
    k_before = [p.detach().clone() for p in model.encoder_k.parameters()]
    model(*_images(4))
    for pq, pk, q0, k0 in zip(
        model.encoder_q.parameters(), model.encoder_k.parameters(), q_before, k_before, strict=True
    ):
        assert torch.equal(pq, q0)
        torch.testing.assert_close(pk, 0.9 * k0 + 0.1 * q0, atol=1e-7, rtol=1e-6)


def test_forward_enqueues_keys_and_moves_pointer():
    model = _moco(K=16)
    im_q, im_k = _images(4)
    queue_before = model.queue.clone()
    model(im_q, im_k)
    k = _encode(model.encoder_k, im_k)
    torch.testing.assert_close(model.queue[:, :4], k.T, atol=1e-5, rtol=1e-5)
    assert torch.equal(model.queue[:, 4:], queue_before[:, 4:])
    assert model.queue_ptr.tolist() == [4]


def test_queue_wraps_around_when_K_is_not_a_multiple_of_the_batch():
    model = _moco(dim=2, K=10)
    original = model.queue.clone()
    steps = [torch.full((4, 2), float(s)) + torch.arange(4.0)[:, None] / 10 for s in (1, 2, 3)]
    expected = original.clone()
    for s, keys in enumerate(steps):
        model._dequeue_and_enqueue(keys)
        assert model.queue_ptr.tolist() == [[4, 8, 2][s]]
    expected[:, 2:4] = steps[0][2:4].T  # step 1 wrote 0..3; step 3 overwrote 0, 1
    expected[:, 4:8] = steps[1].T
    expected[:, 8:10] = steps[2][:2].T
    expected[:, 0:2] = steps[2][2:].T
    assert torch.equal(model.queue, expected)


def test_check_batch_size():
    model = _moco(K=16)
    model.check_batch_size(16)
    with pytest.raises(ValueError, match=r"32.*K=16") as info:
        model.check_batch_size(32)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="32"):
        model._dequeue_and_enqueue(torch.randn(32, 8))


def test_mlp_head_and_state_dict_keys():
    model = _moco(mlp=True, dim=8, K=16)
    fc = model.encoder_q.fc
    assert isinstance(fc, nn.Sequential) and len(fc) == 3
    assert isinstance(fc[0], nn.Linear) and fc[0].weight.shape == (6, 6)
    assert isinstance(fc[1], nn.ReLU)
    assert isinstance(fc[2], nn.Linear) and fc[2].weight.shape == (8, 6)
    keys = set(model.state_dict())
    for key in (
        "encoder_q.fc.0.weight",
        "encoder_q.fc.2.weight",
        "encoder_k.fc.0.bias",
        "queue",
        "queue_ptr",
    ):
        assert key in keys
    assert model.queue.shape == (8, 16)
    torch.testing.assert_close(model.queue.norm(dim=0), torch.ones(16))
    assert model.queue_ptr.dtype == torch.long and model.queue_ptr.shape == (1,)
    assert torch.equal(model.encoder_k.fc[0].weight, model.encoder_q.fc[0].weight)


def test_torchvision_resnet_with_split_bn_works_as_is():
    torch.manual_seed(0)
    model = MoCo(functools.partial(torchvision.models.resnet18, norm_layer=split_bn(2)), K=32, mlp=True)
    assert isinstance(model.encoder_k.bn1, SplitBatchNorm2d)
    assert model.state_dict()["encoder_q.fc.0.weight"].shape == (512, 512)
    assert model.state_dict()["encoder_q.fc.2.weight"].shape == (128, 512)
    logits, _ = model(torch.randn(4, 3, 32, 32), torch.randn(4, 3, 32, 32))
    assert logits.shape == (4, 33)


def test_shuffle_bn_groups_keys_by_shuffled_position_and_unshuffles():
    model = _moco(base_encoder=functools.partial(TinyNet, norm_layer=split_bn(2)), K=16)
    im_q, im_k = _images(8)
    im_k[:4] += 3.0  # make the two halves' BN statistics clearly different
    torch.manual_seed(3)
    perm = torch.randperm(8)
    assert sorted(perm[:4].tolist()) != [0, 1, 2, 3] and sorted(perm[:4].tolist()) != [4, 5, 6, 7]
    torch.manual_seed(3)  # the forward's only random draw is the shuffle
    logits, _ = model(im_q, im_k)
    # Keys come back in the original order, each normalised within its shuffled group.
    expected = _encode(model.encoder_k, im_k[perm])[torch.argsort(perm)]
    torch.testing.assert_close(model.queue[:, :8], expected.T, atol=1e-5, rtol=1e-5)
    q = _encode(model.encoder_q, im_q)
    torch.testing.assert_close(logits[:, 0], (q * expected).sum(1) / model.T, atol=1e-4, rtol=1e-5)
    # Without the shuffle the groups differ, and so do the keys.
    unshuffled = _encode(copy.deepcopy(model.encoder_k), im_k)
    assert not torch.allclose(unshuffled, expected, atol=1e-3)
