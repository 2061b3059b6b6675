"""The queue family's contract: order, blocking, close/cancel, shuffling, padding, priorities."""

from __future__ import annotations

import threading
import time
import tracemalloc

import numpy as np
import pytest

from conveyor import FIFOQueue, PaddingFIFOQueue, PriorityQueue, RandomShuffleQueue
from conveyor.errors import (
    CancelledError,
    DeadlineExceededError,
    InvalidArgumentError,
    OutOfRangeError,
)

pytestmark = pytest.mark.timeout(30)


def _start(fn, *args):
    """Run fn in a thread; return (thread, box) where box collects result or error."""
    box: dict = {}

    def target():
        try:
            box["result"] = fn(*args)
        except BaseException as e:  # recorded for the test to inspect
            box["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t, box


def _blocked(t: threading.Thread, wait: float = 0.15) -> bool:
    t.join(wait)
    return t.is_alive()


def _all_queues(capacity=10, dtype="int64"):
    return [
        FIFOQueue(capacity, dtype, shapes=[()]),
        FIFOQueue(capacity, dtype),
        PaddingFIFOQueue(capacity, dtype, shapes=[()]),
        RandomShuffleQueue(capacity, 0, dtype, shapes=[()], seed=1),
    ]


# -- FIFO order and element structure ----------------------------------------------


def test_fifo_dequeues_in_enqueue_order_across_single_and_batched_calls():
    q = FIFOQueue(100, "int32", shapes=[()])
    q.enqueue(0)
    q.enqueue_many([np.arange(1, 6)])
    q.enqueue(6)
    q.enqueue_many(np.arange(7, 10))
    assert [int(q.dequeue()) for _ in range(3)] == [0, 1, 2]
    assert q.dequeue_many(4).tolist() == [3, 4, 5, 6]
    assert q.dequeue_up_to(3).tolist() == [7, 8, 9]
    assert q.size() == 0


def test_fifo_order_survives_ring_wraparound():
    q = FIFOQueue(7, "int64", shapes=[(2,)])
    out = []
    nxt = 0
    for step in range(50):
        k = step % 5 + 1
        if q.size() + k <= 7:
            q.enqueue_many([np.stack([np.arange(nxt, nxt + k), -np.arange(nxt, nxt + k)], 1)])
            nxt += k
        got = q.dequeue_many(min(q.size(), step % 3 + 1))
        out.extend(got[:, 0].tolist())
        assert (got[:, 1] == -got[:, 0]).all()
    out.extend(q.dequeue_many(q.size())[:, 0].tolist())
    assert out == list(range(nxt))


def test_multi_component_elements_come_back_as_lists_with_numpy_values():
    q = FIFOQueue(5, ["int32", "float32", "string"], shapes=[(), (2,), ()])
    q.enqueue((7, [1.5, 2.5], b"seven"))
    q.enqueue([8, np.array([3.0, 4.0]), "eight"])
    a, b, c = q.dequeue()
    assert isinstance(a, np.int32) and a == 7
    assert b.dtype == np.float32 and b.tolist() == [1.5, 2.5]
    assert c == b"seven"
    batch = q.dequeue_many(1)
    assert isinstance(batch, list)
    assert batch[0].dtype == np.int32 and batch[0].tolist() == [8]
    assert batch[1].shape == (1, 2) and batch[1].tolist() == [[3.0, 4.0]]
    assert batch[2].dtype == object and batch[2].tolist() == [b"eight"]


def test_named_queue_takes_and_returns_dicts():
    q = FIFOQueue(5, ["int64", "string"], shapes=[(), ()], names=["label", "key"])
    q.enqueue({"key": b"a", "label": 1})
    q.enqueue_many({"label": [2, 3], "key": [b"b", b"c"]})
    assert q.names == ["label", "key"]
    one = q.dequeue()
    assert one == {"label": 1, "key": b"a"}
    many = q.dequeue_many(2)
    assert set(many) == {"label", "key"}
    assert many["label"].tolist() == [2, 3] and many["key"].tolist() == [b"b", b"c"]
    with pytest.raises(InvalidArgumentError, match="keys"):
        q.enqueue({"label": 1})
    with pytest.raises(InvalidArgumentError, match="dict"):
        q.enqueue((1, b"x"))


def test_single_component_queue_returns_bare_values():
    q = FIFOQueue(3, "float64", shapes=[(3,)])
    q.enqueue([[1.0, 2.0, 3.0]])
    q.enqueue(np.array([4.0, 5.0, 6.0]))
    first = q.dequeue()
    assert isinstance(first, np.ndarray) and first.tolist() == [1.0, 2.0, 3.0]
    assert q.dequeue_many(1).tolist() == [[4.0, 5.0, 6.0]]


def test_dequeued_arrays_do_not_alias_queue_storage_or_the_callers_input():
    q = FIFOQueue(4, "uint8", shapes=[(3,)])
    src = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.uint8)
    q.enqueue_many([src])
    src[:] = 0  # the caller reuses its buffer
    a = q.dequeue()
    q.enqueue(np.array([7, 8, 9], dtype=np.uint8))  # reuses a's slot later in the ring
    a[0] = 99
    assert q.dequeue_many(2).tolist() == [[4, 5, 6], [7, 8, 9]]


def test_strings_are_stored_as_bytes_and_str_is_utf8_encoded():
    q = FIFOQueue(5, "string", shapes=[()])
    q.enqueue("héllo")
    q.enqueue_many([["a", "b"]])
    q.enqueue_many(np.array([b"x\x00y"], dtype=object))
    assert q.dequeue() == "héllo".encode()
    assert q.dequeue_many(3).tolist() == [b"a", b"b", b"x\x00y"]


def test_queue_without_shapes_batches_equal_shapes_and_refuses_unequal_without_losing_them():
    q = FIFOQueue(5, "int32")
    q.enqueue([[1, 2]])
    q.enqueue([[3, 4]])
    q.enqueue([[5, 6, 7]])
    assert q.dequeue_many(2).tolist() == [[1, 2], [3, 4]]
    q.enqueue([[8, 9, 10]])
    q.enqueue([[11, 12]])
    with pytest.raises(InvalidArgumentError, match="different shapes"):
        q.dequeue_many(3)
    assert q.size() == 3
    assert q.dequeue().tolist() == [5, 6, 7]
    assert q.dequeue().tolist() == [8, 9, 10]


