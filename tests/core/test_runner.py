"""QueueRunner and the runner registry, including the seed tutorial's scenario."""

from __future__ import annotations

import threading
import traceback

import numpy as np
import pytest

import conveyor as cv
from conveyor.errors import CancelledError, InvalidArgumentError, OutOfRangeError

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(autouse=True)
def _empty_registry():
    cv.clear_queue_runners()
    yield
    cv.clear_queue_runners()


def _counter_op(queue, limit, lock, state):
    """An enqueue op that enqueues 0..limit-1 between all its threads, then ends."""

    def op():
        with lock:
            i = state["next"]
            if i >= limit:
                raise OutOfRangeError("input exhausted")
            state["next"] = i + 1
        queue.enqueue(i)

    return op


def _our_threads():
    return [t for t in threading.enumerate() if t.name.startswith("QueueRunnerThread")]


def test_runner_closes_the_queue_when_every_thread_meets_end_of_input():
    q = cv.FIFOQueue(1000, "int64", shapes=[()])
    op = _counter_op(q, 500, threading.Lock(), {"next": 0})
    qr = cv.QueueRunner(q, [op] * 4)
    coord = cv.Coordinator()
    threads = qr.create_threads(coord=coord, start=True)
    assert len(threads) == 5  # four enqueue threads and the cancel thread
    got = []
    with pytest.raises(OutOfRangeError):
        while True:
            got.append(int(q.dequeue()))
    assert sorted(got) == list(range(500))
    coord.join(threads)
    assert qr.exceptions_raised == []
    assert _our_threads() == []


def test_runner_threads_end_without_a_coordinator():
    q = cv.FIFOQueue(10, "int64", shapes=[()])
    qr = cv.QueueRunner(q, [_counter_op(q, 30, threading.Lock(), {"next": 0})] * 2)
    threads = qr.create_threads(start=True)
    assert len(threads) == 2
    got = []
    while True:
        try:
            got.extend(q.dequeue_up_to(7).tolist())
        except OutOfRangeError:
            break
    for t in threads:
        t.join(5)
    assert sorted(got) == list(range(30))


def test_an_error_in_one_thread_stops_all_and_join_reraises_it_with_its_traceback():
    q = cv.FIFOQueue(4, "int64", shapes=[()])
    calls = {"n": 0}
    lock = threading.Lock()

    def flaky():
        with lock:
            calls["n"] += 1
            n = calls["n"]
        if n == 50:
            _broken_transform()
        q.enqueue(n)

    qr = cv.QueueRunner(q, [flaky] * 3)
    coord = cv.Coordinator()
    threads = qr.create_threads(coord=coord, start=True)
    with pytest.raises(OutOfRangeError):
        while True:
            q.dequeue()
    with pytest.raises(ZeroDivisionError) as info:
        coord.join(threads)
    assert "_broken_transform" in [f.name for f in traceback.extract_tb(info.value.__traceback__)]
    assert [type(e) for e in qr.exceptions_raised] == [ZeroDivisionError]
    assert q.is_closed()
    assert _our_threads() == []


def _broken_transform():
    return 1 / 0


def test_stop_request_cancels_producers_blocked_on_a_full_queue():
    q = cv.FIFOQueue(2, "int64", shapes=[()])
    qr = cv.QueueRunner(q, [lambda: q.enqueue(1)] * 3)
    coord = cv.Coordinator()
    threads = qr.create_threads(coord=coord, start=True)
    assert int(q.dequeue()) == 1
    coord.request_stop()
    coord.join(threads, stop_grace_period_secs=5)
    assert qr.exceptions_raised == []  # the cancellation caused by the stop is not an error
    assert _our_threads() == []


def test_create_threads_returns_nothing_while_already_running():
    q = cv.FIFOQueue(2, "int64", shapes=[()])
    qr = cv.QueueRunner(q, [lambda: q.enqueue(1)])
    coord = cv.Coordinator()
    first = qr.create_threads(coord=coord, start=True)
    assert len(first) == 2
    assert qr.create_threads(coord=coord, start=True) == []
    coord.request_stop()
    coord.join(first)


def test_create_threads_daemon_and_start_flags():
    q = cv.FIFOQueue(2, "int64", shapes=[()])
    qr = cv.QueueRunner(q, [_counter_op(q, 0, threading.Lock(), {"next": 0})])
    coord = cv.Coordinator()
    threads = qr.create_threads(coord=coord, daemon=True, start=False)
    assert all(t.daemon for t in threads) and not any(t.is_alive() for t in threads)
    for t in threads:
        t.start()
    coord.join(threads)
    assert q.is_closed()


def test_custom_close_op_and_queue_closed_exception_types():
    q = cv.FIFOQueue(10, "int64", shapes=[()])
    closed = []
    it = iter(range(3))

    def op():
        q.enqueue(next(it))

    qr = cv.QueueRunner(
        q,
        [op],
        close_op=lambda: closed.append(True) or q.close(),
        queue_closed_exception_types=(StopIteration,),
    )
    coord = cv.Coordinator()
    threads = qr.create_threads(coord=coord, start=True)
    assert q.dequeue_many(3).tolist() == [0, 1, 2]
    coord.join(threads)
    assert closed == [True] and q.is_closed()


def test_bad_runner_arguments():
    q = cv.FIFOQueue(2, "int64")
    with pytest.raises(InvalidArgumentError):
        cv.QueueRunner(q, [])
    with pytest.raises(InvalidArgumentError):
        cv.QueueRunner(q, ["not callable"])
    with pytest.raises(InvalidArgumentError):
        cv.QueueRunner(None, [lambda: None])


