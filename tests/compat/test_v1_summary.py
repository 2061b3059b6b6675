"""tf.summary: scalar and image summaries, merge_all, and FileWriter's event files read
back with TensorBoard."""

import numpy as np
import pytest

import conveyor.compat.v1 as tf


def _events(logdir):
    """Every Event of the one event file in ``logdir``, read with conveyor's TFRecord
    iterator (TensorBoard, where installed, reads them in the tests below too)."""
    (path,) = [p for p in logdir.iterdir() if p.name.startswith("events.out.tfevents.")]
    return [tf.Event.FromString(r) for r in tf.python_io.tf_record_iterator(str(path))]


def test_event_files_are_tfrecords_of_events(tmp_path):
    x = tf.placeholder(tf.float32, [])
    merged = tf.summary.merge([tf.summary.scalar("loss", x)])
    with tf.Session() as sess:
        writer = tf.summary.FileWriter(str(tmp_path))
        writer.add_summary(sess.run(merged, {x: 0.25}), 7)
        writer.close()
    first, second = _events(tmp_path)
    assert first.file_version == "brain.Event:2"
    assert second.step == 7 and second.wall_time > 0
    assert [(v.tag, v.simple_value) for v in second.summary.value] == [("loss", 0.25)]


def _accumulator():
    return pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


def _load(logdir):
    acc = _accumulator().EventAccumulator(str(logdir), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def test_scalar_summaries_are_written_as_tensorboard_events(tmp_path):
    x = tf.placeholder(tf.float32, [])
    tf.summary.scalar("loss", x)
    tf.summary.scalar("twice", x * 2.0)
    merged = tf.summary.merge_all()
    with tf.Session() as sess:
        writer = tf.summary.FileWriter(str(tmp_path), sess.graph)
        for step in range(3):
            writer.add_summary(sess.run(merged, feed_dict={x: step + 0.5}), step)
        writer.close()
    acc = _load(tmp_path)
    assert {"loss", "twice"} <= set(acc.Tags()["scalars"])
    assert [(e.step, e.value) for e in acc.Scalars("loss")] == [(0, 0.5), (1, 1.5), (2, 2.5)]
    assert [e.value for e in acc.Scalars("twice")] == [1.0, 3.0, 5.0]
    assert writer.get_logdir() == str(tmp_path)


def test_merge_all_without_summaries_is_none():
    assert tf.summary.merge_all() is None


def test_queue_fill_summaries_have_tensorflows_names(tmp_path):
    q = tf.train.string_input_producer(["a"], capacity=32)
    tf.train.batch([q.dequeue()], 4, capacity=20)
    tf.train.shuffle_batch([q.dequeue()], 4, capacity=30, min_after_dequeue=10)
    merged = tf.summary.merge_all()
    with tf.Session() as sess:
        coord = tf.train.Coordinator()
        threads = tf.train.start_queue_runners(sess, coord)
        data = sess.run(merged)
        writer = tf.summary.FileWriter(str(tmp_path))
        writer.add_summary(data, 1)
        writer.close()
        coord.request_stop()
        coord.join(threads)
    tags = set(_load(tmp_path).Tags()["scalars"])
    assert any(t.endswith("fraction_of_32_full") for t in tags)
    assert "batch/fraction_of_20_full" in tags
    assert "shuffle_batch/fraction_over_10_of_20_full" in tags
    for t in tags:
        assert all(0.0 <= e.value <= 1.0 for e in _load(tmp_path).Scalars(t))


def test_image_summaries(tmp_path):
    images = tf.constant(np.random.default_rng(0).random((2, 4, 5, 3)).astype(np.float32))
    summary = tf.summary.image("images", images, max_outputs=2)
    with tf.Session() as sess:
        writer = tf.summary.FileWriter(str(tmp_path))
        writer.add_summary(sess.run(summary), 0)
        writer.close()
    acc = _load(tmp_path)
    assert sorted(acc.Tags()["images"]) == ["images/image/0", "images/image/1"]
    img = acc.Images("images/image/0")[0]
    assert (img.width, img.height) == (5, 4)


def test_summary_protos_parse_what_summaries_give():
    s = tf.summary.scalar("x", tf.constant(3.5))
    with tf.Session() as sess:
        proto = tf.Summary.FromString(sess.run(s))
    assert proto.value[0].tag == "x" and proto.value[0].simple_value == 3.5
    made = tf.Summary(value=[tf.Summary.Value(tag="y", simple_value=1.0)])
    assert tf.summary.Summary is tf.Summary
    event = tf.Event(step=3, summary=made)
    assert tf.Event.FromString(event.SerializeToString()).summary.value[0].tag == "y"
