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
