"""Sources: a batch right after a random-access source is cut by the source itself.

The fused form must give exactly the batches a separate batch stage gives — across
epoch boundaries, with and without ``drop_remainder`` — and resume exactly; a shard or
repeat after it applies to batches, as it would after any batch.
"""

from __future__ import annotations

import numpy as np
import pytest

import conveyor.pipeline as cp
from conveyor.core.seeds import GeneratorSeed
from conveyor.errors import DataLossError, InvalidArgumentError

pytestmark = pytest.mark.timeout(60)


def _unfused(pipe: cp.Pipeline) -> cp.Pipeline:
    # any stage between the source and the batch keeps the batch a stage of its own
    return pipe.filter(lambda x: True)


def _lists(pipe: cp.Pipeline) -> list[list[int]]:
    return [b.tolist() for b in pipe]


@pytest.mark.parametrize("epochs", [1, 3])
@pytest.mark.parametrize("drop", [False, True])
@pytest.mark.parametrize("size", [1, 7, 50, 64])
def test_fused_batches_equal_a_batch_stage_across_epochs(epochs, drop, size):
    source = cp.from_arrays(np.arange(50), shuffle=True, seed=3, epochs=epochs, chunk_size=16)
    fused = source.batch(size, drop_remainder=drop)
    staged = _unfused(source).batch(size, drop_remainder=drop)
    assert fused._stage.name == f"from_arrays+batch({size})"
    assert staged._stage.name == f"batch({size})"
    expected = _lists(staged.with_options(deterministic=True, seed=1))
    assert _lists(fused.with_options(deterministic=True, seed=1)) == expected
    assert len(fused) == len(expected)
    rows = sorted(v for b in expected for v in b)
    if not drop:
        assert rows == sorted(list(range(50)) * epochs)


def test_a_fused_batch_spans_the_epoch_boundary_like_a_batch_stage():
    pipe = cp.from_arrays(np.arange(5), epochs=2).batch(4)
    assert _lists(pipe) == [[0, 1, 2, 3], [4, 0, 1, 2], [3, 4]]
    assert len(pipe) == 3


def test_structured_rows_are_batched_and_owned_by_the_batch():
    x = np.arange(12).reshape(6, 2)
    y = np.arange(6) * 10
    source = cp.from_arrays({"x": x, "y": y})
    (first, second) = list(source.batch(4))
    assert first["x"].tolist() == x[:4].tolist() and first["y"].tolist() == [0, 10, 20, 30]
    assert second["y"].tolist() == [40, 50]
    first["x"][:] = -1  # a batch owns its memory: the source is untouched
    assert x[0].tolist() == [0, 1]
    shuffled = cp.from_arrays({"x": x, "y": y}, shuffle=True, seed=1).batch(4)
    for batch in shuffled:
        assert batch["x"].flags.writeable and not np.shares_memory(batch["x"], x)
        batch["x"][:] = -1
    assert x.tolist() == np.arange(12).reshape(6, 2).tolist()


def test_shard_and_repeat_after_a_fused_batch_apply_to_batches():
    pipe = cp.from_arrays(np.arange(10)).batch(3)
    assert _lists(pipe.shard(1, 2)) == [[3, 4, 5], [9]]
    # repeat after batch: each pass ends with its own short batch (tf.data's order)
    assert _lists(pipe.repeat(2)) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]] * 2
    assert len(pipe.repeat(2)) == 8


def test_an_unshuffled_fused_batch_of_a_range_is_a_slice_of_it():
    assert _lists(cp.range(10).batch(4)) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_an_endless_fused_source_over_nothing_ends():
    assert _lists(cp.from_arrays(np.arange(0), epochs=None).batch(4)) == []


@pytest.mark.parametrize("at", [0, 1, 5, 12, 13])
def test_a_fused_batch_resumes_exactly(at):
    pipe = (
        cp.from_arrays(np.arange(40), shuffle=True, seed=7, epochs=3)
        .batch(9)
        .with_options(deterministic=True, seed=4)
    )
    full = _lists(pipe)
    it = iter(pipe)
    head = [next(it).tolist() for _ in range(at)]
    state = it.state_dict()
    it.close()
    assert head + _lists(pipe.iterate(state)) == full


def test_rows_before_a_damaged_tail_arrive_as_a_short_batch_then_the_error(tmp_path):
    path = tmp_path / "records.bin"
    path.write_bytes(bytes(range(10)) * 3 + b"xyz")  # 3 records of 10 bytes, 3 stray
    pipe = cp.fixed_length_records(str(path), record_bytes=10).batch(2)
    it = iter(pipe)
    assert next(it).shape == (2, 10)
    assert next(it).shape == (1, 10)  # the third record, delivered before the error
    with pytest.raises(DataLossError, match="3 bytes after the last whole record"):
        next(it)


def test_a_shard_of_unshuffled_fixed_length_records_reads_every_count_th_record(tmp_path):
    path = tmp_path / "records.bin"
    path.write_bytes(bytes(range(40)))  # 10 records of 4 bytes: record i starts at 4 * i
    for batched in (False, True):
        pipe = cp.fixed_length_records(str(path), record_bytes=4).shard(1, 3)
        if batched:
            pipe = pipe.map(lambda r: r, batched=True).batch(2)
        rows = np.concatenate(list(pipe)) if batched else np.stack(list(pipe))
        assert rows[:, 0].tolist() == [4, 16, 28]


# -- a map over the batches, run by the source on its threads ---------------------------


def _square(batch):
    return batch * batch


