"""The Pipeline: an immutable description of an input pipeline; iterate it to run it.

A :class:`Pipeline` is a source and a chain of stages; every method returns a new one
and changes nothing. ``iter(pipe)`` starts a *run* — a
:class:`~conveyor.pipeline.iterator.PipelineIterator` that owns its threads and queues
(one :class:`~conveyor.core.queues.FIFOQueue` per stage, filled by a
:class:`~conveyor.core.runner.QueueRunner`, under one
:class:`~conveyor.core.coordinator.Coordinator`, the TF1 machinery composed for you).
Two iterators over one pipeline are two independent runs. Finishing, ``break``, an
exception or garbage collection stops a run's threads; the end of the data is
``StopIteration``.

>>> import numpy as np
>>> pipe = from_arrays(np.arange(10), chunk_size=4).map(lambda x: x * 10, batched=True).batch(4)
>>> [b.tolist() for b in pipe]
[[0, 10, 20, 30], [40, 50, 60, 70], [80, 90]]
>>> len(pipe)
3
"""

from __future__ import annotations

import builtins
import copy
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from conveyor.core.errors import FailedPreconditionError, InvalidArgumentError
from conveyor.pipeline import _structure as st
from conveyor.pipeline._run import Run
from conveyor.pipeline.batch import BatchStage, UnbatchStage
from conveyor.pipeline.combine import ConcatenateStage, InterleaveStage, MixStage, ZipStage
from conveyor.pipeline.control import EnumerateStage, ShardStage, SkipStage, TakeStage
from conveyor.pipeline.map import FilterStage, FlatMapStage, MapStage
from conveyor.pipeline.nested import CacheStage, RepeatStage
from conveyor.pipeline.read import ReadStage
from conveyor.pipeline.shuffle import ShuffleStage
from conveyor.pipeline.sources import (
    ArraySource,
    FilesSource,
    FixedLengthRecordSource,
    IterableSource,
    RangeSource,
    _EpochSource,
    check_epochs,
)
from conveyor.pipeline.stage import (
    DEFAULT_CAPACITY,
    INFINITE,
    UNKNOWN,
    Stage,
    _StageRun,
    check_int,
)
from conveyor.pipeline.stats import PipelineStats

if TYPE_CHECKING:
    from conveyor.pipeline.iterator import NestedRun

__all__ = [
    "Pipeline",
    "files",
    "fixed_length_records",
    "from_arrays",
    "from_iterable",
    "range",
    "interleave",
    "zip",
    "concatenate",
    "mix",
]

_MAX_CAPACITY = 2**31


@dataclass(frozen=True)
class _Options:
    deterministic: bool = False
    seed: int | None = None


