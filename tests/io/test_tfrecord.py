"""TFRecord files: the framing, TensorFlow's compressed bytes, reading and damage."""

from __future__ import annotations

import os
import re
import struct
import zlib

import google_crc32c
import pytest

from conveyor.core.errors import (
    DataLossError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
)
from conveyor.io.files import open_input
from conveyor.io.tfrecord import (
    TFRecordCompressionType,
    TFRecordOptions,
    TFRecordScanner,
    TFRecordWriter,
    masked_crc32c,
    tf_record_iterator,
    unmask_crc32c,
)
from helpers import frame_tfrecord

RECORDS = [b"", b"abc", b"\x00" * 10]
# What TensorFlow 2.21's tf.io.TFRecordWriter writes for RECORDS.
TF_PLAIN = bytes.fromhex(
    "000000000000000029039807d8ea82a20300000000000000b099490e6162636e57f1210a"
    "00000000000000aea3bf3a0000000000000000000093b25a83"
)
TF_GZIP = bytes.fromhex(
    "1f8b0800000000000003636080004de619ec375e352d6286f237ccf4e44b4c4ace0bffa8"
    "c805155ab778bf15031c4cde14d50c001d2078683d000000"
)
TF_ZLIB = bytes.fromhex(
    "789c636080004de619ec375e352d6286f237ccf4e44b4c4ace0bffa8c805155ab778bf15"
    "031c4cde14d50c0074e50cc8"
)
# write(b"a" * 10); flush(); flush(); write(b"b" * 10); close(), with "GZIP".
TF_GZIP_FLUSHED = bytes.fromhex(
    "1f8b0800000000000003e2628080758bf75b25c281cace27590001c685249304076b2418b70200cd367f0e34000000"
)
# write(b"abc" * 5) with TFRecordOptions("GZIP", window_bits=15, compression_level=9).
TF_WINDOW_BITS_15_LEVEL_9 = bytes.fromhex("78dae3678080dc606dcec4a46464c4536fff12005f0a0875")


def _write(path, records, options=None) -> str:
    with TFRecordWriter(str(path), options) as writer:
        for record in records:
            writer.write(record)
    return str(path)


def _raw(path, data: bytes) -> str:
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


def _read_bytes(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


# -- the checksum --------------------------------------------------------------------------


def test_masked_crc32c_rotates_and_offsets_the_crc32c():
    crc = google_crc32c.value(b"123456789")
    assert crc == 0xE3069283
    assert masked_crc32c(b"123456789") == (((crc >> 15) | (crc << 17)) + 0xA282EAD8) % 2**32
    assert masked_crc32c(b"") == 0xA282EAD8
    assert masked_crc32c(b"\x00" * 8) == 0x07980329


def test_unmask_crc32c_inverts_the_mask():
    for data in (b"", b"abc", os.urandom(100)):
        assert unmask_crc32c(masked_crc32c(data)) == google_crc32c.value(data)


# -- options -------------------------------------------------------------------------------


def test_compression_type_strings_follow_tensorflow():
    get = TFRecordOptions.get_compression_type_string
    assert [
        get(x)
        for x in (
            None,
            "",
            "GZIP",
            "ZLIB",
            TFRecordCompressionType.NONE,
            TFRecordCompressionType.ZLIB,
            TFRecordCompressionType.GZIP,
            TFRecordOptions("GZIP"),
            TFRecordOptions(),
        )
    ] == ["", "", "GZIP", "ZLIB", "", "ZLIB", "GZIP", "GZIP", ""]


@pytest.mark.parametrize("bad", ["gzip", "BZIP2", 7])
def test_unknown_compression_types_are_invalid_arguments(bad):
    with pytest.raises(InvalidArgumentError, match=f'compression_type: .*"{bad}"'):
        TFRecordOptions(bad)


# -- writing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "expected"), [(None, TF_PLAIN), ("GZIP", TF_GZIP), ("ZLIB", TF_ZLIB)]
)
def test_writer_output_is_byte_identical_to_tensorflows(tmp_path, options, expected):
    assert _read_bytes(_write(tmp_path / "x.tfrecord", RECORDS, options)) == expected


