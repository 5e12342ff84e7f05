"""MoCo's end-to-end mechanism (MoCo paper sec. 4.1, Fig. 2a; shuffle BN sec. 3.3) and SimCLR's NT-Xent."""

import copy
import functools

import torch
import torch.nn.functional as F
from reference_losses import naive_moco_end_to_end, naive_nt_xent
from tiny_net import TinyNet
from torch import nn

from mocobench.models.batchnorm import split_bn
from mocobench.models.end_to_end import EndToEnd, SimCLR

T = 0.2


def _model(splits: int = 1) -> EndToEnd:
    torch.manual_seed(0)
    return EndToEnd(functools.partial(TinyNet, norm_layer=split_bn(splits)), dim=8, T=T, mlp=True)


def _images(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    im_q, im_k = torch.randn(n, 3, 8, 8, generator=g), torch.randn(n, 3, 8, 8, generator=g)
    im_k[: n // 2] += 3.0  # the two halves' BN statistics clearly differ
    return im_q, im_k


def _shuffled_perm(n: int, seed: int = 3) -> torch.Tensor:
    """The permutation the forward draws after torch.manual_seed(seed) (its only random draw)."""
    torch.manual_seed(seed)
    perm = torch.randperm(n)
    # The draw mixes the halves, so shuffled groups differ from the natural ones.
    assert sorted(perm[: n // 2].tolist()) not in (list(range(n // 2)), list(range(n // 2, n)))
    return perm


def _reference(model: EndToEnd, im_q, im_k, perm) -> tuple[torch.Tensor, torch.Tensor]:
    """q from the batch in order, k from the batch shuffled by `perm` then unshuffled (same encoder)."""
    q = F.normalize(model.encoder(im_q), dim=1)
    k = F.normalize(model.encoder(im_k[perm]), dim=1)[torch.argsort(perm)]
    return q, k


def test_logits_are_n_by_n_and_each_label_is_the_querys_own_key():
    model = _model()
    logits, labels = model(*_images(6))
    assert logits.shape == (6, 6) and logits.dtype == torch.float32
    assert labels.dtype == torch.long and labels.tolist() == [0, 1, 2, 3, 4, 5]
    assert isinstance(model.encoder.fc, nn.Sequential) and len(model.encoder.fc) == 3  # MoCo v2's head
    assert set(model.state_dict()) >= {"encoder.conv.weight", "encoder.fc.0.weight", "encoder.fc.2.weight"}


def test_keys_are_batchnormed_in_shuffled_groups_and_queries_in_their_own():
    """Two BN groups in one process, as two GPUs: the queries in order, the keys shuffled (MoCo sec. 3.3)."""
    model = _model(splits=2)
    im_q, im_k = _images(8)
    perm = _shuffled_perm(8)
    torch.manual_seed(3)
    logits, _ = model(im_q, im_k)
    with torch.no_grad():
        q, k = _reference(model, im_q, im_k, perm)
        torch.testing.assert_close(logits, q @ k.T / T, atol=1e-5, rtol=1e-5)
        # Keys normalised in the natural groups (no shuffle) would differ: the shuffle is what is tested.
        k_natural = F.normalize(model.encoder(im_k), dim=1)
        assert not torch.allclose(k_natural, k, atol=1e-3)


def test_loss_is_mocos_end_to_end_infonce_and_gradients_reach_the_encoder_through_the_keys():
    model = _model(splits=2)
    im_q, im_k = _images(8)
    perm = _shuffled_perm(8)
    reference, detached = copy.deepcopy(model), copy.deepcopy(model)
    torch.manual_seed(3)
    loss = F.cross_entropy(*model(im_q, im_k))
    loss.backward()

    q, k = _reference(reference, im_q, im_k, perm)
    ref_loss = naive_moco_end_to_end(q, k, T)
    torch.testing.assert_close(loss, ref_loss, atol=1e-5, rtol=1e-5)
    ref_loss.backward()
    for (name, p), p_ref in zip(model.named_parameters(), reference.parameters(), strict=True):
        assert p.grad is not None, name
        torch.testing.assert_close(p.grad, p_ref.grad, atol=1e-5, rtol=1e-4, msg=name)

    # The same loss with the keys cut from the graph (MoCo's no_grad keys) has another gradient.
    q, k = _reference(detached, im_q, im_k, perm)
    naive_moco_end_to_end(q, k.detach(), T).backward()
    grad = torch.cat([p.grad.flatten() for p in model.parameters()])
    grad_without_keys = torch.cat([p.grad.flatten() for p in detached.parameters()])
    assert (grad - grad_without_keys).abs().max() > 1e-3 * grad.abs().max()


def test_simclr_rows_keep_nt_xent_over_both_views():
    torch.manual_seed(0)
    model = SimCLR(TinyNet, dim=8, T=0.1, mlp=False)
    im_q = torch.randn(3, 3, 8, 8, requires_grad=True)
    im_k = torch.randn(3, 3, 8, 8, requires_grad=True)
    logits, labels = model(im_q, im_k)
    assert logits.shape == (6, 5) and labels.tolist() == [2, 3, 4, 0, 1, 2]
    loss = F.cross_entropy(logits, labels)
    z = F.normalize(model.encoder(torch.cat([im_q, im_k])), dim=1)
    torch.testing.assert_close(loss, naive_nt_xent(z, 0.1), atol=1e-5, rtol=1e-5)
    loss.backward()
    assert im_q.grad.abs().sum() > 0 and im_k.grad.abs().sum() > 0
    assert all(p.grad is not None for p in model.encoder.parameters())


def test_simclr_rows_take_simclrs_head():
    """SimCLR v1's projection head (model_util.py L92-120@85e8552): Dense -> BN -> ReLU -> Dense -> BN, no
    dense biases, kernels N(0, 0.01), the last BN without an offset."""
    import torchvision

    torch.manual_seed(0)
    model = SimCLR(torchvision.models.resnet18, dim=128, T=0.1, mlp=True)
    head = model.encoder.fc
    assert [type(m) for m in head] == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear, nn.BatchNorm1d]
    assert head[0].bias is None and head[3].bias is None
    assert (head[0].in_features, head[0].out_features, head[3].out_features) == (512, 512, 128)
    stds = [float(head[i].weight.detach().std()) for i in (0, 3)]
    assert all(abs(s - 0.01) < 0.001 for s in stds)
    assert not head[4].bias.requires_grad and torch.equal(head[4].bias, torch.zeros(128))
    assert head[1].bias.requires_grad  # the first BN keeps its offset (center=True)
    logits, _ = model(torch.randn(4, 3, 32, 32), torch.randn(4, 3, 32, 32))
    assert logits.shape == (8, 7) and logits.dtype == torch.float32
