"""Bounded, thread-safe, multi-producer multi-consumer queues with TensorFlow's semantics.

The family has one base, :class:`QueueBase`, that owns the blocking protocol (one mutex,
two conditions, close and cancel), and four storage strategies as small subclasses, in
the shape of CPython's ``queue`` module:

* :class:`FIFOQueue` — a ring buffer of columns;
* :class:`PaddingFIFOQueue` — the ring, padding unknown dimensions on batched dequeues;
* :class:`RandomShuffleQueue` — a pool of columns sampled without replacement;
* :class:`PriorityQueue` — columns kept sorted by an int64 priority.

Elements are stored column-wise in NumPy (see :mod:`conveyor.core._columns`), so
``enqueue_many(n)`` and ``dequeue_many(n)`` cost a constant number of Python operations
plus array copies, whatever ``n`` is.

Semantics follow TensorFlow's ``tf.queue`` classes:

* ``enqueue`` blocks while the queue is full; ``dequeue`` blocks while it is empty.
* Enqueues are served in arrival order, and so are dequeues: the elements of one
  ``enqueue_many`` are contiguous in a FIFO queue, and one ``dequeue_many`` receives
  contiguous elements. ``enqueue_many`` may exceed the capacity (it delivers as room
  appears), and so may ``dequeue_many``.
* After ``close()``, enqueues raise :class:`CancelledError`; enqueues already pending
  still deliver; dequeues drain what is left, then raise :class:`OutOfRangeError`.
  ``close(cancel_pending_enqueues=True)`` makes pending enqueues raise
  :class:`CancelledError` instead.
* ``dequeue_many(n)`` on a closed queue that cannot supply ``n`` raises
  :class:`OutOfRangeError` and loses nothing; ``dequeue_up_to(n)`` returns the rest.
* Every blocking call takes ``timeout`` (seconds): past it, :class:`DeadlineExceededError`.
  ``None`` or ``inf`` waits forever; NaN, a negative number or a non-number is refused.

>>> q = FIFOQueue(capacity=4, dtypes=["int64", "string"])
>>> q.enqueue_many([[1, 2, 3], [b"a", b"b", b"c"]])
>>> q.close()
>>> numbers, letters = q.dequeue_many(2)
>>> numbers.tolist(), letters.tolist()
([1, 2], [b'a', b'b'])
>>> q.dequeue_up_to(5)[0].tolist()
[3]
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from conveyor.core._checks import check_count, check_timeout
from conveyor.core._columns import (
    INITIAL_SLOTS,
    PYOBJECT,
    Columns,
    Component,
    as_dtype,
    as_shape,
    grown_length,
)
from conveyor.core.errors import (
    CancelledError,
    DeadlineExceededError,
    InvalidArgumentError,
    OutOfRangeError,
)

__all__ = ["QueueBase", "FIFOQueue", "PaddingFIFOQueue", "RandomShuffleQueue", "PriorityQueue"]

_names = itertools.count()


class QueueBase:
    """The blocking protocol shared by every queue; subclasses supply the storage.

    Storage hooks, always called with the mutex held: ``_init_storage``, ``_size``,
    ``_put(values, lo, hi)``, ``_take(n)``, ``_unget(parts)``, ``_put_one(values)``,
    ``_take_one()``, and optionally ``_available`` and ``_assemble``.

    ``shared_name`` is accepted for TensorFlow compatibility and has no effect: queues
    live in one process and are shared by passing the object.

    Thread-safety: every public method may be called from any number of threads.
    """

    _kind = "queue"

    def __init__(
        self,
        capacity: int,
        dtypes: Sequence[Any] | Any,
        shapes: Sequence[Any] | None = None,
        names: Sequence[str] | None = None,
        shared_name: str | None = None,
        name: str | None = None,
    ) -> None:
        capacity = check_count(capacity, "capacity", positive=True)
        if not isinstance(dtypes, list | tuple):
            dtypes = [dtypes]
        if len(dtypes) == 0:
            raise InvalidArgumentError("a queue needs at least one component dtype")
        if shapes is not None:
            if not isinstance(shapes, list | tuple) or len(shapes) != len(dtypes):
                raise InvalidArgumentError(
                    f"shapes must be a list of {len(dtypes)} shapes (one per dtype), got {shapes!r}"
                )
        if names is not None:
            if isinstance(names, str):
                names = [names]
            if not isinstance(names, list | tuple):
                raise InvalidArgumentError(
                    f"names must be a list of {len(dtypes)} names (one per dtype), got {names!r}"
                )
            if len(names) != len(dtypes):
                raise InvalidArgumentError(
                    f"names must have {len(dtypes)} entries (one per dtype), got {names!r}"
                )
            if len(set(names)) != len(names):
                raise InvalidArgumentError(f"names must be distinct, got {names!r}")
        self._capacity = capacity
        self._name = name or f"{self._kind}_{next(_names)}"
        self._components = [
            Component(
                index=i,
                name=None if names is None else str(names[i]),
                dtype=as_dtype(object if _is_pyobject(dt) else dt),
                shape=None if shapes is None else as_shape(shapes[i]),
                pyobject=_is_pyobject(dt),
                queue=self._name,
            )
            for i, dt in enumerate(dtypes)
        ]
        self._names = None if names is None else [str(n) for n in names]

        self._mutex = threading.Lock()
        self._not_empty = threading.Condition(self._mutex)
        self._not_full = threading.Condition(self._mutex)
        # Enqueues (and dequeues) are served one at a time, in arrival order: this is
        # what keeps the elements of one enqueue_many / dequeue_many contiguous.
        self._enqueue_lock = threading.Lock()
        self._dequeue_lock = threading.Lock()
        self._closed = False
        self._cancelled = False
        self._pending = 0  # elements promised by enqueues that started before close
        self._dequeue_need = 0  # what the waiting dequeuer needs; 0: nobody waits
        self._enqueue_need = 0
        self._enqueued = 0
        self._dequeued = 0
        self._init_storage()

    # -- description --------------------------------------------------------------
    @property
    def name(self) -> str:
        """The queue's name, used in error messages."""
        return self._name

    @property
    def capacity(self) -> int:
        """The most elements the queue holds before ``enqueue`` blocks.

        A bound, not an allocation: storage grows with the elements actually held.
        """
        return self._capacity

    @property
    def dtypes(self) -> list[np.dtype]:
        """The component dtypes (``object`` is a string of bytes)."""
        return [c.dtype for c in self._components]

    @property
    def shapes(self) -> list[tuple[int | None, ...] | None]:
        """The component shapes (``None``: unknown)."""
        return [c.shape for c in self._components]

    @property
    def names(self) -> list[str] | None:
        """The component names, or ``None`` when elements are tuples."""
        return None if self._names is None else list(self._names)

    def size(self) -> int:
        """The number of elements in the queue now."""
        with self._mutex:
            return self._size()

    def is_closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def counts(self) -> tuple[int, int]:
        """``(elements enqueued, elements dequeued)`` since the queue was made."""
        with self._mutex:
            return self._enqueued, self._dequeued

    def __len__(self) -> int:
        return self.size()

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self._name!r} size={self.size()}/{self._capacity}"
            f"{' closed' if self._closed else ''}>"
        )

    # -- element conversion -------------------------------------------------------
    def _components_of(self, vals: Any) -> list[Any]:
        if isinstance(vals, dict):
            if self._names is None:
                raise InvalidArgumentError(
                    f"{self._name}: queue has no names, so it cannot take a dict"
                )
            if set(vals) != set(self._names):
                raise InvalidArgumentError(
                    f"{self._name}: keys {sorted(vals, key=str)} do not match the queue's "
                    f"names {sorted(self._names)}"
                )
            return [vals[n] for n in self._names]
        if self._names is not None:
            raise InvalidArgumentError(
                f"{self._name}: queue has names {self._names}; enqueue a dict"
            )
        ncomp = len(self._components)
        if isinstance(vals, list | tuple) and (ncomp > 1 or len(vals) == 1):
            if len(vals) != ncomp:
                raise InvalidArgumentError(
                    f"{self._name}: expected {ncomp} components, got {len(vals)}"
                )
            return list(vals)
        if ncomp != 1:
            raise InvalidArgumentError(
                f"{self._name}: expected a tuple of {ncomp} components, got {type(vals).__name__}"
            )
        return [vals]

    def _convert_batch(self, vals: Any) -> tuple[list[np.ndarray], int]:
        """Check an ``enqueue_many`` batch; return its components and its length."""
        raw = self._components_of(vals)
        arrays = [c.convert(v, True) for c, v in zip(self._components, raw)]
        n = arrays[0].shape[0]
        for c, a in zip(self._components, arrays):
            if a.shape[0] != n:
                raise InvalidArgumentError(
                    f"{self._name}: enqueue_many components disagree on the batch size: "
                    f"component 0 has {n}, {c.label()} has {a.shape[0]}"
                )
        return arrays, n

    def _result(self, values: list[Any]) -> Any:
        if self._names is not None:
            return dict(zip(self._names, values))
        if len(values) == 1:
            return values[0]
        return values

    # -- enqueue ------------------------------------------------------------------
    def enqueue(self, vals: Any, timeout: float | None = None) -> None:
        """Add one element, blocking while the queue is full.

        Args:
            vals: the element: a tuple or list of components, a dict when the queue has
                names, or a bare value when it has one component.
            timeout: seconds to wait for room (a number >= 0); ``None`` or ``inf``
                waits forever.

        Raises:
            InvalidArgumentError: a component has the wrong dtype or shape, or a value
                does not fit the dtype; or ``timeout`` is not ``None`` or a number >= 0.
            CancelledError: the queue is closed, or was closed with
                ``cancel_pending_enqueues=True`` while this call waited.
            DeadlineExceededError: no room within ``timeout``.
        """
        if timeout is not None:
            timeout = check_timeout(timeout)
        comps = self._components
        if len(comps) == 1 and self._names is None and not isinstance(vals, list | tuple | dict):
            values = [comps[0].convert_one(vals)]
        else:
            values = [c.convert_one(v) for c, v in zip(comps, self._components_of(vals))]
        with self._mutex:
            if self._closed:
                raise self._closed_error()
            # Fast path: nobody ahead of us and room now.
            if self._size() < self._capacity and self._enqueue_lock.acquire(False):
                try:
                    self._put_one(values)
                    self._after_put(1)
                finally:
                    self._enqueue_lock.release()
                return
            self._pending += 1
        self._enqueue_slow(values, 1, timeout, single=True)

    def enqueue_many(self, vals: Any, timeout: float | None = None) -> None:
        """Add the elements of a batch: slice ``i`` of every component is element ``i``.

        The elements are contiguous in the queue. A batch larger than the free room is
        delivered in parts as consumers make room (so it may exceed the capacity).

        Args:
            vals: per component, an array-like with a leading batch dimension (a tuple,
                list or dict of them, or one array-like for a one-component queue).
            timeout: seconds to wait for room (a number >= 0); ``None`` or ``inf``
                waits forever. On a timeout, a prefix of the batch may already have been
                enqueued.

        Raises:
            InvalidArgumentError: wrong dtype or shape, a value that does not fit the
                dtype, components of different lengths, or a bad ``timeout``.
            CancelledError: the queue is closed (or cancelled while this call waited).
            DeadlineExceededError: the batch was not fully delivered within ``timeout``.
        """
        if timeout is not None:
            timeout = check_timeout(timeout)
        values, n = self._convert_batch(vals)
        if n == 0:
            return  # nothing to deliver, closed or not (as TensorFlow)
        with self._mutex:
            if self._closed:
                raise self._closed_error()
            self._pending += n
        self._enqueue_slow(values, n, timeout, single=False)

    def _enqueue_slow(
        self, values: list[np.ndarray], n: int, timeout: float | None, single: bool
    ) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        done = 0
        if not _acquire(self._enqueue_lock, deadline):
            with self._mutex:
                self._pending -= n
                self._wake_dequeuer_on_close()
            raise DeadlineExceededError(
                f"{self._name}: timed out after {timeout}s waiting to enqueue"
            )
        try:
            with self._mutex:
                while True:
                    if self._cancelled:
                        raise CancelledError(
                            f"{self._name}: enqueue cancelled: the queue was closed with "
                            f"cancel_pending_enqueues=True ({done} of {n} elements delivered)"
                        )
                    room = self._capacity - self._size()
                    rest = n - done
                    # Deliver in parts when the batch cannot fit at once, or when a
                    # dequeuer is waiting: waiting for room then could wait forever.
                    if room >= rest or (room > 0 and (rest > self._capacity or self._dequeue_need)):
                        k = min(room, rest)
                        if single:
                            self._put_one(values)
                        else:
                            self._put(values, done, done + k)
                        done += k
                        self._pending -= k
                        self._after_put(k)
                        if done == n:
                            return
                    rest = n - done
                    self._enqueue_need = 1 if rest > self._capacity else rest
                    if self._dequeue_need:
                        # Let the waiting dequeuer take what is there; it makes room.
                        self._not_empty.notify()
                    self._wait(
                        self._not_full,
                        deadline,
                        timeout,
                        f"room ({done} of {n} elements delivered)",
                    )
                    self._enqueue_need = 0
        except BaseException:
            with self._mutex:
                self._enqueue_need = 0
                self._pending -= n - done
                self._wake_dequeuer_on_close()
            raise
        finally:
            self._enqueue_lock.release()

    def _wait(
        self, cond: threading.Condition, deadline: float | None, timeout: float | None, what: str
    ) -> None:
        """Wait on ``cond`` (mutex held) for a notification, or raise past the deadline."""
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise DeadlineExceededError(
                f"{self._name}: timed out after {timeout}s waiting for {what}"
            )
        cond.wait(remaining)

    def _after_put(self, k: int) -> None:
        self._enqueued += k
        need = self._dequeue_need
        if need and (self._available() >= need or self._closed):
            self._not_empty.notify()

    def _wake_dequeuer_on_close(self) -> None:
        # A dequeuer on a closed queue may be waiting for pending enqueues that will
        # now never come.
        if self._closed and self._dequeue_need:
            self._not_empty.notify()

    def _closed_error(self) -> CancelledError:
        return CancelledError(f"{type(self).__name__} '{self._name}' is closed.")

    # -- dequeue ------------------------------------------------------------------
    def dequeue(self, timeout: float | None = None) -> Any:
        """Remove and return one element, blocking while none is available.

        Args:
            timeout: seconds to wait (a number >= 0); ``None`` or ``inf`` waits forever.

        Returns:
            A list of components (a dict when the queue has names, the bare component
            when it has one). Scalars come back as NumPy scalars, strings as ``bytes``.

        Raises:
            InvalidArgumentError: ``timeout`` is not ``None`` or a number >= 0.
            OutOfRangeError: the queue is closed and empty, with no pending enqueue.
            DeadlineExceededError: nothing arrived within ``timeout``.
        """
        if timeout is not None:
            timeout = check_timeout(timeout)
        with self._mutex:
            if self._available() > 0 and self._dequeue_lock.acquire(False):
                try:
                    values = self._take_one()
                    self._after_take(1)
                finally:
                    self._dequeue_lock.release()
                return self._result(values)
        parts = self._dequeue_parts(1, allow_smaller=False, timeout=timeout, single=True)
        return self._result(parts)

    def dequeue_many(self, n: int, timeout: float | None = None) -> Any:
        """Remove ``n`` elements and return them batched along a new first axis.

        Blocks until ``n`` elements are available. On a closed queue that cannot supply
        ``n`` (counting enqueues still pending), raises :class:`OutOfRangeError` and
        leaves every element in the queue.

        Args:
            n: the number of elements, an int >= 0.
            timeout: seconds to wait (a number >= 0); ``None`` or ``inf`` waits forever.

        Returns:
            Per component, an array of shape ``(n, *shape)``, in the same structure as
            :meth:`dequeue`.

        Raises:
            InvalidArgumentError: ``n`` is not an int >= 0, a bad ``timeout``, or
                elements whose shapes cannot be stacked.
            OutOfRangeError: the queue is closed with fewer than ``n`` elements left.
            DeadlineExceededError: ``n`` elements did not arrive within ``timeout``.
        """
        n = check_count(n, "n")
        timeout = check_timeout(timeout)
        return self._result(self._dequeue_parts(n, False, timeout, single=False))

    def dequeue_up_to(self, n: int, timeout: float | None = None) -> Any:
        """Like :meth:`dequeue_many`, but a closed queue returns what is left.

        On an open queue this waits for ``n`` elements exactly like ``dequeue_many``.
        On a closed queue holding between 1 and ``n - 1`` elements it returns them all;
        on a closed empty queue it raises :class:`OutOfRangeError`.
        """
        n = check_count(n, "n")
        timeout = check_timeout(timeout)
        return self._result(self._dequeue_parts(n, True, timeout, single=False))

    def _dequeue_parts(
        self, n: int, allow_smaller: bool, timeout: float | None, single: bool
    ) -> list[Any]:
        deadline = None if timeout is None else time.monotonic() + timeout
        if not _acquire(self._dequeue_lock, deadline):
            raise DeadlineExceededError(
                f"{self._name}: timed out after {timeout}s waiting to dequeue"
            )
        taken: list[list[Any]] = []
        got = 0
        try:
            with self._mutex:
                one_shot = self._one_shot_limit()
                while True:
                    avail = self._available()
                    want = n - got
                    if (
                        avail >= want
                        or (self._closed and avail > 0)
                        or (avail > 0 and (want > one_shot or self._enqueue_need))
                    ):
                        k = min(avail, want)
                        if single:
                            taken.append(self._take_one())
                        elif k > 0 or not taken:
                            taken.append(self._take(k))
                        got += k
                        self._after_take(k)
                        if got == n:
                            break
                    if self._closed and self._pending == 0:
                        if allow_smaller and got > 0:
                            break
                        raise OutOfRangeError(
                            f"{type(self).__name__} '{self._name}' is closed and has insufficient "
                            f"elements (requested {n}, current size {got + self._size()})"
                        )
                    want = n - got
                    self._dequeue_need = 1 if (self._closed or want > one_shot) else want
                    if self._enqueue_need:
                        # Let the waiting enqueuer deliver what fits; it fills the queue.
                        self._not_full.notify()
                    self._wait(
                        self._not_empty, deadline, timeout, f"{n} element{'s' if n != 1 else ''}"
                    )
                    self._dequeue_need = 0
            if single:
                return taken[0]
            try:
                return self._assemble(taken)
            except InvalidArgumentError:
                self._give_back(taken)
                raise
        except BaseException:
            with self._mutex:
                self._dequeue_need = 0
            if got:
                self._give_back(taken)
            raise
        finally:
            self._dequeue_lock.release()

    def _give_back(self, taken: list[list[Any]]) -> None:
        with self._mutex:
            for part in reversed(taken):
                k = _part_len(part)
                if k:
                    self._unget(part)
                    self._dequeued -= k
            if self._enqueue_need:
                self._not_full.notify()
        taken.clear()

    def _after_take(self, k: int) -> None:
        self._dequeued += k
        need = self._enqueue_need
        if need and self._capacity - self._size() >= need:
            self._not_full.notify()

    # -- close --------------------------------------------------------------------
    def close(self, cancel_pending_enqueues: bool = False) -> None:
        """Close the queue: no new enqueues; dequeues drain what is left.

        Args:
            cancel_pending_enqueues: if true, enqueues blocked now raise
                :class:`CancelledError` instead of delivering their elements.

        Closing twice is harmless; a second close may add cancellation.
        """
        with self._mutex:
            self._closed = True
            if cancel_pending_enqueues:
                self._cancelled = True
            self._not_empty.notify_all()
            self._not_full.notify_all()

    # -- storage hooks ------------------------------------------------------------
    def _init_storage(self) -> None:
        raise NotImplementedError

    def _size(self) -> int:
        raise NotImplementedError

    def _available(self) -> int:
        return self._size()

    def _one_shot_limit(self) -> int:
        # The largest request a dequeuer may wait for in one piece; larger ones are
        # gathered in parts so a request above the capacity cannot deadlock.
        return self._capacity

    def _put(self, values: list[np.ndarray], lo: int, hi: int) -> None:
        raise NotImplementedError

    def _put_one(self, values: list[np.ndarray]) -> None:
        raise NotImplementedError

    def _take(self, n: int) -> list[Any]:
        raise NotImplementedError

    def _take_one(self) -> list[Any]:
        raise NotImplementedError

    def _unget(self, part: list[Any]) -> None:
        raise NotImplementedError

    def _assemble(self, taken: list[list[Any]]) -> list[np.ndarray]:
        """Join the parts of one dequeue into one batch per component."""
        out = []
        for comp, pieces in zip(self._components, zip(*taken)):
            col = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
            if not comp.dense:
                col = self._stack_cells(comp, col)
            out.append(col)
        return out

    def _stack_cells(self, comp: Component, cells: np.ndarray) -> np.ndarray:
        if len(cells) == 0:
            return np.empty((0,), dtype=comp.dtype)
        shapes = {c.shape for c in cells}
        if len(shapes) > 1:
            raise InvalidArgumentError(
                f"{self._name}: cannot batch {comp.label()}: its elements have different "
                f"shapes {sorted(shapes)}; declare the shape, or use a PaddingFIFOQueue"
            )
        return np.stack(list(cells))


