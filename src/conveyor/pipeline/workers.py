"""Worker processes for ``map(fn, workers="process")``: functions that hold the GIL.

A :class:`ProcessPool` belongs to one run of a pipeline. Its processes start with the
run and end with it; each thread of the map stage hands one unit at a time to an idle
process (:meth:`ProcessPool.call`) and waits for the result.

Arrays travel through POSIX shared memory. Each worker process has an input and an
output segment, reused from unit to unit and replaced by a larger one only when a unit
does not fit, so the steady state costs one copy in and one copy out per array and no
new segment. The parent creates, owns and unlinks every segment; a worker only maps the
ones it is given, so a worker that dies, even by ``SIGKILL``, cannot leave one behind.
Leaves that are not plain arrays (bytes, strings, object arrays, Python scalars) are
pickled along with the request.

Processes come from the ``forkserver`` start method where there is one, ``spawn``
otherwise: the parent runs threads, which a plain ``fork`` would copy in whatever state
they are in. A worker shares nothing with the parent, so the function travels pickled:
it must be defined at the top level of a module. Workers import the main module again
(as ``__mp_main__``), so a script must guard its entry point with
``if __name__ == "__main__":``.

A pool lives for one run, so every iteration starts its workers afresh. The forkserver
imports conveyor and NumPy once, and a worker forked from it starts in milliseconds; a
main module whose top level imports something slow (``import torch``: over a second)
makes every worker pay for it again, unless that module is preloaded too, before the
first run::

    multiprocessing.get_context("forkserver").set_forkserver_preload(["torch"])
"""

from __future__ import annotations

import collections
import contextlib
import mmap
import multiprocessing
import os
import pickle
import secrets
import signal
import threading
import time
import traceback
import weakref
from collections.abc import Callable
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

import numpy as np

from conveyor.core.coordinator import Coordinator
from conveyor.core.errors import (
    CancelledError,
    InvalidArgumentError,
    UnimplementedError,
    UnknownError,
)
from conveyor.pipeline import _structure as st

if TYPE_CHECKING:
    from conveyor.pipeline.stage import StageContext

# Segments are files in /dev/shm, the tmpfs in which Linux keeps POSIX shared memory,
# made with os.open and mapped with mmap: public calls only. (Python 3.11's public
# multiprocessing.shared_memory.SharedMemory registers a segment with the resource
# tracker in every process that attaches it, which the worker must not do; track=False
# arrives only in 3.13.) Without /dev/shm (macOS, Windows) process workers are
# unavailable, and ProcessPool says so when it is made.
_SHM_DIR = "/dev/shm"
_SHM_DIR_AVAILABLE: bool = os.path.isdir(_SHM_DIR)

__all__ = ["ProcessPool", "RemoteTraceback"]

