"""tf.train: QueueRunner, the Coordinator, start_queue_runners, producers and batching."""

import os
import threading

import numpy as np
import pytest

import conveyor
import conveyor.compat.v1 as tf


def _drain(sess, t):
    out = []
    try:
        while True:
            out.append(sess.run(t))
    except tf.errors.OutOfRangeError:
        return out


def test_coordinator_is_conveyors():
    assert tf.train.Coordinator is conveyor.Coordinator


def test_queue_runner_threads_run_enqueue_ops_through_the_session():
    q = tf.FIFOQueue(10, tf.int32)
    counter = tf.Variable(0)
    enq = q.enqueue(counter.assign_add(1))
    qr = tf.train.QueueRunner(q, [enq] * 3)
    assert qr.queue is q and qr.enqueue_ops == [enq] * 3 and qr.name == q.name
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        coord = tf.train.Coordinator()
        threads = qr.create_threads(sess, coord=coord, daemon=True, start=True)
        assert len(threads) == 4  # three runners and the one that cancels on stop
        values = sess.run(q.dequeue_many(20))
        assert len(set(values.tolist())) == 20 and min(values) >= 1
        assert qr.create_threads(sess, coord=coord) == []
        coord.request_stop()
        coord.join(threads)


def test_queue_runner_needs_queue_and_ops():
    with pytest.raises(ValueError):
        tf.train.QueueRunner()


def test_runner_errors_reach_the_coordinator():
    q = tf.FIFOQueue(10, tf.float32)
    x = tf.placeholder(tf.float32)
    qr = tf.train.QueueRunner(q, [q.enqueue(x)])
    with tf.Session() as sess:
        coord = tf.train.Coordinator()
        threads = qr.create_threads(sess, coord=coord, start=True)
        with pytest.raises(tf.errors.InvalidArgumentError, match="placeholder"):
            coord.join(threads)


def test_start_queue_runners_positional_and_default_session():
    q = tf.train.range_input_producer(3, shuffle=False)
    with tf.Session() as sess:
        coord = tf.train.Coordinator()
        threads = tf.train.start_queue_runners(sess, coord)
        assert sess.run(q.dequeue_many(4)).tolist() == [0, 1, 2, 0]
        coord.request_stop()
        coord.join(threads)
    sess = tf.Session()
    with sess.as_default():
        coord = tf.train.Coordinator()
        threads = tf.train.start_queue_runners(coord=coord)
        assert threads
        coord.request_stop()
        coord.join(threads)
    sess.close()
    with pytest.raises(ValueError, match="No default session"):
        tf.train.start_queue_runners()


def test_runners_belong_to_the_graph_and_the_native_registry_is_untouched():
    conveyor.clear_queue_runners()
    tf.train.string_input_producer(["a"])
    assert len(tf.get_collection(tf.GraphKeys.QUEUE_RUNNERS)) == 1
    assert conveyor.get_queue_runners() == []
    other = tf.Graph()
    assert other.get_collection(tf.GraphKeys.QUEUE_RUNNERS) == []


def test_string_input_producer_epochs_are_exact():
    q = tf.train.string_input_producer(["a", "b", "c"], num_epochs=2, shuffle=False)
    with tf.Session() as sess:
        sess.run(tf.local_variables_initializer())
        coord = tf.train.Coordinator()
        threads = tf.train.start_queue_runners(sess, coord)
        assert _drain(sess, q.dequeue()) == [b"a", b"b", b"c"] * 2
        coord.request_stop()
        coord.join(threads)


def test_string_input_producer_shuffles_every_epoch_with_seed():
    q = tf.train.string_input_producer([str(i) for i in range(10)], num_epochs=3, seed=5)
    with tf.Session() as sess:
        threads = tf.train.start_queue_runners(sess)
        got = _drain(sess, q.dequeue())
        for t in threads:
            t.join(5)
    assert sorted(got) == sorted([str(i).encode() for i in range(10)] * 3)
    assert got[:10] != sorted(got[:10])


def test_string_input_producer_rejects_an_empty_list():
    with pytest.raises(ValueError):
        tf.train.string_input_producer([])


def test_two_sessions_have_their_own_epochs():
    q = tf.train.range_input_producer(2, num_epochs=1, shuffle=False)
    for _ in range(2):
        with tf.Session() as sess:
            tf.train.start_queue_runners(sess)
            assert _drain(sess, q.dequeue()) == [0, 1]


def test_slice_input_producer_and_batch_like_seed_003():
    images = tf.cast(np.arange(5 * 2, dtype=np.float64).reshape(5, 2), tf.float32)
    labels = tf.cast(np.arange(5), tf.int32)
    sliced = tf.train.slice_input_producer([images, labels], num_epochs=2, shuffle=False)
    assert isinstance(sliced, list) and sliced[0].shape.as_list() == [2]
    x, y = tf.train.batch(sliced, batch_size=3, num_threads=2, capacity=64)
    assert x.shape.as_list() == [3, 2] and y.shape.as_list() == [3]
    with tf.Session() as sess:
        sess.run(tf.local_variables_initializer())
        coord = tf.train.Coordinator()
        threads = tf.train.start_queue_runners(sess, coord)
        got = _drain(sess, y)
        coord.request_stop()
        coord.join(threads)
    assert [g.tolist() for g in got] == [[0, 1, 2], [3, 4, 0], [1, 2, 3]]


def test_batch_return_structures():
    x = tf.constant([1, 2])
    y = tf.constant(3)
    assert isinstance(tf.train.batch([x], 4), tf.Tensor)
    assert isinstance(tf.train.batch([x, y], 4), list)
    d = tf.train.batch({"b": y, "a": x}, 4)
    assert set(d) == {"a", "b"} and d["a"].shape.as_list() == [4, 2]


