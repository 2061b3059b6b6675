"""Record readers: take file names from a queue and read records out of those files.

The four readers of TensorFlow 1, with its contract:

* ``read(queue)`` returns the next ``(key, value)``. When the current file is exhausted
  (or before the first read) the reader dequeues the next file name from *queue*; an
  exhausted queue raises its :class:`~conveyor.core.errors.OutOfRangeError`, which is
  the normal end of input.
* ``read_up_to(queue, n)`` returns up to *n* records as NumPy arrays, never crossing the
  end of a file: fewer than *n* means the current file ended.
* ``num_records_produced()``, ``num_work_units_completed()`` and ``reset()``.

Keys are TensorFlow's: ``b"<file>:<record index>"`` (from 0) for fixed-length records,
``b"<file>:<line number>"`` (from 1, header lines counted) for text lines,
``b"<file>:<byte offset>"`` for TFRecords and the file name for whole files.

Beyond TensorFlow: :meth:`ReaderBase.state` and :meth:`ReaderBase.restore` save and
resume the position inside a file, and ``on_corrupt="skip"`` passes over damaged data
instead of raising :class:`~conveyor.core.errors.DataLossError`.

The *queue* is any object with a ``dequeue()`` method that returns one file name
(``str``, ``bytes``, ``np.bytes_``, or a 0-d array of those) and raises
``OutOfRangeError`` when exhausted, such as a ``conveyor.FIFOQueue`` of strings.

Example::

    >>> import os, tempfile
    >>> from conveyor.core.errors import OutOfRangeError
    >>> class Names:
    ...     def __init__(self, names):
    ...         self.names = list(names)
    ...     def dequeue(self):
    ...         if not self.names:
    ...             raise OutOfRangeError("no more files")
    ...         return self.names.pop(0)
    >>> path = os.path.join(tempfile.mkdtemp(), "data.bin")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(bytes(range(12)))
    >>> reader = FixedLengthRecordReader(record_bytes=4)
    >>> key, value = reader.read(Names([path]))
    >>> key == (path + ":0").encode(), value
    (True, b'\\x00\\x01\\x02\\x03')
    >>> keys, values = reader.read_up_to(Names([]), 10)
    >>> values
    array([[ 4,  5,  6,  7],
           [ 8,  9, 10, 11]], dtype=uint8)
    >>> reader.num_records_produced(), reader.num_work_units_completed()
    (3, 1)
"""

from __future__ import annotations

import copy
import logging
import operator
import os
import threading
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from conveyor.core.errors import DataLossError, InvalidArgumentError, OpError
from conveyor.io.files import CHUNK_SIZE, InputStream, compression_name, open_input
from conveyor.io.tfrecord import TFRecordOptions, TFRecordScanner, _crc32c

__all__ = [
    "FixedLengthRecordReader",
    "ReaderBase",
    "TFRecordReader",
    "TextLineReader",
    "WholeFileReader",
]

logger = logging.getLogger(__name__)

_ON_CORRUPT = ("raise", "skip")
# Upper bound on the bytes one fixed-length read_up_to call gathers, so that a huge n
# on a file of unknown size cannot ask for more memory than the data needs.
_MAX_BLOCK = 256 << 20
# The least a fixed-length read asks the file for (TensorFlow buffers 256 KiB too).
_READ_AHEAD = 256 << 10
_NO_BYTES = np.empty(0, dtype=np.uint8)


class FileNameQueue(Protocol):
    """What a reader needs from its queue of file names."""

    def dequeue(self) -> Any:
        """Return the next file name; raise ``OutOfRangeError`` when there is none."""
        ...