_START_METHOD = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
_PRELOAD = "conveyor.pipeline"
_context_lock = threading.Lock()
_context_ready = False
_ALIGN = 64  # leaves start on cache-line boundaries, as NumPy's own allocations do
_MIN_SEGMENT = 1 << 20
_GRACE_SECONDS = 0.3  # how long an idle worker gets to exit by itself at close


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker process.

    Set as the ``__cause__`` of the exception the consumer receives, so the printed
    traceback shows where in the worker the function failed.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text}"""'


class _Segment:
    """A block of shared memory, mapped in this process: a file in ``/dev/shm``.

    The parent :meth:`create`\\ s segments and registers them with Python's resource
    tracker (which unlinks them should the parent itself be killed); a worker
    :meth:`attach`\\ es to them without registering, as it owns nothing, so a worker
    killed by ``SIGKILL`` leaves nothing behind.
    """

    def __init__(self, name: str, buf: mmap.mmap, owned: bool) -> None:
        self.name = name
        self.buf = buf
        self.size = len(buf)
        self._owned = owned

    @staticmethod
    def _path(name: str) -> str:
        return os.path.join(_SHM_DIR, name)

    @staticmethod
    def _tracked(name: str) -> str:
        # The tracker's "shared_memory" cleanup is shm_unlink, whose "/<name>" is this file.
        return "/" + name

    @classmethod
    def create(cls, size: int) -> _Segment:
        name = f"conveyor-{os.getpid()}-{secrets.token_hex(4)}"
        fd = os.open(cls._path(name), os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        resource_tracker.register(cls._tracked(name), "shared_memory")
        try:
            os.ftruncate(fd, size)
            if hasattr(os, "posix_fallocate"):
                # Reserve the pages now: a full /dev/shm then fails here, with an
                # error, rather than with SIGBUS in whichever process first writes.
                os.posix_fallocate(fd, 0, size)
            buf = mmap.mmap(fd, size)
        except BaseException:
            os.unlink(cls._path(name))
            resource_tracker.unregister(cls._tracked(name), "shared_memory")
            raise
        finally:
            os.close(fd)
        return cls(name, buf, owned=True)

    @classmethod
    def attach(cls, name: str) -> _Segment:
        fd = os.open(cls._path(name), os.O_RDWR)
        try:
            buf = mmap.mmap(fd, os.fstat(fd).st_size)
        finally:
            os.close(fd)
        return cls(name, buf, owned=False)

    def unlink(self) -> None:
        """Remove the name (owner only, once); mappings stay valid until closed."""
        if self._owned:
            self._owned = False
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path(self.name))
            resource_tracker.unregister(self._tracked(self.name), "shared_memory")

    def close(self) -> None:
        """Unmap, unless arrays still view the memory (then it goes with them)."""
        with contextlib.suppress(BufferError):
            self.buf.close()


# -- moving an element structure ------------------------------------------------------
#
# A structure travels as its treedef plus one spec per leaf: ``(dtype, shape, offset)``
# for an array placed in a segment, ``(None, value, None)`` for a leaf pickled inline.


def _shareable(leaf: Any) -> bool:
    return type(leaf) is np.ndarray and leaf.nbytes > 0 and not leaf.dtype.hasobject


def _plan(leaves: list[Any]) -> tuple[list[tuple[Any, Any, Any]], int]:
    specs: list[tuple[Any, Any, Any]] = []
    end = 0
    for leaf in leaves:
        if _shareable(leaf):
            offset = -(-end // _ALIGN) * _ALIGN
            specs.append((leaf.dtype, leaf.shape, offset))
            end = offset + leaf.nbytes
        else:
            specs.append((None, leaf, None))
    return specs, end


def _write(leaves: list[Any], specs: list[tuple[Any, Any, Any]], buf: Any) -> None:
    for leaf, (dtype, shape, offset) in zip(leaves, specs):
        if dtype is not None:
            np.copyto(np.ndarray(shape, dtype, buffer=buf, offset=offset), leaf, casting="no")


def _read(treedef: Any, specs: list[tuple[Any, Any, Any]], buf: Any, copy: bool) -> Any:
    leaves = []
    for dtype, shape, offset in specs:
        if dtype is None:
            leaves.append(shape)
        else:
            view = np.ndarray(shape, dtype, buffer=buf, offset=offset)
            leaves.append(view.copy() if copy else view)
    return st.unflatten(treedef, leaves)


# -- the worker side ------------------------------------------------------------------


def _serve(conn: Connection, payload: bytes) -> None:
    """A worker process's main loop: answer requests until the parent closes the pipe."""
    # Ctrl-C reaches the whole process group; the parent decides what it means.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    function: Callable[[Any, Any], tuple[Any, int, int]] | None = None
    startup_error: BaseException | None = None
    try:
        function = pickle.loads(payload)
    except BaseException as e:
        startup_error = UnknownError(
            f"a worker process could not load the function ({type(e).__name__}: {e}); "
            "it must be importable there, from the top level of a module"
        )
        startup_error.__cause__ = e
    mapped: dict[str, _Segment] = {}
    try:
        while True:
            try:
                request = conn.recv()
            except (EOFError, OSError):
                return
            try:
                if startup_error is not None:
                    raise startup_error
                assert function is not None
                _answer(conn, mapped, function, request)
            except BaseException as e:
                try:
                    conn.send(_error_reply(e))
                except OSError:  # the parent is gone: nobody to tell
                    return
    finally:
        for segment in mapped.values():
            segment.close()


