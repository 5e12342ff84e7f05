"""Two views per image from an FFCV `.beton`: each image decoded once, cropped twice (`ffcv_kernels`).

Crop boxes follow torchvision's `RandomResizedCrop.get_params` (same 10 tries, rounding and centre-crop
fallback); FFCV draws the offsets as int(uniform(0, n + 1)) instead of randint(0, n + 1) (the same
distribution) from numba's float64 generator instead of torch's float32 one. Resizing
(`ffcv_kernels.resize_view`): a crop smaller than the view on a side (every crop of a 32-px image) is
resized as PIL's bilinear does, bit for bit; a crop it shrinks on both sides by OpenCV's INTER_AREA (a box
filter, within a level of PIL's antialiased bilinear, and OpenCV's speed).

Reproducible: FFCV's augmentations draw from numba's per-thread generators, seeded from OS entropy, so its
stock crops differ from run to run. Here the decoding thread's generator is seeded per sample from (seed,
epoch, index) before drawing, so the crops depend on nothing else (threads, batch size, resumption). The
epoch reaches the compiled code through a two-word control block read by address. With
`colour_in_loader`, `cpu_colour.apply_colour` runs on each view with a generator seeded the same way.

Order: FFCV's `OrderOption.RANDOM` with `distributed=True` builds torch's `DistributedSampler` without
`num_replicas`/`rank`, so it needs an initialised process group, and deals samples to ranks by stride. Each
epoch's order is handed to FFCV's epoch iterator here instead: `order.epoch_order` (a permutation per (seed,
epoch) cut into global batches of `batch_size * world_size`, rank r taking the r-th contiguous slice), the
folder loaders' order. No process group is needed, and since the views depend on (seed, epoch, index) only,
the ranks' batches gathered in rank order are the single-process batches, bit for bit.

Other ffcv 1.0.2 behaviour worked around: its Loader sets torch's thread count (`_build_loader`,
`__iter__`); `num_workers` above NUMBA_NUM_THREADS fails inside numba (clamped with a warning); see also
`ffcv_kernels`.

Yielded tensors alias FFCV's rotating output buffers: use (or copy) a batch before drawing ~3 more.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mocobench.augment.spec import ViewSpec
from mocobench.errors import UsageError
from mocobench.loading.ffcv_beton import read_sidecar, require_ffcv
from mocobench.loading.ffcv_kernels import (
    colour_op_class,
    decoder_class,
    epoch_iterator_class,
    kernels,
    patch_ffcv,
)
from mocobench.loading.order import epoch_order
from mocobench.runtime.seeds import colour_entropy

BATCHES_AHEAD = 3


def _numba_threads() -> int:
    import numba

    return int(numba.config.NUMBA_NUM_THREADS)


def _check_beton(beton: Path) -> None:
    if not beton.is_file():
        raise UsageError(
            f"FFCV dataset {beton} does not exist; write it first (mocobench data to-ffcv) "
            "or use another loader"
        )
    meta = read_sidecar(beton)
    if meta is not None and meta.get("bytes") != beton.stat().st_size:
        raise UsageError(
            f"FFCV dataset {beton} does not match its sidecar {beton}.json (partly rewritten?); "
            "write it again with mocobench data to-ffcv"
        )


class TwoViewFFCV:
    """Iterable of `(views, labels)` batches from a beton written by `ffcv_writer.write_beton`.

    `views` is uint8 (B, 2, 3, S, S) (channels-last strides), view 0 the query, view 1 the key; `labels`
    int64 (B,). `batch_size` is per process. Crops, flips and colour draws are functions of
    (seed, epoch, sample index); call `set_epoch` before each epoch (as with `GlobalBatchSampler`:
    iterating again without it repeats the epoch). `_image_pipelines` and `_views` are where the tests'
    reference loaders (FFCV's stock two-decode path) plug in.
    """

    def __init__(
        self,
        beton: Path,
        spec: ViewSpec,
        batch_size: int,
        *,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        workers: int = 2,
        colour_in_loader: bool = False,
        drop_last: bool = True,
        os_cache: bool = True,
    ) -> None:
        require_ffcv()
        if batch_size < 1 or not 0 <= rank < world_size:
            raise UsageError(
                f"batch_size {batch_size}, rank {rank}, world_size {world_size}: need batch_size >= 1 and "
                "0 <= rank < world_size"
            )
        beton = Path(beton)
        _check_beton(beton)
        self.beton, self.spec, self.batch_size = beton, spec, int(batch_size)
        self.rank, self.world_size, self.seed = int(rank), int(world_size), int(seed)
        self.drop_last = bool(drop_last)
        self.workers = self._clamp_workers(int(workers))
        self.epoch = 0
        self.running_epoch = 0  # the epoch the FFCV thread is producing (read by the colour stage)
        self._control = np.zeros(2, dtype=np.int64)  # [seed, epoch] read by the compiled decoder
        self._control[0] = self.seed
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._apply_colour: Callable | None = None
        if colour_in_loader:
            from mocobench.augment.cpu_colour import apply_colour

            self._apply_colour = apply_colour
        self._loader = self._build_loader(os_cache)
        self.size = int(self._loader.reader.num_samples)
        if self.drop_last and self.size < self.batch_size * self.world_size:
            raise UsageError(
                f"{beton.name} has {self.size} images, fewer than one batch of "
                f"{self.batch_size * self.world_size}; use more data or a smaller batch (--set batch_size=N)"
            )

    @staticmethod
    def _clamp_workers(workers: int) -> int:
        limit = _numba_threads()
        if workers < 1:
            return limit
        if workers > limit:
            warnings.warn(
                f"FFCV workers {workers} > NUMBA_NUM_THREADS={limit} (numba's thread pool, fixed at "
                f"start-up); using {limit}. Set NUMBA_NUM_THREADS={workers} before starting to use more.",
                stacklevel=3,
            )
            return limit
        return workers

    def _build_loader(self, os_cache: bool) -> Any:
        from ffcv.fields.basics import IntDecoder
        from ffcv.loader import Loader, OrderOption
        from ffcv.pipeline import PipelineSpec

        patch_ffcv()
        ColourOp = colour_op_class() if self._apply_colour is not None else None
        pipelines: dict[str, Any] = {"label": PipelineSpec("label", decoder=IntDecoder(), transforms=[])}
        pipelines.update(self._image_pipelines(ColourOp))
        import numba

        # FFCV's Loader sets torch's and numba's thread counts in this thread to num_workers; put them back.
        torch_threads, numba_threads = torch.get_num_threads(), numba.get_num_threads()
        try:
            loader = Loader(
                os.fspath(self.beton),
                batch_size=self.batch_size,
                num_workers=self.workers,
                os_cache=os_cache,
                order=OrderOption.SEQUENTIAL,  # unused: __iter__ hands each epoch's order to the iterator
                seed=self.seed,
                pipelines=pipelines,
                drop_last=self.drop_last,
                batches_ahead=BATCHES_AHEAD,
            )
        except (AssertionError, ValueError, KeyError, OSError) as e:
            raise UsageError(
                f"cannot read FFCV dataset {self.beton} ({type(e).__name__}: {e}); "
                "write it again with mocobench data to-ffcv"
            ) from e
        finally:
            torch.set_num_threads(torch_threads)
            numba.set_num_threads(numba_threads)
        names = list(loader.reader.handlers)
        if names[:2] != ["image", "label"]:
            raise UsageError(
                f"{self.beton} has fields {names}, not (image, label); write it with mocobench data to-ffcv"
            )
        self._names = list(loader.pipeline_specs)
        return loader

    def _image_pipelines(self, ColourOp: type | None) -> dict[str, Any]:
        """The image field's FFCV pipeline: one decode, two crops, colour on both views when asked."""
        from ffcv.pipeline import PipelineSpec

        spec = self.spec
        decoder = decoder_class()(
            spec.image_size, spec.crop_scale, spec.crop_ratio, spec.flip_p, self._control
        )
        ops = [ColourOp(self, (0, 1))] if ColourOp else []
        return {"image": PipelineSpec("image", decoder=decoder, transforms=ops)}

    def _views(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """(B, 2, S, S, 3) uint8 views of one batch of the pipelines' outputs."""
        return batch["image"]

    def __len__(self) -> int:
        """Batches per epoch (per process): full global batches, plus the padded tail without drop_last."""
        full, tail = divmod(self.size, self.batch_size * self.world_size)
        return full + int(bool(tail) and not self.drop_last)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def order(self, epoch: int | None = None) -> np.ndarray:
        """This process's sample indices of `epoch` (default: the current one), in yield order."""
        epoch = self.epoch if epoch is None else epoch
        order = epoch_order(
            self.size, self.batch_size, self.rank, self.world_size, self.seed, epoch, self.drop_last
        )
        return order[: len(self) * self.batch_size]

    def crop_boxes(self, index: int, epoch: int | None = None) -> np.ndarray:
        """(2, 5) int64 rows (top, left, height, width, flip) of sample `index`'s two views in `epoch`.

        The same draws the compiled decoder makes; for checks and debugging.
        """
        epoch = self.epoch if epoch is None else epoch
        field = self._loader.reader.metadata["f0"][index]
        k = kernels()
        return k.draw_boxes(
            np.int64(field["height"]),
            np.int64(field["width"]),
            np.array(self.spec.crop_scale, dtype=np.float64),
            np.array(self.spec.crop_ratio, dtype=np.float64),
            float(self.spec.flip_p),
            k.seed32(self.seed, epoch, index),
        )

    def colour_batch(
        self, src: np.ndarray, dst: np.ndarray, indices: np.ndarray, views: tuple[int, ...], epoch: int
    ) -> None:
        """`apply_colour` on every view of the batch, `workers` threads (OpenCV releases the GIL)."""
        n, nv = len(indices), len(views)
        src5 = src.reshape(n, nv, *src.shape[-3:])
        dst5 = dst[:n].reshape(n, nv, *src.shape[-3:])
        ops, apply = self.spec.colour, self._apply_colour
        assert apply is not None
        seed = self.seed

        def work(start: int) -> None:
            for i in range(start, n, self.workers):
                index = int(indices[i])
                for k, v in enumerate(views):
                    rng = np.random.default_rng(colour_entropy(seed, epoch, index, v))
                    dst5[i, k] = apply(np.ascontiguousarray(src5[i, k]), ops, rng)

        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="ffcv-colour")
            pool = self._pool
        for f in [pool.submit(work, s) for s in range(self.workers)]:
            f.result()

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch = self.epoch
        self._control[1] = epoch  # read by the decoder at each batch of the epoch started below
        self.running_epoch = epoch
        order = self.order(epoch)
        # What `ffcv.Loader.__iter__` does, minus its `Compiler.set_num_threads` in this thread (which also
        # sets torch's thread count), with an epoch iterator that passes its thread's errors on.
        it = epoch_iterator_class()(self._loader, order)
        try:
            for batch in it:
                out = dict(zip(self._names, batch, strict=True))
                labels = torch.from_numpy(np.array(out["label"], dtype=np.int64).reshape(-1))
                yield torch.from_numpy(self._views(out)).permute(0, 1, 4, 2, 3), labels
        finally:
            it.close()

    def close(self) -> None:
        """Stop the colour threads (the FFCV thread stops with its epoch)."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