def _file_name(item: Any) -> tuple[str, bytes]:
    """Unwrap a dequeued file name into (path for opening, bytes for keys)."""
    # Queues return one-component elements bare, in a list, or in a dict with names.
    if isinstance(item, Mapping) and len(item) == 1:
        (item,) = item.values()
    if isinstance(item, (tuple, list)) and len(item) == 1:
        item = item[0]
    if isinstance(item, np.ndarray):
        if item.size != 1:
            raise InvalidArgumentError(
                f"expected one file name from the queue, got an array of shape {item.shape}"
            )
        item = item.reshape(()).item()
    if isinstance(item, bytes):
        return os.fsdecode(item), bytes(item)
    if isinstance(item, str):
        return str(item), item.encode("utf-8", "surrogateescape")
    if isinstance(item, os.PathLike):
        path = os.fspath(item)
        if isinstance(path, bytes):
            return os.fsdecode(path), path
        return path, path.encode("utf-8", "surrogateescape")
    raise InvalidArgumentError(
        f"expected a file name (str or bytes) from the queue, got {type(item).__name__}"
    )


def _object_array(items: list[bytes]) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def _non_negative(value: Any, arg: str, *, none_is_zero: bool = False) -> int:
    if value is None and none_is_zero:  # TensorFlow's constructors take None for 0
        return 0
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)
    except TypeError:
        raise InvalidArgumentError(f"{arg} must be a non-negative integer, got {value!r}") from None
    if number < 0:
        raise InvalidArgumentError(f"{arg} must be a non-negative integer, got {number}")
    return number


class _Work:
    """The file a reader is working on."""

    __slots__ = ("key_prefix", "logged", "name", "name_bytes")

    def __init__(self, name: str, name_bytes: bytes) -> None:
        self.name = name
        self.name_bytes = name_bytes
        self.key_prefix = name_bytes + b":"
        self.logged = False


