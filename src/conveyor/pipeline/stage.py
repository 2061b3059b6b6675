"""The stage template: what every source and transformation is, and how to write one.

A :class:`Stage` describes one step of a pipeline. When a pipeline runs, each stage gets
a bounded output channel and a :class:`~conveyor.core.runner.QueueRunner` whose threads
repeat the stage's step; this module owns everything around the step — the channel, the
threads, metering, end of input, ordering in deterministic mode, failures and resume
marks — so that a stage is a small class:

* a one-input stage overrides :meth:`Stage.process` (called for each input unit, on
  ``threads`` threads at once when ``threads > 1``) and, if it buffers, :meth:`Stage.finish`
  (called once when its input has ended, or failed, to flush);
* a source, or a stage that reads several inputs itself, overrides :meth:`Stage.produce`
  (called repeatedly on one thread; it ends the stream by raising :class:`EndOfStream`).

Both hand their outputs to :meth:`Output.emit`. A stage's *own state* (what
:meth:`Stage.start` receives back after a resume) travels with each output, beside the
marks of its inputs; see :mod:`conveyor.pipeline.state`.

Per run, the pipeline works on a shallow copy of the stage (so attributes set in
:meth:`Stage.start` belong to that run), and :meth:`Stage.start` receives the
:class:`StageContext` and the state to resume from (``None`` for a fresh start).

>>> import numpy as np
>>> import conveyor.pipeline as cp
>>> class Scale(cp.Stage):
...     name = "scale"
...     def __init__(self, factor):
...         self.factor = factor
...     def process(self, unit, out):
...         out.emit(unit.data * self.factor)
>>> cp.range(5).apply(Scale(10)).collect().tolist()
[0, 10, 20, 30, 40]
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from conveyor.core.coordinator import Coordinator
from conveyor.core.errors import CancelledError, InvalidArgumentError, OutOfRangeError, UnknownError
from conveyor.core.runner import QueueRunner
from conveyor.core.seeds import seed_words
from conveyor.pipeline import _structure as st
from conveyor.pipeline._run import Failure, OrderedMerge, Run

__all__ = [
    "DEFAULT_CAPACITY",
    "EndOfStream",
    "FILES",
    "Output",
    "Stage",
    "StageContext",
    "Unit",
    "check_int",
    "UNKNOWN",
    "INFINITE",
]

DEFAULT_CAPACITY = 8
FILES = "files"
"""The level of a stream of file names (what :func:`~conveyor.pipeline.files` makes)."""
UNKNOWN = -2
"""A cardinality that cannot be known before running (tf.data's ``UNKNOWN_CARDINALITY``)."""
INFINITE = -1
"""The cardinality of an endless stream (tf.data's ``INFINITE_CARDINALITY``)."""


class EndOfStream(Exception):
    """Raised by :meth:`Stage.produce` (and :meth:`StageContext.get`) at the end of input."""


class _UpstreamFailed(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__("upstream failed")
        self.failure = failure


def check_int(name: str, value: Any, minimum: int = 0, maximum: int | None = None) -> int:
    """``value`` as an int, or an :class:`InvalidArgumentError` naming ``name``."""
    kind = {0: "an int >= 0", 1: "a positive int"}.get(minimum, f"an int >= {minimum}")
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InvalidArgumentError(f"{name} must be {kind}, got {value!r}")
    value = int(value)
    if value < minimum:
        raise InvalidArgumentError(f"{name} must be {kind}, got {value}")
    if maximum is not None and value > maximum:
        raise InvalidArgumentError(f"{name} must be <= {maximum}, got {value}")
    return value


@dataclass(frozen=True)
class Unit:
    """One unit from a stage's input.

    Attributes:
        seq: its number in the input stream.
        data: a chunk of rows (before any batch), an element, or a file name.
        mark: the input's state after this unit (resume there: the next unit follows).
        before: the input's state before it (resume there: this unit comes again).
        index: this stage's count of inputs taken before it, from 0 each run.
    """

    seq: int
    data: Any
    mark: Any
    before: Any
    index: int


class Output:
    """Where :meth:`Stage.process` and :meth:`Stage.produce` send their results."""

    __slots__ = ("_index", "_run", "_unit", "count", "elements", "pieces")

    def __init__(self, run: _StageRun, unit: Unit | None) -> None:
        self._run = run
        self._unit = unit
        self._index: int | None = None if unit is None else unit.index
        self.count = 0
        self.elements = 0
        self.pieces = 0

    def emit(self, data: Any, state: Any = None, parents: list[Any] | None = None) -> None:
        """Send one unit downstream.

        Args:
            data: the unit (a chunk before any batch, else one element).
            state: this stage's own state after this unit — what :meth:`Stage.start`
                gets on resume. ``None`` for stateless stages.
            parents: the input marks to resume from after this unit, one per input;
                default: after the input unit being processed.

        Raises:
            CancelledError: downstream is gone (let it propagate).
        """
        if parents is None:
            unit = self._unit
            parents = [None if unit is None else unit.mark]
        r = self._run
        self.elements += st.chunk_len(data) if r.rows_out else 1
        item = (data, state, parents)
        t0 = time.perf_counter()
        try:
            if r.merge is not None and self._index is not None:
                r.merge.put(self._index, self.count, item)
            else:
                r.put(item)
        finally:
            r.waits()[1] += time.perf_counter() - t0
        self.count += 1

    def order(self, index: int) -> None:
        """A ``concurrent_produce`` stage's call: this call's outputs are unit ``index``
        of the stage's (counted from 0 each run), delivered after those of ``index - 1``
        in deterministic mode. Every index must be used once, by a call that emits or
        ends (an index taken at the end of the stream is closed with no output)."""
        self._index = index

    def emit_piece(self, data: Any, last: bool) -> None:
        """Send one of several outputs made from the current input unit, for a stage
        with no state of its own (``unbatch``, ``flat_map``): a resume in the middle of
        them replays the unit and drops the pieces already delivered."""
        unit = self._unit
        self.pieces += 1
        r = self._run
        if r.skip_pieces:
            r.skip_pieces -= 1
            return
        if last or unit is None:
            self.emit(data)
        else:
            self.emit(data, {"piece": self.pieces}, [unit.before])


class StageContext:
    """What a running stage may use: the run's options and seed, and its inputs.

    Attributes:
        deterministic: whether the run must be reproducible for its seed.
        seed: the run's seed (an int).
        root_seed: the seed of the outermost run (the same as ``seed`` but inside a
            ``repeat``, whose every epoch is a run of its own seed).
        index: the stage's position in the pipeline (its seeds derive from it).
        levels: the levels of its inputs.
        input_marks: the marks each input resumes from (``None``: from the start).
    """

    def __init__(self, srun: _StageRun) -> None:
        self._srun = srun
        self.deterministic = srun.run.deterministic
        self.seed = srun.run.seed
        self.root_seed = srun.run.root_seed
        self.index = srun.index
        self.levels = srun.levels
        self.input_marks = list(srun.last)  # where each input resumes from
        self._seed_words: Any = None

    @property
    def failed(self) -> bool:
        """True once this stage or its input failed (``finish`` then flushes before the
        error is delivered)."""
        return self._srun.failure is not None

    def seed_sequence(self, explicit: int | None = None, *key: int) -> np.random.SeedSequence:
        """A seed for this stage: ``explicit`` if given, else the run's, with ``key``
        (an epoch, a unit number) spawned in, so every stage and unit draws its own
        numbers."""
        if explicit is not None:
            return np.random.SeedSequence(explicit, spawn_key=key)
        return np.random.SeedSequence(self.seed_words(), spawn_key=(self.index, *key))

    def seed_words(self) -> Any:
        """The run's seed as :func:`seed_words` makes it (computed once): what this
        stage's seed sequences are built from."""
        if self._seed_words is None:
            self._seed_words = seed_words(self.seed)
        return self._seed_words

    def get(self, i: int = 0) -> Unit:
        """The next unit of input ``i`` (for :meth:`Stage.produce`).

        Raises:
            EndOfStream: input ``i`` has ended.
        """
        return self._srun.get(i)

    def add_skipped(self, n: int) -> None:
        """Count ``n`` elements dropped on purpose (shown in the stage's stats)."""
        self._srun.meter.add_skipped(n)

    @property
    def stopping(self) -> bool:
        """True once the run is stopping, or the stage failed: take no new work."""
        return self._srun.failing or self._srun.run.coord.should_stop()

    @property
    def last_marks(self) -> list[Any]:
        """The mark of the last unit taken from each input (its :attr:`input_marks`
        before any): the parents to emit with for an output that resumes after them."""
        return list(self._srun.last)

    def ready(self, i: int = 0) -> bool:
        """Whether :meth:`get` on input ``i`` would return (or end) without waiting."""
        queue = self._srun.inputs[i]
        return queue.size() > 0 or queue.is_closed()

    def cancel_inputs(self) -> None:
        """Stop every stage upstream: this stage needs no more input (``take``)."""
        self._srun.cancel_inputs()

    def start_thread(self, target: Callable[[Coordinator], None], name: str) -> None:
        """Run ``target(coordinator)`` on a thread of the run's, started and stopped with
        it (for a stage's helpers, such as a worker pool's)."""
        run = self._srun.run
        run.threads.append(
            threading.Thread(target=target, args=(run.coord,), name=name, daemon=True)
        )


class Stage:
    """A step of a pipeline. Subclass it, then add it with :meth:`Pipeline.apply`.

    Class attributes a subclass may set:
        name: shown in stats and errors.
        threads: threads running :meth:`process` (stateless stages only), or
            :meth:`produce` when ``concurrent_produce``.
        concurrent_produce: :meth:`produce` may run on ``threads`` threads at once. The
            stage then guards its own state, and each call numbers its unit with
            :meth:`Output.order` (0, 1, 2, … in the order they must come out) before
            emitting; in deterministic mode the units are delivered in that order.
    """

    name = "stage"
    threads = 1
    concurrent_produce = False
    inputs = 1  # 0 for a source, n for a stage reading n pipelines

    # -- description (while the pipeline is built) ---------------------------------------
    def output_level(self, levels: list[Any]) -> Any:
        """The level of this stage's output given its inputs' levels; raise an
        :class:`InvalidArgumentError` for inputs it cannot take. Level 0: chunks of rows;
        ``k >= 1``: elements that went through ``k`` batches; ``FILES``: file names."""
        (level,) = levels
        if level == FILES:
            raise InvalidArgumentError(f"{self.name} cannot follow files(): read() the files first")
        return level

    def cardinality(self, counts: list[int]) -> int:
        """How many elements this stage yields given its inputs' counts
        (``UNKNOWN``/``INFINITE`` allowed). Default: unknown."""
        return UNKNOWN

    def describe(self) -> str:
        """What identifies this stage in a saved state's fingerprint."""
        return self.name

    # -- running (on a per-run copy) -------------------------------------------------
    def start(self, ctx: StageContext, state: Any) -> None:
        """Prepare a run; ``state`` is this stage's state to resume from, or ``None``."""

    def process(self, unit: Unit, out: Output) -> None:
        """Handle one input unit: call ``out.emit`` for each output."""
        raise NotImplementedError(f"{type(self).__name__} must override process() or produce()")

    def finish(self, out: Output) -> None:
        """The input ended (or failed): emit what is buffered."""

    def produce(self, ctx: StageContext, out: Output) -> None:
        """Sources and multi-input stages: make the next output(s), or raise
        :class:`EndOfStream`. Called repeatedly on one thread."""
        raise NotImplementedError

    def close(self) -> None:
        """The run is over (release processes, files); called once, on any thread."""

    @property
    def pulls(self) -> bool:
        return type(self).produce is not Stage.produce


def _named(error: BaseException, stage: str) -> BaseException:
    """The error to deliver for a failure in ``stage``: the error itself with a note
    naming the stage; a ``BaseException`` that is not an ``Exception`` (``sys.exit()``
    in a user function) becomes an :class:`UnknownError` so it cannot end the program
    silently from a worker thread."""
    if not isinstance(error, Exception):
        wrapped = UnknownError(
            f"pipeline stage {stage}: the function raised {type(error).__name__}"
            f"({', '.join(map(repr, error.args))}); "
            "a stage cannot exit the program or stop its threads this way"
        )
        wrapped.__cause__ = error
        return wrapped
    note = f"(in pipeline stage {stage})"
    if note not in getattr(error, "__notes__", ()):
        error.add_note(note)
    return error


class _StageRun:
    """One stage's machinery in one run: channel, threads, meter, merge, failure."""

    def __init__(
        self,
        run: Run,
        stage: Stage,
        index: int,
        inputs: list[Any],
        levels: list[Any],
        level: Any,
        capacity: int,
        mark: Any,
    ) -> None:
        from conveyor.pipeline.stats import StageMeter

        self.run = run
        self.stage = stage
        self.index = index
        self.inputs = inputs
        self.levels = levels
        self.level = level
        self.rows_out = level == 0
        self.rows_in = [lv == 0 for lv in levels]
        self.channel = run.channel(capacity, stage.name)
        self.seq = 0 if mark is None else int(mark["n"])
        self.last = [None] * len(inputs) if mark is None else list(mark["p"])
        self.taken = 0
        self.failing = False
        self.failure: BaseException | None = None
        self.failed_at: tuple[int, int] | None = None
        self.cancelled = False
        self._lock = threading.Lock()  # numbering and sending outputs
        self._get_lock = threading.Lock()  # taking inputs
        self._tls = threading.local()
        threads = max(1, stage.threads) if stage.concurrent_produce or not stage.pulls else 1
        self.merge: OrderedMerge | None = None
        if run.deterministic and threads > 1:
            self.merge = OrderedMerge(self.put, window=4 * threads + 4)
        self.meter = StageMeter(stage.name, threads, self.channel)
        run.meters.append(self.meter)
        self.ctx = StageContext(self)
        own = None if mark is None else mark["s"]
        self.skip_pieces = 0
        if isinstance(own, dict) and "piece" in own:  # see Output.emit_piece
            self.skip_pieces, own = int(own["piece"]), None
        stage.start(self.ctx, own)
        step = self.pull_step if stage.pulls else self.push_step
        runner = QueueRunner(
            self.channel,
            [step] * threads,
            close_op=self.close_op,
            queue_closed_exception_types=(OutOfRangeError, CancelledError),
            name=stage.name,
        )
        run.threads.extend(runner.create_threads(coord=run.coord, daemon=True))
        run.closers.append(self.stop)

    # -- plumbing ------------------------------------------------------------------
    def waits(self) -> list[float]:
        waits = getattr(self._tls, "waits", None)
        if waits is None:
            waits = self._tls.waits = [0.0, 0.0]
        return waits

    def put(self, item: tuple[Any, Any, list[Any]]) -> None:
        """Number a unit, give it its mark, and send it (serialised per stage)."""
        data, state, parents = item
        try:
            with self._lock:
                seq = self.seq
                self.seq += 1
                self.channel.enqueue((seq, data, {"s": state, "p": parents, "n": seq + 1}))
        except CancelledError:
            self.cancel_inputs()
            raise

    def get(self, i: int) -> Unit:
        t0 = time.perf_counter()
        try:
            with self._get_lock:
                try:
                    seq, data, mark = self.inputs[i].dequeue()
                except (OutOfRangeError, CancelledError):
                    raise EndOfStream from None
                if isinstance(data, Failure):
                    raise _UpstreamFailed(data)
                before = self.last[i]
                self.last[i] = mark
                index = self.taken
                self.taken += 1
        finally:
            self.waits()[0] += time.perf_counter() - t0
        return Unit(seq, data, mark, before, index)

    def cancel_inputs(self) -> None:
        for q in self.inputs:
            q.close(cancel_pending_enqueues=True)

    def fail(self, error: BaseException, at: tuple[int, int] | None) -> None:
        """Record the first failure; stop taking input; cut the ordered stream there."""
        with self._lock:
            if self.failure is None:
                self.failure = error
            self.failing = True
        if self.merge is not None and at is not None:
            self.merge.truncate(*at)
        self.cancel_inputs()

    def stop(self) -> None:
        """The run is closing."""
        self.cancelled = True
        if self.merge is not None:
            self.merge.cancel()
        try:
            self.stage.close()
        except Exception:  # closing must not raise; the run is over anyway
            pass

    # -- the steps -----------------------------------------------------------------
    def push_step(self) -> None:
        if self.failing:
            raise OutOfRangeError("stopping after a failure")
        t0 = self._begin_step()
        out: Output | None = None
        n_in = 0
        try:
            try:
                unit = self.get(0)
            except EndOfStream:
                raise OutOfRangeError("end of input") from None
            except _UpstreamFailed as e:
                self.fail(e.failure.error, None)
                raise OutOfRangeError("upstream failed") from None
            n_in = st.chunk_len(unit.data) if self.rows_in[0] else 1
            out = Output(self, unit)
            try:
                self.stage.process(unit, out)
            except EndOfStream:  # the stage has all it wants (take)
                self.failing = True
                self.cancel_inputs()
                if self.merge is not None:
                    self.merge.truncate(unit.index, out.count)
                raise OutOfRangeError("stage done") from None
            except CancelledError:
                raise
            except BaseException as e:
                self.fail(_named(e, self.stage.name), (unit.index, out.count))
                raise OutOfRangeError("stage failed") from None
            if self.merge is not None:
                self.merge.end(unit.index, out.count)
        finally:
            self._end_step(t0, n_in, 0 if out is None else out.elements)

    def pull_step(self) -> None:
        if self.failing:
            raise OutOfRangeError("stopping after a failure")
        t0 = self._begin_step()
        out = Output(self, None)
        try:
            try:
                self.stage.produce(self.ctx, out)
            except EndOfStream:
                self._ordered_end(out)
                raise OutOfRangeError("end of input") from None
            except _UpstreamFailed as e:
                self.fail(e.failure.error, None)
                raise OutOfRangeError("upstream failed") from None
            except CancelledError:
                raise
            except BaseException as e:
                at = None if out._index is None else (out._index, out.count)
                self.fail(_named(e, self.stage.name), at)
                raise OutOfRangeError("stage failed") from None
            self._ordered_end(out)
        finally:
            self._end_step(t0, 0, out.elements)

    def _ordered_end(self, out: Output) -> None:
        """A concurrent source's call is done: its unit made ``out.count`` outputs."""
        if self.merge is not None and out._index is not None:
            self.merge.end(out._index, out.count)

    def _begin_step(self) -> float:
        waits = self.waits()
        waits[0] = waits[1] = 0.0
        return time.perf_counter()

    def _end_step(self, t0: float, n_in: int, n_out: int) -> None:
        """Meter one step: its elements, and its time less the time spent waiting for
        input and for room downstream."""
        waits = self.waits()
        total = time.perf_counter() - t0
        self.meter.add(n_in, n_out, max(0.0, total - waits[0] - waits[1]), waits[0], waits[1])

    def close_op(self) -> None:
        """Every thread has ended: flush, then deliver the failure, then close."""
        try:
            if not self.cancelled and not self.run.coord.should_stop():
                out = Output(self, None)
                try:
                    self.stage.finish(out)
                except CancelledError:
                    pass
                except BaseException as e:
                    if self.failure is None:
                        self.failure = _named(e, self.stage.name)
                self.meter.add(0, out.elements, 0.0, 0.0, 0.0)
                if self.failure is not None:
                    with self._lock:
                        self.channel.enqueue((-1, Failure(self.failure), None))
        except (CancelledError, OutOfRangeError):
            pass
        finally:
            self.channel.close()
