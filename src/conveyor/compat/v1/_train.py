"""``tf.train``: QueueRunner and its registry in the graph, the input producers and the
batching functions, built from the facade's queues and run by conveyor's runners."""

from __future__ import annotations

import threading
import weakref
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from conveyor.compat.v1 import _ops
from conveyor.compat.v1._dtypes import PYOBJECT, TensorShape, as_shape
from conveyor.compat.v1._graph import (
    GraphKeys,
    Operation,
    RunContext,
    Session,
    SparseTensor,
    Tensor,
    Variable,
    _SessionClosed,
    convert_to_tensor,
    get_default_graph,
    get_default_session,
    make_op,
)
from conveyor.compat.v1._queues import (
    FIFOQueue,
    PaddingFIFOQueue,
    QueueBase,
    RandomShuffleQueue,
    Ticket,
    new_sequencer,
)
from conveyor.core.coordinator import Coordinator, LooperThread
from conveyor.core.errors import InvalidArgumentError, OutOfRangeError
from conveyor.core.runner import QueueRunner as _CoreRunner

__all__ = [
    "Coordinator",
    "LooperThread",
    "QueueRunner",
    "add_queue_runner",
    "start_queue_runners",
    "input_producer",
    "string_input_producer",
    "range_input_producer",
    "slice_input_producer",
    "limit_epochs",
    "match_filenames_once",
    "batch",
    "maybe_batch",
    "batch_join",
    "maybe_batch_join",
    "shuffle_batch",
    "maybe_shuffle_batch",
    "shuffle_batch_join",
    "maybe_shuffle_batch_join",
    "get_or_create_global_step",
    "get_global_step",
    "create_global_step",
]


class QueueRunner:
    """Enqueue ops run repeatedly by threads of a session (``tf.train.QueueRunner``).

    Each session gets its own :class:`conveyor.QueueRunner`, whose threads run the
    enqueue ops through ``sess``; several threads running one op deliver its elements in
    the order their upstream dequeues took them.

    Args:
        queue: the queue the ops fill.
        enqueue_ops: the operations, one per thread (repeat one for several threads).
        close_op: run when every thread met the end of its input; default
            ``queue.close()``.
        cancel_op: run when the coordinator stops; default
            ``queue.close(cancel_pending_enqueues=True)``.
        queue_closed_exception_types: errors that end a thread cleanly; default
            ``(tf.errors.OutOfRangeError,)``.

    Raises:
        ValueError: no queue or no enqueue ops.
    """

    def __init__(
        self,
        queue: Any = None,
        enqueue_ops: Sequence[Operation] | None = None,
        close_op: Operation | None = None,
        cancel_op: Operation | None = None,
        queue_closed_exception_types: Any = None,
        queue_runner_def: Any = None,
        import_scope: str | None = None,
    ) -> None:
        if queue_runner_def is not None:
            raise NotImplementedError(
                "QueueRunner(queue_runner_def=): conveyor's graphs have no protos; build "
                "the runner from its queue and ops"
            )
        if queue is None or not enqueue_ops:
            raise ValueError("Must provide queue and enqueue_ops.")
        self._queue = queue
        self._enqueue_ops = list(enqueue_ops)
        self._close_op = close_op if close_op is not None else queue.close()
        self._cancel_op = (
            cancel_op if cancel_op is not None else queue.close(cancel_pending_enqueues=True)
        )
        if queue_closed_exception_types is None:
            queue_closed_exception_types = (OutOfRangeError,)
        types = tuple(queue_closed_exception_types)
        if not types or not all(
            isinstance(t, type) and issubclass(t, BaseException) for t in types
        ):
            raise TypeError(
                "queue_closed_exception_types, when provided, must be a tuple of "
                f"tf.error types, but saw: {queue_closed_exception_types!r}"
            )
        self._types = types
        self._lock = threading.Lock()
        self._runners: weakref.WeakKeyDictionary[Session, _CoreRunner] = weakref.WeakKeyDictionary()

    @property
    def queue(self) -> Any:
        return self._queue

    @property
    def enqueue_ops(self) -> list[Operation]:
        return list(self._enqueue_ops)

    @property
    def close_op(self) -> Operation:
        return self._close_op

    @property
    def cancel_op(self) -> Operation:
        return self._cancel_op

    @property
    def queue_closed_exception_types(self) -> tuple[type[BaseException], ...]:
        return self._types

    @property
    def name(self) -> str:
        return str(self._queue.name)

    @property
    def exceptions_raised(self) -> list[BaseException]:
        """The exceptions the threads raised (other than end of input)."""
        with self._lock:
            runners = list(self._runners.values())
        return [
            e for r in runners for e in r.exceptions_raised if not isinstance(e, _SessionClosed)
        ]

    def _runner(self, sess: Session) -> _CoreRunner:
        with self._lock:
            runner = self._runners.get(sess)
            if runner is None:
                counts = Counter(self._enqueue_ops)
                sequencers = {op: new_sequencer() for op, n in counts.items() if n > 1}
                runner = _CoreRunner(
                    self._queue,
                    [self._enqueue_fn(sess, op, sequencers.get(op)) for op in self._enqueue_ops],
                    close_op=lambda: sess._run_op(self._close_op),
                    cancel_op=lambda: sess._run_op(self._cancel_op),
                    queue_closed_exception_types=(*self._types, _SessionClosed),
                    name=self.name,
                )
                self._runners[sess] = runner
            return runner

    @staticmethod
    def _enqueue_fn(sess: Session, op: Operation, sequencer: Any) -> Any:
        from conveyor.compat.v1._vectorize import plan_for

        plan = plan_for(op)
        if plan is not None:
            if sequencer is None:
                return lambda: sess._run_block(plan)
            return lambda: sess._run_block(plan, Ticket(sequencer))
        if sequencer is None:
            return lambda: sess._run_op(op)
        return lambda: sess._run_op(op, Ticket(sequencer))

    def create_threads(
        self,
        sess: Session,
        coord: Coordinator | None = None,
        daemon: bool = False,
        start: bool = False,
    ) -> list[threading.Thread]:
        """Create (and optionally start) threads running the enqueue ops in ``sess``.

        Returns:
            The threads (with ``coord``, one more that cancels the queue on a stop);
            ``[]`` when this runner's threads already run in ``sess``.
        """
        runner = self._runner(sess)
        sess._started_queues.add(self._queue)
        return runner.create_threads(coord=coord, daemon=daemon, start=start)