def test_uncompressed_framing_is_length_crc_data_crc(tmp_path):
    path = _write(tmp_path / "x.tfrecord", [b"hello", b""])
    assert _read_bytes(path) == frame_tfrecord(b"hello") + frame_tfrecord(b"")


def test_flush_of_a_compressed_writer_is_a_zlib_partial_flush_as_in_tensorflow(tmp_path):
    path = str(tmp_path / "f.tfrecord")
    with TFRecordWriter(path, "GZIP") as writer:
        writer.write(b"a" * 10)
        writer.flush()
        writer.flush()
        writer.write(b"b" * 10)
    assert _read_bytes(path) == TF_GZIP_FLUSHED


def test_zlib_options_override_tensorflows_defaults_like_tensorflow(tmp_path):
    options = TFRecordOptions("GZIP", window_bits=15, compression_level=9)
    path = _write(tmp_path / "w.tfrecord", [b"abc" * 5], options)
    assert _read_bytes(path) == TF_WINDOW_BITS_15_LEVEL_9


def test_compressed_output_is_one_deflate_stream_with_tensorflows_settings(tmp_path):
    records = [os.urandom(n % 700) + b"pattern" * (n % 40) for n in range(3000)]
    path = _write(tmp_path / "big.tfrecord", records, "GZIP")
    deflate = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 31, 9, 0)
    framed = b"".join(frame_tfrecord(r) for r in records)
    assert _read_bytes(path) == deflate.compress(framed) + deflate.flush()


def test_writer_writes_str_records_as_utf8_and_accepts_bytes_like(tmp_path):
    with TFRecordWriter(str(tmp_path / "s.tfrecord")) as writer:
        writer.write("héllo")
        writer.write(bytearray(b"ba"))
        writer.write(memoryview(b"mv"))
    assert list(tf_record_iterator(str(tmp_path / "s.tfrecord"))) == [
        "héllo".encode(),
        b"ba",
        b"mv",
    ]


def test_writer_rejects_records_that_are_not_bytes(tmp_path):
    with (
        TFRecordWriter(str(tmp_path / "s.tfrecord")) as writer,
        pytest.raises(InvalidArgumentError, match="record must be bytes or str, got int"),
    ):
        writer.write(5)


def test_a_closed_writer_refuses_writes_and_flushes_and_closes_idempotently(tmp_path):
    writer = TFRecordWriter(str(tmp_path / "c.tfrecord"), "ZLIB")
    writer.write(b"x")
    writer.close()
    writer.close()
    with pytest.raises(FailedPreconditionError, match=r"c\.tfrecord: the TFRecordWriter is closed"):
        writer.write(b"y")
    with pytest.raises(FailedPreconditionError, match="is closed"):
        writer.flush()
    assert list(tf_record_iterator(str(tmp_path / "c.tfrecord"), "ZLIB")) == [b"x"]


def test_writer_into_a_missing_directory_raises_not_found(tmp_path):
    with pytest.raises(NotFoundError, match=r"x\.tfrecord: no such file"):
        TFRecordWriter(str(tmp_path / "missing" / "x.tfrecord"))


def test_writer_writes_a_local_name_with_double_colons_to_that_file(tmp_path):
    path = _write(tmp_path / "out::.tfrecord", [b"abc"])
    assert sorted(os.listdir(tmp_path)) == ["out::.tfrecord"]
    assert (tmp_path / "out::.tfrecord").read_bytes() == frame_tfrecord(b"abc")
    assert list(tf_record_iterator(path)) == [b"abc"]


def test_a_globbed_name_with_double_colons_is_read_as_itself_not_its_sibling(tmp_path, name_queue):
    from conveyor.io.files import match_files
    from conveyor.io.readers import TFRecordReader

    _raw(tmp_path / "labels_private", frame_tfrecord(b"SECRET"))
    path = _write(tmp_path / "labels_private::.tfrecord", [b"public"])
    (matched,) = match_files(str(tmp_path / "*.tfrecord"))
    assert matched == path
    key, value = TFRecordReader().read(name_queue([matched]))
    assert (key, value) == (f"{path}:0".encode(), b"public")