# -- validation --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"capacity": 0}, "capacity"),
        ({"capacity": -3}, "capacity"),
        ({"capacity": 2.5}, "capacity"),
        ({"dtypes": []}, "at least one"),
        ({"shapes": [(), ()]}, "shapes"),
        ({"names": ["a", "b"]}, "names"),
        ({"dtypes": ["int32", "int32"], "names": ["a", "a"]}, "distinct"),
        ({"shapes": [(-2,)]}, "dimension"),
    ],
)
def test_bad_constructor_arguments_raise_invalid_argument(kwargs, match):
    args = {"capacity": 4, "dtypes": ["int32"], "shapes": None, "names": None} | kwargs
    with pytest.raises(InvalidArgumentError, match=match):
        FIFOQueue(**args)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: FIFOQueue(4, ["int32"], shapes=[2.5]),
            "bad shape 2.5: expected None, an int, or a sequence of ints and None",
        ),
        (
            lambda: FIFOQueue(4, ["int32"], shapes=["ab"]),
            "bad shape 'ab': expected None, an int, or a sequence of ints and None",
        ),
        (lambda: FIFOQueue(4, ["int32"], shapes=[[True]]), "bad dimension True in shape (True,)"),
        (
            lambda: FIFOQueue(4, ["int32"], names=5),
            "names must be a list of 1 names (one per dtype), got 5",
        ),
        (lambda: FIFOQueue(4, [None]), "not a dtype: None"),
        (
            lambda: PaddingFIFOQueue(4, ["int32"], shapes=5),
            "shapes must be a list of shapes (one per dtype), got 5",
        ),
        (
            lambda: PriorityQueue(4, ["int32"], shapes=5),
            "shapes must have 1 entries (one per dtype), got 5",
        ),
        (
            lambda: RandomShuffleQueue(4, 0, "int32", seed="x"),
            "seed must be None or an int >= 0, got 'x'",
        ),
        (
            lambda: RandomShuffleQueue(4, 0, "int32", seed=-1),
            "seed must be None or an int >= 0, got -1",
        ),
        (
            lambda: RandomShuffleQueue(4, 0, "int32", seed=True),
            "seed must be None or an int >= 0, got True",
        ),
        (
            lambda: RandomShuffleQueue(4, 1.0, "int32"),
            "min_after_dequeue must be an int, got 1.0",
        ),
    ],
    ids=[
        "shape-float",
        "shape-str",
        "dim-bool",
        "names-int",
        "dtype-none",
        "padding-shapes-int",
        "priority-shapes-int",
        "seed-str",
        "seed-negative",
        "seed-bool",
        "min-after-dequeue-float",
    ],
)
def test_bad_shapes_names_dtypes_and_seeds_are_invalid_arguments_not_raw_errors(make, message):
    with pytest.raises(InvalidArgumentError) as info:
        make()
    assert str(info.value) == message


def test_invalid_argument_error_is_also_a_value_error():
    with pytest.raises(ValueError):
        FIFOQueue(0, "int32")


def test_random_shuffle_queue_rejects_min_after_dequeue_at_or_above_capacity():
    with pytest.raises(
        InvalidArgumentError, match=r"min_after_dequeue \(10\) must be < capacity \(10\)"
    ):
        RandomShuffleQueue(10, 10, "int32")
    with pytest.raises(InvalidArgumentError, match="min_after_dequeue"):
        RandomShuffleQueue(10, -1, "int32")


def test_wrong_dtype_raises_invalid_argument_naming_the_component():
    q = FIFOQueue(4, ["int32", "string"], shapes=[(), ()], names=["label", "key"])
    with pytest.raises(InvalidArgumentError, match=r"component 0 \('label'\): expected int32"):
        q.enqueue({"label": 1.5, "key": b"x"})
    with pytest.raises(InvalidArgumentError, match=r"component 1 \('key'\)"):
        q.enqueue({"label": 1, "key": 3})
    with pytest.raises(InvalidArgumentError, match="component 0"):
        q.enqueue_many({"label": np.array([1.0, 2.0]), "key": [b"a", b"b"]})
    with pytest.raises(InvalidArgumentError, match="does not fit"):
        FIFOQueue(2, "uint8", shapes=[()]).enqueue(-1) if False else FIFOQueue(2, "int8").enqueue(
            300
        )
    assert q.size() == 0


def _refusal(enqueue, value) -> InvalidArgumentError:
    with pytest.raises(InvalidArgumentError) as info:
        enqueue(value)
    return info.value


def test_numpy_integers_that_do_not_fit_are_refused_like_python_ints_not_wrapped():
    q = FIFOQueue(4, "uint8", shapes=[()], name="bytes")
    python = _refusal(q.enqueue, 300)
    numpy = _refusal(q.enqueue, np.int64(300))
    assert (
        str(python) == str(numpy) == "bytes: component 0: 300 does not fit uint8 (range 0 to 255)"
    )
    assert type(numpy) is type(python) is InvalidArgumentError  # a ValueError, not a TypeError
    assert str(_refusal(q.enqueue_many, np.array([5, -1], dtype=np.int16))) == (
        "bytes: component 0: -1 does not fit uint8 (range 0 to 255)"
    )
    assert str(_refusal(q.enqueue_many, [np.int64(7), np.int64(256)])) == (
        "bytes: component 0: 256 does not fit uint8 (range 0 to 255)"
    )
    wide = FIFOQueue(4, "int32", shapes=[()], name="ids")
    assert str(_refusal(wide.enqueue_many, np.array([2**40 + 7]))) == (
        "ids: component 0: 1099511627783 does not fit int32 (range -2147483648 to 2147483647)"
    )
    signed = FIFOQueue(4, "int64", shapes=[()], name="i64")
    assert str(_refusal(signed.enqueue, np.uint64(2**64 - 1))) == (
        "i64: component 0: 18446744073709551615 does not fit int64 "
        "(range -9223372036854775808 to 9223372036854775807)"
    )
    assert str(_refusal(signed.enqueue, 2**70)) == (  # a Python int beyond int64 too
        "i64: component 0: 1180591620717411303424 does not fit int64 "
        "(range -9223372036854775808 to 9223372036854775807)"
    )
    assert q.size() == wide.size() == signed.size() == 0


@pytest.mark.parametrize(
    "make",
    [
        lambda: FIFOQueue(4, ["int64", "uint8"], shapes=[(), (2,)], names=["id", "px"], name="q"),
        lambda: FIFOQueue(4, ["int64", "uint8"], names=["id", "px"], name="q"),
        lambda: PaddingFIFOQueue(4, ["int64", "uint8"], [(), (None,)], ["id", "px"], name="q"),
        lambda: RandomShuffleQueue(4, 0, ["int64", "uint8"], names=["id", "px"], name="q"),
        lambda: PriorityQueue(4, ["uint8"], names=["id", "px"], name="q"),
    ],
    ids=["fifo", "fifo-unshaped", "padding", "shuffle", "priority"],
)
def test_every_queue_refuses_a_numpy_value_out_of_its_components_range(make):
    q = make()
    message = "q: component 1 ('px'): 300 does not fit uint8 (range 0 to 255)"
    with pytest.raises(InvalidArgumentError) as info:
        q.enqueue({"id": 1, "px": np.array([7, 300])})
    assert str(info.value) == message
    with pytest.raises(InvalidArgumentError) as info:
        q.enqueue_many({"id": [1, 2], "px": np.array([[1, 2], [300, 4]], dtype=np.int32)})
    assert str(info.value) == message
    assert q.size() == 0
    q.enqueue_many({"id": [1], "px": np.array([[0, 255]], dtype=np.int64)})  # they fit
    got = q.dequeue()
    assert got["px"].dtype == np.uint8 and got["px"].tolist() == [0, 255]