def add_queue_runner(qr: QueueRunner, collection: str = GraphKeys.QUEUE_RUNNERS) -> None:
    """Add ``qr`` to a collection of the default graph (``tf.train.add_queue_runner``)."""
    get_default_graph().add_to_collection(collection, qr)


def start_queue_runners(
    sess: Session | None = None,
    coord: Coordinator | None = None,
    daemon: bool = True,
    start: bool = True,
    collection: str = GraphKeys.QUEUE_RUNNERS,
) -> list[threading.Thread]:
    """Start the threads of every runner in the collection of ``sess``'s graph
    (``tf.train.start_queue_runners``).

    Raises:
        ValueError: no ``sess`` and no default session.
        TypeError: ``sess`` is not a Session.
    """
    if sess is None:
        sess = get_default_session()
        if sess is None:
            raise ValueError(
                "Cannot start queue runners: No default session is registered. Use `with "
                "sess.as_default()` or pass an explicit session to "
                "tf.start_queue_runners(sess=sess)"
            )
    if not isinstance(sess, Session):
        raise TypeError(f"sess must be a `tf.Session` object. Given class: {sess.__class__}")
    threads: list[threading.Thread] = []
    for qr in sess.graph.get_collection(collection):
        threads.extend(qr.create_threads(sess, coord=coord, daemon=daemon, start=start))
    return threads


# -- producers -------------------------------------------------------------------------
def _summary_scalar(name: str, tensor: Tensor) -> None:
    from conveyor.compat.v1 import summary

    summary.scalar(name, tensor)


def _fill_fraction(queue: QueueBase, capacity: int) -> Tensor:
    return _ops.cast(queue.size(), "float32") * np.float32(1.0 / capacity)


