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

__all__ = [
    "AVAILABLE",
    "draws",
    "flip_width",
    "resize_bilinear",
    "standard_train",
    "standard_train_seeded",
    "tutorial_eval",
    "tutorial_train",
    "tutorial_train_seeded",
]

AVAILABLE = numba is not None


def _jit(fn: Any) -> Any:
    if numba is None:
        return fn
    return numba.njit(nogil=True, cache=True)(fn)


# -- NumPy's generator, compiled ----------------------------------------------------
# A batch's draws come from ``Generator(PCG64(SeedSequence(entropy, spawn_key=key)))``
# (conveyor.core.seeds.GeneratorSeed). Making that generator costs ~8 µs of Python and
# its draws ~2 µs each; the seeded kernels below seed PCG64 the way SeedSequence does and
# draw the way Generator.integers / random / uniform do, bit for bit, inside the kernel.
# A generator's state here is uint64[6]: the 128-bit LCG state (high, low), its
# increment (high, low), and PCG64's buffered half of a 64-bit output (flag, value).

_U1 = np.uint64(1)
_M32 = np.uint64(0xFFFFFFFF)
_S16 = np.uint64(16)
_S32 = np.uint64(32)
# SeedSequence's hash constants (numpy/random/bit_generator.pyx)
_INIT_A = np.uint64(0x43B0D7E5)
_MULT_A = np.uint64(0x931E8875)
_INIT_B = np.uint64(0x8B51F9DD)
_MULT_B = np.uint64(0x58F38DED)
_MIX_L = np.uint64(0xCA01F9DD)
_MIX_R = np.uint64(0x4973F715)
# PCG64's 128-bit multiplier
_PCG_HI = np.uint64(0x2360ED051FC65DA4)
_PCG_LO = np.uint64(0x4385DF649FCCF645)


@_jit
def _hashmix(value: Any, h: Any) -> tuple[Any, Any]:
    value = (value ^ h) & _M32
    h = (h * _MULT_A) & _M32
    value = (value * h) & _M32
    return value ^ (value >> _S16), h


@_jit
def _mix(x: Any, y: Any) -> Any:
    r = (_MIX_L * x - _MIX_R * y) & _M32
    return r ^ (r >> _S16)


@_jit
def _mulhi(a: Any, b: Any) -> Any:
    """The high 64 bits of the 128-bit product of two uint64s."""
    a0, a1, b0, b1 = a & _M32, a >> _S32, b & _M32, b >> _S32
    p00, p01, p10 = a0 * b0, a0 * b1, a1 * b0
    mid = (p00 >> _S32) + (p01 & _M32) + (p10 & _M32)
    return a1 * b1 + (p01 >> _S32) + (p10 >> _S32) + (mid >> _S32)


@_jit
def _pcg_step(state: Any) -> None:
    """state = state * multiplier + increment, modulo 2**128."""
    sh, sl = state[0], state[1]
    hi = _mulhi(sl, _PCG_LO) + sl * _PCG_HI + sh * _PCG_LO
    lo = sl * _PCG_LO
    low = lo + state[3]
    state[0] = hi + state[2] + (_U1 if low < lo else np.uint64(0))
    state[1] = low


@_jit
def _next64(state: Any) -> Any:
    """PCG64's next output: step, then XSL-RR of the new state."""
    _pcg_step(state)
    hi = state[0]
    x = hi ^ state[1]
    rot = hi >> np.uint64(58)
    return (x >> rot) | (x << ((np.uint64(64) - rot) & np.uint64(63)))


@_jit
def _next32(state: Any) -> Any:
    """PCG64's next 32 bits: the buffered high half of the last 64, else a new 64's low
    half."""
    if state[4]:
        state[4] = np.uint64(0)
        return state[5]
    value = _next64(state)
    state[4] = _U1
    state[5] = value >> _S32
    return value & _M32