def test_a_finite_float_that_would_become_inf_is_refused_but_inf_and_nan_convert():
    q = FIFOQueue(4, "float32", shapes=[()], name="f32")
    assert str(_refusal(q.enqueue_many, np.array([1.0, -1e300]))) == (
        "f32: component 0: -1e+300 does not fit float32 (range ±3.40282e+38)"
    )
    assert str(_refusal(q.enqueue, 1e39)) == (
        "f32: component 0: 1e+39 does not fit float32 (range ±3.40282e+38)"
    )
    half = FIFOQueue(4, "float16", shapes=[()], name="f16")
    assert str(_refusal(half.enqueue, 70000.0)) == (
        "f16: component 0: 70000.0 does not fit float16 (range ±65504)"
    )
    assert str(_refusal(half.enqueue, np.int64(2**62))) == (
        "f16: component 0: 4611686018427387904 does not fit float16 (range ±65504)"
    )
    wide = FIFOQueue(4, "float64", shapes=[()], name="f64")
    assert str(_refusal(wide.enqueue, 2**2000)) == (  # not a raw OverflowError
        "f64: component 0: 1148130695274254524232833201177681984022...(603 characters) "
        "does not fit float64 (range ±1.79769e+308)"
    )
    assert q.size() == half.size() == wide.size() == 0
    q.enqueue_many(np.array([np.inf, -np.inf, np.nan, 0.1]))  # float64 in: precision may go
    out = q.dequeue_many(4)
    assert out.dtype == np.float32 and out[:2].tolist() == [np.inf, -np.inf]
    assert np.isnan(out[2]) and out[3] == np.float32(0.1)
    q.enqueue_many(np.array([2**64 - 1], dtype=np.uint64))  # every int fits a float32
    assert q.dequeue() == np.float32(2.0**64)


def test_a_ragged_value_is_an_invalid_argument_not_a_raw_numpy_error():
    q = FIFOQueue(4, ["int32", "string"], shapes=[(None,), (None,)], name="r")
    with pytest.raises(InvalidArgumentError) as info:
        q.enqueue_many(([[1, 2], [3]], [[b"a"], [b"b"]]))
    assert str(info.value) == (
        "r: component 0: list [[1, 2], [3]] is not rectangular (its elements differ in shape)"
    )
    with pytest.raises(InvalidArgumentError) as info:
        q.enqueue_many(([[1], [2]], [[b"a", b"b"], [b"c"]]))
    assert str(info.value) == (
        "r: component 1: list [[b'a', b'b'], [b'c']] is not rectangular "
        "(its elements differ in shape)"
    )


def test_a_datetime_component_takes_datetimes_and_refuses_numbers():
    q = FIFOQueue(4, "datetime64[s]", shapes=[()], name="t")
    with pytest.raises(TypeError) as info:  # a KeyError before
        q.enqueue(5)
    assert str(info.value) == "t: component 0: expected datetime64[s], got int 5"
    q.enqueue(np.datetime64("2020-01-01", "s"))
    q.enqueue_many(np.array(["2020-01-01T00:00:01"], dtype="datetime64[ms]"))
    assert (
        q.dequeue_many(2).tolist()
        == np.array(["2020-01-01T00:00:00", "2020-01-01T00:00:01"], dtype="datetime64[s]").tolist()
    )


def test_compatible_dtypes_are_converted():
    q = FIFOQueue(4, ["float32", "int64"], shapes=[(), ()])
    q.enqueue((1, True))  # int into float, bool into int
    q.enqueue_many((np.array([2, 3], dtype=np.int16), np.array([4, 5], dtype=np.uint8)))
    f, i = q.dequeue_many(3)
    assert f.dtype == np.float32 and f.tolist() == [1.0, 2.0, 3.0]
    assert i.dtype == np.int64 and i.tolist() == [1, 4, 5]


def test_wrong_shape_raises_invalid_argument_naming_the_component():
    q = FIFOQueue(4, ["int32", "uint8"], shapes=[(), (2, 3)])
    with pytest.raises(
        InvalidArgumentError, match=r"component 1: expected shape \(2, 3\), got \(3, 2\)"
    ):
        q.enqueue((1, np.zeros((3, 2), dtype=np.uint8)))
    with pytest.raises(InvalidArgumentError, match=r"component 0: expected shape \(\), got \(2,\)"):
        q.enqueue(([1, 2], np.zeros((2, 3), dtype=np.uint8)))
    with pytest.raises(InvalidArgumentError, match="batch size"):
        q.enqueue_many(([1, 2], np.zeros((3, 2, 3), dtype=np.uint8)))
    with pytest.raises(InvalidArgumentError, match="leading batch dimension"):
        q.enqueue_many((1, np.zeros((1, 2, 3), dtype=np.uint8)))
    with pytest.raises(InvalidArgumentError, match="expected 2 components, got 3"):
        q.enqueue((1, 2, 3))
    assert q.size() == 0


@pytest.mark.parametrize("method", ["dequeue_many", "dequeue_up_to"])
def test_negative_n_raises_invalid_argument(method):
    q = FIFOQueue(4, "int32")
    with pytest.raises(InvalidArgumentError, match="n must be >= 0"):
        getattr(q, method)(-1)


def test_dequeue_many_zero_returns_empty_batch():
    q = FIFOQueue(4, "int32", shapes=[(2,)])
    out = q.dequeue_many(0)
    assert out.shape == (0, 2) and out.dtype == np.int32


# -- storage: the capacity is a bound, not an allocation ---------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda c: FIFOQueue(c, ["int64", "string"], shapes=[(), (4,)]),
        lambda c: FIFOQueue(c, ["int64"]),
        lambda c: PaddingFIFOQueue(c, ["int64"], shapes=[(None,)]),
        lambda c: RandomShuffleQueue(c, 0, ["int64"], shapes=[(8,)]),
        lambda c: RandomShuffleQueue(c, 0, ["int64"]),
        lambda c: PriorityQueue(c, ["uint8"], shapes=[(1024,)]),
    ],
    ids=["fifo", "fifo-unshaped", "padding", "shuffle", "shuffle-unshaped", "priority"],
)
def test_a_huge_capacity_is_accepted_and_costs_almost_nothing_until_filled(make):
    tracemalloc.start()
    try:
        q = make(10**8)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100_000  # preallocating 10**8 slots would be gigabytes
    assert make(2**62).capacity == 2**62  # a raw ValueError or MemoryError before
    assert q.capacity == 10**8 and q.size() == 0


