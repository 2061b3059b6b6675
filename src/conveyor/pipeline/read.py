"""``read``: reader threads turn a stream of file names into chunks of records.

Each thread owns a copy of the reader and takes file names from the files channel, as
TensorFlow's reader threads share a filename queue; a thread reads its file to the end,
one chunk per ``read_up_to`` call: ``(keys, values)``, with ``values`` one
``(n, record_bytes)`` array for fixed-length records and an object array of ``bytes``
otherwise.

Deterministic mode releases chunks in file order, then chunk order, whatever thread read
them, so the result equals one thread's. A damaged file delivers every good record
before it, then the reader's ``DataLossError``; in deterministic mode also every record
of the files before it.

Resuming: a chunk's state is the reader's position in its file (``ReaderBase.state``),
beside the files source's position after that file, so a resume reopens the file where
it stopped — it never re-reads what was consumed.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from conveyor.core.errors import InvalidArgumentError, OutOfRangeError
from conveyor.pipeline import _structure as st
from conveyor.pipeline.stage import FILES, Output, Stage, StageContext, Unit, check_int

__all__ = ["ReadStage"]


class _OneName:
    """A filename queue holding one name: the reader reads that file, then ends."""

    def __init__(self, name: str | None) -> None:
        self._name = name

    def dequeue(self) -> str:
        name, self._name = self._name, None
        if name is None:
            raise OutOfRangeError("file done")
        return name


class ReadStage(Stage):
    """Reads records from the files of a ``files`` source."""

    def __init__(
        self,
        reader: Any,
        threads: int,
        chunk: int,
        record_shard: tuple[int, int] | None = None,
    ) -> None:
        if not hasattr(reader, "read_up_to") or not hasattr(reader, "clone"):
            raise InvalidArgumentError(f"read() needs a conveyor reader, got {reader!r}")
        self.reader = reader
        self.threads = check_int("threads", threads, minimum=1)
        self.chunk = check_int("chunk", chunk, minimum=1)
        self.record_shard = record_shard
        self.name = f"read({type(reader).__name__})"

    def describe(self) -> str:
        return f"{self.name}(chunk={self.chunk}, record_shard={self.record_shard})"

    def output_level(self, levels: list[Any]) -> Any:
        if levels != [FILES]:
            raise InvalidArgumentError("read() must follow a files() source")
        return 0

    def start(self, ctx: StageContext, state: Any) -> None:
        self._local = threading.local()
        self._ctx = ctx
        self._pending = state  # a file to finish first, after a resume
        self._pending_lock = threading.Lock()

    def _reader(self) -> Any:
        reader = getattr(self._local, "reader", None)
        if reader is None:
            reader = self._local.reader = self.reader.clone()
        return reader

    def _take_pending(self) -> Any:
        with self._pending_lock:
            pending, self._pending = self._pending, None
        return pending

    def _resume_pending(self, out: Output, parent: Any) -> None:
        pending = self._take_pending()
        if pending is None:
            return
        reader = self._reader()
        reader.restore(pending["reader"])
        self._read(
            reader, _OneName(None), out, parent, int(pending["file"]), int(pending["records"])
        )

    def process(self, unit: Unit, out: Output) -> None:
        if unit.index == 0:
            self._resume_pending(out, unit.before)
        self._read(self._reader(), _OneName(unit.data), out, unit.mark, unit.seq, 0)

    def finish(self, out: Output) -> None:
        if self._pending is not None:
            self._resume_pending(out, self._ctx.last_marks[0])

    def _read(
        self, reader: Any, names: _OneName, out: Output, parent: Any, file_seq: int, records: int
    ) -> None:
        shard = self.record_shard
        while True:
            try:
                keys, values = reader.read_up_to(names, self.chunk)
            except OutOfRangeError:
                return
            chunk: Any = (keys, values)
            n = len(keys)
            if shard is not None:
                index, count = shard
                keep = (records + np.arange(n) + file_seq) % count == index
                chunk = st.select(chunk, keep)
            records += n
            position = reader.state()
            state = None
            if position["current_file"] is not None:
                state = {"reader": position, "file": file_seq, "records": records}
            out.emit(chunk, state, [parent])
