"""The Coordinator: many threads stop together, and the first error reaches the joiner.

This is TensorFlow's ``tf.train.Coordinator`` contract::

    coord = Coordinator()
    threads = [threading.Thread(target=work, args=(coord,)) for _ in range(4)]
    for t in threads:
        t.start()
    coord.join(threads)          # re-raises the first exception any thread reported

    def work(coord):
        with coord.stop_on_exception():
            while not coord.should_stop():
                ...              # an exception here stops every thread

An :class:`~conveyor.core.errors.OutOfRangeError` reported to the coordinator is the
normal end of input: it stops the threads but is not re-raised.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any

from conveyor.core._checks import check_exception_types, check_timeout
from conveyor.core.errors import InvalidArgumentError, OutOfRangeError

__all__ = ["Coordinator", "LooperThread"]

_log = logging.getLogger("conveyor")

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


class Coordinator:
    """Coordinates the termination of a set of threads.

    Args:
        clean_stop_exception_types: exceptions that mean "stop" rather than "fail":
            reported through :meth:`request_stop` they stop the threads but are not
            re-raised by :meth:`join`. Default: ``(OutOfRangeError,)``.

    Raises:
        InvalidArgumentError: ``clean_stop_exception_types`` holds something other
            than exception classes.

    Thread-safety: every method may be called from any thread.
    """

    def __init__(
        self, clean_stop_exception_types: Iterable[type[BaseException]] | None = None
    ) -> None:
        if clean_stop_exception_types is None:
            clean_stop_exception_types = (OutOfRangeError,)
        self._clean_stop_exception_types = check_exception_types(
            clean_stop_exception_types, "clean_stop_exception_types"
        )
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._exc_info_to_raise: ExcInfo | None = None
        self._joined = False
        self._registered_threads: set[threading.Thread] = set()
        self._listeners: set[threading.Event] = set()

    def _filter_exception(self, ex: Any) -> Any:
        inner = ex[1] if isinstance(ex, tuple) else ex
        if isinstance(inner, self._clean_stop_exception_types):
            return None
        return ex

    def request_stop(self, ex: BaseException | ExcInfo | None = None) -> None:
        """Ask every thread to stop, optionally reporting why.

        The first exception reported (while no stop was requested yet) is kept and
        re-raised by :meth:`join` and :meth:`raise_requested_exception`; later ones are
        ignored. Clean-stop exceptions are not kept.

        Args:
            ex: an exception instance, or an ``(type, value, traceback)`` tuple as from
                ``sys.exc_info()``.

        Raises:
            the reported exception itself, if :meth:`join` has already returned: nobody
            is left to re-raise it, so it is raised here.
        """
        with self._lock:
            ex = self._filter_exception(ex)
            if self._joined:
                if isinstance(ex, tuple):
                    raise ex[1]
                if ex is not None:
                    raise ex
            if not self._stop_event.is_set():
                if ex is not None and self._exc_info_to_raise is None:
                    if isinstance(ex, tuple):
                        if len(ex) != 3 or ex[1] is None:
                            raise ValueError(
                                f"ex must be an exception or exc_info tuple, got {ex!r}"
                            )
                        self._exc_info_to_raise = ex
                    elif isinstance(ex, BaseException):
                        self._exc_info_to_raise = (type(ex), ex, ex.__traceback__)
                    else:
                        raise TypeError(f"ex must be an exception or exc_info tuple, got {ex!r}")
                    _log.info("Error reported to Coordinator: %r", self._exc_info_to_raise[1])
                self._stop_event.set()
                for event in self._listeners:
                    event.set()

    def clear_stop(self) -> None:
        """Forget a stop request and its exception, so the threads can be restarted."""
        with self._lock:
            self._joined = False
            self._exc_info_to_raise = None
            self._stop_event.clear()

    def should_stop(self) -> bool:
        """Whether a stop was requested."""
        return self._stop_event.is_set()

    @contextlib.contextmanager
    def stop_on_exception(self) -> Iterator[None]:
        """A context in which any exception requests a stop (and is swallowed).

        Clean-stop exceptions (``OutOfRangeError``) stop the threads without being
        re-raised later; others are re-raised by :meth:`join`.
        """
        try:
            yield
        except BaseException:
            self.request_stop(ex=sys.exc_info())  # type: ignore[arg-type]

    def wait_for_stop(self, timeout: float | None = None) -> bool:
        """Block until a stop is requested; return whether it was (``False`` on timeout).

        Args:
            timeout: seconds to wait (a number >= 0); ``None`` or ``inf`` waits forever.

        Raises:
            InvalidArgumentError: ``timeout`` is not ``None`` or a number >= 0.
        """
        return self._stop_event.wait(check_timeout(timeout))

    def register_thread(self, thread: threading.Thread) -> None:
        """Add a thread for :meth:`join` to wait for when called without ``threads``."""
        with self._lock:
            self._registered_threads.add(thread)

    def join(
        self,
        threads: Iterable[threading.Thread] | None = None,
        stop_grace_period_secs: float = 120,
        ignore_live_threads: bool = False,
    ) -> None:
        """Wait for the threads to end, then re-raise the first reported exception.

        Waits until every thread has ended or a stop was requested; after a stop, gives
        the threads ``stop_grace_period_secs`` to end.

        Args:
            threads: the threads to wait for, in addition to the registered ones.
            stop_grace_period_secs: how long threads may take to end after a stop, in
                seconds (a number >= 0); ``None`` or ``inf`` waits for them forever.
            ignore_live_threads: log, rather than raise, threads still alive after the
                grace period.

        Raises:
            InvalidArgumentError: ``stop_grace_period_secs`` is not ``None`` or a
                number >= 0 (checked before anything waits).
            the first exception reported through :meth:`request_stop`, with its
            original traceback.
            RuntimeError: naming the threads still alive after the grace period (unless
                ``ignore_live_threads``).
        """
        grace = check_timeout(stop_grace_period_secs, "stop_grace_period_secs")
        with self._lock:
            pool = set(self._registered_threads)
            if threads is not None:
                pool.update(threads)
            waited = list(pool)

        # Until a stop is requested, wait for the threads themselves.
        while not self._stop_event.is_set():
            alive = [t for t in waited if t.is_alive()]
            if not alive:
                break
            alive[0].join(0.05)

        deadline = None if grace is None else time.monotonic() + grace
        for t in waited:
            if deadline is None:
                t.join()
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            t.join(remaining)
        stragglers = [t.name for t in waited if t.is_alive()]

        with self._lock:
            self._joined = True
            self._registered_threads = set()
            if self._exc_info_to_raise is not None:
                raise self._exc_info_to_raise[1].with_traceback(self._exc_info_to_raise[2])
            if stragglers:
                if ignore_live_threads:
                    _log.info(
                        "Coordinator stopped with threads still running: %s", " ".join(stragglers)
                    )
                else:
                    raise RuntimeError(
                        "Coordinator stopped with threads still running: " + " ".join(stragglers)
                    )

    @property
    def joined(self) -> bool:
        """Whether :meth:`join` has returned (or raised) since the last :meth:`clear_stop`."""
        return self._joined

    def raise_requested_exception(self) -> None:
        """Raise the exception reported through :meth:`request_stop`, if any."""
        with self._lock:
            if self._exc_info_to_raise is not None:
                raise self._exc_info_to_raise[1].with_traceback(self._exc_info_to_raise[2])

    def loop(
        self,
        timer_interval_secs: float,
        target: Callable[..., Any],
        args: Iterable[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> LooperThread:
        """Start a thread that calls ``target(*args, **kwargs)`` every interval until stop."""
        looper = LooperThread(self, timer_interval_secs, target=target, args=args, kwargs=kwargs)
        looper.start()
        return looper

    # Used by QueueRunner: an event set on stop, so one thread can wait for "stop, or
    # my own work is done" without polling.
    def _subscribe(self, event: threading.Event) -> None:
        with self._lock:
            self._listeners.add(event)
            if self._stop_event.is_set():
                event.set()

    def _unsubscribe(self, event: threading.Event) -> None:
        with self._lock:
            self._listeners.discard(event)


class LooperThread(threading.Thread):
    """A thread that runs a function repeatedly until its coordinator stops.

    Args:
        coord: the coordinator; the thread registers with it and stops with it.
        timer_interval_secs: the period in seconds (a finite number >= 0); ``None``
            calls the function back to back.
        target: the function; without one, subclasses override :meth:`run_loop`.
        args, kwargs: the function's arguments.

    An exception raised by the function is reported to the coordinator.

    Raises:
        InvalidArgumentError: ``timer_interval_secs`` is not ``None`` or a finite
            number >= 0, or ``target`` is not callable.
    """

    def __init__(
        self,
        coord: Coordinator,
        timer_interval_secs: float | None,
        target: Callable[..., Any] | None = None,
        args: Iterable[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(coord, Coordinator):
            raise InvalidArgumentError(f"coord must be a Coordinator, got {coord!r}")
        if timer_interval_secs is not None:
            interval = check_timeout(timer_interval_secs, "timer_interval_secs")
            if interval is None:  # inf: "never" is not a period
                raise InvalidArgumentError(
                    f"timer_interval_secs must be None or a finite number of seconds >= 0, "
                    f"got {timer_interval_secs!r}"
                )
            timer_interval_secs = interval
        if target is not None and not callable(target):
            raise InvalidArgumentError(f"target must be callable, got {target!r}")
        super().__init__(daemon=True)
        self._coord = coord
        self._timer_interval_secs = timer_interval_secs
        self._target_fn = target
        self._fn_args = tuple(args or ())
        self._fn_kwargs = dict(kwargs or {})
        coord.register_thread(self)

    def run(self) -> None:
        with self._coord.stop_on_exception():
            self.start_loop()
            if self._timer_interval_secs is None:
                while not self._coord.should_stop():
                    self.run_loop()
            else:
                next_time = time.monotonic()
                while not self._coord.wait_for_stop(max(0.0, next_time - time.monotonic())):
                    next_time += self._timer_interval_secs
                    self.run_loop()
            self.stop_loop()

    def start_loop(self) -> None:
        """Called once before the loop starts."""

    def stop_loop(self) -> None:
        """Called once after the loop ends."""

    def run_loop(self) -> None:
        """One iteration; by default calls the target."""
        if self._target_fn is not None:
            self._target_fn(*self._fn_args, **self._fn_kwargs)