def limit_epochs(tensor: Any, num_epochs: int | None = None, name: str | None = None) -> Tensor:
    """``tensor`` for ``num_epochs`` runs, then ``OutOfRangeError``
    (``tf.train.limit_epochs``); the count belongs to the session."""
    t = convert_to_tensor(tensor)
    if num_epochs is None:
        return t
    if num_epochs <= 0:
        raise ValueError(f"num_epochs must be > 0 not {num_epochs}.")
    holder: list[Operation] = []

    class _Count:
        def __init__(self) -> None:
            self.n = 0
            self.lock = threading.Lock()

    def compute(run: RunContext, v: list[Any]) -> Any:
        count = run.resource(holder[0], _Count)
        with count.lock:
            if count.n >= num_epochs:
                raise OutOfRangeError(f"Reached limit of {num_epochs}")
            count.n += 1
        return v[0]

    op = make_op(
        "LimitEpochs",
        [t],
        compute,
        [(t.dtype, t.shape)],
        name=name or "limit_epochs",
        stateful=True,
    )
    holder.append(op)
    return op.outputs[0]


def input_producer(
    input_tensor: Any,
    element_shape: Any = None,
    num_epochs: int | None = None,
    shuffle: bool = True,
    seed: int | None = None,
    capacity: int = 32,
    shared_name: str | None = None,
    summary_name: str | None = None,
    name: str | None = None,
    cancel_op: Operation | None = None,
) -> FIFOQueue:
    """A queue of the rows of ``input_tensor``, epoch after epoch, filled by a
    QueueRunner in the graph's collection (``tf.train.input_producer``).

    Each session's epochs are conveyor's (:mod:`conveyor.io.producers`): exactly
    ``num_epochs`` of them, each a fresh permutation when ``shuffle``.

    Raises:
        ValueError: the element shape is not fully known; ``num_epochs`` <= 0.
    """
    from conveyor.io.producers import _EpochFeeder

    graph = get_default_graph()
    with graph.name_scope(name or "input_producer") as scope:
        t = convert_to_tensor(input_tensor)
        shape = (
            t.shape[1:].merge_with(as_shape(element_shape))
            if t.shape.ndims is not None
            else as_shape(element_shape)
        )
        if not shape.is_fully_defined():
            raise ValueError(
                "Either `input_tensor` must have a fully defined shape or `element_shape` "
                "must be specified"
            )
        if num_epochs is not None and num_epochs <= 0:
            raise ValueError(f"num_epochs must be > 0 not {num_epochs}.")
        seeds = _ops.get_seed(seed)
        rng_seed = None if seeds[0] is None else [seeds[0], seeds[1] or 0]
        # TensorFlow names the queue after the scope itself: "input_producer"
        queue = FIFOQueue(capacity, [t.dtype], [shape], name=scope)
        holder: list[Operation] = []
        string_input = t.dtype.name == "string"

        def enqueue(run: RunContext, v: list[Any]) -> None:
            def make() -> Any:
                items = np.asarray(v[0])
                if items.ndim == 0 or len(items) == 0:
                    raise InvalidArgumentError(
                        "string_input_producer requires a non-null input tensor"
                        if string_input
                        else "input_producer requires a non-empty input_tensor"
                    )
                return _EpochFeeder(queue._queue(run), items, num_epochs, shuffle, rng_seed)  # type: ignore[arg-type]

            run.resource(holder[0], make)()

        op = make_op(
            "QueueEnqueueManyV2",
            [t],
            enqueue,
            [],
            name=f"{scope.rstrip('/').split('/')[-1]}_EnqueueMany",
            stateful=True,
        )
        holder.append(op)
        add_queue_runner(QueueRunner(queue, [op], cancel_op=cancel_op))
        if summary_name is not None:
            _summary_scalar(summary_name, _fill_fraction(queue, capacity))
    return queue


def string_input_producer(
    string_tensor: Any,
    num_epochs: int | None = None,
    shuffle: bool = True,
    seed: int | None = None,
    capacity: int = 32,
    shared_name: str | None = None,
    name: str | None = None,
    cancel_op: Operation | None = None,
) -> FIFOQueue:
    """A queue of strings (file names), epoch after epoch
    (``tf.train.string_input_producer``). ``match_filenames_once`` feeds it directly.

    Raises:
        ValueError: an empty list.
    """
    if isinstance(string_tensor, list | tuple) and not string_tensor:
        raise ValueError("string_input_producer requires a non-null input tensor")
    if isinstance(string_tensor, str | bytes):
        raise ValueError("string_input_producer needs a list of strings, not one string")
    t = convert_to_tensor(string_tensor, dtype="string")
    return input_producer(
        t,
        element_shape=[],
        num_epochs=num_epochs,
        shuffle=shuffle,
        seed=seed,
        capacity=capacity,
        shared_name=shared_name,
        name=name or "input_producer",
        summary_name=f"fraction_of_{capacity}_full",
        cancel_op=cancel_op,
    )