def _is_pyobject(dtype: Any) -> bool:
    return isinstance(dtype, str) and dtype == PYOBJECT


def _part_len(part: list[Any]) -> int:
    first = part[0]
    return len(first) if isinstance(first, np.ndarray) and first.ndim > 0 else 1


def _acquire(lock: threading.Lock, deadline: float | None) -> bool:
    if lock.acquire(False):
        return True
    if deadline is None:
        return lock.acquire()
    return lock.acquire(timeout=max(0.0, deadline - time.monotonic()))


class FIFOQueue(QueueBase):
    """A queue that dequeues elements in the order they were enqueued.

    Args:
        capacity: the most elements held before ``enqueue`` blocks (> 0).
        dtypes: one dtype per component (``"string"``/``bytes`` for byte strings,
            ``"pyobject"`` for arbitrary Python objects, one per element).
        shapes: optional shape per component. Fully defined shapes give the fast path
            (one array per component, grown by doubling up to the capacity); without
            shapes, batched dequeues stack the elements and require them to have equal
            shapes.
        names: optional component names; elements are then dicts.
        name: a name for error messages.

    >>> q = FIFOQueue(3, "int32", shapes=[()])
    >>> for i in range(3):
    ...     q.enqueue(i)
    >>> q.dequeue_many(3).tolist()
    [0, 1, 2]
    """

    _kind = "fifo_queue"

    def _init_storage(self) -> None:
        # A ring of slots: the elements are head .. head + count, wrapping at the end.
        self._cols = Columns(self._components, min(self._capacity, INITIAL_SLOTS))
        self._head = 0
        self._count = 0

    def _size(self) -> int:
        return self._count

    def _ensure_slots(self, extra: int) -> None:
        # The ring grows (doubling, up to the capacity) as elements arrive; growing
        # unwraps it, so the elements then sit at 0 .. count.
        length = self._cols.length
        need = self._count + extra
        if need > length:
            self._cols.grow(grown_length(length, need, self._capacity), self._head, self._count)
            self._head = 0

    def _put(self, values: list[np.ndarray], lo: int, hi: int) -> None:
        n = hi - lo
        self._ensure_slots(n)
        length = self._cols.length
        tail = (self._head + self._count) % length
        first = min(n, length - tail)
        self._cols.write(tail, values, lo, lo + first)
        if first < n:
            self._cols.write(0, values, lo + first, hi)
        self._count += n

    def _put_one(self, values: list[np.ndarray]) -> None:
        self._ensure_slots(1)
        self._cols.write_one((self._head + self._count) % self._cols.length, values)
        self._count += 1

    def _take(self, n: int) -> list[Any]:
        length = self._cols.length
        head = self._head
        first = min(n, length - head)
        part = self._cols.read(head, head + first)
        if first < n:
            rest = self._cols.read(0, n - first)
            part = [np.concatenate(p) for p in zip(part, rest)]
        self._head = (head + n) % length
        self._count -= n
        return part

    def _take_one(self) -> list[Any]:
        values = self._cols.read_one(self._head)
        self._head = (self._head + 1) % self._cols.length
        self._count -= 1
        return values

    def _unget(self, part: list[Any]) -> None:
        n = _part_len(part)
        if not isinstance(part[0], np.ndarray) or part[0].ndim == 0:
            part = [_one_as_batch(c, v) for c, v in zip(self._components, part)]
        self._ensure_slots(n)
        length = self._cols.length
        self._head = (self._head - n) % length
        first = min(n, length - self._head)
        self._write_cells(self._head, part, 0, first)
        if first < n:
            self._write_cells(0, part, first, n)
        self._count += n

    def _write_cells(self, start: int, part: list[Any], lo: int, hi: int) -> None:
        # Parts hold ragged components as cells already; write them slot for slot.
        slots = np.arange(start, start + hi - lo)
        self._cols.write_at(slots, [p[lo:hi] for p in part])


