"""Property tests: damaged and random files give conveyor errors, never crashes or hangs,
and never lose a good record that came before the damage."""

from __future__ import annotations

import gzip
import zlib

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conveyor.core.errors import DataLossError, OpError, OutOfRangeError
from conveyor.io.readers import (
    FixedLengthRecordReader,
    TextLineReader,
    TFRecordReader,
    WholeFileReader,
)
from conveyor.io.tfrecord import tf_record_iterator
from helpers import frame_tfrecord

pytestmark = pytest.mark.timeout(120)

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class _Queue:
    def __init__(self, names):
        self.names = list(names)

    def dequeue(self):
        if not self.names:
            raise OutOfRangeError("no more files")
        return self.names.pop(0)


def _compress(kind: str, data: bytes) -> bytes:
    if kind == "GZIP":
        return gzip.compress(data, mtime=0)
    if kind == "ZLIB":
        return zlib.compress(data)
    return data


@pytest.fixture(scope="module")
def put(tmp_path_factory):
    """Write one example's file (module-scoped: hypothesis reruns the test body)."""
    path = str(tmp_path_factory.mktemp("fuzz") / "fuzzed")

    def write(data: bytes) -> str:
        with open(path, "wb") as f:
            f.write(data)
        return path

    return write


records_st = st.lists(st.binary(max_size=300), max_size=12)


@st.composite
def mutated(draw, valid: bytes) -> bytes:
    """A truncation, a few bit flips, or random bytes, starting from *valid*."""
    how = draw(st.sampled_from(["truncate", "flip", "random", "append"]))
    if how == "random" or not valid:
        return draw(st.binary(max_size=600))
    if how == "truncate":
        return valid[: draw(st.integers(0, len(valid) - 1))]
    if how == "append":
        return valid + draw(st.binary(min_size=1, max_size=40))
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 3))):
        position = draw(st.integers(0, len(data) - 1))
        data[position] ^= 1 << draw(st.integers(0, 7))
    return bytes(data)


READERS = {
    "fixed": lambda oc: FixedLengthRecordReader(7, header_bytes=3, footer_bytes=2, on_corrupt=oc),
    "fixed-hop": lambda oc: FixedLengthRecordReader(6, hop_bytes=4, on_corrupt=oc),
    "fixed-gzip": lambda oc: FixedLengthRecordReader(5, encoding="GZIP", on_corrupt=oc),
    "fixed-zlib": lambda oc: FixedLengthRecordReader(
        5, header_bytes=1, encoding="ZLIB", on_corrupt=oc
    ),
    "text": lambda oc: TextLineReader(skip_header_lines=1, on_corrupt=oc),
    "whole": lambda oc: WholeFileReader(on_corrupt=oc),
    "tfrecord": lambda oc: TFRecordReader(on_corrupt=oc),
    "tfrecord-gzip": lambda oc: TFRecordReader("GZIP", on_corrupt=oc),
    "tfrecord-zlib": lambda oc: TFRecordReader("ZLIB", on_corrupt=oc),
}


def _valid_file(kind: str, records: list[bytes]) -> bytes:
    body = (
        b"".join(frame_tfrecord(r) for r in records)
        if kind.startswith("tfrecord")
        else b"".join(records)
    )
    compression = kind.rsplit("-", 1)[-1].upper()
    return _compress(compression, body)


def _read_everything(reader, path, sizes):
    """Read until the queue is exhausted; return the values and the errors met."""
    queue = _Queue([path, path])
    values, errors = [], []
    for call in range(10_000):
        n = sizes[call % len(sizes)]
        try:
            if n == 0:
                values.append(reader.read(queue)[1])
            else:
                values += [bytes(v) for v in reader.read_up_to(queue, n)[1]]
        except OutOfRangeError:
            return values, errors
        except OpError as e:
            errors.append(e)
    raise AssertionError("the reader never reached the end of its queue")


@pytest.mark.parametrize("kind", sorted(READERS))
@FUZZ
@given(
    data=st.data(), records=records_st, sizes=st.lists(st.integers(0, 9), min_size=1, max_size=4)
)
def test_damaged_files_raise_only_conveyor_errors_and_always_end(put, kind, data, records, sizes):
    content = data.draw(mutated(_valid_file(kind, records)))
    _values, errors = _read_everything(READERS[kind]("raise"), put(content), sizes)
    assert len(errors) <= 2  # at most one error per file, and the queue holds it twice
    assert all(isinstance(e, OpError) for e in errors)


@pytest.mark.parametrize("kind", sorted(READERS))
@FUZZ
@given(
    data=st.data(), records=records_st, sizes=st.lists(st.integers(0, 9), min_size=1, max_size=4)
)
def test_skip_mode_never_raises_on_damaged_files(put, kind, data, records, sizes):
    content = data.draw(mutated(_valid_file(kind, records)))
    reader = READERS[kind]("skip")
    _values, errors = _read_everything(reader, put(content), sizes)
    assert errors == []


