import torch
import torch.nn.functional as F
from tiny_net import TinyNet
from torch import nn

from mocobench.models.end_to_end import EndToEnd, GlobalBatchNorm, nt_xent_logits, sync_batchnorm


def _naive_nt_xent(z: torch.Tensor, T: float) -> torch.Tensor:
    """SimCLR eq. (1) written out: l(i, j) = -log exp(s_ij/T) / sum_{k != i} exp(s_ik/T), averaged over 2N."""
    n2 = z.shape[0]
    n = n2 // 2
    total = 0.0
    for i in range(n2):
        j = (i + n) % n2
        denom = sum(torch.exp(z[i] @ z[k] / T) for k in range(n2) if k != i)
        total = total - torch.log(torch.exp(z[i] @ z[j] / T) / denom)
    return total / n2


def test_nt_xent_logits_match_naive_loop():
    torch.manual_seed(0)
    z = F.normalize(torch.randn(10, 4), dim=1)
    rows = torch.arange(10)
    logits, labels = nt_xent_logits(z, rows, T=0.5)
    assert logits.shape == (10, 9)  # 1 positive + 2N-2 = 8 negatives
    for i in range(10):
        others = [k for k in range(10) if k != i]
        torch.testing.assert_close(logits[i], torch.stack([z[i] @ z[k] for k in others]) / 0.5)
        assert others[labels[i]] == (i + 5) % 10
    torch.testing.assert_close(F.cross_entropy(logits, labels), _naive_nt_xent(z, 0.5))


def test_nt_xent_logits_for_a_subset_of_rows_are_those_rows():
    torch.manual_seed(0)
    z = F.normalize(torch.randn(8, 4), dim=1)
    full, full_labels = nt_xent_logits(z, torch.arange(8), T=0.1)
    rows = torch.tensor([2, 3, 6, 7])  # rank 1 of 2 with N=4: views 1 and 2 of samples 2 and 3
    part, part_labels = nt_xent_logits(z, rows, T=0.1)
    torch.testing.assert_close(part, full[rows])
    assert torch.equal(part_labels, full_labels[rows])


def test_end_to_end_loss_equals_naive_and_gradients_flow_through_both_views():
    torch.manual_seed(0)
    model = EndToEnd(TinyNet, dim=8, T=0.1, mlp=True)
    assert isinstance(model.encoder.fc, nn.Sequential)
    im_q = torch.randn(3, 3, 8, 8, requires_grad=True)
    im_k = torch.randn(3, 3, 8, 8, requires_grad=True)
    logits, labels = model(im_q, im_k)
    assert logits.shape == (6, 5) and labels.tolist() == [2, 3, 4, 0, 1, 2]
    loss = F.cross_entropy(logits, labels)
    z = F.normalize(model.encoder(torch.cat([im_q, im_k])), dim=1)
    torch.testing.assert_close(loss, _naive_nt_xent(z, 0.1), atol=1e-5, rtol=1e-5)
    loss.backward()
    assert im_q.grad.abs().sum() > 0 and im_k.grad.abs().sum() > 0
    assert all(p.grad is not None for p in model.encoder.parameters())


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