def _mapping(mapped: dict[str, _Segment], role: str, name: str) -> _Segment:
    held = mapped.get(role)
    if held is None or held.name != name:
        if held is not None:
            held.close()
        held = mapped[role] = _Segment.attach(name)
    return held


def _answer(
    conn: Connection,
    mapped: dict[str, _Segment],
    function: Callable[[Any, Any], tuple[Any, int, int]],
    request: tuple[Any, ...],
) -> None:
    in_name, treedef, specs, out_name, level = request
    buf = _mapping(mapped, "in", in_name).buf if in_name is not None else None
    out, n_in, n_out = function(_read(treedef, specs, buf, copy=False), level)
    leaves, out_treedef = st.flatten(out)
    out_specs, size = _plan(leaves)
    if size:
        if out_name is None or _mapping(mapped, "out", out_name).size < size:
            conn.send(("grow", size))
            (out_name,) = conn.recv()
        _write(leaves, out_specs, _mapping(mapped, "out", out_name).buf)
    conn.send(("ok", out_treedef, out_specs, n_in, n_out))


def _error_reply(e: BaseException) -> tuple[Any, ...]:
    text = "".join(traceback.format_exception(e))
    try:
        # Sent only if it survives the trip: some exceptions cannot be rebuilt from
        # their pickle (a required constructor argument missing from ``args``).
        sendable: BaseException | None = e
        pickle.loads(pickle.dumps(e))
    except Exception:
        sendable = None
    return ("error", sendable, type(e).__qualname__, str(e), text)


# -- the parent side ------------------------------------------------------------------


def _context() -> Any:
    """The multiprocessing context that starts workers."""
    global _context_ready
    ctx = multiprocessing.get_context(_START_METHOD)
    with _context_lock:
        if _START_METHOD == "forkserver" and not _context_ready:
            # The server forks every worker: with conveyor (and NumPy) imported there
            # once, a worker starts in milliseconds rather than importing them again.
            # This acts only if the server is not running yet; modules already listed
            # for preloading stay. set_forkserver_preload is public but replaces the
            # list, and no public call reads it, so the list the user (or the default,
            # ["__main__"]) set is read from the forkserver's private state; should
            # that ever move, the default stands in for it.
            from multiprocessing import forkserver

            server = getattr(forkserver, "_forkserver", None)
            listed = getattr(server, "_preload_modules", ["__main__"])
            ctx.set_forkserver_preload(list(dict.fromkeys([*listed, _PRELOAD])))
        _context_ready = True
    return ctx


def _unlink_all(workers: list[_Worker]) -> None:
    for worker in workers:
        for segment in worker.segments():
            segment.unlink()


