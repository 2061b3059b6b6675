"""PyTorch adapter: a pipeline's batches as tensors, pinned and on the device ahead of use.

The pipeline itself yields NumPy; this module is the one place that imports torch
(``pip install "conveyor[torch]"``).

* :func:`to_tensors` turns the NumPy arrays of a batch into tensors without copying.
* :func:`loader` iterates a pipeline as tensors, prepared ``prefetch`` batches ahead
  by a transfer stage — the pipeline's last, a :class:`~conveyor.pipeline.Stage` like
  any other — that converts each batch and, when asked, pins it and copies it to the
  device on a side stream while the training step runs.
* :class:`IterableDataset` drops a pipeline into code that expects a
  ``torch.utils.data.DataLoader``.
* :func:`shard_for_current_rank` gives each ``torch.distributed`` rank its share.

>>> import numpy as np
>>> import conveyor.pipeline as cp
>>> pipe = cp.from_arrays({"x": np.arange(6, dtype=np.float32), "y": np.arange(6)}).batch(4)
>>> for batch in loader(pipe):
...     print(batch["x"], batch["y"].dtype)
tensor([0., 1., 2., 3.]) torch.int64
tensor([4., 5.]) torch.int64
"""

from __future__ import annotations

import sys
import types
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

try:
    import torch
    import torch.utils.data
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        'conveyor.torch needs PyTorch: install it with `pip install "conveyor[torch]"`'
    ) from e

from conveyor.core.errors import FailedPreconditionError, InvalidArgumentError
from conveyor.core.structure import flatten, map_structure
from conveyor.pipeline import (
    Output,
    Pipeline,
    PipelineIterator,
    PipelineStats,
    Stage,
    Unit,
    _structure as st,
)
from conveyor.pipeline.iterator import check_state
from conveyor.pipeline.stage import StageContext

__all__ = ["IterableDataset", "TorchLoader", "loader", "shard_for_current_rank", "to_tensors"]

_TORCH_DTYPES = frozenset(
    np.dtype(t)
    for t in (
        np.bool_,
        np.uint8,
        np.uint16,
        np.uint32,
        np.uint64,
        np.int8,
        np.int16,
        np.int32,
        np.int64,
        np.float16,
        np.float32,
        np.float64,
        np.complex64,
        np.complex128,
    )
)


def _to_tensor(x: Any) -> Any:
    if isinstance(x, np.generic):
        return torch.from_numpy(np.array(x)) if x.dtype in _TORCH_DTYPES else x
    if not isinstance(x, np.ndarray):
        return x
    native = x.dtype.newbyteorder("=")
    if native not in _TORCH_DTYPES:
        return x
    if not x.dtype.isnative or not x.flags.writeable or any(s < 0 for s in x.strides):
        # torch shares only writable, native-order, non-negatively strided memory.
        x = np.array(x, dtype=native, order="C")
    return torch.from_numpy(x)


def to_tensors(structure: Any) -> Any:
    """Turn the NumPy arrays of a batch (or element) into torch tensors.

    A numeric or boolean array becomes a tensor sharing its memory
    (``torch.from_numpy``): no copy. Three kinds of array are copied first, because torch
    cannot share them: read-only arrays (views of immutable bytes, broadcasts), arrays in
    non-native byte order, and arrays with negative strides. NumPy scalars become 0-d
    tensors. Leaves torch has no dtype for — object arrays (byte strings, ragged rows),
    ``bytes``/``str`` arrays, datetimes, structured arrays — stay the NumPy arrays they
    are; other leaves (Python numbers, strings, tensors) are returned unchanged.

    Args:
        structure: a leaf, or a dict, list, tuple or namedtuple of them, nested freely.

    Returns:
        The same structure (dicts as plain dicts in sorted key order, as everywhere in
        conveyor; namedtuples as their own type) with tensors in place of the
        convertible arrays.

    >>> batch = {"x": np.arange(3, dtype=np.float32), "name": np.array([b"a", b"bc"], object)}
    >>> out = to_tensors(batch)
    >>> out["x"], out["name"]
    (tensor([0., 1., 2.]), array([b'a', b'bc'], dtype=object))
    >>> np.shares_memory(out["x"].numpy(), batch["x"])
    True
    """
    return map_structure(_to_tensor, structure)


