"""MoCo's shuffle BN (methods/shuffle_bn.py): the groups follow the images per group at any world size."""

from __future__ import annotations

import pytest

from mocobench.errors import UsageError
from mocobench.methods.shuffle_bn import splits_per_process as bn_splits_per_process
from mocobench.models.batchnorm import SplitBatchNorm2d
from mocobench.run.build import build_model
from mocobench.run.config import resolve


def test_the_paper_group_of_32_gives_8_groups_in_one_process_and_1_on_8_gpus():
    config = resolve("mlp+aug+cos", "paper")
    assert config.method.bn_group == 32 and config.optim.batch_size == 256
    assert [bn_splits_per_process(config, w) for w in (1, 2, 4, 8)] == [8, 4, 2, 1]
    wide = config.replace(batch_size=512, lr=0.06)  # 16 GPUs (README: 2 nodes x 8)
    assert bn_splits_per_process(wide, 16) == 1


def test_a_world_size_the_group_does_not_fit_names_the_fix():
    config = resolve("mlp+aug+cos", "paper")
    with pytest.raises(UsageError, match=r"16 images each.*--set batch_size=512 --set lr=0\.06 on 16"):
        bn_splits_per_process(config, 16)
    with pytest.raises(UsageError, match="not a multiple of the 32 images"):
        bn_splits_per_process(config, 3)


def test_the_model_splits_its_batchnorm_accordingly():
    config = resolve("mlp+aug+cos", "smoke", ["arch=resnet18"])  # batch 16, 4 images per group
    bns = [m for m in build_model(config, 10, 1).encoder_k.modules() if isinstance(m, SplitBatchNorm2d)]
    assert bns and {m.num_splits for m in bns} == {4}
    assert not [m for m in build_model(config, 10, 4).encoder_k.modules() if isinstance(m, SplitBatchNorm2d)]
