"""What mocobench compiles into FFCV and patches in it (ffcv 1.0.2): the decode-once two-crop decoder, fixes.

`decoder_class()` is `TwoCropRGBImageDecoder`, an FFCV decoder `Operation` for `RGBImageField`: in FFCV's
numba-compiled batch loop (parallel over samples, `num_workers` threads) it decodes one stored image with
libffcv's `imdecode` into a scratch buffer, then draws two independent RandomResizedCrop boxes with FFCV's
`get_random_crop`, resizes each to S x S with libffcv's `resize_crop` (OpenCV INTER_AREA, as FFCV's own
decoders) and flips each with probability `flip_p`. One sample's output is (2, S, S, 3) uint8: view 0 the
query, view 1 the key. Before drawing it seeds the decoding thread's generator with `seed32`, the compiled
twin of `seeds.sample_seed32`, so the crops depend on (seed, epoch, index) only.

Fixes of ffcv 1.0.2: its OS-cache reader corrupts numba type hashes (`patch_ffcv`); an exception in its epoch
thread left the consumer waiting forever (`epoch_iterator_class`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import cache
from types import SimpleNamespace
from typing import Any

import numpy as np


@cache
def kernels() -> SimpleNamespace:
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
def patch_ffcv() -> None:
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


def decoder_class() -> type:
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
            k = kernels()
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


def colour_op_class() -> type:
    from ffcv.pipeline.allocation_query import AllocationQuery
    from ffcv.pipeline.operation import Operation

    class ColourOp(Operation):
        """Non-jitted FFCV stage: `owner.colour_batch` on the batch's views (gets the sample indices)."""

        def __init__(self, owner: Any, views: tuple[int, ...]):
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


def epoch_iterator_class() -> type:
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
