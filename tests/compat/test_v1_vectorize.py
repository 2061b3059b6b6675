"""Runner threads run an enqueue op over blocks of elements when its graph allows it,
with the element-by-element meaning kept."""

import numpy as np
import pytest

import conveyor.compat.v1 as tf
from conveyor.compat.v1 import _vectorize


def _drain(sess, t):
    out = []
    try:
        while True:
            out.append(sess.run(t))
    except tf.errors.OutOfRangeError:
        return out


def _records(tmp_path, n=10):
    path = tmp_path / "r.bin"
    rng = np.random.default_rng(0)
    data = np.concatenate(
        [np.arange(n, dtype=np.uint8)[:, None], rng.integers(0, 256, (n, 48), dtype=np.uint8)], 1
    )
    path.write_bytes(data.tobytes())
    return str(path), data


def _pipeline(path, train):
    q = tf.train.string_input_producer([path], num_epochs=1, shuffle=False)
    _, value = tf.FixedLengthRecordReader(49).read(q)
    raw = tf.decode_raw(value, tf.uint8)
    label = tf.cast(tf.strided_slice(raw, [0], [1]), tf.int32)
    label.set_shape([1])
    image = tf.cast(
        tf.transpose(tf.reshape(tf.strided_slice(raw, [1], [49]), [3, 4, 4]), [1, 2, 0]), tf.float32
    )
    if train:
        image = tf.random_crop(image, [2, 2, 3], seed=1)
        image = tf.image.random_flip_left_right(image, seed=2)
        image = tf.image.random_brightness(image, 63, seed=3)
        image = tf.image.random_contrast(image, 0.2, 1.8, seed=4)
    else:
        image = tf.image.resize_image_with_crop_or_pad(image, 2, 2)
    image = tf.image.per_image_standardization(image)
    return tf.train.batch([image, label], 4, num_threads=2, allow_smaller_final_batch=True)


def test_the_tutorial_chains_run_fused(tmp_path):
    path, _ = _records(tmp_path)
    for train in (True, False):
        tf.reset_default_graph()
        _pipeline(path, train)
        runner = tf.get_collection(tf.GraphKeys.QUEUE_RUNNERS)[-1]
        plan = _vectorize.plan_for(runner.enqueue_ops[0])
        assert plan is not None and plan.batchable
        assert any(isinstance(step, _vectorize.Fused) for step in plan.order)


def test_blocks_give_what_elements_give(tmp_path, monkeypatch):
    path, data = _records(tmp_path)

    def run():
        tf.reset_default_graph()
        images, labels = _pipeline(path, train=False)
        with tf.Session() as sess:
            tf.train.start_queue_runners(sess)
            got = _drain(sess, [images, labels])
        return np.concatenate([g[0] for g in got]), np.concatenate([g[1] for g in got])

    blocks = run()
    monkeypatch.setattr(_vectorize, "RUN_SIZE", 0)
    elements = run()
    np.testing.assert_array_equal(blocks[1], elements[1])
    np.testing.assert_array_equal(blocks[1][:, 0], data[:, 0])
    np.testing.assert_allclose(blocks[0], elements[0], atol=1e-5)


def test_random_distortions_stay_per_element(tmp_path):
    path, _ = _records(tmp_path, 40)
    images, _ = _pipeline(path, train=True)
    with tf.Session() as sess:
        tf.train.start_queue_runners(sess)
        got = np.concatenate([g for g in _drain(sess, images)])
    assert got.shape == (40, 2, 2, 3)
    np.testing.assert_allclose(got.mean(axis=(1, 2, 3)), 0, atol=1e-4)
    assert len({g.tobytes() for g in got}) == 40


def test_a_stateful_op_that_is_not_the_source_keeps_element_runs():
    q = tf.FIFOQueue(10, tf.float32, shapes=[[]])
    noisy = q.dequeue() + tf.random_uniform([], seed=1)
    batch = tf.train.batch([noisy], 2)
    del batch
    runner = tf.get_collection(tf.GraphKeys.QUEUE_RUNNERS)[-1]
    assert _vectorize.plan_for(runner.enqueue_ops[0]) is None


def test_elements_that_do_not_stack_run_one_by_one(tmp_path):
    for i, n in enumerate([1, 3, 2]):
        (tmp_path / f"{i}.txt").write_bytes(bytes(range(n)))
    q = tf.train.string_input_producer(
        [str(tmp_path / f"{i}.txt") for i in range(3)], num_epochs=1, shuffle=False
    )
    _, value = tf.WholeFileReader().read(q)
    raw = tf.decode_raw(value, tf.uint8)
    b = tf.train.batch([raw], 1, dynamic_pad=True, allow_smaller_final_batch=True)
    with tf.Session() as sess:
        tf.train.start_queue_runners(sess)
        got = [x.tolist() for x in _drain(sess, b)]
    assert got == [[[0]], [[0, 1, 2]], [[0, 1]]]


@pytest.mark.parametrize("size", [0, 128])
def test_dequeue_sources_keep_order(size, monkeypatch):
    monkeypatch.setattr(_vectorize, "RUN_SIZE", size)
    q = tf.train.range_input_producer(300, num_epochs=1, shuffle=False)
    b = tf.train.batch(
        [tf.cast(q.dequeue(), tf.float32) * 2.0], 7, num_threads=3, allow_smaller_final_batch=True
    )
    with tf.Session() as sess:
        tf.train.start_queue_runners(sess)
        got = np.concatenate(_drain(sess, b)).tolist()
    assert got == [2.0 * i for i in range(300)]


def test_an_error_in_a_block_still_delivers_the_elements_before_it(tmp_path):
    path = tmp_path / "r.bin"
    path.write_bytes(bytes(range(6)))
    q = tf.train.string_input_producer([str(path)], num_epochs=1, shuffle=False)
    _, value = tf.FixedLengthRecordReader(1).read(q)
    x = tf.cast(tf.decode_raw(value, tf.uint8), tf.int32)
    compute = x.op._compute

    def fails_on_three(run, values):
        if np.any(np.asarray(values[0]) == 3):
            raise tf.errors.InvalidArgumentError("element 3 is bad")
        return compute(run, values)

    x.op._compute = fails_on_three  # the batched form sees 3 in the block and fails too
    x.op._batch = lambda run, values, batched: fails_on_three(run, values)
    x.set_shape([1])
    b = tf.train.batch([x], 1)
    runner = tf.get_collection(tf.GraphKeys.QUEUE_RUNNERS)[-1]
    assert _vectorize.plan_for(runner.enqueue_ops[0]).batchable
    with tf.Session() as sess:
        coord = tf.train.Coordinator()
        threads = tf.train.start_queue_runners(sess, coord)
        got = _drain(sess, b)
        with pytest.raises(tf.errors.InvalidArgumentError, match="element 3"):
            coord.join(threads)
    assert [g.tolist() for g in got] == [[[0]], [[1]], [[2]]]
