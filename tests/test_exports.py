"""Pins the public API: removing or renaming a public name must be a deliberate change."""

from __future__ import annotations

import conveyor
import conveyor.core
import conveyor.errors
import conveyor.io
import conveyor.ops


def test_top_level_exports():
    core = {
        "errors",
        "Coordinator",
        "LooperThread",
        "QueueBase",
        "FIFOQueue",
        "PaddingFIFOQueue",
        "RandomShuffleQueue",
        "PriorityQueue",
        "QueueRunner",
        "QUEUE_RUNNERS",
        "add_queue_runner",
        "get_queue_runners",
        "clear_queue_runners",
        "start_queue_runners",
    }
    assert core <= set(conveyor.__all__)
    for name in conveyor.__all__:
        assert hasattr(conveyor, name), name


def test_io_and_ops_names_are_exported_lazily_from_the_top_level():
    io_ops = {
        "string_input_producer",
        "range_input_producer",
        "slice_input_producer",
        "input_producer",
        "match_filenames_once",
        "FixedLengthRecordReader",
        "WholeFileReader",
        "TextLineReader",
        "TFRecordReader",
        "TFRecordWriter",
        "TFRecordOptions",
        "tf_record_iterator",
        "Example",
        "Features",
        "Feature",
        "BytesList",
        "FloatList",
        "Int64List",
        "parse_example",
        "parse_single_example",
        "FixedLenFeature",
        "VarLenFeature",
        "decode_raw",
        "decode_csv",
        "decode_jpeg",
        "decode_png",
        "decode_image",
        "encode_png",
        "encode_jpeg",
    }
    assert io_ops <= set(conveyor.__all__)
    for name in io_ops:
        assert getattr(conveyor, name) is getattr(
            conveyor.io if hasattr(conveyor.io, name) else conveyor.ops, name
        )


def test_pipeline_constructors_are_exported_from_the_top_level():
    import conveyor.pipeline as cp

    for name in ["Pipeline", "files", "from_arrays", "from_iterable", "interleave", "range"]:
        assert getattr(conveyor, name) is getattr(cp, name)
    assert {"Pipeline", "files", "from_arrays", "from_iterable", "interleave"} <= set(
        conveyor.__all__
    )
    assert [int(v) for v in conveyor.range(3)] == [0, 1, 2]


def test_range_is_an_attribute_but_not_a_star_export():
    assert "range" not in conveyor.__all__
    assert "range" in dir(conveyor)
    namespace: dict = {}
    exec("from conveyor import *", namespace)
    assert "range" not in namespace
    assert namespace["FIFOQueue"] is conveyor.FIFOQueue
    exec("r = range(3)", namespace)
    assert namespace["r"] == range(3)


def test_no_star_export_shadows_a_builtin():
    import builtins

    for module in (conveyor, conveyor.core, conveyor.errors, conveyor.io, conveyor.ops):
        assert sorted(set(module.__all__) & set(dir(builtins))) == [], module.__name__


def test_unknown_attribute_is_an_attribute_error():
    import pytest

    with pytest.raises(AttributeError):
        conveyor.no_such_name  # noqa: B018


def test_core_exports_resolve():
    for name in conveyor.core.__all__:
        assert getattr(conveyor.core, name) is getattr(conveyor, name)


def test_core_imports_nothing_but_numpy_and_the_standard_library():
    import subprocess
    import sys

    code = (
        "import sys, conveyor, conveyor.core, conveyor.errors\n"
        "bad = [m for m in ('torch', 'google', 'fsspec', 'PIL') if m in sys.modules]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
