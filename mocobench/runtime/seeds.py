"""The seed convention: every random draw of a run is a function of (seed, epoch, index or step).

So a resumed run repeats exactly what an uninterrupted one would have drawn, and N processes draw what one
process with the whole batch draws (the DDP and resume tests check both, bit for bit). Each stream has its
own formula here, so no two streams share a generator state:

- `epoch_permutation`: the order of the training set in an epoch (cut into global batches, `loading.order`);
- `sample_seed`: a sample's augmentation (crops, flips, colour) in the folder loaders;
- `sample_seed32`: the same role inside FFCV's compiled loop, whose generator takes 32-bit seeds
  (`loading.ffcv_kernels` compiles a twin of it; a test holds the two equal);
- `colour_entropy`: colour drawn in FFCV's loader threads, one generator per view;
- `step_seed`: the shuffle-BN permutation of a step (the same on every rank, MoCo sec. 3.3);
- `device_draw_seed`: colour drawn on the device for one step of one rank.
"""

from __future__ import annotations

import torch

_MASK64 = (1 << 64) - 1
_COLOUR_SALT = 0xC0104  # keeps the FFCV colour generators apart from any other use of (seed, epoch, index)


def epoch_permutation(size: int, seed: int, epoch: int) -> torch.Tensor:
    """The permutation of `size` training samples for `epoch` (torch's randperm on its own generator)."""
    g = torch.Generator().manual_seed(seed * 7919 + epoch)
    return torch.randperm(size, generator=g)


def sample_seed(seed: int, epoch: int, index: int) -> int:
    return ((seed * 1_000_003 + epoch) * 10_000_019 + index) % (2**63 - 1)


def sample_seed32(seed: int, epoch: int, index: int) -> int:
    """splitmix64 of (seed, epoch, index), top 32 bits: a sample's crop seed in FFCV's compiled loop."""

    def mix(x: int) -> int:
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
        return x ^ (x >> 31)

    h = mix((seed + 0x9E3779B97F4A7C15) & _MASK64)
    h = mix((h ^ epoch) & _MASK64)
    h = mix((h ^ index) & _MASK64)
    return h >> 32


def colour_entropy(seed: int, epoch: int, index: int, view: int) -> list[int]:
    """Entropy for `numpy.random.default_rng` of one view's colour draws in FFCV's loader threads."""
    return [seed, epoch, index, view, _COLOUR_SALT]


def step_seed(seed: int, epoch: int, step: int) -> int:
    return (seed * 1_000_003 + epoch) * 100_003 + step + 1


def device_draw_seed(seed: int, epoch: int, step: int, rank: int) -> int:
    """Colour augmentation drawn on the training device: per step and per rank (each rank its own views)."""
    return step_seed(seed, epoch, step) * 1009 + rank