def test_a_shuffle_queue_of_capacity_10_to_the_8_fills_and_drains():
    q = RandomShuffleQueue(10**8, min_after_dequeue=0, dtypes=["int64"], seed=4)
    q.enqueue_many(np.arange(1000))
    for i in range(1000, 1100):
        q.enqueue(i)
    assert q.size() == 1100
    out = np.concatenate([q.dequeue_many(500), q.dequeue_up_to(600)])
    assert sorted(out.tolist()) == list(range(1100))


@pytest.mark.parametrize(
    ("capacity", "message"),
    [
        (0, "capacity must be > 0, got 0"),
        (-1, "capacity must be > 0, got -1"),
        (True, "capacity must be an int, got True"),
        (4.0, "capacity must be an int, got 4.0"),
        ("4", "capacity must be an int, got '4'"),
        (None, "capacity must be an int, got None"),
    ],
)
@pytest.mark.parametrize(
    "make",
    [
        lambda c: FIFOQueue(c, "int32"),
        lambda c: PaddingFIFOQueue(c, "int32", shapes=[(None,)]),
        lambda c: RandomShuffleQueue(c, 0, "int32"),
        lambda c: PriorityQueue(c, ["int32"]),
    ],
    ids=["fifo", "padding", "shuffle", "priority"],
)
def test_every_queue_refuses_a_capacity_that_is_not_a_positive_int(make, capacity, message):
    with pytest.raises(InvalidArgumentError) as info:
        make(capacity)
    assert str(info.value) == message


def test_growing_a_wrapped_fifo_ring_unwraps_it_in_order():
    q = FIFOQueue(100, ["int64", "string", "int64"], shapes=[(), (), (2,)])
    ids = np.arange(27)

    def batch(lo: int, hi: int):
        return (
            ids[lo:hi],
            [b"%d" % i for i in range(lo, hi)],
            np.stack([ids[lo:hi], -ids[lo:hi]], 1),
        )

    q.enqueue_many(batch(0, 12))
    assert q.dequeue_many(10)[0].tolist() == list(range(10))
    q.enqueue_many(batch(12, 26))  # 16 elements in the 16 starting slots, wrapped
    assert q._cols.length == 16 and q._head == 10  # (storage internals: the wrap)
    q.enqueue((26, b"26", [26, -26]))  # grows from the wrapped ring
    assert q._cols.length == 32
    first, keys, pairs = q.dequeue_many(17)
    assert first.tolist() == list(range(10, 27))
    assert keys.tolist() == [b"%d" % i for i in range(10, 27)]
    assert pairs.tolist() == [[i, -i] for i in range(10, 27)]


def _element(i: int, prio: int | None):
    key, pair = b"%d" % i, np.array([i, -i])
    return (prio, key, pair) if prio is not None else (i, key, pair)


_GROWING = {
    "fifo": lambda c: FIFOQueue(c, ["int64", "string", "int64"], shapes=[(), (), (2,)]),
    "fifo-unshaped": lambda c: FIFOQueue(c, ["int64", "string", "int64"]),
    "padding": lambda c: PaddingFIFOQueue(c, ["int64", "string", "int64"], [(), (), (None,)]),
    "shuffle": lambda c: RandomShuffleQueue(
        c, 0, ["int64", "string", "int64"], shapes=[(), (), (2,)], seed=5
    ),
    "shuffle-unshaped": lambda c: RandomShuffleQueue(c, 0, ["int64", "string", "int64"], seed=6),
    "priority": lambda c: PriorityQueue(c, ["string", "int64"], shapes=[(), (2,)]),
}


@pytest.mark.timeout(10)
@pytest.mark.parametrize("kind", list(_GROWING))
def test_storage_growing_under_mixed_operations_keeps_order_and_every_element_once(kind):
    capacity = 300
    q = _GROWING[kind](capacity)
    rng = np.random.default_rng(11)
    queued: list[tuple[int, int]] = []  # (sort key, id) in the order they must leave
    nxt = 0
    out: list[int] = []
    lengths = set()

    def push(k: int) -> None:
        nonlocal nxt
        prios = rng.integers(0, 20, size=k) if kind == "priority" else [None] * k
        elems = [_element(nxt + j, None if p is None else int(p)) for j, p in enumerate(prios)]
        if k == 1 and rng.random() < 0.5:
            q.enqueue(elems[0])
        else:
            q.enqueue_many([np.array([e[c] for e in elems]) for c in range(3)])
        queued.extend((int(p) if p is not None else 0, nxt + j) for j, p in enumerate(prios))
        nxt += k

    def pull(batch) -> None:
        head, keys, pairs = (np.atleast_1d(np.asarray(x)) for x in batch)
        pairs = pairs.reshape(-1, 2)
        ids = pairs[:, 0].tolist()
        assert keys.tolist() == [b"%d" % i for i in ids] and (pairs[:, 1] == -pairs[:, 0]).all()
        if kind != "priority":
            assert head.tolist() == ids
        if kind.startswith("shuffle"):
            left = {i for _, i in queued}
            assert set(ids) <= left and len(set(ids)) == len(ids)
            queued[:] = [e for e in queued if e[1] not in set(ids)]
        else:
            if kind == "priority":
                queued.sort(key=lambda e: e)  # lowest priority first, ties in arrival order
            assert ids == [i for _, i in queued[: len(ids)]]
            del queued[: len(ids)]
        out.extend(ids)

    for step in range(600):
        size = q.size()
        assert size == len(queued)
        fill = step < 300  # fill up to the capacity first, then churn
        op = int(rng.integers(0, 7))
        if op <= (3 if fill else 1) and size < capacity:
            push(int(rng.integers(1, min(40, capacity - size) + 1)) if op else 1)
        elif op == 4 and size:
            pull(q.dequeue())
        elif op == 5 and size:
            pull(q.dequeue_many(int(rng.integers(1, size + 1))))
        elif op == 6 and size:
            with pytest.raises(DeadlineExceededError):  # gathers everything, gives it back
                q.dequeue_many(capacity + 1, timeout=0)
            assert q.size() == size
        lengths.add(q._cols.length)
    pull(q.dequeue_many(q.size()))
    assert sorted(out) == list(range(nxt)) and q.size() == 0
    assert min(lengths) == 16 and max(lengths) == capacity  # grew by doubling, to the bound


