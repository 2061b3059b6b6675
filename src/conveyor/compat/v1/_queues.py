"""Queue nodes: each queue of the graph is one conveyor queue per session.

``FIFOQueue(...)`` adds an operation whose session resource is a
:class:`conveyor.FIFOQueue` (or its sibling), made the first time a run needs it; the
queue's methods add operations that call that object.
"""

from __future__ import annotations

import logging
import threading
import warnings
from typing import Any

import numpy as np

from conveyor.compat.v1._dtypes import PYOBJECT, DType, TensorShape, as_dtype, as_shape, string
from conveyor.compat.v1._graph import (
    GraphKeys,
    Operation,
    RunContext,
    Tensor,
    convert_to_tensor,
    get_default_graph,
    make_op,
)
from conveyor.compat.v1._ops import get_seed
from conveyor.core import queues as core_queues
from conveyor.core.errors import DeadlineExceededError

__all__ = ["QueueBase", "FIFOQueue", "PaddingFIFOQueue", "RandomShuffleQueue", "PriorityQueue"]


class QueueRunnersNotStartedWarning(UserWarning, RuntimeWarning):
    """A run waits on a queue whose QueueRunners were never started."""


RUNNER_GRACE_SECS = 1.0
"""How long a run waits on an empty queue whose runners were never started before it
warns (then it keeps waiting)."""


class _Sequencer:
    """Keeps the elements that several runner threads run through one enqueue op in the
    order their upstream dequeues took them (TensorFlow 1 may reorder them)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.cond = threading.Condition()
        self.next = 0
        self.turn = 0
        self.finished: set[int] = set()


class Ticket:
    """One run's place in a :class:`_Sequencer`."""

    __slots__ = ("done", "number", "sequencer")

    def __init__(self, sequencer: _Sequencer) -> None:
        self.sequencer = sequencer
        self.number: int | None = None
        self.done = False

    def take(self, dequeue: Any) -> Any:
        if self.number is not None:
            return dequeue()
        seq = self.sequencer
        with seq.lock:
            out = dequeue()
            self.number = seq.next
            seq.next += 1
        return out

    def wait_turn(self) -> None:
        if self.number is None:
            return
        seq = self.sequencer
        with seq.cond:
            while seq.turn != self.number:
                seq.cond.wait()

    def release(self) -> None:
        if self.number is None or self.done:
            return
        self.done = True
        seq = self.sequencer
        with seq.cond:
            seq.finished.add(self.number)
            while seq.turn in seq.finished:
                seq.finished.remove(seq.turn)
                seq.turn += 1
            seq.cond.notify_all()


def new_sequencer() -> _Sequencer:
    return _Sequencer()


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


