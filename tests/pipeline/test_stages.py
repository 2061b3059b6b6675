"""The tf.data and Grain vocabulary: len, skip, zip, concatenate, flat_map, enumerate,
cache, repeat anywhere, mix; seeded map randomness; ragged elements; validation."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import conveyor as cv
import conveyor.pipeline as cp
from conveyor.errors import InvalidArgumentError

pytestmark = pytest.mark.timeout(60)


def test_len_and_cardinality_where_known():
    assert len(cp.range(10).batch(3)) == 4
    assert len(cp.range(10).batch(3, drop_remainder=True)) == 3
    assert len(cp.from_arrays(np.zeros((7, 2)), epochs=3).take(5)) == 5
    assert len(cp.range(10).skip(4)) == 6
    assert cp.range(10).filter(lambda x: x > 2).cardinality() == cp.UNKNOWN
    assert cp.range(3, epochs=None).cardinality() == cp.INFINITE
    with pytest.raises(TypeError, match="infinite"):
        len(cp.range(3, epochs=None))


def test_skip_take_enumerate():
    assert [int(v) for v in cp.range(10, chunk_size=3).skip(4).take(3)] == [4, 5, 6]
    assert [(int(i), int(v)) for i, v in cp.range(5, 8).enumerate(start=10)] == [
        (10, 5),
        (11, 6),
        (12, 7),
    ]


def test_zip_and_concatenate():
    a, b = cp.range(5, chunk_size=2), cp.range(100, 103, chunk_size=3)
    assert [(int(x), int(y)) for x, y in a.zip(b)] == [(0, 100), (1, 101), (2, 102)]
    assert [int(v) for v in cp.concatenate(cp.range(2), cp.range(10, 12))] == [0, 1, 10, 11]


def test_flat_map_of_iterables_and_pipelines():
    assert [int(v) for v in cp.range(3).flat_map(lambda x: [x] * int(x))] == [1, 2, 2]
    nested = cp.range(3).batch(1).flat_map(lambda b: cp.range(int(b[0]) * 10, int(b[0]) * 10 + 2))
    assert [int(v) for v in nested] == [0, 1, 10, 11, 20, 21]


def test_repeat_after_a_shuffle_reshuffles_each_epoch():
    pipe = cp.range(50).shuffle(50, chunk=10).repeat(2).with_options(seed=1)
    out = [int(v) for v in pipe]
    first, second = out[:50], out[50:]
    assert sorted(first) == sorted(second) == list(range(50)) and first != second


def test_memory_cache_serves_later_runs_without_running_upstream():
    calls = []

    def count(x):
        calls.append(len(x))
        return x

    pipe = cp.range(100, chunk_size=10).map(count, batched=True).cache()
    assert [int(v) for v in pipe] == list(range(100))
    assert [int(v) for v in pipe.repeat(2)] == list(range(100)) * 2
    assert sum(calls) == 100


def test_file_cache_is_written_whole_and_read_back(tmp_path):
    path = tmp_path / "cache.bin"
    pipe = cp.range(30_000, chunk_size=7).map(lambda x: x * 2, batched=True).cache(path)
    it = iter(pipe)
    next(it)
    it.close()  # an early stop caches nothing
    assert not path.exists()
    assert [int(v) for v in pipe] == list(range(0, 60_000, 2))
    assert path.exists()
    again = cp.range(30_000, chunk_size=7).map(lambda x: -x, batched=True).cache(path)
    assert [int(v) for v in again] == list(range(0, 60_000, 2))  # served from the file


def _runner_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("QueueRunnerThread")}


@pytest.mark.parametrize("nest", ["cache", "cache(path)", "repeat"])
def test_an_early_stop_of_a_nested_pipeline_stops_the_inner_runs_threads(nest, tmp_path):
    before = _runner_threads()
    inner = cp.range(30_000, chunk_size=7).map(lambda x: x * 2, batched=True)
    pipe = {
        "cache": lambda: inner.cache(),
        "cache(path)": lambda: inner.cache(tmp_path / "c.bin"),
        "repeat": lambda: inner.repeat(3),  # after a map: a nested run per epoch
    }[nest]()
    it = iter(pipe)
    assert int(next(it)) == 0  # the outer stage now waits in the inner run's next()
    it.close()
    deadline = time.monotonic() + 5
    while _runner_threads() - before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sorted(t.name for t in _runner_threads() - before) == []
    if nest.startswith("cache"):  # a cut-off pass is not a complete one: nothing cached
        assert pipe._stage.store.units is None
        assert not (tmp_path / "c.bin").exists()
        assert [int(v) for v in pipe][-3:] == [59_994, 59_996, 59_998]


def _shuffled_cache(n: int = 30, path=None) -> cp.Pipeline:
    return (
        cp.range(n, chunk_size=7)
        .shuffle(n, chunk=10)
        .cache(path)
        .with_options(seed=5, deterministic=True)
    )


@pytest.mark.parametrize("cut", [0, 3, 15, 29, 30, 35, 45, 59])
def test_a_cache_under_repeat_resumes_exactly_in_a_new_pipeline_object(cut):
    # the state of a run that has filled its memory cache resumes where the cache is gone
    full = [int(v) for v in _shuffled_cache().repeat(2)]
    assert full[:30] == full[30:] and sorted(full[:30]) == list(range(30))
    it = iter(_shuffled_cache().repeat(2))
    head = [int(next(it)) for _ in range(cut)]
    state = it.state_dict()
    it.close()
    assert head + [int(v) for v in _shuffled_cache().repeat(2).iterate(state)] == full


@pytest.mark.parametrize("cut", [0, 4, 17, 29])
@pytest.mark.parametrize("where", ["memory", "file, deleted"])
def test_a_serving_cache_resumes_exactly_where_its_store_is_gone(cut, where, tmp_path):
    path = None if where == "memory" else tmp_path / "c.bin"
    pipe = _shuffled_cache(path=path)
    first = [int(v) for v in pipe]  # fills the cache
    it = iter(pipe)  # served from it
    head = [int(next(it)) for _ in range(cut)]
    state = it.state_dict()
    it.close()
    if path is not None:
        path.unlink()
    fresh = _shuffled_cache(path=path)
    assert head + [int(v) for v in fresh.iterate(state)] == first
    assert fresh._stage.store.units is not None  # filled again, whole


def _unseeded_cache(path=None) -> cp.Pipeline:
    return (
        cp.range(20, chunk_size=5).shuffle(20, chunk=5).cache(path).with_options(deterministic=True)
    )


@pytest.mark.parametrize("repeat", [False, True], ids=["cache", "cache().repeat(2)"])
@pytest.mark.parametrize("cut", [0, 1, 3, 5, 7, 12, 19])
def test_an_unseeded_cache_resumes_with_the_seed_that_filled_it(cut, repeat):
    # filled by one run's drawn seed, served by another's: the state names the first,
    # also where no unit was whole yet (the state's "caches")
    def make():
        return _unseeded_cache().repeat(2) if repeat else _unseeded_cache()

    pipe = make()
    [int(v) for v in pipe]  # fills the cache
    served = [int(v) for v in pipe]
    it = iter(pipe)
    head = [int(next(it)) for _ in range(cut)]
    state = it.state_dict()
    it.close()
    assert head + [int(v) for v in make().iterate(state)] == served


def test_a_cache_file_keeps_the_seed_that_made_it(tmp_path):
    path = tmp_path / "c.bin"
    made = [int(v) for v in _unseeded_cache(path).with_options(seed=1)]
    served = _unseeded_cache(path).with_options(seed=5)  # loads the file: seed 1's pass
    it = iter(served)
    head = [int(next(it)) for _ in range(9)]
    state = it.state_dict()
    it.close()
    path.unlink()
    assert head + [int(v) for v in _unseeded_cache(path).iterate(state)] == made
    assert path.exists()  # made again, whole


def test_a_cache_inside_a_cache_is_filled_again_with_its_own_seed():
    def nested():
        inner = cp.range(20, chunk_size=4).shuffle(20, chunk=4).cache()
        return inner.shuffle(20, chunk=4).cache().with_options(deterministic=True)

    pipe = nested()
    filled = [int(v) for v in pipe]
    for cut in (5, 9, 13):
        it = iter(pipe)
        head = [int(next(it)) for _ in range(cut)]
        state = it.state_dict()
        it.close()
        assert head + [int(v) for v in nested().iterate(state)] == filled, cut


def test_a_state_of_a_served_cache_of_an_endless_pipeline_is_refused(tmp_path):
    path = tmp_path / "c.bin"
    [int(v) for v in cp.range(6, chunk_size=2).cache(path)]  # a whole pass, on file
    endless = cp.range(6, chunk_size=2, epochs=None).cache(path)
    it = iter(endless)
    next(it), next(it), next(it)
    state = it.state_dict()
    it.close()
    path.unlink()
    with pytest.raises(InvalidArgumentError, match="endless"):
        list(cp.range(6, chunk_size=2, epochs=None).cache(path).iterate(state))


def test_mix_draws_rows_not_whole_chunks():
    out = cp.mix([cp.range(0, 1000), cp.range(1000, 2000)], seed=3).collect()
    assert sorted(out.tolist()) == list(range(2000))
    first = (out[:200] < 1000).astype(int)
    switches = int(np.abs(np.diff(first)).sum())
    assert switches > 50  # element-level mixing, not a switch per 1,024-element chunk
    again = cp.mix([cp.range(0, 1000), cp.range(1000, 2000)], seed=3).collect()
    assert again.tolist() == out.tolist()
    with pytest.raises(InvalidArgumentError, match="weights"):
        cp.mix([cp.range(3), cp.range(3)], weights=[1, -1])


def _augment(x, rng):
    return x + rng.integers(0, 1000, size=x.shape)


@pytest.mark.parametrize("workers", ["thread", "process"])
def test_map_rng_is_reproducible_across_threads_workers_and_resume(workers):
    def build(threads, seed=0):
        return (
            cp.range(2000, chunk_size=50)
            .map(_augment, batched=True, threads=threads, rng=True, workers=workers)
            .batch(100)
            .with_options(deterministic=True, seed=seed)
        )

    one = [b.tolist() for b in build(1)]
    assert one == [b.tolist() for b in build(3)]
    assert one != [b.tolist() for b in build(1, seed=1)]
    it = iter(build(2))
    for _ in range(7):
        next(it)
    state = it.state_dict()
    it.close()
    assert [b.tolist() for b in build(2).iterate(state)] == one[7:]


def test_ragged_images_flow_through_shuffle_and_padded_batch(tmp_path):
    sizes = [(32, 32)] * 7 + [(40, 30)] + [(32, 32)] * 8
    for i, (h, w) in enumerate(sizes):
        (tmp_path / f"{i:02d}.npy").write_bytes(np.full((h, w), i + 1, np.uint8).tobytes())
    shapes = dict(enumerate(sizes))

    def decode(key, value):
        i = int(key.decode().rsplit("/", 1)[1][:2])
        return np.frombuffer(value, np.uint8).reshape(shapes[i])

    for shuffle in (False, True):
        pipe = cp.files(str(tmp_path / "*.npy"), shuffle=False).read(cv.WholeFileReader())
        pipe = pipe.map(decode)
        if shuffle:
            pipe = pipe.shuffle(4, seed=0)
        (batch,) = list(pipe.batch(16, pad=True))
        assert batch.shape == (16, 40, 32)
        assert sorted(int(b[0, 0]) for b in batch) == list(range(1, 17))
    with pytest.raises(InvalidArgumentError, match=r"batch\(16\).*pad=True"):
        list(
            cp.files(str(tmp_path / "*.npy"), shuffle=False)
            .read(cv.WholeFileReader())
            .map(decode)
            .batch(16)
        )


@pytest.mark.parametrize("chunk", [1, 4, 1024])
def test_any_chunking_gives_the_same_elements(chunk):
    assert [
        int(v) for v in cp.range(20, chunk_size=chunk).map(lambda x: x + 1).batch(8).unbatch()
    ] == list(range(1, 21))


def test_functions_cannot_change_the_source_arrays():
    data = np.arange(10)

    def double(x):
        x *= 2
        return x

    with pytest.raises(ValueError, match="read-only"):
        list(cp.from_arrays(data, epochs=2).map(double, batched=True))
    assert data.tolist() == list(range(10))


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: cp.range(3).shuffle(3, chunk=2.5), "chunk must be a positive int"),
        (lambda: cp.range(3).batch(0), "batch_size must be a positive int"),
        (lambda: cp.range(3).prefetch(2**40), "prefetch count must be <="),
        (lambda: cp.range(0, 2**63 + 5, 2**62), "stop must be <="),
        (lambda: cp.range(3).take(-1), "take count must be an int >= 0"),
        (lambda: cp.range(3).with_options(seed="abc"), "seed must be an int >= 0"),
    ],
)
def test_bad_arguments_fail_when_the_pipeline_is_built(build, message):
    with pytest.raises(InvalidArgumentError, match=message):
        build()


def test_read_threads_are_validated_at_construction(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"\0" * 8)
    with pytest.raises(InvalidArgumentError, match="threads must be a positive int"):
        cp.files(str(tmp_path / "a.bin")).read(cv.FixedLengthRecordReader(4), threads=2.5)


def test_a_huge_shuffle_pool_is_a_bound_not_an_allocation():
    out = [int(v) for v in cp.range(1000).shuffle(10**8, seed=0)]
    assert sorted(out) == list(range(1000))


def test_a_stage_of_ones_own_through_apply():
    class AddRow(cp.Stage):
        name = "add_row"

        def process(self, unit, out):
            out.emit(unit.data + 1)

    pipe = cp.range(4).apply(AddRow())
    assert [int(v) for v in pipe] == [1, 2, 3, 4]
    assert "add_row" in [s.name for s in pipe.stats().stages]
