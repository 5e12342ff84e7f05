"""The losses: NT-Xent against SimCLR eq. (1) term by term, InfoNCE (queue or batch) against MoCo eq. (1)."""

import torch
import torch.nn.functional as F
from reference_losses import naive_moco_end_to_end, naive_nt_xent

from mocobench.losses import cross_entropy, end_to_end_logits, infonce_logits, nt_xent_logits, simclr_loss


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
    torch.testing.assert_close(F.cross_entropy(logits, labels), naive_nt_xent(z, 0.5))


def test_nt_xent_logits_for_a_subset_of_rows_are_those_rows():
    torch.manual_seed(0)
    z = F.normalize(torch.randn(8, 4), dim=1)
    full, full_labels = nt_xent_logits(z, torch.arange(8), T=0.1)
    rows = torch.tensor([2, 3, 6, 7])  # rank 1 of 2 with N=4: views 1 and 2 of samples 2 and 3
    part, part_labels = nt_xent_logits(z, rows, T=0.1)
    torch.testing.assert_close(part, full[rows])
    assert torch.equal(part_labels, full_labels[rows])


def test_infonce_logits_are_mocos_eq1():
    torch.manual_seed(0)
    q, k = F.normalize(torch.randn(4, 6), dim=1), F.normalize(torch.randn(4, 6), dim=1)
    queue = F.normalize(torch.randn(6, 5), dim=0)
    logits, labels = infonce_logits(q, k, queue, T=0.2)
    assert logits.shape == (4, 6) and labels.tolist() == [0, 0, 0, 0]  # the positive key first
    for i in range(4):
        torch.testing.assert_close(logits[i, 0], q[i] @ k[i] / 0.2)
        torch.testing.assert_close(logits[i, 1:], q[i] @ queue / 0.2)


def test_end_to_end_logits_are_mocos_eq1_with_the_batch_as_dictionary():
    """N logits per query, its own key the positive (MoCo paper sec. 4.1), against eq. (1) written out."""
    torch.manual_seed(0)
    q, k = F.normalize(torch.randn(6, 5), dim=1), F.normalize(torch.randn(6, 5), dim=1)
    logits, labels = end_to_end_logits(q, k, 0, T=0.2)
    assert logits.shape == (6, 6) and labels.tolist() == [0, 1, 2, 3, 4, 5]
    for i in range(6):
        torch.testing.assert_close(logits[i], torch.stack([q[i] @ k[j] for j in range(6)]) / 0.2)
    torch.testing.assert_close(cross_entropy(logits, labels), naive_moco_end_to_end(q, k, 0.2))
    # A process holding queries 2..3 of the global batch: its rows of the logits, labelled by global index.
    part, part_labels = end_to_end_logits(q[2:4], k, 2, T=0.2)
    torch.testing.assert_close(part, logits[2:4])
    assert part_labels.tolist() == [2, 3]


def test_end_to_end_logits_are_fp32_under_autocast():
    q = F.normalize(torch.randn(4, 8), dim=1).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, _ = end_to_end_logits(q, q, 0, T=0.07)
    assert logits.dtype == torch.float32


def test_simclr_loss_is_their_sum_of_two_directions():
    """SimCLR's objective.py as written (L79-90@85e8552): logits_ab|aa and logits_ba|bb with self-similarity
    masked by LARGE_NUM, loss = loss_a + loss_b, each a mean over the N anchors of one view."""
    torch.manual_seed(0)
    n, t = 5, 0.1
    z = F.normalize(torch.randn(2 * n, 8), dim=1)
    h1, h2 = z[:n], z[n:]
    masks = torch.eye(n) * 1e9
    logits_aa, logits_bb = h1 @ h1.T / t - masks, h2 @ h2.T / t - masks
    logits_ab, logits_ba = h1 @ h2.T / t, h2 @ h1.T / t
    labels = torch.arange(n)
    loss_a = F.cross_entropy(torch.cat([logits_ab, logits_aa], 1), labels)
    loss_b = F.cross_entropy(torch.cat([logits_ba, logits_bb], 1), labels)
    ours = simclr_loss(*nt_xent_logits(z, torch.arange(2 * n), T=t))
    torch.testing.assert_close(ours, loss_a + loss_b)
