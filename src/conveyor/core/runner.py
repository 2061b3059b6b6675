"""QueueRunner: threads that keep a queue filled, and the registry that starts them.

A :class:`QueueRunner` runs one thread per *enqueue op*, a callable doing one unit of
work (typically: take from an upstream queue or reader, transform, enqueue here), over
and over. When every thread has met the end of its input (an ``OutOfRangeError``), the
runner closes its queue, so the consumer drains it and then sees ``OutOfRangeError``
too. Any other exception is reported to the :class:`~conveyor.core.coordinator.Coordinator`,
which stops every thread; the queue is then cancelled, so nothing stays blocked on it.

The classic TensorFlow 1 style registers runners while the pipeline is built and starts
them all at once::

    add_queue_runner(QueueRunner(queue, [enqueue_op] * 4))
    coord = Coordinator()
    threads = start_queue_runners(coord=coord)

(The pipeline API starts its own runners, so this step cannot be forgotten there.)
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from conveyor.core._checks import check_exception_types
from conveyor.core.coordinator import Coordinator
from conveyor.core.errors import CancelledError, InvalidArgumentError, OutOfRangeError

__all__ = [
    "QueueRunner",
    "QUEUE_RUNNERS",
    "Collections",
    "default_collections",
    "add_queue_runner",
    "get_queue_runners",
    "clear_queue_runners",
    "start_queue_runners",
]

_log = logging.getLogger("conveyor")
_ids = itertools.count()

QUEUE_RUNNERS = "queue_runners"
"""The default collection name, as TensorFlow's ``tf.GraphKeys.QUEUE_RUNNERS``."""


class QueueRunner:
    """Holds a list of enqueue ops, each run repeatedly by its own thread.

    Args:
        queue: the queue the ops fill (anything with ``close(cancel_pending_enqueues)``).
        enqueue_ops: callables, each doing one unit of work per call; list the same
            callable N times for N threads running it.
        close_op: called once when every thread has met the end of its input;
            default ``queue.close()``.
        cancel_op: called when the coordinator stops; default
            ``queue.close(cancel_pending_enqueues=True)``.
        queue_closed_exception_types: exceptions that mean "my input is exhausted";
            default ``(OutOfRangeError,)``.
        name: a name for the threads.

    Raises:
        InvalidArgumentError: no queue, ``enqueue_ops`` not a non-empty list of
            callables, or ``queue_closed_exception_types`` not exception classes.

    Thread-safety: ``create_threads`` may be called from any thread; a runner runs one
    set of threads at a time (calling it again while they run returns ``[]``).
    """

    def __init__(
        self,
        queue: Any,
        enqueue_ops: Sequence[Callable[[], Any]],
        close_op: Callable[[], Any] | None = None,
        cancel_op: Callable[[], Any] | None = None,
        queue_closed_exception_types: tuple[type[BaseException], ...] | None = None,
        name: str | None = None,
    ) -> None:
        if queue is None:
            raise InvalidArgumentError("QueueRunner needs a queue")
        if callable(enqueue_ops) or not isinstance(enqueue_ops, Iterable):
            raise InvalidArgumentError(
                f"enqueue_ops must be a list of callables (one per thread), got {enqueue_ops!r}"
            )
        enqueue_ops = list(enqueue_ops)
        if not enqueue_ops:
            raise InvalidArgumentError("QueueRunner needs at least one enqueue op")
        for op in enqueue_ops:
            if not callable(op):
                raise InvalidArgumentError(f"enqueue ops must be callables, got {op!r}")
        self._queue = queue
        self._enqueue_ops = enqueue_ops
        self._close_op = close_op or (lambda: queue.close())
        self._cancel_op = cancel_op or (lambda: queue.close(cancel_pending_enqueues=True))
        if queue_closed_exception_types is None:
            queue_closed_exception_types = (OutOfRangeError,)
        closed_types = check_exception_types(
            queue_closed_exception_types, "queue_closed_exception_types"
        )
        if not closed_types:
            raise InvalidArgumentError("queue_closed_exception_types must not be empty")
        self._queue_closed_exception_types = closed_types
        self._name = name or getattr(queue, "name", None) or f"queue_runner_{next(_ids)}"
        self._lock = threading.Lock()
        self._running = 0
        self._wake = threading.Event()
        self._exceptions_raised: list[BaseException] = []

    @property
    def queue(self) -> Any:
        """The queue this runner fills."""
        return self._queue

    @property
    def enqueue_ops(self) -> list[Callable[[], Any]]:
        """The enqueue ops, one per thread."""
        return list(self._enqueue_ops)

    @property
    def name(self) -> str:
        """The runner's name (the queue's, by default)."""
        return self._name

    @property
    def queue_closed_exception_types(self) -> tuple[type[BaseException], ...]:
        """Exceptions that end a thread cleanly."""
        return self._queue_closed_exception_types

    @property
    def exceptions_raised(self) -> list[BaseException]:
        """The exceptions the threads raised (other than end of input) in their last run."""
        with self._lock:
            return list(self._exceptions_raised)

    def _run(self, enqueue_op: Callable[[], Any], coord: Coordinator | None) -> None:
        decremented = False
        try:
            while coord is None or not coord.should_stop():
                try:
                    enqueue_op()
                except self._queue_closed_exception_types:
                    with self._lock:
                        self._running -= 1
                        decremented = True
                        last = self._running == 0
                    if last:
                        try:
                            self._close_op()
                        except Exception as e:  # the queue may already be closed
                            _log.debug("Ignored exception closing %s: %r", self._name, e)
                        self._wake.set()
                    return
        except BaseException as e:
            if coord is not None and coord.should_stop() and isinstance(e, CancelledError):
                return  # our queue was cancelled because of the stop: not an error
            with self._lock:
                self._exceptions_raised.append(e)
            if coord is not None:
                coord.request_stop(e)
            else:
                _log.error("Exception in QueueRunner %s: %r", self._name, e)
                self._cancel_quietly()
                raise
        finally:
            if not decremented:
                with self._lock:
                    self._running -= 1
                    last = self._running == 0
                if last:
                    self._wake.set()

    def _cancel_quietly(self) -> None:
        try:
            self._cancel_op()
        except Exception as e:
            _log.debug("Ignored exception cancelling %s: %r", self._name, e)

    def _close_on_stop(self, coord: Coordinator, wake: threading.Event) -> None:
        # Wakes on a stop request, or when every enqueue thread has ended.
        try:
            wake.wait()
            if coord.should_stop():
                self._cancel_quietly()
        finally:
            coord._unsubscribe(wake)

    def create_threads(
        self, coord: Coordinator | None = None, daemon: bool = False, start: bool = False
    ) -> list[threading.Thread]:
        """Create (and optionally start) the threads that run the enqueue ops.

        Args:
            coord: the coordinator that stops the threads and receives their errors.
                With one, an extra thread cancels the queue when a stop is requested.
            daemon: make the threads daemons.
            start: start them.

        Returns:
            One thread per enqueue op, plus the cancelling thread when ``coord`` is given;
            ``[]`` if this runner's threads are already running.
        """
        with self._lock:
            if self._running > 0:
                return []
            self._running = len(self._enqueue_ops)
            self._exceptions_raised = []
            self._wake = wake = threading.Event()
        threads = [
            threading.Thread(
                target=self._run,
                args=(op, coord),
                name=f"QueueRunnerThread-{self._name}-{i}",
                daemon=daemon,
            )
            for i, op in enumerate(self._enqueue_ops)
        ]
        if coord is not None:
            # One event wakes the cancel thread on either cause: the coordinator sets it
            # on a stop request, the last enqueue thread when the input is exhausted.
            coord._subscribe(wake)
            threads.append(
                threading.Thread(
                    target=self._close_on_stop,
                    args=(coord, wake),
                    name=f"QueueRunnerThread-{self._name}-close_on_stop",
                    daemon=daemon,
                )
            )
        for t in threads:
            if coord is not None:
                coord.register_thread(t)
            if start:
                t.start()
        return threads