def _one_as_batch(comp: Component, value: Any) -> np.ndarray:
    if comp.dense:
        out = np.empty((1, *comp.shape), dtype=comp.dtype)  # type: ignore[misc]
        out[0] = value
        return out
    cells = np.empty(1, dtype=object)
    cells[0] = value
    return cells


class PaddingFIFOQueue(FIFOQueue):
    """A FIFO queue whose batched dequeues pad dimensions declared ``None``.

    ``dequeue_many`` and ``dequeue_up_to`` pad every component dimension declared
    ``None`` with zeros (empty strings for strings) up to the largest size in the batch;
    ``dequeue`` returns an element as it was enqueued.

    Args:
        capacity: the most elements held before ``enqueue`` blocks.
        dtypes: one dtype per component.
        shapes: required: one shape per component; ``None`` marks a dimension that may
            vary between elements.
        names: optional component names.
        name: a name for error messages.

    >>> q = PaddingFIFOQueue(4, ["int32"], shapes=[[None]])
    >>> q.enqueue([[1]]); q.enqueue([[2, 3, 4]])
    >>> q.dequeue_many(2).tolist()
    [[1, 0, 0], [2, 3, 4]]
    """

    _kind = "padding_fifo_queue"

    def __init__(
        self,
        capacity: int,
        dtypes: Sequence[Any] | Any,
        shapes: Sequence[Any],
        names: Sequence[str] | None = None,
        shared_name: str | None = None,
        name: str | None = None,
    ) -> None:
        if shapes is None:
            raise InvalidArgumentError(
                "PaddingFIFOQueue needs shapes: one per component, None for a dimension that varies"
            )
        if not isinstance(shapes, list | tuple):
            raise InvalidArgumentError(
                f"shapes must be a list of shapes (one per dtype), got {shapes!r}"
            )
        if any(s is None for s in shapes):
            raise InvalidArgumentError(
                "PaddingFIFOQueue needs a rank for every component; use [None] dimensions, not None"
            )
        super().__init__(capacity, dtypes, shapes, names, shared_name, name)

    def _stack_cells(self, comp: Component, cells: np.ndarray) -> np.ndarray:
        assert comp.shape is not None
        n = len(cells)
        dims = [
            d if d is not None else max((c.shape[i] for c in cells), default=0)
            for i, d in enumerate(comp.shape)
        ]
        if comp.dtype == np.dtype(object):
            out = np.full((n, *dims), b"", dtype=object)
        else:
            out = np.zeros((n, *dims), dtype=comp.dtype)
        for i, cell in enumerate(cells):
            region: tuple[Any, ...] = (i, *(slice(0, s) for s in cell.shape))
            out[region] = cell
        return out


