"""The files layer: local and fsspec files, decompressing streams, glob matching."""

from __future__ import annotations

import gzip
import os
import re
import zlib

import pytest

from conveyor.core.errors import (
    DataLossError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
)
from conveyor.io.files import (
    _MAX_INFLATE_OUTPUT,
    CHUNK_SIZE,
    compression_name,
    file_exists,
    file_size,
    is_url,
    match_files,
    open_input,
    open_output,
)

DATA = bytes(range(256)) * 40  # 10240 bytes


def _write(path, data: bytes) -> str:
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


def _read_all(stream, n: int = 4096) -> bytes:
    parts = []
    while True:
        data = stream.read(n)
        if not data:
            return b"".join(parts)
        parts.append(data)


def _memory_write(url: str, data: bytes) -> str:
    with open_output(url) as f:
        f.write(data)
    return url


# -- local files ---------------------------------------------------------------------------


def test_open_input_reads_a_local_file_in_order_and_tracks_the_position(tmp_path):
    path = _write(tmp_path / "a.bin", DATA)
    with open_input(path) as stream:
        assert stream.name == path
        assert stream.size == 10240
        assert stream.read(3) == b"\x00\x01\x02"
        assert stream.skip(253) == 253
        assert stream.tell() == 256
        assert stream.read(2) == b"\x00\x01"
        assert _read_all(stream) == DATA[258:]
        assert stream.read(10) == b""
        assert stream.tell() == 10240


def test_readinto_fills_a_buffer_from_the_current_position(tmp_path):
    path = _write(tmp_path / "a.bin", DATA)
    with open_input(path) as stream:
        stream.skip(10)
        buffer = bytearray(6)
        assert stream.readinto(buffer) == 6
        assert bytes(buffer) == DATA[10:16]


def test_skip_past_the_end_returns_only_the_bytes_that_were_there(tmp_path):
    path = _write(tmp_path / "a.bin", b"0123456789")
    with open_input(path) as stream:
        assert stream.skip(4) == 4
        assert stream.skip(100) == 6
        assert stream.tell() == 10
        assert stream.read(1) == b""


def test_file_urls_are_local_paths(tmp_path):
    path = _write(tmp_path / "a.bin", b"xyz")
    assert not is_url("file://" + path)
    with open_input("file://" + path) as stream:
        assert stream.read(10) == b"xyz"


def test_open_input_of_a_missing_file_raises_not_found_naming_it(tmp_path):
    missing = str(tmp_path / "missing.bin")
    with pytest.raises(NotFoundError, match=f"^{re.escape(missing)}: no such file$"):
        open_input(missing)


def test_open_input_of_a_directory_raises_failed_precondition_naming_it(tmp_path):
    with pytest.raises(
        FailedPreconditionError, match=f"^{re.escape(str(tmp_path))}: is a directory$"
    ):
        open_input(str(tmp_path))


def test_open_input_accepts_bytes_and_path_objects(tmp_path):
    path = _write(tmp_path / "a.bin", b"abc")
    with open_input(os.fsencode(path)) as stream:
        assert stream.read(3) == b"abc"
    with open_input(tmp_path / "a.bin") as stream:
        assert stream.read(3) == b"abc"


def test_open_input_rejects_a_name_that_is_not_a_path():
    with pytest.raises(InvalidArgumentError, match="got int"):
        open_input(42)


def test_open_output_into_a_missing_directory_raises_not_found(tmp_path):
    target = str(tmp_path / "no" / "such" / "dir" / "x.bin")
    with pytest.raises(NotFoundError, match=r"x\.bin: no such file"):
        open_output(target)


def test_file_size_and_file_exists_of_local_files(tmp_path):
    path = _write(tmp_path / "a.bin", DATA)
    assert file_size(path) == 10240
    assert file_exists(path) is True
    assert file_exists(str(tmp_path / "nope")) is False
    with pytest.raises(NotFoundError, match="nope: no such file"):
        file_size(str(tmp_path / "nope"))


def test_is_url_tells_fsspec_urls_from_local_paths():
    assert [
        is_url(p)
        for p in ("a/b", "/abs", "file:///x", "memory://x", "s3://b/k", "simplecache::s3://b/k")
    ] == [False, False, False, True, True, True]


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("labels_private::.tfrecord", False),
        ("dir/a::b", False),
        ("/abs/a::b.bin", False),
        ("simplecache::x", False),  # a chain holds a "://" or it is a file name
        ("data/s3://x", False),  # the scheme must come first
        ("zip://inner.csv::s3://b/archive.zip", True),
        ("simplecache::memory://x", True),
        ("HTTP://host/x", True),
    ],
)
def test_only_a_name_that_starts_with_a_url_scheme_is_a_url(name, url):
    assert is_url(name) is url


