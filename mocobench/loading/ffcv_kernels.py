"""What mocobench compiles into FFCV and patches in it (ffcv 1.0.2): the decode-once two-crop decoder, fixes.

`decoder_class()` is `TwoCropRGBImageDecoder`, an FFCV decoder `Operation` for `RGBImageField`: in FFCV's
numba-compiled batch loop (parallel over samples, `num_workers` threads) it decodes one stored image with
libffcv's `imdecode` into a scratch buffer, then draws two independent RandomResizedCrop boxes with FFCV's
`get_random_crop`, resizes each to S x S (`resize_view`) and flips each with probability `flip_p`. One
sample's output is (2, S, S, 3) uint8: view 0 the query, view 1 the key. Before drawing it seeds the
decoding thread's generator with `seed32`, the compiled twin of `seeds.sample_seed32`, so the crops depend
on (seed, epoch, index) only.

The resize. The authors' views are torchvision's `RandomResizedCrop` on PIL images, bilinear by default
(facebookresearch/moco main_moco.py:329 and :342@7397dfe; `RandomResizedCrop(32)` in the CIFAR-10 demo,
colab/moco_cifar10_demo.ipynb:264@f736491), i.e. PIL's `resize(BILINEAR)` of the crop: a triangle filter
widened by the scale when shrinking (antialiased), plain bilinear interpolation when enlarging. libffcv's
`resize_crop` is OpenCV's INTER_AREA whatever its first argument says: a box filter, 0.8 levels from PIL's
on shrunk 224-px crops (measured), but nearest-neighbour-like when enlarging, and every crop of a 32-px
image (CIFAR, the `gpu` tier) is enlarged: blocky views, 1.43 levels and 39.2 dB from PIL's where the torch
loader's are 0.00 (`bench views --source-size 32 --image-size 32`). So `resize_view` keeps INTER_AREA (and
OpenCV's speed) for a crop it shrinks on both sides, and resizes one smaller than S on a side with
`pil_bilinear`: Pillow's 8-bit resample compiled here (`Resample.c`: `precompute_coeffs`,
`normalize_coeffs_8bpc`, one pass per axis rounded to uint8, in the installed Pillow's order), equal to
PIL's output bit for bit (tests/loading/test_ffcv.py).

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

# Pillow's fixed-point weights of the 8-bit passes (python-pillow/Pillow src/libImaging/Resample.c:93@4e5f09f)
PIL_PRECISION_BITS = 32 - 8 - 2
HALF = 1 << (PIL_PRECISION_BITS - 1)  # rounding


def pillow_vertical_first() -> bool:
    """Whether the installed Pillow runs the vertical pass first when the height shrinks by more than twice
    what the width does (Pillow 13, python-pillow/Pillow#9549; the rule `h > S_h and h - S_h > 2 (w - S_w)`
    measured on Pillow 13.0.0, 0 misses in 1,456 resizes where the order shows). The order changes the
    rounding between passes, by a level at a few pixels; Pillow up to 12 runs the horizontal pass first
    (src/libImaging/Resample.c:772-865@4e5f09f). The compiled resize follows the installed Pillow."""
    import PIL

    return int(PIL.__version__.split(".")[0]) >= 13


@cache
def kernels() -> SimpleNamespace:
    """Numba kernels, compiled on first use (ffcv is an optional dependency)."""
    import numba as nb
    from ffcv.libffcv import imdecode
    from ffcv.transforms.utils.fast_crop import get_random_crop, resize_crop
    from ffcv.utils import cast_int_to_byte_ptr

    imdecode_c = nb.njit(nogil=True)(imdecode)
    PILLOW_VERTICAL_FIRST = pillow_vertical_first()  # a compile-time constant of the kernels below
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
    def pil_coefficients(in_size, out_size):
        """Pillow's `precompute_coeffs` (bilinear filter, support 1) and `normalize_coeffs_8bpc`
        (Resample.c:182-284@4e5f09f): per output pixel its first input pixel, tap count and fixed-point
        weights."""
        scale = in_size / out_size
        filterscale = max(scale, 1.0)  # shrinking stretches the filter (antialiasing); enlarging does not
        support = filterscale
        ksize = int(np.ceil(support)) * 2 + 1
        bounds = np.empty((out_size, 2), np.int64)
        weights = np.zeros((out_size, ksize), np.int64)
        w = np.empty(ksize, np.float64)
        one = float(1 << PIL_PRECISION_BITS)
        ss = 1.0 / filterscale  # multiplied, as Pillow does (dividing can round the last bit otherwise)
        for xx in range(out_size):
            center = (xx + 0.5) * scale
            xmin = max(int(center - support + 0.5), 0)  # C's (int): truncation, as int() here
            xmax = min(int(center + support + 0.5), in_size) - xmin
            total = 0.0
            for x in range(xmax):
                t = abs((x + xmin - center + 0.5) * ss)
                w[x] = 1.0 - t if t < 1.0 else 0.0
                total += w[x]
            for x in range(xmax):
                v = w[x] / total if total != 0.0 else w[x]
                weights[xx, x] = int(0.5 + v * one)  # the weights are >= 0
            bounds[xx, 0], bounds[xx, 1] = xmin, xmax
        return bounds, weights

    @nb.njit(nogil=True, inline="always")
    def clip8(acc):
        if acc >= 1 << (PIL_PRECISION_BITS + 8):
            return np.uint8(255)
        if acc <= 0:
            return np.uint8(0)
        return np.uint8(acc >> PIL_PRECISION_BITS)

    @nb.njit(nogil=True)
    def horizontal_pass(src, row0, rows, col0, bounds, weights, size_x):
        """Pillow's `ImagingResampleHorizontal_8bpc`: `rows` rows of `src` from `row0`, columns `col0` on."""
        out = np.empty((rows, size_x, 3), np.uint8)
        for y in range(rows):
            line = src[row0 + y]
            for xx in range(size_x):
                start, taps = col0 + bounds[xx, 0], bounds[xx, 1]
                r = g = b = HALF
                for x in range(taps):
                    k = weights[xx, x]
                    r += np.int64(line[start + x, 0]) * k
                    g += np.int64(line[start + x, 1]) * k
                    b += np.int64(line[start + x, 2]) * k
                out[y, xx, 0], out[y, xx, 1], out[y, xx, 2] = clip8(r), clip8(g), clip8(b)
        return out

    @nb.njit(nogil=True)
    def vertical_pass(src, row0, col0, cols, bounds, weights, size_y):
        """Pillow's `ImagingResampleVertical_8bpc`: `cols` columns of `src` from `col0`, rows from `row0`;
        a row at a time, so the inner loop runs over contiguous memory."""
        out = np.empty((size_y, cols, 3), np.uint8)
        acc = np.empty((cols, 3), np.int64)
        for yy in range(size_y):
            acc[:] = HALF
            for y in range(bounds[yy, 1]):
                k = weights[yy, y]
                line = src[row0 + bounds[yy, 0] + y]
                for xx in range(cols):
                    for c in range(3):
                        acc[xx, c] += np.int64(line[col0 + xx, c]) * k
            for xx in range(cols):
                for c in range(3):
                    out[yy, xx, c] = clip8(acc[xx, c])
        return out

    @nb.njit(nogil=True)
    def pil_bilinear(image, top, left, h, w, out):
        """`image[top:top+h, left:left+w]` resized into `out` as PIL's `Image.resize(BILINEAR)` does (8-bit):
        two passes, each rounded to uint8, a pass skipped where its size does not change."""
        size_y, size_x = out.shape[0], out.shape[1]
        need_x, need_y = w != size_x, h != size_y
        if not (need_x or need_y):
            out[:] = image[top : top + h, left : left + w]
            return
        ybounds, yweights = pil_coefficients(h, size_y)
        xbounds, xweights = pil_coefficients(w, size_x)
        if need_y and PILLOW_VERTICAL_FIRST and h > size_y and h - size_y > 2 * (w - size_x):
            res = vertical_pass(image, top, left, w, ybounds, yweights, size_y)
            if need_x:
                res = horizontal_pass(res, 0, size_y, 0, xbounds, xweights, size_x)
        elif need_x:
            first = ybounds[0, 0]  # only the rows the vertical pass reads
            last = ybounds[size_y - 1, 0] + ybounds[size_y - 1, 1]
            res = horizontal_pass(image, top + first, last - first, left, xbounds, xweights, size_x)
            if need_y:
                res = vertical_pass(res, -first, 0, size_x, ybounds, yweights, size_y)
        else:
            res = vertical_pass(image, top, left, w, ybounds, yweights, size_y)
        out[:] = res

    @nb.njit(nogil=True)
    def resize_view(image, top, left, h, w, out):
        """The crop resized to `out`: PIL's bilinear where it is enlarged on a side, else INTER_AREA."""
        if h < out.shape[0] or w < out.shape[1]:
            pil_bilinear(image, top, left, h, w, out)
        else:
            resize_crop(image, top, top + h, left, left + w, out)

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
            resize_view(image, i, j, h, w, out[v])
            if boxes[v, 4]:
                hflip(out[v])

    return SimpleNamespace(
        seed32=seed32,
        read_control=read_control,
        draw_boxes=draw_boxes,
        pil_bilinear=pil_bilinear,
        resize_view=resize_view,
        two_crops=two_crops,
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