class Pipeline:
    """An input pipeline: iterate it to run it.

    Build one with :func:`files`, :func:`from_arrays`, :func:`fixed_length_records`,
    :func:`from_iterable` or :func:`range`, then chain stages; each method returns a new
    pipeline. Iterating yields elements (before any :meth:`batch`) or batches: NumPy
    arrays, or tuples/dicts of them, as the source and your functions shape them.

    A pipeline holds no run state: ``iter(pipe)`` (or :meth:`iterate`) returns a
    :class:`~conveyor.pipeline.iterator.PipelineIterator` with ``stats()``,
    ``state_dict()`` and ``close()``. :meth:`stats` here is the latest iterator's.
    """

    def __init__(
        self,
        stage: Stage,
        parents: tuple[Pipeline, ...] = (),
        capacity: int = DEFAULT_CAPACITY,
        options: _Options | None = None,
    ) -> None:
        self._stage = stage
        self._parents = parents
        self._capacity = capacity
        self._options: _Options = options or (parents[0]._options if parents else _Options())
        # The element kind is checked now: files(...).map(f) fails here, not at iter().
        self._level: Any = stage.output_level([p._level for p in parents])
        self._latest: list[Run] = []  # the latest run, for stats()

    # -- building -----------------------------------------------------------------
    def _then(self, stage: Stage) -> Pipeline:
        return Pipeline(stage, (self,), options=self._options)

    def apply(self, stage: Stage | Callable[[Pipeline], Pipeline]) -> Pipeline:
        """Add a :class:`~conveyor.pipeline.stage.Stage` of your own, or apply a function
        from pipeline to pipeline (tf.data's ``apply``)."""
        if isinstance(stage, Stage):
            if stage.inputs != 1:
                raise InvalidArgumentError("apply() takes a one-input stage")
            return self._then(stage)
        if callable(stage):
            result = stage(self)
            if not isinstance(result, Pipeline):
                raise InvalidArgumentError(
                    f"apply(fn): fn must return a Pipeline, got {type(result).__name__}"
                )
            return result
        raise InvalidArgumentError(f"apply() takes a Stage or a function, got {stage!r}")

    def read(self, reader: Any, threads: int = 1, chunk: int = 256) -> Pipeline:
        """Read the records of the files from :func:`files`.

        Args:
            reader: a conveyor reader (``FixedLengthRecordReader(3073)``,
                ``TFRecordReader()``, …); each thread uses its own copy.
            threads: reader threads sharing the file names.
            chunk: records per ``read_up_to`` call (a chunk never spans two files).

        Elements are ``(key, value)`` pairs, as TensorFlow's ``reader.read``.
        """
        return self._then(ReadStage(reader, threads, chunk))

    def map(
        self,
        fn: Callable[..., Any],
        batched: bool = False,
        threads: int = 1,
        workers: str = "thread",
        processes: int | None = None,
        rng: bool = False,
        on_error: str = "raise",
    ) -> Pipeline:
        """Replace each element by ``fn(element)`` (a tuple's parts become arguments).

        Args:
            fn: the function. With ``batched=True`` (before any batch) it receives a
                chunk of elements — each leaf with a leading row axis, read-only when it
                comes straight from an array source — and returns one.
            batched: whether ``fn`` is vectorised over rows.
            threads: threads running ``fn`` (their outputs keep input order only in
                deterministic mode).
            workers: ``"thread"``, or ``"process"`` to run ``fn`` in worker processes —
                for functions that hold the GIL; arrays travel through shared memory.
                ``fn`` must then be picklable (a module-level function).
            processes: worker processes for ``workers="process"`` (default 2).
            rng: pass ``fn`` a seeded ``numpy.random.Generator`` as its last argument
                (one per unit, from the pipeline's seed): reproducible augmentation.
            on_error: ``"raise"`` (deliver everything before the failing element, then
                its error) or ``"skip"`` (drop failing elements, counted in stats).
        """
        return self._then(MapStage(fn, batched, threads, workers, processes, rng, on_error))

    def filter(
        self, predicate: Callable[..., Any], batched: bool = False, threads: int = 1
    ) -> Pipeline:
        """Keep the elements for which ``predicate`` is true (``batched``: a mask)."""
        return self._then(FilterStage(predicate, batched, threads))

    def flat_map(self, fn: Callable[..., Any]) -> Pipeline:
        """Replace each element by the elements of ``fn(element)`` — an iterable, or a
        pipeline (run to its end)."""
        return self._then(FlatMapStage(fn))

    def shuffle(
        self, min_after_dequeue: int, seed: int | None = None, chunk: int = 128
    ) -> Pipeline:
        """Shuffle through a pool that keeps ``min_after_dequeue`` elements.

        For random-access sources prefer their own ``shuffle=True``: an exact
        permutation per epoch, and a resume that re-reads nothing.

        Args:
            min_after_dequeue: the pool size (TF's ``shuffle_batch`` argument; tf.data's
                ``buffer_size``). Larger mixes better and costs memory as it fills.
            seed: the stage's seed; by default derived from the pipeline's.
            chunk: elements drawn from the pool at a time.
        """
        return self._then(ShuffleStage(min_after_dequeue, seed, chunk))

    def batch(
        self,
        batch_size: int,
        drop_remainder: bool = False,
        pad: Any = False,
        lengths: dict[str, str] | None = None,
    ) -> Pipeline:
        """Group elements into batches (each leaf gains a leading batch axis).

        Args:
            batch_size: elements per batch.
            drop_remainder: drop a last, smaller batch.
            pad: ``True`` pads components of different shapes with zeros to the
                largest (TF's ``dynamic_pad``); a value (``pad=-1``) pads with it;
                ``False`` makes such batches an error naming the stage. For dict
                elements, a dict pads the components it names with their values
                (tf.data's ``padded_batch`` ``padding_values``): ``pad={"boxes": 0,
                "labels": -1}``; the others must agree in shape.
            lengths: for dict elements, ``{"num_boxes": "boxes"}`` adds to each batch
                the key ``"num_boxes"``: every element's length along the first axis
                of ``"boxes"`` before padding, ``int64`` of shape ``(batch,)``.

        >>> import numpy as np
        >>> els = [{"boxes": np.ones((k, 4), np.float32), "labels": np.arange(k)} for k in (2, 0)]
        >>> b = next(iter(from_iterable(els).batch(
        ...     2, pad={"boxes": 0, "labels": -1}, lengths={"num_boxes": "boxes"})))
        >>> b["boxes"].shape, b["labels"].tolist(), b["num_boxes"].tolist()
        ((2, 2, 4), [[0, 1], [-1, -1]], [2, 0])
        """
        stage = BatchStage(batch_size, drop_remainder, pad, lengths)  # checks the arguments
        source = self._stage
        if (
            not self._parents
            and isinstance(source, _EpochSource)
            and source.batch is None
            and source.level == 0
            and stage.pad is None
            and stage.lengths is None
        ):
            # Right after a random-access source the batch is cut by the source itself.
            fused = source.with_batch(stage.batch_size, stage.drop_remainder)
            return Pipeline(fused, (), self._capacity, self._options)
        return self._then(stage)

    def _map_batches_in_source(
        self, fn: Callable[..., Any], rng: bool | str, threads: int
    ) -> Pipeline:
        """``map(fn, rng=rng, threads=threads)`` over the batches of a batching
        random-access source, run by the source itself on ``threads`` threads (see
        ``_EpochSource.with_map``): one thread hand-off fewer per batch. Any other
        pipeline gets the plain ``map``. For conveyor's own dataset inputs.

        With ``rng="seed"`` the source passes ``fn`` a
        :class:`~conveyor.core.seeds.GeneratorSeed`, and the plain ``map`` a
        ``numpy.random.Generator``: ``fn`` must take either."""
        source = self._stage
        if (
            not self._parents
            and isinstance(source, _EpochSource)
            and source.batch is not None
            and source.mapping is None
        ):
            return Pipeline(source.with_map(fn, rng, threads), (), self._capacity, self._options)
        return self.map(fn, rng=bool(rng), threads=threads)

    def unbatch(self) -> Pipeline:
        """Split batches back into elements."""
        return self._then(UnbatchStage())

    def take(self, count: int) -> Pipeline:
        """Only the first ``count`` elements; upstream stops once they are taken."""
        return self._then(TakeStage(count))

    def skip(self, count: int) -> Pipeline:
        """Drop the first ``count`` elements."""
        return self._then(SkipStage(count))

    def enumerate(self, start: int = 0) -> Pipeline:
        """Pair each element with its position: ``(i, element)``."""
        return self._then(EnumerateStage(start))

    def shard(self, index: int, count: int) -> Pipeline:
        """Keep this worker's share: elements ``index, index + count, …``.

        Sharding happens as early as possible: on a :func:`files` source (or a ``read``
        right after it) whole files are divided when there are at least ``count`` of
        them, otherwise each file's records; on an array or range source, rows of each
        epoch's order. Ranks with the same seed then split every epoch exactly.
        """
        count = check_int("shard count", count, minimum=1)
        index = check_int("shard index", index, minimum=0, maximum=count - 1)
        stage = self._stage
        if not self._parents and hasattr(stage, "with_shard") and not _batched(stage):
            return Pipeline(stage.with_shard(index, count), (), self._capacity, self._options)
        if isinstance(stage, ReadStage) and not self._parents[0]._parents:
            files_node = self._parents[0]
            source = files_node._stage
            if isinstance(source, FilesSource):
                if count <= source.size:
                    sharded = files_node.shard(index, count)
                    return Pipeline(stage, (sharded,), self._capacity, self._options)
                read = copy.copy(stage)
                read.record_shard = (index, count)
                return Pipeline(read, (files_node,), self._capacity, self._options)
        return self._then(ShardStage(index, count))

    def prefetch(self, count: int) -> Pipeline:
        """Let the last stage run up to ``count`` units ahead of the consumer."""
        count = check_int("prefetch count", count, minimum=1, maximum=_MAX_CAPACITY)
        return Pipeline(self._stage, self._parents, count, self._options)

    def repeat(self, count: int | None = None) -> Pipeline:
        """Repeat everything so far ``count`` times (``None``: forever).

        Right after a source this sets its epoch count (free); after other stages each
        epoch is a fresh run of them, with a seed derived from the epoch, so shuffles
        reshuffle.
        """
        count = check_epochs(count)
        stage = self._stage
        if not self._parents and hasattr(stage, "with_epochs") and not _batched(stage):
            current = getattr(stage, "epochs", None)
            epochs = None if count is None or current is None else current * count
            return Pipeline(stage.with_epochs(epochs), (), self._capacity, self._options)
        return Pipeline(RepeatStage(self, count), (), options=self._options)

    def cache(self, path: str | os.PathLike[str] | None = None) -> Pipeline:
        """Keep the first complete pass over this pipeline, in memory or in the file
        ``path``, and serve every later pass from it (tf.data's ``cache``)."""
        return Pipeline(CacheStage(self, path), (), options=self._options)

    def interleave(self, *others: Pipeline) -> Pipeline:
        """Join this pipeline's output with ``others`` into one stream."""
        return interleave(self, *others)

    def zip(self, *others: Pipeline) -> Pipeline:
        """Pair elements with those of ``others``: ``(a, b, …)``."""
        return zip(self, *others)

    def concatenate(self, *others: Pipeline) -> Pipeline:
        """This pipeline's elements, then those of ``others``."""
        return concatenate(self, *others)

    def with_options(self, deterministic: bool | None = None, seed: int | None = None) -> Pipeline:
        """Set pipeline-wide options.

        Args:
            deterministic: for a given seed, produce the same output whatever the thread
                counts and timing (multi-threaded stages restore input order), and make
                ``state_dict()`` resume exactly. Default off, as in TensorFlow.
            seed: the seed every random stage derives its own from.
        """
        options = self._options
        if deterministic is not None:
            options = replace(options, deterministic=bool(deterministic))
        if seed is not None:
            options = replace(options, seed=check_int("seed", seed))
        return Pipeline(self._stage, self._parents, self._capacity, options)

    # -- describing ---------------------------------------------------------------
    def cardinality(self) -> int:
        """The number of elements a run yields, if known before running; else
        ``UNKNOWN`` (-2), or ``INFINITE`` (-1) for an endless one (tf.data's codes)."""
        return int(self._stage.cardinality([p.cardinality() for p in self._parents]))

    def __len__(self) -> int:
        n = self.cardinality()
        if n == INFINITE:
            raise TypeError("the pipeline is infinite")
        if n == UNKNOWN:
            raise TypeError("the pipeline's length is unknown before it runs")
        return n

    def _fingerprint(self) -> list[str]:
        out: list[str] = []
        for p in self._parents:
            out.extend(p._fingerprint())
        out.append(self._stage.describe())
        return out

    def __repr__(self) -> str:
        chain = []
        node: Pipeline | None = self
        while node is not None:
            chain.append(node._stage.name)
            node = node._parents[0] if node._parents else None
        return "Pipeline(" + " -> ".join(reversed(chain)) + ")"

    # -- running ------------------------------------------------------------------
    def _build(self, run: Run, mark: Any, counter: list[int]) -> _StageRun:
        parent_marks = mark["p"] if mark is not None else [None] * len(self._parents)
        inputs = [p._build(run, m, counter) for p, m in builtins.zip(self._parents, parent_marks)]
        index = counter[0]
        counter[0] += 1
        return _StageRun(
            run,
            copy.copy(self._stage),
            index,
            [i.channel for i in inputs],
            [p._level for p in self._parents],
            self._level,
            self._capacity,
            mark,
        )

    def __iter__(self) -> Any:
        return self.iterate()

    def iterate(self, state: dict[str, Any] | None = None) -> Any:
        """Start a run, from the beginning or from ``state`` (an iterator's
        ``state_dict()``); returns its :class:`~conveyor.pipeline.iterator.PipelineIterator`."""
        from conveyor.pipeline.iterator import PipelineIterator

        return PipelineIterator(self, state)

    def _units(self, seed: int, deterministic: bool, mark: Any, root_seed: int) -> NestedRun:
        """Run the pipeline for a stage that nests it: its units with their marks."""
        from conveyor.pipeline.iterator import NestedRun, PipelineIterator

        it = PipelineIterator(
            self, None, seed=seed, deterministic=deterministic, mark=mark, root_seed=root_seed
        )
        return NestedRun(it)

    def collect(self) -> Any:
        """Run to the end and return everything: one chunk (arrays with a row axis)
        before any batch, else a list of the elements."""
        with self.iterate() as it:
            units = [data for data, _ in it._raw()]
        if self._level == 0:
            return st.concat(units) if units else np.empty(0)
        return units

    def stats(self) -> PipelineStats:
        """Figures of the latest iterator's run (see
        :class:`~conveyor.pipeline.stats.PipelineStats`).

        Raises:
            FailedPreconditionError: the pipeline has not been iterated yet.
        """
        if not self._latest:
            raise FailedPreconditionError("stats() needs a pipeline that is or was iterated")
        return self._latest[0].stats()


