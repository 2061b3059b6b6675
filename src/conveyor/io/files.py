"""The files layer: open, size and match files on local disks and on fsspec filesystems.

A file name is either a local path (``"data/batch_1.bin"``, ``"file:///data/x"``) or an
fsspec URL (``"memory://x"``, ``"http://host/x"``, ``"s3://bucket/x"``,
``"simplecache::s3://bucket/x"``): only a name that starts with a URL scheme is a URL
(see :func:`is_url`), so a local file may have any name, ``::`` included. Local paths are
read with the built-in unbuffered ``open`` (one system call per read); URLs go through
fsspec as a *streaming* source: reads are ranged requests of the size the reader asks
for, never a whole-file download.

Every failure surfaces as a :mod:`conveyor.core.errors` exception naming the file:
a missing file is :class:`~conveyor.core.errors.NotFoundError`, a corrupt compressed
stream is :class:`~conveyor.core.errors.DataLossError` with the byte offset.

Example::

    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> for name in ("b.bin", "a.bin", "c.txt"):
    ...     with open_output(os.path.join(d, name)) as f:
    ...         _ = f.write(b"0123456789")
    >>> [os.path.basename(p) for p in match_files(os.path.join(d, "*.bin"))]
    ['a.bin', 'b.bin']
    >>> with open_input(os.path.join(d, "a.bin")) as stream:
    ...     stream.skip(4), stream.read(3), stream.tell()
    (4, b'456', 7)
"""

from __future__ import annotations

import glob as _glob
import os
import re
import zlib
from collections.abc import Iterable
from typing import Any, BinaryIO

from conveyor._optional import missing_from, require
from conveyor.core.errors import (
    DataLossError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    OpError,
    PermissionDeniedError,
    UnknownError,
)

__all__ = [
    "InputStream",
    "compression_name",
    "file_exists",
    "file_size",
    "is_url",
    "match_files",
    "open_input",
    "open_output",
    "path_str",
]

# Large enough that per-call Python overhead vanishes against the copy, small enough to
# stay cache-friendly and to keep a remote read to one modest ranged request.
CHUNK_SIZE = 1 << 20
# Bound on the output of one inflate call, so a highly compressed chunk cannot balloon.
_MAX_INFLATE_OUTPUT = 8 * CHUNK_SIZE

_WBITS = {"ZLIB": zlib.MAX_WBITS, "GZIP": zlib.MAX_WBITS + 16}


def path_str(path: str | bytes | os.PathLike[Any]) -> str:
    """Return *path* as a ``str`` (bytes are decoded as the file system does).

    Raises:
        InvalidArgumentError: if *path* is not a str, bytes or path-like object.
    """
    try:
        return os.fsdecode(path)
    except TypeError:
        raise InvalidArgumentError(
            f"a file name must be str, bytes or os.PathLike, got {type(path).__name__}"
        ) from None