def test_a_local_name_with_double_colons_is_that_file_not_an_fsspec_chain(tmp_path):
    # fsspec would read "labels_private::.tfrecord" as a chain ending in the sibling
    # file "labels_private".
    _write(tmp_path / "labels_private", b"SECRET")
    path = _write(tmp_path / "labels_private::.tfrecord", b"public")
    assert match_files(str(tmp_path / "*.tfrecord")) == [path]
    assert match_files(path) == [path]
    with open_input(path) as stream:
        assert _read_all(stream) == b"public"
    assert file_size(path) == 6
    assert file_exists(path) is True
    assert file_exists(str(tmp_path / "gone::.tfrecord")) is False
    with pytest.raises(NotFoundError, match=r"gone::\.tfrecord: no such file$"):
        open_input(str(tmp_path / "gone::.tfrecord"))


def test_open_output_writes_a_local_name_with_double_colons_to_that_file(tmp_path):
    with open_output(str(tmp_path / "out::.bin")) as f:
        f.write(b"xyz")
    assert sorted(os.listdir(tmp_path)) == ["out::.bin"]
    assert (tmp_path / "out::.bin").read_bytes() == b"xyz"


def test_a_local_path_that_looks_like_a_url_is_read_locally_when_it_exists(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "memory:").mkdir()
    _write(tmp_path / "memory:" / "x", b"local bytes")
    assert is_url("memory://x") is False
    with open_input("memory://x") as stream:
        assert stream.read(100) == b"local bytes"
    assert is_url("memory://y") is True  # no such local file: an fsspec URL


# -- compressed streams --------------------------------------------------------------------


def test_compression_names_are_normalised_and_unknown_ones_rejected():
    assert [compression_name(c) for c in (None, "", "zlib", "GZIP", b"gzip")] == [
        "",
        "",
        "ZLIB",
        "GZIP",
        "GZIP",
    ]
    with pytest.raises(InvalidArgumentError, match="'BZIP2'"):
        compression_name("BZIP2")


@pytest.mark.parametrize(
    ("compression", "compress"),
    [("GZIP", lambda d: gzip.compress(d, mtime=0)), ("ZLIB", zlib.compress)],
)
def test_inflating_stream_returns_the_exact_uncompressed_bytes(tmp_path, compression, compress):
    data = os.urandom(CHUNK_SIZE) + DATA * 300  # several chunks, part incompressible
    path = _write(tmp_path / "c", compress(data))
    with open_input(path, compression) as stream:
        assert stream.size is None
        assert stream.read(5) == data[:5]
        assert stream.skip(1000) == 1000
        assert stream.tell() == 1005
        assert _read_all(stream, 100_000) == data[1005:]
        assert stream.tell() == len(data)


def test_gzip_stream_reads_concatenated_members_as_one(tmp_path):
    path = _write(tmp_path / "c.gz", gzip.compress(b"first|", mtime=0) + gzip.compress(b"second"))
    with open_input(path, "GZIP") as stream:
        assert _read_all(stream) == b"first|second"


def test_highly_compressed_members_are_inflated_completely_in_bounded_steps(tmp_path):
    # The first member inflates to exactly one inflate call's output bound.
    first = b"\0" * _MAX_INFLATE_OUTPUT
    data = gzip.compress(first, mtime=0) + gzip.compress(b"tail", mtime=0)
    path = _write(tmp_path / "z.gz", data)
    with open_input(path, "GZIP") as stream:
        assert _read_all(stream, 1 << 22) == first + b"tail"


def test_empty_compressed_file_is_an_empty_stream(tmp_path):
    path = _write(tmp_path / "empty.gz", b"")
    with open_input(path, "GZIP") as stream:
        assert stream.read(10) == b""


def test_zlib_stream_ignores_bytes_after_its_end(tmp_path):
    path = _write(tmp_path / "c.z", zlib.compress(b"payload") + b"trailing junk")
    with open_input(path, "ZLIB") as stream:
        assert _read_all(stream) == b"payload"


def test_truncated_gzip_stream_returns_what_it_decoded_then_raises_data_loss(tmp_path):
    data = DATA * 10
    full = gzip.compress(data, mtime=0)
    path = _write(tmp_path / "t.gz", full[:-8])  # the trailer is cut off
    with open_input(path, "GZIP") as stream:
        decoded = b""
        with pytest.raises(DataLossError) as info:
            while True:
                part = stream.read(1000)
                if not part:
                    break
                decoded += part
    assert decoded == data
    assert info.value.message == (
        f"{path}: corrupt GZIP stream at compressed byte offset {len(full) - 8}: "
        "the file ends before the compressed stream does (truncated)"
    )


def test_corrupt_gzip_checksum_is_data_loss_at_its_offset_after_all_decoded_data(tmp_path):
    data = b"hello world " * 1000
    damaged = bytearray(gzip.compress(data, mtime=0))
    damaged[-6] ^= 0xFF  # inside the CRC-32 of the trailer
    path = _write(tmp_path / "bad.gz", bytes(damaged))
    decoded = b""
    with open_input(path, "GZIP") as stream, pytest.raises(DataLossError) as info:
        while True:
            part = stream.read(100_000)
            if not part:
                break
            decoded += part
    assert decoded == data
    offset = len(damaged) - 5  # the check fails on the CRC's last byte
    assert info.value.message == (
        f"{path}: corrupt GZIP stream at compressed byte offset {offset}: "
        "Error -3 while decompressing data: incorrect data check"
    )