def _batched(stage: Stage) -> bool:
    """Whether ``stage`` is a source with a batch fused in (its elements are batches:
    a shard or repeat then applies to batches, as a separate stage)."""
    return getattr(stage, "batch", None) is not None


def files(
    patterns: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    shuffle: bool = True,
    seed: int | None = None,
    epochs: int | None = 1,
) -> Pipeline:
    """A pipeline of file names for :meth:`Pipeline.read` (TF's filename queue).

    Args:
        patterns: glob patterns or file names, local or fsspec URLs.
        shuffle: a fresh order each epoch.
        seed: the order's seed (default: derived from the pipeline's).
        epochs: passes over the files; ``None`` cycles forever.

    Raises:
        NotFoundError: a pattern matches no file — now, not as a hang later.
    """
    return Pipeline(FilesSource(patterns, shuffle, seed, epochs))


def fixed_length_records(
    patterns: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    record_bytes: int,
    header_bytes: int = 0,
    footer_bytes: int = 0,
    shuffle: bool = False,
    seed: int | None = None,
    epochs: int | None = 1,
    chunk_size: int = 256,
) -> Pipeline:
    """The records of fixed-length record files (the CIFAR-10 binary format), by index.

    TF's ``FixedLengthRecordDataset``: each element is one record, a ``(record_bytes,)``
    uint8 row. Files are memory-mapped and records gathered by index, so
    ``shuffle=True`` is an exact permutation of every record of every file per epoch,
    and resuming costs one permutation, not a replay. Bytes after the last whole record
    of a file are reported as a ``DataLossError`` at the end of the first epoch, after
    every whole record.
    """
    return Pipeline(
        FixedLengthRecordSource(
            patterns, record_bytes, header_bytes, footer_bytes, shuffle, seed, epochs, chunk_size
        )
    )


