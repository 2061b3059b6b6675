"""The four queues: their ops, attributes and errors; contents belong to the session."""

import warnings

import numpy as np
import pytest

import conveyor.compat.v1 as tf
from conveyor.compat.v1 import _queues


def test_fifo_queue_enqueue_dequeue_many_up_to_size_close():
    q = tf.FIFOQueue(10, [tf.int32, tf.string], shapes=[[], []])
    with tf.Session() as sess:
        sess.run(q.enqueue_many([[1, 2, 3], ["a", "b", "c"]]))
        sess.run(q.enqueue((4, "d")))
        assert sess.run(q.size()) == 4
        n, s = sess.run(q.dequeue())
        assert (n, s) == (1, b"a")
        nums, strs = sess.run(q.dequeue_many(2))
        np.testing.assert_array_equal(nums, [2, 3])
        assert strs.tolist() == [b"b", b"c"]
        assert not sess.run(q.is_closed())
        sess.run(q.close())
        assert sess.run(q.is_closed())
        nums, _ = sess.run(q.dequeue_up_to(5))
        np.testing.assert_array_equal(nums, [4])
        with pytest.raises(tf.errors.OutOfRangeError):
            sess.run(q.dequeue())


def test_enqueue_on_closed_queue_is_cancelled():
    q = tf.FIFOQueue(2, tf.int32)
    with tf.Session() as sess:
        sess.run(q.close())
        with pytest.raises(tf.errors.CancelledError):
            sess.run(q.enqueue(1))


def test_dequeue_returns_tensor_list_or_dict():
    one = tf.FIFOQueue(2, tf.int32, shapes=[[2]])
    assert isinstance(one.dequeue(), tf.Tensor)
    assert one.dequeue_many(3).shape.as_list() == [3, 2]
    assert one.dequeue_up_to(3).shape.as_list() == [None, 2]
    two = tf.FIFOQueue(2, [tf.int32, tf.float32])
    assert isinstance(two.dequeue(), list) and len(two.dequeue()) == 2
    named = tf.FIFOQueue(2, [tf.int32, tf.float32], names=["a", "b"])
    out = named.dequeue()
    assert isinstance(out, dict) and set(out) == {"a", "b"}
    with tf.Session() as sess:
        sess.run(named.enqueue({"a": 1, "b": 2.0}))
        assert sess.run(out) == {"a": 1, "b": np.float32(2.0)}
    with pytest.raises(ValueError):
        named.enqueue((1, 2.0))


def test_queue_attributes():
    q = tf.FIFOQueue(5, [tf.int32, tf.string], shapes=[[2, 3], []], names=["x", "y"], name="my_q")
    assert q.dtypes == [tf.int32, tf.string]
    assert [s.as_list() for s in q.shapes] == [[2, 3], []]
    assert q.names == ["x", "y"]
    assert q.name == "my_q"
    assert tf.FIFOQueue(5, tf.int32).shapes[0].ndims is None


def test_fifo_queue_refuses_partial_shapes():
    with pytest.raises(ValueError, match="fully defined"):
        tf.FIFOQueue(5, tf.int32, shapes=[[None]])


def test_close_cancel_pending_enqueues():
    q = tf.FIFOQueue(1, tf.int32)
    with tf.Session() as sess:
        sess.run(q.enqueue(1))
        import threading

        errors = []

        def blocked():
            try:
                sess.run(q.enqueue(2))
            except tf.errors.CancelledError as e:
                errors.append(e)

        t = threading.Thread(target=blocked)
        t.start()
        import time

        time.sleep(0.1)
        sess.run(q.close(cancel_pending_enqueues=True))
        t.join(5)
        assert errors and isinstance(errors[0], tf.errors.CancelledError)


def test_queue_contents_belong_to_the_session():
    q = tf.FIFOQueue(5, tf.int32)
    enq = q.enqueue(7)
    with tf.Session() as a, tf.Session() as b:
        a.run(enq)
        assert a.run(q.size()) == 1
        assert b.run(q.size()) == 0


def test_random_shuffle_queue_is_seeded_and_keeps_min_after_dequeue():
    def draw():
        tf.reset_default_graph()
        q = tf.RandomShuffleQueue(100, 5, tf.int32, shapes=[[]], seed=3)
        with tf.Session() as sess:
            sess.run(q.enqueue_many([np.arange(20, dtype=np.int32)]))
            with pytest.raises(tf.errors.DeadlineExceededError):
                sess.run(q.dequeue_many(16), options=tf.RunOptions(timeout_in_ms=50))
            return sess.run(q.dequeue_many(15)).tolist()

    first = draw()
    assert sorted(first) != first and len(set(first)) == 15
    assert draw() == first


def test_padding_fifo_queue_pads_batches():
    q = tf.PaddingFIFOQueue(5, tf.int32, shapes=[[None]])
    with tf.Session() as sess:
        sess.run(q.enqueue([[1]]))
        sess.run(q.enqueue([[2, 3, 4]]))
        np.testing.assert_array_equal(sess.run(q.dequeue_many(2)), [[1, 0, 0], [2, 3, 4]])
    with pytest.raises(ValueError):
        tf.PaddingFIFOQueue(5, tf.int32, shapes=None)


def test_priority_queue_orders_by_priority():
    q = tf.PriorityQueue(5, [tf.string], shapes=[[]])
    assert q.dtypes == [tf.int64, tf.string]
    with tf.Session() as sess:
        sess.run(q.enqueue_many([[3, 1, 2], ["c", "a", "b"]]))
        prio, vals = sess.run(q.dequeue_many(3))
    assert prio.tolist() == [1, 2, 3] and vals.tolist() == [b"a", b"b", b"c"]


def test_dequeue_without_started_runners_warns(monkeypatch):
    monkeypatch.setattr(_queues, "RUNNER_GRACE_SECS", 0.05)
    q = tf.train.string_input_producer(["a", "b"], shuffle=False)
    with tf.Session() as sess:
        with (
            pytest.warns(RuntimeWarning, match="start_queue_runners"),
            pytest.raises(tf.errors.DeadlineExceededError),
        ):
            sess.run(q.dequeue(), options=tf.RunOptions(timeout_in_ms=300))
        tf.train.start_queue_runners(sess)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert sess.run(q.dequeue()) == b"a"


def test_a_short_timeout_still_warns_before_it_expires():
    q = tf.train.string_input_producer(["a"])
    with tf.Session() as sess:
        with (
            pytest.warns(UserWarning, match=f"queue '{q.name}'.*call tf.train.start_queue_runners"),
            pytest.raises(tf.errors.DeadlineExceededError),
        ):
            sess.run(q.dequeue(), options=tf.RunOptions(timeout_in_ms=100))
        tf.train.start_queue_runners(sess)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert sess.run(q.dequeue()) == b"a"
