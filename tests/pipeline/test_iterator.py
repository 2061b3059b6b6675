"""Runs and their state: one iterator per run, resume bounded by the buffers."""

from __future__ import annotations

import json
import random
import threading
import time

import numpy as np
import pytest

import conveyor as cv
import conveyor.pipeline as cp
from conveyor.errors import InvalidArgumentError
from helpers import wait_no_runner_threads

pytestmark = pytest.mark.timeout(60)


def test_two_iterators_over_one_pipeline_are_two_complete_runs():
    pipe = cp.range(100_000, chunk_size=100).map(lambda x: x + 1, batched=True).batch(1000)
    a, b = iter(pipe), iter(pipe)
    got_a = [int(next(a).sum()) for _ in range(3)]
    got_b = [int(x.sum()) for x in b]
    got_a += [int(x.sum()) for x in a]
    assert len(got_a) == len(got_b) == 100
    assert sum(got_a) == sum(got_b) == sum(range(1, 100_001))
    assert wait_no_runner_threads() == []


def test_two_threads_iterating_one_pipeline_each_get_everything():
    pipe = cp.from_arrays(np.arange(20_000), chunk_size=64).batch(100)
    results: list[int] = []

    def consume() -> None:
        results.append(int(sum(int(b.sum()) for b in pipe)))

    threads = [threading.Thread(target=consume) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [sum(range(20_000))] * 2


def test_an_element_kind_error_is_raised_when_the_pipeline_is_built(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"x")
    with pytest.raises(InvalidArgumentError, match=r"map.*cannot follow files\(\)"):
        cp.files(str(tmp_path / "a.bin")).map(lambda x: x)
    with pytest.raises(InvalidArgumentError, match="unbatch needs batches"):
        cp.range(3).unbatch()


def _cifar_files(tmp_path, files=5, per_file=10_000):
    rng = np.random.default_rng(0)
    for f in range(files):
        rec = rng.integers(0, 256, (per_file, 3073), dtype=np.uint8)
        rec[:, 1:5] = np.frombuffer(
            (np.arange(per_file, dtype=np.uint32) + f * per_file).tobytes(), np.uint8
        ).reshape(-1, 4)
        (tmp_path / f"data_batch_{f}.bin").write_bytes(rec.tobytes())
    return str(tmp_path / "data_batch_*.bin")


def _ids(values):
    return np.ascontiguousarray(values[:, 1:5]).view(np.uint32).ravel().tolist()


def _indexed(pattern, epochs=20):
    return (
        cp.fixed_length_records(pattern, 3073, shuffle=True, epochs=epochs)
        .batch(128)
        .with_options(deterministic=True, seed=5)
    )


def test_index_shuffled_source_is_an_exact_permutation_per_epoch(tmp_path):
    pattern = _cifar_files(tmp_path, files=3, per_file=500)
    epochs = []
    for s in (1, 1, 2):
        pipe = cp.fixed_length_records(pattern, 3073, shuffle=True, seed=s).batch(100)
        epochs.append([i for b in pipe for i in _ids(b)])
    assert sorted(epochs[0]) == list(range(1500))
    assert epochs[0] == epochs[1] != epochs[2]
    assert epochs[0] != sorted(epochs[0])


def test_restoring_an_index_shuffled_source_is_flat_in_the_position(tmp_path):
    pattern = _cifar_files(tmp_path)
    pipe = _indexed(pattern)
    per_epoch = -(-50_000 // 128)
    for epochs_done in (1, 5, 19):
        state = {
            "version": 2,
            "fingerprint": pipe._fingerprint(),
            "seed": 5,
            "deterministic": True,
            # the batch right after the source is cut by the source itself
            "mark": {"s": {"epoch": epochs_done, "pos": 0}, "p": [], "n": 0},
            "skip": 0,
        }
        t0 = time.perf_counter()
        it = pipe.iterate(state)
        first = next(it)
        took = time.perf_counter() - t0
        it.close()
        assert first.shape == (128, 3073)
        assert took < 1.0  # flat: no replay of the epochs before (timed in benchmarks/)
    assert per_epoch == 391


@pytest.mark.parametrize("threads", [1, 3])
def test_resume_at_random_points_yields_exactly_the_rest(tmp_path, threads):
    pattern = _cifar_files(tmp_path, files=3, per_file=300)

    def build():
        return (
            cp.files(pattern, shuffle=True, epochs=2)
            .read(cv.FixedLengthRecordReader(3073), threads=threads, chunk=32)
            .map(lambda k, v: (v[:, 1:5].copy(), v[:, 0].copy()), batched=True, threads=threads)
            .shuffle(100)
            .batch(25)
            .with_options(deterministic=True, seed=3)
        )

    full = [b[0].tobytes() for b in build()]
    rng = random.Random(threads)
    for at in sorted(rng.sample(range(1, len(full)), 10)):
        it = iter(build())
        for _ in range(at):
            next(it)
        state = json.loads(json.dumps(it.state_dict()))
        it.close()
        assert [b[0].tobytes() for b in build().iterate(state)] == full[at:], at


def test_resume_inside_a_chunk_of_an_unbatched_stream():
    pipe = cp.range(1000, chunk_size=64).map(lambda x: x * 3).with_options(deterministic=True)
    for at in (0, 1, 63, 64, 65, 999):
        it = iter(pipe)
        head = [int(next(it)) for _ in range(at)]
        state = it.state_dict()
        it.close()
        rest = [int(v) for v in pipe.iterate(state)]
        assert head + rest == [3 * i for i in range(1000)]


def test_iterator_load_state_dict_restarts_it_and_refuses_bad_states():
    pipe = (
        cp.from_arrays(np.arange(50), shuffle=True, seed=1)
        .batch(5)
        .with_options(deterministic=True, seed=2)
    )
    full = [b.tolist() for b in pipe]
    it = iter(pipe)
    next(it), next(it)
    state = it.state_dict()
    it.load_state_dict(state)
    assert [b.tolist() for b in it] == full[2:]
    with pytest.raises(InvalidArgumentError, match="seed"):
        it.load_state_dict(dict(state, seed="abc"))
    with pytest.raises(InvalidArgumentError, match=r"stage 0 is .*batch=\(5, False\)"):
        cp.from_arrays(np.arange(50), shuffle=True, seed=1).batch(10).iterate(state)


def test_a_pool_shuffle_over_a_stream_resumes_exactly_without_replaying_the_run():
    def build():
        return (
            cp.from_iterable(lambda: iter(range(20_000)), chunk_size=50)
            .shuffle(500, chunk=20)
            .batch(50)
            .with_options(deterministic=True, seed=9)
        )

    full = [b.tolist() for b in build()]
    it = iter(build())
    for _ in range(300):
        next(it)
    state = it.state_dict()
    it.close()
    assert [b.tolist() for b in build().iterate(state)] == full[300:]
    # The iterable source resumes from the oldest unit in the pool's snapshot.
    source_mark = state["mark"]["p"][0]["p"][0]
    assert source_mark["s"]["count"] > 10_000


@pytest.mark.timeout(120)
@pytest.mark.parametrize("pool", [0, 500, 2000])
def test_a_pool_shuffle_resumes_exactly_at_every_position(pool):
    # Positions just before, at and after the pool's snapshots, and between them.
    def build():
        return (
            cp.from_iterable(lambda: iter(range(6_000)), chunk_size=64)
            .shuffle(pool, chunk=32)
            .batch(50)
            .with_options(deterministic=True, seed=3)
        )

    full = [b.tolist() for b in build()]
    for at in range(1, len(full), 9):
        it = iter(build())
        for _ in range(at):
            next(it)
        state = it.state_dict()
        it.close()
        assert [b.tolist() for b in build().iterate(state)] == full[at:], at


def test_with_iterator_as_context_manager_stops_its_threads():
    with iter(cp.range(10**9)) as it:
        next(it)
    assert wait_no_runner_threads() == []
    assert list(it) == []