def from_arrays(
    arrays: Any,
    shuffle: bool = False,
    seed: int | None = None,
    epochs: int | None = 1,
    chunk_size: int = 256,
) -> Pipeline:
    """A pipeline of the rows of in-memory arrays (TF's ``slice_input_producer``).

    Args:
        arrays: an array, or a tuple/dict of arrays with one row count; elements are
            rows in the same structure. Functions downstream see read-only data.
        shuffle, seed, epochs: as :func:`files` (a shuffle is an exact permutation).
        chunk_size: rows moved per unit.
    """
    return Pipeline(ArraySource(arrays, shuffle, seed, epochs, chunk_size))


def from_iterable(
    iterable: Iterable[Any] | Callable[[], Iterator[Any]],
    epochs: int | None = 1,
    chunk_size: int = 64,
) -> Pipeline:
    """A pipeline of the elements of an iterable, generator, or generator function.

    A plain iterator can be consumed once; for several epochs, several runs or a resume
    pass a re-iterable or a function returning a fresh iterator.
    """
    return Pipeline(IterableSource(iterable, epochs, chunk_size))


def range(
    start: int,
    stop: int | None = None,
    step: int = 1,
    epochs: int | None = 1,
    chunk_size: int = 1024,
) -> Pipeline:
    """A pipeline of int64 integers, as Python's ``range``."""
    if stop is None:
        start, stop = 0, start
    return Pipeline(RangeSource(start, stop, step, epochs, chunk_size))


