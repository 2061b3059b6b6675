"""CIFAR-10 training input: the same work done by every peer system, images per second.

The work, identical in every system: 50,000 records in the CIFAR-10 binary format (five
files ``data_batch_1.bin`` .. ``data_batch_5.bin`` of 10,000 records; a record is one
label byte and 3,072 image bytes, CHW 32x32x3), written with random bytes to a temporary
folder. Per image: decode (uint8 CHW → HWC, cast to float32), a random 24x24x3 crop, a
random left-right flip, random brightness (an offset uniform in ±63, added to the 0..255
image), random contrast (a factor uniform in 0.2..1.8 about each channel's mean) and
TensorFlow's per-image standardization, ``(x - mean) / max(std, 1/sqrt(24*24*3))``; the
records shuffled; batches of 128, float32 images ``(128, 24, 24, 3)`` and int32 labels
``(128,)``.

Systems (``--list`` prints them with their configurations):

* ``numpy-floor`` — the floor every ratio is taken against: one thread of plain batched
  NumPy, no pipeline (gather 128 shuffled records, then the work vectorised).
* ``torch-w0``, ``torch-w2`` — PyTorch ``DataLoader`` over a map-style dataset reading
  records from memory maps, the per-image work in torch ops, ``batch_size=128,
  shuffle=True``, ``num_workers`` 0 and 2 (``persistent_workers=True``).
* ``tfdata-map`` — ``FixedLengthRecordDataset → shuffle(20000) → repeat → map(per-image,
  AUTOTUNE) → batch(128) → prefetch(AUTOTUNE)``, the ``tf.image`` ops of the tutorial.
* ``tfdata-batched`` — the map after ``batch(128)``: ``tf.image.random_crop``,
  ``random_brightness`` and ``random_contrast`` draw one value for a whole batch, so
  this variant draws per image with ``tf.random.uniform`` and crops and flips with
  ``tf.gather``; ``tf.image.per_image_standardization`` works per image on a batch.
* ``tf1-queues`` — the TF1 tutorial's pipeline in graph mode: ``string_input_producer →
  FixedLengthRecordReader → the distortions → shuffle_batch(batch_size=128,
  num_threads=16, capacity=20000 + 3*128, min_after_dequeue=20000)``, threads from
  ``start_queue_runners``.
* ``grain-*`` — Grain ``MapDataset.source → shuffle(seed) → repeat → random_map
  (per record, NumPy) → batch(128)``, or ``batch(128) → random_map(the floor's batched
  NumPy)``; read by ``to_iter_dataset(ReadOptions(num_threads=...))`` threads or by
  ``mp_prefetch`` processes.
* ``spdl-threads`` — SPDL ``PipelineBuilder``: a source of shuffled 128-index batches,
  one ``pipe`` doing the floor's batched NumPy work with ``concurrency=2``.
* ``conveyor-*`` — conveyor's CIFAR-10 input (``distorted_inputs``, with its default
  shuffle and with ``shuffle="pool"``) and its fused image kernel alone
  (``recipes.tutorial_train()``, on 1 and 2 threads, and its NumPy ``reference``). The
  rows report "not available" until ``conveyor.datasets.cifar10`` and
  ``conveyor.image.recipes`` can be imported.

Method: every measurement runs in its own child process, so imports and threads do not
interfere (``--system NAME`` runs one and prints one JSON line). A child takes its first
batch (shuffle buffers fill here), consumes ``--warmup`` seconds more, then counts images
for ``--seconds``. The parent runs ``--rounds`` interleaved rounds, each running every
system once (the order rotating by one each round), and reports the median and the
min-max over rounds. Ratios are the medians of the per-round ratios: the machine is
shared, so only figures from the same round are compared.

Input stall: for the best conveyor pipeline row and the best peer row, a consumer that
spends ``T`` ms of GIL-free time per batch (``time.sleep``), ``T`` from ``--stall-ms``;
the stall is the time spent waiting for the next batch over the total time.

Peers live in their own virtual environment, which conveyor never depends on::

    python3 -m venv /tmp/peervenv
    /tmp/peervenv/bin/pip install tensorflow-cpu grain spdl numpy

TensorFlow, Grain and SPDL rows run under ``--peer-python`` (default
``/tmp/peervenv/bin/python``) without ``PYTHONPATH``: peer children never import
conveyor. The PyTorch and NumPy rows run under this interpreter. A peer that cannot be
imported is reported "not installed", quoting the last figure recorded in
``benchmarks/cifar10_input.json`` (``--record`` rewrites that file).

Run: ``PYTHONPATH=src python benchmarks/cifar10_input.py`` (``--quick`` for a short
smoke run; ``--systems a,b`` for a subset; ``--markdown`` for the table as Markdown).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

LABEL_BYTES = 1
IMAGE_BYTES = 32 * 32 * 3
RECORD = LABEL_BYTES + IMAGE_BYTES
FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
BATCH = 128
CROP = 24
MAX_DELTA = 63.0
CONTRAST = (0.2, 1.8)
MIN_STD = 1.0 / math.sqrt(CROP * CROP * 3)
SHUFFLE_BUFFER = 20_000  # the tutorial's min_after_dequeue: 0.4 of the 50,000 records
# Grain's reader threads: 1 measured fastest here (2 and 16 threads: 0.76x and 0.35x per record).
GRAIN_THREADS = 1
PEER_PYTHON = "/tmp/peervenv/bin/python"
RESULTS = Path(__file__).with_name("cifar10_input.json")


# --- the data -------------------------------------------------------------------------


def write_records(folder: Path, records: int, seed: int = 0) -> None:
    """Five CIFAR-10 training files of random bytes in *folder* (labels 0..9)."""
    rng = np.random.default_rng(seed)
    per_file = records // len(FILES)
    for name in FILES:
        rows = rng.integers(0, 256, size=(per_file, RECORD), dtype=np.uint8)
        rows[:, 0] = rng.integers(0, 10, size=per_file, dtype=np.uint8)
        (folder / name).write_bytes(rows.tobytes())


def make_data(folder: Path, records: int) -> tuple[Path, str]:
    """The record files' folder, written by conveyor's writer where it exists."""
    try:
        from conveyor.datasets.cifar10 import synthetic  # type: ignore[import-not-found]
    except ImportError:
        synthetic = None
    if synthetic is not None:
        try:
            synthetic(records, str(folder))
            found = sorted(folder.rglob("data_batch_1.bin"))
            if found and all((found[0].parent / name).is_file() for name in FILES):
                return found[0].parent, "conveyor.datasets.cifar10.synthetic"
        except Exception as error:  # a writer in progress must not stop the peers' run
            print(f"synthetic() failed ({error!r}); writing the records here", file=sys.stderr)
    write_records(folder, records)
    return folder, "benchmarks/cifar10_input.py write_records"


class RecordFiles:
    """The five files as read-only ``(n, RECORD)`` uint8 memory maps, opened lazily.

    Pickles as its paths, so worker processes open their own maps instead of receiving
    a copy of the data.
    """

    def __init__(self, folder: str | Path) -> None:
        self.paths = [str(Path(folder) / name) for name in FILES]
        self.per_file = os.path.getsize(self.paths[0]) // RECORD
        self._maps: list[np.ndarray] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"paths": self.paths, "per_file": self.per_file, "_maps": None}

    def __len__(self) -> int:
        return self.per_file * len(self.paths)

    @property
    def maps(self) -> list[np.ndarray]:
        if self._maps is None:
            self._maps = [
                np.memmap(path, dtype=np.uint8, mode="r").reshape(-1, RECORD) for path in self.paths
            ]
        return self._maps

    def __getitem__(self, index: int) -> np.ndarray:
        file, row = divmod(int(index), self.per_file)
        return np.array(self.maps[file][row])

    def gather(self, index: np.ndarray) -> np.ndarray:
        """The records at *index* (int array), in that order, as one ``(k, RECORD)`` array."""
        file, row = np.divmod(index, self.per_file)
        out = np.empty((len(index), RECORD), dtype=np.uint8)
        for k, records in enumerate(self.maps):
            chosen = file == k
            out[chosen] = records[row[chosen]]
        return out

    def load(self) -> np.ndarray:
        """All records in memory, ``(n, RECORD)``."""
        return np.concatenate([np.asarray(m) for m in self.maps])


def index_batches(n: int, seed: int = 0) -> Iterator[np.ndarray]:
    """Shuffled batches of record indices, a new order each epoch, forever."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(n)
        for start in range(0, n - BATCH + 1, BATCH):
            yield order[start : start + BATCH]


