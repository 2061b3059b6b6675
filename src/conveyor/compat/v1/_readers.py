"""Reader nodes: each reader of the graph is one conveyor reader per session, reading
from that session's queue of file names."""

from __future__ import annotations

from typing import Any

import numpy as np

from conveyor.compat.v1._graph import Operation, RunContext, Tensor, convert_to_tensor, make_op
from conveyor.compat.v1._queues import QueueBase
from conveyor.compat.v1._vectorize import strings as _strings

__all__ = [
    "ReaderBase",
    "FixedLengthRecordReader",
    "WholeFileReader",
    "TextLineReader",
    "TFRecordReader",
]


class _SessionQueue:
    """A session's view of a work queue, as a reader's ``dequeue()``; it blocks (and
    warns about unstarted runners) as a dequeue op of that run would."""

    __slots__ = ("_queue", "_run")

    def __init__(self, queue: QueueBase, run: RunContext) -> None:
        self._queue = queue
        self._run = run

    def dequeue(self) -> Any:
        return self._queue._blocking(self._run, lambda q, t: q.dequeue(timeout=t), sequenced=False)


def _work_queue(queue: Any) -> QueueBase:
    if isinstance(queue, QueueBase):
        return queue
    if isinstance(queue, Tensor) and hasattr(queue.op, "_queue"):
        return queue.op._queue  # type: ignore[no-any-return]
    raise TypeError(f"a reader reads from a queue of file names, got {queue!r}")


class ReaderBase:
    """What every reader shares (``tf.ReaderBase``): ``read``, ``read_up_to``,
    ``num_records_produced``, ``num_work_units_completed``, ``reset``."""

    _op_type = "ReaderV2"

    def __init__(self, make: Any, name: str | None = None) -> None:
        self._make = make
        self._make()  # arguments are checked now, as TensorFlow's graph construction does
        self._op = make_op(
            self._op_type, [], lambda run, v: None, [("string", [])], name=name or self._op_type
        )

    @property
    def reader_ref(self) -> Tensor:
        return self._op.outputs[0]

    @property
    def supports_serialize(self) -> bool:
        return False

    def _reader(self, run: RunContext) -> Any:
        return run.resource(self._op, self._make)

    def read(self, queue: Any, name: str | None = None) -> tuple[Tensor, Tensor]:
        """The next ``(key, value)`` record: two scalar string tensors. Takes the next
        file name from ``queue`` when the current file ends."""
        work = _work_queue(queue)

        def compute(run: RunContext, v: list[Any]) -> Any:
            reader = self._reader(run)
            key, value = _in_order(run, lambda: reader.read(_SessionQueue(work, run)))
            return _scalar(key), _scalar(value)

        op = make_op(
            "ReaderReadV2", [], compute, [("string", []), ("string", [])], name=name, stateful=True
        )
        op._batch_source = lambda run, k: self._reader(run).read_up_to(_SessionQueue(work, run), k)
        return op.outputs[0], op.outputs[1]

    def read_up_to(
        self, queue: Any, num_records: Any, name: str | None = None
    ) -> tuple[Tensor, Tensor]:
        """Up to ``num_records`` records of one file: two string vectors."""
        work = _work_queue(queue)
        n = convert_to_tensor(num_records, dtype="int64")

        def compute(run: RunContext, v: list[Any]) -> Any:
            reader = self._reader(run)
            keys, values = _in_order(
                run, lambda: reader.read_up_to(_SessionQueue(work, run), int(v[0]))
            )
            return keys, _strings(values)

        op = make_op(
            "ReaderReadUpToV2",
            [n],
            compute,
            [("string", [None]), ("string", [None])],
            name=name,
            stateful=True,
        )
        return op.outputs[0], op.outputs[1]

    def num_records_produced(self, name: str | None = None) -> Tensor:
        return make_op(
            "ReaderNumRecordsProducedV2",
            [],
            lambda run, v: np.int64(self._reader(run).num_records_produced()),
            [("int64", [])],
            name=name,
            stateful=True,
        ).outputs[0]

    def num_work_units_completed(self, name: str | None = None) -> Tensor:
        return make_op(
            "ReaderNumWorkUnitsCompletedV2",
            [],
            lambda run, v: np.int64(self._reader(run).num_work_units_completed()),
            [("int64", [])],
            name=name,
            stateful=True,
        ).outputs[0]

    def reset(self, name: str | None = None) -> Operation:
        return make_op(
            "ReaderResetV2",
            [],
            lambda run, v: self._reader(run).reset(),
            [],
            name=name,
            stateful=True,
        )

    def serialize_state(self, name: str | None = None) -> Tensor:
        raise NotImplementedError(
            "ReaderBase.serialize_state: use conveyor's reader.state() / restore()"
        )

    def restore_state(self, state: Any, name: str | None = None) -> Operation:
        raise NotImplementedError(
            "ReaderBase.restore_state: use conveyor's reader.state() / restore()"
        )


def _in_order(run: RunContext, read: Any) -> Any:
    ticket = run.sequence
    return read() if ticket is None else ticket.take(read)


def _scalar(value: Any) -> np.ndarray:
    out = np.empty((), dtype=object)
    out[()] = bytes(value)
    return out


class FixedLengthRecordReader(ReaderBase):
    """Fixed-length records (``tf.FixedLengthRecordReader``), by
    :class:`conveyor.FixedLengthRecordReader`."""

    _op_type = "FixedLengthRecordReaderV2"

    def __init__(
        self,
        record_bytes: int,
        header_bytes: int | None = None,
        footer_bytes: int | None = None,
        hop_bytes: int | None = None,
        name: str | None = None,
        encoding: str | None = None,
    ) -> None:
        from conveyor.io.readers import FixedLengthRecordReader as _Reader

        super().__init__(
            lambda: _Reader(
                record_bytes, header_bytes or 0, footer_bytes or 0, hop_bytes or 0, encoding
            ),
            name,
        )


class WholeFileReader(ReaderBase):
    """Whole files as records, keyed by file name (``tf.WholeFileReader``)."""

    _op_type = "WholeFileReaderV2"

    def __init__(self, name: str | None = None) -> None:
        from conveyor.io.readers import WholeFileReader as _Reader

        super().__init__(_Reader, name)


class TextLineReader(ReaderBase):
    """Lines of text files (``tf.TextLineReader``)."""

    _op_type = "TextLineReaderV2"

    def __init__(self, skip_header_lines: int | None = None, name: str | None = None) -> None:
        from conveyor.io.readers import TextLineReader as _Reader

        super().__init__(lambda: _Reader(skip_header_lines or 0), name)


class TFRecordReader(ReaderBase):
    """Records of TFRecord files (``tf.TFRecordReader``)."""

    _op_type = "TFRecordReaderV2"

    def __init__(self, name: str | None = None, options: Any = None) -> None:
        from conveyor.io.readers import TFRecordReader as _Reader

        super().__init__(lambda: _Reader(options), name)