def _pipelines(name: str, pipelines: tuple[Any, ...], least: int = 2) -> tuple[Pipeline, ...]:
    if len(pipelines) < least:
        raise InvalidArgumentError(f"{name} needs at least {least} pipelines")
    for p in pipelines:
        if not isinstance(p, Pipeline):
            raise InvalidArgumentError(f"{name} takes pipelines, got {p!r}")
    return pipelines


def interleave(*pipelines: Pipeline) -> Pipeline:
    """Join several pipelines into one stream (TF's ``batch_join`` idea): a unit from
    each live input in turn (in deterministic mode strictly so)."""
    pipes = _pipelines("interleave", pipelines)
    return Pipeline(InterleaveStage(len(pipes)), pipes, options=pipes[0]._options)


def zip(*pipelines: Pipeline) -> Pipeline:
    """Elements of several pipelines side by side, ``(a_i, b_i, …)`` (tf.data's ``zip``);
    ends with the shortest."""
    pipes = _pipelines("zip", pipelines)
    return Pipeline(ZipStage(len(pipes)), pipes, options=pipes[0]._options)


def concatenate(*pipelines: Pipeline) -> Pipeline:
    """The elements of each pipeline in turn (tf.data's ``concatenate``)."""
    pipes = _pipelines("concatenate", pipelines)
    return Pipeline(ConcatenateStage(len(pipes)), pipes, options=pipes[0]._options)


def mix(
    pipelines: Iterable[Pipeline],
    weights: Any = None,
    seed: int | None = None,
    stop_on_empty: bool = False,
    chunk: int = 256,
) -> Pipeline:
    """Elements drawn at random from several pipelines (tf.data's
    ``sample_from_datasets``): each element comes from pipeline ``i`` with probability
    ``weights[i]`` (renormalised over those not yet ended).

    >>> a, b = range(0, 1000), range(1000, 2000)
    >>> out = mix([a, b], weights=[0.75, 0.25], seed=0).collect()
    >>> sorted(out.tolist()) == list(builtins.range(2000))
    True
    >>> int((out[:400] < 1000).sum())  # about three in four from the first
    283
    """
    pipes = _pipelines("mix", tuple(pipelines), least=1)
    stage = MixStage(len(pipes), weights, seed, stop_on_empty, chunk)
    return Pipeline(stage, pipes, options=pipes[0]._options)