class QueueBase:
    """What every queue of the facade shares (``tf.QueueBase``).

    Attributes:
        dtypes: the component :class:`DType` s.
        shapes: the component :class:`TensorShape` s (unknown where not given).
        names: the component names, or ``None``.
        name: the name of the queue's operation.
        queue_ref: a tensor standing for the queue (what readers accept too).
    """

    _conveyor_class: type = core_queues.FIFOQueue
    _op_type = "FIFOQueueV2"
    _unknown_dims_allowed = False

    def __init__(
        self,
        capacity: int,
        dtypes: Any,
        shapes: Any,
        names: Any,
        name: str,
        extra: dict[str, Any] | None = None,
    ) -> None:
        dtypes = [as_dtype(d) for d in _as_list(dtypes)]
        if shapes is not None:
            shapes = (
                [as_shape(s) for s in _as_list(shapes)]
                if not isinstance(shapes, TensorShape)
                else [shapes]
            )
            if len(shapes) != len(dtypes):
                raise ValueError("Queue shapes must have the same length as dtypes")
            if not self._unknown_dims_allowed and not all(s.is_fully_defined() for s in shapes):
                raise ValueError(f"All shapes must be fully defined: {shapes}")
        if names is not None:
            names = _as_list(names)
            if len(names) != len(dtypes):
                raise ValueError("Queue names must have the same length as dtypes")
        self._dtypes: list[DType] = dtypes
        self._shapes: list[TensorShape] = (
            shapes if shapes is not None else [TensorShape(None)] * len(dtypes)
        )
        self._names: list[str] | None = names
        self._capacity = capacity
        kwargs = dict(extra or {})
        conveyor_dtypes = [
            "string" if d is string else "pyobject" if d is PYOBJECT else np.dtype(d.as_numpy_dtype)
            for d in dtypes
        ]
        conveyor_shapes = (
            None
            if shapes is None
            else [None if s.ndims is None else tuple(s.as_list()) for s in shapes]
        )
        self._make_args = (capacity, conveyor_dtypes, conveyor_shapes, names, kwargs)
        self._make()  # fail at build time, as TensorFlow's graph construction does
        op = make_op(
            self._op_type,
            [],
            lambda run, v: None,
            [("string", [])],
            name=name,
            graph=get_default_graph(),
        )
        self._op = op
        op._queue = self  # type: ignore[attr-defined]

    def _make(self) -> core_queues.QueueBase:
        capacity, dtypes, shapes, names, kwargs = self._make_args
        return self._conveyor_class(
            capacity,
            dtypes=dtypes,
            shapes=shapes,
            names=names,
            name=getattr(self, "_op", None) and self._op.name,
            **kwargs,
        )  # type: ignore[no-any-return]

    def _queue(self, run: RunContext) -> core_queues.QueueBase:
        """This session's conveyor queue."""
        return run.resource(self._op, self._make)  # type: ignore[no-any-return]

    # -- description ---------------------------------------------------------------
    @property
    def dtypes(self) -> list[DType]:
        return list(self._dtypes)

    @property
    def shapes(self) -> list[TensorShape]:
        return list(self._shapes)

    @property
    def names(self) -> list[str] | None:
        return None if self._names is None else list(self._names)

    @property
    def name(self) -> str:
        return self._op.name

    @property
    def queue_ref(self) -> Tensor:
        return self._op.outputs[0]

    @property
    def graph(self) -> Any:
        return self._op.graph

    # -- enqueue -------------------------------------------------------------------
    def _component_tensors(self, vals: Any, many: bool) -> list[Tensor]:
        if isinstance(vals, dict):
            if self._names is None:
                raise ValueError("Queue must have names to enqueue a dictionary")
            if sorted(self._names) != sorted(vals):
                raise ValueError(
                    f"Keys in dictionary to enqueue do not match names of Queue.  Dictionary: "
                    f"{sorted(vals)}, Queue: {sorted(self._names)}"
                )
            vals = [vals[n] for n in self._names]
        else:
            if self._names is not None:
                raise ValueError("You must enqueue a dictionary in a queue with names")
            if isinstance(vals, list | tuple) and (
                len(vals) == len(self._dtypes) or len(self._dtypes) > 1
            ):
                vals = list(vals)
            else:
                vals = [vals]
        if len(vals) != len(self._dtypes):
            raise ValueError(f"Expected {len(self._dtypes)} components to enqueue, got {len(vals)}")
        tensors = []
        for i, (v, dt, sh) in enumerate(zip(vals, self._dtypes, self._shapes)):
            t = convert_to_tensor(v, dtype=dt)
            if t.dtype != dt:
                raise ValueError(
                    f"Tensor conversion requested dtype {dt.name} for Tensor with dtype {t.dtype.name}"
                )
            got = t.shape[1:] if many else t.shape
            if not got.is_compatible_with(sh):
                raise ValueError(f"Shapes {got} and {sh} are incompatible (component {i})")
            tensors.append(t)
        if many:
            leads = {
                d for t in tensors if t.shape.ndims for d in t.shape.as_list()[:1] if d is not None
            }
            if len(leads) > 1:
                raise ValueError(
                    f"enqueue_many: the components' first dimensions differ: {sorted(leads)}"
                )
        return tensors

    def _pack(self, values: list[Any]) -> Any:
        if self._names is not None:
            return dict(zip(self._names, values))
        return values

    def enqueue(self, vals: Any, name: str | None = None) -> Operation:
        """An operation enqueueing one element (``tf.QueueBase.enqueue``); it blocks
        while the queue is full."""
        tensors = self._component_tensors(vals, False)

        def compute(run: RunContext, v: list[Any]) -> None:
            queue = self._queue(run)
            ticket = run.sequence
            if ticket is not None:
                ticket.wait_turn()
                try:
                    queue.enqueue(self._pack(v), timeout=run.timeout)
                finally:
                    ticket.release()
                return
            queue.enqueue(self._pack(v), timeout=run.timeout)

        op = make_op("QueueEnqueueV2", tensors, compute, [], name=name, stateful=True)
        op._enqueue_queue = self  # type: ignore[attr-defined]
        return op

    def enqueue_many(self, vals: Any, name: str | None = None) -> Operation:
        """An operation enqueueing the slices of ``vals`` along their first dimension
        (``tf.QueueBase.enqueue_many``)."""
        tensors = self._component_tensors(vals, True)

        def compute(run: RunContext, v: list[Any]) -> None:
            queue = self._queue(run)
            ticket = run.sequence
            if ticket is not None:
                ticket.wait_turn()
                try:
                    queue.enqueue_many(self._pack(v), timeout=run.timeout)
                finally:
                    ticket.release()
                return
            queue.enqueue_many(self._pack(v), timeout=run.timeout)

        return make_op("QueueEnqueueManyV2", tensors, compute, [], name=name, stateful=True)

    # -- dequeue -------------------------------------------------------------------
    def _blocking(self, run: RunContext, call: Any, sequenced: bool = True) -> Any:
        """Run a blocking ``call(queue, timeout)``; warn once if it waits on an empty
        queue whose runners this session never started."""
        queue = self._queue(run)
        timeout = run.timeout

        def attempt(seconds: float | None) -> Any:
            if not sequenced:
                return call(queue, seconds)
            return self._sequenced(run, lambda: call(queue, seconds))

        if queue.size() == 0 and not queue.is_closed() and self._unstarted(run):
            grace = RUNNER_GRACE_SECS if timeout is None else min(RUNNER_GRACE_SECS, timeout)
            try:
                return attempt(grace)
            except DeadlineExceededError:
                self._warn_unstarted(run)
                if timeout is not None:
                    timeout -= grace
                    if timeout <= 0:
                        raise
        return attempt(timeout)

    def _warn_unstarted(self, run: RunContext) -> None:
        session = run.session
        if self in session._warned:
            return
        session._warned.add(self)
        message = (
            f"sess.run is waiting on queue '{self.name}', which is empty and whose "
            "QueueRunners were never started in this session: call "
            "tf.train.start_queue_runners(sess) first, or the run blocks forever."
        )
        logging.getLogger("tensorflow").warning(message)
        warnings.warn(message, QueueRunnersNotStartedWarning, stacklevel=3)

    @staticmethod
    def _sequenced(run: RunContext, dequeue: Any) -> Any:
        ticket = run.sequence
        return dequeue() if ticket is None else ticket.take(dequeue)

    def _unstarted(self, run: RunContext) -> bool:
        runners = [
            r
            for r in self.graph.get_collection(GraphKeys.QUEUE_RUNNERS)
            if getattr(r, "queue", None) is self
        ]
        return bool(runners) and self not in run.session._started_queues

    def _outputs(self, lead: list[Any] | None) -> list[tuple[DType, TensorShape]]:
        if lead is None:
            return [(d, s) for d, s in zip(self._dtypes, self._shapes)]
        return [(d, TensorShape(lead).concatenate(s)) for d, s in zip(self._dtypes, self._shapes)]

    def _result(self, op: Operation) -> Any:
        outs = op.outputs
        if self._names is not None:
            return dict(zip(self._names, outs))
        return outs[0] if len(outs) == 1 else list(outs)

    def _enqueue_kept(self, tensors: list[Tensor], many: bool, keep: Tensor) -> Operation:
        """An enqueue of the elements whose ``keep`` is true (``maybe_batch``)."""
        tensors = self._component_tensors(tensors, many)

        def compute(run: RunContext, v: list[Any]) -> None:
            *values, mask = v
            mask = np.asarray(mask)
            if mask.ndim == 0:
                if not mask:
                    return
                call = self._queue(run).enqueue_many if many else self._queue(run).enqueue
            else:
                values = [np.asarray(x)[mask] for x in values]
                call = self._queue(run).enqueue_many
            ticket = run.sequence
            if ticket is not None:
                ticket.wait_turn()
            call(self._pack(values), timeout=run.timeout)

        return make_op("QueueEnqueueV2", [*tensors, keep], compute, [], stateful=True)

    def _dequeue_op(
        self, kind: str, inputs: list[Any], call: Any, lead: list[Any] | None, name: str | None
    ) -> Any:
        ncomp = len(self._dtypes)
        names = self._names

        def compute(run: RunContext, v: list[Any]) -> Any:
            out = self._blocking(run, lambda q, t: call(q, t, v))
            if names is not None:
                return tuple(out[n] for n in names) if ncomp > 1 else out[names[0]]
            if ncomp > 1:
                return tuple(out)
            return out

        op = make_op(kind, inputs, compute, self._outputs(lead), name=name, stateful=True)
        if kind == "QueueDequeueV2" and self._stackable():
            op._batch_source = lambda run, k: self._take_block(run, k)
        return self._result(op)

    def _stackable(self) -> bool:
        # Elements of fully known shapes stack into a block as they are.
        return type(self) is not PaddingFIFOQueue and all(
            s.is_fully_defined() for s in self._shapes
        )

    def _take_block(self, run: RunContext, k: int) -> tuple[Any, ...]:
        """Up to ``k`` elements for a vectorized runner: one, waited for as ``dequeue``
        waits, and those the queue already holds beyond it."""
        first = self._blocking(run, lambda q, t: q.dequeue(timeout=t), sequenced=False)
        queue = self._queue(run)
        extra = min(k - 1, queue.size())
        rest = None
        if extra > 0:
            try:
                rest = queue.dequeue_many(extra, timeout=0)
            except DeadlineExceededError:  # another consumer took them first
                rest = None
        firsts = self._components(first)
        if rest is None:
            return tuple(
                np.expand_dims(np.asarray(f, dtype=object if isinstance(f, bytes) else None), 0)
                for f in firsts
            )
        rests = self._components(rest)
        return tuple(
            np.concatenate([np.expand_dims(np.asarray(f, dtype=r.dtype), 0), r])
            for f, r in zip(firsts, rests)
        )

    def _components(self, value: Any) -> list[Any]:
        if self._names is not None:
            return [value[n] for n in self._names]
        return list(value) if len(self._dtypes) > 1 else [value]

    def dequeue(self, name: str | None = None) -> Any:
        """Dequeue one element (``tf.QueueBase.dequeue``): a tensor for a one-component
        queue, a list of tensors, or a dict when the queue has names."""
        return self._dequeue_op(
            "QueueDequeueV2", [], lambda q, t, v: q.dequeue(timeout=t), None, name
        )

    def dequeue_many(self, n: Any, name: str | None = None) -> Any:
        """Dequeue ``n`` elements batched along a new first dimension."""
        nt = convert_to_tensor(n, dtype="int32")
        static = n if isinstance(n, int) else None
        return self._dequeue_op(
            "QueueDequeueManyV2",
            [nt],
            lambda q, t, v: q.dequeue_many(int(v[0]), timeout=t),
            [static],
            name,
        )

    def dequeue_up_to(self, n: Any, name: str | None = None) -> Any:
        """Like :meth:`dequeue_many`, but a closed queue gives what is left (fewer)."""
        nt = convert_to_tensor(n, dtype="int32")
        return self._dequeue_op(
            "QueueDequeueUpToV2",
            [nt],
            lambda q, t, v: q.dequeue_up_to(int(v[0]), timeout=t),
            [None],
            name,
        )

    # -- state ---------------------------------------------------------------------
    def size(self, name: str | None = None) -> Tensor:
        """The number of elements in the queue (an int32 scalar)."""
        return make_op(
            "QueueSizeV2",
            [],
            lambda run, v: np.int32(self._queue(run).size()),
            [("int32", [])],
            name=name,
            stateful=True,
        ).outputs[0]

    def is_closed(self, name: str | None = None) -> Tensor:
        """Whether the queue is closed (a bool scalar)."""
        return make_op(
            "QueueIsClosedV2",
            [],
            lambda run, v: np.bool_(self._queue(run).is_closed()),
            [("bool", [])],
            name=name,
            stateful=True,
        ).outputs[0]

    def close(self, cancel_pending_enqueues: bool = False, name: str | None = None) -> Operation:
        """An operation closing the queue; with ``cancel_pending_enqueues`` the blocked
        enqueues fail with ``CancelledError``."""
        return make_op(
            "QueueCloseV2",
            [],
            lambda run, v: self._queue(run).close(cancel_pending_enqueues=cancel_pending_enqueues),
            [],
            name=name,
            stateful=True,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} '{self.name}'>"