# -- pinning and device copies ----------------------------------------------------------


def _pinning_available() -> bool:
    accelerator = getattr(torch, "accelerator", None)
    if accelerator is not None:
        return bool(accelerator.is_available())
    return bool(torch.cuda.is_available())


def _device_available(device: torch.device) -> bool:
    try:
        module = torch.get_device_module(device)
    except (RuntimeError, AttributeError):
        return True  # a device type without a module (meta, …): torch decides on use
    is_available = getattr(module, "is_available", None)
    return is_available is None or bool(is_available())


def _stream_api(device: torch.device) -> Any:
    """The device's stream module (``torch.cuda``, ``torch.xpu``, …).

    A device without streams gets ``torch.cpu``, whose streams and events do nothing: its
    copies then complete before the transfer stage moves on.
    """
    try:
        module = torch.get_device_module(device)
    except (RuntimeError, AttributeError):
        return torch.cpu
    if all(hasattr(module, n) for n in ("Stream", "Event", "stream", "current_stream")):
        return module
    return torch.cpu


class _DeviceCopy:
    """Copies batches to ``device`` on a side stream, and hands them to the consumer.

    :meth:`copy` runs on the transfer stage's thread: it issues every copy on the side
    stream (``non_blocking=True``) and records an event after them. :meth:`ready` runs
    on the consumer's thread: the consumer's current stream waits for that event, so the
    step that uses the batch is queued after its copy without blocking the host, and
    each device tensor is recorded as used on that stream, so the caching allocator does
    not reuse its memory while the step still reads it.
    """

    def __init__(self, device: torch.device, api: Any) -> None:
        self.device = device
        self.api = api

    def new_stream(self) -> Any:
        """A side stream for one run's copies."""
        api = self.api
        return api.Stream(device=self.device) if self.device.type != "cpu" else api.Stream()

    def copy(self, batch: Any, stream: Any) -> tuple[Any, Any]:
        with self.api.stream(stream):
            out = map_structure(self._copy_leaf, batch)
            event = self.api.Event()
            event.record(stream)
        return out, event

    def _copy_leaf(self, x: Any) -> Any:
        if isinstance(x, torch.Tensor):
            return x.to(self.device, non_blocking=True)
        return x

    def ready(self, batch: Any, event: Any) -> Any:
        current = self.api.current_stream(self.device)
        current.wait_event(event)
        for leaf in flatten(batch)[0]:
            if isinstance(leaf, torch.Tensor) and leaf.device.type != "cpu":
                leaf.record_stream(current)
        return batch


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside this module."""
    frame: types.FrameType | None = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_code.co_filename == __file__:
        frame, level = frame.f_back, level + 1
    return level


def _pin_leaf(x: Any) -> Any:
    if isinstance(x, torch.Tensor) and x.device.type == "cpu" and not x.is_pinned():
        return x.pin_memory()
    return x


class _TransferStage(Stage):
    """The loader's last pipeline stage: batch → tensors → pinned → on the device.

    It emits ``(batch, event)`` pairs: ``event`` is the device copy's event for the
    consumer's stream to wait on (``None`` without a device). It keeps no state of its
    own, so a resume mark after a batch is the mark of its input after that batch.

    On an element pipeline (no ``batch``) its input is chunks of rows; it emits each
    row as one element, so the consumer gets one tensor structure per element (through
    :meth:`Output.emit_piece`, which makes a resume inside a chunk exact).
    """

    threads = 1

    def __init__(self, pin: bool, device_copy: _DeviceCopy | None) -> None:
        self.pin = pin
        self.device_copy = device_copy
        parts = ["pin_memory"] if pin else []
        if device_copy is not None:
            parts.append(f"to({device_copy.device})")
        self.name = "+".join(parts) or "to_tensors"

    def output_level(self, levels: list[Any]) -> Any:
        level = super().output_level(levels)
        return 1 if level == 0 else level  # rows in, one unit per element out

    def cardinality(self, counts: list[int]) -> int:
        return counts[0]

    def describe(self) -> str:
        # Where batches go does not change which batches come: a state saved by a loader
        # on one device resumes a loader on another.
        return "to_tensors"

    def start(self, ctx: StageContext, state: Any) -> None:
        self._rows = ctx.levels[0] == 0
        self._stream = None if self.device_copy is None else self.device_copy.new_stream()

    def _transfer(self, batch: Any) -> tuple[Any, Any]:
        batch = to_tensors(batch)
        if self.pin:
            batch = map_structure(_pin_leaf, batch)
        if self.device_copy is None:
            return batch, None
        return self.device_copy.copy(batch, self._stream)

    def process(self, unit: Unit, out: Output) -> None:
        if not self._rows:
            out.emit(self._transfer(unit.data))
            return
        rows = st.rows(unit.data)
        for i, row in enumerate(rows):
            out.emit_piece(self._transfer(row), last=i == len(rows) - 1)

    def close(self) -> None:
        self._stream = None


class _LoaderIterator(Iterator[Any]):
    """One iteration of a :class:`TorchLoader`: the pipeline run's batches, each made
    ready for the consumer's stream. Closing it, or dropping it, ends the run."""

    def __init__(self, run: PipelineIterator, device_copy: _DeviceCopy | None) -> None:
        self._run = run
        self._device_copy = device_copy

    def __iter__(self) -> _LoaderIterator:
        return self

    def __next__(self) -> Any:
        batch, event = next(self._run)
        if self._device_copy is not None:
            batch = self._device_copy.ready(batch, event)
        return batch

    def close(self) -> None:
        """Stop the run's threads now; idempotent. Iteration then ends."""
        self._run.close()

    def __enter__(self) -> _LoaderIterator:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        run = getattr(self, "_run", None)
        if run is not None:
            run.close()


