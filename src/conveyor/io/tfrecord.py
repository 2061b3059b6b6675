"""TFRecord files, byte-compatible with TensorFlow's ``tf.io.TFRecordWriter``.

A TFRecord file is a sequence of records, each framed as::

    uint64  length            little-endian
    uint32  masked_crc32c(length bytes)
    byte    data[length]
    uint32  masked_crc32c(data)

where ``masked_crc32c(x) = ((crc >> 15) | (crc << 17)) + 0xa282ead8 (mod 2**32)`` of the
CRC-32C (Castagnoli) of *x*. A whole file may be compressed as one ZLIB or GZIP stream;
the writer reproduces TensorFlow's zlib settings and call sequence, so its output is the
same bytes TensorFlow writes for the same records and options.

Example::

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "demo.tfrecord")
    >>> with TFRecordWriter(path, "GZIP") as writer:
    ...     for record in (b"first", b"", b"third"):
    ...         writer.write(record)
    >>> list(tf_record_iterator(path, TFRecordOptions("GZIP")))
    [b'first', b'', b'third']
    >>> hex(masked_crc32c(b""))
    '0xa282ead8'
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np

from conveyor._optional import require
from conveyor.core.errors import (
    DataLossError,
    FailedPreconditionError,
    InvalidArgumentError,
    OpError,
)
from conveyor.io.files import CHUNK_SIZE, InputStream, open_input, open_output, path_str

__all__ = [
    "TFRecordCompressionType",
    "TFRecordOptions",
    "TFRecordScanner",
    "TFRecordWriter",
    "masked_crc32c",
    "tf_record_iterator",
    "unmask_crc32c",
]

_MASK_DELTA = 0xA282EAD8
_U32 = 0xFFFFFFFF
_HEADER = struct.Struct("<QI")
_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")
HEADER_SIZE = 12
FOOTER_SIZE = 4
# A real record's length never reaches 2**40 bytes: its bytes 5..7 are zero. The
# resynchronising scan uses that to test only plausible offsets.
_PLAUSIBLE_LENGTH_ZERO_BYTES = (5, 6, 7)
_MAX_READ = 64 * CHUNK_SIZE

_crc32c_value: Callable[[bytes], int] | None = None


def _crc32c(feature: str) -> Callable[[bytes], int]:
    """``google_crc32c.value``, imported on first use: only TFRecords need it.

    Raises:
        ImportError: google-crc32c is not installed (it comes with ``conveyor[io]``).
    """
    global _crc32c_value
    if _crc32c_value is None:
        _crc32c_value = require("google_crc32c", feature).value
    return _crc32c_value


def masked_crc32c(data: bytes) -> int:
    """The masked CRC-32C that TFRecord framing stores for *data*.

    >>> hex(masked_crc32c(b"\\x00" * 8))  # the length field of an empty record
    '0x7980329'

    Raises:
        ImportError: google-crc32c is not installed (``pip install "conveyor[io]"``).
    """
    crc = _crc32c("masked_crc32c")(bytes(data))
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & _U32


def unmask_crc32c(masked: int) -> int:
    """Invert the TFRecord CRC mask: the plain CRC-32C behind *masked*."""
    rot = (masked - _MASK_DELTA) & _U32
    return ((rot >> 17) | (rot << 15)) & _U32


class TFRecordCompressionType:
    """The compression of a TFRecord file, as TensorFlow numbers it."""

    NONE = 0
    ZLIB = 1
    GZIP = 2


class TFRecordOptions:
    """Options for writing (and the compression for reading) TFRecord files.

    Leaving a zlib option ``None`` uses TensorFlow's default for it: ``flush_mode``
    ``Z_NO_FLUSH``, buffers of 256 KiB, ``window_bits`` 15 (``+16`` for GZIP),
    ``compression_level`` ``Z_DEFAULT_COMPRESSION``, ``compression_method``
    ``Z_DEFLATED``, ``mem_level`` 9, ``compression_strategy`` ``Z_DEFAULT_STRATEGY``.
    Options other than ``compression_type`` only affect writing compressed files.

    Args:
        compression_type: ``None``/``""``, ``"ZLIB"``, ``"GZIP"``, or a
            :class:`TFRecordCompressionType` number.
        flush_mode: the zlib flush mode of each deflate call.
        input_buffer_size: bytes buffered before each deflate call.
        output_buffer_size: accepted for compatibility; output is written as produced.
        window_bits: zlib window bits (replaces the default, including GZIP's ``+16``).
        compression_level: 0 to 9, or -1.
        compression_method: only ``zlib.DEFLATED``.
        mem_level: 1 to 9.
        compression_strategy: a zlib strategy.

    Raises:
        InvalidArgumentError: an unknown *compression_type*.
    """

    compression_type_map: ClassVar[dict[int, str]] = {
        TFRecordCompressionType.ZLIB: "ZLIB",
        TFRecordCompressionType.GZIP: "GZIP",
        TFRecordCompressionType.NONE: "",
    }

    def __init__(
        self,
        compression_type: str | int | None = None,
        flush_mode: int | None = None,
        input_buffer_size: int | None = None,
        output_buffer_size: int | None = None,
        window_bits: int | None = None,
        compression_level: int | None = None,
        compression_method: int | None = None,
        mem_level: int | None = None,
        compression_strategy: int | None = None,
    ) -> None:
        self.get_compression_type_string(compression_type)
        self.compression_type = compression_type
        self.flush_mode = flush_mode
        self.input_buffer_size = input_buffer_size
        self.output_buffer_size = output_buffer_size
        self.window_bits = window_bits
        self.compression_level = compression_level
        self.compression_method = compression_method
        self.mem_level = mem_level
        self.compression_strategy = compression_strategy

    @classmethod
    def get_compression_type_string(cls, options: Any) -> str:
        """Convert options, a compression-type number or a string to ``"ZLIB"``,
        ``"GZIP"`` or ``""``.

        Raises:
            InvalidArgumentError: the value names no known compression.
        """
        if not options:
            return ""
        if isinstance(options, TFRecordOptions):
            return cls.get_compression_type_string(options.compression_type)
        if isinstance(options, bytes):
            options = options.decode("ascii", "replace")
        if isinstance(options, int) and not isinstance(options, bool):
            if options in cls.compression_type_map:
                return cls.compression_type_map[options]
        elif isinstance(options, str) and options in cls.compression_type_map.values():
            return options
        raise InvalidArgumentError(f'compression_type: not a valid compression_type: "{options}"')

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if v is not None)
        return f"TFRecordOptions({fields})"


def _as_options(options: Any) -> TFRecordOptions:
    if isinstance(options, TFRecordOptions):
        return options
    return TFRecordOptions(compression_type=options)


class _ZlibOutputBuffer:
    """Deflates into a file with exactly the zlib call sequence of TensorFlow's
    ``ZlibOutputBuffer``: input is gathered up to ``input_buffer_size`` bytes and
    deflated with ``flush_mode`` when the next piece does not fit (a piece larger
    than the buffer is deflated on its own); ``flush`` deflates with
    ``Z_PARTIAL_FLUSH``; ``close`` with ``Z_FINISH``. The same calls on the same zlib
    give the same bytes."""

    def __init__(self, file: Any, options: TFRecordOptions, gzip: bool) -> None:
        def pick(value: int | None, default: int) -> int:
            return default if value is None else int(value)

        wbits = pick(options.window_bits, zlib.MAX_WBITS + (16 if gzip else 0))
        try:
            self._z = zlib.compressobj(
                pick(options.compression_level, zlib.Z_DEFAULT_COMPRESSION),
                pick(options.compression_method, zlib.DEFLATED),
                wbits,
                pick(options.mem_level, 9),
                pick(options.compression_strategy, zlib.Z_DEFAULT_STRATEGY),
            )
        except (ValueError, zlib.error) as e:
            raise InvalidArgumentError(f"TFRecordOptions: invalid zlib options: {e}") from None
        self._flush_mode = pick(options.flush_mode, zlib.Z_NO_FLUSH)
        self._capacity = pick(options.input_buffer_size, 256 << 10)
        if self._capacity <= 0:
            raise InvalidArgumentError(
                f"input_buffer_size must be positive, got {options.input_buffer_size}"
            )
        self._file = file
        self._pending: list[bytes] = []
        self._pending_size = 0

    def _deflate(self, data: bytes, mode: int) -> None:
        # deflate(data, mode) == deflate(data, Z_NO_FLUSH) then deflate(nothing, mode);
        # an empty Z_NO_FLUSH call is skipped because it would reset zlib's memory of
        # the last flush and so change what a following flush emits.
        out = self._z.compress(data) if data else b""
        if mode != zlib.Z_NO_FLUSH:
            out += self._z.flush(mode)
        if out:
            self._file.write(out)

    def _deflate_buffered(self, mode: int) -> None:
        data = b"".join(self._pending)
        self._pending.clear()
        self._pending_size = 0
        self._deflate(data, mode)

    def append(self, data: bytes) -> None:
        if len(data) <= self._capacity - self._pending_size:
            self._pending.append(data)
            self._pending_size += len(data)
            return
        self._deflate_buffered(self._flush_mode)
        if len(data) <= self._capacity:
            self._pending.append(data)
            self._pending_size = len(data)
            return
        self._deflate(data, self._flush_mode)

    def flush(self) -> None:
        self._deflate_buffered(zlib.Z_PARTIAL_FLUSH)

    def close(self) -> None:
        self._deflate_buffered(zlib.Z_FINISH)


class TFRecordWriter:
    """Writes records to a TFRecord file, byte for byte as TensorFlow does.

    Args:
        path: a local path or an fsspec URL; the file is created or truncated.
        options: a :class:`TFRecordOptions`, a compression-type string
            (``""``, ``"ZLIB"``, ``"GZIP"``) or number, or ``None``.

    Raises:
        InvalidArgumentError: unknown compression or invalid zlib options.
        NotFoundError: the directory does not exist.
        ImportError: google-crc32c is not installed (``pip install "conveyor[io]"``).

    Thread-safety: every method takes an internal lock, so concurrent ``write`` calls
    interleave whole records.
    """

    def __init__(self, path: str | bytes | os.PathLike[Any], options: Any = None) -> None:
        _crc32c("TFRecordWriter")
        options = _as_options(options)
        self._path = path_str(path)
        compression = TFRecordOptions.get_compression_type_string(options)
        self._lock = threading.Lock()
        self._file: Any = open_output(self._path)
        self._zlib: _ZlibOutputBuffer | None = None
        if compression:
            try:
                self._zlib = _ZlibOutputBuffer(self._file, options, compression == "GZIP")
            except OpError:
                self._file.close()
                raise

    def write(self, record: bytes | bytearray | memoryview | str) -> None:
        """Append one record.

        Args:
            record: the record's bytes (a ``str`` is written as UTF-8).

        Raises:
            FailedPreconditionError: the writer is closed.
            InvalidArgumentError: *record* is not bytes-like or str.
        """
        if isinstance(record, str):
            data = record.encode("utf-8")
        elif isinstance(record, bytes):
            data = bytes(record)
        else:
            try:
                data = bytes(memoryview(record))
            except TypeError:
                raise InvalidArgumentError(
                    f"record must be bytes or str, got {type(record).__name__}"
                ) from None
        length = _LENGTH.pack(len(data))
        header = length + _CRC.pack(masked_crc32c(length))
        footer = _CRC.pack(masked_crc32c(data))
        with self._lock:
            if self._file is None:
                raise FailedPreconditionError(f"{self._path}: the TFRecordWriter is closed")
            if self._zlib is not None:
                self._zlib.append(header)
                self._zlib.append(data)
                self._zlib.append(footer)
            else:
                self._file.write(header)
                self._file.write(data)
                self._file.write(footer)

    def flush(self) -> None:
        """Push buffered records to the file (compressed: a zlib partial flush).

        Raises:
            FailedPreconditionError: the writer is closed.
        """
        with self._lock:
            if self._file is None:
                raise FailedPreconditionError(f"{self._path}: the TFRecordWriter is closed")
            if self._zlib is not None:
                self._zlib.flush()
            self._file.flush()

    def close(self) -> None:
        """Finish the file (compressed: end the stream) and close it. Idempotent."""
        with self._lock:
            file, self._file = self._file, None
            if file is None:
                return
            try:
                if self._zlib is not None:
                    self._zlib.close()
            finally:
                file.close()

    def __enter__(self) -> TFRecordWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class TFRecordScanner:
    """Sequential TFRecord framing over an :class:`~conveyor.io.files.InputStream`.

    Both checksums of every record are verified. A damaged record (checksum mismatch,
    truncated record, corrupt compressed stream) raises :class:`DataLossError` naming
    the file and the byte offset, but only after every good record before it was
    returned: a :meth:`read` that meets damage after parsing records returns them and
    raises on the next call. After that the scanner is exhausted.

    With ``on_corrupt="skip"`` damage is passed over instead: a record whose data
    checksum fails is skipped by its (checked) length; after a length checksum failure
    the scanner resynchronises on the next offset whose length checksum holds; a
    truncated record or a broken compressed stream ends the file. Each skip calls
    ``on_skip(offset, message)``.

    Args:
        stream: the (uncompressed) byte stream, positioned at *offset*.
        offset: the stream position of the first record to read.
        on_corrupt: ``"raise"`` or ``"skip"``.
        on_skip: called once per skipped piece of damage.

    Raises:
        ImportError: google-crc32c is not installed (``pip install "conveyor[io]"``).

    Not thread-safe; readers serialise access.
    """

    def __init__(
        self,
        stream: InputStream,
        *,
        offset: int = 0,
        on_corrupt: str = "raise",
        on_skip: Callable[[int, str], None] | None = None,
    ) -> None:
        self._crc = _crc32c("TFRecordScanner")
        self._stream = stream
        self._name = stream.name
        self._buf = b""
        self._pos = 0
        self._base = offset  # stream offset of self._buf[0]
        self._stream_pos = offset  # stream offset of the next byte to read
        self._next = b""  # a chunk read ahead, in use from self._next_pos on
        self._next_pos = 0
        self._next_base = 0
        self._eof = False
        self._finished = False
        self._pending: OpError | None = None
        self._skip = on_corrupt == "skip"
        self._on_skip = on_skip

    def pop_error(self) -> OpError | None:
        """Take the error held for the next :meth:`read`, if any (the caller then
        reports it itself)."""
        error, self._pending = self._pending, None
        return error

    @property
    def offset(self) -> int:
        """The offset of the next record in the (uncompressed) stream."""
        return self._base + self._pos

    def _take_chunk(self, want: int) -> tuple[bytes, int, int]:
        """The next stretch of stream bytes: ``(chunk, start in chunk, stream offset of
        chunk[0])``; an empty chunk at the end of the stream."""
        if self._next:
            chunk, self._next = self._next, b""
            return chunk, self._next_pos, self._next_base
        if self._eof:
            return b"", 0, self._stream_pos
        chunk_base = self._stream_pos
        chunk = self._stream.read(min(max(CHUNK_SIZE, want), _MAX_READ))
        if not chunk:
            self._eof = True
        self._stream_pos += len(chunk)
        return chunk, 0, chunk_base

    def _ensure(self, need: int) -> int:
        """Make *need* bytes available from self._pos if the stream has them; return how
        many are (fewer only at the end of the stream). May replace self._buf and move
        self._pos and self._base."""
        have = len(self._buf) - self._pos
        if have >= need:
            return have
        size = self._stream.size
        if size is not None:
            # Never read (or hold) more than the file has: a corrupt length must not
            # make the scanner gather the rest of a huge file to find out.
            need = min(need, max(size - self._base - self._pos, have))
        while have < need:
            chunk, start, chunk_base = self._take_chunk(need - have)
            if not chunk:
                break
            if have == 0:
                # Nothing carried over: parse straight from the chunk, without a copy.
                self._buf, self._pos, self._base = chunk, start, chunk_base
                have = len(chunk) - start
                continue
            # A record straddles two chunks: join only the bytes it needs and keep the
            # rest of the chunk for afterwards, so the bulk of the data is never copied.
            take = min(need - have, len(chunk) - start)
            self._buf = self._buf[self._pos :] + chunk[start : start + take]
            self._base += self._pos
            self._pos = 0
            have += take
            if start + take < len(chunk):
                self._next, self._next_pos, self._next_base = chunk, start + take, chunk_base
        return have

    def _damage(self, offset: int, what: str, detail: str, records: list[bytes]) -> bool:
        """Handle damage at *offset*. Returns True to keep scanning (skip mode) and
        False to stop this call (the error is raised now or held for the next call)."""
        message = f"{what} at byte offset {offset}: {detail}"
        if self._skip:
            if self._on_skip is not None:
                self._on_skip(offset, message)
            return True
        error = DataLossError(f"{self._name}: {message}")
        self._finished = True
        if records:
            self._pending = error
            return False
        raise error

    def _stream_failed(self, error: OpError, records: list[bytes]) -> None:
        self._finished = True
        if self._skip and isinstance(error, DataLossError):
            if self._on_skip is not None:
                self._on_skip(self.offset, error.message)
            return
        if records:
            self._pending = error
            return
        raise error

    def _resync(self, start: int) -> bool:
        """Move self._pos to the first offset >= start whose length checksum holds.
        False when the stream ends first."""
        pos = start
        while True:
            buf = self._buf
            count = len(buf) - HEADER_SIZE - pos + 1
            if count > 0:
                arr = np.frombuffer(buf, dtype=np.uint8)
                plausible = np.ones(count, dtype=bool)
                for k in _PLAUSIBLE_LENGTH_ZERO_BYTES:
                    plausible &= arr[pos + k : pos + k + count] == 0
                for q in np.flatnonzero(plausible).tolist():
                    p = pos + q
                    c = self._crc(buf[p : p + 8])
                    if (((c >> 15) | (c << 17)) + _MASK_DELTA) & _U32 == _CRC.unpack_from(
                        buf, p + 8
                    )[0]:
                        self._pos = p
                        return True
                pos += count
            self._pos = pos
            have = self._ensure(HEADER_SIZE + CHUNK_SIZE)
            pos = self._pos
            if have < HEADER_SIZE:
                self._pos = len(self._buf)
                return False

    def read(self, max_records: int, *, with_offsets: bool = True) -> tuple[list[int], list[bytes]]:
        """Parse up to *max_records* records.

        Args:
            max_records: the most records to return.
            with_offsets: False leaves the offsets list empty (a little faster).

        Returns:
            ``(offsets, records)``: the stream offset of each record and its bytes;
            both empty at the end of the stream.

        Raises:
            DataLossError: damaged data (``on_corrupt="raise"``), as described above.
            NotFoundError, UnknownError: the stream failed.
        """
        if self._pending is not None:
            error, self._pending = self._pending, None
            raise error
        offsets: list[int] = []
        records: list[bytes] = []
        if not self._finished:
            try:
                self._parse(max_records, offsets if with_offsets else None, records)
            except OpError as e:
                # The stream itself failed (a vanished file, a broken compressed stream).
                self._stream_failed(e, records)
        return offsets, records

    def _parse(self, max_records: int, offsets: list[int] | None, records: list[bytes]) -> None:
        # The hot loop: locals and literal constants only, one slice and one CRC per
        # checksum, no Python-level calls until the buffer runs dry.
        crc = self._crc
        unpack_header = _HEADER.unpack_from
        unpack_crc = _CRC.unpack_from
        add = records.append
        add_offset = None if offsets is None else offsets.append
        buf, pos, base = self._buf, self._pos, self._base
        end = len(buf)
        remaining = max_records
        while remaining:
            if end - pos < 12:
                self._pos = pos
                have = self._ensure(12)
                buf, pos, base = self._buf, self._pos, self._base
                end = len(buf)
                if have < 12:
                    self._pos = end
                    self._finished = True
                    if have:
                        self._damage(
                            base + pos,
                            "truncated record",
                            "the file ends inside its header",
                            records,
                        )
                    return
            length, masked = unpack_header(buf, pos)
            c = crc(buf[pos : pos + 8])
            if (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF != masked:
                self._pos = pos
                if not self._damage(
                    base + pos, "corrupted record", "length checksum mismatch", records
                ):
                    return
                if not self._resync(pos + 1):
                    self._finished = True
                    return
                buf, pos, base = self._buf, self._pos, self._base
                end = len(buf)
                continue
            stop = pos + 12 + length
            if stop + 4 > end:
                self._pos = pos
                have = self._ensure(16 + length)
                buf, pos, base = self._buf, self._pos, self._base
                end = len(buf)
                stop = pos + 12 + length
                if have < 16 + length:
                    self._pos = end
                    self._finished = True
                    self._damage(
                        base + pos, "truncated record", "the file ends inside its data", records
                    )
                    return
            data = buf[pos + 12 : stop]
            c = crc(data)
            if (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF != unpack_crc(buf, stop)[0]:
                self._pos = pos
                if not self._damage(
                    base + pos, "corrupted record", "data checksum mismatch", records
                ):
                    return
                pos = stop + 4
                continue
            if add_offset is not None:
                add_offset(base + pos)
            add(data)
            pos = stop + 4
            remaining -= 1
        self._pos = pos

    def close(self) -> None:
        """Close the underlying stream."""
        self._stream.close()


class _TFRecordIterator(Iterator[bytes]):
    _BATCH = 256

    def __init__(self, path: str, compression: str) -> None:
        self._scanner = TFRecordScanner(open_input(path, compression))
        self._records: list[bytes] = []
        self._index = 0
        self._closed = False

    def __iter__(self) -> _TFRecordIterator:
        return self

    def __next__(self) -> bytes:
        if self._index >= len(self._records):
            if self._closed:
                raise StopIteration
            try:
                _, self._records = self._scanner.read(self._BATCH, with_offsets=False)
            except OpError:
                self.close()
                raise
            self._index = 0
            if not self._records:
                self.close()
                raise StopIteration
        record = self._records[self._index]
        self._index += 1
        return record

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._scanner.close()

    def __enter__(self) -> _TFRecordIterator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def tf_record_iterator(
    path: str | bytes | os.PathLike[Any], options: Any = None
) -> Iterator[bytes]:
    """Iterate over the records of a TFRecord file.

    The file is opened at once; records are read in chunks as the iterator advances.

    Args:
        path: a local path or an fsspec URL.
        options: a :class:`TFRecordOptions`, a compression-type string or number, or
            ``None``.

    Returns:
        An iterator of ``bytes`` (also a context manager with ``close()``).

    Raises:
        NotFoundError: at the call, when the file does not exist.
        InvalidArgumentError: an unknown compression type.
        ImportError: google-crc32c is not installed (``pip install "conveyor[io]"``).
        DataLossError: while iterating, at the first damaged record, after every good
            record before it was yielded; it names the file and byte offset.
    """
    _crc32c("tf_record_iterator")
    compression = TFRecordOptions.get_compression_type_string(options)
    return _TFRecordIterator(path_str(path), compression)