class ReaderBase:
    """The shared machinery of the readers: the queue protocol, counters, state.

    Args:
        on_corrupt: ``"raise"`` (default) raises :class:`DataLossError` at damaged data
            after delivering every good record before it; ``"skip"`` passes over the
            damage where the format allows, counts it (:meth:`num_records_skipped`) and
            logs one warning per file on the ``conveyor.io.readers`` logger.
        name: a label for the reader (TensorFlow's ``name``), kept as :attr:`name`.

    Raises:
        InvalidArgumentError: an unknown *on_corrupt*.

    Thread-safety: ``read``, ``read_up_to``, ``reset``, ``state`` and ``restore`` take
    an internal lock, so one reader may be shared by several threads (each record goes
    to exactly one caller). The lock is held while waiting for the next file name, as in
    TensorFlow. The common, faster arrangement is one reader per thread, all sharing one
    file-name queue. The counters are read without the lock.

    After an error the reader drops the file that caused it (the file counts as a
    completed work unit) and the next call continues with the next file name.
    """

    def __init__(self, *, on_corrupt: str = "raise", name: str | None = None) -> None:
        self.name = name or type(self).__name__
        if on_corrupt not in _ON_CORRUPT:
            raise InvalidArgumentError(f'on_corrupt must be "raise" or "skip", got {on_corrupt!r}')
        self._on_corrupt = on_corrupt
        self._skip = on_corrupt == "skip"
        self._lock = threading.Lock()
        self._work: _Work | None = None
        self._num_records_produced = 0
        self._num_records_skipped = 0
        self._work_started = 0
        self._work_finished = 0
        # Damage met after some records of a call: raised by the next call, so that the
        # good records before it are delivered first.
        self._pending: OpError | None = None

    # -- the public contract -------------------------------------------------------------

    def read(self, queue: FileNameQueue) -> tuple[bytes, bytes]:
        """Return the next record as ``(key, value)``.

        Blocks while the queue has no file name to give (and on file I/O).

        Raises:
            OutOfRangeError: the queue is exhausted (raised by the queue).
            NotFoundError: a file does not exist or vanished.
            DataLossError: damaged data (``on_corrupt="raise"``), after every good
                record before it was returned.
            InvalidArgumentError: the queue gave something that is not a file name.
        """
        with self._lock:
            keys, values = self._read_locked(queue, 1)
        return keys[0], self._value_bytes(values)

    def read_up_to(self, queue: FileNameQueue, num_records: int) -> tuple[np.ndarray, np.ndarray]:
        """Return up to *num_records* records from the current file.

        Fewer than *num_records* come back when the current file ends; the next call
        continues with the next file. At least one record comes back unless
        *num_records* is 0.

        Returns:
            ``(keys, values)``: keys as a 1-D object array of ``bytes``; values as a 1-D
            object array of ``bytes``, or, for :class:`FixedLengthRecordReader`, a
            ``(n, record_bytes)`` ``uint8`` array.

        Raises:
            InvalidArgumentError: *num_records* is not a non-negative integer.
            OutOfRangeError, NotFoundError, DataLossError: as :meth:`read`.
        """
        n = _non_negative(num_records, "num_records")
        if n == 0:
            return _object_array([]), self._empty_values()
        with self._lock:
            keys, values = self._read_locked(queue, n)
        return _object_array(keys), self._values_array(values)

    def num_records_produced(self) -> int:
        """The number of records this reader has returned since creation or reset."""
        return self._num_records_produced

    def num_work_units_completed(self) -> int:
        """The number of files this reader has finished (read to the end, found empty,
        or abandoned after an error) since creation or reset."""
        return self._work_finished

    def num_records_skipped(self) -> int:
        """The number of damaged records (or damaged stretches) skipped with
        ``on_corrupt="skip"``."""
        return self._num_records_skipped

    def clone(self) -> ReaderBase:
        """A reader with this one's configuration, no current file and zero counters.

        Several reader threads over one file-name queue each need their own reader: the
        pipeline's ``read(reader, threads=N)`` makes them with this.
        """
        twin = copy.copy(self)
        twin._lock = threading.Lock()
        twin._work = None  # the original keeps its open file
        twin.reset()
        return twin

    def reset(self) -> None:
        """Zero the counters and drop the current file (the next read dequeues)."""
        with self._lock:
            self._drop()
            self._pending = None
            self._num_records_produced = 0
            self._num_records_skipped = 0
            self._work_started = 0
            self._work_finished = 0

    def state(self) -> dict[str, Any]:
        """The reader's position as a small JSON-able dict, for :meth:`restore`.

        It holds the current file (or ``None``), the position in it and the counters.
        """
        with self._lock:
            work = self._work
            return {
                "reader": type(self).__name__,
                "current_file": None if work is None else work.name,
                "position": None if work is None else self._position(),
                "num_records_produced": self._num_records_produced,
                "num_records_skipped": self._num_records_skipped,
                "num_work_units_started": self._work_started,
                "num_work_units_completed": self._work_finished,
            }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Resume from a :meth:`state`: reopen its file and seek to its position.

        A compressed file is decompressed again up to the position.

        Raises:
            InvalidArgumentError: *state* is not a state of this kind of reader.
            NotFoundError: the state's file no longer exists.
            DataLossError: a compressed file breaks before the position.
        """
        try:
            if state["reader"] != type(self).__name__:
                raise InvalidArgumentError(
                    f"state: a {state['reader']} state cannot restore a {type(self).__name__}"
                )
            counters = {
                key: _non_negative(state[key], f"state[{key!r}]")
                for key in (
                    "num_records_produced",
                    "num_records_skipped",
                    "num_work_units_started",
                    "num_work_units_completed",
                )
            }
            name = state["current_file"]
            position = state["position"]
        except (KeyError, TypeError) as e:
            raise InvalidArgumentError(f"state: not a reader state ({e!r})") from None
        if name is not None and (not isinstance(name, str) or not isinstance(position, Mapping)):
            raise InvalidArgumentError("state: current_file must be a str with a position dict")
        with self._lock:
            self._drop()
            self._pending = None
            if name is not None:
                self._open(name, position)
                self._work = _Work(name, name.encode("utf-8", "surrogateescape"))
            self._num_records_produced = counters["num_records_produced"]
            self._num_records_skipped = counters["num_records_skipped"]
            self._work_started = counters["num_work_units_started"]
            self._work_finished = counters["num_work_units_completed"]

    # -- the machinery -------------------------------------------------------------------

    def _read_locked(self, queue: FileNameQueue, n: int) -> tuple[list[bytes], Any]:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            raise pending
        while True:
            if self._work is None:
                name, name_bytes = _file_name(queue.dequeue())
                self._open(name, None)
                self._work = _Work(name, name_bytes)
                self._work_started += 1
            try:
                keys, values, at_end, error = self._take(n)
            except OpError:
                self._finish()
                raise
            self._num_records_produced += len(keys)
            if at_end or error is not None or not keys:
                self._finish()
            if error is not None:
                if not keys:
                    raise error
                self._pending = error
            if keys:
                return keys, values

    def _finish(self) -> None:
        self._drop()
        self._work_finished = self._work_started

    def _drop(self) -> None:
        self._work = None
        self._close()

    def _skipped(self, offset: int | None, message: str) -> None:
        """Count one skipped piece of damage; log the first in each file."""
        self._num_records_skipped += 1
        work = self._work
        if work is not None and not work.logged:
            work.logged = True
            logger.warning(
                "%s: skipping damaged data: %s (further damage in this file is skipped "
                "without logging; see num_records_skipped())",
                work.name,
                message,
            )

    def _value_bytes(self, values: Any) -> bytes:
        return values[0]

    def _values_array(self, values: Any) -> np.ndarray:
        return _object_array(values)

    def _empty_values(self) -> np.ndarray:
        return _object_array([])

    # -- what each reader provides -------------------------------------------------------

    def _open(self, name: str, position: Mapping[str, Any] | None) -> None:
        """Open *name* at *position* (``None``: the first record)."""
        raise NotImplementedError

    def _close(self) -> None:
        """Release the current file, if any."""

    def _take(self, n: int) -> tuple[list[bytes], Any, bool, OpError | None]:
        """Read up to *n* records from the current file: ``(keys, values, at_end,
        error)``. *at_end* is True when the file had fewer than *n* records left;
        *error* is damage met after the records returned, which ends the file."""
        raise NotImplementedError

    def _position(self) -> dict[str, Any]:
        """The JSON-able position in the current file."""
        raise NotImplementedError


def _readinto_full(stream: InputStream, view: memoryview) -> tuple[int, OpError | None]:
    """Fill *view* from *stream*; return the bytes read and the error that stopped it
    early, if any, so that the bytes read before a failure are not lost."""
    got = 0
    total = len(view)
    while got < total:
        try:
            n = stream.readinto(view[got:])
        except OpError as e:
            return got, e
        if not n:
            break
        got += n
    return got, None


def _skip_full(stream: InputStream, n: int) -> tuple[int, OpError | None]:
    before = stream.tell()
    try:
        return stream.skip(n), None
    except OpError as e:
        return stream.tell() - before, e


def _position_int(position: Mapping[str, Any], key: str) -> int:
    try:
        return _non_negative(position[key], f"state['position'][{key!r}]")
    except KeyError:
        raise InvalidArgumentError(f"state: the position lacks {key!r}") from None


class FixedLengthRecordReader(ReaderBase):
    """Reads fixed-length records (for example the CIFAR-10 binary format).

    Record *i* of a file is the ``record_bytes`` bytes at offset
    ``header_bytes + i * hop``, where ``hop`` is ``hop_bytes`` or, when that is 0,
    ``record_bytes``; a record exists only if ``footer_bytes`` bytes still follow it.
    Keys are ``b"<file>:<i>"``.

    ``read_up_to`` reads its records as one contiguous block and returns them as one
    ``(n, record_bytes)`` ``uint8`` array (a view of that block when records are
    adjacent), and the keys as an object array of ``bytes``.

    Args:
        record_bytes: the size of a record (> 0).
        header_bytes: bytes to skip at the start of each file.
        footer_bytes: bytes to ignore at the end of each file.
        hop_bytes: the distance between record starts; 0 means ``record_bytes``. With
            a hop, an incomplete last window is silently not a record.
        encoding: ``None``/``""`` for raw files, ``"ZLIB"`` or ``"GZIP"`` for files
            compressed as a whole.
        on_corrupt: see :class:`ReaderBase`. Damage here is a file (with
            ``hop_bytes == 0``) whose size less header and footer is not a whole number
            of records: every whole record is delivered, then :class:`DataLossError`
            names the file and the bytes left over (or, with ``"skip"``, they count as
            one skipped record). Corrupt compressed data ends the file the same way.

    Raises:
        InvalidArgumentError: a negative size, ``record_bytes <= 0``, an unknown
            *encoding* or *on_corrupt*.

    Thread-safety: see :class:`ReaderBase`.
    """

    def __init__(
        self,
        record_bytes: int,
        header_bytes: int = 0,
        footer_bytes: int = 0,
        hop_bytes: int = 0,
        encoding: str | None = None,
        *,
        on_corrupt: str = "raise",
        name: str | None = None,
    ) -> None:
        super().__init__(on_corrupt=on_corrupt, name=name)
        try:
            record = _non_negative(record_bytes, "record_bytes")
        except InvalidArgumentError:
            record = 0
        if record == 0:
            raise InvalidArgumentError(
                f"record_bytes must be a positive integer, got {record_bytes!r}"
            )
        self._record = record
        self._header = _non_negative(header_bytes, "header_bytes", none_is_zero=True)
        self._footer = _non_negative(footer_bytes, "footer_bytes", none_is_zero=True)
        hop = _non_negative(hop_bytes, "hop_bytes", none_is_zero=True)
        self._strict = hop == 0
        self._hop = hop or record
        try:
            self._compression = compression_name(encoding)
        except InvalidArgumentError:
            raise InvalidArgumentError(
                f'encoding must be None, "", "ZLIB" or "GZIP", got {encoding!r}'
            ) from None
        self._stream: InputStream | None = None
        self._index = 0
        self._carry = _NO_BYTES  # bytes read from the stream beyond the records consumed
        self._to_skip = 0  # stream bytes to skip before the next record
        self._seen = 0  # stream bytes seen in this file
        # A stream that broke (truncated or corrupt compressed data) after yielding bytes
        # that still hold whole records: raised once those records are delivered.
        self._broken: OpError | None = None

    @property
    def record_bytes(self) -> int:
        """The size of one record."""
        return self._record

    def _open(self, name: str, position: Mapping[str, Any] | None) -> None:
        index = 0 if position is None else _position_int(position, "record_index")
        self._stream = open_input(name, self._compression)
        self._index = index
        self._carry = _NO_BYTES
        self._to_skip = self._header + index * self._hop
        self._seen = 0
        self._broken = None

    def _close(self) -> None:
        stream, self._stream = self._stream, None
        self._carry = _NO_BYTES
        self._broken = None
        if stream is not None:
            stream.close()

    def _position(self) -> dict[str, Any]:
        return {"record_index": self._index, "offset": self._header + self._index * self._hop}

    def _leftover(self, extra: int, records_before: int) -> OpError | None:
        """The damage of a file that does not end on a record boundary."""
        if not self._strict or self._seen == 0 or extra == 0:
            return None
        assert self._work is not None
        name = self._work.name
        if extra > 0:
            where = f"record {records_before - 1}" if records_before else "the header"
            message = (
                f"{extra} bytes left over after {where}: the file size "
                f"less header_bytes={self._header} and footer_bytes={self._footer} is not "
                f"a multiple of record_bytes={self._record}"
            )
        else:
            message = (
                f"the file is {-extra} bytes too short for header_bytes={self._header} and "
                f"footer_bytes={self._footer}"
            )
        if self._skip:
            self._skipped(None, message)
            return None
        return DataLossError(f"{name}: {message}")

    def _end_damage(self, error: OpError | None, extra: int, records_before: int) -> OpError | None:
        """The error that ends the file, if any, once its last whole record is out:
        a failed stream, or (``hop_bytes == 0``) bytes that do not fill a record."""
        if error is not None:
            if self._skip and isinstance(error, DataLossError):
                self._skipped(None, error.message)
                return None
            return error
        return self._leftover(extra, records_before)

    def _take(self, n: int) -> tuple[list[bytes], Any, bool, OpError | None]:
        stream = self._stream
        assert stream is not None and self._work is not None
        record, hop, footer = self._record, self._hop, self._footer
        if self._to_skip:
            want, self._to_skip = self._to_skip, 0
            got, error = _skip_full(stream, want)
            self._seen += got
            if got < want or error is not None:
                # The file ends (or breaks) before the next record starts.
                error = self._end_damage(error, got - want, self._index)
                return [], self._empty_values(), True, error
        # Gather the n records plus footer_bytes of look-ahead in one block, reading at
        # least _READ_AHEAD bytes so that record-at-a-time reads share system calls.
        n = min(n, max(1, (_MAX_BLOCK - record - footer) // hop + 1))
        span = (n - 1) * hop + record + footer
        carry = self._carry
        c = len(carry)
        error = None
        if c >= span:
            block, got = carry, c
        elif self._broken is not None:
            # The stream already failed: what is carried is all there will be.
            block, got, error, self._broken = carry, c, self._broken, None
        else:
            want = max(span, _READ_AHEAD)
            size = stream.size
            if size is not None:
                want = min(want, c + max(size - stream.tell(), 0))
            block = np.empty(want, dtype=np.uint8)
            block[:c] = carry
            fresh, error = _readinto_full(stream, block[c:].data)
            self._seen += fresh
            got = c + fresh
        whole = 0 if got < record + footer else (got - record - footer) // hop + 1
        count = min(n, whole)
        if error is not None and whole > count:
            # More whole records arrived before the stream broke than were asked for:
            # deliver them on later calls, then the error.
            self._broken, error = error, None
        at_end = count < n or error is not None
        if hop == record:
            values = block[: count * record].reshape(count, record)
            if 2 * count * record < len(block):
                values = values.copy()  # don't pin a mostly unused block
        else:
            values = np.lib.stride_tricks.as_strided(
                block, shape=(count, record), strides=(hop, 1), writeable=False
            ).copy()
        consumed = count * hop
        held: OpError | None = None
        self._carry = _NO_BYTES
        if at_end:
            held = self._end_damage(error, got - count * record - footer, self._index + count)
        elif consumed <= got:
            # A view: the records handed out lie before it, so the two never overlap.
            self._carry = block[consumed:got]
        else:
            self._to_skip = consumed - got
        prefix = self._work.key_prefix
        start = self._index
        keys = [b"%s%d" % (prefix, i) for i in range(start, start + count)]
        self._index += count
        return keys, values, at_end, held

    def _value_bytes(self, values: Any) -> bytes:
        return values[0].tobytes()

    def _values_array(self, values: Any) -> np.ndarray:
        return values

    def _empty_values(self) -> np.ndarray:
        return np.empty((0, self._record), dtype=np.uint8)


class WholeFileReader(ReaderBase):
    """Reads each file as one record: the key is the file name, the value its bytes.

    An empty file gives one record with an empty value, as in TensorFlow.
    ``read_up_to`` returns one record per call (a file is its own work unit).

    Args:
        on_corrupt: accepted for uniformity (``"raise"`` or ``"skip"``); whole files
            cannot be damaged in a detectable way.

    Thread-safety: see :class:`ReaderBase`.
    """

    def __init__(self, *, on_corrupt: str = "raise", name: str | None = None) -> None:
        super().__init__(on_corrupt=on_corrupt, name=name)
        self._name: str | None = None

    def _open(self, name: str, position: Mapping[str, Any] | None) -> None:
        self._name = name

    def _close(self) -> None:
        self._name = None

    def _position(self) -> dict[str, Any]:
        return {}

    def _take(self, n: int) -> tuple[list[bytes], Any, bool, OpError | None]:
        assert self._work is not None and self._name is not None
        with open_input(self._name) as stream:
            parts = []
            want = stream.size or CHUNK_SIZE
            while True:
                data = stream.read(max(want, 1))
                if not data:
                    break
                parts.append(data)
                want = 4 * CHUNK_SIZE
        value = parts[0] if len(parts) == 1 else b"".join(parts)
        return [self._work.name_bytes], [value], True, None


class TextLineReader(ReaderBase):
    """Reads the lines of text files, without their ``\\n`` or ``\\r\\n``.

    Keys are ``b"<file>:<line number>"``, counting from 1 and counting skipped header
    lines. A last line without a newline is still a line; an empty file has none.

    Args:
        skip_header_lines: lines to skip at the start of each file.
        on_corrupt: accepted for uniformity; lines have nothing to check.

    Raises:
        InvalidArgumentError: a negative *skip_header_lines* or unknown *on_corrupt*.

    Thread-safety: see :class:`ReaderBase`.
    """

    def __init__(
        self, skip_header_lines: int = 0, *, on_corrupt: str = "raise", name: str | None = None
    ) -> None:
        super().__init__(on_corrupt=on_corrupt, name=name)
        self._skip_header_lines = _non_negative(
            skip_header_lines, "skip_header_lines", none_is_zero=True
        )
        self._stream: InputStream | None = None
        self._clear(0)

    def _clear(self, offset: int) -> None:
        self._lines: list[bytes] = []  # complete lines, newline and \r stripped
        self._raw: list[bytes] = []  # the same lines with only the \n stripped
        self._index = 0  # next line in self._lines
        self._lines_offset = offset  # file offset of self._raw[0]
        self._tail: list[bytes] = []  # pieces of a line whose newline is not read yet
        self._tail_offset = offset
        self._eof = False
        self._line_number = 0

    def _open(self, name: str, position: Mapping[str, Any] | None) -> None:
        stream = open_input(name)
        try:
            if position is None:
                self._stream = stream
                self._clear(0)
                header = self._pull(self._skip_header_lines)
                self._line_number = len(header)
            else:
                offset = _position_int(position, "offset")
                line_number = _position_int(position, "line_number")
                stream.skip(offset)
                self._stream = stream
                self._clear(stream.tell())
                self._line_number = line_number
        except BaseException:
            self._stream = None
            stream.close()
            raise

    def _close(self) -> None:
        stream, self._stream = self._stream, None
        self._clear(0)
        if stream is not None:
            stream.close()

    def _position(self) -> dict[str, Any]:
        offset = self._lines_offset
        if self._index:
            offset += sum(map(len, self._raw[: self._index])) + self._index
        if self._eof and not self._tail:
            offset = min(offset, self._tail_offset)
        return {"line_number": self._line_number, "offset": offset}

    def _refill(self) -> bool:
        """Load the next complete lines; False at the end of the file."""
        stream = self._stream
        assert stream is not None
        while True:
            if self._eof:
                if not self._tail:
                    return False
                raw = b"".join(self._tail)
                self._tail = []
                self._lines_offset = self._tail_offset
                self._tail_offset += len(raw)
                # As TensorFlow: a final line without a newline loses a trailing \r, and
                # is no line at all if that leaves it empty.
                line = raw[:-1] if raw.endswith(b"\r") else raw
                if not line:
                    return False
                self._raw, self._lines, self._index = [raw], [line], 0
                return True
            chunk = stream.read(CHUNK_SIZE)
            if not chunk:
                self._eof = True
                continue
            if b"\n" not in chunk:
                self._tail.append(chunk)
                continue
            if self._tail:
                self._tail.append(chunk)
                chunk = b"".join(self._tail)
            pieces = chunk.split(b"\n")
            tail = pieces.pop()
            self._lines_offset = self._tail_offset
            self._tail_offset = self._lines_offset + len(chunk) - len(tail)
            self._tail = [tail] if tail else []
            if b"\r" in chunk:
                lines = [line[:-1] if line.endswith(b"\r") else line for line in pieces]
            else:
                lines = pieces
            self._raw, self._lines, self._index = pieces, lines, 0
            return True

    def _pull(self, n: int) -> list[bytes]:
        out: list[bytes] = []
        while len(out) < n:
            if self._index >= len(self._lines) and not self._refill():
                break
            start = self._index
            stop = min(len(self._lines), start + n - len(out))
            if not out and stop - start == n:
                out = self._lines[start:stop]
            else:
                out.extend(self._lines[start:stop])
            self._index = stop
        return out

    def _take(self, n: int) -> tuple[list[bytes], Any, bool, OpError | None]:
        assert self._work is not None
        lines = self._pull(n)
        prefix = self._work.key_prefix
        first = self._line_number + 1
        keys = [b"%s%d" % (prefix, i) for i in range(first, first + len(lines))]
        self._line_number += len(lines)
        return keys, lines, len(lines) < n, None


class TFRecordReader(ReaderBase):
    """Reads the records of TFRecord files, checking both CRCs of each.

    Keys are ``b"<file>:<offset>"``, the offset of the record in the (uncompressed)
    file.

    Args:
        options: a :class:`~conveyor.io.tfrecord.TFRecordOptions` or a compression type
            (``None``/``""``, ``"ZLIB"``, ``"GZIP"``, or its number).
        on_corrupt: see :class:`ReaderBase`. With ``"skip"`` a record whose data checksum
            fails is skipped, a length checksum failure resynchronises at the next offset
            whose length checksum holds, and a truncated record or broken compressed
            stream ends the file.

    Raises:
        InvalidArgumentError: an unknown compression type or *on_corrupt*.
        ImportError: google-crc32c, which checks the CRCs, is not installed (it comes
            with ``pip install "conveyor[io]"``).

    Thread-safety: see :class:`ReaderBase`.
    """

    def __init__(
        self, options: Any = None, *, on_corrupt: str = "raise", name: str | None = None
    ) -> None:
        _crc32c("TFRecordReader")
        super().__init__(on_corrupt=on_corrupt, name=name)
        self._compression = TFRecordOptions.get_compression_type_string(options)
        self._scanner: TFRecordScanner | None = None

    def _open(self, name: str, position: Mapping[str, Any] | None) -> None:
        offset = 0 if position is None else _position_int(position, "offset")
        stream = open_input(name, self._compression)
        try:
            if offset:
                offset = stream.skip(offset)
        except BaseException:
            stream.close()
            raise
        self._scanner = TFRecordScanner(
            stream, offset=offset, on_corrupt=self._on_corrupt, on_skip=self._skipped
        )

    def _close(self) -> None:
        scanner, self._scanner = self._scanner, None
        if scanner is not None:
            scanner.close()

    def _position(self) -> dict[str, Any]:
        assert self._scanner is not None
        return {"offset": self._scanner.offset}

    def _take(self, n: int) -> tuple[list[bytes], Any, bool, OpError | None]:
        scanner = self._scanner
        assert scanner is not None and self._work is not None
        offsets, records = scanner.read(n)
        prefix = self._work.key_prefix
        keys = [b"%s%d" % (prefix, offset) for offset in offsets]
        return keys, records, len(records) < n, scanner.pop_error()
