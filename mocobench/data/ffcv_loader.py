"""Two views per image from an FFCV `.beton`: each JPEG decoded once, cropped twice (`decode="once"`).

`TwoCropRGBImageDecoder` is an FFCV decoder `Operation` for `RGBImageField`: in FFCV's numba-compiled batch
loop (parallel over samples, `num_workers` threads) it decodes one stored image with libffcv's `imdecode`
into a scratch buffer, then draws two independent RandomResizedCrop boxes with FFCV's `get_random_crop`,
resizes each to S x S with libffcv's `resize_crop` (OpenCV INTER_AREA, as FFCV's own decoders) and flips
each with probability `flip_p`. One sample's output is (2, S, S, 3) uint8: view 0 the query, view 1 the key.
`decode="twice"` is FFCV's stock path for comparison: two pipelines on the same field, each with
`RandomResizedCropRGBImageDecoder` + `RandomHorizontalFlip` (two decodes per pair).

Crop boxes follow torchvision's `RandomResizedCrop.get_params` (same 10 tries, rounding and centre-crop
fallback); FFCV draws the offsets as int(uniform(0, n + 1)) instead of randint(0, n + 1) (the same
distribution) from numba's float64 generator instead of torch's float32 one. Resizing is OpenCV INTER_AREA
(box filter when shrinking, close to nearest-neighbour when enlarging), not torchvision's bilinear.

Reproducible: FFCV's augmentations draw from numba's per-thread generators, seeded from OS entropy, so its
stock crops differ from run to run. `decode="once"` seeds the generator of the decoding thread per sample
from (seed, epoch, index) before drawing, so the crops depend on nothing else (threads, batch size,
resumption). The epoch reaches the compiled code through a two-word control block read by address.
With `colour_in_loader`, `cpu_colour.apply_colour` runs on each view with a generator seeded the same way.

Order: FFCV's `OrderOption.RANDOM` with `distributed=True` builds torch's `DistributedSampler` without
`num_replicas`/`rank`, so it needs an initialised process group, and deals samples to ranks by stride. Each
epoch's order is handed to FFCV's epoch iterator here instead: `folder.GlobalBatchSampler`'s (a permutation
per (seed, epoch) cut into global batches of `batch_size * world_size`, rank r taking the r-th contiguous
slice). No process group is needed, and since the views depend on (seed, epoch, index) only, the ranks'
batches gathered in rank order are the single-process batches, bit for bit.

Other ffcv 1.0.2 behaviour worked around: an exception in its epoch thread left the consumer waiting
forever (`_epoch_iterator_class`); its Loader sets torch's thread count (`_build_loader`, `__iter__`); its
OS-cache reader corrupts numba type hashes (`_patch_ffcv`); `num_workers` above NUMBA_NUM_THREADS fails
inside numba (clamped with a warning).

Yielded tensors alias FFCV's rotating output buffers: use (or copy) a batch before drawing ~3 more.
"""

from __future__ import annotations

import importlib
import os
import threading
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from mocobench.data.aug_spec import ViewSpec
from mocobench.data.ffcv_io import read_sidecar, require_ffcv
from mocobench.errors import UsageError

DECODE_MODES = ("once", "twice")
COLOUR_STAGES = ("pipeline", "iterator")
BATCHES_AHEAD = 3
_COLOUR_SALT = 0xC0104  # keeps the colour generators apart from any other use of (seed, epoch, index)
_MASK64 = (1 << 64) - 1


def sample_seed32(seed: int, epoch: int, index: int) -> int:
    """The crop seed of one sample (pure Python twin of the compiled `seed32` kernel, for checks)."""

    def mix(x: int) -> int:
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
        return x ^ (x >> 31)

    h = mix((seed + 0x9E3779B97F4A7C15) & _MASK64)
    h = mix((h ^ epoch) & _MASK64)
    h = mix((h ^ index) & _MASK64)
    return h >> 32


