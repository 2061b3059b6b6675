"""The Pipeline: what it yields, how it stops, errors, exactly-once, determinism, resume."""

from __future__ import annotations

import collections
import gc
import json
import threading
import time
import traceback

import numpy as np
import pytest

import conveyor.pipeline as cp
from conveyor.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from helpers import wait_no_runner_threads

pytestmark = pytest.mark.timeout(60)


# -- what it yields ---------------------------------------------------------------


def test_from_arrays_yields_rows_in_order_with_their_structure():
    x = np.arange(10)
    pipe = cp.from_arrays({"x": x, "pair": (x * 2, x.astype(np.float32))}, chunk_size=3)
    out = list(pipe)
    assert len(out) == 10
    assert [int(e["x"]) for e in out] == list(range(10))
    assert [int(e["pair"][0]) for e in out] == list(range(0, 20, 2))
    assert out[3]["pair"][1].dtype == np.float32


def test_map_batched_and_per_element_agree_and_batch_cuts_exact_sizes():
    pipe_a = cp.from_arrays(np.arange(23), chunk_size=5).map(lambda v: v * v, batched=True).batch(7)
    pipe_b = cp.from_arrays(np.arange(23), chunk_size=4).map(lambda v: v * v).batch(7)
    a = [b.tolist() for b in pipe_a]
    b = [b.tolist() for b in pipe_b]
    assert a == b
    assert [len(x) for x in a] == [7, 7, 7, 2]
    assert [v for batch in a for v in batch] == [i * i for i in range(23)]


def test_batch_drop_remainder_drops_the_short_last_batch():
    out = [b.tolist() for b in cp.range(10).batch(4, drop_remainder=True)]
    assert out == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_tuple_elements_become_function_arguments():
    pipe = cp.from_arrays((np.arange(4), np.arange(4) * 10)).map(lambda a, b: a + b)
    assert [int(v) for v in pipe] == [0, 11, 22, 33]


def test_filter_per_element_and_batched():
    odd = [int(v) for v in cp.range(20, chunk_size=6).filter(lambda v: v % 2 == 1)]
    assert odd == list(range(1, 20, 2))
    big = [int(v) for v in cp.range(20, chunk_size=6).filter(lambda v: v >= 15, batched=True)]
    assert big == [15, 16, 17, 18, 19]


def test_filter_after_batch_drops_whole_batches():
    pipe = cp.range(12).batch(3).filter(lambda b: b[0] % 2 == 0)
    assert [b.tolist() for b in pipe] == [[0, 1, 2], [6, 7, 8]]


def test_batch_pads_variable_shapes_only_when_asked():
    def ragged():
        for n in [1, 3, 2, 0]:
            yield np.arange(n, dtype=np.int32) + 1

    padded = list(cp.from_iterable(ragged).batch(4, pad=True))
    assert len(padded) == 1
    assert padded[0].tolist() == [[1, 0, 0], [1, 2, 3], [1, 2, 0], [0, 0, 0]]
    with pytest.raises(InvalidArgumentError, match="different shapes"):
        list(cp.from_iterable(ragged).batch(4))
    assert wait_no_runner_threads() == []


def test_unbatch_restores_the_elements():
    out = [int(v) for v in cp.range(10).batch(4).map(lambda b: b + 100).unbatch()]
    assert out == list(range(100, 110))


def test_take_stops_early_and_shuts_the_upstream_down():
    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    out = [int(v) for v in cp.from_iterable(endless, chunk_size=4).map(lambda v: v + 1).take(10)]
    assert out == list(range(1, 11))
    assert wait_no_runner_threads() == []
    assert len(produced) < 200  # the source stopped soon after take had enough


def test_repeat_and_epochs_on_sources():
    assert [int(v) for v in cp.range(3).repeat(2)] == [0, 1, 2, 0, 1, 2]
    assert [int(v) for v in cp.from_arrays(np.arange(2), epochs=2).repeat(2)] == [0, 1] * 4
    # After other stages each epoch is a fresh run of them.
    assert [int(v) for v in cp.range(3).map(lambda v: v * 2).repeat(2)] == [0, 2, 4] * 2


def test_from_iterable_epochs_need_a_reiterable():
    assert [int(v) for v in cp.from_iterable([5, 6], epochs=2)] == [5, 6, 5, 6]
    with pytest.raises(InvalidArgumentError, match="consumed once"):
        cp.from_iterable(iter([1, 2]), epochs=2)