# A URL starts with a scheme and "://" ("s3://b/k"), or is an fsspec chain that starts with
# a protocol and "::" ("simplecache::s3://b/k") and holds a "://" somewhere.
_URL_START = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*(://|::)")


def is_url(path: str | bytes | os.PathLike[Any]) -> bool:
    """Whether *path* names a file through fsspec rather than the local file system.

    Only a name that starts with a URL scheme (``proto://...``), or an fsspec chain
    that starts with a protocol and holds one (``simplecache::s3://...``), is a URL;
    everything else is a local path, whatever it contains (``labels::.tfrecord`` is a
    file of that name). A name that exists as a local file or directory is local even
    if it looks like a URL, and ``file://`` URLs are local paths.

    >>> [is_url(p) for p in ("s3://b/k", "simplecache::s3://b/k", "a::b", "file:///x")]
    [True, True, False, False]
    """
    p = path_str(path)
    if p.startswith("file://") or "://" not in p or not _URL_START.match(p):
        return False
    return not os.path.lexists(p)


def _local(path: str) -> str:
    return path[len("file://") :] if path.startswith("file://") else path


def _fsspec(path: str) -> tuple[Any, str]:
    """The fsspec filesystem for a URL, and the path on it.

    Raises:
        ImportError: fsspec (``conveyor[io]``), or a package the URL's filesystem needs
            that a conveyor extra provides (aiohttp for ``http://``: ``conveyor[http]``),
            is not installed.
    """
    fsspec = require("fsspec", f"the URL {path}")
    try:
        return fsspec.core.url_to_fs(path)
    except ImportError as e:
        ours = missing_from(e, f"the URL {path}")
        raise (ours or _translate(e, path, "open")) from e
    except Exception as e:
        raise _translate(e, path, "open") from e


def _translate(exc: BaseException, name: str, action: str) -> OpError:
    """Map an exception raised by a file system to the matching conveyor error."""
    if isinstance(exc, OpError):
        return exc
    if isinstance(exc, FileNotFoundError):
        return NotFoundError(f"{name}: no such file")
    if isinstance(exc, IsADirectoryError):
        return FailedPreconditionError(f"{name}: is a directory")
    if isinstance(exc, PermissionError):
        return PermissionDeniedError(f"{name}: permission denied")
    detail = str(exc) or type(exc).__name__
    return UnknownError(f"{name}: cannot {action}: {detail}")


def compression_name(compression: str | None) -> str:
    """Normalise a compression name to ``""``, ``"ZLIB"`` or ``"GZIP"``.

    Raises:
        InvalidArgumentError: for any other value.
    """
    if compression is None:
        return ""
    if isinstance(compression, bytes):
        compression = compression.decode("ascii", "replace")
    if isinstance(compression, str):
        upper = compression.upper()
        if upper in ("", "ZLIB", "GZIP"):
            return upper
    raise InvalidArgumentError(
        f'compression must be None, "", "ZLIB" or "GZIP", got {compression!r}'
    )


class InputStream:
    """A sequential binary input stream over one file, possibly decompressing.

    Positions (:meth:`tell`, :meth:`skip`) count *uncompressed* bytes. ``read`` returns
    fewer bytes than asked for only at the end of the file (an inflating stream may also
    return what it has decoded so far); ``b""`` means the end.

    Errors are conveyor errors naming the file: :class:`NotFoundError` when the file
    vanished, :class:`DataLossError` (with the compressed byte offset) for a corrupt or
    truncated compressed stream, raised only after every byte decoded before the damage
    was returned.

    Not thread-safe: one stream belongs to one reader, which serialises access.
    """

    name: str

    def read(self, n: int) -> bytes:
        """Read up to *n* bytes (``b""`` at the end). Blocks on I/O."""
        raise NotImplementedError

    def readinto(self, buffer: Any) -> int:
        """Read into a writable buffer; return the number of bytes stored (0 at the end)."""
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def skip(self, n: int) -> int:
        """Skip *n* bytes; return how many were skipped (fewer only at the end)."""
        done = 0
        while done < n:
            data = self.read(min(n - done, 4 * CHUNK_SIZE))
            if not data:
                break
            done += len(data)
        return done

    def tell(self) -> int:
        """The current (uncompressed) position."""
        raise NotImplementedError

    @property
    def size(self) -> int | None:
        """The (uncompressed) size of the file if known without reading it, else None."""
        return None

    def close(self) -> None:
        """Close the file. Idempotent."""

    def __enter__(self) -> InputStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _RawStream(InputStream):
    """An uncompressed file: a local ``FileIO`` or an fsspec file object."""

    def __init__(self, fileobj: Any, name: str, size: int | None) -> None:
        self._f = fileobj
        self.name = name
        self._size = size
        self._pos = 0

    def read(self, n: int) -> bytes:
        try:
            data = self._f.read(n)
        except Exception as e:
            raise _translate(e, self.name, "read") from e
        if data is None:  # a non-blocking raw file with nothing ready; never for regular files
            data = b""
        self._pos += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        try:
            got = self._f.readinto(buffer)
        except Exception as e:
            raise _translate(e, self.name, "read") from e
        got = got or 0
        self._pos += got
        return got

    def skip(self, n: int) -> int:
        if self._size is None:
            return super().skip(n)
        target = min(self._pos + n, self._size)
        try:
            self._f.seek(target)
        except Exception as e:
            raise _translate(e, self.name, "seek") from e
        done = target - self._pos
        self._pos = target
        return done

    def tell(self) -> int:
        return self._pos

    @property
    def size(self) -> int | None:
        return self._size

    def close(self) -> None:
        f, self._f = self._f, None
        if f is not None:
            try:
                f.close()
            except Exception:
                pass


class _InflatingStream(InputStream):
    """Decompresses a ZLIB or GZIP stream (GZIP: concatenated members too, as zlib's
    ``gzread`` and TensorFlow's ``ZlibInputStream`` do)."""

    def __init__(self, raw: _RawStream, compression: str) -> None:
        self._raw = raw
        self.name = raw.name
        self._compression = compression
        self._wbits = _WBITS[compression]
        self._d = zlib.decompressobj(self._wbits)
        self._in = b""  # compressed bytes read but not yet fed to the decompressor
        self._in_offset = 0  # compressed offset of self._in[0]
        self._member_started = False  # compressed bytes fed to the current member
        self._out = b""
        self._out_pos = 0
        self._pos = 0
        self._done = False  # no more output will ever come
        self._maybe_more = False  # the last inflate stopped at its output bound
        self._error: DataLossError | None = None

    def _stream_error(self, offset: int, detail: str) -> DataLossError:
        return DataLossError(
            f"{self.name}: corrupt {self._compression} stream at compressed byte offset "
            f"{offset}: {detail}"
        )

    def _feed(self, data: bytes) -> bytes:
        """Inflate *data* with the current decompressor; on corruption keep the output
        decoded before the bad byte, record the error and stop."""
        backup = self._d.copy()
        try:
            out = self._d.decompress(data, _MAX_INFLATE_OUTPUT)
        except zlib.error:
            pass
        else:
            return out
        # Narrow the failure down: first by pieces, then byte by byte, so that every
        # byte decodable before the damage is still delivered.
        self._d = backup
        outs = []
        fed = 0
        piece = 4096
        while fed < len(data):
            part = data[fed : fed + piece]
            backup = self._d.copy()
            try:
                outs.append(self._d.decompress(part))
                fed += len(part)
                continue
            except zlib.error as e:
                if piece > 1:
                    self._d = backup
                    piece = 1
                    continue
                self._error = self._stream_error(self._in_offset + fed, str(e))
                break
        if self._error is not None:
            self._done = True
            self._in = b""
        return b"".join(outs)

    def _fill(self) -> bool:
        """Decode more output into self._out; False when nothing more will come."""
        while not self._done:
            if not self._in and not self._maybe_more:
                chunk = self._raw.read(CHUNK_SIZE)
                if not chunk:
                    self._done = True
                    if self._member_started and not self._d.eof:
                        self._error = self._stream_error(
                            self._in_offset,
                            "the file ends before the compressed stream does (truncated)",
                        )
                    break
                self._in = chunk
            if self._in:
                self._member_started = True
            size_before = len(self._in)
            out = self._feed(self._in)
            self._maybe_more = len(out) >= _MAX_INFLATE_OUTPUT
            if self._done:  # _feed hit corruption
                if out:
                    self._out, self._out_pos = out, 0
                    return True
                break
            tail = self._d.unconsumed_tail
            if self._d.eof:
                self._maybe_more = False
                rest = self._d.unused_data
                self._in_offset += size_before - len(rest)
                if self._wbits > zlib.MAX_WBITS and rest:
                    self._d = zlib.decompressobj(self._wbits)
                    self._in = rest
                else:
                    # ZLIB: data after the end of the stream is ignored, as TensorFlow does.
                    self._in = b""
                    if self._wbits > zlib.MAX_WBITS:
                        self._d = zlib.decompressobj(self._wbits)
                        self._member_started = False
                    else:
                        self._done = True
            else:
                self._in_offset += size_before - len(tail)
                self._in = tail
            if out:
                self._out, self._out_pos = out, 0
                return True
        return False

    def read(self, n: int) -> bytes:
        if n <= 0:
            return b""
        if self._out_pos >= len(self._out) and not self._fill():
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            return b""
        start = self._out_pos
        end = min(start + n, len(self._out))
        self._out_pos = end
        self._pos += end - start
        if start == 0 and end == len(self._out):
            return self._out
        return self._out[start:end]

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        self._raw.close()


def _local_size(f: Any) -> int | None:
    try:
        return os.fstat(f.fileno()).st_size
    except OSError:
        return None


def open_input(path: str | bytes | os.PathLike[Any], compression: str | None = None) -> InputStream:
    """Open a file for sequential reading.

    Args:
        path: a local path or an fsspec URL.
        compression: ``None``/``""`` (raw bytes), ``"ZLIB"`` or ``"GZIP"``.

    Returns:
        An :class:`InputStream`; close it (or use it as a context manager).

    Raises:
        NotFoundError: the file does not exist.
        FailedPreconditionError: the path is a directory.
        PermissionDeniedError: the file may not be read.
        InvalidArgumentError: an unknown *compression*.
        UnknownError: any other failure of the file system.
        ImportError: *path* is a URL and fsspec (``conveyor[io]``), or the package its
            filesystem needs (aiohttp for ``http://``: ``conveyor[http]``), is not
            installed.
    """
    name = path_str(path)
    kind = compression_name(compression)
    if is_url(name):
        fs, fspath = _fsspec(name)
        try:
            f = fs.open(fspath, "rb", block_size=CHUNK_SIZE, cache_type="none")
        except Exception as e:
            raise _translate(e, name, "open") from e
        size = getattr(f, "size", None)
        raw = _RawStream(f, name, size if isinstance(size, int) else None)
    else:
        try:
            # Unbuffered: readers ask for large blocks, one system call each.
            f = open(_local(name), "rb", buffering=0)  # noqa: SIM115 - the stream owns it
        except Exception as e:
            raise _translate(e, name, "open") from e
        raw = _RawStream(f, name, _local_size(f))
    return _InflatingStream(raw, kind) if kind else raw


def open_output(path: str | bytes | os.PathLike[Any]) -> BinaryIO:
    """Open a file for writing (truncating it), locally or through fsspec.

    Returns:
        A binary file object; the caller closes it.

    Raises:
        NotFoundError: the parent directory does not exist.
        PermissionDeniedError, FailedPreconditionError, UnknownError, ImportError: as
        for :func:`open_input`.
    """
    name = path_str(path)
    try:
        if is_url(name):
            fs, fspath = _fsspec(name)
            return fs.open(fspath, "wb")
        return open(_local(name), "wb")
    except (OpError, ImportError):
        raise
    except Exception as e:
        raise _translate(e, name, "open for writing") from e


def file_size(path: str | bytes | os.PathLike[Any]) -> int:
    """The size of a file in bytes.

    Raises:
        NotFoundError: the file does not exist.
        UnknownError: the file system cannot tell.
    """
    name = path_str(path)
    try:
        if is_url(name):
            fs, fspath = _fsspec(name)
            size = fs.size(fspath)
            if size is None:
                raise UnknownError(f"{name}: the file system does not report its size")
            return int(size)
        return os.stat(_local(name)).st_size
    except (OpError, ImportError):
        raise
    except Exception as e:
        raise _translate(e, name, "stat") from e


def file_exists(path: str | bytes | os.PathLike[Any]) -> bool:
    """Whether a file (or directory) exists at *path*."""
    name = path_str(path)
    if is_url(name):
        fs, fspath = _fsspec(name)
        try:
            return bool(fs.exists(fspath))
        except Exception as e:
            raise _translate(e, name, "stat") from e
    return os.path.exists(_local(name))


def _match_one(pattern: str) -> list[str]:
    if is_url(pattern):
        fs, fspath = _fsspec(pattern)
        try:
            if _glob.has_magic(fspath):
                return [fs.unstrip_protocol(p) for p in fs.glob(fspath)]
            return [pattern] if fs.exists(fspath) else []
        except Exception as e:
            raise _translate(e, pattern, "list files matching") from e
    if pattern.startswith("file://"):
        return ["file://" + p for p in _glob.glob(_local(pattern))]
    return _glob.glob(pattern)


def match_files(
    pattern: str | bytes | os.PathLike[Any] | Iterable[str | bytes | os.PathLike[Any]],
) -> list[str]:
    """The sorted list of files matching a glob pattern (or any of several patterns).

    Supports ``*``, ``?`` and ``[...]`` in the last components, locally and on any
    fsspec filesystem that can list (not plain HTTP servers, which cannot). A pattern
    without wildcards matches itself if the file exists. The result is sorted, as
    TensorFlow's ``MatchingFiles``; it may be empty.

    Args:
        pattern: one pattern, or an iterable of patterns whose matches are combined.

    Returns:
        Matching file names (``str``), in the same style (local path or URL) as the
        pattern.

    Raises:
        InvalidArgumentError: a pattern that is not a str, bytes or path-like object.
        UnknownError: the file system failed to list a directory.
    """
    single = isinstance(pattern, (str, bytes, os.PathLike))
    patterns: list[Any] = [pattern] if single else list(pattern)  # type: ignore[arg-type]
    found: set[str] = set()
    for p in patterns:
        found.update(_match_one(path_str(p)))
    return sorted(found)