@cache
def _kernels() -> SimpleNamespace:
    """Numba kernels, compiled on first use (ffcv is an optional dependency)."""
    import numba as nb
    from ffcv.libffcv import imdecode
    from ffcv.transforms.utils.fast_crop import get_random_crop, resize_crop
    from ffcv.utils import cast_int_to_byte_ptr

    imdecode_c = nb.njit(nogil=True)(imdecode)
    u64 = np.uint64

    @nb.njit(nogil=True, inline="always")
    def mix(x):  # splitmix64 finaliser
        x = (x ^ (x >> u64(30))) * u64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> u64(27))) * u64(0x94D049BB133111EB)
        return x ^ (x >> u64(31))

    @nb.njit(nogil=True)
    def seed32(seed, epoch, index):
        h = mix(u64(seed) + u64(0x9E3779B97F4A7C15))
        h = mix(h ^ u64(epoch))
        h = mix(h ^ u64(index))
        return np.uint32(h >> u64(32))

    @nb.njit(nogil=True)
    def read_control(address):
        words = nb.carray(cast_int_to_byte_ptr(address), 16).view(np.int64)
        return words[0], words[1]

    @nb.njit(nogil=True)
    def draw_boxes(height, width, scale, ratio, flip_p, seed):
        """(2, 5) rows (top, left, height, width, flip) of the two views of one sample."""
        np.random.seed(seed)  # this thread's generator: the draws depend on the sample only
        boxes = np.empty((2, 5), np.int64)
        for v in range(2):
            i, j, h, w = get_random_crop(height, width, scale, ratio)
            boxes[v, 0], boxes[v, 1], boxes[v, 2], boxes[v, 3] = i, j, h, w
            boxes[v, 4] = np.random.random() < flip_p
        return boxes

    @nb.njit(nogil=True)
    def hflip(view):
        size = view.shape[1]
        for r in range(view.shape[0]):
            for c in range(size // 2):
                for ch in range(3):
                    t = view[r, c, ch]
                    view[r, c, ch] = view[r, size - 1 - c, ch]
                    view[r, size - 1 - c, ch] = t

    @nb.njit(nogil=True)
    def two_crops(data, is_jpeg, height, width, out, scale, ratio, flip_p, seed):
        """Decode `data` once, write both views of the sample into `out` (2, S, S, 3)."""
        if is_jpeg:
            image = np.empty((height, width, 3), np.uint8)  # scratch, the size of this image only
            imdecode_c(data, image, height, width, height, width, 0, 0, 1, 1, False, False)
        else:
            image = data.reshape(height, width, 3)
        boxes = draw_boxes(height, width, scale, ratio, flip_p, seed)
        for v in range(2):
            i, j, h, w = boxes[v, 0], boxes[v, 1], boxes[v, 2], boxes[v, 3]
            resize_crop(image, i, i + h, j, j + w, out[v])
            if boxes[v, 4]:
                hflip(out[v])

    return SimpleNamespace(
        seed32=seed32, read_control=read_control, draw_boxes=draw_boxes, two_crops=two_crops
    )


@cache
def _patch_ffcv() -> None:
    """Fix ffcv 1.0.2's `OSCacheManager.state_type`, which sets `mutable = False` on numba array types after
    creating them: their hash changes while numba keeps them as dict keys, so dispatchers that saw them
    fail later (KeyError in numba's overload tables: "Exception ignored in finalize" when a loader is
    collected, or a failed compile when one dispatcher sees writable arrays too). Declared read-only here
    from the start, as the memory map it describes is."""
    import numba as nb
    from ffcv.memory_managers.os_cache import OSCacheManager
    from ffcv.pipeline.compiler import Compiler

    readonly = nb.types.Array(nb.types.uint8, 1, "C", readonly=True)

    def state_type(self: Any) -> Any:
        return nb.types.Tuple([readonly, nb.types.uint64[::1], nb.types.uint64[::1]])

    def compile_reader(self: Any) -> Callable:
        def read(address, mem_state):
            size = mem_state[2][np.searchsorted(mem_state[1], address)]
            return mem_state[0][address : address + size]

        return Compiler.compile(read, readonly(nb.types.uint64, state_type(self)))

    OSCacheManager.state_type = property(state_type)
    OSCacheManager.compile_reader = compile_reader


def _decoder_class() -> type:
    from ffcv.fields.rgb_image import IMAGE_MODES, RandomResizedCropRGBImageDecoder
    from ffcv.pipeline.allocation_query import AllocationQuery
    from ffcv.pipeline.compiler import Compiler

    class TwoCropRGBImageDecoder(RandomResizedCropRGBImageDecoder):
        """`RGBImageField` decoder: one decode, two independent random resized crops + flips per sample.

        Output per sample: (2, S, S, 3) uint8. `control` is a C-contiguous int64 array [seed, epoch] that
        the compiled loop reads at each batch, so changing the epoch needs no recompilation.
        """

        def __init__(self, size: int, scale: tuple, ratio: tuple, flip_p: float, control: np.ndarray):
            super().__init__((size, size), scale=scale, ratio=ratio)
            self.flip_p = float(flip_p)
            self.control = control

        def declare_state_and_memory(self, previous_state: Any) -> tuple[Any, Any]:
            shape = (2, self.output_size[0], self.output_size[1], 3)
            dtype = np.dtype("<u1")
            # No per-sample scratch of the largest image size (FFCV's decoders reserve batch x
            # (batches_ahead + 2) of them): each sample allocates a buffer of its own size.
            return replace(previous_state, jit_mode=True, shape=shape, dtype=dtype), AllocationQuery(
                shape, dtype
            )

        def generate_code(self) -> Callable:
            k = _kernels()
            two_crops, seed32, read_control = k.two_crops, k.seed32, k.read_control
            mem_read = self.memory_read
            my_range = Compiler.get_iterator()
            jpg = IMAGE_MODES["jpg"]
            scale = np.array(self.scale, dtype=np.float64)
            ratio = np.array(self.ratio, dtype=np.float64)
            flip_p = self.flip_p
            address = np.uint64(self.control.ctypes.data)

            def decode(batch_indices, destination, metadata, storage_state):
                seed, epoch = read_control(address)
                for dst_ix in my_range(len(batch_indices)):
                    source_ix = batch_indices[dst_ix]
                    field = metadata[source_ix]
                    data = mem_read(field["data_ptr"], storage_state)
                    two_crops(
                        data,
                        field["mode"] == jpg,
                        np.int64(field["height"]),
                        np.int64(field["width"]),
                        destination[dst_ix],
                        scale,
                        ratio,
                        flip_p,
                        seed32(seed, epoch, source_ix),
                    )
                return destination[: len(batch_indices)]

            decode.is_parallel = True
            return decode

    return TwoCropRGBImageDecoder


def _colour_op_class() -> type:
    from ffcv.pipeline.allocation_query import AllocationQuery
    from ffcv.pipeline.operation import Operation

    class ColourOp(Operation):
        """Non-jitted FFCV stage: `owner.colour_batch` on the batch's views (gets the sample indices)."""

        def __init__(self, owner: TwoViewFFCV, views: tuple[int, ...]):
            super().__init__()
            self.owner, self.views = owner, views

        def declare_state_and_memory(self, previous_state: Any) -> tuple[Any, Any]:
            return replace(previous_state, jit_mode=False), AllocationQuery(
                previous_state.shape, previous_state.dtype
            )

        def generate_code(self) -> Callable:
            owner, views = self.owner, self.views

            def colour(images, dst, indices):
                owner.colour_batch(images, dst, indices, views, owner.running_epoch)
                return dst

            colour.with_indices = True
            return colour

    return ColourOp


def epoch_order(
    size: int, batch_size: int, rank: int, world_size: int, seed: int, epoch: int, drop_last: bool
) -> np.ndarray:
    """This rank's sample indices for `epoch`, batch after batch (`folder.GlobalBatchSampler`'s order).

    With `drop_last=False` the last global batch is kept; across several processes it is padded with the
    epoch's first samples to a multiple of `world_size`, so every rank gets the same number of batches.
    """
    g = torch.Generator().manual_seed(seed * 7919 + epoch)
    perm = torch.randperm(size, generator=g).numpy()
    global_batch = batch_size * world_size
    full = size // global_batch
    parts = [perm[: full * global_batch].reshape(full, world_size, batch_size)[:, rank].reshape(-1)]
    tail = perm[full * global_batch :]
    if not drop_last and len(tail):
        pad = (-len(tail)) % world_size
        tail = np.concatenate([tail, perm[:pad]])
        share = len(tail) // world_size
        parts.append(tail[rank * share : (rank + 1) * share])
    return np.concatenate(parts).astype(np.uint64)


def _epoch_iterator_class() -> type:
    from queue import Full

    from ffcv.loader import epoch_iterator

    class EpochIterator(epoch_iterator.EpochIterator):
        """FFCV's epoch thread, except that an exception in it reaches the consumer.

        In ffcv 1.0.2 the thread dies and `__next__` waits on its queue forever (e.g. on a compile error).
        """

        error: BaseException | None = None

        def run(self) -> None:
            try:
                super().run()
            except BaseException as e:
                self.error = e
                while not self.terminate_event.is_set():
                    try:
                        self.output_queue.put(None, timeout=0.5)
                        return
                    except Full:
                        pass

        def __next__(self) -> Any:
            item = self.output_queue.get()
            if item is None:
                self.close()
                if self.error is not None:
                    raise self.error
                raise StopIteration
            slot, result = item
            if epoch_iterator.IS_CUDA:
                self.current_stream.wait_stream(self.cuda_streams[slot])
            return result

    return EpochIterator


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
    """Iterable of `(views, labels)` batches from a beton written by `ffcv_io.write_beton`.

    `views` is uint8 (B, 2, 3, S, S) (channels-last strides), view 0 the query, view 1 the key; `labels`
    int64 (B,). `batch_size` is per process. Crops, flips and colour draws are functions of
    (seed, epoch, sample index) with `decode="once"`; call `set_epoch` before each epoch (as with
    `GlobalBatchSampler`: iterating again without it repeats the epoch).
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
        decode: str = "once",
        drop_last: bool = True,
        os_cache: bool = True,
        colour_stage: str = "pipeline",
    ) -> None:
        require_ffcv()
        if decode not in DECODE_MODES:
            raise UsageError(f"unknown decode mode {decode!r}; use one of {', '.join(DECODE_MODES)}")
        if colour_stage not in COLOUR_STAGES:
            raise UsageError(f"unknown colour stage {colour_stage!r}; use one of {', '.join(COLOUR_STAGES)}")
        if batch_size < 1 or not 0 <= rank < world_size:
            raise UsageError(
                f"batch_size {batch_size}, rank {rank}, world_size {world_size}: need batch_size >= 1 and "
                "0 <= rank < world_size"
            )
        beton = Path(beton)
        _check_beton(beton)
        self.beton, self.spec, self.batch_size = beton, spec, int(batch_size)
        self.rank, self.world_size, self.seed = int(rank), int(world_size), int(seed)
        self.decode, self.drop_last, self.colour_stage = decode, bool(drop_last), colour_stage
        self.workers = self._clamp_workers(int(workers))
        self.epoch = 0
        self.running_epoch = 0  # the epoch the FFCV thread is producing (read by the colour stage)
        self._control = np.zeros(2, dtype=np.int64)  # [seed, epoch] read by the compiled decoder
        self._control[0] = self.seed
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._apply_colour: Callable | None = None
        if colour_in_loader:
            self._apply_colour = importlib.import_module("mocobench.data.cpu_colour").apply_colour
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
        from ffcv.fields.rgb_image import RandomResizedCropRGBImageDecoder
        from ffcv.loader import Loader, OrderOption
        from ffcv.pipeline import PipelineSpec
        from ffcv.transforms import RandomHorizontalFlip

        _patch_ffcv()
        spec, size = self.spec, self.spec.image_size
        colour = self._apply_colour is not None and self.colour_stage == "pipeline"
        ColourOp = _colour_op_class() if colour else None
        pipelines: dict[str, Any] = {"label": PipelineSpec("label", decoder=IntDecoder(), transforms=[])}
        if self.decode == "once":
            decoder = _decoder_class()(size, spec.crop_scale, spec.crop_ratio, spec.flip_p, self._control)
            ops = [ColourOp(self, (0, 1))] if ColourOp else []
            pipelines["image"] = PipelineSpec("image", decoder=decoder, transforms=ops)
        else:
            pipelines["image"] = None  # FFCV's default pipeline for the field is replaced by the two below
            for v in (0, 1):
                ops = [RandomHorizontalFlip(spec.flip_p)] + ([ColourOp(self, (v,))] if ColourOp else [])
                decoder = RandomResizedCropRGBImageDecoder((size, size), spec.crop_scale, spec.crop_ratio)
                pipelines[f"view{v}"] = PipelineSpec("image", decoder=decoder, transforms=ops)
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

        The same draws the compiled decoder makes (`decode="once"`); for checks and debugging.
        """
        epoch = self.epoch if epoch is None else epoch
        field = self._loader.reader.metadata["f0"][index]
        k = _kernels()
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
                    rng = np.random.default_rng([seed, epoch, index, v, _COLOUR_SALT])
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
        it = _epoch_iterator_class()(self._loader, order)
        colour_here = self._apply_colour is not None and self.colour_stage == "iterator"
        try:
            for b, batch in enumerate(it):
                out = dict(zip(self._names, batch, strict=True))
                if self.decode == "once":
                    views = out["image"]
                else:
                    views = np.stack([out["view0"], out["view1"]], axis=1)
                if colour_here:
                    idx = order[b * self.batch_size : b * self.batch_size + len(views)]
                    self.colour_batch(views, views, idx, (0, 1), epoch)
                labels = torch.from_numpy(np.array(out["label"], dtype=np.int64).reshape(-1))
                yield torch.from_numpy(views).permute(0, 1, 4, 2, 3), labels
        finally:
            it.close()

    def close(self) -> None:
        """Stop the colour threads (the FFCV thread stops with its epoch)."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