class Collections:
    """Named lists of objects, such as the queue runners of one pipeline or one graph.

    The classic API keeps one default instance (:func:`default_collections`); a
    ``conveyor.compat.v1`` graph owns its own, as TensorFlow graphs own theirs.

    Thread-safety: every method may be called from any thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, list[Any]] = {}

    def add(self, name: str, value: Any) -> None:
        """Append ``value`` to the collection ``name``."""
        with self._lock:
            self._items.setdefault(name, []).append(value)

    def get(self, name: str) -> list[Any]:
        """A copy of the collection ``name``, in insertion order (``[]`` if unknown)."""
        with self._lock:
            return list(self._items.get(name, ()))

    def ref(self, name: str) -> list[Any]:
        """The list behind the collection ``name`` itself (created if unknown)."""
        with self._lock:
            return self._items.setdefault(name, [])

    def keys(self) -> list[str]:
        """The names of the collections, in creation order."""
        with self._lock:
            return list(self._items)

    def clear(self, name: str | None = None) -> None:
        """Forget the collection ``name`` (every collection if ``None``)."""
        with self._lock:
            if name is None:
                self._items.clear()
            else:
                self._items.pop(name, None)


_default = Collections()


def default_collections() -> Collections:
    """The collections that the classic functions below register into and start."""
    return _default


def add_queue_runner(qr: QueueRunner, collection: str = QUEUE_RUNNERS) -> None:
    """Register a runner for :func:`start_queue_runners` (TF's ``tf.train.add_queue_runner``)."""
    if not isinstance(qr, QueueRunner):
        raise InvalidArgumentError(f"expected a QueueRunner, got {qr!r}")
    _default.add(collection, qr)


def get_queue_runners(collection: str = QUEUE_RUNNERS) -> list[QueueRunner]:
    """The runners registered in ``collection``, in registration order."""
    return _default.get(collection)


def clear_queue_runners(collection: str | None = None) -> None:
    """Forget the runners of ``collection`` (of every collection if ``None``)."""
    _default.clear(collection)


def start_queue_runners(
    coord: Coordinator | None = None,
    daemon: bool = True,
    start: bool = True,
    collection: str = QUEUE_RUNNERS,
) -> list[threading.Thread]:
    """Start the threads of every runner registered in ``collection``.

    Args:
        coord: the coordinator for all of them (recommended: it makes errors visible
            and lets :meth:`Coordinator.join` stop everything).
        daemon: make the threads daemons (so a forgotten pipeline cannot keep the
            process alive).
        start: start the threads (otherwise the caller starts them).
        collection: the collection to start.

    Returns:
        All the threads created. Runners already running contribute none.
    """
    threads: list[threading.Thread] = []
    for qr in get_queue_runners(collection):
        threads.extend(qr.create_threads(coord=coord, daemon=daemon, start=start))
    return threads
