"""Errors lose nothing: everything valid before a failure is delivered, then the error."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import conveyor as cv
import conveyor.pipeline as cp
from conveyor.errors import CancelledError, DataLossError, UnknownError
from helpers import wait_no_runner_threads

pytestmark = pytest.mark.timeout(60)


def _drain(pipe, error=Exception):
    got = []
    with pytest.raises(error) as info:
        for item in pipe:
            got.append(item)
    return got, info.value


def _fail_at_500(x):
    if x == 500:
        raise ValueError("bad 500")
    return x


def test_a_per_row_failure_delivers_the_rows_before_it():
    got, err = _drain(cp.range(1000).map(_fail_at_500), ValueError)
    assert [int(v) for v in got] == list(range(500))
    assert "(in pipeline stage map(_fail_at_500))" in err.__notes__
    assert wait_no_runner_threads() == []


def test_a_generator_failure_delivers_everything_it_yielded():
    def gen():
        for i in range(1000):
            if i == 700:
                raise RuntimeError("gen broke")
            yield i

    got, _ = _drain(cp.from_iterable(gen), RuntimeError)
    assert [int(v) for v in got] == list(range(700))


def _fail_rows_from_5000(x):
    if (x >= 5000).any():
        raise ValueError("row 5000")
    return x


@pytest.mark.parametrize("shuffle", [False, True])
def test_batch_and_shuffle_deliver_what_they_hold_before_the_error(shuffle):
    pipe = cp.range(10_000, chunk_size=100).map(_fail_rows_from_5000, batched=True)
    if shuffle:
        pipe = pipe.shuffle(2000)
    got, _ = _drain(pipe.batch(64, drop_remainder=True), ValueError)
    rows = np.concatenate(got)
    assert sorted(rows.tolist()) == list(range(5000))
    assert [len(b) for b in got[:-1]] == [64] * (len(got) - 1) and len(got[-1]) == 5000 % 64


@pytest.mark.parametrize("threads", [2, 4])
def test_a_deterministic_multithreaded_map_delivers_every_earlier_unit(threads):
    pipe = (
        cp.range(10_000, chunk_size=50)
        .map(_fail_rows_from_5000, batched=True, threads=threads)
        .with_options(deterministic=True, seed=0)
    )
    got, _ = _drain(pipe, ValueError)
    assert [int(v) for v in got] == list(range(5000))


def test_a_nondeterministic_multithreaded_map_delivers_every_valid_unit():
    pipe = cp.range(10_000, chunk_size=50).map(_fail_rows_from_5000, batched=True, threads=3)
    got, _ = _drain(pipe, ValueError)
    assert sorted(int(v) for v in got) == list(range(5000))


def test_deterministic_reader_threads_deliver_every_record_before_a_corrupt_tail(tmp_path):
    per_file = 4100
    for f in range(5):
        rec = np.zeros((per_file, 3073), np.uint8)
        rec[:, 1:5] = np.frombuffer(
            (np.arange(per_file, dtype=np.uint32) + f * per_file).tobytes(), np.uint8
        ).reshape(-1, 4)
        tail = b"\x01\x02" if f == 4 else b""
        (tmp_path / f"d{f}.bin").write_bytes(rec.tobytes() + tail)
    pipe = (
        cp.files(str(tmp_path / "d*.bin"), shuffle=False)
        .read(cv.FixedLengthRecordReader(3073), threads=2, chunk=100)
        .with_options(deterministic=True, seed=0)
    )
    got, err = _drain(pipe, DataLossError)
    assert len(got) == 20_500
    assert "d4.bin" in str(err)


def _exits(x):
    if x == 3:
        sys.exit(7)
    return x


def test_a_function_calling_sys_exit_surfaces_as_an_error_naming_the_stage():
    got, err = _drain(cp.range(10).map(_exits), UnknownError)
    assert [int(v) for v in got] == [0, 1, 2]
    assert "map(_exits)" in str(err) and "SystemExit" in str(err)
    assert isinstance(err.__cause__, SystemExit)


def _ends_at_5(kind):
    def fn(x):
        if x == 5:
            raise (
                StopIteration("five")
                if kind == "StopIteration"
                else CancelledError(None, None, "five")
            )
        return x

    return fn


WHERE_THE_FUNCTION_RUNS = {
    "map": lambda fn: cp.range(20, chunk_size=1).map(fn),
    "map batched": lambda fn: cp.range(20, chunk_size=1).map(fn, batched=True),
    "map, 2 threads": lambda fn: (
        cp.range(20, chunk_size=1).map(fn, threads=2).with_options(deterministic=True, seed=0)
    ),
    "filter": lambda fn: cp.range(20, chunk_size=1).filter(lambda x: fn(x) >= 0),
    "under cache": lambda fn: cp.range(20, chunk_size=1).map(fn).cache(),
    "in a mapped source": lambda fn: (
        cp.from_arrays(np.arange(20))
        .batch(1)
        ._map_batches_in_source(lambda b: fn(int(b[0])), rng=False, threads=1)
    ),
}


@pytest.mark.parametrize("where", WHERE_THE_FUNCTION_RUNS, ids=str)
@pytest.mark.parametrize("kind", ["StopIteration", "CancelledError"])
def test_a_function_raising_end_of_stream_errors_is_an_error_not_an_early_end(kind, where):
    got, err = _drain(WHERE_THE_FUNCTION_RUNS[where](_ends_at_5(kind)), UnknownError)
    assert [int(np.asarray(v).reshape(-1)[0]) for v in got] == [0, 1, 2, 3, 4]
    assert f"raised {kind}(" in str(err) and type(err.__cause__).__name__ == kind
    assert wait_no_runner_threads() == []


def _yields_then_cancels(x):
    yield x
    if x == 5:
        raise CancelledError(None, None, "five")


def _cancelling_source():
    for i in range(10):
        if i == 5:
            raise CancelledError(None, None, "five")
        yield i


@pytest.mark.parametrize(
    "build",
    [
        lambda: cp.range(20, chunk_size=1).flat_map(_yields_then_cancels),
        lambda: cp.from_iterable(_cancelling_source, chunk_size=1),
    ],
    ids=["flat_map's iterable", "from_iterable"],
)
def test_an_iterable_raising_cancelled_error_is_an_error_not_an_early_end(build):
    got, err = _drain(build(), UnknownError)
    assert [int(v) for v in got][:5] == [0, 1, 2, 3, 4] and len(got) in (5, 6)
    assert "raised CancelledError(" in str(err) and isinstance(err.__cause__, CancelledError)
    assert wait_no_runner_threads() == []


def _odd_fails(x):
    if x % 2:
        raise ValueError("odd")
    return x


def test_on_error_skip_drops_failing_elements_and_counts_them():
    pipe = cp.range(100, chunk_size=16).map(_odd_fails, on_error="skip")
    assert [int(v) for v in pipe] == list(range(0, 100, 2))
    (stage,) = [s for s in pipe.stats().stages if s.name == "map(_odd_fails)"]
    assert stage.skipped == 50


def test_a_decode_error_names_the_record_key(tmp_path):
    (tmp_path / "a.txt").write_text("1\n2\nx\n4\n")

    def parse(key, line):
        return int(line)

    pipe = cp.files(str(tmp_path / "a.txt")).read(cv.TextLineReader()).map(parse)
    got, err = _drain(pipe, ValueError)
    assert [int(v) for v in got] == [1, 2]
    assert any("a.txt:3')" in note for note in err.__notes__)  # TF numbers lines from 1
