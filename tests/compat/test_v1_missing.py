"""Names outside the covered surface fail clearly, naming themselves."""

import pytest

import conveyor.compat.v1 as tf


@pytest.mark.parametrize(
    ("get", "name"),
    [
        (lambda: tf.nn, "tf.nn"),
        (lambda: tf.train.AdamOptimizer, "tf.train.AdamOptimizer"),
        (lambda: tf.image.resize_bicubic, "tf.image.resize_bicubic"),
        (lambda: tf.summary.histogram, "tf.summary.histogram"),
        (lambda: tf.python_io.something, "tf.python_io.something"),
    ],
)
def test_uncovered_names_raise_not_implemented_naming_them(get, name):
    with pytest.raises(NotImplementedError, match=name.replace(".", r"\.")) as info:
        get()
    assert "conveyor" in str(info.value)


def test_hasattr_still_works():
    assert not hasattr(tf, "layers")
    assert getattr(tf, "layers", None) is None
    assert hasattr(tf, "FIFOQueue")


def test_the_surface_is_there():
    for name in [
        "Session",
        "InteractiveSession",
        "Graph",
        "get_default_graph",
        "placeholder",
        "constant",
        "cast",
        "reshape",
        "transpose",
        "slice",
        "strided_slice",
        "squeeze",
        "expand_dims",
        "concat",
        "stack",
        "decode_raw",
        "random_crop",
        "parse_single_example",
        "parse_example",
        "FixedLenFeature",
        "VarLenFeature",
        "global_variables_initializer",
        "local_variables_initializer",
        "RunOptions",
        "float32",
        "float64",
        "int32",
        "int64",
        "uint8",
        "string",
        "bool",
        "errors",
        "app",
        "flags",
        "logging",
        "FIFOQueue",
        "RandomShuffleQueue",
        "PaddingFIFOQueue",
        "PriorityQueue",
        "FixedLengthRecordReader",
        "WholeFileReader",
        "TextLineReader",
        "TFRecordReader",
        "python_io",
        "image",
        "summary",
        "disable_eager_execution",
    ]:
        assert getattr(tf, name) is not None, name
    for name in [
        "Coordinator",
        "QueueRunner",
        "add_queue_runner",
        "start_queue_runners",
        "string_input_producer",
        "slice_input_producer",
        "range_input_producer",
        "input_producer",
        "match_filenames_once",
        "batch",
        "shuffle_batch",
        "batch_join",
        "shuffle_batch_join",
        "maybe_batch",
        "maybe_shuffle_batch",
        "Example",
        "Features",
        "Feature",
        "Int64List",
        "FloatList",
        "BytesList",
        "get_or_create_global_step",
        "get_global_step",
    ]:
        assert getattr(tf.train, name) is not None, name


def test_errors_are_the_cores():
    import conveyor

    assert tf.errors.OutOfRangeError is conveyor.errors.OutOfRangeError
    assert issubclass(tf.errors.OutOfRangeError, tf.errors.OpError)
