"""The four readers, decode_raw and the array ops, python_io and Example parsing."""

import numpy as np
import pytest

import conveyor.compat.v1 as tf


def _start(sess):
    coord = tf.train.Coordinator()
    return coord, tf.train.start_queue_runners(sess, coord)


def test_fixed_length_reader_resumes_and_takes_the_next_file(tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"HHabcdefghFF")
    b.write_bytes(b"HHijklFF")
    q = tf.train.string_input_producer([str(a), str(b)], num_epochs=1, shuffle=False)
    reader = tf.FixedLengthRecordReader(record_bytes=4, header_bytes=2, footer_bytes=2)
    key, value = reader.read(q)
    assert key.dtype == tf.string and value.shape.as_list() == []
    with tf.Session() as sess:
        sess.run(tf.local_variables_initializer())
        coord, threads = _start(sess)
        got = [sess.run([key, value]) for _ in range(3)]
        assert got[0] == [f"{a}:0".encode(), b"abcd"]
        assert got[1] == [f"{a}:1".encode(), b"efgh"]
        assert got[2] == [f"{b}:0".encode(), b"ijkl"]
        assert sess.run(reader.num_records_produced()) == 3
        assert sess.run(reader.num_work_units_completed()) == 1
        with pytest.raises(tf.errors.OutOfRangeError):
            sess.run(value)
        coord.request_stop()
        coord.join(threads)


def test_reader_positions_belong_to_the_session(tmp_path):
    path = tmp_path / "r.bin"
    path.write_bytes(b"aabbcc")
    q = tf.FIFOQueue(5, tf.string)
    reader = tf.FixedLengthRecordReader(2)
    _, value = reader.read(q)
    with tf.Session() as s1, tf.Session() as s2:
        for s in (s1, s2):
            s.run(q.enqueue(str(path)))
        assert s1.run(value) == b"aa" and s1.run(value) == b"bb"
        assert s2.run(value) == b"aa"


def test_read_up_to_and_reset(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_text("head\none\ntwo\nthree\n")
    q = tf.FIFOQueue(5, tf.string)
    reader = tf.TextLineReader(skip_header_lines=1)
    keys, values = reader.read_up_to(q, 2)
    with tf.Session() as sess:
        sess.run(q.enqueue_many([[str(path), str(path)]]))
        k, v = sess.run([keys, values])
        assert v.tolist() == [b"one", b"two"] and k[0] == f"{path}:2".encode()
        assert sess.run(values).tolist() == [b"three"]
        sess.run(reader.reset())
        assert sess.run(reader.num_records_produced()) == 0


def test_whole_file_reader_keys_are_file_names(tmp_path):
    path = tmp_path / "w.dat"
    path.write_bytes(b"\x00\x01payload")
    q = tf.FIFOQueue(5, tf.string)
    key, value = tf.WholeFileReader().read(q)
    with tf.Session() as sess:
        sess.run(q.enqueue(str(path)))
        assert sess.run([key, value]) == [str(path).encode(), b"\x00\x01payload"]


def test_tfrecord_round_trip_with_example_parsing(tmp_path):
    path = str(tmp_path / "data.tfrecord")
    with tf.python_io.TFRecordWriter(path) as writer:
        for i in range(3):
            ex = tf.train.Example(
                features=tf.train.Features(
                    feature={
                        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[i])),
                        "xy": tf.train.Feature(float_list=tf.train.FloatList(value=[i, -i])),
                        "tags": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"t"] * i)),
                    }
                )
            )
            writer.write(ex.SerializeToString())
    assert len(list(tf.python_io.tf_record_iterator(path))) == 3
    q = tf.train.string_input_producer([path], num_epochs=1, shuffle=False)
    _, serialized = tf.TFRecordReader().read(q)
    features = tf.parse_single_example(
        serialized,
        features={
            "label": tf.FixedLenFeature([], tf.int64),
            "xy": tf.FixedLenFeature([2], tf.float32),
            "tags": tf.VarLenFeature(tf.string),
        },
    )
    assert features["xy"].shape.as_list() == [2] and features["label"].dtype == tf.int64
    assert isinstance(features["tags"], tf.SparseTensor)
    with tf.Session() as sess:
        sess.run(tf.local_variables_initializer())
        coord, threads = _start(sess)
        got = [sess.run(features) for _ in range(3)]
        coord.request_stop()
        coord.join(threads)
    assert [g["label"] for g in got] == [0, 1, 2]
    np.testing.assert_array_equal(got[2]["xy"], [2.0, -2.0])
    assert isinstance(got[2]["tags"], tf.SparseTensorValue)
    assert got[2]["tags"].values.tolist() == [b"t", b"t"]
    assert got[2]["tags"].dense_shape.tolist() == [2]