class RandomShuffleQueue(QueueBase):
    """A queue that dequeues elements in a random order.

    While the queue is open, a dequeue waits until taking its elements would leave at
    least ``min_after_dequeue`` behind, so the pool it samples from stays large; after
    ``close`` the queue drains completely. Every element is returned exactly once.

    Args:
        capacity: the most elements held before ``enqueue`` blocks.
        min_after_dequeue: elements kept in the pool while open (``< capacity``).
        dtypes: one dtype per component.
        shapes: optional shape per component (fully defined shapes: fast path).
        names: optional component names.
        seed: seeds the sampling; with the same seed and the same sequence of
            operations the output order repeats. ``None`` draws fresh entropy.
        name: a name for error messages.

    >>> q = RandomShuffleQueue(10, 0, "int64", seed=7)
    >>> q.enqueue_many([np.arange(10)]); q.close()
    >>> sorted(q.dequeue_many(10).tolist()) == list(range(10))
    True
    """

    _kind = "random_shuffle_queue"

    def __init__(
        self,
        capacity: int,
        min_after_dequeue: int,
        dtypes: Sequence[Any] | Any,
        shapes: Sequence[Any] | None = None,
        names: Sequence[str] | None = None,
        seed: int | None = None,
        shared_name: str | None = None,
        name: str | None = None,
    ) -> None:
        capacity = check_count(capacity, "capacity", positive=True)
        min_after_dequeue = check_count(min_after_dequeue, "min_after_dequeue")
        if min_after_dequeue >= capacity:
            raise InvalidArgumentError(
                f"min_after_dequeue ({min_after_dequeue}) must be < capacity ({capacity})"
            )
        self._min_after_dequeue = min_after_dequeue
        if isinstance(seed, bool):
            raise InvalidArgumentError(f"seed must be None or an int >= 0, got {seed!r}")
        try:
            self._rng = np.random.default_rng(seed)
        except (TypeError, ValueError) as e:
            raise InvalidArgumentError(f"seed must be None or an int >= 0, got {seed!r}") from e
        self._seed = seed
        super().__init__(capacity, dtypes, shapes, names, shared_name, name)

    @property
    def min_after_dequeue(self) -> int:
        """Elements kept back while the queue is open."""
        return self._min_after_dequeue

    def _init_storage(self) -> None:
        # Elements stay in the slot they were written to; ``_live[:count]`` lists the
        # occupied slots and ``_free[:nfree]`` the others. A dequeue gathers its slots
        # and shuffles only these int arrays, so each element's data is copied exactly
        # twice — in and out — however the pool is drawn from.
        # The pool grows (doubling, up to the capacity) when no slot is free; the
        # invariant is count + nfree == the columns' length.
        length = min(self._capacity, INITIAL_SLOTS)
        self._cols = Columns(self._components, length)
        self._live = np.empty(length, dtype=np.intp)
        self._free = np.arange(length - 1, -1, -1, dtype=np.intp)  # pops 0, 1, 2, …
        self._nfree = length
        self._count = 0
        self._uniform = np.empty(0)
        self._next_uniform = 0

    def _size(self) -> int:
        return self._count

    def _available(self) -> int:
        if self._closed:
            return self._count
        return max(0, self._count - self._min_after_dequeue)

    def _one_shot_limit(self) -> int:
        return max(1, self._capacity - self._min_after_dequeue)

    def _alloc_slots(self, k: int) -> np.ndarray:
        if self._nfree < k:
            self._grow(self._count + k)
        slots = self._free[self._nfree - k : self._nfree][::-1].copy()
        self._nfree -= k
        self._live[self._count : self._count + k] = slots
        self._count += k
        return slots

    def _grow(self, need: int) -> None:
        # Slots keep their numbers; the new ones go on top of the free list, so they
        # are handed out next, in ascending order. Everything is allocated before
        # anything changes, so a failed allocation leaves the pool as it was.
        old = self._cols.length
        new = grown_length(old, need, self._capacity)
        live = np.empty(new, dtype=np.intp)
        live[: self._count] = self._live[: self._count]
        free = np.empty(new, dtype=np.intp)
        free[: self._nfree] = self._free[: self._nfree]
        free[self._nfree : self._nfree + new - old] = np.arange(new - 1, old - 1, -1)
        self._cols.grow(new)
        self._live, self._free = live, free
        self._nfree += new - old

    def _release_slots(self, slots: np.ndarray) -> None:
        self._cols.clear_at(slots)
        self._free[self._nfree : self._nfree + len(slots)] = slots
        self._nfree += len(slots)

    def _put(self, values: list[np.ndarray], lo: int, hi: int) -> None:
        slots = self._alloc_slots(hi - lo)
        self._cols.scatter(slots, values, lo, hi)

    def _put_one(self, values: list[np.ndarray]) -> None:
        slot = int(self._alloc_slots(1)[0])
        self._cols.write_one(slot, values)

    def _take(self, n: int) -> list[Any]:
        count = self._count
        if n == 0:
            return self._cols.gather(np.empty(0, dtype=np.intp))
        picked = self._rng.choice(count, size=n, replace=False)
        slots = self._live[picked]
        part = self._cols.gather(slots)
        # Close the gaps in the live list with the survivors from its tail.
        new_count = count - n
        holes = picked[picked < new_count]
        if len(holes):
            taken_above = np.zeros(n, dtype=bool)
            taken_above[picked[picked >= new_count] - new_count] = True
            self._live[holes] = self._live[new_count + np.flatnonzero(~taken_above)]
        self._count = new_count
        self._release_slots(slots)
        return part

    def _take_one(self) -> list[Any]:
        # Uniforms are drawn in blocks: one generator call per element would dominate.
        if self._next_uniform >= len(self._uniform):
            self._uniform = self._rng.random(1024)
            self._next_uniform = 0
        u = self._uniform[self._next_uniform]
        self._next_uniform += 1
        last = self._count - 1
        i = min(int(u * self._count), last)
        slot = self._live[i]
        values = self._cols.read_one(int(slot))
        self._live[i] = self._live[last]
        self._count = last
        self._free[self._nfree] = slot
        self._nfree += 1
        return values

    def _unget(self, part: list[Any]) -> None:
        n = _part_len(part)
        if not isinstance(part[0], np.ndarray) or part[0].ndim == 0:
            part = [_one_as_batch(c, v) for c, v in zip(self._components, part)]
        slots = self._alloc_slots(n)
        self._cols.write_at(slots, part)


