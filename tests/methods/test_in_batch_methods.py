"""The end-to-end rows build MoCo's end-to-end with MoCo's shuffle-BN groups; the SimCLR rows NT-Xent."""

from __future__ import annotations

import pytest
from torch import nn

from mocobench.errors import UsageError
from mocobench.losses import cross_entropy
from mocobench.methods.shuffle_bn import splits_per_process as bn_splits_per_process
from mocobench.models.batchnorm import SplitBatchNorm2d
from mocobench.models.end_to_end import EndToEnd, SimCLR
from mocobench.run.build import build_model
from mocobench.run.config import method_of, resolve


def _splits(model: nn.Module) -> set[int]:
    return {
        m.num_splits if isinstance(m, SplitBatchNorm2d) else 1
        for m in model.modules()
        if isinstance(m, nn.BatchNorm2d)
    }


def test_end_to_end_splits_its_batchnorm_as_moco_does():
    config = resolve("end-to-end-b256", "smoke", ["arch=resnet18"])  # batch 16, 4 images per group
    model = build_model(config, 10, 1)
    assert isinstance(model, EndToEnd) and method_of(config).loss is cross_entropy
    assert _splits(model.encoder) == {4}  # one process plays the 4 GPUs' BN groups
    assert _splits(build_model(config, 10, 4).encoder) == {1}  # 4 processes: one group each
    assert set(build_model(config, 10, 2).state_dict()) == set(model.state_dict())  # encoder.*


def test_end_to_end_at_paper_scale_takes_the_paper_groups_of_32():
    config = resolve("end-to-end-b4096", "paper")
    assert [bn_splits_per_process(config, w) for w in (1, 8, 128)] == [128, 16, 1]
    with pytest.raises(UsageError, match="not a multiple of the 32 images per shuffle-BN group"):
        bn_splits_per_process(config, 3)


def test_simclr_rows_keep_nt_xent_and_plain_batchnorm_in_one_process():
    config = resolve("simclr-b256", "smoke", ["arch=resnet18"])
    model = build_model(config, 10, 1)
    assert isinstance(model, SimCLR) and _splits(model.encoder) == {1}