def test_range_matches_python_range():
    assert [int(v) for v in cp.range(3, 20, 4)] == list(range(3, 20, 4))
    assert [int(v) for v in cp.range(5, 0, -2)] == [5, 3, 1]


def test_interleave_joins_every_element_of_its_inputs():
    a = cp.range(0, 50)
    b = cp.range(100, 130)
    out = [int(v) for v in a.interleave(b)]
    assert sorted(out) == list(range(0, 50)) + list(range(100, 130))


def test_deterministic_interleave_alternates_units():
    a = cp.range(0, 4, chunk_size=2)
    b = cp.range(10, 14, chunk_size=2)
    out = [int(v) for v in cp.interleave(a, b).with_options(deterministic=True)]
    assert out == [0, 1, 10, 11, 2, 3, 12, 13]


def test_shard_splits_each_epoch_exactly_across_ranks():
    ranks = [
        [int(v) for v in cp.from_arrays(np.arange(30), shuffle=True, seed=5, epochs=2).shard(r, 4)]
        for r in range(4)
    ]
    everything = [v for r in ranks for v in r]
    assert collections.Counter(everything) == collections.Counter(list(range(30)) * 2)
    assert all(
        set(r[: len(r) // 2]).isdisjoint(s[: len(s) // 2])
        for r in ranks
        for s in ranks
        if r is not s
    )


def test_shard_after_a_map_keeps_every_count_th_element():
    out = [int(v) for v in cp.range(20).map(lambda v: v).shard(1, 3)]
    assert out == list(range(1, 20, 3))


def test_prefetch_bounds_how_far_the_last_stage_runs_ahead():
    produced = []

    def slow_consumer_source():
        for i in range(1000):
            produced.append(i)
            yield i

    it = iter(cp.from_iterable(slow_consumer_source, chunk_size=1).prefetch(2))
    assert int(next(it)) == 0
    time.sleep(0.3)
    assert len(produced) <= 5  # 2 queued, one in hand, one being enqueued
    it.close()
    assert wait_no_runner_threads() == []


def test_bad_arguments_are_rejected_when_the_pipeline_is_built():
    with pytest.raises(InvalidArgumentError):
        cp.range(5).batch(0)
    with pytest.raises(InvalidArgumentError):
        cp.range(5).map(lambda v: v, threads=0)
    with pytest.raises(InvalidArgumentError):
        cp.range(5).shard(3, 3)
    with pytest.raises(InvalidArgumentError):
        cp.range(5).prefetch(0)
    with pytest.raises(InvalidArgumentError):
        cp.from_arrays((np.arange(3), np.arange(4)))
    with pytest.raises(NotFoundError, match="no files match"):
        cp.files("/nonexistent/dir/*.bin")


# -- lifecycle ---------------------------------------------------------------------


def test_finishing_iteration_joins_every_thread():
    assert len(list(cp.range(1000).map(lambda v: v, threads=3).batch(10))) == 100
    assert wait_no_runner_threads() == []


def test_break_stops_every_thread_within_a_second():
    for item in (
        cp.range(None, epochs=None) if False else cp.range(10**9).map(lambda v: v, threads=2)
    ):
        if int(item) == 5:
            break
    assert wait_no_runner_threads(1.0) == []


def test_an_exception_in_the_loop_body_stops_every_thread():
    with pytest.raises(ZeroDivisionError):
        for item in cp.range(10**9).map(lambda v: v, threads=2).batch(8):
            if item[0] >= 80:
                raise ZeroDivisionError("in the loop body")
    assert wait_no_runner_threads(1.0) == []


def test_keyboard_interrupt_in_the_loop_body_stops_every_thread():
    with pytest.raises(KeyboardInterrupt):
        for _ in cp.range(10**9).shuffle(1000):
            raise KeyboardInterrupt
    assert wait_no_runner_threads(1.0) == []


def test_a_garbage_collected_iterator_stops_its_threads():
    it = iter(cp.range(10**9).map(lambda v: v + 1, threads=2))
    assert int(next(it)) == 1
    del it
    gc.collect()
    assert wait_no_runner_threads(1.0) == []


_FAILED_AT: list[float] = []


def _exploding_stage(v):
    if int(v[0]) >= 500:
        _stage_failure()
    return v


def _stage_failure():
    _FAILED_AT.append(time.monotonic())
    raise ValueError("stage failed")


def test_a_stage_error_reaches_the_consumer_with_its_traceback_quickly():
    _FAILED_AT.clear()
    pipe = cp.range(10**6, chunk_size=100).map(_exploding_stage, batched=True, threads=2)
    got = 0
    with pytest.raises(ValueError, match="stage failed") as info:
        for _ in pipe:
            got += 1
    assert time.monotonic() - _FAILED_AT[0] < 1.0
    assert got <= 500  # nothing after the failing chunk was delivered
    names = [f.name for f in traceback.extract_tb(info.value.__traceback__)]
    assert "_stage_failure" in names and "_exploding_stage" in names
    assert wait_no_runner_threads() == []


def test_error_latency_is_under_100_ms_when_the_consumer_is_waiting():
    gate = threading.Event()

    def slow_then_fail(v):
        gate.wait(5)
        raise RuntimeError("late failure")

    it = iter(cp.range(10).map(slow_then_fail))
    box = {}

    def consume():
        try:
            next(it)
        except RuntimeError as e:
            box["t"] = time.monotonic()
            box["e"] = e

    t = threading.Thread(target=consume)
    t.start()
    time.sleep(0.1)
    t0 = time.monotonic()
    gate.set()
    t.join(5)
    assert str(box["e"]) == "late failure"
    assert box["t"] - t0 < 0.1


# -- exactly once, determinism, resume ----------------------------------------------


@pytest.mark.timeout(120)
def test_every_record_appears_exactly_once_per_epoch_with_many_threads():
    n = 1_000_000
    pipe = (
        cp.from_arrays(np.arange(n), shuffle=True, seed=0, epochs=3, chunk_size=4096)
        .map(lambda v: v, batched=True, threads=8)
        .shuffle(10_000)
        .batch(4096)
    )
    seen = np.concatenate(list(pipe))
    assert len(seen) == 3 * n
    counts = np.bincount(seen, minlength=n)
    assert (counts == 3).all()


def _noisy(v):
    time.sleep(np.random.default_rng().random() * 0.002)  # perturb thread timing
    return v * 3


def _det_pipeline(map_threads: int) -> cp.Pipeline:
    return (
        cp.from_arrays(np.arange(3000), shuffle=True, epochs=2, chunk_size=50)
        .map(_noisy, batched=True, threads=map_threads)
        .shuffle(500)
        .batch(64)
        .with_options(deterministic=True, seed=1234)
    )


def test_deterministic_output_does_not_depend_on_thread_counts_or_timing():
    runs = [[b.tolist() for b in _det_pipeline(t)] for t in (1, 4, 4)]
    assert runs[0] == runs[1] == runs[2]
    other = [b.tolist() for b in _det_pipeline(1).with_options(seed=99)]
    assert other != runs[0]


def test_resume_from_a_state_mid_epoch_yields_exactly_the_rest():
    full = [b.tolist() for b in _det_pipeline(3)]
    pipe = _det_pipeline(3)
    it = iter(pipe)
    head = [next(it).tolist() for _ in range(30)]
    state = it.state_dict()
    it.close()
    assert head == full[:30]

    fresh = _det_pipeline(2)
    rest = [b.tolist() for b in fresh.iterate(state)]
    assert rest == full[30:]


def test_state_is_small_and_rejects_foreign_input():
    pipe = _det_pipeline(1)
    it = iter(pipe)
    next(it)
    state = it.state_dict()
    it.close()
    assert set(state) == {"version", "fingerprint", "seed", "deterministic", "mark", "skip"}
    assert json.loads(json.dumps(state)) == state
    with pytest.raises(InvalidArgumentError, match="version"):
        pipe.iterate({"version": 99})
    other = _det_pipeline(1).batch(2)
    with pytest.raises(InvalidArgumentError, match="different pipeline"):
        other.iterate(state)


# -- observability ------------------------------------------------------------------


def test_stats_count_every_stage_and_name_a_bottleneck():
    def slow(v):
        time.sleep(0.002)
        return v

    pipe = cp.range(2000, chunk_size=100).map(slow, batched=True).batch(50)
    with pytest.raises(FailedPreconditionError):
        pipe.stats()
    assert len(list(pipe)) == 40
    stats = pipe.stats()
    by_name = {s.name: s for s in stats.stages}
    assert by_name["range"].elements_out == 2000
    assert by_name["map(slow)"].elements_in == 2000 and by_name["map(slow)"].elements_out == 2000
    assert by_name["batch(50)"].elements_in == 2000 and by_name["batch(50)"].elements_out == 40
    assert stats.consumer_elements == 40
    assert stats.bottleneck == "map(slow)"
    text = str(stats)
    assert text.splitlines()[-1] == "bottleneck: map(slow)"
    assert "input stall" in text
    assert 0.0 <= stats.input_stall <= 1.0
    assert stats.as_dict()["batch(50)/elements_out"] == 40


def test_a_consumer_that_keeps_up_sees_almost_no_stall_and_a_slow_pipeline_a_large_one():
    fast = cp.range(400, chunk_size=1).prefetch(64)
    it = iter(fast)
    time.sleep(0.2)  # let the queues fill
    for _ in it:
        time.sleep(0.0005)
    assert fast.stats().input_stall < 0.1

    def slow(v):
        time.sleep(0.01)
        return v

    slow_pipe = cp.range(30, chunk_size=1).map(slow)
    for _ in slow_pipe:
        pass
    assert slow_pipe.stats().input_stall > 0.5


def _fail_at_seven(v):
    if int(v[0]) == 7:
        raise OSError("bad element 7")
    return v


@pytest.mark.parametrize("deterministic", [False, True])
def test_elements_before_an_error_are_delivered_then_the_error(deterministic):
    pipe = (
        cp.range(20, chunk_size=1)
        .map(_fail_at_seven, batched=True, threads=1)
        .with_options(deterministic=deterministic)
    )
    got = []
    with pytest.raises(OSError, match="bad element 7"):
        for v in pipe:
            got.append(int(v))
    assert got == list(range(7))
    assert wait_no_runner_threads() == []


def test_an_error_in_a_deterministic_multithreaded_stage_does_not_hang():
    pipe = cp.range(200, chunk_size=1).map(_fail_at_seven, batched=True, threads=4)
    with pytest.raises(OSError, match="bad element 7"):
        for _ in pipe.with_options(deterministic=True, seed=0):
            pass
    assert wait_no_runner_threads() == []


def _rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_a_stalled_consumer_makes_producers_block_not_buffer():
    produced = []

    def megabytes():
        while True:
            produced.append(1)
            yield np.ones(1 << 20, dtype=np.uint8)  # 1 MiB per element

    pipe = cp.from_iterable(megabytes, chunk_size=1).map(lambda a: a + 1).prefetch(2)
    it = iter(pipe)
    next(it)
    time.sleep(0.3)
    before = _rss_bytes()
    count_before = len(produced)
    time.sleep(0.7)  # the consumer reads nothing
    assert len(produced) == count_before  # every producer is blocked
    assert count_before <= 8 + 2 + 4  # source queue + prefetch + elements in hand
    assert _rss_bytes() - before < 16 << 20
    it.close()
    assert wait_no_runner_threads() == []


def test_a_huge_unshuffled_source_costs_nothing_until_read():
    t0 = time.monotonic()
    before = _rss_bytes()
    out = [int(v) for v in cp.range(10**12, chunk_size=4).take(6)]
    assert out == [0, 1, 2, 3, 4, 5]
    assert time.monotonic() - t0 < 2.0 and _rss_bytes() - before < 64 << 20
    sharded = [int(v) for v in cp.from_arrays(np.arange(20), chunk_size=3).shard(1, 4)]
    assert sharded == [1, 5, 9, 13, 17]


def test_stats_report_busy_time_per_thread():
    def slow(v):
        time.sleep(0.003)
        return v

    pipe = cp.range(400, chunk_size=10).map(slow, batched=True, threads=2)
    assert len(list(pipe)) == 400
    stage = {s.name: s for s in pipe.stats().stages}["map(slow)"]
    assert len(stage.thread_busy) == 2
    assert stage.thread_busy[0] >= stage.thread_busy[1] > 0.0
    assert abs(sum(stage.thread_busy) / 2 - stage.busy_fraction) < 0.02


def test_batch_pads_with_a_chosen_value():
    def ragged():
        yield np.array([1, 2], dtype=np.int64)
        yield np.array([3], dtype=np.int64)

    (batch,) = list(cp.from_iterable(ragged).batch(2, pad=-1))
    assert batch.tolist() == [[1, 2], [3, -1]]
    (zero,) = list(cp.from_iterable(ragged).batch(2, pad=0))
    assert zero.tolist() == [[1, 2], [3, 0]]
