"""conveyor.torch: tensors without copies, the transfer stage (pinning and device copies
ahead of the loop), state and stats of the latest iteration, lossless errors, DataLoader
integration, and sharding across real ranks."""

from __future__ import annotations

import collections
import gc
import json
import os
import pickle
import re
import socket
import subprocess
import sys
import threading
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import conveyor.pipeline as cp  # noqa: E402
import conveyor.torch as ct  # noqa: E402
from conveyor.errors import (  # noqa: E402
    FailedPreconditionError,
    InvalidArgumentError,
)
from helpers import runner_threads, wait_no_runner_threads  # noqa: E402

pytestmark = pytest.mark.timeout(60)

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent.parent / "docs" / "torch.md"

NUMERIC = {
    np.bool_: torch.bool,
    np.uint8: torch.uint8,
    np.uint16: torch.uint16,
    np.uint32: torch.uint32,
    np.uint64: torch.uint64,
    np.int8: torch.int8,
    np.int16: torch.int16,
    np.int32: torch.int32,
    np.int64: torch.int64,
    np.float16: torch.float16,
    np.float32: torch.float32,
    np.float64: torch.float64,
    np.complex64: torch.complex64,
    np.complex128: torch.complex128,
}


def _accelerator() -> bool:
    return bool(torch.accelerator.is_available())


def _pipe(n: int = 100, batch: int = 16) -> cp.Pipeline:
    """A deterministic shuffled pipeline of dict batches with three dtypes."""
    x = np.arange(n, dtype=np.float32).reshape(n, 1) * np.ones((1, 3), np.float32)
    return (
        cp.from_arrays({"x": x, "id": np.arange(n), "ok": np.arange(n) % 2 == 0}, shuffle=True)
        .batch(batch)
        .with_options(deterministic=True, seed=7)
    )


class _Recorded:
    """A last pipeline stage that passes on writable copies of its batches and keeps them.

    (A source's batches are read-only views, which :func:`ct.to_tensors` must copy; a
    function's fresh arrays are what a loader hands over without a copy.)"""

    def __init__(self) -> None:
        self.batches: list[dict[str, np.ndarray]] = []

    def __call__(self, batch):
        batch = {k: np.array(v) for k, v in batch.items()}
        self.batches.append(batch)
        return batch


def _assert_same_batch(tensors: dict, arrays: dict) -> None:
    assert set(tensors) == set(arrays)
    for key, array in arrays.items():
        t = tensors[key]
        assert isinstance(t, torch.Tensor), key
        assert t.dtype == NUMERIC[array.dtype.type], key
        assert tuple(t.shape) == array.shape, key
        assert np.array_equal(t.numpy(), array), key


# -- to_tensors ------------------------------------------------------------------------


@pytest.mark.parametrize("np_dtype", list(NUMERIC), ids=lambda d: np.dtype(d).name)
def test_to_tensors_shares_the_memory_of_every_numeric_dtype(np_dtype):
    array = (np.arange(12) % 5).astype(np_dtype).reshape(3, 4)
    tensor = ct.to_tensors(array)
    assert tensor.dtype == NUMERIC[np_dtype]
    assert tuple(tensor.shape) == (3, 4)
    assert np.array_equal(tensor.numpy(), array)
    assert tensor.data_ptr() == array.ctypes.data
    assert np.shares_memory(tensor.numpy(), array)


def test_to_tensors_keeps_the_structure_in_sorted_key_order_and_leaves_non_torch_dtypes_as_numpy():
    Pair = collections.namedtuple("Pair", "left right")
    names = np.array([b"a", b"bc", b""], dtype=object)
    fixed = np.array([b"ab", b"c", b"d"])
    words = np.array(["x", "yz", "w"])
    when = np.array(["2020-01-01", "2021-01-01", "2022-01-01"], dtype="datetime64[D]")
    ints = np.arange(3)
    batch = {
        "pair": Pair(ints, names),
        "list": [fixed, (words, when)],
        "n": 3,
        "tag": "train",
    }
    out = ct.to_tensors(batch)
    assert type(out) is dict and list(out) == ["list", "n", "pair", "tag"]  # core.structure
    assert type(out["pair"]) is Pair
    assert torch.equal(out["pair"].left, torch.tensor([0, 1, 2]))
    assert out["pair"].right is names
    assert type(out["list"]) is list and type(out["list"][1]) is tuple
    assert out["list"][0] is fixed
    assert out["list"][1][0] is words
    assert out["list"][1][1] is when
    assert out["n"] == 3 and out["tag"] == "train"


