"""The epoch order: deterministic global batches whose rank slices rebuild the single-process batch."""

from __future__ import annotations

import pytest

from mocobench.errors import UsageError
from mocobench.loading.order import GlobalBatchSampler


def test_rank_slices_rebuild_the_global_batch():
    single = list(GlobalBatchSampler(50, 8, seed=1))
    ranks = [list(GlobalBatchSampler(50, 8, rank=r, world_size=2, seed=1)) for r in range(2)]
    assert len(single) == 6  # drop_last
    for b, batch in enumerate(single):
        assert ranks[0][b] + ranks[1][b] == batch
    indices = [i for batch in single for _, i in batch]
    assert len(set(indices)) == len(indices)


def test_sampler_is_seeded_per_epoch():
    s = GlobalBatchSampler(40, 8, seed=0)
    first = list(s)
    assert list(s) == first
    s.set_epoch(1)
    assert [i for b in s for _, i in b] != [i for b in first for _, i in b]


def test_sampler_rejects_bad_batches():
    with pytest.raises(UsageError, match="not divisible by the 3 processes"):
        GlobalBatchSampler(40, 8, world_size=3)
    with pytest.raises(UsageError, match="fewer than one batch"):
        GlobalBatchSampler(5, 8)
