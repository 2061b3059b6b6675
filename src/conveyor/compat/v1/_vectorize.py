"""Runner threads that run their enqueue op for many elements at once.

A QueueRunner thread of TensorFlow 1 runs its enqueue op once per element: read one
record, decode it, distort it, enqueue it. In Python that costs a dozen op evaluations
per image. When an enqueue op's inputs come from exactly one *source* — a reader's
``read`` or a queue's ``dequeue`` — through operations that each have a batched form,
a runner thread here takes up to :data:`RUN_SIZE` elements from the source at once
(``read_up_to``; a dequeue plus what the queue holds already), evaluates each operation
once over the whole block with the same per-element meaning (every image its own random
crop, flip, brightness...), and enqueues the block with ``enqueue_many``. Anything else
— a stateful op that is not the source, an op without a batched form, a block whose
elements cannot stack — runs element by element, as TensorFlow does, over the elements
already taken.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from conveyor.compat.v1._graph import Operation, RunContext

__all__ = ["RUN_SIZE", "Unbatchable", "Plan", "plan_for"]

RUN_SIZE = 128
"""The most elements one vectorized run of an enqueue op takes (0: element by element)."""


class Unbatchable(Exception):
    """A block that the batched form cannot evaluate (its elements do not stack, say)."""


Batch = Callable[[RunContext, list[Any], list[bool]], Any]


def elementwise(compute: Any) -> Batch:
    """The batched form of an op whose compute broadcasts: the same compute, as long as
    no shared input has more dimensions than an element."""

    def batch(run: RunContext, values: list[Any], batched: list[bool]) -> Any:
        rank = max(np.ndim(v) for v, b in zip(values, batched) if b) - 1
        if any(not b and np.ndim(v) > rank for v, b in zip(values, batched)):
            raise Unbatchable()
        return compute(run, values)

    return batch


def per_image(compute: Any) -> Batch:
    """The batched form of an image op over one ``(H, W, C)`` image: conveyor's image
    ops take a batch and draw per image."""

    def batch(run: RunContext, values: list[Any], batched: list[bool]) -> Any:
        if not batched[0] or any(batched[1:]) or np.ndim(values[0]) != 4:
            raise Unbatchable()
        return compute(run, values)

    return batch


def only_first_batched(batch: Batch) -> Batch:
    def checked(run: RunContext, values: list[Any], flags: list[bool]) -> Any:
        if not flags[0] or any(flags[1:]):
            raise Unbatchable()
        return batch(run, values, flags)

    return checked


class Plan:
    """How one enqueue op runs over a block: its source, the batched steps in order
    (operations, or :class:`Fused` chains of them)."""

    def __init__(
        self, enqueue: Operation, source: Operation, order: list[Any], batchable: bool
    ) -> None:
        self.enqueue = enqueue
        self.source = source
        self.order = order
        self.batchable = batchable


# Chains of ops that one of conveyor's fused recipes computes in a single GIL-free pass
# (conveyor.image.recipes), by the ``_fuse`` marks the op factories leave.
_TRAIN_CHAIN = [
    "uint8_to_float32",
    "random_crop",
    "flip_left_right",
    "brightness",
    "contrast",
    "standardize",
]
_EVAL_CHAIN = ["uint8_to_float32", "crop_or_pad", "standardize"]


class Fused:
    """A chain of operations computed by one fused recipe; its value is the last op's.

    When the recipe does not apply to a block (its shape), the ops run one by one in
    their batched forms.
    """

    def __init__(self, ops: list[Operation]) -> None:
        self.ops = ops
        self.last = ops[-1]
        self.input = ops[0]._inputs[0]
        marks = [o._fuse for o in ops]  # type: ignore[attr-defined]
        self.train = marks[1][0] == "random_crop"
        if self.train:
            _, h, w, c = marks[1]
            self.size = (h, w)
            self.channels = c
            self.max_delta = marks[3][1]
            self.contrast = (marks[4][1], marks[4][2])
        else:
            self.size = (marks[1][1], marks[1][2])
            self.channels = None
        self._recipe: Any = None
        self.type = "Fused"

    def recipe(self) -> Any:
        if self._recipe is None:
            from conveyor.image import recipes

            self._recipe = (
                recipes.tutorial_train(self.size, self.max_delta, self.contrast)
                if self.train
                else recipes.tutorial_eval(self.size)
            )
        return self._recipe

    def compute(self, run: RunContext, block: Any) -> Any:
        block = np.asarray(block)
        fits = (
            block.ndim == 4
            and block.dtype == np.uint8
            and block.shape[3] == 3
            and block.shape[1] >= self.size[0]
            and block.shape[2] >= self.size[1]
            and (self.channels is None or self.channels == 3)
        )
        if fits:
            if self.train:
                from conveyor.compat.v1._ops import random_state

                crop = self.ops[1]
                state = random_state(run, crop, crop._seeds)  # type: ignore[attr-defined]
                with state.lock:
                    return self.recipe()(block, state.rng)
            return self.recipe()(block, np.random.default_rng(0))  # the eval recipe draws nothing
        value = block
        for o in self.ops:
            value = o._batch(run, [value], [True])  # type: ignore[attr-defined]
        return value


def _fuse(order: list[Operation], consumers: dict[Operation, int]) -> list[Any]:
    by_input: dict[Operation, Operation] = {}
    for o in order:
        if o._inputs:
            by_input.setdefault(o._inputs[0].op, o)
    steps: list[Any] = []
    taken: set[Operation] = set()
    for o in order:
        if o in taken:
            continue
        chain = _chain(o, by_input, consumers)
        if chain is None:
            steps.append(o)
            continue
        taken.update(chain)
        steps.append(Fused(chain))
    return steps


def _chain(
    first: Operation, by_input: dict[Operation, Operation], consumers: dict[Operation, int]
) -> list[Operation] | None:
    if getattr(first, "_fuse", None) != ("uint8_to_float32",):
        return None
    for pattern in (_TRAIN_CHAIN, _EVAL_CHAIN):
        chain = [first]
        for mark in pattern[1:]:
            prev = chain[-1]
            nxt = by_input.get(prev)
            if (
                nxt is None
                or consumers.get(prev, 0) != 1
                or getattr(nxt, "_fuse", (None,))[0] != mark
                or len(nxt._inputs) != 1
            ):
                break
            chain.append(nxt)
        else:
            return chain
    return None


def plan_for(op: Operation) -> Plan | None:
    """The plan for a runner's enqueue op, or ``None`` when it must run element-wise."""
    if RUN_SIZE <= 1 or getattr(op, "_enqueue_queue", None) is None or op.control_inputs:
        return None
    seen: set[Operation] = set()
    batched: set[Operation] = set()
    order: list[Operation] = []
    sources: list[Operation] = []
    ok = [True, True]  # [plan possible, every op has a batched form]

    def visit(o: Operation) -> None:
        if o in seen:
            return
        seen.add(o)
        for t in o._inputs:
            visit(t.op)
        if o is op:
            return
        if o.control_inputs:
            ok[0] = False
        if getattr(o, "_batch_source", None) is not None:
            sources.append(o)
            batched.add(o)
            return
        if any(t.op in batched for t in o._inputs):
            batched.add(o)
            order.append(o)
            if getattr(o, "_batch", None) is None:
                ok[1] = False
        elif o.stateful:
            ok[0] = False  # runs once per element in TensorFlow; once per block here: no

    visit(op)
    if not ok[0] or len(sources) != 1:
        return None
    consumers: dict[Operation, int] = {}
    for o in [*order, op]:
        for t in o._inputs:
            consumers[t.op] = consumers.get(t.op, 0) + 1
    return Plan(op, sources[0], _fuse(order, consumers) if ok[1] else order, ok[1])