def test_a_failed_allocation_while_growing_leaves_the_queue_as_it_was(monkeypatch):
    from conveyor.core import _columns
    from conveyor.errors import ResourceExhaustedError

    for q in [
        FIFOQueue(100, "int64", shapes=[()]),
        RandomShuffleQueue(100, 0, "int64", shapes=[()], seed=1),
        PriorityQueue(100, ["int64"], shapes=[()]),
    ]:
        q.enqueue_many([np.arange(16)] * (2 if isinstance(q, PriorityQueue) else 1))
        real = _columns.Columns._alloc

        def refuse(comp, length):
            raise ResourceExhaustedError(f"no room for {length}")

        monkeypatch.setattr(_columns.Columns, "_alloc", staticmethod(refuse))
        with pytest.raises(ResourceExhaustedError, match="no room for 32"):
            q.enqueue_many([np.arange(16, 20)] * (2 if isinstance(q, PriorityQueue) else 1))
        monkeypatch.setattr(_columns.Columns, "_alloc", staticmethod(real))
        assert q.size() == 16
        q.enqueue_many([np.arange(16, 20)] * (2 if isinstance(q, PriorityQueue) else 1))
        got = q.dequeue_many(20)
        got = got[1] if isinstance(q, PriorityQueue) else got
        assert sorted(got.tolist()) == list(range(20))


def test_an_element_shape_too_big_to_allocate_is_a_resource_exhausted_error():
    from conveyor.errors import ResourceExhaustedError

    with pytest.raises(ResourceExhaustedError) as info:
        FIFOQueue(4, "uint8", shapes=[(2**40, 2**30)], name="huge")
    assert str(info.value).startswith(
        "huge: component 0: cannot allocate 4 slots of shape (1099511627776, 1073741824) uint8:"
    )


# -- blocking and back-pressure ----------------------------------------------------


def test_enqueue_blocks_while_full_and_resumes_when_a_consumer_takes():
    q = FIFOQueue(2, "int32", shapes=[()])
    q.enqueue(1)
    q.enqueue(2)
    t, box = _start(q.enqueue, 3)
    assert _blocked(t)
    assert q.size() == 2
    assert q.dequeue() == 1
    t.join(5)
    assert not t.is_alive() and "error" not in box
    assert q.dequeue_many(2).tolist() == [2, 3]


def test_dequeue_blocks_while_empty_and_resumes_on_enqueue():
    q = FIFOQueue(2, "int32", shapes=[()])
    t, box = _start(q.dequeue)
    assert _blocked(t)
    q.enqueue(42)
    t.join(5)
    assert box["result"] == 42


def test_enqueue_many_larger_than_capacity_delivers_as_room_appears():
    q = FIFOQueue(3, "int32", shapes=[()])
    t, box = _start(q.enqueue_many, [np.arange(10)])
    got = []
    while len(got) < 10:
        got.append(int(q.dequeue()))
    t.join(5)
    assert "error" not in box and got == list(range(10))


def test_dequeue_many_larger_than_capacity_gathers_in_parts():
    q = FIFOQueue(4, "int32", shapes=[()])
    t, box = _start(q.dequeue_many, 10)
    for i in range(10):
        q.enqueue(i)
    t.join(5)
    assert box["result"].tolist() == list(range(10))


def test_concurrent_enqueue_many_batches_stay_contiguous():
    q = FIFOQueue(5, "int32", shapes=[()])
    threads = [_start(q.enqueue_many, [np.full(20, k, dtype=np.int32)])[0] for k in range(4)]
    got = q.dequeue_many(80).tolist()
    for t in threads:
        t.join(5)
    runs = [got[i * 20 : (i + 1) * 20] for i in range(4)]
    assert all(len(set(r)) == 1 for r in runs)
    assert sorted(r[0] for r in runs) == [0, 1, 2, 3]


def test_timeouts_raise_deadline_exceeded_and_change_nothing():
    q = FIFOQueue(1, "int32", shapes=[()])
    t0 = time.monotonic()
    with pytest.raises(DeadlineExceededError):
        q.dequeue(timeout=0.05)
    with pytest.raises(DeadlineExceededError):
        q.dequeue_many(1, timeout=0.05)
    q.enqueue(5)
    with pytest.raises(DeadlineExceededError):
        q.enqueue(6, timeout=0.05)
    with pytest.raises(DeadlineExceededError):
        q.enqueue_many([[6, 7]], timeout=0.05)
    assert time.monotonic() - t0 < 5
    assert q.size() == 1 and q.dequeue() == 5


_BLOCKING_CALLS = {
    "enqueue": lambda q, t: q.enqueue(1, timeout=t),
    "enqueue_many": lambda q, t: q.enqueue_many([[1, 2]], timeout=t),
    "dequeue": lambda q, t: q.dequeue(timeout=t),
    "dequeue_many": lambda q, t: q.dequeue_many(1, timeout=t),
    "dequeue_up_to": lambda q, t: q.dequeue_up_to(1, timeout=t),
}


@pytest.mark.timeout(5)
@pytest.mark.parametrize(
    ("bad", "shown"),
    [(float("nan"), "nan"), (-1, "-1"), (-0.5, "-0.5"), (True, "True"), ("soon", "'soon'")],
)
@pytest.mark.parametrize("call", list(_BLOCKING_CALLS))
def test_every_blocking_call_refuses_a_nan_negative_bool_or_non_number_timeout(call, bad, shown):
    q = FIFOQueue(4, "int32", shapes=[()])
    q.enqueue(7)  # a dequeue could return at once, an enqueue has room: refused anyway
    with pytest.raises(InvalidArgumentError) as info:
        _BLOCKING_CALLS[call](q, bad)
    assert str(info.value) == f"timeout must be None or a number of seconds >= 0, got {shown}"
    assert q.size() == 1 and q.dequeue() == 7


@pytest.mark.timeout(5)
@pytest.mark.parametrize(
    "forever",
    [None, float("inf"), 1e300, 10**400, np.float64("inf")],
    ids=["None", "inf", "1e300", "10**400", "np.inf"],
)
def test_none_inf_and_timeouts_beyond_the_platform_limit_wait_forever(forever):
    q = FIFOQueue(1, "int32", shapes=[()])
    t, box = _start(lambda: q.dequeue(timeout=forever))
    assert _blocked(t)
    q.enqueue(3)
    t.join(2)
    assert box == {"result": 3}
    q.enqueue(4)  # full: this enqueue waits for room
    t, box = _start(lambda: q.enqueue_many([[5]], timeout=forever))
    assert _blocked(t)
    assert q.dequeue() == 4
    t.join(2)
    assert box == {"result": None} and q.dequeue() == 5


@pytest.mark.timeout(5)
def test_numpy_and_zero_timeouts_are_seconds():
    q = FIFOQueue(1, "int32", shapes=[()])
    with pytest.raises(DeadlineExceededError, match=r"timed out after 0\.0s"):
        q.dequeue(timeout=0)
    with pytest.raises(DeadlineExceededError, match=r"timed out after 0\.01s"):
        q.dequeue_many(1, timeout=np.float64(0.01))
    with pytest.raises(DeadlineExceededError):
        q.dequeue_up_to(1, timeout=np.int64(0))