def test_to_tensors_copies_the_arrays_torch_cannot_share_without_warning():
    read_only = np.frombuffer(bytes(range(8)), dtype=np.uint8)
    big_endian = np.arange(4, dtype=">i4")
    reversed_ = np.arange(5, dtype=np.int16)[::-1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a, b, c = ct.to_tensors((read_only, big_endian, reversed_))
    assert torch.equal(a, torch.arange(8, dtype=torch.uint8))
    assert torch.equal(b, torch.arange(4, dtype=torch.int32))
    assert torch.equal(c, torch.tensor([4, 3, 2, 1, 0], dtype=torch.int16))
    assert not np.shares_memory(a.numpy(), read_only)
    a[0] = 99  # the copy is writable and the immutable bytes are untouched
    assert read_only[0] == 0


def test_numpy_scalars_become_zero_dimensional_tensors():
    out = ct.to_tensors((np.float32(1.5), np.int64(7), np.bool_(True)))
    assert [(t.item(), t.dtype, t.dim()) for t in out] == [
        (1.5, torch.float32, 0),
        (7, torch.int64, 0),
        (True, torch.bool, 0),
    ]
    word, raw = np.str_("ab"), np.bytes_(b"cd")
    assert ct.to_tensors([word, raw]) == [word, raw]
    assert type(ct.to_tensors(word)) is np.str_


# -- loader ----------------------------------------------------------------------------


def test_loader_yields_the_pipelines_batches_as_tensors_over_the_same_memory():
    expected = list(_pipe())
    seen = _Recorded()
    batches = list(ct.loader(_pipe().map(seen)))
    assert len(batches) == len(expected) == 7
    for tensors, array, produced in zip(batches, expected, seen.batches):
        _assert_same_batch(tensors, array)
        for key in array:  # the very arrays the pipeline produced: no copy
            assert tensors[key].data_ptr() == produced[key].ctypes.data
            assert np.shares_memory(tensors[key].numpy(), produced[key])


def test_read_only_batches_are_copied_so_the_loop_cannot_write_into_the_source():
    rows = np.arange(32, dtype=np.float32)
    (batch,) = list(ct.loader(cp.from_arrays(rows, chunk_size=32).batch(32)))
    batch.add_(1)  # an in-place step on the batch
    assert np.array_equal(rows, np.arange(32, dtype=np.float32))


def test_loader_to_the_cpu_device_runs_the_transfer_stage_and_still_copies_nothing():
    expected = list(_pipe())
    seen = _Recorded()
    batches = ct.loader(_pipe().map(seen), device="cpu")
    assert batches.device == torch.device("cpu")
    out = []
    for tensors in batches:
        if not out:  # the transfer thread has more batches to prepare
            assert "QueueRunnerThread-to(cpu)-0" in runner_threads()
        out.append(tensors)
    assert len(out) == 7
    for tensors, array, produced in zip(out, expected, seen.batches):
        _assert_same_batch(tensors, array)
        assert all(t.device == torch.device("cpu") for t in tensors.values())
        for key in array:
            assert tensors[key].data_ptr() == produced[key].ctypes.data
    assert [s.name for s in batches.stats().stages][-1] == "to(cpu)"
    assert wait_no_runner_threads() == []


def test_pin_memory_pins_when_the_build_can_and_otherwise_warns_and_delivers_the_same_data():
    expected = list(_pipe())
    if _accelerator():
        batches = ct.loader(_pipe(), pin_memory=True)
        assert batches.pin_memory is True
        out = list(batches)
        assert all(t.is_pinned() for b in out for t in b.values())
        assert batches.stats().stages[-1].name == "pin_memory"
    else:
        with pytest.warns(UserWarning, match="no accelerator") as caught:
            batches = ct.loader(_pipe(), pin_memory=True)
        assert caught[0].filename == __file__  # points at the caller
        assert batches.pin_memory is False
        out = list(batches)
        assert [s.name for s in batches.stats().stages] == [
            "from_arrays+batch(16)",
            "to_tensors",
        ]
    assert len(out) == len(expected)
    for tensors, array in zip(out, expected):
        _assert_same_batch(tensors, array)


class _FakeStreams:
    """The stream API of ``torch.cuda`` (Stream, Event, stream, current_stream), logging
    which thread does what, so the device protocol is checked without a GPU."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str, object]] = []
        self.current = self.Stream()
        self.current.label = "current"

    def _note(self, what: str, obj: object) -> None:
        self.log.append((threading.current_thread().name, what, obj))

    def Stream(self, device=None):
        streams = self

        class Stream:
            label = "side"

            def wait_event(self, event):
                streams._note(f"{self.label}.wait_event", event)

        return Stream()

    def Event(self):
        streams = self

        class Event:
            def record(self, stream):
                streams._note(f"record_on_{stream.label}", self)

        event = Event()
        self._note("new_event", event)
        return event

    def stream(self, stream):
        streams = self

        class Context:
            def __enter__(self):
                streams._note("enter", stream.label)

            def __exit__(self, *exc):
                streams._note("exit", stream.label)

        return Context()

    def current_stream(self, device=None):
        return self.current


def test_device_copies_run_on_a_side_stream_and_the_loop_waits_for_their_event(monkeypatch):
    fake = _FakeStreams()
    monkeypatch.setattr(ct, "_stream_api", lambda device: fake)
    got = []
    for batch in ct.loader(_pipe(), device="cpu", prefetch=2):
        fake._note("loop_gets_batch", len(got))
        got.append(batch)
    assert len(got) == 7

    transfer = [(what, obj) for thread, what, obj in fake.log if thread != "MainThread"]
    loop = [(what, obj) for thread, what, obj in fake.log if thread == "MainThread"]
    events = [obj for what, obj in transfer if what == "new_event"]
    assert len(set(map(id, events))) == 7
    # on the transfer thread, per batch: the copies and the event recorded on the side stream
    assert transfer == [
        step
        for e in events
        for step in [("enter", "side"), ("new_event", e), ("record_on_side", e), ("exit", "side")]
    ]
    # on the loop's thread: its current stream waits for batch k's event before it gets k
    assert loop == [
        step
        for k, e in enumerate(events)
        for step in [("current.wait_event", e), ("loop_gets_batch", k)]
    ]


def test_cuda_batches_arrive_on_the_device_or_a_build_without_cuda_refuses_the_device():
    if not torch.cuda.is_available():
        with pytest.raises(InvalidArgumentError, match="not available"):
            ct.loader(_pipe(), device="cuda")
        return
    expected = list(_pipe())
    batches = ct.loader(_pipe(), pin_memory=True, device="cuda")
    assert batches.device == torch.device("cuda", torch.cuda.current_device())
    out = list(batches)
    assert len(out) == len(expected)
    for tensors, array in zip(out, expected):
        assert all(t.device == batches.device for t in tensors.values())
        _assert_same_batch({k: t.cpu() for k, t in tensors.items()}, array)
    assert batches.stats().stages[-1].name == f"pin_memory+to({batches.device})"


@pytest.mark.parametrize("device", [None, "cpu"])
def test_state_round_trip_resumes_with_exactly_the_remaining_batches(device):
    full = [b["id"].tolist() for b in ct.loader(_pipe(), device=device)]
    assert sorted(v for b in full for v in b) == list(range(100))

    batches = ct.loader(_pipe(), device=device, prefetch=3)
    it = iter(batches)
    head = [next(it)["id"].tolist() for _ in range(3)]
    time.sleep(0.05)  # let the transfer thread prepare batches ahead
    state = batches.state_dict()
    it.close()
    assert head == full[:3]
    assert json.loads(json.dumps(state)) == state  # plain Python
    assert {k: state[k] for k in ("version", "seed", "deterministic", "skip")} == {
        "version": 2,
        "seed": 7,
        "deterministic": True,
        "skip": 0,
    }
    assert state["fingerprint"][-1] == "to_tensors"
    # the transfer stage's mark after batch 3: nothing prepared ahead counts
    assert state["mark"]["n"] == 3 and state["mark"]["s"] is None

    resumed = ct.loader(_pipe(), device=device)
    resumed.load_state_dict(state)
    assert resumed.state_dict() == state  # before the next iteration: the loaded state
    assert [b["id"].tolist() for b in resumed] == full[3:]
    assert resumed.state_dict()["mark"]["n"] == 7  # units count on from the resume


@pytest.mark.timeout(60)
@pytest.mark.parametrize("k", [0, 1, 4, 6, 7])
def test_resuming_after_k_batches_yields_exactly_the_rest(k):
    def pipe():
        rows = np.arange(100)
        return (
            cp.from_arrays(rows, shuffle=True, chunk_size=8)
            .map(lambda v: v * 10, batched=True, threads=3)
            .batch(16)
            .with_options(deterministic=True, seed=0)
        )

    full = [b.tolist() for b in ct.loader(pipe())]
    assert sorted(v for b in full for v in b) == list(range(0, 1000, 10))
    first = ct.loader(pipe(), prefetch=4)
    with iter(first) as it:
        head = [next(it).tolist() for _ in range(k)]
        time.sleep(0.05)  # batches prepared ahead must not count
        state = first.state_dict()
    assert head == full[:k]
    resumed = ct.loader(pipe())
    resumed.load_state_dict(json.loads(json.dumps(state)))
    assert [b.tolist() for b in resumed] == full[k:]


@pytest.mark.timeout(60)
def test_resuming_an_element_loader_inside_a_chunk_yields_exactly_the_rest():
    def pipe():
        return cp.from_arrays(np.arange(50), shuffle=True, chunk_size=8).with_options(
            deterministic=True, seed=0
        )

    full = [int(t) for t in ct.loader(pipe())]
    first = ct.loader(pipe())
    it = iter(first)
    head = [int(next(it)) for _ in range(11)]  # stops in the middle of the second chunk
    state = first.state_dict()
    it.close()
    resumed = ct.loader(pipe())
    resumed.load_state_dict(state)
    assert head + [int(t) for t in resumed] == full


@pytest.mark.timeout(60)
def test_a_state_of_one_device_resumes_a_loader_on_another():
    batches = ct.loader(_pipe(), device="cpu")
    it = iter(batches)
    next(it)
    state = batches.state_dict()
    it.close()
    resumed = ct.loader(_pipe())
    resumed.load_state_dict(state)
    assert len(list(resumed)) == 6


@pytest.mark.timeout(60)
def test_two_loaders_over_one_pipeline_iterate_concurrently_and_each_gets_every_batch():
    pipe = _pipe()
    expected = [b["id"].tolist() for b in pipe]
    loaders = [ct.loader(pipe, device="cpu", prefetch=1), ct.loader(pipe)]
    iterators = [iter(lo) for lo in loaders]
    got: list[list[list[int]]] = [[], []]
    for _ in range(len(expected)):  # interleaved: both runs are alive at once
        for out, it in zip(got, iterators):
            out.append(next(it)["id"].tolist())
    for it in iterators:
        with pytest.raises(StopIteration):
            next(it)
    assert got == [expected, expected]
    assert [lo.stats().consumer_elements for lo in loaders] == [7, 7]
    assert wait_no_runner_threads() == []


@pytest.mark.timeout(60)
def test_two_iterations_of_one_loader_are_independent_and_state_follows_the_latest():
    batches = ct.loader(_pipe())
    first = iter(batches)
    next(first)
    second = iter(batches)
    assert [b["id"].tolist() for b in second] == [b["id"].tolist() for b in _pipe()]
    assert batches.state_dict()["mark"]["n"] == 7
    assert len(list(first)) == 6


def test_stats_append_the_transfer_stage_and_measure_the_loops_stall():
    batches = ct.loader(_pipe(), device="cpu")
    with pytest.raises(FailedPreconditionError):
        batches.stats()
    assert len(list(batches)) == 7
    stats = batches.stats()
    assert [s.name for s in stats.stages] == ["from_arrays+batch(16)", "to(cpu)"]
    transfer = stats.stages[-1]
    assert (transfer.elements_in, transfer.elements_out, transfer.threads) == (7, 7, 1)
    assert stats.consumer_elements == 7
    assert 0.0 <= stats.input_stall <= 1.0
    assert stats.input_stall == pytest.approx(stats.consumer_wait_seconds / stats.wall_seconds)


def test_prefetch_bounds_how_many_batches_the_transfer_thread_prepares():
    batches = ct.loader(cp.range(10**6).batch(10), device="cpu", prefetch=2)
    it = iter(batches)
    assert next(it).tolist() == list(range(10))
    deadline = time.monotonic() + 5
    while batches.stats().stages[-1].elements_out < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # time to run further ahead, were it not bounded
    transfer = batches.stats().stages[-1]
    assert transfer.elements_out == 3  # the one delivered and two ready
    assert transfer.output_fill == 1.0
    it.close()
    assert wait_no_runner_threads() == []


@pytest.mark.parametrize("device", [None, "cpu"])
def test_breaking_out_of_the_loop_stops_every_thread(device):
    for batch in ct.loader(cp.range(10**6).map(lambda v: v, threads=2).batch(8), device=device):
        if int(batch[0]) >= 80:
            break
    assert wait_no_runner_threads() == []


def test_a_garbage_collected_iterator_stops_its_threads():
    it = iter(ct.loader(cp.range(10**6).batch(8), device="cpu"))
    assert next(it).tolist() == list(range(8))
    del it
    gc.collect()
    assert wait_no_runner_threads() == []


def _explode(batch):
    if int(batch[0]) >= 50:
        _stage_failure()
    return batch


def _stage_failure():
    raise ValueError("stage failed")


@pytest.mark.parametrize("device", [None, "cpu"])
def test_a_pipeline_error_reaches_the_loop_after_every_batch_before_it_with_its_traceback(device):
    got = []
    with pytest.raises(ValueError, match="stage failed") as info:
        for batch in ct.loader(cp.range(1000).batch(10).map(_explode), device=device):
            got.append(batch.tolist())
    assert got == [list(range(i, i + 10)) for i in range(0, 50, 10)]
    names = [f.name for f in traceback.extract_tb(info.value.__traceback__)]
    assert "_stage_failure" in names and "_explode" in names
    assert wait_no_runner_threads() == []


def _fail_at_5000_batched(rows):
    if int(rows[-1]) >= 5000:
        raise ValueError("element 5000")
    return rows


@pytest.mark.timeout(60)
@pytest.mark.parametrize("device", [None, "cpu"])
def test_every_batch_queued_before_an_upstream_error_is_delivered_before_it(device):
    pipe = cp.range(6000, chunk_size=100).map(_fail_at_5000_batched, batched=True).batch(100)
    got = []
    with pytest.raises(ValueError, match="element 5000"):
        for batch in ct.loader(pipe, device=device, prefetch=2):
            got.append(batch)
    assert len(got) == 50
    assert torch.equal(torch.cat(got), torch.arange(5000))
    assert wait_no_runner_threads() == []


def test_loader_rejects_bad_arguments():
    with pytest.raises(InvalidArgumentError, match="Pipeline"):
        ct.loader([np.arange(3)])
    for prefetch in (0, -1, True, 1.5):
        with pytest.raises(InvalidArgumentError, match="prefetch"):
            ct.loader(cp.range(3), prefetch=prefetch)
    with pytest.raises(InvalidArgumentError, match="device"):
        ct.loader(cp.range(3), device="no-such-device")
    with pytest.raises(InvalidArgumentError, match="version"):
        ct.loader(cp.range(3)).load_state_dict({"version": 99})
    with pytest.raises(InvalidArgumentError, match="dict"):
        ct.loader(cp.range(3)).load_state_dict([2])
    with pytest.raises(FailedPreconditionError, match="iterated"):
        ct.loader(cp.range(3)).state_dict()
    other = ct.loader(cp.range(3).batch(2))
    list(other)
    with pytest.raises(InvalidArgumentError, match="different pipeline"):
        ct.loader(cp.range(3).batch(3)).load_state_dict(other.state_dict())
    bad_seed = {**other.state_dict(), "seed": -1}
    with pytest.raises(InvalidArgumentError, match="seed"):
        ct.loader(cp.range(3).batch(2)).load_state_dict(bad_seed)


def test_loader_over_elements_yields_scalar_tensors():
    out = [(t.item(), t.dtype, t.dim()) for t in ct.loader(cp.range(3), device="cpu")]
    assert out == [(0, torch.int64, 0), (1, torch.int64, 0), (2, torch.int64, 0)]


# -- DataLoader ------------------------------------------------------------------------


def test_a_dataloader_over_the_iterable_dataset_yields_the_pipelines_batches():
    expected = list(_pipe())
    dataset = ct.IterableDataset(_pipe())
    assert isinstance(dataset, torch.utils.data.IterableDataset)
    out = list(torch.utils.data.DataLoader(dataset, batch_size=None))
    assert len(out) == len(expected) == 7
    for tensors, array in zip(out, expected):
        _assert_same_batch(tensors, array)
    assert dataset.stats().consumer_elements == 7


def test_the_iterable_dataset_state_resumes_a_dataloader_with_exactly_the_remaining_batches():
    full = [b["id"].tolist() for b in _pipe()]
    dataset = ct.IterableDataset(_pipe())
    it = iter(torch.utils.data.DataLoader(dataset, batch_size=None))
    head = [next(it)["id"].tolist() for _ in range(4)]
    state = dataset.state_dict()
    del it
    assert head == full[:4] and state["version"] == 2 and state["mark"]["n"] == 4

    resumed = ct.IterableDataset(_pipe())
    resumed.load_state_dict(state)
    rest = [b["id"].tolist() for b in torch.utils.data.DataLoader(resumed, batch_size=None)]
    assert rest == full[4:]


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_dataloader_workers_are_refused_with_a_clear_error(context):
    dataset = ct.IterableDataset(cp.range(10).batch(5))
    data = torch.utils.data.DataLoader(
        dataset, batch_size=None, num_workers=1, multiprocessing_context=context
    )
    with pytest.raises(InvalidArgumentError, match=re.escape("num_workers=0")):
        list(data)
    with pytest.raises(InvalidArgumentError, match="num_workers=0"):
        pickle.dumps(dataset)


# -- torch.distributed -----------------------------------------------------------------


def test_shard_for_current_rank_needs_an_initialised_process_group():
    assert not torch.distributed.is_initialized()
    with pytest.raises(FailedPreconditionError, match="init_process_group"):
        ct.shard_for_current_rank(cp.range(10))
    with pytest.raises(InvalidArgumentError, match="Pipeline"):
        ct.shard_for_current_rank(np.arange(10))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(30)
def test_two_real_ranks_split_every_epoch_exactly(tmp_path):
    result = tmp_path / "gathered.json"
    port = _free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, str(HERE / "_dist_worker.py"), str(rank), "2", str(port), str(result)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in range(2)
    ]
    outputs = []
    try:
        for p in procs:
            outputs.append(p.communicate(timeout=25)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0, 0], outputs
    gathered = json.loads(result.read_text())

    def source():
        return cp.from_arrays(np.arange(1000), shuffle=True, seed=3, epochs=2)

    # sharded after batch(32): rank r gets batches r, r + 2, … of the unsharded stream
    full = [b.tolist() for b in source().batch(32)]
    assert [len(r) for r in gathered["batch_shards"]] == [32, 31]
    assert gathered["batch_shards"] == [full[0::2], full[1::2]]
    # sharded at the source: rank r gets rows r, r + 2, … of each epoch's order, batched
    assert gathered["row_shards"] == [
        [b.tolist() for b in source().shard(rank, 2).batch(32)] for rank in range(2)
    ]
    for shards in gathered.values():
        ids = [v for rank in shards for batch in rank for v in batch]
        assert collections.Counter(ids) == collections.Counter(list(range(1000)) * 2)


# -- the module ------------------------------------------------------------------------


def test_public_api():
    assert sorted(ct.__all__) == [
        "IterableDataset",
        "TorchLoader",
        "loader",
        "shard_for_current_rank",
        "to_tensors",
    ]


def test_no_other_conveyor_module_imports_torch():
    code = (
        "import importlib, pkgutil, sys, conveyor\n"
        "for m in pkgutil.walk_packages(conveyor.__path__, prefix='conveyor.'):\n"
        "    if m.name not in ('conveyor.torch', 'conveyor.__main__')"
        " and not m.name.startswith('conveyor.apps.'):\n"
        "        importlib.import_module(m.name)\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.timeout(60)
def test_the_documented_training_loop_runs():
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.S)
    namespace: dict = {}
    exec(compile(blocks[0], str(DOCS), "exec"), namespace)
    assert namespace["step"] == 31  # 2 epochs of 1024 rows in batches of 64
    data = namespace["checkpoint"]["data"]
    assert data["version"] == 2 and data["deterministic"] and data["mark"]["n"] == 10
    rest = list(namespace["batches"])
    assert len(rest) == 22
    assert tuple(rest[0][0].shape) == (64, 32) and rest[0][1].dtype == torch.int64
    assert wait_no_runner_threads() == []