def test_parse_example_batches(tmp_path):
    records = [
        tf.train.Example(
            features=tf.train.Features(
                feature={"v": tf.train.Feature(int64_list=tf.train.Int64List(value=[i]))}
            )
        ).SerializeToString()
        for i in range(4)
    ]
    parsed = tf.parse_example(tf.constant(records), {"v": tf.FixedLenFeature([1], tf.int64)})
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(parsed["v"]), [[0], [1], [2], [3]])


def test_decode_raw_cast_slice_reshape_transpose_like_cifar10():
    record = bytes([7]) + bytes(range(12))
    value = tf.constant(record)
    raw = tf.decode_raw(value, tf.uint8)
    label = tf.cast(tf.strided_slice(raw, [0], [1]), tf.int32)
    depth_major = tf.reshape(tf.strided_slice(raw, [1], [13]), [3, 2, 2])
    image = tf.transpose(depth_major, [1, 2, 0])
    assert image.shape.as_list() == [2, 2, 3]
    with tf.Session() as sess:
        lab, img, r = sess.run([label, image, raw])
    assert r.dtype == np.uint8 and lab.tolist() == [7]
    np.testing.assert_array_equal(
        img, np.arange(12, dtype=np.uint8).reshape(3, 2, 2).transpose(1, 2, 0)
    )


def test_slice_and_errors():
    x = tf.constant(np.arange(12).reshape(3, 4))
    with tf.Session() as sess:
        np.testing.assert_array_equal(
            sess.run(tf.slice(x, [1, 1], [2, -1])), [[5, 6, 7], [9, 10, 11]]
        )
        np.testing.assert_array_equal(sess.run(x[1:, ::2]), [[4, 6], [8, 10]])
        with pytest.raises(tf.errors.InvalidArgumentError):
            sess.run(tf.slice(tf.placeholder_with_default(x, [None, None]), [2, 0], [2, 1]))
    with pytest.raises(ValueError):
        tf.reshape(x, [5])


def test_squeeze_expand_concat_stack():
    a = tf.constant(np.ones((1, 2, 1), np.float32))
    with tf.Session() as sess:
        assert sess.run(tf.squeeze(a)).shape == (2,)
        assert sess.run(tf.squeeze(a, [0])).shape == (2, 1)
        assert sess.run(tf.expand_dims(a, -1)).shape == (1, 2, 1, 1)
        assert sess.run(tf.concat([a, a], 1)).shape == (1, 4, 1)
        assert sess.run(tf.stack([a, a])).shape == (2, 1, 2, 1)
    assert tf.concat([a, a], 1).shape.as_list() == [1, 4, 1]


def test_random_crop_is_seeded():
    x = tf.constant(np.arange(100).reshape(10, 10))
    c = tf.random_crop(x, [3, 3], seed=4)
    assert c.shape.as_list() == [3, 3]
    with tf.Session() as s1, tf.Session() as s2:
        a = s1.run(c)
        assert a.shape == (3, 3)
        np.testing.assert_array_equal(a, s2.run(c))


def test_batching_var_len_features_gives_a_batched_sparse_tensor():
    records = [
        tf.train.Example(
            features=tf.train.Features(
                feature={"t": tf.train.Feature(int64_list=tf.train.Int64List(value=list(range(i))))}
            )
        ).SerializeToString()
        for i in (1, 3, 2)
    ]
    q = tf.FIFOQueue(5, tf.string, shapes=[[]])
    parsed = tf.parse_single_example(q.dequeue(), {"t": tf.VarLenFeature(tf.int64)})
    batched = tf.train.batch(parsed, 3)
    assert isinstance(batched["t"], tf.SparseTensor)
    with tf.Session() as sess:
        sess.run(q.enqueue_many([records]))
        tf.train.start_queue_runners(sess)
        value = sess.run(batched["t"])
    assert value.indices.tolist() == [[0, 0], [1, 0], [1, 1], [1, 2], [2, 0], [2, 1]]
    assert value.values.tolist() == [0, 0, 1, 2, 0, 1]
    assert value.dense_shape.tolist() == [3, 3]