def test_runner_arguments_of_the_wrong_shape_are_invalid_arguments_not_raw_errors():
    q = cv.FIFOQueue(2, "int64")
    op = lambda: None  # noqa: E731
    with pytest.raises(InvalidArgumentError) as info:
        cv.QueueRunner(q, op)  # one callable, not a list: a raw TypeError before
    assert str(info.value) == (
        f"enqueue_ops must be a list of callables (one per thread), got {op!r}"
    )
    with pytest.raises(InvalidArgumentError) as info:
        cv.QueueRunner(q, [op], queue_closed_exception_types=(OutOfRangeError, "closed"))
    assert str(info.value) == (
        "queue_closed_exception_types must be exception classes, got 'closed' in "
        f"({OutOfRangeError!r}, 'closed')"
    )
    with pytest.raises(InvalidArgumentError, match="must not be empty"):
        cv.QueueRunner(q, [op], queue_closed_exception_types=())
    single = cv.QueueRunner(q, [op], queue_closed_exception_types=OutOfRangeError)
    assert single.queue_closed_exception_types == (OutOfRangeError,)


def test_registry_starts_every_registered_runner_once():
    # Small capacities keep both runners blocked, so they are still running below.
    a = cv.FIFOQueue(5, "int64", shapes=[()])
    b = cv.FIFOQueue(5, "int64", shapes=[()])
    cv.add_queue_runner(cv.QueueRunner(a, [_counter_op(a, 10, threading.Lock(), {"next": 0})]))
    cv.add_queue_runner(cv.QueueRunner(b, [_counter_op(b, 20, threading.Lock(), {"next": 0})]))
    cv.add_queue_runner(cv.QueueRunner(b, [lambda: None]), collection="elsewhere")
    assert len(cv.get_queue_runners()) == 2 and len(cv.get_queue_runners("elsewhere")) == 1
    coord = cv.Coordinator()
    threads = cv.start_queue_runners(coord=coord)
    assert len(threads) == 4 and all(t.daemon for t in threads)
    assert cv.start_queue_runners(coord=coord) == []
    assert a.dequeue_up_to(100).tolist() == list(range(10))
    assert b.dequeue_up_to(100).tolist() == list(range(20))
    coord.join(threads)
    with pytest.raises(InvalidArgumentError):
        cv.add_queue_runner("not a runner")


def test_seed_tutorial_slices_two_epochs_batched_by_three():
    """5 samples, 2 epochs, no shuffle, batch 3: [0,1,2], [3,4,0], [1,2,3], then the end."""
    labels = np.arange(5, dtype=np.int32)
    images = np.random.default_rng(0).random((5, 4, 4, 3)).astype(np.float32)
    num_epochs = 2
    # The producer: a queue of slice indices, num_epochs passes, in order.
    index_queue = cv.FIFOQueue(32, "int64", shapes=[()])
    indices = iter(np.tile(np.arange(5), num_epochs))
    pos_lock = threading.Lock()

    def produce():
        with pos_lock:
            i = next(indices, None)
        if i is None:
            raise OutOfRangeError("epochs done")
        index_queue.enqueue(i)

    cv.add_queue_runner(cv.QueueRunner(index_queue, [produce]))
    # The batcher's queue, fed by one thread reading slices.
    batch_queue = cv.FIFOQueue(64, ["float32", "int32"], shapes=[(4, 4, 3), ()])

    def enqueue_slice():
        i = index_queue.dequeue()
        batch_queue.enqueue((images[i], labels[i]))

    cv.add_queue_runner(cv.QueueRunner(batch_queue, [enqueue_slice]))

    coord = cv.Coordinator()
    threads = cv.start_queue_runners(coord=coord)
    seen = []
    try:
        while not coord.should_stop():
            image_batch, label_batch = batch_queue.dequeue_many(3)
            assert image_batch.shape == (3, 4, 4, 3)
            assert np.array_equal(image_batch, images[label_batch])
            seen.append(label_batch.tolist())
    except OutOfRangeError:
        pass
    finally:
        coord.request_stop()
    coord.join(threads)
    assert seen == [[0, 1, 2], [3, 4, 0], [1, 2, 3]]
    assert batch_queue.size() == 1  # the 10th slice, short of a batch
    assert _our_threads() == []


def test_seed_tutorial_with_two_batching_threads_delivers_the_same_multiset():
    labels = np.arange(5)
    index_queue = cv.FIFOQueue(32, "int64", shapes=[()])
    index_queue.enqueue_many([np.tile(labels, 2)])
    index_queue.close()
    batch_queue = cv.FIFOQueue(64, "int64", shapes=[()])
    qr = cv.QueueRunner(batch_queue, [lambda: batch_queue.enqueue(index_queue.dequeue())] * 2)
    coord = cv.Coordinator()
    threads = qr.create_threads(coord=coord, start=True)
    batches = []
    try:
        while True:
            batches.append(batch_queue.dequeue_many(3).tolist())
    except OutOfRangeError:
        pass
    coord.request_stop()
    coord.join(threads)
    assert len(batches) == 3
    rest = [] if batch_queue.size() == 0 else batch_queue.dequeue_up_to(3).tolist()
    assert sorted([x for b in batches for x in b] + rest) == sorted(np.tile(labels, 2).tolist())


def test_enqueue_after_cancel_by_runner_raises_cancelled():
    q = cv.FIFOQueue(2, "int64", shapes=[()])
    qr = cv.QueueRunner(q, [lambda: q.enqueue(1)])
    coord = cv.Coordinator()
    threads = qr.create_threads(coord=coord, start=True)
    coord.request_stop()
    coord.join(threads)
    with pytest.raises(CancelledError):
        q.enqueue(2)