def range_input_producer(
    limit: Any,
    num_epochs: int | None = None,
    shuffle: bool = True,
    seed: int | None = None,
    capacity: int = 32,
    shared_name: str | None = None,
    name: str | None = None,
) -> FIFOQueue:
    """A queue of the int32s ``0 .. limit - 1``, epoch after epoch
    (``tf.train.range_input_producer``)."""
    if isinstance(limit, Tensor):
        rng_t = make_op(
            "Range",
            [limit],
            lambda run, v: np.arange(int(v[0]), dtype=np.int32),
            [("int32", [None])],
        ).outputs[0]
    else:
        rng_t = convert_to_tensor(np.arange(int(limit), dtype=np.int32))
    return input_producer(
        rng_t,
        element_shape=[],
        num_epochs=num_epochs,
        shuffle=shuffle,
        seed=seed,
        capacity=capacity,
        shared_name=shared_name,
        name=name or "input_producer",
        summary_name=f"fraction_of_{capacity}_full",
    )


def slice_input_producer(
    tensor_list: Sequence[Any],
    num_epochs: int | None = None,
    shuffle: bool = True,
    seed: int | None = None,
    capacity: int = 32,
    shared_name: str | None = None,
    name: str | None = None,
) -> list[Tensor]:
    """One slice of every tensor, at an index from a range producer
    (``tf.train.slice_input_producer``).

    Returns:
        A list of tensors: ``[t[i] for t in tensor_list]`` for the next index ``i``.

    Raises:
        ValueError: an empty list.
    """
    tensors = [convert_to_tensor(t) for t in tensor_list]
    if not tensors:
        raise ValueError("Expected at least one tensor in slice_input_producer().")
    graph = get_default_graph()
    with graph.name_scope(name or "input_producer"):
        first = tensors[0].shape
        if first.ndims and first.as_list()[0] is not None:
            limit: Any = first.as_list()[0]
        else:
            limit = _ops.shape(tensors[0])[0]
        queue = range_input_producer(
            limit,
            num_epochs=num_epochs,
            shuffle=shuffle,
            seed=seed,
            capacity=capacity,
            shared_name=shared_name,
        )
        index = queue.dequeue()
        return [_ops.gather(t, index) for t in tensors]


def match_filenames_once(pattern: Any, name: str | None = None) -> Variable:
    """A local variable holding the sorted file names matching ``pattern`` (a glob or a
    list of them), computed by ``local_variables_initializer`` (``tf.train.match_filenames_once``).
    """
    from conveyor.io.files import match_files

    def matching(run: RunContext, v: list[Any]) -> Any:
        names = match_files(pattern)
        out = np.empty(len(names), dtype=object)
        out[:] = [n.encode() if isinstance(n, str) else n for n in names]
        return out

    files = make_op("MatchingFiles", [], matching, [("string", [None])], stateful=True).outputs[0]
    return Variable(
        files,
        trainable=False,
        collections=[GraphKeys.LOCAL_VARIABLES],
        validate_shape=False,
        name=name or "matching_filenames",
    )


# -- batching --------------------------------------------------------------------------
def _as_tensor_list(tensors: Any) -> tuple[list[Any], Any]:
    if isinstance(tensors, dict):
        keys = sorted(tensors)
        return [tensors[k] for k in keys], keys
    if isinstance(tensors, Tensor | SparseTensor | Variable):
        return [tensors], None
    return list(tensors), None


