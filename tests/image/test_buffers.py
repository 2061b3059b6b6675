"""BufferPool: a buffer anyone still refers to is never handed out again; a released one
is; the pool keeps at most ``limit`` buffers, of any shapes."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from conveyor.errors import InvalidArgumentError
from conveyor.image.buffers import BufferPool

pytestmark = pytest.mark.timeout(60)

SHAPE = (4, 3, 2)


def test_a_released_buffer_is_reused_as_the_same_object():
    pool = BufferPool(limit=4)
    a = pool.get(SHAPE)
    ident = id(a)
    a[...] = 7
    del a
    b = pool.get(SHAPE)
    assert id(b) == ident
    assert (b == 7).all()  # its contents are what was last written
    assert len(pool) == 1


def test_a_held_buffer_is_never_handed_out_again():
    pool = BufferPool(limit=8)
    held = pool.get(SHAPE)
    others = [pool.get(SHAPE) for _ in range(5)]
    assert all(o is not held for o in others)
    assert len({id(o) for o in [held, *others]}) == 6


HOLDERS = {
    # how to hold the buffer, and how to read it back through the holder
    "a slice": (lambda a: a[1:], np.asarray),
    "a view": (lambda a: a.view(np.uint32), lambda h: h.view(np.float32)),
    "a reshaped view": (lambda a: a.reshape(-1), np.asarray),
    "a transpose": (lambda a: a.T, np.asarray),
    "a memoryview": (memoryview, np.asarray),
    "a list of batches": (lambda a: [a], lambda h: h[0]),
    "a tuple with labels": (lambda a: (a, np.zeros(4, np.int32)), lambda h: h[0]),
}


@pytest.mark.parametrize(("hold", "read"), HOLDERS.values(), ids=HOLDERS.keys())
def test_a_buffer_held_only_indirectly_is_not_reused(hold, read):
    pool = BufferPool(limit=4)
    a = pool.get(SHAPE)
    a[...] = 1
    holder = hold(a)
    del a
    b = pool.get(SHAPE)
    b[...] = 2  # must not reach the held buffer
    assert (read(holder) == 1).all()
    assert len(pool) == 2
    del holder
    assert pool.get(SHAPE) is not b


def test_a_buffer_held_by_a_torch_tensor_is_not_reused():
    torch = pytest.importorskip("torch")
    pool = BufferPool(limit=4)
    a = pool.get(SHAPE)
    a[...] = 1
    tensor = torch.from_numpy(a)
    del a
    b = pool.get(SHAPE)
    b[...] = 2
    assert float(tensor.min()) == 1.0
    del tensor, b
    c = pool.get(SHAPE)
    assert len(pool) == 2
    assert c.shape == SHAPE


def test_once_the_holder_goes_the_buffer_is_reused():
    pool = BufferPool(limit=4)
    a = pool.get(SHAPE)
    ident = id(a)
    view = a[1:]
    del a
    assert id(pool.get(SHAPE)) != ident
    del view
    assert id(pool.get(SHAPE)) == ident


def test_beyond_the_limit_fresh_unpooled_arrays_are_returned():
    pool = BufferPool(limit=3)
    held = [pool.get(SHAPE) for _ in range(6)]
    assert len(pool) == 3
    assert len({id(a) for a in held}) == 6
    kept = held[:3]
    del held[3:]  # the unpooled ones: dropped, never reused
    extra = pool.get(SHAPE)
    assert all(extra is not k for k in kept)
    assert len(pool) == 3
    del kept, extra
    assert len(pool) == 3


def test_buffers_of_other_shapes_are_kept_apart():
    pool = BufferPool(limit=4)
    a = pool.get((2, 2))
    b = pool.get((3, 3))
    assert a.shape == (2, 2) and b.shape == (3, 3)
    ia, ib = id(a), id(b)
    del a, b
    assert id(pool.get((3, 3))) == ib
    assert id(pool.get((2, 2))) == ia
    c = pool.get((2, 2, 1))
    assert c.shape == (2, 2, 1)
    assert len(pool) == 3


def test_buffers_are_contiguous_of_the_pools_dtype_and_shape_ints_are_accepted():
    pool = BufferPool(limit=2, dtype=np.int16)
    a = pool.get((np.int64(3), 5))
    assert a.shape == (3, 5)
    assert a.dtype == np.int16
    assert a.flags.c_contiguous
    assert (a == 0).all()  # a new buffer's pages are touched: zeros


@pytest.mark.parametrize("limit", [0, -1, 2.0, True, "4", None])
def test_a_bad_limit_is_refused_by_name(limit):
    with pytest.raises(InvalidArgumentError, match="limit"):
        BufferPool(limit=limit)


@pytest.mark.timeout(30)
def test_threads_never_receive_a_buffer_another_thread_holds():
    pool = BufferPool(limit=6)
    seen: list[str] = []
    barrier = threading.Barrier(4)

    def worker(k: int) -> None:
        barrier.wait()
        for step in range(300):
            a = pool.get(SHAPE)
            a[...] = k
            b = pool.get(SHAPE)  # a is held: b is another buffer
            b[...] = -1
            if a is b or not (a == k).all():
                seen.append(f"thread {k} step {step}")
            del a, b

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == []
    assert len(pool) <= 6