# --- the work in NumPy -----------------------------------------------------------------

_SPAN = np.arange(CROP)
# Offsets of the crop's (row, column, channel) inside a record's CHW image bytes.
_CHANNEL = (np.arange(3) * 1024 + LABEL_BYTES)[None, None, :]


def distort_batch(records: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The work on ``(k, RECORD)`` uint8 records, vectorised: ``(images, labels)``."""
    n = len(records)
    labels = records[:, 0].astype(np.int32)
    oy = rng.integers(0, 32 - CROP + 1, size=n)
    ox = rng.integers(0, 32 - CROP + 1, size=n)
    flip = rng.random(n) < 0.5
    rows = (oy[:, None] + _SPAN) * 32
    cols = np.where(flip[:, None], ox[:, None] + (CROP - 1) - _SPAN, ox[:, None] + _SPAN)
    # One flat gather does decode, crop and flip: (n, 24, 24, 3) uint8 in HWC order.
    where = (np.arange(n) * RECORD)[:, None, None] + rows[:, :, None] + cols[:, None, :]
    image = np.take(records, where[..., None] + _CHANNEL).astype(np.float32)
    image += rng.uniform(-MAX_DELTA, MAX_DELTA, size=(n, 1, 1, 1)).astype(np.float32)
    mean = image.mean(axis=(1, 2), keepdims=True)
    image -= mean
    image *= rng.uniform(*CONTRAST, size=(n, 1, 1, 1)).astype(np.float32)
    image += mean
    mean = image.mean(axis=(1, 2, 3), keepdims=True)
    image -= mean
    std = np.sqrt(np.square(image).mean(axis=(1, 2, 3), keepdims=True))
    image /= np.maximum(std, np.float32(MIN_STD))
    return image, labels


def distort_record(record: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.int32]:
    """The work on one ``(RECORD,)`` uint8 record: ``(image, label)``."""
    oy, ox = rng.integers(0, 32 - CROP + 1, size=2)
    planes = record[LABEL_BYTES:].reshape(3, 32, 32)[:, oy : oy + CROP, ox : ox + CROP]
    if rng.random() < 0.5:
        planes = planes[:, :, ::-1]
    image = planes.transpose(1, 2, 0).astype(np.float32)
    image += np.float32(rng.uniform(-MAX_DELTA, MAX_DELTA))
    mean = image.mean(axis=(0, 1))
    image = (image - mean) * np.float32(rng.uniform(*CONTRAST)) + mean
    image -= image.mean()
    image /= max(float(image.std()), MIN_STD)
    return image, np.int32(record[0])


_local = threading.local()


def thread_rng() -> np.random.Generator:
    """A generator per thread (``Generator`` objects are not thread-safe)."""
    rng = getattr(_local, "rng", None)
    if rng is None:
        rng = _local.rng = np.random.default_rng([threading.get_ident(), os.getpid()])
    return rng


# --- the systems: each returns an endless iterator of (images, labels) batches ---------


def numpy_floor(data: str) -> tuple[Iterator[Any], dict[str, str]]:
    files = RecordFiles(data)
    rng = np.random.default_rng(0)

    def batches() -> Iterator[Any]:
        for index in index_batches(len(files)):
            yield distort_batch(files.gather(index), rng)

    return batches(), {"numpy": np.__version__}


def torch_loader(data: str, workers: int) -> tuple[Iterator[Any], dict[str, str]]:
    import torch
    import torch.utils.data as tud

    class Records(tud.Dataset):
        def __init__(self, folder: str) -> None:
            self.files = RecordFiles(folder)

        def __len__(self) -> int:
            return len(self.files)

        def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
            record = torch.from_numpy(self.files[index])
            label = record[0].to(torch.int32)
            image = record[LABEL_BYTES:].view(3, 32, 32).permute(1, 2, 0).to(torch.float32)
            oy, ox = torch.randint(0, 32 - CROP + 1, (2,)).tolist()
            image = image[oy : oy + CROP, ox : ox + CROP]
            if torch.rand(()) < 0.5:
                image = image.flip(1)
            image = image + torch.empty(()).uniform_(-MAX_DELTA, MAX_DELTA)
            mean = image.mean(dim=(0, 1), keepdim=True)
            image = (image - mean) * torch.empty(()).uniform_(*CONTRAST) + mean
            image = image - image.mean()
            std = image.square().mean().sqrt().clamp(min=MIN_STD)
            return image / std, label

    loader = tud.DataLoader(
        Records(data),
        batch_size=BATCH,
        shuffle=True,
        num_workers=workers,
        persistent_workers=workers > 0,
    )

    def batches() -> Iterator[Any]:
        while True:
            yield from loader

    return batches(), {"torch": torch.__version__, "numpy": np.__version__}


def _tf_record(tf: Any, raw: Any) -> tuple[Any, Any]:
    label = tf.cast(raw[0], tf.int32)
    image = tf.transpose(tf.reshape(raw[LABEL_BYTES:], [3, 32, 32]), [1, 2, 0])
    return tf.cast(image, tf.float32), label


def _tf_distort(tf: Any, image: Any) -> Any:
    image = tf.image.random_crop(image, [CROP, CROP, 3])
    image = tf.image.random_flip_left_right(image)
    image = tf.image.random_brightness(image, max_delta=MAX_DELTA)
    image = tf.image.random_contrast(image, lower=CONTRAST[0], upper=CONTRAST[1])
    return tf.image.per_image_standardization(image)


def _quiet_tf() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    return tf


def tfdata(data: str, batched: bool) -> tuple[Iterator[Any], dict[str, str]]:
    tf = _quiet_tf()
    autotune = tf.data.AUTOTUNE

    def per_image(record: Any) -> tuple[Any, Any]:
        image, label = _tf_record(tf, tf.io.decode_raw(record, tf.uint8))
        return _tf_distort(tf, image), label

    def per_batch(records: Any) -> tuple[Any, Any]:
        raw = tf.io.decode_raw(records, tf.uint8)
        n = tf.shape(raw)[0]
        labels = tf.cast(raw[:, 0], tf.int32)
        images = tf.transpose(tf.reshape(raw[:, LABEL_BYTES:], [-1, 3, 32, 32]), [0, 2, 3, 1])
        span = tf.range(CROP)
        oy = tf.random.uniform([n, 1], 0, 32 - CROP + 1, tf.int32)
        ox = tf.random.uniform([n, 1], 0, 32 - CROP + 1, tf.int32)
        flip = tf.random.uniform([n, 1]) < 0.5
        cols = tf.where(flip, ox + (CROP - 1) - span, ox + span)
        images = tf.gather(images, oy + span, axis=1, batch_dims=1)
        images = tf.cast(tf.gather(images, cols, axis=2, batch_dims=1), tf.float32)
        images += tf.random.uniform([n, 1, 1, 1], -MAX_DELTA, MAX_DELTA)
        mean = tf.reduce_mean(images, axis=[1, 2], keepdims=True)
        images = (images - mean) * tf.random.uniform([n, 1, 1, 1], *CONTRAST) + mean
        return tf.image.per_image_standardization(images), labels

    files = [str(Path(data) / name) for name in FILES]
    ds = tf.data.FixedLengthRecordDataset(files, RECORD).shuffle(SHUFFLE_BUFFER).repeat()
    if batched:
        ds = ds.batch(BATCH, drop_remainder=True).map(per_batch, num_parallel_calls=autotune)
    else:
        ds = ds.map(per_image, num_parallel_calls=autotune).batch(BATCH, drop_remainder=True)
    ds = ds.prefetch(autotune)
    return ds.as_numpy_iterator(), {"tensorflow": tf.__version__, "numpy": np.__version__}


def tf1_queues(data: str) -> tuple[Iterator[Any], dict[str, str]]:
    tf = _quiet_tf()
    v1 = tf.compat.v1
    v1.disable_eager_execution()
    filenames = v1.train.string_input_producer([str(Path(data) / name) for name in FILES])
    _, value = v1.FixedLengthRecordReader(record_bytes=RECORD).read(filenames)
    image, label = _tf_record(tf, v1.decode_raw(value, tf.uint8))
    image = _tf_distort(tf, image)
    image.set_shape([CROP, CROP, 3])
    images, labels = v1.train.shuffle_batch(
        [image, label],
        batch_size=BATCH,
        num_threads=16,
        capacity=SHUFFLE_BUFFER + 3 * BATCH,
        min_after_dequeue=SHUFFLE_BUFFER,
    )
    session = v1.Session()
    coordinator = v1.train.Coordinator()
    v1.train.start_queue_runners(sess=session, coord=coordinator)

    def batches() -> Iterator[Any]:
        while True:
            yield session.run([images, labels])

    return batches(), {"tensorflow": tf.__version__, "numpy": np.__version__}


def _grain_batch(records: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return distort_batch(np.asarray(records), rng)


def grain_dataset(data: str, batched: bool, workers: int) -> tuple[Iterator[Any], dict[str, str]]:
    import grain

    ds = grain.MapDataset.source(RecordFiles(data)).shuffle(seed=0).repeat()
    if batched:
        ds = ds.batch(BATCH, drop_remainder=True).random_map(_grain_batch, seed=1)
    else:
        ds = ds.random_map(distort_record, seed=1).batch(BATCH, drop_remainder=True)
    if workers:
        it = ds.to_iter_dataset().mp_prefetch(grain.MultiprocessingOptions(num_workers=workers))
    else:
        it = ds.to_iter_dataset(grain.ReadOptions(num_threads=GRAIN_THREADS))
    return iter(it), {"grain": _version("grain"), "numpy": np.__version__}


def _spdl_work(files: RecordFiles) -> Callable[[np.ndarray], Any]:
    def work(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return distort_batch(files.gather(index), thread_rng())

    return work


def spdl_pipeline(data: str) -> tuple[Iterator[Any], dict[str, str]]:
    from spdl.pipeline import PipelineBuilder

    files = RecordFiles(data)
    pipeline = (
        PipelineBuilder()
        .add_source(index_batches(len(files)))
        .pipe(_spdl_work(files), concurrency=2)
        .add_sink(4)
        .build(num_threads=2)
    )
    pipeline.start()

    def batches() -> Iterator[Any]:
        try:
            yield from pipeline
        finally:
            pipeline.stop()

    return batches(), {"spdl": _version("spdl"), "numpy": np.__version__}


# --- conveyor: every call the benchmark makes into it, in one place ---------------------


def conveyor_system(kind: str, data: str) -> tuple[Any, dict[str, str]]:
    """conveyor's rows. *kind*: ``pipeline``, ``pool``, ``kernel``, ``kernel2``,
    ``reference``. Returns a batch iterator (pipelines) or a list of step functions, one
    per thread, each making and returning one batch (the kernel).

    Raises:
        ImportError: the conveyor modules do not exist yet.
    """
    import conveyor

    versions = {"conveyor": conveyor.__version__, "numpy": np.__version__}
    if kind in ("pipeline", "pool"):
        from conveyor.datasets import cifar10

        options = {"shuffle": "pool"} if kind == "pool" else {}
        pipe = cifar10.distorted_inputs(data, batch_size=BATCH, **options)

        def batches() -> Iterator[Any]:
            while True:
                yield from pipe

        return batches(), versions

    if kind == "compat":
        return _compat_batches(data), versions

    from conveyor.image import recipes

    recipe = recipes.tutorial_train()
    records = RecordFiles(data).load()
    images = records[:, LABEL_BYTES:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    sources = recipes.Sources(images)  # the CHW records read in place, wrapped once

    def step_fn(seed: int) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
        rng = np.random.default_rng(seed)
        order = index_batches(len(records), seed)
        out = np.empty((BATCH, CROP, CROP, 3), dtype=np.float32)

        def step() -> int:
            index = next(order).astype(np.int64)
            if kind == "reference":
                batch = recipe.reference(sources, rng, index=index)
            else:  # threads share nothing but the images: each writes its own buffer
                batch = recipe(sources, rng, index=index, out=out)
            return batch, records[index, 0].astype(np.int32)

        return step

    return [step_fn(seed) for seed in range(2 if kind == "kernel2" else 1)], versions


def _compat_batches(data: str) -> Iterator[Any]:
    """The tutorial's own ``cifar10_input.distorted_inputs`` (examples/tf1/, TF1 code with
    only the import changed) on ``conveyor.compat.v1``: a graph, a session, the queue
    runners, one ``sess.run`` per batch."""
    import importlib.util

    import conveyor.compat.v1 as tf

    path = Path(__file__).resolve().parents[1] / "examples" / "tf1" / "cifar10_input.py"
    spec = importlib.util.spec_from_file_location("tf1_cifar10_input", path)
    assert spec is not None and spec.loader is not None
    tutorial = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tutorial)

    def batches() -> Iterator[Any]:
        with tf.Graph().as_default():
            images, labels = tutorial.distorted_inputs(data, BATCH)
            with tf.Session() as sess:
                coord = tf.train.Coordinator()
                threads = tf.train.start_queue_runners(sess, coord)
                try:
                    while True:
                        yield tuple(sess.run([images, labels]))
                finally:
                    coord.request_stop()
                    coord.join(threads)

    return batches()


def _version(module: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(module)
    except metadata.PackageNotFoundError:
        return "?"


# name: (group, interpreter, configuration, runner)
SYSTEMS: dict[str, tuple[str, str, str, Callable[[str], Any]]] = {
    "numpy-floor": (
        "floor",
        "host",
        "1 thread, batched NumPy, no pipeline",
        numpy_floor,
    ),
    "torch-w0": (
        "peer",
        "host",
        "DataLoader, torch ops per image, num_workers=0",
        lambda d: torch_loader(d, 0),
    ),
    "torch-w2": (
        "peer",
        "host",
        "DataLoader, torch ops per image, num_workers=2",
        lambda d: torch_loader(d, 2),
    ),
    "tfdata-map": (
        "peer",
        "peer",
        "tf.data, map per image (AUTOTUNE) → batch",
        lambda d: tfdata(d, batched=False),
    ),
    "tfdata-batched": (
        "peer",
        "peer",
        "tf.data, batch → map per batch (AUTOTUNE)",
        lambda d: tfdata(d, batched=True),
    ),
    "tf1-queues": (
        "peer",
        "peer",
        "TF1 graph, shuffle_batch, 16 threads",
        tf1_queues,
    ),
    "grain-threads": (
        "peer",
        "peer",
        f"Grain, random_map per record → batch, ReadOptions(num_threads={GRAIN_THREADS})",
        lambda d: grain_dataset(d, batched=False, workers=0),
    ),
    "grain-mp2": (
        "peer",
        "peer",
        "Grain, random_map per record → batch, mp_prefetch 2 processes",
        lambda d: grain_dataset(d, batched=False, workers=2),
    ),
    "grain-batched-threads": (
        "peer",
        "peer",
        f"Grain, batch → batched NumPy random_map, ReadOptions(num_threads={GRAIN_THREADS})",
        lambda d: grain_dataset(d, batched=True, workers=0),
    ),
    "grain-batched-mp2": (
        "peer",
        "peer",
        "Grain, batch → batched NumPy random_map, mp_prefetch 2 processes",
        lambda d: grain_dataset(d, batched=True, workers=2),
    ),
    "spdl-threads": (
        "peer",
        "peer",
        "SPDL, index-batch source → batched NumPy pipe, concurrency 2",
        spdl_pipeline,
    ),
    "conveyor-pipeline": (
        "conveyor",
        "host",
        "distorted_inputs(batch_size=128)",
        lambda d: conveyor_system("pipeline", d),
    ),
    "conveyor-pool": (
        "conveyor",
        "host",
        'distorted_inputs(batch_size=128, shuffle="pool")',
        lambda d: conveyor_system("pool", d),
    ),
    "conveyor-kernel": (
        "conveyor",
        "host",
        "recipes.tutorial_train() alone, 1 thread",
        lambda d: conveyor_system("kernel", d),
    ),
    "conveyor-kernel2": (
        "conveyor",
        "host",
        "recipes.tutorial_train() alone, 2 threads",
        lambda d: conveyor_system("kernel2", d),
    ),
    "conveyor-reference": (
        "conveyor",
        "host",
        "recipe.reference() (NumPy form), 1 thread",
        lambda d: conveyor_system("reference", d),
    ),
    "conveyor-compat-v1": (
        "conveyor",
        "host",
        "the tutorial's TF1 cifar10_input on conveyor.compat.v1 (16 threads)",
        lambda d: conveyor_system("compat", d),
    ),
}
PEER_MODULES = {"torch": "torch", "tfdata": "tensorflow", "tf1": "tensorflow"}
PEER_MODULES |= {"grain": "grain", "spdl": "spdl"}


# --- the child: one measurement ----------------------------------------------------------


def check(batch: Any) -> str:
    """'' when *batch* is 128 standardized float32 24x24x3 images and int32 labels."""
    images, labels = (np.asarray(part) for part in batch)
    if images.shape != (BATCH, CROP, CROP, 3) or images.dtype != np.float32:
        return f"images {images.shape} {images.dtype}"
    if labels.shape != (BATCH,) or labels.dtype != np.int32:
        return f"labels {labels.shape} {labels.dtype}"
    means = np.abs(images.mean(axis=(1, 2, 3)))
    stds = images.std(axis=(1, 2, 3))
    if means.max() > 1e-3 or np.abs(stds - 1).max() > 1e-3:
        return f"not standardized: |mean| up to {means.max():.2g}, std {stds.min():.3f}.."
    return ""


def measure_batches(
    batches: Iterator[Any], warmup: float, seconds: float, consumer_ms: float
) -> dict[str, Any]:
    started = time.perf_counter()
    problem = check(next(batches))
    first = time.perf_counter() - started
    until = time.perf_counter() + warmup
    while time.perf_counter() < until:
        next(batches)
    images = 0
    waited = 0.0
    start = time.perf_counter()
    while True:
        asked = time.perf_counter()
        batch = next(batches)
        waited += time.perf_counter() - asked
        images += len(batch[1])
        if consumer_ms:
            time.sleep(consumer_ms / 1000)
        if time.perf_counter() - start >= seconds:
            break
    total = time.perf_counter() - start
    return {
        "images_per_s": images / total,
        "stall": waited / total,
        "first_batch_s": first,
        "check": problem,
    }


def measure_steps(steps: list[Callable[[], Any]], warmup: float, seconds: float) -> dict[str, Any]:
    """Each step function on its own thread; images counted inside the window only."""
    started = time.perf_counter()
    problem = check(steps[0]())
    first = time.perf_counter() - started
    begin = time.perf_counter() + warmup
    end = begin + seconds
    counts = [0] * len(steps)

    def loop(k: int) -> None:
        while (now := time.perf_counter()) < end:
            labels = steps[k]()[1]
            if now >= begin:
                counts[k] += len(labels)

    threads = [threading.Thread(target=loop, args=(k,)) for k in range(len(steps))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"images_per_s": sum(counts) / seconds, "first_batch_s": first, "check": problem}


def child(args: argparse.Namespace) -> dict[str, Any]:
    group, _, config, run = SYSTEMS[args.system]
    result: dict[str, Any] = {"system": args.system, "config": config, "status": "ok"}
    try:
        made, versions = run(args.data)
    except ImportError as error:
        result["status"] = "not available" if group == "conveyor" else "not installed"
        result["error"] = str(error)
        return result
    result["versions"] = versions | {"python": sys.version.split()[0]}
    if isinstance(made, list):
        result |= measure_steps(made, args.warmup, args.seconds)
    else:
        result |= measure_batches(made, args.warmup, args.seconds, args.consumer_ms)
        close = getattr(made, "close", None)
        if close is not None:  # Grain's processes give back their shared memory here
            close()
    if result["check"]:
        result["status"] = "wrong output"
    return result


# --- the parent: rounds, table, results file -------------------------------------------


def run_child(
    name: str, data: Path, args: argparse.Namespace, consumer_ms: float = 0.0
) -> dict[str, Any]:
    _, where, config, _ = SYSTEMS[name]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    python = sys.executable
    if where == "peer":
        python = args.peer_python
        env.pop("PYTHONPATH", None)  # peers never see conveyor
        if not Path(python).exists():
            return {
                "system": name,
                "config": config,
                "status": "not installed",
                "error": f"{python} does not exist",
            }
    command = [python, __file__, "--system", name, "--data", str(data)]
    command += ["--seconds", str(args.seconds), "--warmup", str(args.warmup)]
    command += ["--consumer-ms", str(consumer_ms)]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=env,
            timeout=args.seconds + args.warmup + 240,
        )
    except subprocess.TimeoutExpired:
        return {"system": name, "config": config, "status": "timed out"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"system": name, "config": config, "status": f"failed: {tail[:120]}"}
    return json.loads(lines[-1])


def spread(values: list[float], scale: float = 1.0, fmt: str = ",.0f", unit: str = "") -> str:
    """'median (min-max)' of *values* times *scale*."""
    if not values:
        return "—"
    median = statistics.median(values) * scale
    low, high = min(values) * scale, max(values) * scale
    if len(values) == 1:
        return f"{median:{fmt}}{unit}"
    return f"{median:{fmt}}{unit} ({low:{fmt}}-{high:{fmt}}{unit})"


def ratios(rounds: list[dict[str, Any]], name: str, against: str | None) -> list[float]:
    """The per-round ratios of *name* to *against*, rounds where both measured."""
    if against is None:
        return []
    out = []
    for results in rounds:
        a, b = results.get(name), results.get(against)
        if a and b and a.get("status") == "ok" and b.get("status") == "ok":
            out.append(a["images_per_s"] / b["images_per_s"])
    return out


def rates(rounds: list[dict[str, Any]], name: str) -> list[float]:
    return [r[name]["images_per_s"] for r in rounds if r.get(name, {}).get("status") == "ok"]


def last_recorded(name: str) -> str:
    try:
        saved = json.loads(RESULTS.read_text())
        row = saved["systems"][name]
    except (OSError, ValueError, KeyError):
        return ""
    return f"last recorded {row['median']:,.0f} img/s ({saved['measured']})"


def table(rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        head, *body = rows
        lines = ["| " + " | ".join(head) + " |", "| --- | --- |" + " ---: |" * (len(head) - 2)]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in body])
    widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if k < 2 else cell.rjust(w)
            for k, (cell, w) in enumerate(zip(row, widths))
        )
        for row in rows
    )


def parent(args: argparse.Namespace) -> None:
    names = list(SYSTEMS) if not args.systems else args.systems.split(",")
    unknown = [name for name in names if name not in SYSTEMS]
    if unknown:
        raise SystemExit(f"unknown systems: {', '.join(unknown)} (see --list)")
    with tempfile.TemporaryDirectory() as tmp:
        data, writer = make_data(Path(tmp), args.records)
        rounds: list[dict[str, Any]] = []
        for k in range(args.rounds):
            order = names[k % len(names) :] + names[: k % len(names)]
            results = {}
            for name in order:
                results[name] = run_child(name, data, args)
                print(f"round {k + 1}: {name} {_brief(results[name])}", file=sys.stderr)
            rounds.append(results)
        stall_rows = stalls(rounds, names, data, args) if args.stall_ms else []
    report(rounds, names, stall_rows, writer, args)


def _brief(result: dict[str, Any]) -> str:
    if result.get("status") != "ok":
        return result.get("status", "?")
    return f"{result['images_per_s']:,.0f} img/s"


def best_of(rounds: list[dict[str, Any]], names: list[str], group: str) -> str | None:
    measured = {
        name: statistics.median(rates(rounds, name))
        for name in names
        if SYSTEMS[name][0] == group and rates(rounds, name)
    }
    if group == "conveyor":  # the kernel alone is not an input pipeline
        measured = {
            n: v for n, v in measured.items() if n in ("conveyor-pipeline", "conveyor-pool")
        }
    return max(measured, key=measured.__getitem__) if measured else None


def stalls(
    rounds: list[dict[str, Any]], names: list[str], data: Path, args: argparse.Namespace
) -> list[tuple[str, float, list[dict[str, Any]]]]:
    chosen = []
    for name in args.stall_systems.split(","):
        if name == "none":
            continue
        if name == "best":
            chosen += [best_of(rounds, names, "conveyor"), best_of(rounds, names, "peer")]
        elif name in SYSTEMS:
            chosen.append(name)
        else:
            raise SystemExit(f"unknown system in --stall-systems: {name} (see --list)")
    chosen = list(dict.fromkeys(n for n in chosen if n))
    steps = [float(t) for t in args.stall_ms.split(",")]
    runs: dict[tuple[str, float], list[dict[str, Any]]] = {
        (n, t): [] for n in chosen for t in steps
    }
    for k in range(args.rounds):
        for name, step in runs:
            runs[name, step].append(run_child(name, data, args, consumer_ms=step))
            print(f"stall round {k + 1}: {name} T={step:g} ms", file=sys.stderr)
    return [(name, step, results) for (name, step), results in runs.items()]


def report(
    rounds: list[dict[str, Any]],
    names: list[str],
    stall_rows: list[tuple[str, float, list[dict[str, Any]]]],
    writer: str,
    args: argparse.Namespace,
) -> None:
    floor = "numpy-floor" if rates(rounds, "numpy-floor") else None
    peer = best_of(rounds, names, "peer")
    rows = [["system", "config", "images/s median (min-max)", "x NumPy floor", "x best peer"]]
    versions: dict[str, set[str]] = {}
    for name in names:
        group, _, config, _ = SYSTEMS[name]
        found = [r[name] for r in rounds if name in r]
        for result in found:
            for lib, version in result.get("versions", {}).items():
                versions.setdefault(lib, set()).add(version)
        measured = rates(rounds, name)
        if measured:
            figure = spread(measured)
            if len(measured) < len(found):
                figure += f" [{len(found) - len(measured)} failed]"
        else:
            status = found[0].get("status", "?") if found else "?"
            figure = status
            if status == "not installed" and last_recorded(name):
                figure += f"; {last_recorded(name)}"
            if status == "not available" and group == "conveyor":
                figure = "not available (pending)"
        x_floor = spread(ratios(rounds, name, floor), fmt=".2f") if floor else "—"
        x_peer = spread(ratios(rounds, name, peer), fmt=".2f") if peer else "—"
        label = name + (" (best peer)" if name == peer else "")
        rows.append(
            [label, config, figure, x_floor if measured else "—", x_peer if measured else "—"]
        )
    print(
        f"\nCIFAR-10 training input, {datetime.date.today()}: {args.records:,} records "
        f"({writer}), batches of {BATCH}; interleaved rounds: {args.rounds}, "
        f"{args.warmup:g} s warm-up + {args.seconds:g} s each"
    )
    print(table(rows, args.markdown))
    if stall_rows:
        print(
            f"\ninput stall: a consumer sleeping T ms (GIL-free) per batch; rounds: {args.rounds}"
        )
        srows = [["system", "T", "stall median (min-max)", "images/s median (min-max)"]]
        srows[0].append("consumer's ceiling, images/s")
        for name, step, results in stall_rows:
            ok = [r for r in results if r.get("status") == "ok"]
            srows.append(
                [
                    name,
                    f"{step:g} ms",
                    spread([r["stall"] for r in ok], 100, ".1f", "%") if ok else "failed",
                    spread([r["images_per_s"] for r in ok]),
                    f"{BATCH / step * 1000:,.0f}",
                ]
            )
        print(table(srows, args.markdown))
    print(
        "\nversions: "
        + "; ".join(f"{lib} {', '.join(sorted(v))}" for lib, v in sorted(versions.items()))
    )
    print("command: " + " ".join(["python", "benchmarks/cifar10_input.py", *sys.argv[1:]]))
    if args.record:
        record(rounds, names, stall_rows, versions)


def record(
    rounds: list[dict[str, Any]],
    names: list[str],
    stall_rows: list[tuple[str, float, list[dict[str, Any]]]],
    versions: dict[str, set[str]],
) -> None:
    """Rewrite the results file with this run's figures (systems not measured are kept)."""
    try:
        kept = json.loads(RESULTS.read_text())["systems"]
    except (OSError, ValueError, KeyError):
        kept = {}
    saved: dict[str, Any] = {
        "measured": str(datetime.date.today()),
        "command": " ".join(["python", "benchmarks/cifar10_input.py", *sys.argv[1:]]),
        "versions": {lib: sorted(v) for lib, v in sorted(versions.items())},
        "systems": kept,
        "stall": {},
    }
    for name, step, results in stall_rows:
        stalls = [r["stall"] for r in results if r.get("status") == "ok"]
        if stalls:
            saved["stall"][f"{name}, T = {step:g} ms"] = {
                "median": round(statistics.median(stalls), 4),
                "min": round(min(stalls), 4),
                "max": round(max(stalls), 4),
            }
    for name in names:
        measured = rates(rounds, name)
        if measured:
            saved["systems"][name] = {
                "config": SYSTEMS[name][2],
                "median": round(statistics.median(measured)),
                "min": round(min(measured)),
                "max": round(max(measured)),
                "rounds": len(measured),
            }
    RESULTS.write_text(json.dumps(saved, indent=2, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=8.0,
        help="measured seconds per system per round (default 8)",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=5.0,
        help="seconds consumed after the first batch before counting (default 5: Grain's "
        "processes take about 4 to reach their pace)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="interleaved rounds; every system runs once per round (default 3)",
    )
    parser.add_argument(
        "--systems",
        default="",
        help="comma-separated subset of the systems (default all; see --list)",
    )
    parser.add_argument(
        "--records", type=int, default=50_000, help="records written, over 5 files (default 50,000)"
    )
    parser.add_argument(
        "--peer-python",
        default=PEER_PYTHON,
        help=f"interpreter with tensorflow, grain and spdl (default {PEER_PYTHON})",
    )
    parser.add_argument(
        "--stall-ms",
        default="8,2",
        help="consumer step times T in ms for the input-stall rows, comma-"
        "separated; empty for none (default 8,2)",
    )
    parser.add_argument(
        "--stall-systems",
        default="best",
        help="systems for the input-stall rows, comma-separated; 'best' stands for the best "
        "conveyor pipeline and the best peer of the throughput rounds, 'none' for no stall rows "
        "(default best)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 1 round, 0.5 s warm-up, 1.5 s per system, T = 8 ms",
    )
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    parser.add_argument(
        "--record", action="store_true", help=f"rewrite {RESULTS.name} with this run's figures"
    )
    parser.add_argument("--list", action="store_true", help="list the systems and exit")
    parser.add_argument("--system", help="child mode: measure one system, print one JSON line")
    parser.add_argument("--data", help="child mode: the folder holding the record files")
    parser.add_argument(
        "--consumer-ms",
        type=float,
        default=0.0,
        help="child mode: the consumer's sleep per batch, in ms (default 0)",
    )
    args = parser.parse_args()
    if args.list:
        for name, (group, where, config, _) in SYSTEMS.items():
            python = "peer venv" if where == "peer" else "this python"
            print(f"{name:<22} {group:<9} {python:<12} {config}")
        return
    if args.system:
        print(json.dumps(child(args)), flush=True)
        os._exit(0)  # queue runners and pipeline threads must not hold the exit
    if args.quick:
        args.rounds, args.warmup, args.seconds, args.stall_ms = 1, 0.5, 1.5, "8"
    parent(args)


if __name__ == "__main__":
    main()
