import torch
import torch.nn.functional as F
from reference_losses import naive_nt_xent
from tiny_net import TinyNet
from torch import nn

from mocobench.models.end_to_end import EndToEnd


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
    torch.testing.assert_close(loss, naive_nt_xent(z, 0.1), atol=1e-5, rtol=1e-5)
    loss.backward()
    assert im_q.grad.abs().sum() > 0 and im_k.grad.abs().sum() > 0
    assert all(p.grad is not None for p in model.encoder.parameters())


def test_simclr_rows_take_simclrs_head():
    """SimCLR v1's projection head (model_util.py L92-120@85e8552): Dense -> BN -> ReLU -> Dense -> BN, no
    dense biases, kernels N(0, 0.01), the last BN without an offset."""
    import torchvision

    torch.manual_seed(0)
    model = EndToEnd(torchvision.models.resnet18, dim=128, T=0.1, mlp=True, head="simclr")
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