class FIFOQueue(QueueBase):
    """A first-in first-out queue (``tf.FIFOQueue``), on :class:`conveyor.FIFOQueue`."""

    def __init__(
        self,
        capacity: int,
        dtypes: Any,
        shapes: Any = None,
        names: Any = None,
        shared_name: str | None = None,
        name: str = "fifo_queue",
    ) -> None:
        super().__init__(capacity, dtypes, shapes, names, name)


class PaddingFIFOQueue(QueueBase):
    """A FIFO queue padding ``None`` dimensions in batched dequeues
    (``tf.PaddingFIFOQueue``), on :class:`conveyor.PaddingFIFOQueue`.

    Raises:
        ValueError: ``shapes`` is not given.
    """

    _conveyor_class = core_queues.PaddingFIFOQueue
    _op_type = "PaddingFIFOQueueV2"
    _unknown_dims_allowed = True

    def __init__(
        self,
        capacity: int,
        dtypes: Any,
        shapes: Any,
        names: Any = None,
        shared_name: str | None = None,
        name: str = "padding_fifo_queue",
    ) -> None:
        if shapes is None:
            raise ValueError("PaddingFIFOQueue requires shapes")
        shapes_list = _as_list(shapes)
        if len(shapes_list) != len(_as_list(dtypes)):
            raise ValueError(
                f"Shapes must be provided for all components, but received {len(_as_list(dtypes))} "
                f"dtypes and {len(shapes_list)} shapes."
            )
        super().__init__(capacity, dtypes, shapes, names, name)