def _noisy(batch, rng):
    return batch * 1000 + rng.integers(0, 1000, size=len(batch))


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("drop", [False, True])
def test_batches_mapped_in_the_source_equal_a_map_stage_in_order(threads, drop):
    source = cp.from_arrays(np.arange(50), shuffle=True, seed=3, epochs=3).batch(7, drop)
    mapped = source._map_batches_in_source(_square, rng=False, threads=threads)
    assert mapped._stage.name == "from_arrays+batch(7)+map(_square)"
    expected = _lists(source.map(_square).with_options(deterministic=True, seed=1))
    assert _lists(mapped.with_options(deterministic=True, seed=1)) == expected
    assert len(mapped) == len(expected) == (21 if drop else 22)


def test_a_mapped_source_draws_the_same_numbers_whatever_its_threads():
    source = cp.from_arrays(np.arange(30), shuffle=True, seed=5, epochs=2).batch(4)
    runs = [
        _lists(
            source._map_batches_in_source(_noisy, rng=True, threads=t).with_options(
                deterministic=True, seed=9
            )
        )
        for t in (1, 2, 3)
    ]
    assert runs[0] == runs[1] == runs[2]
    assert sorted(v // 1000 for b in runs[0] for v in b) == sorted(list(range(30)) * 2)
    other = source._map_batches_in_source(_noisy, rng=True, threads=2)
    assert _lists(other.with_options(deterministic=True, seed=10)) != runs[0]


def test_a_mapped_source_with_rng_seed_passes_the_seed_of_the_generator_it_would_pass():
    seen: dict[str, list] = {"seed": [], "generator": []}

    def probe(kind):
        def fn(batch, rng):
            seen[kind].append(rng)
            return batch

        return fn

    source = cp.from_arrays(np.arange(12), shuffle=True, seed=2, epochs=2).batch(5)
    for kind, rng in (("seed", "seed"), ("generator", True)):
        pipe = source._map_batches_in_source(probe(kind), rng=rng, threads=1)
        _lists(pipe.with_options(deterministic=True, seed=6))
    seeds, generators = seen["seed"], seen["generator"]
    assert all(isinstance(s, GeneratorSeed) and s.compiled for s in seeds)
    # the stage's index, then each batch's epoch and end position in the stream
    assert [s.spawn_key for s in seeds] == [(0, 0, 5), (0, 0, 10), (0, 1, 3), (0, 1, 8), (0, 2, 0)]
    assert [s.generator().bit_generator.state for s in seeds] == [
        g.bit_generator.state for g in generators
    ]
    assert seeds == [GeneratorSeed(6, s.spawn_key) for s in seeds]  # the run's seed, 6


def test_rng_seed_and_rng_true_have_one_fingerprint_so_saved_states_carry_over():
    source = cp.from_arrays(np.arange(12), shuffle=True, seed=2).batch(5)._stage
    seeded = source.with_map(_noisy, rng="seed", threads=2).describe()
    assert seeded == source.with_map(_noisy, rng=True, threads=2).describe()
    assert seeded != source.with_map(_noisy, rng=False, threads=2).describe()


def test_a_mapped_source_refuses_another_rng():
    source = cp.from_arrays(np.arange(12)).batch(5)._stage
    with pytest.raises(InvalidArgumentError, match='rng must be True, False or "seed"'):
        source.with_map(_square, rng="yes", threads=1)


def test_a_map_in_the_source_that_cannot_fuse_gives_rng_seed_a_generator():
    pipe = _unfused(cp.from_arrays(np.arange(6))).batch(4)
    mapped = pipe._map_batches_in_source(_noisy, rng="seed", threads=1)
    assert mapped._stage.name == "map(_noisy)"
    assert [v // 1000 for b in _lists(mapped) for v in b] == list(range(6))


@pytest.mark.parametrize("at", [0, 1, 6, 14, 15])
def test_a_mapped_source_resumes_exactly(at):
    pipe = (
        cp.from_arrays(np.arange(40), shuffle=True, seed=7, epochs=3)
        .batch(8)
        ._map_batches_in_source(_noisy, rng=True, threads=2)
        .with_options(deterministic=True, seed=4)
    )
    full = _lists(pipe)
    assert len(full) == 15
    it = iter(pipe)
    head = [next(it).tolist() for _ in range(at)]
    state = it.state_dict()
    it.close()
    assert head + _lists(pipe.iterate(state)) == full


def test_a_failing_map_in_the_source_delivers_every_batch_before_it_then_the_error():
    def fn(batch):
        if 13 in batch:
            raise ValueError("thirteen")
        return batch

    pipe = (
        cp.from_arrays(np.arange(40), epochs=1)
        .batch(5)
        ._map_batches_in_source(fn, rng=False, threads=2)
        .with_options(deterministic=True, seed=0)
    )
    got = []
    with pytest.raises(ValueError, match="thirteen") as caught:
        for batch in pipe:
            got.append(batch.tolist())
    assert got == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    assert "from_arrays+batch(5)+map(fn)" in str(caught.value) + "".join(
        getattr(caught.value, "__notes__", [])
    )


def test_a_map_in_the_source_falls_back_to_a_map_stage_where_it_cannot_fuse():
    pipe = _unfused(cp.from_arrays(np.arange(6))).batch(4)
    mapped = pipe._map_batches_in_source(_square, rng=False, threads=2)
    assert mapped._stage.name == "map(_square)"
    assert _lists(mapped) == [[0, 1, 4, 9], [16, 25]]