def test_writer_and_iterator_work_on_fsspec_urls(memory_root):
    url = memory_root + "/r.tfrecord"
    _write(url, RECORDS, "GZIP")
    with open_input(url) as stream:
        assert stream.read(1000) == TF_GZIP
    assert list(tf_record_iterator(url, "GZIP")) == RECORDS


# -- reading -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "data"),
    [(None, TF_PLAIN), ("GZIP", TF_GZIP), (TFRecordOptions("ZLIB"), TF_ZLIB)],
)
def test_iterator_reads_tensorflows_files(tmp_path, options, data):
    path = _raw(tmp_path / "tf.tfrecord", data)
    assert list(tf_record_iterator(path, options)) == RECORDS


def test_iterator_reads_records_larger_than_its_buffer(tmp_path):
    records = [os.urandom(3 << 20), b"small", os.urandom(1 << 20)]
    path = _write(tmp_path / "large.tfrecord", records)
    assert list(tf_record_iterator(path)) == records


def test_iterator_of_a_missing_file_raises_not_found_at_the_call(tmp_path):
    missing = str(tmp_path / "none.tfrecord")
    with pytest.raises(NotFoundError, match=f"^{re.escape(missing)}: no such file$"):
        tf_record_iterator(missing)


def test_empty_file_has_no_records(tmp_path):
    assert list(tf_record_iterator(_raw(tmp_path / "e.tfrecord", b""))) == []
    assert list(tf_record_iterator(_raw(tmp_path / "e.gz", b""), "GZIP")) == []


def _collect(iterator):
    out = []
    with pytest.raises(DataLossError) as info:
        for record in iterator:
            out.append(record)
    return out, info.value.message


def test_data_checksum_mismatch_is_data_loss_after_the_good_records(tmp_path):
    data = bytearray(frame_tfrecord(b"one") + frame_tfrecord(b"two") + frame_tfrecord(b"three"))
    data[19 + 12 + 1] ^= 0x01  # inside b"two", which starts at offset 19
    path = _raw(tmp_path / "d.tfrecord", bytes(data))
    records, message = _collect(tf_record_iterator(path))
    assert records == [b"one"]
    assert message == f"{path}: corrupted record at byte offset 19: data checksum mismatch"


def test_length_checksum_mismatch_is_data_loss_naming_the_offset(tmp_path):
    data = bytearray(frame_tfrecord(b"one") + frame_tfrecord(b"two"))
    data[19 + 9] ^= 0x80  # the length CRC of the second record
    path = _raw(tmp_path / "l.tfrecord", bytes(data))
    records, message = _collect(tf_record_iterator(path))
    assert records == [b"one"]
    assert message == f"{path}: corrupted record at byte offset 19: length checksum mismatch"


def test_truncated_last_record_is_data_loss_after_the_good_records(tmp_path):
    data = frame_tfrecord(b"one") + frame_tfrecord(b"two")[:-2]
    path = _raw(tmp_path / "t.tfrecord", data)
    records, message = _collect(tf_record_iterator(path))
    assert records == [b"one"]
    assert message == f"{path}: truncated record at byte offset 19: the file ends inside its data"


def test_truncated_header_is_data_loss(tmp_path):
    path = _raw(tmp_path / "h.tfrecord", frame_tfrecord(b"one") + b"\x05\x00\x00")
    records, message = _collect(tf_record_iterator(path))
    assert records == [b"one"]
    assert message == (
        f"{path}: truncated record at byte offset 19: the file ends inside its header"
    )