class RandomShuffleQueue(QueueBase):
    """A queue dequeuing elements in random order (``tf.RandomShuffleQueue``), on
    :class:`conveyor.RandomShuffleQueue`; ``seed`` follows TensorFlow's graph/op seed rule."""

    _conveyor_class = core_queues.RandomShuffleQueue
    _op_type = "RandomShuffleQueueV2"

    def __init__(
        self,
        capacity: int,
        min_after_dequeue: int,
        dtypes: Any,
        shapes: Any = None,
        names: Any = None,
        seed: int | None = None,
        shared_name: str | None = None,
        name: str = "random_shuffle_queue",
    ) -> None:
        graph_seed, op_seed = get_seed(seed)
        combined = (
            None if graph_seed is None else (graph_seed * 1_000_003 + (op_seed or 0)) % (2**63)
        )
        self._seed = combined
        super().__init__(
            capacity, dtypes, shapes, names, name, extra={"min_after_dequeue": min_after_dequeue}
        )

    def _make(self) -> core_queues.QueueBase:
        capacity, dtypes, shapes, names, kwargs = self._make_args
        # Each session's queue draws its own stream; seeded, every session the same one.
        return core_queues.RandomShuffleQueue(
            capacity,
            kwargs["min_after_dequeue"],
            dtypes,
            shapes=shapes,
            names=names,
            seed=self._seed,
            name=getattr(self, "_op", None) and self._op.name,
        )


class PriorityQueue(QueueBase):
    """A queue dequeuing the element of lowest int64 priority first
    (``tf.PriorityQueue``), on :class:`conveyor.PriorityQueue`. Component 0 of every
    element is its priority."""

    _conveyor_class = core_queues.PriorityQueue
    _op_type = "PriorityQueueV2"

    def __init__(
        self,
        capacity: int,
        types: Any,
        shapes: Any = None,
        names: Any = None,
        shared_name: str | None = None,
        name: str = "priority_queue",
    ) -> None:
        types = _as_list(types)
        if shapes is not None:
            shapes = _as_list(shapes)
            if len(shapes) != len(types):
                raise ValueError("shapes must have the same length as types")
        super().__init__(
            capacity,
            ["int64", *types],
            None if shapes is None else [[], *shapes],
            names,
            name,
        )

    def _make(self) -> core_queues.QueueBase:
        capacity, dtypes, shapes, names, _ = self._make_args
        return core_queues.PriorityQueue(
            capacity,
            dtypes[1:],
            shapes=None if shapes is None else shapes[1:],
            names=names,
            name=getattr(self, "_op", None) and self._op.name,
        )
