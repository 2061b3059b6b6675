"""``pip install conveyor`` (NumPy only) gives what the README says: the core, the
pipeline, and the fixed-length, text-line and whole-file readers on local files. What an
extra provides fails only where it is used, naming the module and the extra.

Each test runs in a fresh interpreter where the optional modules cannot be imported, as
if the extras were not installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

import conveyor
from helpers import write_cifar_files

SRC = str(Path(conveyor.__file__).resolve().parent.parent)

# The modules the extras provide; blocked, they cannot be imported, as if not installed.
EXTRAS_MODULES = (
    "google_crc32c",
    "google.protobuf",
    "fsspec",
    "PIL",
    "simplejpeg",
    "aiohttp",
    "torch",
    "tqdm",
    "pycocotools",
)

BLOCK = """
import importlib.abc
import sys

BLOCKED = {blocked!r}
TRIED = []  # the blocked imports attempted


class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            TRIED.append(name)
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


assert not [m for m in sys.modules if any(m == b or m.startswith(b + ".") for b in BLOCKED)]
sys.meta_path.insert(0, NotInstalled())
"""


def _run_without(code: str, tmp_path: Path, blocked: tuple[str, ...] = EXTRAS_MODULES) -> str:
    """Run *code* in a fresh interpreter, in *tmp_path*, where *blocked* cannot import."""
    script = tmp_path / "without_extras.py"
    script.write_text(BLOCK.format(blocked=blocked) + textwrap.dedent(code))
    path = os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": path},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.timeout(60)
def test_the_readers_of_local_files_work_without_any_extra(tmp_path):
    rows = write_cifar_files(tmp_path, per_file=3, files=1)
    (tmp_path / "lines.txt").write_bytes(b"first\nsecond\n")
    out = _run_without(
        """
        import conveyor as cv

        names = cv.FIFOQueue(8, ["string"])
        names.enqueue_many([[b"data_batch_1.bin", b"lines.txt", b"lines.txt"]])
        names.close()
        keys, values = cv.FixedLengthRecordReader(3073).read_up_to(names, 10)
        print(keys.tolist(), values.shape, values.dtype, values[:, 0].tolist())
        print(values[2, 1:4].tolist(), int(values.sum()))
        print(cv.TextLineReader().read_up_to(names, 10)[1].tolist())
        print(cv.WholeFileReader().read(names))
        print(cv.decode_raw(values[:, :2].tobytes(), "uint8").tolist())
        print(TRIED)
        """,
        tmp_path,
    )
    assert out.splitlines() == [
        "[b'data_batch_1.bin:0', b'data_batch_1.bin:1', b'data_batch_1.bin:2'] (3, 3073) "
        f"uint8 {rows[:, 0].tolist()}",
        f"{rows[2, 1:4].tolist()} {int(rows.astype(int).sum())}",
        "[b'first', b'second']",
        "(b'lines.txt', b'first\\nsecond\\n')",
        str(rows[:, :2].ravel().tolist()),
        "[]",
    ]


@pytest.mark.timeout(60)
def test_the_pipeline_reads_cifar_files_without_any_extra(tmp_path):
    rows = write_cifar_files(tmp_path, per_file=5, files=2)
    out = _run_without(
        """
        import conveyor as cv
        import conveyor.pipeline as cp

        pipe = cp.files("data_batch_*.bin").read(cv.FixedLengthRecordReader(3073)).batch(10)
        (batch,) = list(pipe)
        keys, values = batch
        print(sorted(keys.tolist())[:2], values.shape, sorted(values[:, 0].tolist()))
        print(sorted(values.sum(axis=1, dtype=int).tolist()))  # each record, once
        """,
        tmp_path,
    )
    assert out.splitlines() == [
        f"[b'data_batch_1.bin:0', b'data_batch_1.bin:1'] (10, 3073) {sorted(rows[:, 0].tolist())}",
        str(sorted(rows.sum(axis=1, dtype=int).tolist())),
    ]


@pytest.mark.timeout(60)
def test_what_an_extra_provides_fails_naming_the_module_and_the_extra(tmp_path):
    (tmp_path / "x.tfrecord").write_bytes(b"")
    out = _run_without(
        """
        import numpy as np

        import conveyor as cv

        def error(call):
            try:
                call()
            except ImportError as e:
                return f"{e.name}: {e}"
            return "no error"

        jpeg = bytes.fromhex("ffd8ffe000104a46494600010100000100010000")
        for call in [
            lambda: cv.TFRecordReader(),
            lambda: cv.tf_record_iterator("x.tfrecord"),
            lambda: cv.TFRecordWriter("y.tfrecord"),
            lambda: cv.Example,
            lambda: cv.parse_single_example(b"", {"a": cv.FixedLenFeature([], "int64")}),
            lambda: cv.decode_jpeg(jpeg),
            lambda: cv.encode_png(np.zeros((1, 1, 1), "uint8")),
            lambda: cv.match_filenames_once("memory://x/*"),
        ]:
            print(error(call))
        import os
        print(sorted(os.listdir(".")))
        """,
        tmp_path,
    )
    not_installed = "which is not installed: pip install"
    assert out.splitlines() == [
        "google_crc32c: TFRecordReader needs the module google_crc32c (package google-crc32c), "
        f'{not_installed} "conveyor[io]"',
        "google_crc32c: tf_record_iterator needs the module google_crc32c (package "
        f'google-crc32c), {not_installed} "conveyor[io]"',
        "google_crc32c: TFRecordWriter needs the module google_crc32c (package google-crc32c), "
        f'{not_installed} "conveyor[io]"',
        "google.protobuf: conveyor.Example needs the module google.protobuf (package "
        f'protobuf), {not_installed} "conveyor[io]"',
        "google.protobuf: tf.train.Example (conveyor.io.example) needs the module "
        f'google.protobuf (package protobuf), {not_installed} "conveyor[io]"',
        "simplejpeg: decoding JPEG needs the module simplejpeg (package simplejpeg), "
        f'{not_installed} "conveyor[image]"',
        f'PIL: encode_png needs the module PIL (package pillow), {not_installed} "conveyor[image]"',
        "fsspec: the URL memory://x/* needs the module fsspec (package fsspec), "
        f'{not_installed} "conveyor[io]"',
        "['without_extras.py', 'x.tfrecord']",
    ]


@pytest.mark.timeout(60)
def test_http_urls_without_aiohttp_name_the_http_extra(tmp_path):
    pytest.importorskip("fsspec")
    out = _run_without(
        """
        from conveyor.io.files import open_input

        try:
            open_input("http://127.0.0.1:9/x.bin")
        except ImportError as e:
            print(f"{e.name}: {e}")
        """,
        tmp_path,
        blocked=("aiohttp",),
    )
    assert out.splitlines() == [
        "aiohttp: the URL http://127.0.0.1:9/x.bin needs the module aiohttp (package aiohttp), "
        'which is not installed: pip install "conveyor[http]"'
    ]


@pytest.mark.timeout(60)
def test_the_datasets_work_without_any_extra_and_a_progress_bar_names_its_extra(tmp_path):
    out = _run_without(
        """
        from conveyor.datasets import cifar10, download, embedded, synthetic

        for root in (embedded("digits"), synthetic(10, "synthetic")):
            records = cifar10.load_records(root)
            print(len(records), cifar10.images_of(records[0]).shape)
        try:
            download("real", url="http://127.0.0.1:9/cifar-10-binary.tar.gz")
        except ImportError as e:
            print(f"{e.name}: {e}")
        print(download("digits", url="http://127.0.0.1:9/x.tar.gz"))  # present: no request
        print(TRIED)
        """,
        tmp_path,
    )
    assert out.splitlines() == [
        "5 (300, 32, 32, 3)",
        "5 (2, 32, 32, 3)",
        "tqdm: download(progress=True) needs the module tqdm (package tqdm), which is not "
        'installed: pip install "conveyor[datasets]"',
        "digits",
        "['tqdm']",
    ]


@pytest.mark.timeout(60)
def test_coco_reading_without_pycocotools_names_the_detection_extra(tmp_path):
    out = _run_without(
        """
        from conveyor.datasets import detection
        from conveyor.datasets.coco import CocoDetection

        root = detection.embedded_detection("det", n_train=1, n_test=1)
        try:
            CocoDetection(detection.annotation_file(root), detection.image_dir(root))
        except ImportError as e:
            print(f"{e.name}: {e}")
        """,
        tmp_path,
        blocked=("pycocotools",),
    )
    assert out.splitlines() == [
        "pycocotools: reading COCO annotations needs the module pycocotools (package "
        'pycocotools), which is not installed: pip install "conveyor[detection]"'
    ]


@pytest.mark.timeout(120)
def test_the_wheel_carries_the_embedded_digits_and_their_notice(tmp_path):
    pytest.importorskip("setuptools")
    root = Path(SRC).parent
    project = tmp_path / "project"
    shutil.copytree(root / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, project / name)
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    done = subprocess.run(
        [*pip, "-w", str(tmp_path / "dist"), str(project)],
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = (tmp_path / "dist").glob("conveyor-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        digits = z.read("conveyor/datasets/data/digits.bin.gz")
    assert {"conveyor/datasets/data/README", "conveyor/datasets/digits.py"} <= names
    assert digits == (Path(SRC) / "conveyor/datasets/data/digits.bin.gz").read_bytes()


@pytest.mark.timeout(60)
def test_the_training_system_without_torch_or_tensorboard_names_the_train_extra(tmp_path):
    out = _run_without(
        """
        import contextlib, io
        import conveyor.__main__ as m

        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            status = m.main(["cifar10", "train"])
        print(status, err.getvalue().strip())
        """,
        tmp_path,
    )
    assert out.splitlines() == [
        "1 conveyor cifar10: conveyor.apps.cifar10 needs the module torch (package torch), "
        'which is not installed: pip install "conveyor[train]"'
    ]
    pytest.importorskip("torch")
    out = _run_without(
        """
        from conveyor.apps.cifar10.summaries import Summaries

        try:
            Summaries("events")
        except ImportError as e:
            print(e)
        """,
        tmp_path,
        blocked=("tensorboard",),
    )
    assert out.strip() == (
        "TensorBoard summaries needs the module tensorboard (package tensorboard), which is "
        'not installed: pip install "conveyor[train]"'
    )