def test_a_huge_corrupt_length_is_truncation_not_a_huge_read(tmp_path):
    length = struct.pack("<Q", 2**62)
    header = length + struct.pack("<I", masked_crc32c(length))
    path = _raw(tmp_path / "huge.tfrecord", frame_tfrecord(b"ok") + header + b"tiny")
    records, message = _collect(tf_record_iterator(path))
    assert records == [b"ok"]
    assert message.startswith(f"{path}: truncated record at byte offset 18")


def test_reading_an_uncompressed_file_as_gzip_is_data_loss(tmp_path):
    path = _raw(tmp_path / "p.tfrecord", TF_PLAIN)
    records, message = _collect(tf_record_iterator(path, "GZIP"))
    assert records == []
    assert message.startswith(f"{path}: corrupt GZIP stream at compressed byte offset 1:")


def test_corrupt_compressed_stream_delivers_the_records_before_the_damage(tmp_path):
    records = [bytes([i]) * 1000 for i in range(50)]
    data = bytearray(_read_bytes(_write(tmp_path / "c.tfrecord", records, "ZLIB")))
    data[-6] ^= 0xFF  # in the last deflate block
    path = _raw(tmp_path / "c2.tfrecord", bytes(data))
    got, message = _collect(tf_record_iterator(path, "ZLIB"))
    assert got == records[: len(got)]
    assert len(got) >= 40
    assert message.startswith(f"{path}: ")


# -- the scanner's skip mode ---------------------------------------------------------------


def _scan_all(path, compression=None):
    skips = []
    scanner = TFRecordScanner(
        open_input(path, compression),
        on_corrupt="skip",
        on_skip=lambda offset, message: skips.append((offset, message)),
    )
    offsets, records = [], []
    while True:
        o, r = scanner.read(2)
        if not r:
            break
        offsets += o
        records += r
    scanner.close()
    return offsets, records, skips


def test_skip_mode_passes_over_a_record_whose_data_checksum_fails(tmp_path):
    data = bytearray(frame_tfrecord(b"one") + frame_tfrecord(b"two") + frame_tfrecord(b"three"))
    data[19 + 12] ^= 0x01
    offsets, records, skips = _scan_all(_raw(tmp_path / "s.tfrecord", bytes(data)))
    assert (offsets, records) == ([0, 38], [b"one", b"three"])
    assert skips == [(19, "corrupted record at byte offset 19: data checksum mismatch")]


def test_skip_mode_resynchronises_after_a_length_checksum_failure(tmp_path):
    data = bytearray(frame_tfrecord(b"one") + frame_tfrecord(b"x" * 100) + frame_tfrecord(b"three"))
    data[19 + 2] ^= 0x40  # the second record's length
    offsets, records, skips = _scan_all(_raw(tmp_path / "s.tfrecord", bytes(data)))
    assert (offsets, records) == ([0, 135], [b"one", b"three"])
    assert skips == [(19, "corrupted record at byte offset 19: length checksum mismatch")]


def test_skip_mode_ends_the_file_at_a_truncated_record(tmp_path):
    path = _raw(tmp_path / "s.tfrecord", frame_tfrecord(b"one") + frame_tfrecord(b"two")[:15])
    offsets, records, skips = _scan_all(path)
    assert (offsets, records) == ([0], [b"one"])
    assert skips == [(19, "truncated record at byte offset 19: the file ends inside its data")]


def test_skip_mode_ends_the_file_at_a_broken_compressed_stream(tmp_path):
    data = _read_bytes(_write(tmp_path / "c.tfrecord", [b"one", b"two"], "GZIP"))
    path = _raw(tmp_path / "c2.tfrecord", data + b"garbage!")
    offsets, records, skips = _scan_all(path, "GZIP")
    assert (offsets, records) == ([0, 19], [b"one", b"two"])
    assert len(skips) == 1
    assert skips[0][0] == 38
    assert skips[0][1].startswith(f"{path}: corrupt GZIP stream at compressed byte offset")


def test_the_docstring_examples_of_the_module_run():
    import doctest

    import conveyor.io.tfrecord as module

    failed, attempted = doctest.testmod(module)
    assert (failed, attempted > 0) == (0, True)