def test_timed_out_dequeue_many_gives_back_what_it_gathered():
    q = FIFOQueue(3, "int32", shapes=[()])
    q.enqueue_many([[1, 2, 3]])
    t, box = _start(lambda: q.dequeue_many(5, timeout=0.3))
    time.sleep(0.1)
    t.join(5)
    assert isinstance(box["error"], DeadlineExceededError)
    assert q.dequeue_many(3).tolist() == [1, 2, 3]


# -- close and cancel --------------------------------------------------------------


@pytest.mark.parametrize("q", _all_queues(), ids=lambda q: type(q).__name__)
def test_closed_queue_drains_then_raises_out_of_range(q):
    q.enqueue_many([[1, 2, 3]])
    q.close()
    assert q.is_closed()
    assert sorted(int(q.dequeue()) for _ in range(3)) == [1, 2, 3]
    with pytest.raises(OutOfRangeError, match="is closed"):
        q.dequeue()
    with pytest.raises(OutOfRangeError):
        q.dequeue_many(1)
    with pytest.raises(OutOfRangeError):
        q.dequeue_up_to(1)


@pytest.mark.parametrize("q", _all_queues(), ids=lambda q: type(q).__name__)
def test_enqueue_on_closed_queue_raises_cancelled(q):
    q.close()
    with pytest.raises(CancelledError, match="is closed"):
        q.enqueue(1)
    with pytest.raises(CancelledError):
        q.enqueue_many([[1, 2]])


def test_dequeue_many_on_closed_short_queue_raises_and_loses_nothing():
    q = FIFOQueue(10, "int32", shapes=[()])
    q.enqueue_many([[1, 2, 3]])
    q.close()
    with pytest.raises(OutOfRangeError, match=r"requested 5, current size 3"):
        q.dequeue_many(5)
    assert q.size() == 3
    assert q.dequeue_up_to(5).tolist() == [1, 2, 3]
    with pytest.raises(OutOfRangeError):
        q.dequeue_up_to(5)


def test_dequeue_many_waiting_when_closed_gives_back_its_partial_gather_in_order():
    q = FIFOQueue(2, "int32", shapes=[()])
    t, box = _start(q.dequeue_many, 5)
    q.enqueue_many([[1, 2]])
    q.enqueue_many([[3, 4]])
    time.sleep(0.1)
    q.close()
    t.join(5)
    assert isinstance(box["error"], OutOfRangeError)
    assert q.dequeue_up_to(10).tolist() == [1, 2, 3, 4]


def test_dequeue_up_to_waits_for_n_on_an_open_queue():
    q = FIFOQueue(10, "int32", shapes=[()])
    q.enqueue_many([[1, 2]])
    t, box = _start(q.dequeue_up_to, 3)
    assert _blocked(t)
    q.enqueue(3)
    t.join(5)
    assert box["result"].tolist() == [1, 2, 3]


def test_close_wakes_a_blocked_dequeue_with_out_of_range():
    q = FIFOQueue(2, "int32", shapes=[()])
    t, box = _start(q.dequeue)
    assert _blocked(t)
    q.close()
    t.join(5)
    assert isinstance(box["error"], OutOfRangeError)


def test_close_wakes_a_too_short_dequeue_many_and_dequeue_up_to_returns_the_rest():
    q = FIFOQueue(5, "int32", shapes=[()])
    q.enqueue(1)
    t1, box1 = _start(q.dequeue_many, 3)
    assert _blocked(t1)
    q.close()
    t1.join(5)
    assert isinstance(box1["error"], OutOfRangeError)
    assert q.dequeue_up_to(3).tolist() == [1]


def test_plain_close_lets_a_blocked_enqueue_deliver():
    q = FIFOQueue(1, "int32", shapes=[()])
    q.enqueue(1)
    t, box = _start(q.enqueue, 2)
    assert _blocked(t)
    q.close()
    assert _blocked(t, 0.05)
    assert q.dequeue() == 1
    t.join(5)
    assert "error" not in box
    assert q.dequeue() == 2
    with pytest.raises(OutOfRangeError):
        q.dequeue()


def test_dequeue_on_closed_empty_queue_waits_for_a_pending_enqueue():
    q = FIFOQueue(1, "int32", shapes=[()])
    q.enqueue(1)
    t, box = _start(q.enqueue_many, [[2, 3]])
    assert _blocked(t)
    q.close()
    assert q.dequeue_many(3).tolist() == [1, 2, 3]
    t.join(5)
    assert "error" not in box


def test_close_with_cancel_makes_blocked_enqueues_raise_cancelled():
    q = FIFOQueue(1, "int32", shapes=[()])
    q.enqueue(1)
    t1, box1 = _start(q.enqueue, 2)
    t2, box2 = _start(q.enqueue_many, [[3, 4]])
    assert _blocked(t1) and _blocked(t2)
    q.close(cancel_pending_enqueues=True)
    t1.join(5)
    t2.join(5)
    assert isinstance(box1["error"], CancelledError)
    assert isinstance(box2["error"], CancelledError)
    assert q.dequeue() == 1
    with pytest.raises(OutOfRangeError):
        q.dequeue()


def test_cancel_after_plain_close_cancels_still_pending_enqueues():
    q = FIFOQueue(1, "int32", shapes=[()])
    q.enqueue(1)
    t, box = _start(q.enqueue, 2)
    assert _blocked(t)
    q.close()
    q.close(cancel_pending_enqueues=True)
    t.join(5)
    assert isinstance(box["error"], CancelledError)
    assert q.dequeue_up_to(5).tolist() == [1]


def test_cancelled_pending_enqueue_releases_a_dequeue_waiting_for_it():
    q = FIFOQueue(1, "int32", shapes=[()])
    q.enqueue(1)
    te, _ = _start(q.enqueue, 2)
    assert _blocked(te)
    q.close()
    assert q.dequeue() == 1
    # The pending enqueue may deliver first; if it has, drain it.
    td, box = _start(q.dequeue_many, 5)
    q.close(cancel_pending_enqueues=True)
    td.join(5)
    te.join(5)
    assert not td.is_alive()
    assert isinstance(box["error"], OutOfRangeError)


# -- RandomShuffleQueue -------------------------------------------------------------


def test_shuffle_queue_keeps_min_after_dequeue_while_open():
    q = RandomShuffleQueue(20, 5, "int32", shapes=[()], seed=3)
    q.enqueue_many([np.arange(7)])
    assert len(q.dequeue_many(2)) == 2
    t, box = _start(q.dequeue)
    assert _blocked(t)  # only 5 left: taking one would go below min_after_dequeue
    q.enqueue(100)
    t.join(5)
    assert "result" in box
    assert q.size() == 5


def test_shuffle_queue_drains_completely_after_close():
    q = RandomShuffleQueue(20, 10, "int32", shapes=[()], seed=3)
    q.enqueue_many([np.arange(12)])
    q.close()
    got = q.dequeue_many(12)
    assert sorted(got.tolist()) == list(range(12))