class _Worker:
    """The parent's handle on one worker process, and the segments it owns for it."""

    def __init__(self, process: Any, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.pid: int = process.pid
        self.input: _Segment | None = None
        self.output: _Segment | None = None

    def segments(self) -> list[_Segment]:
        return [s for s in (self.input, self.output) if s is not None]


class ProcessPool:
    """Worker processes that apply ``function(data, level)`` for one run of a stage.

    Args:
        function: returns ``(output, elements in, elements out)`` for a unit; it is
            pickled here and unpickled in every worker.
        processes: the number of worker processes.
        name: the stage's name, for errors and thread names.

    Raises:
        InvalidArgumentError: ``function`` cannot be pickled (a lambda, a nested
            function), or ``processes`` is not a positive int.
        UnimplementedError: the platform has no /dev/shm, where the shared memory lives.

    Nothing starts until :meth:`attach`\\ ed to a run and the run starts. Thread-safety:
    :meth:`call` may be called from any number of threads at once; each call occupies
    one process, so up to ``processes`` calls run in parallel and the others wait.
    """

    def __init__(self, function: Callable[[Any, Any], Any], processes: int, name: str) -> None:
        if not _SHM_DIR_AVAILABLE:
            raise UnimplementedError(
                f'{name}: workers="process" needs shared memory in {_SHM_DIR}, '
                "which this platform lacks"
            )
        if isinstance(processes, bool) or not isinstance(processes, int) or processes <= 0:
            raise InvalidArgumentError(f"processes must be a positive int, got {processes!r}")
        try:
            self._payload = pickle.dumps(function)
        except Exception as e:
            raise InvalidArgumentError(
                f'{name}: workers="process" needs a function that can be pickled, one '
                f"defined at the top level of a module ({type(e).__name__}: {e})"
            ) from e
        self.processes = processes
        self.name = name
        self._cond = threading.Condition()
        self._idle: collections.deque[_Worker] = collections.deque()
        self._workers: list[_Worker] = []
        self._usable = processes  # workers started or to start, less those retired
        self._closed = False
        # Should the interpreter exit with the run still open, unlink the segments
        # then rather than leave them to the resource tracker's warning.
        weakref.finalize(self, _unlink_all, self._workers)

    def attach(self, ctx: StageContext) -> None:
        """Tie the pool to the stage's run: start with its threads, close when it stops."""
        ctx.start_thread(self._live, f"ProcessPool-{self.name}")

    def _live(self, coord: Coordinator) -> None:
        try:
            self._start(coord)
        except BaseException as e:
            coord.request_stop(
                UnknownError(f"{self.name}: could not start worker processes: {e!r}")
            )
        coord.wait_for_stop()
        self.close()

    def _start(self, coord: Coordinator) -> None:
        ctx = _context()
        for i in range(self.processes):
            if coord.should_stop():
                return
            conn, child_conn = ctx.Pipe()
            process = ctx.Process(
                target=_serve,
                args=(child_conn, self._payload),
                name=f"{self.name}-worker-{i}",
                daemon=True,
            )
            with self._cond:
                if self._closed:
                    conn.close()
                    child_conn.close()
                    return
                process.start()
                worker = _Worker(process, conn)
                self._workers.append(worker)
                self._idle.append(worker)
                self._cond.notify()
            # Without the child's end open here, the parent reads EOF when it dies.
            child_conn.close()

    def call(self, data: Any, level: Any) -> tuple[Any, int, int]:
        """Apply the function to one unit in an idle worker process; block until done.

        Returns:
            the function's ``(output, elements in, elements out)``; arrays in the
            output are the parent's own copies.

        Raises:
            CancelledError: the pool was closed (the run is stopping).
            UnknownError: the worker process died, naming the stage, its pid and exit
                code; or no worker is left to take the unit.
            the function's own exception, with the worker's traceback as its
            ``__cause__`` (an :class:`UnknownError` when it cannot be pickled).
        """
        with self._cond:
            while not self._idle:
                if self._closed:
                    raise CancelledError(f"{self.name}: stopped")
                if not self._usable:
                    raise UnknownError(f"{self.name}: no worker process left")
                self._cond.wait()
            worker = self._idle.popleft()
        reply = None
        try:
            reply = self._exchange(worker, data, level)
            if reply[0] == "ok":
                # Copied out before the worker is released: its next unit reuses the
                # segment.
                _, treedef, specs, n_in, n_out = reply
                buf = worker.output.buf if worker.output is not None else None
                return _read(treedef, specs, buf, copy=True), n_in, n_out
        finally:
            self._release(worker, in_step=reply is not None)
        raise self._remote_error(worker, *reply[1:])

    def _release(self, worker: _Worker, in_step: bool) -> None:
        with self._cond:
            if in_step and not self._closed:
                self._idle.append(worker)
                self._cond.notify()
                return
            # Dead, closed, or interrupted halfway through a request and so out of step
            # with its pipe: closing the pipe ends it, and it takes no more units.
            worker.conn.close()
            if self._closed:
                for segment in worker.segments():
                    segment.close()
            else:
                self._usable -= 1
                self._cond.notify_all()

    def _exchange(self, worker: _Worker, data: Any, level: Any) -> tuple[Any, ...]:
        """Send one unit to ``worker``; return its final ``"ok"`` or ``"error"`` reply."""
        leaves, treedef = st.flatten(data)
        specs, size = _plan(leaves)
        in_name = None
        if size:
            worker.input = self._fitting(worker.input, size)
            _write(leaves, specs, worker.input.buf)
            in_name = worker.input.name
        out_name = worker.output.name if worker.output is not None else None
        reply = self._ask(worker, (in_name, treedef, specs, out_name, level))
        if reply[0] == "grow":
            worker.output = self._fitting(worker.output, reply[1])
            reply = self._ask(worker, (worker.output.name,))
        return reply

    def _fitting(self, segment: _Segment | None, size: int) -> _Segment:
        """``segment`` if ``size`` bytes fit in it, else a larger replacement."""
        if segment is not None and segment.size >= size:
            return segment
        # Under the lock, so that close() unlinks every segment ever created.
        with self._cond:
            if self._closed:
                raise CancelledError(f"{self.name}: stopped")
            if segment is not None:
                segment.unlink()
                segment.close()
            grown = max(_MIN_SEGMENT, size + size // 4)
            return _Segment.create(-(-grown // mmap.PAGESIZE) * mmap.PAGESIZE)

    def _ask(self, worker: _Worker, message: tuple[Any, ...]) -> tuple[Any, ...]:
        try:
            worker.conn.send(message)
            # The sentinel wakes us if the worker dies instead of answering.
            if worker.conn in wait([worker.conn, worker.process.sentinel]):
                return worker.conn.recv()
        except (EOFError, OSError):
            pass
        worker.process.join(1.0)
        if self._closed:
            raise CancelledError(f"{self.name}: stopped")
        code = worker.process.exitcode
        how = f"exit code {code}"
        if code is not None and code < 0:
            with contextlib.suppress(ValueError):
                how += f", {signal.Signals(-code).name}"
        raise UnknownError(f"{self.name}: worker process {worker.pid} died ({how})")

    def _remote_error(
        self,
        worker: _Worker,
        error: BaseException | None,
        type_name: str,
        message: str,
        text: str,
    ) -> BaseException:
        if error is None:
            error = UnknownError(f"{self.name}: {type_name}: {message}")
        error.__cause__ = RemoteTraceback(text)
        error.add_note(f"raised in {self.name}, worker process {worker.pid}")
        return error

    def close(self) -> None:
        """Stop the workers and unlink every segment; idempotent.

        Idle workers see their pipe close and exit; busy ones are terminated (their
        results are no longer wanted), killed if they linger. Calls in progress raise
        :class:`CancelledError`. Blocks for at most about a second.
        """
        with self._cond:
            if self._closed:
                return
            self._closed = True
            idle = list(self._idle)
            self._idle.clear()
            workers = list(self._workers)
            self._cond.notify_all()
        for worker in workers:
            # Only the names go: a thread may still be copying into a mapping.
            for segment in worker.segments():
                segment.unlink()
        for worker in idle:
            worker.conn.close()
            for segment in worker.segments():
                segment.close()
        busy = [w.process for w in workers if w not in idle]
        for process in busy:
            with contextlib.suppress(OSError):
                process.terminate()
        processes = [w.process for w in workers]
        deadline = time.monotonic() + _GRACE_SECONDS
        pending = [p.sentinel for p in processes]
        while pending and time.monotonic() < deadline:
            ready = wait(pending, max(0.0, deadline - time.monotonic()))
            pending = [s for s in pending if s not in ready]
        for process in processes:
            if process.exitcode is None:
                with contextlib.suppress(OSError):
                    process.kill()
        for process in processes:
            process.join(_GRACE_SECONDS)