class _Sparse:
    """One element's sparse value in a queue (a holder, so no NumPy call unpacks it)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _store_sparse(t: SparseTensor) -> Tensor:
    from conveyor.ops.parsing import SparseTensorValue

    def store(run: RunContext, v: list[Any]) -> Any:
        out = np.empty((), dtype=object)
        out[()] = _Sparse(SparseTensorValue(*(np.asarray(x) for x in v)))
        return out

    return make_op(
        "AddSparseToTensorsMap", [t.indices, t.values, t.dense_shape], store, [(PYOBJECT, [])]
    ).outputs[0]


def _restore_sparse(stored: Tensor, like: SparseTensor) -> SparseTensor:
    """The batched sparse tensor of a dequeued block of stored elements: indices gain
    the batch index in front, the dense shape the batch size and the largest extents."""
    rank = like.dense_shape.shape.as_list()[0] if like.dense_shape.shape.ndims else None

    def restore(run: RunContext, v: list[Any]) -> Any:
        held = np.asarray(v[0], dtype=object).reshape(-1)
        parts = [(h.item() if isinstance(h, np.ndarray) else h).value for h in held]
        width = (rank or 0) if not parts else len(parts[0].dense_shape)
        if not parts:
            return (
                np.zeros((0, width + 1), np.int64),
                np.zeros((0,), like.dtype.as_numpy_dtype),
                np.array([0, *([0] * width)], np.int64),
            )
        indices = np.concatenate(
            [
                np.concatenate(
                    [
                        np.full((len(p.indices), 1), i, np.int64),
                        np.asarray(p.indices, np.int64).reshape(-1, width),
                    ],
                    axis=1,
                )
                for i, p in enumerate(parts)
            ]
        )
        values = np.concatenate([np.asarray(p.values) for p in parts])
        extents = np.max(np.stack([np.asarray(p.dense_shape, np.int64) for p in parts]), axis=0)
        return indices, values, np.array([len(parts), *extents.tolist()], np.int64)

    op = make_op(
        "TakeManySparseFromTensorsMap",
        [stored],
        restore,
        [
            ("int64", [None, None if rank is None else rank + 1]),
            (like.dtype, [None]),
            ("int64", [None if rank is None else rank + 1]),
        ],
    )
    return SparseTensor(op.outputs[0], op.outputs[1], op.outputs[2])


def _validate(
    tensor_list: list[Any], what: str = "batch()", enqueue_many: bool = False
) -> list[Tensor]:
    if not tensor_list:
        raise ValueError(f"Expected at least one tensor in {what}.")
    out = []
    for t in tensor_list:
        if isinstance(t, SparseTensor):
            if enqueue_many:
                raise NotImplementedError(
                    f"{what} of a SparseTensor with enqueue_many=True: batch single "
                    "elements, or use conveyor's Pipeline.batch"
                )
            stored = _store_sparse(t)
            stored._sparse_like = t  # type: ignore[attr-defined]
            out.append(stored)
            continue
        out.append(convert_to_tensor(t))
    return out


def _restore_all(dequeued: Any, stored: list[Tensor]) -> Any:
    likes: list[Any] = [getattr(t, "_sparse_like", None) for t in stored]
    if not any(likes):
        return dequeued
    if isinstance(dequeued, list):
        return [d if like is None else _restore_sparse(d, like) for d, like in zip(dequeued, likes)]
    return _restore_sparse(dequeued, likes[0])


def _shapes(lists: list[list[Tensor]], shapes: Any, enqueue_many: bool) -> list[TensorShape]:
    if shapes is not None:
        return [as_shape(s) for s in shapes]
    out = []
    for i in range(len(lists[0])):
        merged: TensorShape | None = None
        for tl in lists:
            sh = tl[i].shape
            if sh.ndims is None:
                raise ValueError(f"Cannot infer Tensor's rank: {tl[i]}")
            if enqueue_many:
                sh = sh[1:]
            merged = sh if merged is None else merged.merge_with(sh)
        out.append(merged)
    return [s if s is not None else TensorShape(None) for s in out]


def _keep(keep_input: Any, enqueue_many: bool) -> Tensor | None:
    if keep_input is True:
        return None
    keep = convert_to_tensor(keep_input, dtype="bool")
    ndims = keep.shape.ndims
    if ndims is None:
        raise ValueError("`keep_input` dimensions must be known at graph construction.")
    if not enqueue_many and ndims == 1:
        raise ValueError("`keep_input` cannot be a vector when `enqueue_many=False`.")
    if ndims not in (0, 1):
        raise ValueError("`keep_input` must be 0 or 1 dimensions.")
    return keep


def _enqueue_op(
    queue: QueueBase, tensors: list[Tensor], enqueue_many: bool, keep: Tensor | None
) -> Operation:
    if keep is None:
        return queue.enqueue_many(tensors) if enqueue_many else queue.enqueue(tensors)
    return queue._enqueue_kept(tensors, enqueue_many, keep)


def _queue_kind(dynamic_pad: bool) -> Any:
    return PaddingFIFOQueue if dynamic_pad else FIFOQueue


def _finish(
    queue: QueueBase,
    batch_size: Any,
    allow_smaller: bool,
    name: str,
    keys: Any,
    original: Any,
    stored: list[Tensor] | None = None,
) -> Any:
    dequeued = (
        queue.dequeue_up_to(batch_size, name=name)
        if allow_smaller
        else queue.dequeue_many(batch_size, name=name)
    )
    dequeued = _restore_all(dequeued, stored or [])
    if isinstance(original, dict):
        items = dequeued if isinstance(dequeued, list) else [dequeued]
        return {k: items[i] for i, k in enumerate(keys)}
    return dequeued


def _batch(
    tensors_list: list[Any],
    original: Any,
    batch_size: Any,
    keep_input: Any,
    num_threads: int,
    capacity: int,
    enqueue_many: bool,
    shapes: Any,
    dynamic_pad: bool,
    allow_smaller_final_batch: bool,
    name: str | None,
    default: str,
    join: bool,
) -> Any:
    graph = get_default_graph()
    with graph.name_scope(name or default) as scope:
        keys = None
        lists = []
        for tensors in tensors_list:
            tl, keys = _as_tensor_list(tensors)
            lists.append(_validate(tl, f"{default}()", enqueue_many))
        if len({len(tl) for tl in lists}) != 1:
            raise ValueError("All lists of tensors must have the same length")
        keep = _keep(keep_input, enqueue_many)
        dtypes = [t.dtype for t in lists[0]]
        for tl in lists[1:]:
            if [t.dtype for t in tl] != dtypes:
                raise TypeError(f"Expected types to be {dtypes}, got {[t.dtype for t in tl]}")
        queue_shapes = _shapes(lists, shapes, enqueue_many)
        queue = _queue_kind(dynamic_pad)(capacity=capacity, dtypes=dtypes, shapes=queue_shapes)
        if join:
            ops = [_enqueue_op(queue, tl, enqueue_many, keep) for tl in lists]
        else:
            ops = [_enqueue_op(queue, lists[0], enqueue_many, keep)] * num_threads
        add_queue_runner(QueueRunner(queue, ops))
        _summary_scalar(f"fraction_of_{capacity}_full", _fill_fraction(queue, capacity))
        return _finish(
            queue,
            batch_size,
            allow_smaller_final_batch,
            scope.rstrip("/"),
            keys,
            original,
            lists[0],
        )


def _shuffle_batch(
    tensors_list: list[Any],
    original: Any,
    batch_size: Any,
    capacity: int,
    min_after_dequeue: int,
    keep_input: Any,
    num_threads: int,
    seed: int | None,
    enqueue_many: bool,
    shapes: Any,
    allow_smaller_final_batch: bool,
    name: str | None,
    default: str,
    join: bool,
) -> Any:
    graph = get_default_graph()
    with graph.name_scope(name or default) as scope:
        if capacity <= min_after_dequeue:
            raise ValueError(
                f"capacity {capacity} must be bigger than min_after_dequeue {min_after_dequeue}."
            )
        keys = None
        lists = []
        for tensors in tensors_list:
            tl, keys = _as_tensor_list(tensors)
            lists.append(_validate(tl, f"{default}()", enqueue_many))
        if len({len(tl) for tl in lists}) != 1:
            raise ValueError("All lists of tensors must have the same length")
        keep = _keep(keep_input, enqueue_many)
        dtypes = [t.dtype for t in lists[0]]
        queue_shapes = _shapes(lists, shapes, enqueue_many)
        queue = RandomShuffleQueue(
            capacity=capacity,
            min_after_dequeue=min_after_dequeue,
            seed=seed,
            dtypes=dtypes,
            shapes=queue_shapes,
        )
        if join:
            ops = [_enqueue_op(queue, tl, enqueue_many, keep) for tl in lists]
        else:
            ops = [_enqueue_op(queue, lists[0], enqueue_many, keep)] * num_threads
        add_queue_runner(QueueRunner(queue, ops))
        room = capacity - min_after_dequeue
        full = _ops.make_op(
            "Maximum",
            [queue.size()],
            lambda run, v: np.float32(max(0, int(v[0]) - min_after_dequeue) * (1.0 / room)),
            [("float32", [])],
        ).outputs[0]
        _summary_scalar(f"fraction_over_{min_after_dequeue}_of_{room}_full", full)
        return _finish(
            queue,
            batch_size,
            allow_smaller_final_batch,
            scope.rstrip("/"),
            keys,
            original,
            lists[0],
        )


def batch(
    tensors: Any,
    batch_size: Any,
    num_threads: int = 1,
    capacity: int = 32,
    enqueue_many: bool = False,
    shapes: Any = None,
    dynamic_pad: bool = False,
    allow_smaller_final_batch: bool = False,
    shared_name: str | None = None,
    name: str | None = None,
) -> Any:
    """Batch ``tensors`` through a FIFO queue filled by ``num_threads`` threads
    (``tf.train.batch``). ``batch([x])`` returns a tensor, ``batch([x, y])`` a list, a
    dict a dict.

    Raises:
        ValueError: no tensors; shapes not fully known (unless ``dynamic_pad`` or
            ``shapes``).
    """
    return _batch(
        [tensors],
        tensors,
        batch_size,
        True,
        num_threads,
        capacity,
        enqueue_many,
        shapes,
        dynamic_pad,
        allow_smaller_final_batch,
        name,
        "batch",
        False,
    )


def maybe_batch(
    tensors: Any,
    keep_input: Any,
    batch_size: Any,
    num_threads: int = 1,
    capacity: int = 32,
    enqueue_many: bool = False,
    shapes: Any = None,
    dynamic_pad: bool = False,
    allow_smaller_final_batch: bool = False,
    shared_name: str | None = None,
    name: str | None = None,
) -> Any:
    """:func:`batch`, enqueuing only the elements whose ``keep_input`` is true."""
    return _batch(
        [tensors],
        tensors,
        batch_size,
        keep_input,
        num_threads,
        capacity,
        enqueue_many,
        shapes,
        dynamic_pad,
        allow_smaller_final_batch,
        name,
        "batch",
        False,
    )


def batch_join(
    tensors_list: Any,
    batch_size: Any,
    capacity: int = 32,
    enqueue_many: bool = False,
    shapes: Any = None,
    dynamic_pad: bool = False,
    allow_smaller_final_batch: bool = False,
    shared_name: str | None = None,
    name: str | None = None,
) -> Any:
    """Batch several lists of tensors, one enqueue thread each (``tf.train.batch_join``)."""
    if not tensors_list:
        raise ValueError("Expected at least one input in batch_join().")
    return _batch(
        list(tensors_list),
        tensors_list[0],
        batch_size,
        True,
        1,
        capacity,
        enqueue_many,
        shapes,
        dynamic_pad,
        allow_smaller_final_batch,
        name,
        "batch_join",
        True,
    )


def maybe_batch_join(
    tensors_list: Any,
    keep_input: Any,
    batch_size: Any,
    capacity: int = 32,
    enqueue_many: bool = False,
    shapes: Any = None,
    dynamic_pad: bool = False,
    allow_smaller_final_batch: bool = False,
    shared_name: str | None = None,
    name: str | None = None,
) -> Any:
    """:func:`batch_join`, enqueuing only where ``keep_input`` is true."""
    if not tensors_list:
        raise ValueError("Expected at least one input in batch_join().")
    return _batch(
        list(tensors_list),
        tensors_list[0],
        batch_size,
        keep_input,
        1,
        capacity,
        enqueue_many,
        shapes,
        dynamic_pad,
        allow_smaller_final_batch,
        name,
        "batch_join",
        True,
    )


def shuffle_batch(
    tensors: Any,
    batch_size: Any,
    capacity: int,
    min_after_dequeue: int,
    num_threads: int = 1,
    seed: int | None = None,
    enqueue_many: bool = False,
    shapes: Any = None,
    allow_smaller_final_batch: bool = False,
    shared_name: str | None = None,
    name: str | None = None,
) -> Any:
    """Batch ``tensors`` in random order through a RandomShuffleQueue
    (``tf.train.shuffle_batch``)."""
    return _shuffle_batch(
        [tensors],
        tensors,
        batch_size,
        capacity,
        min_after_dequeue,
        True,
        num_threads,
        seed,
        enqueue_many,
        shapes,
        allow_smaller_final_batch,
        name,
        "shuffle_batch",
        False,
    )


def maybe_shuffle_batch(
    tensors: Any,
    batch_size: Any,
    capacity: int,
    min_after_dequeue: int,
    keep_input: Any,
    num_threads: int = 1,
    seed: int | None = None,
    enqueue_many: bool = False,
    shapes: Any = None,
    allow_smaller_final_batch: bool = False,
    shared_name: str | None = None,
    name: str | None = None,
) -> Any:
    """:func:`shuffle_batch`, enqueuing only where ``keep_input`` is true."""
    return _shuffle_batch(
        [tensors],
        tensors,
        batch_size,
        capacity,
        min_after_dequeue,
        keep_input,
        num_threads,
        seed,
        enqueue_many,
        shapes,
        allow_smaller_final_batch,
        name,
        "shuffle_batch",
        False,
    )


def shuffle_batch_join(
    tensors_list: Any,
    batch_size: Any,
    capacity: int,
    min_after_dequeue: int,
    seed: int | None = None,
    enqueue_many: bool = False,
    shapes: Any = None,
    allow_smaller_final_batch: bool = False,
    shared_name: str | None = None,
    name: str | None = None,
) -> Any:
    """Shuffle-batch several lists of tensors, one enqueue thread each
    (``tf.train.shuffle_batch_join``)."""
    if not tensors_list:
        raise ValueError("Expected at least one input in shuffle_batch_join().")
    return _shuffle_batch(
        list(tensors_list),
        tensors_list[0],
        batch_size,
        capacity,
        min_after_dequeue,
        True,
        1,
        seed,
        enqueue_many,
        shapes,
        allow_smaller_final_batch,
        name,
        "shuffle_batch_join",
        True,
    )


def maybe_shuffle_batch_join(
    tensors_list: Any,
    batch_size: Any,
    capacity: int,
    min_after_dequeue: int,
    keep_input: Any,
    seed: int | None = None,
    enqueue_many: bool = False,
    shapes: Any = None,
    allow_smaller_final_batch: bool = False,
    shared_name: str | None = None,
    name: str | None = None,
) -> Any:
    """:func:`shuffle_batch_join`, enqueuing only where ``keep_input`` is true."""
    if not tensors_list:
        raise ValueError("Expected at least one input in shuffle_batch_join().")
    return _shuffle_batch(
        list(tensors_list),
        tensors_list[0],
        batch_size,
        capacity,
        min_after_dequeue,
        keep_input,
        1,
        seed,
        enqueue_many,
        shapes,
        allow_smaller_final_batch,
        name,
        "shuffle_batch_join",
        True,
    )


# -- the global step -------------------------------------------------------------------
def get_global_step(graph: Any = None) -> Variable | None:
    """The graph's global step variable, or ``None`` (``tf.train.get_global_step``)."""
    graph = graph or get_default_graph()
    found = graph.get_collection(GraphKeys.GLOBAL_STEP)
    if len(found) > 1:
        raise TypeError("More than one global step in the GLOBAL_STEP collection.")
    return found[0] if found else None


def create_global_step(graph: Any = None) -> Variable:
    """Create the global step, an int64 variable starting at 0
    (``tf.train.create_global_step``).

    Raises:
        ValueError: the graph already has one.
    """
    graph = graph or get_default_graph()
    if get_global_step(graph) is not None:
        raise ValueError('"global_step" already exists.')
    with graph.as_default(), graph.name_scope(None):
        return Variable(
            np.int64(0),
            trainable=False,
            collections=[GraphKeys.GLOBAL_VARIABLES, GraphKeys.GLOBAL_STEP],
            name="global_step",
        )


def get_or_create_global_step(graph: Any = None) -> Variable:
    """The global step, created if missing (``tf.train.get_or_create_global_step``)."""
    graph = graph or get_default_graph()
    return get_global_step(graph) or create_global_step(graph)