def test_shuffle_queue_returns_every_element_exactly_once_and_really_shuffles():
    q = RandomShuffleQueue(2000, 100, ["int64", "float32"], shapes=[(), (2,)], seed=11)
    q.enqueue_many((np.arange(1000), np.stack([np.arange(1000), -np.arange(1000)], 1)))
    q.enqueue_many(
        (np.arange(1000, 1500), np.stack([np.arange(1000, 1500), -np.arange(1000, 1500)], 1))
    )
    q.close()
    parts = [q.dequeue_many(300), q.dequeue_up_to(700)]
    parts.append(q.dequeue_up_to(1000))
    ids = np.concatenate([p[0] for p in parts])
    vals = np.concatenate([p[1] for p in parts])
    assert sorted(ids.tolist()) == list(range(1500))
    assert (vals[:, 0] == ids).all() and (vals[:, 1] == -ids).all()
    # Far from the identity: a shuffle leaves few elements where they were.
    assert (ids == np.arange(1500)).sum() < 30
    assert abs(np.corrcoef(ids, np.arange(1500))[0, 1]) < 0.2


def test_shuffle_queue_single_dequeues_cover_every_element_once():
    q = RandomShuffleQueue(100, 0, "int32", shapes=[()], seed=5)
    q.enqueue_many([np.arange(100)])
    got = [int(q.dequeue()) for _ in range(100)]
    assert sorted(got) == list(range(100))
    assert got != list(range(100))


def _shuffle_run(seed):
    q = RandomShuffleQueue(128, 4, ["int32", "string"], shapes=[(), ()], seed=seed)
    out = []
    for start in range(0, 200, 20):
        q.enqueue_many(
            (np.arange(start, start + 20), [b"%d" % i for i in range(start, start + 20)])
        )
        out.extend(int(q.dequeue()[0]) for _ in range(3))
        ids, keys = q.dequeue_many(10)
        assert [int(k) for k in keys] == ids.tolist()
        out.extend(ids.tolist())
    q.close()
    out.extend(q.dequeue_up_to(1000)[0].tolist())
    return out


def test_shuffle_queue_with_seed_repeats_its_order():
    a, b, c = _shuffle_run(42), _shuffle_run(42), _shuffle_run(43)
    assert sorted(a) == list(range(200))
    assert a == b
    assert a != c


def test_shuffle_dequeue_many_above_the_sampling_window_does_not_deadlock():
    q = RandomShuffleQueue(10, 8, "int32", shapes=[()], seed=0)
    t, box = _start(q.dequeue_many, 15)
    for i in range(25):  # 15 for the consumer, 10 to fill the queue
        q.enqueue(i)
    t.join(5)
    assert sorted(box["result"].tolist()) == sorted(set(box["result"].tolist()))
    assert len(box["result"]) == 15
    q.close()
    rest = q.dequeue_up_to(100).tolist()
    assert sorted(rest + box["result"].tolist()) == list(range(25))


# -- PaddingFIFOQueue ---------------------------------------------------------------


def test_padding_queue_pads_unknown_dimensions_to_the_batch_maximum():
    q = PaddingFIFOQueue(10, ["int32", "string", "float32"], shapes=[[None, 2], [None], [3]])
    q.enqueue(([[1, 1]], [b"a"], [1, 2, 3]))
    q.enqueue(([[2, 2], [3, 3], [4, 4]], [b"b", b"c"], [4, 5, 6]))
    q.enqueue_many(
        (np.zeros((2, 0, 2), dtype=np.int32), np.empty((2, 0), dtype=object), np.ones((2, 3)))
    )
    ints, strs, floats = q.dequeue_many(3)
    assert ints.shape == (3, 3, 2)
    assert ints.tolist() == [
        [[1, 1], [0, 0], [0, 0]],
        [[2, 2], [3, 3], [4, 4]],
        [[0, 0], [0, 0], [0, 0]],
    ]
    assert strs.tolist() == [[b"a", b""], [b"b", b"c"], [b"", b""]]
    assert floats.tolist() == [[1, 2, 3], [4, 5, 6], [1, 1, 1]]
    q.close()
    rest = q.dequeue_up_to(5)
    assert rest[0].shape == (1, 0, 2) and rest[1].shape == (1, 0)


def test_padding_queue_single_dequeue_returns_the_element_unpadded():
    q = PaddingFIFOQueue(4, "int32", shapes=[[None]])
    q.enqueue([[1, 2, 3]])
    q.enqueue([[4]])
    assert q.dequeue().tolist() == [1, 2, 3]
    assert q.dequeue().tolist() == [4]


def test_padding_queue_requires_shapes_with_a_rank():
    with pytest.raises(InvalidArgumentError, match="needs shapes"):
        PaddingFIFOQueue(4, "int32", shapes=None)
    with pytest.raises(InvalidArgumentError, match="rank"):
        PaddingFIFOQueue(4, ["int32"], shapes=[None])
    q = PaddingFIFOQueue(4, "int32", shapes=[[None, 2]])
    with pytest.raises(InvalidArgumentError, match="expected shape"):
        q.enqueue([[1, 2, 3]])


# -- PriorityQueue -----------------------------------------------------------------


def test_priority_queue_dequeues_lowest_priority_first_and_ties_in_arrival_order():
    q = PriorityQueue(20, ["string"], shapes=[()])
    q.enqueue((5, b"e"))
    q.enqueue_many(([3, 1, 3, 9], [b"c1", b"a", b"c2", b"z"]))
    q.enqueue((-2, b"neg"))
    q.enqueue_many(([3, 0], [b"c3", b"zero"]))
    prio, vals = q.dequeue_many(4)
    assert prio.dtype == np.int64 and prio.tolist() == [-2, 0, 1, 3]
    assert vals.tolist() == [b"neg", b"zero", b"a", b"c1"]
    p, v = q.dequeue()
    assert (p, v) == (3, b"c2")
    q.close()
    prio, vals = q.dequeue_up_to(10)
    assert prio.tolist() == [3, 5, 9] and vals.tolist() == [b"c3", b"e", b"z"]


def test_priority_queue_interleaved_inserts_stay_sorted():
    rng = np.random.default_rng(0)
    q = PriorityQueue(1000, ["int64"], shapes=[()])
    live = []
    seq = 0
    for _ in range(100):
        k = int(rng.integers(1, 8))
        pr = rng.integers(0, 20, size=k)
        q.enqueue_many((pr, np.arange(seq, seq + k)))
        live.extend(zip(pr.tolist(), range(seq, seq + k)))
        seq += k
        m = int(rng.integers(0, 5))
        live.sort()
        want, live = live[:m], live[m:]
        p, ids = q.dequeue_many(m)
        assert list(zip(p.tolist(), ids.tolist())) == want