@pytest.mark.parametrize("compression", ["", "GZIP", "ZLIB"])
@FUZZ
@given(data=st.data(), records=st.lists(st.binary(min_size=1, max_size=200), max_size=10))
def test_tfrecords_before_the_damage_are_delivered_intact(put, compression, data, records):
    content = data.draw(
        mutated(_compress(compression, b"".join(frame_tfrecord(r) for r in records)))
    )
    path = put(content)
    got = []
    try:
        for record in tf_record_iterator(path, compression):
            got.append(record)
    except DataLossError as e:
        assert e.message.startswith(path + ": ")
    # Whatever came out is exactly a prefix of what was written: damage never turns into
    # a wrong record (both checksums guard every record).
    assert got == records[: len(got)]


@pytest.mark.parametrize("compression", ["", "GZIP"])
@FUZZ
@given(
    data=st.data(), records=st.lists(st.binary(min_size=1, max_size=200), min_size=1, max_size=10)
)
def test_tfrecord_skip_mode_delivers_only_written_records(put, compression, data, records):
    content = data.draw(
        mutated(_compress(compression, b"".join(frame_tfrecord(r) for r in records)))
    )
    reader = TFRecordReader(compression, on_corrupt="skip")
    values, errors = _read_everything(reader, put(content), [5])
    assert errors == []
    assert set(values) <= set(records)


@FUZZ
@given(
    header=st.integers(0, 5),
    footer=st.integers(0, 5),
    record=st.integers(1, 9),
    size=st.integers(1, 120),
    n=st.integers(1, 8),
)
def test_truncated_fixed_length_files_deliver_every_whole_record_then_data_loss(
    put, header, footer, record, size, n
):
    content = bytes(i % 251 for i in range(size))
    path = put(content)
    reader = FixedLengthRecordReader(record, header_bytes=header, footer_bytes=footer)
    values, errors = _read_everything(reader, path, [n])
    body = size - header - footer
    whole = max(body, 0) // record
    one_file = [content[header + i * record : header + (i + 1) * record] for i in range(whole)]
    assert values == one_file * 2
    if body == whole * record:
        assert errors == []
    else:
        assert [type(e) for e in errors] == [DataLossError, DataLossError]
        assert all(e.message.startswith(path + ": ") for e in errors)


@pytest.mark.parametrize("compression", ["", "GZIP"])
@FUZZ
@given(
    records=st.lists(st.binary(max_size=120), max_size=25),
    chunk=st.integers(1, 64),
    batch=st.integers(1, 7),
    damaged=st.integers(0, 30),
    where=st.sampled_from([2, 9, 12]),
)
def test_tfrecord_reading_is_exact_whatever_the_chunking(
    put, compression, records, chunk, batch, damaged, where
):
    frames = [frame_tfrecord(r) for r in records]
    offsets = [sum(map(len, frames[:i])) for i in range(len(frames))]
    expected = list(zip(offsets, records, strict=True))
    body = bytearray(b"".join(frames))
    if damaged < len(records):
        # Damage the length, its CRC, or the first data byte (the data CRC if empty).
        body[offsets[damaged] + where] ^= 0x10
        del expected[damaged]
    path = put(_compress(compression, bytes(body)))
    with pytest.MonkeyPatch.context() as mp:
        # Tiny chunks make records straddle chunk boundaries everywhere.
        mp.setattr("conveyor.io.tfrecord.CHUNK_SIZE", chunk)
        mp.setattr("conveyor.io.files.CHUNK_SIZE", chunk)
        reader = TFRecordReader(compression, on_corrupt="skip")
        queue = _Queue([path])
        got = []
        while True:
            try:
                keys, values = reader.read_up_to(queue, batch)
            except OutOfRangeError:
                break
            got += [(int(k.rsplit(b":", 1)[1]), v) for k, v in zip(keys, values, strict=True)]
    assert got == expected
    assert reader.num_records_skipped() == (1 if damaged < len(records) else 0)


@pytest.mark.parametrize("compression", ["", "ZLIB"])
@FUZZ
@given(
    size=st.integers(0, 300),
    record=st.integers(1, 20),
    header=st.integers(0, 9),
    footer=st.integers(0, 9),
    hop=st.integers(0, 25),
    sizes=st.lists(st.integers(0, 6), min_size=1, max_size=5),
    read_ahead=st.sampled_from([1, 7, 64, 1 << 18]),
)
def test_fixed_length_records_match_a_direct_slicing_of_the_file(
    put, compression, size, record, header, footer, hop, sizes, read_ahead
):
    data = bytes((7 * i + 3) % 256 for i in range(size))
    step = hop or record
    count = 0
    while header + count * step + record + footer <= size:
        count += 1
    expected = [data[header + i * step : header + i * step + record] for i in range(count)]
    path = put(_compress(compression, data))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("conveyor.io.readers._READ_AHEAD", read_ahead)
        reader = FixedLengthRecordReader(
            record, header_bytes=header, footer_bytes=footer, hop_bytes=hop, encoding=compression
        )
        values, errors = _read_everything(reader, path, sizes)
    assert values == expected * 2
    leftover = size - header - footer - count * record
    damaged = hop == 0 and size > 0 and leftover != 0
    assert [type(e) for e in errors] == ([DataLossError] * 2 if damaged else [])