@_jit
def _seeded(entropy: Any, key: Any) -> Any:
    """The state of ``PCG64(SeedSequence(entropy, spawn_key=key))``: ``entropy`` its uint32
    words, ``key`` a tuple of one or more non-negative int64s."""
    n_key = 0
    for part in key:
        u = np.uint64(part)
        n_key += 1
        while u >> _S32:
            u >>= _S32
            n_key += 1
    # SeedSequence pads the entropy to its pool size when a spawn key follows
    n_run = max(len(entropy), 4)
    words = np.zeros(n_run + n_key, np.uint64)
    for i in range(len(entropy)):
        words[i] = entropy[i]
    i = n_run
    for part in key:
        u = np.uint64(part)
        words[i] = u & _M32
        i += 1
        while u >> _S32:
            u >>= _S32
            words[i] = u & _M32
            i += 1
    pool = np.empty(4, np.uint64)
    h = _INIT_A
    for i in range(4):
        pool[i], h = _hashmix(words[i], h)
    for src in range(4):
        for dst in range(4):
            if src != dst:
                m, h = _hashmix(pool[src], h)
                pool[dst] = _mix(pool[dst], m)
    for src in range(4, len(words)):
        for dst in range(4):
            m, h = _hashmix(words[src], h)
            pool[dst] = _mix(pool[dst], m)
    # generate_state(4, uint64): eight uint32s, paired little-endian
    val = np.zeros(4, np.uint64)
    h = _INIT_B
    for i in range(8):
        v = (pool[i % 4] ^ h) & _M32
        h = (h * _MULT_B) & _M32
        v = (v * h) & _M32
        v ^= v >> _S16
        val[i // 2] |= v << (_S32 * np.uint64(i % 2))
    # PCG64's seeding: state 0, increment 2 * val[2:4] + 1, step, add val[0:2], step
    state = np.zeros(6, np.uint64)
    state[2] = (val[2] << _U1) | (val[3] >> np.uint64(63))
    state[3] = (val[3] << _U1) | _U1
    _pcg_step(state)
    low = state[1] + val[1]
    state[0] = state[0] + val[0] + (_U1 if low < state[1] else np.uint64(0))
    state[1] = low
    _pcg_step(state)
    return state


@_jit
def _integers(state: Any, low: int, high: int, n: int) -> Any:
    """``Generator.integers(low, high, size=n)`` (int64) for ``high - low <= 2**32``:
    Lemire's bounded draw from 32-bit outputs, as NumPy's."""
    out = np.empty(n, np.int64)
    span = np.uint64(high - low - 1)
    if span == 0:
        out[:] = low
        return out
    excl = span + _U1
    for i in range(n):
        m = _next32(state) * excl
        if m & _M32 < excl:
            threshold = (_M32 - span) % excl
            while m & _M32 < threshold:
                m = _next32(state) * excl
        out[i] = low + np.int64(m >> _S32)
    return out


@_jit
def _uniform(state: Any, low: float, high: float, n: int) -> Any:
    """``Generator.uniform(low, high, size=n)``; ``random(n)`` is ``(0.0, 1.0)``."""
    out = np.empty(n, np.float64)
    span = high - low
    for i in range(n):
        out[i] = low + span * (np.float64(_next64(state) >> np.uint64(11)) * (1.0 / 2.0**53))
    return out


def draws(entropy: Any, key: Any, calls: Any) -> list[np.ndarray]:
    """The compiled draws, for tests: ``calls`` as ``("integers", low, high, n)`` or
    ``("uniform", low, high, n)`` in turn, from the generator of ``entropy`` and ``key``."""
    state = _seeded(entropy, tuple(key))
    return [
        (_integers if kind == "integers" else _uniform)(state, low, high, n)
        for kind, low, high, n in calls
    ]


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
def tutorial_train_seeded(
    bufs: Any,
    strides: Any,
    starts: Any,
    index: Any,
    entropy: Any,
    key: Any,
    span_y: int,
    span_x: int,
    max_delta: float,
    lower: float,
    upper: float,
    out: Any,
    flat: Any,
) -> int:
    """:func:`tutorial_train` with its draws made here, from the generator of ``entropy``
    and ``key``, in the recipe's order: the crop's rows and columns
    (``integers(0, span)``), the flips (``random() < 0.5``), the brightness deltas
    (drawn, cancelled by the standardization) and the contrast factors."""
    n = len(index)
    state = _seeded(entropy, key)
    oy = _integers(state, 0, span_y, n)
    ox = _integers(state, 0, span_x, n)
    flip = _uniform(state, 0.0, 1.0, n) < 0.5
    for _ in range(n):
        _next64(state)
    factor = _uniform(state, lower, upper, n)
    return tutorial_train(bufs, strides, starts, index, oy, ox, flip, factor, out, flat)


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
def _write_padded_planes(
    buf: Any,
    base: int,
    sy: int,
    sc: int,
    y0: int,
    x0: int,
    lo: int,
    hi: int,
    height: int,
    scale: Any,
    shift: Any,
    flipped: bool,
    out: Any,
    j: int,
) -> None:
    """Image ``j`` of :func:`standard_train` as channel planes: crop row ``h`` shows
    source row ``y0 + h`` and crop column ``w`` source column ``x0 + w``; crop columns
    ``[lo, hi)`` lie inside the image, everything else is the padding's ``shift_c``."""
    _, nc, ch, cw = out.shape
    m = hi - lo
    for c in range(nc):
        a = np.float32(scale[c])
        b = np.float32(shift[c])
        for h in range(ch):
            o = out[j, c, h]
            y = y0 + h
            if y < 0 or y >= height or m == 0:
                for w in range(cw):
                    o[w] = b
                continue
            start = base + c * sc + y * sy + x0 + lo
            row = buf[start : start + m]
            # the padding's columns, mirrored when flipped
            pad_lo, pad_hi = (cw - hi, cw - lo) if flipped else (lo, hi)
            for w in range(pad_lo):
                o[w] = b
            for w in range(pad_hi, cw):
                o[w] = b
            inside = o[pad_lo:pad_hi]
            if flipped:  # output column w shows crop column cw - 1 - w
                last = np.uint64(m - 1)  # unsigned: see _write_affine
                for w in range(m):
                    inside[w] = a * np.float32(row[last - np.uint64(w)]) + b
            else:
                for w in range(m):
                    inside[w] = a * np.float32(row[w]) + b


@_jit
def _write_padded_rows(
    buf: Any,
    base: int,
    sy: int,
    sc: int,
    y0: int,
    x0: int,
    lo: int,
    hi: int,
    height: int,
    scale: Any,
    shift: Any,
    flipped: bool,
    flat: Any,
    j: int,
    ch: int,
    cw: int,
) -> None:
    """:func:`_write_padded_planes` for three channels into NHWC memory, a row of all
    three at a time (contiguous stores; see :func:`_write_affine`)."""
    m = hi - lo
    a0, a1, a2 = np.float32(scale[0]), np.float32(scale[1]), np.float32(scale[2])
    b0, b1, b2 = np.float32(shift[0]), np.float32(shift[1]), np.float32(shift[2])
    three = np.uint64(3)
    for h in range(ch):
        first = (j * ch + h) * cw * 3
        o = flat[first : first + cw * 3]
        y = y0 + h
        if y < 0 or y >= height or m == 0:
            for w in range(cw):
                o[3 * w] = b0
                o[3 * w + 1] = b1
                o[3 * w + 2] = b2
            continue
        # the padding's columns: [0, lo) and [hi, cw) of the crop, mirrored when flipped
        pad_lo, pad_hi = (cw - hi, cw - lo) if flipped else (lo, hi)
        for w in range(pad_lo):
            o[3 * w] = b0
            o[3 * w + 1] = b1
            o[3 * w + 2] = b2
        for w in range(pad_hi, cw):
            o[3 * w] = b0
            o[3 * w + 1] = b1
            o[3 * w + 2] = b2
        start = base + y * sy + x0 + lo
        r0 = buf[start : start + m]
        r1 = buf[start + sc : start + sc + m]
        r2 = buf[start + 2 * sc : start + 2 * sc + m]
        if flipped:  # crop column lo + w goes to output column cw - 1 - lo - w
            last = np.uint64(cw - 1 - lo)
            for w in range(m):
                q = three * (last - np.uint64(w))
                o[q] = a0 * np.float32(r0[w]) + b0
                o[q + np.uint64(1)] = a1 * np.float32(r1[w]) + b1
                o[q + np.uint64(2)] = a2 * np.float32(r2[w]) + b2
        else:
            inside = o[3 * lo : 3 * hi]
            for w in range(m):
                inside[3 * w] = a0 * np.float32(r0[w]) + b0
                inside[3 * w + 1] = a1 * np.float32(r1[w]) + b1
                inside[3 * w + 2] = a2 * np.float32(r2[w]) + b2


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
    flat: Any,
) -> int:
    """Zero padding, a random crop, a flip, per-channel normalization
    (``x * scale_c + shift_c``) and cutout (a side of ``cut``; 0 for none).

    ``out`` and ``flat`` as for :func:`_write_affine`: three-channel NHWC batches go out
    a row of all channels at a time."""
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
        flipped = flip[j]
        if flat.size and nc == 3:
            _write_padded_rows(
                buf,
                base,
                sy,
                sc,
                oy[j] - padding,
                x0,
                lo,
                hi,
                height,
                scale,
                shift,
                flipped,
                flat,
                j,
                ch,
                cw,
            )
        else:
            _write_padded_planes(
                buf,
                base,
                sy,
                sc,
                oy[j] - padding,
                x0,
                lo,
                hi,
                height,
                scale,
                shift,
                flipped,
                out,
                j,
            )
        if cut > 0:
            y0 = max(cy[j] - cut // 2, 0)
            x0c = max(cx[j] - cut // 2, 0)
            y1 = max(min(cy[j] - cut // 2 + cut, ch), y0)
            x1 = max(min(cx[j] - cut // 2 + cut, cw), x0c)
            out[j, :, y0:y1, x0c:x1] = fill
    return sink


@_jit
def standard_train_seeded(
    bufs: Any,
    strides: Any,
    starts: Any,
    index: Any,
    entropy: Any,
    key: Any,
    height: int,
    width: int,
    padding: int,
    span_y: int,
    span_x: int,
    scale: Any,
    shift: Any,
    cut: int,
    out: Any,
    flat: Any,
) -> int:
    """:func:`standard_train` with its draws made here, as :func:`tutorial_train_seeded`:
    the crop's rows and columns, the flips, then (with cutout) the squares' centres."""
    n = len(index)
    _, _, ch, cw = out.shape
    state = _seeded(entropy, key)
    oy = _integers(state, 0, span_y, n)
    ox = _integers(state, 0, span_x, n)
    flip = _uniform(state, 0.0, 1.0, n) < 0.5
    if cut > 0:
        cy = _integers(state, 0, ch, n)
        cx = _integers(state, 0, cw, n)
    else:
        cy = cx = oy
    return standard_train(
        bufs,
        strides,
        starts,
        index,
        height,
        width,
        padding,
        oy,
        ox,
        flip,
        scale,
        shift,
        cut,
        cy,
        cx,
        0.0,
        out,
        flat,
    )


#: the dtypes :func:`flip_width` takes: those of the image ops
FLIP_DTYPES = frozenset((np.dtype(np.uint8), np.dtype(np.float32)))


@_jit
def flip_width(src: Any, which: Any, out: Any) -> None:
    """``out[j]`` = image ``j`` of ``src`` ``(N, H, W, C)`` mirrored left-right where
    ``which[j]``, else copied as it is: ``conveyor.image.flip_left_right``'s copy, without
    the GIL."""
    n, h, w, c = src.shape
    last = np.uint64(w - 1)
    for j in range(n):
        if not which[j]:
            out[j] = src[j]
            continue
        for y in range(h):
            row = src[j, y]
            o = out[j, y]
            for x in range(w):
                mirrored = last - np.uint64(x)  # unsigned: see _write_affine
                for k in range(c):
                    o[mirrored, k] = row[x, k]


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
