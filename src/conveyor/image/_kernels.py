"""The fused recipe kernels: one compiled, GIL-free pass per batch.

Each kernel gathers its images by index from one or more *planar* uint8 sources,
applies a whole augmentation recipe with parameters drawn beforehand, and writes
float32. A planar source is a flat uint8 buffer whose images lie at byte strides
``(image, row, channel)`` with the pixels of a row adjacent: a CIFAR record file's CHW
bytes are read in place. Outputs are passed in channel-first axis order ``(n, C, h,
w)``; an NHWC buffer is passed as its ``transpose(0, 3, 1, 2)`` view, and numba compiles
one specialisation per layout (contiguous channel-first rows vectorise best).

The kernels are compiled with ``nogil=True`` — two threads run two batches on two
cores — and ``cache=True``, so only the first use on a machine pays for compiling.
Every inner loop runs over one row through slices, whose indices are never negative
(a possibly negative index costs a wrap-around check that keeps LLVM from vectorising).

The kernels reorder arithmetic, never the result: the recipes' NumPy forms in
:mod:`conveyor.image.recipes` are the reference, and the tests hold every kernel to
within 1e-5 of them on random batches. Without numba this module still imports;
:data:`AVAILABLE` is then ``False`` and the recipes run their NumPy forms.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

try:
    import numba
except ImportError:  # pragma: no cover - exercised where numba is absent
    numba = None  # type: ignore[assignment]

__all__ = ["AVAILABLE", "resize_bilinear", "standard_train", "tutorial_eval", "tutorial_train"]

AVAILABLE = numba is not None


def _jit(fn: Any) -> Any:
    if numba is None:
        return fn
    return numba.njit(nogil=True, cache=True)(fn)


@_jit
def _window_sums(buf: Any, base: int, sy: int, ch: int, cw: int) -> tuple[int, int]:
    """The sum and the sum of squares of a ``ch`` x ``cw`` window of one channel."""
    s = 0
    q = 0
    for h in range(ch):
        row = buf[base + h * sy : base + h * sy + cw]
        rs: Any = np.int32(0)
        rq: Any = np.int32(0)
        for w in range(cw):
            v = np.int32(row[w])
            rs += v
            rq += v * v
        s += rs
        q += rq
    return s, q


@_jit
def _touch(bufs: Any, strides: Any, starts: Any, row: int, y: int, x: int, nc: int, ch: int) -> int:
    """Read a byte of every other row of image ``row``'s window, in every channel.

    Called for the next image before the current one is worked on, so that the cache
    misses of a random gather overlap the arithmetic instead of following it. Returns
    the bytes' sum, which the kernels return so that the reads are not optimised away.
    """
    k = 0
    while row >= starts[k + 1]:
        k += 1
    buf = bufs[k]
    sy = strides[k, 1]
    base = (row - starts[k]) * strides[k, 0] + y * sy + x
    sink = 0
    for c in range(nc):
        for h in range(0, ch, 2):
            sink += buf[base + c * strides[k, 2] + h * sy]
    return sink


@_jit
def _write_affine(
    buf: Any,
    base: int,
    sy: int,
    sc: int,
    a: Any,
    b: Any,
    shift: Any,
    flipped: bool,
    out: Any,
    flat: Any,
    j: int,
) -> None:
    """Write image ``j``: ``a_c * (x - shift_c) + b_c`` of its ``ch`` x ``cw`` window
    at ``base``, mirrored left-right when ``flipped``.

    ``out`` is the batch in channel-first axis order; ``flat``, when not empty, is the
    same batch's NHWC memory as one contiguous row. Three channels then go out
    interleaved, a row of all of them at a time (contiguous stores, which vectorise;
    ``out``'s channel planes of an NHWC buffer would be a store every third float).
    A mirrored row is written backwards through unsigned indices: a signed ``cw - 1 -
    w`` costs a wrap-around check per element and runs scalar, twice as slow.
    """
    _, nc, ch, cw = out.shape
    last = np.uint64(cw - 1)
    if flat.size and nc == 3:
        a0, a1, a2 = a[0], a[1], a[2]
        b0, b1, b2 = b[0], b[1], b[2]
        s0, s1, s2 = shift[0], shift[1], shift[2]
        three = np.uint64(3)
        for h in range(ch):
            start = base + h * sy
            r0 = buf[start : start + cw]
            r1 = buf[start + sc : start + sc + cw]
            r2 = buf[start + 2 * sc : start + 2 * sc + cw]
            first = (j * ch + h) * cw * 3
            o = flat[first : first + cw * 3]
            if flipped:
                for w in range(cw):
                    q = three * (last - np.uint64(w))
                    o[q] = a0 * (np.float32(r0[w]) - s0) + b0
                    o[q + np.uint64(1)] = a1 * (np.float32(r1[w]) - s1) + b1
                    o[q + np.uint64(2)] = a2 * (np.float32(r2[w]) - s2) + b2
            else:
                for w in range(cw):
                    o[3 * w] = a0 * (np.float32(r0[w]) - s0) + b0
                    o[3 * w + 1] = a1 * (np.float32(r1[w]) - s1) + b1
                    o[3 * w + 2] = a2 * (np.float32(r2[w]) - s2) + b2
        return
    for c in range(nc):
        ac, bc, sh = a[c], b[c], shift[c]
        for h in range(ch):
            start = base + c * sc + h * sy
            row = buf[start : start + cw]
            o = out[j, c, h]
            if flipped:
                for w in range(cw):
                    o[last - np.uint64(w)] = ac * (np.float32(row[w]) - sh) + bc
            else:
                for w in range(cw):
                    o[w] = ac * (np.float32(row[w]) - sh) + bc


@_jit
def tutorial_train(
    bufs: Any,
    strides: Any,
    starts: Any,
    index: Any,
    oy: Any,
    ox: Any,
    flip: Any,
    factor: Any,
    out: Any,
    flat: Any,
) -> int:
    """Random crop, flip, brightness, contrast, per-image standardization.

    Contrast is affine per channel about the channel's mean and the standardization
    affine over the image, so the recipe is ``out = a_c * x + b_c`` per image and
    channel, with ``a_c`` and ``b_c`` from the crop's per-channel sums: one pass to sum,
    one to write. (Brightness moves every channel's mean alike and cancels in the
    standardization; the step-by-step form shows the same up to rounding.)
    """
    n, nc, ch, cw = out.shape
    per = ch * cw
    floor = 1.0 / math.sqrt(per * nc)
    mean = np.empty(nc, np.float64)
    var = np.empty(nc, np.float64)
    a = np.empty(nc, np.float32)
    b = np.empty(nc, np.float32)
    shift = np.empty(nc, np.float32)
    sink = 0
    for j in range(n):
        if j + 1 < n:
            sink += _touch(bufs, strides, starts, index[j + 1], oy[j + 1], ox[j + 1], nc, ch)
        row_ = index[j]
        k = 0
        while row_ >= starts[k + 1]:
            k += 1
        buf = bufs[k]
        sy = strides[k, 1]
        sc = strides[k, 2]
        base = (row_ - starts[k]) * strides[k, 0] + oy[j] * sy + ox[j]
        overall = 0.0
        for c in range(nc):
            s, q = _window_sums(buf, base + c * sc, sy, ch, cw)
            mean[c] = s / per
            var[c] = max(q / per - mean[c] * mean[c], 0.0)
            overall += mean[c]
        overall /= nc
        f = np.float64(factor[j])
        spread = 0.0
        for c in range(nc):
            spread += f * f * var[c] + (mean[c] - overall) ** 2
        std = max(math.sqrt(spread / nc), floor)
        for c in range(nc):
            # about an integer near the mean, x - shift is exact: a flat crop gives zeros
            shift[c] = np.float32(round(mean[c]))
            a[c] = np.float32(f / std)
            b[c] = np.float32((f * (shift[c] - mean[c]) + mean[c] - overall) / std)
        _write_affine(buf, base, sy, sc, a, b, shift, flip[j], out, flat, j)
    return sink


@_jit
def tutorial_eval(
    bufs: Any, strides: Any, starts: Any, index: Any, oy: int, ox: int, out: Any, flat: Any
) -> int:
    """A fixed crop (the centre) and per-image standardization."""
    n, nc, ch, cw = out.shape
    count = ch * cw * nc
    floor = 1.0 / math.sqrt(count)
    a = np.empty(nc, np.float32)
    b = np.empty(nc, np.float32)
    shift = np.empty(nc, np.float32)
    sink = 0
    for j in range(n):
        if j + 1 < n:
            sink += _touch(bufs, strides, starts, index[j + 1], oy, ox, nc, ch)
        row_ = index[j]
        k = 0
        while row_ >= starts[k + 1]:
            k += 1
        buf = bufs[k]
        sy = strides[k, 1]
        sc = strides[k, 2]
        base = (row_ - starts[k]) * strides[k, 0] + oy * sy + ox
        s = 0
        q = 0
        for c in range(nc):
            s_c, q_c = _window_sums(buf, base + c * sc, sy, ch, cw)
            s += s_c
            q += q_c
        mean = s / count
        std = max(math.sqrt(max(q / count - mean * mean, 0.0)), floor)
        shift[:] = np.float32(round(mean))  # as in tutorial_train: x - shift is exact
        a[:] = np.float32(1.0 / std)
        b[:] = np.float32((shift[0] - mean) / std)
        _write_affine(buf, base, sy, sc, a, b, shift, False, out, flat, j)
    return sink


@_jit
def standard_train(
    bufs: Any,
    strides: Any,
    starts: Any,
    index: Any,
    height: int,
    width: int,
    padding: int,
    oy: Any,
    ox: Any,
    flip: Any,
    scale: Any,
    shift: Any,
    cut: int,
    cy: Any,
    cx: Any,
    fill: float,
    out: Any,
) -> int:
    """Zero padding, a random crop, a flip, per-channel normalization
    (``x * scale_c + shift_c``) and cutout (a side of ``cut``; 0 for none)."""
    n, nc, ch, cw = out.shape
    sink = 0
    for j in range(n):
        if j + 1 < n:  # the window's top-left, clamped into the image
            y = min(max(oy[j + 1] - padding, 0), height - 1)
            x = min(max(ox[j + 1] - padding, 0), width - 1)
            sink += _touch(bufs, strides, starts, index[j + 1], y, x, nc, min(ch, height - y))
        row_ = index[j]
        k = 0
        while row_ >= starts[k + 1]:
            k += 1
        buf = bufs[k]
        sy = strides[k, 1]
        sc = strides[k, 2]
        base = (row_ - starts[k]) * strides[k, 0]
        x0 = ox[j] - padding  # source column of crop column 0
        lo = min(max(0, -x0), cw)  # crop columns [lo, hi) lie inside the image
        hi = max(min(cw, width - x0), lo)
        m = hi - lo
        flipped = flip[j]
        for c in range(nc):
            a = np.float32(scale[c])
            b = np.float32(shift[c])
            for h in range(ch):
                o = out[j, c, h]
                y = oy[j] + h - padding
                if y < 0 or y >= height or m == 0:
                    o[:] = b
                    continue
                start = base + c * sc + y * sy + x0 + lo
                row = buf[start : start + m]
                if flipped:
                    # output column w shows crop column cw - 1 - w
                    o[: cw - hi] = b
                    o[cw - lo :] = b
                    inside = o[cw - hi : cw - lo]
                    last = np.uint64(m - 1)  # unsigned: see _write_affine
                    for w in range(m):
                        inside[w] = a * np.float32(row[last - np.uint64(w)]) + b
                else:
                    o[:lo] = b
                    o[hi:] = b
                    inside = o[lo:hi]
                    for w in range(m):
                        inside[w] = a * np.float32(row[w]) + b
        if cut > 0:
            y0 = max(cy[j] - cut // 2, 0)
            x0c = max(cx[j] - cut // 2, 0)
            y1 = max(min(cy[j] - cut // 2 + cut, ch), y0)
            x1 = max(min(cx[j] - cut // 2 + cut, cw), x0c)
            out[j, :, y0:y1, x0c:x1] = fill
    return sink


@_jit
def resize_bilinear(
    src: Any, y0: Any, y1: Any, wy: Any, x0: Any, x1: Any, wx: Any, out: Any
) -> None:
    """``conveyor.image.resize(src, method="bilinear")`` of one ``(H, W, C)`` image into
    the float32 ``out`` ``(h, w, C)``, given its sampling rows and columns and weights:
    the same float32 operations in the same order, so the same bits, without the GIL."""
    h, w, c = out.shape
    for i in range(h):
        a = y0[i]
        b = y1[i]
        fy = wy[i]
        for j in range(w):
            left = x0[j]
            right = x1[j]
            fx = wx[j]
            for k in range(c):
                tl = np.float32(src[a, left, k])
                top = tl + (np.float32(src[a, right, k]) - tl) * fx
                bl = np.float32(src[b, left, k])
                bottom = bl + (np.float32(src[b, right, k]) - bl) * fx
                out[i, j, k] = top + (bottom - top) * fy
