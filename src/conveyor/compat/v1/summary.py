"""``tf.summary``: scalar and image summaries, ``merge_all``, and a ``FileWriter`` that
writes real TensorBoard event files (TFRecord files of ``Event`` protos).

The protos are small and written here by hand, so writing summaries needs no
TensorFlow nor TensorBoard; the TFRecord framing is conveyor's
(:class:`conveyor.TFRecordWriter`, which needs ``google-crc32c``: ``conveyor[io]``).
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from typing import Any, ClassVar

import numpy as np

from conveyor.compat.v1._graph import (
    GraphKeys,
    RunContext,
    Tensor,
    convert_to_tensor,
    get_default_graph,
    make_op,
)
from conveyor.compat.v1._missing import missing_names
from conveyor.compat.v1._protos import Event as Event, Summary as Summary

__all__ = [
    "scalar",
    "image",
    "merge",
    "merge_all",
    "FileWriter",
    "FileWriterCache",
    "Summary",
    "Event",
]


# -- protobuf wire format ----------------------------------------------------------
def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _bytes_field(field: int, data: bytes) -> bytes:
    return _key(field, 2) + _varint(len(data)) + data


def _scalar_value(tag: str, value: float) -> bytes:
    """A serialized ``Summary.Value`` with ``simple_value``."""
    return _bytes_field(1, tag.encode()) + _key(2, 5) + struct.pack("<f", value)


def _image_value(tag: str, height: int, width: int, channels: int, png: bytes) -> bytes:
    image = (
        _key(1, 0)
        + _varint(height)
        + _key(2, 0)
        + _varint(width)
        + _key(3, 0)
        + _varint(channels)
        + _bytes_field(4, png)
    )
    return _bytes_field(1, tag.encode()) + _bytes_field(4, image)


def _summary(values: list[bytes]) -> bytes:
    """A serialized ``Summary``; concatenating two merges them (repeated field)."""
    return b"".join(_bytes_field(1, v) for v in values)


def _event(
    wall_time: float, step: int, *, file_version: str | None = None, summary: bytes | None = None
) -> bytes:
    out = _key(1, 1) + struct.pack("<d", wall_time) + _key(2, 0) + _varint(step)
    if file_version is not None:
        out += _bytes_field(3, file_version.encode())
    if summary is not None:
        out += _bytes_field(5, summary)
    return out


# -- summary ops ------------------------------------------------------------------
def _tag(name: str, family: str | None) -> str:
    graph = get_default_graph()
    base = f"{family}/{name}" if family else name
    with graph.name_scope(base) as scope:
        return scope.rstrip("/")


def _register(t: Tensor, collections: Any) -> Tensor:
    graph = t.graph
    for key in collections if collections is not None else [GraphKeys.SUMMARIES]:
        graph.add_to_collection(key, t)
    return t


def scalar(name: str, tensor: Any, collections: Any = None, family: str | None = None) -> Tensor:
    """A string tensor: a serialized ``Summary`` holding ``tensor``'s value as
    ``simple_value`` (``tf.summary.scalar``).

    Raises:
        ValueError: ``tensor`` is not a scalar.
    """
    t = convert_to_tensor(tensor)
    if t.shape.ndims not in (None, 0):
        raise ValueError(f"Tensor {t.name} must be a scalar, got shape {t.shape}")
    tag = _tag(name, family)

    def compute(run: RunContext, v: list[Any]) -> Any:
        return _string(_summary([_scalar_value(tag, float(np.asarray(v[0])))]))

    op = make_op("ScalarSummary", [t], compute, [("string", [])], name=name)
    return _register(op.outputs[0], collections)


def _string(data: bytes) -> np.ndarray:
    out = np.empty((), dtype=object)
    out[()] = data
    return out


def _to_uint8(images: np.ndarray) -> np.ndarray:
    if images.dtype == np.uint8:
        return images
    values = images.astype(np.float64)
    out = np.empty(values.shape, np.uint8)
    for i, img in enumerate(values):
        lo, hi = float(img.min(initial=0.0)), float(img.max(initial=0.0))
        if lo >= 0:
            scale = 255.0 / hi if hi > 0 else 0.0
            out[i] = np.clip(img * scale + 0.5, 0, 255).astype(np.uint8)
        else:
            scale = 127.0 / max(-lo, hi) if max(-lo, hi) > 0 else 0.0
            out[i] = np.clip(img * scale + 127.5, 0, 255).astype(np.uint8)
    return out


def image(
    name: str, tensor: Any, max_outputs: int = 3, collections: Any = None, family: str | None = None
) -> Tensor:
    """A serialized ``Summary`` of up to ``max_outputs`` PNG images of a
    ``[batch, height, width, channels]`` tensor (``tf.summary.image``); float images are
    scaled as TensorFlow does (non-negative: the largest value to 255; otherwise 0 to
    127)."""
    from conveyor.ops.image_codecs import encode_png

    t = convert_to_tensor(tensor)
    tag = _tag(name, family)

    def compute(run: RunContext, v: list[Any]) -> Any:
        images = _to_uint8(np.asarray(v[0])[:max_outputs])
        values = []
        for i, img in enumerate(images):
            label = f"{tag}/image/{i}" if max_outputs > 1 else f"{tag}/image"
            h, w, c = img.shape
            values.append(_image_value(label, h, w, c, encode_png(img)))
        return _string(_summary(values))

    op = make_op("ImageSummary", [t], compute, [("string", [])], name=name)
    return _register(op.outputs[0], collections)


def merge(inputs: Any, collections: Any = None, name: str | None = None) -> Tensor:
    """One ``Summary`` holding the values of every input summary (``tf.summary.merge``)."""
    tensors = [convert_to_tensor(i) for i in inputs]

    def compute(run: RunContext, v: list[Any]) -> Any:
        return _string(b"".join(bytes(np.asarray(x, dtype=object).reshape(()).item()) for x in v))

    t = make_op(
        "MergeSummary", tensors, compute, [("string", [])], name=name or "Merge/MergeSummary"
    ).outputs[0]
    for key in collections or []:
        t.graph.add_to_collection(key, t)
    return t


def merge_all(
    key: str = GraphKeys.SUMMARIES, scope: str | None = None, name: str | None = None
) -> Tensor | None:
    """Merge every summary in the default graph's collection ``key``; ``None`` when
    there are none (``tf.summary.merge_all``)."""
    found = get_default_graph().get_collection(key, scope)
    if not found:
        return None
    return merge(found, name=name)


# -- writing ----------------------------------------------------------------------
class FileWriter:
    """Writes ``Event`` protos to a TensorBoard event file in ``logdir``
    (``tf.summary.FileWriter``).

    Writes are synchronous and buffered by the file; ``flush`` and ``close`` push them
    to disk. The first event records the file version, as TensorFlow's.
    """

    def __init__(
        self,
        logdir: str | os.PathLike[str],
        graph: Any = None,
        max_queue: int = 10,
        flush_secs: int = 120,
        graph_def: Any = None,
        filename_suffix: str | None = None,
        session: Any = None,
    ) -> None:
        self._logdir = os.fspath(logdir)
        self._suffix = filename_suffix or ""
        self._lock = threading.Lock()
        self._writer: Any = None
        self._open()

    def _open(self) -> None:
        from conveyor.io.tfrecord import TFRecordWriter

        os.makedirs(self._logdir, exist_ok=True)
        now = time.time()
        name = f"events.out.tfevents.{int(now):010d}.{socket.gethostname()}{self._suffix}"
        self._path = os.path.join(self._logdir, name)
        self._writer = TFRecordWriter(self._path)
        self._writer.write(_event(now, 0, file_version="brain.Event:2"))
        self._writer.flush()

    def get_logdir(self) -> str:
        return self._logdir

    def add_summary(self, summary: Any, global_step: int | None = None) -> None:
        """Write ``summary`` (serialized bytes, as ``sess.run`` of a summary gives, or a
        proto with ``SerializeToString``) at ``global_step``."""
        if hasattr(summary, "SerializeToString"):
            summary = summary.SerializeToString()
        if isinstance(summary, np.ndarray):
            summary = summary.reshape(()).item()
        self._write(_event(time.time(), int(global_step or 0), summary=bytes(summary)))

    def add_event(self, event: Any) -> None:
        """Write an ``Event`` (serialized bytes or a proto)."""
        if hasattr(event, "SerializeToString"):
            event = event.SerializeToString()
        self._write(bytes(event))

    def add_graph(self, graph: Any, global_step: int | None = None, graph_def: Any = None) -> None:
        """Accepted; conveyor's graphs have no ``GraphDef`` to show."""

    def add_session_log(self, session_log: Any, global_step: int | None = None) -> None:
        """Accepted; no session log is written."""

    def add_run_metadata(self, run_metadata: Any, tag: str, global_step: int | None = None) -> None:
        """Accepted; conveyor records no run metadata."""

    def _write(self, record: bytes) -> None:
        with self._lock:
            if self._writer is None:
                self._open()
            self._writer.write(record)

    def flush(self) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.flush()

    def close(self) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None

    def reopen(self) -> None:
        with self._lock:
            if self._writer is None:
                self._open()

    def __enter__(self) -> FileWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class FileWriterCache:
    """One :class:`FileWriter` per log directory (``tf.summary.FileWriterCache``)."""

    _cache: ClassVar[dict[str, FileWriter]] = {}
    _lock = threading.Lock()

    @staticmethod
    def get(logdir: str) -> FileWriter:
        with FileWriterCache._lock:
            if logdir not in FileWriterCache._cache:
                FileWriterCache._cache[logdir] = FileWriter(logdir)
            return FileWriterCache._cache[logdir]

    @staticmethod
    def clear() -> None:
        with FileWriterCache._lock:
            for w in FileWriterCache._cache.values():
                w.close()
            FileWriterCache._cache.clear()


__getattr__ = missing_names(
    __name__, "tf.summary", "conveyor's pipeline.stats() for pipeline metrics"
)