def test_priority_queue_names_cover_the_priority_and_it_must_be_int():
    q = PriorityQueue(4, ["float32"], shapes=[(2,)], names=["prio", "x"])
    q.enqueue({"prio": 2, "x": [1.0, 2.0]})
    q.enqueue({"prio": 1, "x": [3.0, 4.0]})
    out = q.dequeue_many(2)
    assert out["prio"].tolist() == [1, 2] and out["x"].tolist() == [[3.0, 4.0], [1.0, 2.0]]
    with pytest.raises(InvalidArgumentError, match="component 0"):
        q.enqueue({"prio": 1.5, "x": [0.0, 0.0]})


# -- progress: batched producers and consumers never wait on each other forever ------


def test_waiting_dequeue_many_and_blocked_enqueue_many_make_progress_together():
    q = FIFOQueue(10, "int32", shapes=[()])
    q.enqueue_many([np.arange(7)])
    t, box = _start(q.enqueue_many, [np.arange(7, 14)])  # does not fit: room is 3
    assert _blocked(t)
    assert q.dequeue_many(10).tolist() == list(range(10))
    t.join(5)
    assert "error" not in box and q.dequeue_many(4).tolist() == [10, 11, 12, 13]


def test_epoch_larger_than_capacity_feeds_a_consumer_taking_small_batches():
    q = FIFOQueue(32, "int32", shapes=[()])

    def produce():
        for _ in range(3):
            q.enqueue_many([np.arange(50)])
        q.close()

    t, box = _start(produce)
    got = []
    with pytest.raises(OutOfRangeError):
        while True:
            got.extend(q.dequeue_up_to(7).tolist())
    t.join(5)
    assert "error" not in box
    assert got == list(range(50)) * 3


def _random_pair_trial(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cap = int(rng.integers(1, 12))
    if rng.random() < 0.5:
        q = FIFOQueue(cap, "int64", shapes=[()])
    else:
        q = RandomShuffleQueue(cap, int(rng.integers(0, cap)), "int64", shapes=[()], seed=seed)
    total = 300
    sizes = rng.integers(1, 2 * cap + 4, size=400)

    def produce():
        i = 0
        for k in sizes:
            k = min(int(k), total - i)
            if k == 0:
                break
            if k == 1:
                q.enqueue(i)
            else:
                q.enqueue_many([np.arange(i, i + k)])
            i += k
        q.close()

    t, box = _start(produce)
    got: list[int] = []
    try:
        for k in rng.integers(1, 2 * cap + 4, size=1000):
            if k == 1:
                got.append(int(q.dequeue()))
            else:
                got.extend(q.dequeue_many(int(k)).tolist())
    except OutOfRangeError:
        pass
    try:
        while True:
            got.extend(q.dequeue_up_to(5).tolist())
    except OutOfRangeError:
        pass
    t.join(5)
    assert "error" not in box, box.get("error")
    if isinstance(q, FIFOQueue):
        assert got == list(range(total)), f"seed {seed}"
    else:
        assert sorted(got) == list(range(total)), f"seed {seed}"


@pytest.mark.timeout(60)
def test_random_batch_sizes_on_both_sides_never_deadlock_300_trials():
    for seed in range(300):
        _random_pair_trial(seed)


def test_pyobject_components_carry_any_python_object_by_reference():
    q = FIFOQueue(4, ["pyobject", "int32"], shapes=[None, ()])
    payload = {"a": np.arange(3)}
    q.enqueue((payload, 1))
    q.enqueue_many(([np.zeros((2, 2)), "text"], [2, 3]))
    obj, i = q.dequeue()
    assert obj is payload and i == 1
    objs, ints = q.dequeue_many(2)
    assert objs.dtype == object and objs.shape == (2,)
    assert np.array_equal(objs[0], np.zeros((2, 2))) and objs[1] == "text"
    assert ints.tolist() == [2, 3]


@pytest.mark.parametrize(
    "value", ["x", np.str_("x"), np.bytes_(b"x"), np.array(b"x"), np.array("x"), b"x"]
)
def test_scalar_strings_of_any_kind_come_back_as_plain_bytes(value):
    q = FIFOQueue(4, "string", shapes=[()])
    q.enqueue(value)
    q.enqueue(value)
    one = q.dequeue()
    assert type(one) is bytes and one == b"x"
    many = q.dequeue_many(1)
    assert many.dtype == object and many.tolist() == [b"x"] and type(many[0]) is bytes


def test_empty_enqueue_many_on_a_closed_queue_does_nothing():
    q = FIFOQueue(4, "int32", shapes=[()])
    q.close()
    q.enqueue_many([np.zeros(0, dtype=np.int32)])
    assert q.size() == 0


def test_a_wrong_kind_of_value_is_also_a_type_error_as_in_tensorflow():
    q = FIFOQueue(4, ["int32", "string"], shapes=[(), ()])
    with pytest.raises(TypeError, match="component 0"):
        q.enqueue((1.5, b"a"))
    with pytest.raises(TypeError, match="component 1"):
        q.enqueue((1, 5))
    with pytest.raises(InvalidArgumentError):
        q.enqueue((1.5, b"a"))


def test_tensorflow_constructor_keywords_are_accepted():
    assert FIFOQueue(2, ["int32"], shared_name="shared", name="q").name == "q"
    assert RandomShuffleQueue(4, 1, "int32", seed=1, shared_name="s").capacity == 4
    assert PaddingFIFOQueue(2, ["int32"], [[None]], shared_name="s").shapes == [(None,)]
    p = PriorityQueue(3, types=["string"], shapes=[()], shared_name="s", name="pq")
    p.enqueue((2, b"b"))
    p.enqueue((1, b"a"))
    assert p.dequeue() == [1, b"a"]
    assert PriorityQueue(3, dtypes=["int32"]).dtypes == [np.dtype(np.int64), np.dtype(np.int32)]
    with pytest.raises(InvalidArgumentError, match="types"):
        PriorityQueue(3)


def test_shuffle_queue_takes_back_a_failed_gather_even_beyond_its_capacity():
    q = RandomShuffleQueue(4, 0, ["int64", "string"], shapes=[(), ()], seed=2)
    t, box = _start(q.dequeue_many, 6)
    q.enqueue_many(([0, 1, 2, 3], [b"0", b"1", b"2", b"3"]))  # gathered: 6 > capacity
    time.sleep(0.1)
    q.enqueue((4, b"4"))
    time.sleep(0.1)
    q.close()  # 5 < 6: the dequeue fails and returns its 4 on top of the 1 queued
    t.join(5)
    assert isinstance(box["error"], OutOfRangeError)
    assert q.size() == 5
    ids, keys = q.dequeue_up_to(10)
    assert sorted(ids.tolist()) == [0, 1, 2, 3, 4]
    assert [int(k) for k in keys] == ids.tolist()