def test_batch_allow_smaller_final_batch_and_enqueue_many():
    q = tf.train.range_input_producer(5, num_epochs=1, shuffle=False)
    b = tf.train.batch([q.dequeue_up_to(2)], 3, enqueue_many=True, allow_smaller_final_batch=True)
    assert b.shape.as_list() == [None]
    with tf.Session() as sess:
        tf.train.start_queue_runners(sess)
        assert [v.tolist() for v in _drain(sess, b)] == [[0, 1, 2], [3, 4]]


def test_batch_needs_fully_defined_shapes_unless_dynamic_pad():
    q = tf.FIFOQueue(5, tf.int32)
    v = q.dequeue()
    with pytest.raises(ValueError):
        tf.train.batch([tf.placeholder(tf.int32, shape=[None])], 2)
    padded = tf.train.batch(
        [tf.placeholder_with_default([1, 2], shape=[None])], 2, dynamic_pad=True
    )
    assert padded.shape.as_list() == [2, None]
    del v


def test_dynamic_pad_pads():
    q = tf.PaddingFIFOQueue(5, tf.int32, shapes=[[None]])
    value = q.dequeue()
    b = tf.train.batch([value], 2, dynamic_pad=True)
    with tf.Session() as sess:
        sess.run(q.enqueue([[1]]))
        sess.run(q.enqueue([[2, 3]]))
        tf.train.start_queue_runners(sess)
        np.testing.assert_array_equal(sess.run(b), [[1, 0], [2, 3]])


def test_shuffle_batch_is_a_permutation():
    q = tf.train.range_input_producer(50, num_epochs=1, shuffle=False)
    b = tf.train.shuffle_batch(
        [q.dequeue()],
        10,
        capacity=40,
        min_after_dequeue=20,
        num_threads=2,
        seed=1,
        allow_smaller_final_batch=True,
    )
    with tf.Session() as sess:
        tf.train.start_queue_runners(sess)
        got = np.concatenate(_drain(sess, b)).tolist()
    assert sorted(got) == list(range(50)) and got != list(range(50))


def test_batch_join_and_shuffle_batch_join():
    a = tf.train.range_input_producer(4, num_epochs=1, shuffle=False)
    c = tf.train.range_input_producer(4, num_epochs=1, shuffle=False)
    j = tf.train.batch_join([[a.dequeue()], [c.dequeue() + 10]], 2, allow_smaller_final_batch=True)
    with tf.Session() as sess:
        tf.train.start_queue_runners(sess)
        got = np.concatenate(_drain(sess, j)).tolist()
    assert sorted(got) == [0, 1, 2, 3, 10, 11, 12, 13]
    tf.reset_default_graph()
    a = tf.train.range_input_producer(4, num_epochs=1, shuffle=False)
    j = tf.train.shuffle_batch_join(
        [[a.dequeue()]], 2, capacity=10, min_after_dequeue=2, allow_smaller_final_batch=True
    )
    with tf.Session() as sess:
        tf.train.start_queue_runners(sess)
        assert sorted(np.concatenate(_drain(sess, j)).tolist()) == [0, 1, 2, 3]


def test_maybe_batch_keeps_only_what_is_kept():
    q = tf.train.range_input_producer(6, num_epochs=1, shuffle=False)
    v = q.dequeue()
    b = tf.train.maybe_batch(
        [v], keep_input=(v % 2) < 1, batch_size=2, allow_smaller_final_batch=True
    )
    with tf.Session() as sess:
        tf.train.start_queue_runners(sess)
        assert np.concatenate(_drain(sess, b)).tolist() == [0, 2, 4]


def test_match_filenames_once_feeds_string_input_producer(tmp_path):
    for name in ["b.txt", "a.txt", "c.bin"]:
        (tmp_path / name).write_text(name)
    files = tf.train.match_filenames_once(os.path.join(str(tmp_path), "*.txt"))
    q = tf.train.string_input_producer(files, num_epochs=1, shuffle=False)
    with tf.Session() as sess:
        with pytest.raises(tf.errors.FailedPreconditionError):
            sess.run(files)
        sess.run(tf.local_variables_initializer())
        assert [os.path.basename(f) for f in sess.run(files).tolist()] == [b"a.txt", b"b.txt"]
        tf.train.start_queue_runners(sess)
        assert [os.path.basename(f) for f in _drain(sess, q.dequeue())] == [b"a.txt", b"b.txt"]


def test_closing_the_session_ends_runner_threads_quietly():
    q = tf.train.string_input_producer(["a"])
    sess = tf.Session()
    threads = tf.train.start_queue_runners(sess)
    sess.run(q.dequeue())
    sess.close()
    for t in threads:
        t.join(5)
        assert not t.is_alive()


def test_runner_threads_keep_the_upstream_order():
    q = tf.train.range_input_producer(200, num_epochs=1, shuffle=False)
    b = tf.train.batch([q.dequeue() * 1], 10, num_threads=4, allow_smaller_final_batch=True)
    with tf.Session() as sess:
        tf.train.start_queue_runners(sess)
        assert np.concatenate(_drain(sess, b)).tolist() == list(range(200))


def test_request_stop_outside_an_except_block():
    coord = tf.train.Coordinator()
    coord.request_stop(ValueError("boom"))
    assert coord.should_stop()
    with pytest.raises(ValueError, match="boom"):
        coord.join([])
    assert threading.active_count() >= 1