def test_garbage_after_a_gzip_member_is_data_loss_at_the_garbage(tmp_path):
    member = gzip.compress(b"good data", mtime=0)
    path = _write(tmp_path / "g.gz", member + b"XXXX")
    with open_input(path, "GZIP") as stream:
        assert stream.read(100) == b"good data"
        # zlib rejects the gzip magic once it has both of its bytes.
        with pytest.raises(DataLossError, match=f"compressed byte offset {len(member) + 1}:"):
            stream.read(100)
        assert stream.read(100) == b""


# -- fsspec --------------------------------------------------------------------------------


def test_memory_filesystem_files_read_like_local_ones(memory_root):
    url = _memory_write(memory_root + "/m.bin", DATA)
    assert is_url(url)
    assert file_size(url) == 10240
    assert file_exists(url) is True
    with open_input(url) as stream:
        assert stream.size == 10240
        assert stream.skip(1000) == 1000
        assert stream.read(4) == DATA[1000:1004]
        assert _read_all(stream) == DATA[1004:]


def test_missing_memory_file_raises_not_found_naming_it(memory_root):
    url = memory_root + "/none.bin"
    with pytest.raises(NotFoundError, match=f"^{re.escape(url)}: no such file$"):
        open_input(url)
    assert file_exists(url) is False


@pytest.mark.timeout(60)
def test_http_files_are_read_with_range_requests_not_whole_downloads(tmp_path, range_server):
    data = os.urandom(2 * CHUNK_SIZE + CHUNK_SIZE // 2)
    _write(tmp_path / "big.bin", data)
    with open_input(range_server.url("big.bin")) as stream:
        assert stream.size == len(data)
        assert _read_all(stream, CHUNK_SIZE) == data
    assert range_server.gets() == [
        ("GET", "/big.bin", "bytes=0-1048575", CHUNK_SIZE),
        ("GET", "/big.bin", "bytes=1048576-2097151", CHUNK_SIZE),
        ("GET", "/big.bin", "bytes=2097152-2621439", CHUNK_SIZE // 2),
    ]


@pytest.mark.timeout(60)
def test_http_skip_moves_the_next_range_request_instead_of_downloading(tmp_path, range_server):
    data = os.urandom(100_000)
    _write(tmp_path / "s.bin", data)
    with open_input(range_server.url("s.bin")) as stream:
        assert stream.skip(90_000) == 90_000
        assert stream.read(10) == data[90_000:90_010]
    assert range_server.gets() == [("GET", "/s.bin", "bytes=90000-90009", 10)]


@pytest.mark.timeout(60)
def test_missing_http_file_raises_not_found_naming_it(range_server):
    url = range_server.url("absent.bin")
    with pytest.raises(NotFoundError, match=f"^{re.escape(url)}: no such file$"):
        open_input(url)


# -- matching ------------------------------------------------------------------------------


def test_match_files_returns_sorted_matches_of_a_local_glob(tmp_path):
    for name in ("b.bin", "a.bin", "c.txt", "a2.bin"):
        _write(tmp_path / name, b"")
    assert match_files(str(tmp_path / "*.bin")) == [
        str(tmp_path / "a.bin"),
        str(tmp_path / "a2.bin"),
        str(tmp_path / "b.bin"),
    ]
    assert match_files(str(tmp_path / "a?.bin")) == [str(tmp_path / "a2.bin")]
    assert match_files(str(tmp_path / "[bc].*")) == [
        str(tmp_path / "b.bin"),
        str(tmp_path / "c.txt"),
    ]


def test_match_files_of_a_plain_name_is_that_name_if_it_exists(tmp_path):
    path = _write(tmp_path / "x.bin", b"")
    assert match_files(path) == [path]
    assert match_files(str(tmp_path / "y.bin")) == []


def test_match_files_combines_several_patterns_sorted_without_duplicates(tmp_path):
    for name in ("a.bin", "b.txt"):
        _write(tmp_path / name, b"")
    patterns = [str(tmp_path / "*.txt"), str(tmp_path / "*"), str(tmp_path / "a.bin")]
    assert match_files(patterns) == [str(tmp_path / "a.bin"), str(tmp_path / "b.txt")]


def test_match_files_keeps_the_file_url_style(tmp_path):
    path = _write(tmp_path / "x.bin", b"")
    assert match_files("file://" + str(tmp_path / "*.bin")) == ["file://" + path]


def test_match_files_on_the_memory_filesystem_returns_urls(memory_root):
    for name in ("b.rec", "a.rec", "z.txt"):
        _memory_write(f"{memory_root}/{name}", b"")
    root = memory_root[len("memory://") :]
    assert match_files(memory_root + "/*.rec") == [
        f"memory://{root}/a.rec",
        f"memory://{root}/b.rec",
    ]
    assert match_files(memory_root + "/z.txt") == [memory_root + "/z.txt"]
    assert match_files(memory_root + "/none.*") == []


def test_the_docstring_examples_of_the_module_run():
    import doctest

    import conveyor.io.files as module

    failed, attempted = doctest.testmod(module)
    assert (failed, attempted > 0) == (0, True)