class PriorityQueue(QueueBase):
    """A queue that dequeues elements in order of an int64 priority, lowest first.

    The first component of every element is its priority, an int64 scalar; ``dtypes``,
    ``shapes`` and ``names`` describe the other components, as in TensorFlow (``names``
    may include a name for the priority, making it ``len(dtypes) + 1`` long). Dequeues
    return the priority as the first component. Elements of equal priority leave in the
    order they arrived.

    Args:
        capacity: the most elements held before ``enqueue`` blocks.
        types: dtypes of the components after the priority (TensorFlow's name;
            ``dtypes=`` works too).
        shapes: optional shapes of those components.
        names: optional names for all components, the priority first.
        name: a name for error messages.

    >>> q = PriorityQueue(4, ["string"], shapes=[()])
    >>> q.enqueue_many([[3, 1, 2], [b"c", b"a", b"b"]])
    >>> q.dequeue_many(3)[1].tolist()
    [b'a', b'b', b'c']
    """

    _kind = "priority_queue"

    def __init__(
        self,
        capacity: int,
        types: Sequence[Any] | Any = None,
        shapes: Sequence[Any] | None = None,
        names: Sequence[str] | None = None,
        shared_name: str | None = None,
        name: str | None = None,
        *,
        dtypes: Sequence[Any] | Any = None,
    ) -> None:
        if dtypes is not None:
            if types is not None:
                raise InvalidArgumentError("give types or dtypes, not both")
            types = dtypes
        if types is None:
            raise InvalidArgumentError(
                "PriorityQueue needs the types of the components after the priority"
            )
        dtypes = types if isinstance(types, list | tuple) else [types]
        all_dtypes = [np.int64, *dtypes]
        if shapes is not None and (
            not isinstance(shapes, list | tuple) or len(shapes) != len(dtypes)
        ):
            raise InvalidArgumentError(
                f"shapes must have {len(dtypes)} entries (one per dtype), got {shapes!r}"
            )
        all_shapes = None if shapes is None else [(), *shapes]
        super().__init__(capacity, all_dtypes, all_shapes, names, shared_name, name)
        if self._components[0].shape is None:
            self._components[0] = Component(
                0, self._components[0].name, np.dtype(np.int64), (), queue=self._name
            )
            self._init_storage()

    def _init_storage(self) -> None:
        # Live elements occupy slots lo..hi, sorted by (priority, arrival).
        self._cols = Columns(self._components, min(self._capacity, INITIAL_SLOTS))
        self._lo = 0
        self._hi = 0

    def _size(self) -> int:
        return self._hi - self._lo

    def _make_room(self, extra: int) -> None:
        length = self._cols.length
        if self._hi + extra <= length:
            return
        count = self._hi - self._lo
        # Slide the elements down to slot 0 when that leaves at least half the columns
        # free (once grown to the capacity: whenever they fit); otherwise grow, doubling
        # up to the capacity. Either way each element moves O(1) times amortised.
        room = length if length >= self._capacity else length // 2
        if count + extra <= room:
            self._cols.move(slice(0, count), slice(self._lo, self._hi))
            self._cols.clear(count, self._hi)
        else:
            self._cols.grow(grown_length(length, count + extra, self._capacity), self._lo, count)
        self._lo, self._hi = 0, count

    def _insert_sorted(self, part: list[np.ndarray]) -> None:
        prio = part[0]
        k = len(prio)
        self._make_room(k)
        keys = self._cols.arrays[0]
        lo, hi = self._lo, self._hi
        if hi == lo or prio.min() >= keys[hi - 1]:
            order = np.argsort(prio, kind="stable")
            self._cols.write_at(np.arange(hi, hi + k), [p[order] for p in part])
            self._hi = hi + k
            return
        order = np.argsort(prio, kind="stable")
        new_keys = prio[order]
        old_keys = keys[lo:hi]
        # Merge: a new element goes after old ones of equal priority (arrival order).
        at = np.searchsorted(old_keys, new_keys, side="right")
        start = int(at[0])
        tail = np.arange(lo + start, hi)
        new_pos = at - start + np.arange(k)
        old_pos = np.arange(len(tail)) + np.searchsorted(new_keys, old_keys[start:], side="left")
        merged = [np.empty((len(tail) + k, *a.shape[1:]), dtype=a.dtype) for a in self._cols.arrays]
        old = self._cols.gather(tail)
        for m, o, p in zip(merged, old, part):
            m[old_pos] = o
            m[new_pos] = p[order]
        self._cols.write_at(np.arange(lo + start, hi + k), merged)
        self._hi = hi + k

    def _put(self, values: list[np.ndarray], lo: int, hi: int) -> None:
        part = []
        for comp, v in zip(self._components, values):
            if comp.dense:
                part.append(v[lo:hi])
            else:
                cells = np.empty(hi - lo, dtype=object)
                own = np.array(v[lo:hi], copy=True)
                for i in range(hi - lo):
                    cells[i] = own[i, ...]
                part.append(cells)
        self._insert_sorted(part)

    def _put_one(self, values: list[np.ndarray]) -> None:
        self._insert_sorted([_one_as_batch(c, v) for c, v in zip(self._components, values)])

    def _take(self, n: int) -> list[Any]:
        part = self._cols.read(self._lo, self._lo + n)
        self._lo += n
        return part

    def _take_one(self) -> list[Any]:
        values = self._cols.read_one(self._lo)
        self._lo += 1
        return values

    def _unget(self, part: list[Any]) -> None:
        if not isinstance(part[0], np.ndarray) or part[0].ndim == 0:
            part = [_one_as_batch(c, v) for c, v in zip(self._components, part)]
        self._insert_sorted(part)