def strings(value: Any) -> Any:
    """Record values as TensorFlow's string vector: a ``(n, record_bytes)`` uint8 block
    (what a fixed-length reader's ``read_up_to`` gives) becomes an object array of
    ``bytes``; anything else is returned as it is."""
    if isinstance(value, np.ndarray) and value.dtype == np.uint8 and value.ndim == 2:
        out = np.empty(len(value), dtype=object)
        out[:] = [row.tobytes() for row in value]
        return out
    return value


def _element(value: Any, i: int) -> Any:
    if isinstance(value, np.ndarray) and value.dtype == np.uint8 and value.ndim == 2:
        out = np.empty((), dtype=object)
        out[()] = value[i].tobytes()
        return out
    item = value[i]
    if isinstance(item, bytes | str):
        out = np.empty((), dtype=object)
        out[()] = item
        return out
    return item


def _compute_block(plan: Plan, run: RunContext, outs: tuple[Any, ...], n: int) -> list[Any] | None:
    """The enqueue op's components for the whole block, or ``None`` when the block must
    go element by element: it does not stack, or an op failed on it — then the elements
    before the failing one are still enqueued, and the error is raised at its element."""
    source = plan.source
    values: dict[Any, Any] = {source: outs if len(source.outputs) > 1 else outs[0]}

    def value_of(t: Any, consumer: str) -> tuple[Any, bool]:
        if t.op in values:
            v = values[t.op]
            v = v[t.value_index] if len(t.op.outputs) > 1 else v
            if t.op is source and consumer != "DecodeRaw":
                v = strings(v)
            return v, True
        return run.tensor(t), False

    try:
        for o in plan.order:
            if isinstance(o, Fused):
                values[o.last] = o.compute(run, value_of(o.input, "Fused")[0])
                continue
            pairs = [value_of(t, o.type) for t in o._inputs]
            values[o] = o._batch(run, [p[0] for p in pairs], [p[1] for p in pairs])
        components = []
        for t in plan.enqueue._inputs:
            v, is_batched = value_of(t, "enqueue")
            if not is_batched:
                v = np.broadcast_to(np.asarray(v), (n, *np.shape(v)))
            components.append(v)
        return components
    except Exception:  # Unbatchable, or an element's error: find it element by element
        return None


def run_block(plan: Plan, session: Any, ticket: Any) -> None:
    """One vectorized run of ``plan`` in ``session``: take a block from the source,
    evaluate, enqueue it (in ``ticket`` order among the runner's threads)."""
    run = RunContext(session, None)
    source = plan.source
    take = lambda: source._batch_source(run, RUN_SIZE)  # type: ignore[attr-defined]  # noqa: E731
    outs = take() if ticket is None else ticket.take(take)
    outs = outs if isinstance(outs, tuple) else (outs,)
    n = len(outs[0])
    if n == 0:
        return
    multi = len(source.outputs) > 1
    enqueue = plan.enqueue
    components = _compute_block(plan, run, outs, n) if plan.batchable else None
    if components is not None:
        queue = enqueue._enqueue_queue  # type: ignore[attr-defined]
        if ticket is not None:
            ticket.wait_turn()
        queue._queue(run).enqueue_many(queue._pack(components))
        return
    if ticket is not None:
        ticket.wait_turn()
    for i in range(n):
        one = RunContext(session, None)
        element = tuple(_element(o, i) for o in outs)
        one.values[source] = element if multi else element[0]
        one.evaluate(enqueue)