# -- the loader -------------------------------------------------------------------------


class TorchLoader:
    """Iterates a pipeline as tensors: pinned and on ``device`` when asked (see :func:`loader`).

    Each ``iter(loader)`` is a fresh, independent run of the pipeline with the transfer
    stage last (resumed by :meth:`load_state_dict`); several may run at once.
    Breaking out of the loop, an exception, finishing, ``close()`` or garbage collection
    of the iterator stops its threads. :meth:`state_dict` and :meth:`stats` describe the
    latest iteration, as torchdata's ``StatefulDataLoader`` does.

    Args:
        pipe, pin_memory, device, prefetch: as :func:`loader`.

    Raises:
        InvalidArgumentError: as :func:`loader`.
    """

    def __init__(
        self,
        pipe: Pipeline,
        pin_memory: bool = False,
        device: str | int | torch.device | None = None,
        prefetch: int = 2,
    ) -> None:
        if not isinstance(pipe, Pipeline):
            raise InvalidArgumentError(f"expected a conveyor Pipeline, got {pipe!r:.80}")
        if isinstance(prefetch, bool) or not isinstance(prefetch, int) or prefetch <= 0:
            raise InvalidArgumentError(f"prefetch must be a positive int, got {prefetch!r}")
        self._pipe = pipe
        self._prefetch = prefetch
        self._pin = bool(pin_memory) and _pinning_available()
        if pin_memory and not self._pin:
            warnings.warn(
                "pin_memory=True but this PyTorch build has no accelerator: "
                "batches stay in pageable memory",
                UserWarning,
                stacklevel=_caller_stacklevel(),
            )
        self._device_copy: _DeviceCopy | None = None
        if device is not None:
            try:
                dev = torch.device(device)
            except (RuntimeError, TypeError) as e:
                raise InvalidArgumentError(f"not a torch device: {device!r}") from e
            if dev.type != "cpu" and not _device_available(dev):
                raise InvalidArgumentError(f"device {dev} is not available to this PyTorch")
            api = _stream_api(dev)
            if dev.index is None and dev.type != "cpu" and api is not torch.cpu:
                dev = torch.device(dev.type, api.current_device())
            self._device_copy = _DeviceCopy(dev, api)
        # The transfer stage is the last, and prefetch is its output's capacity.
        self._staged = pipe.apply(_TransferStage(self._pin, self._device_copy)).prefetch(prefetch)
        self._pending: dict[str, Any] | None = None
        self._latest: PipelineIterator | None = None

    @property
    def pipeline(self) -> Pipeline:
        """The pipeline this loader runs."""
        return self._pipe

    @property
    def device(self) -> torch.device | None:
        """Where batches are delivered (``None``: the CPU tensors of :func:`to_tensors`)."""
        return None if self._device_copy is None else self._device_copy.device

    @property
    def pin_memory(self) -> bool:
        """Whether batches are pinned (false where the build has no accelerator)."""
        return self._pin

    def __iter__(self) -> Iterator[Any]:
        """Start a run: from the state given to :meth:`load_state_dict`, if any (once),
        else from the beginning."""
        state, self._pending = self._pending, None
        run = self._staged.iterate(state)
        self._latest = run
        return _LoaderIterator(run, self._device_copy)

    def close(self) -> None:
        """Stop the latest iteration's threads now (leaving the loop does this too)."""
        if self._latest is not None:
            self._latest.close()

    def stats(self) -> PipelineStats:
        """The latest iteration's figures: the pipeline's stages, then the transfer stage,
        named after what it does (``to_tensors``, ``pin_memory``, ``to(cuda:0)`` or
        ``pin_memory+to(cuda:0)``); the consumer figures (``consumer_elements``,
        ``consumer_wait_seconds``, ``input_stall``) are the loop's over this loader.

        Raises:
            FailedPreconditionError: the loader has not been iterated yet.
        """
        if self._latest is None:
            raise FailedPreconditionError("stats() needs a loader that is or was iterated")
        return self._latest.stats()

    def state_dict(self) -> dict[str, Any]:
        """Where the latest iteration is: the pipeline state (version 2: ``seed``,
        ``fingerprint``, ``mark``, …) after the last batch the loop received.

        Batches the transfer stage prepared ahead but did not hand to the loop do not
        count, so :meth:`load_state_dict` of it resumes exactly after the last batch the
        loop got (in the pipeline's deterministic mode). Before the first iteration, the
        state given to :meth:`load_state_dict`.

        Raises:
            FailedPreconditionError: the loader was neither iterated nor given a state.
        """
        if self._pending is not None:
            return dict(self._pending)
        if self._latest is None:
            raise FailedPreconditionError(
                "state_dict() needs a loader that is or was iterated, or load_state_dict()"
            )
        return self._latest.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Make the next ``iter(loader)`` resume from ``state`` (from :meth:`state_dict`).

        Raises:
            InvalidArgumentError: not a pipeline state, a state of another version, or
                one saved from a different pipeline.
        """
        check_state(state, self._staged._fingerprint())
        self._pending = dict(state)

    def __repr__(self) -> str:
        return (
            f"TorchLoader({self._pipe!r}, pin_memory={self._pin}, device={self.device}, "
            f"prefetch={self._prefetch})"
        )


def loader(
    pipe: Pipeline,
    pin_memory: bool = False,
    device: str | int | torch.device | None = None,
    prefetch: int = 2,
) -> TorchLoader:
    """Iterate ``pipe`` as torch tensors, optionally pinned and copied ahead to a device.

    A transfer stage, added after the pipeline's last, takes each batch, converts it with
    :func:`to_tensors` (no copy), pins it when ``pin_memory`` (``tensor.pin_memory()``)
    and, with a ``device``, issues its copies with ``non_blocking=True`` on a side
    stream, keeping up to ``prefetch`` batches ready. The loop receives each batch with
    its current stream ordered after the batch's copies. On the CPU (``device="cpu"``)
    the same steps run and the copies are no-ops. Leaves that :func:`to_tensors` keeps
    as NumPy stay on the host. An error in the pipeline reaches the loop after every
    batch that preceded it.

    Args:
        pipe: the pipeline; usually batched (``.batch(n)``), as a loader yields what the
            pipeline yields.
        pin_memory: pin host batches, so device copies are asynchronous. On a build
            without an accelerator this warns and batches stay unpinned, as
            ``torch.utils.data.DataLoader`` does.
        device: where batches go (``"cuda"``, ``"cuda:1"``, ``torch.device``);
            ``None`` keeps the CPU tensors.
        prefetch: batches the transfer stage keeps ready.

    Returns:
        A :class:`TorchLoader`: iterate it; ``state_dict``, ``load_state_dict`` and
        ``stats`` describe its latest iteration.

    Raises:
        InvalidArgumentError: ``pipe`` is not a pipeline, ``prefetch`` is not a positive
            int, or ``device`` is not a device this build can use.
    """
    return TorchLoader(pipe, pin_memory=pin_memory, device=device, prefetch=prefetch)


# -- DataLoader and torch.distributed -----------------------------------------------------


_NO_WORKERS = (
    "conveyor.torch.IterableDataset runs its pipeline's own threads in this process: "
    "use DataLoader(dataset, batch_size=None, num_workers=0); parallelise inside the "
    "pipeline instead (map(..., threads=N), read(..., threads=N))"
)


class IterableDataset(torch.utils.data.IterableDataset):
    """A pipeline as a ``torch.utils.data.IterableDataset``, for code built on DataLoader.

    Use it as ``DataLoader(IterableDataset(pipe), batch_size=None)``: the pipeline
    batches, the DataLoader passes each batch through (its ``pin_memory=True`` works as
    usual). Batches are :func:`to_tensors` of the pipeline's, converted ahead by a
    :func:`loader`'s transfer stage.

    ``num_workers > 0`` is refused: each worker process would run a copy of the whole
    pipeline with its own threads, yielding every batch once per worker, and the
    position in :meth:`state_dict` would be lost. Iterating inside a DataLoader worker
    raises, and so does pickling the dataset (which ``spawn`` and ``forkserver`` workers
    need). The pipeline's own threads (``map(..., threads=N)``) are the parallelism.

    Args:
        pipe: the pipeline to run.

    Raises:
        InvalidArgumentError: ``pipe`` is not a pipeline.
    """

    def __init__(self, pipe: Pipeline) -> None:
        super().__init__()
        self._loader = TorchLoader(pipe)

    def __iter__(self) -> Iterator[Any]:
        """Run the pipeline, yielding tensors.

        Raises:
            InvalidArgumentError: called in a DataLoader worker process.
        """
        if torch.utils.data.get_worker_info() is not None:
            raise InvalidArgumentError(_NO_WORKERS)
        return iter(self._loader)

    def __getstate__(self) -> dict[str, Any]:
        raise InvalidArgumentError(_NO_WORKERS)

    @property
    def pipeline(self) -> Pipeline:
        """The pipeline this dataset runs."""
        return self._loader.pipeline

    def stats(self) -> PipelineStats:
        """As :meth:`TorchLoader.stats`."""
        return self._loader.stats()

    def state_dict(self) -> dict[str, Any]:
        """As :meth:`TorchLoader.state_dict`: the position after the last batch yielded."""
        return self._loader.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """As :meth:`TorchLoader.load_state_dict`."""
        self._loader.load_state_dict(state)

    def close(self) -> None:
        """Stop the latest iteration's threads now."""
        self._loader.close()


