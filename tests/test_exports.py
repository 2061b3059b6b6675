"""Pins the public API: removing or renaming a public name must be a deliberate change."""

from __future__ import annotations

from pathlib import Path

import pytest

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


def test_image_ops_are_exported_from_conveyor_image():
    import conveyor.image

    assert set(conveyor.image.__all__) == {
        "Compose",
        "add_noise",
        "adjust_brightness",
        "adjust_contrast",
        "adjust_gamma",
        "adjust_hue",
        "adjust_saturation",
        "central_crop",
        "crop_to_bounding_box",
        "cutout",
        "cutout_at",
        "flip_left_right",
        "flip_up_down",
        "grayscale_to_rgb",
        "normalize",
        "pad_and_random_crop",
        "pad_to_bounding_box",
        "per_image_standardization",
        "random_brightness",
        "random_contrast",
        "random_crop",
        "random_flip_left_right",
        "random_flip_up_down",
        "random_gaussian_noise",
        "random_hue",
        "random_rotate",
        "random_salt_pepper",
        "random_saturation",
        "random_translate",
        "random_zoom",
        "resize",
        "resize_with_crop_or_pad",
        "rgb_to_grayscale",
        "rotate",
        "salt_pepper",
        "translate",
        "zoom",
    }
    assert len(conveyor.image.__all__) == len(set(conveyor.image.__all__))
    for name in conveyor.image.__all__:
        assert getattr(conveyor.image, name).__module__.startswith("conveyor.image."), name
    assert sorted(set(conveyor.image.__all__) & set(dir(__import__("builtins")))) == []


def test_unknown_attribute_is_an_attribute_error():
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


# -- what type checkers and IDEs see ----------------------------------------------------


def _type_checking_imports(source_file: str) -> dict[str, str]:
    """name -> module of the explicit re-exports under ``if TYPE_CHECKING:``."""
    import ast

    tree = ast.parse(Path(source_file).read_text())
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom), ast.unparse(statement)
                for alias in statement.names:
                    assert alias.asname == alias.name, f"{alias.name}: not `{alias.name} as ...`"
                    found[alias.name] = str(statement.module)
    return found


@pytest.mark.parametrize(
    ("package", "exports"),
    [
        ("conveyor", "_LAZY"),
        ("conveyor.io", "_EXPORTS"),
        ("conveyor.ops", "_EXPORTS"),
    ],
)
def test_type_checkers_see_exactly_the_lazy_names_where_they_are_defined(package, exports):
    import importlib

    module = importlib.import_module(package)
    assert _type_checking_imports(module.__file__) == getattr(module, exports)


def test_the_package_is_marked_as_typed():
    assert (Path(conveyor.__file__).parent / "py.typed").is_file()


@pytest.mark.timeout(60)
def test_mypy_sees_the_lazy_names_and_refuses_a_misspelt_one(tmp_path):
    import os
    import subprocess
    import sys

    pytest.importorskip("mypy")
    (tmp_path / "user.py").write_text(
        "import conveyor\n"
        "reveal_type(conveyor.FixedLengthRecordReader(3073))\n"
        "reveal_type(conveyor.io.TFRecordReader())\n"
        "reveal_type(conveyor.FIFOQueue)\n"
        "conveyor.FixedLenghtRecordReader\n"
    )
    flags = ["--no-implicit-reexport", "--ignore-missing-imports", "--no-error-summary"]
    done = subprocess.run(
        [sys.executable, "-m", "mypy", *flags, "--cache-dir", str(tmp_path / "cache"), "user.py"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "MYPYPATH": str(Path(conveyor.__file__).parent.parent)},
        timeout=60,
    )
    lines = done.stdout.splitlines()
    assert lines[:2] == [
        'user.py:2: note: Revealed type is "conveyor.io.readers.FixedLengthRecordReader"',
        'user.py:3: note: Revealed type is "conveyor.io.readers.TFRecordReader"',
    ]
    assert lines[2].startswith('user.py:4: note: Revealed type is "def (capacity: int')
    assert lines[3:] == [
        'user.py:5: error: Module has no attribute "FixedLenghtRecordReader"  [attr-defined]'
    ]


def test_datasets_exports():
    import conveyor.datasets as cd
    from conveyor.datasets import cifar10, cifar100, digits

    assert set(cd.__all__) == {
        "cifar10",
        "cifar100",
        "cache_dir",
        "download",
        "download_cifar100",
        "embedded",
        "embedded_detection",
        "synthetic",
    }
    assert (cd.download, cd.download_cifar100) == (cifar10.download, cifar100.download)
    assert cd.embedded is digits.embedded
    common = {"files", "class_names", "load_records", "images_of", "labels_of", "download"}
    for module in (cifar10, cifar100):
        assert common | {"IMAGE_SIZE", "NUM_CLASSES", "LABEL_BYTES", "RECORD_BYTES"} <= set(
            module.__all__
        )
        assert {"NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN", "NUM_EXAMPLES_PER_EPOCH_FOR_EVAL"} <= set(
            module.__all__
        )
        for name in module.__all__:
            assert hasattr(module, name), name