def shard_for_current_rank(pipe: Pipeline, group: Any = None) -> Pipeline:
    """This process's share of ``pipe`` under ``torch.distributed``.

    Reads the rank and world size of the initialised process group and returns
    ``pipe.shard(rank, world_size)``: ranks sharing a seed split every epoch exactly
    (see ``Pipeline.shard``). Pass the source (before ``map`` and ``batch``) so each
    rank reads only its rows; on a batched pipeline each rank keeps every
    ``world_size``-th batch of the whole stream, which it still computes in full.

    Args:
        pipe: the pipeline every rank builds identically (same seed).
        group: the process group (default: the world).

    Returns:
        The sharded pipeline.

    Raises:
        FailedPreconditionError: ``torch.distributed`` is unavailable or not initialised
            (call ``torch.distributed.init_process_group`` first).
        InvalidArgumentError: ``pipe`` is not a pipeline.
    """
    if not isinstance(pipe, Pipeline):
        raise InvalidArgumentError(f"expected a conveyor Pipeline, got {pipe!r:.80}")
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        raise FailedPreconditionError(
            "shard_for_current_rank needs an initialised torch.distributed process group: "
            "call torch.distributed.init_process_group(...) first"
        )
    return pipe.shard(dist.get_rank(group), dist.get_world_size(group))
