"""The small graph: ``Graph``, ``Operation``, ``Tensor`` and ``Session``.

Every facade call adds an :class:`Operation` to a :class:`Graph`; its outputs are
:class:`Tensor` objects. ``Session.run`` evaluates the fetched operations, each at most
once per call, by calling their ``compute(run, inputs)`` function over NumPy values.
State — queues, readers, variables, random generators — lives in the session: an
operation asks ``run.resource(op, make)`` for its object, which the session creates the
first time. Two sessions on one graph therefore share nothing.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from conveyor.compat.v1._dtypes import (
    DType,
    TensorShape,
    as_dtype,
    as_shape,
    infer_dtype,
    string,
    to_numpy,
)
from conveyor.core.errors import (
    CancelledError,
    FailedPreconditionError,
    InvalidArgumentError,
)
from conveyor.core.queues import QueueBase
from conveyor.core.runner import Collections

__all__ = [
    "GraphKeys",
    "Graph",
    "Operation",
    "Tensor",
    "SparseTensor",
    "Session",
    "InteractiveSession",
    "Variable",
    "get_default_graph",
    "reset_default_graph",
    "get_default_session",
    "convert_to_tensor",
    "name_scope",
    "make_op",
    "RunOptions",
    "RunMetadata",
    "ConfigProto",
    "GPUOptions",
]


class GraphKeys:
    """Standard collection names (``tf.GraphKeys``)."""

    GLOBAL_VARIABLES = "variables"
    LOCAL_VARIABLES = "local_variables"
    TRAINABLE_VARIABLES = "trainable_variables"
    QUEUE_RUNNERS = "queue_runners"
    SUMMARIES = "summaries"
    GLOBAL_STEP = "global_step"
    INIT_OP = "init_op"
    LOCAL_INIT_OP = "local_init_op"
    READY_OP = "ready_op"
    UPDATE_OPS = "update_ops"
    LOSSES = "losses"
    ASSET_FILEPATHS = "asset_filepaths"
    MODEL_VARIABLES = "model_variables"
    VARIABLES = GLOBAL_VARIABLES


Compute = Callable[["RunContext", list[Any]], Any]


class Operation:
    """A node of the graph (``tf.Operation``).

    Attributes:
        name: unique in its graph.
        type: the kind of operation (``"FIFOQueueV2"``, ``"Cast"``, ...).
        inputs: the tensors it consumes.
        outputs: the tensors it produces.
        graph: its graph.
    """

    def __init__(
        self,
        graph: Graph,
        op_type: str,
        name: str,
        inputs: Sequence[Tensor],
        compute: Compute,
        outputs: Sequence[tuple[DType, TensorShape]],
        control_inputs: Sequence[Operation] = (),
        stateful: bool = False,
    ) -> None:
        self.graph = graph
        self.type = op_type
        self.name = name
        self._inputs = list(inputs)
        self._compute = compute
        self.control_inputs = list(control_inputs)
        self.stateful = stateful
        self.outputs = [Tensor(self, i, dt, sh) for i, (dt, sh) in enumerate(outputs)]
        self._id = graph._next_id()
        # For runner threads that run this op over blocks (see _vectorize): how it
        # computes a block of elements, or (a reader's read, a dequeue) takes one.
        self._batch: Any = None
        self._batch_source: Any = None

    @property
    def inputs(self) -> list[Tensor]:
        return list(self._inputs)

    def run(self, feed_dict: Any = None, session: Session | None = None) -> None:
        """Run this operation in ``session`` (default: the default session)."""
        _session_for(self.graph, session, "run()").run(self, feed_dict=feed_dict)

    def __repr__(self) -> str:
        return f"<tf.Operation '{self.name}' type={self.type}>"


class Tensor:
    """A symbolic value: output ``value_index`` of an :class:`Operation` (``tf.Tensor``).

    Tensors are hashable by identity, as TensorFlow's in graph mode.
    """

    __array_priority__ = 100

    def __init__(self, op: Operation, value_index: int, dtype: DType, shape: TensorShape) -> None:
        self.op = op
        self.value_index = value_index
        self.dtype = dtype
        self._shape = shape

    @property
    def name(self) -> str:
        return f"{self.op.name}:{self.value_index}"

    @property
    def graph(self) -> Graph:
        return self.op.graph

    @property
    def shape(self) -> TensorShape:
        return self._shape

    def get_shape(self) -> TensorShape:
        return self._shape

    def set_shape(self, shape: Any) -> None:
        """Refine the static shape.

        Raises:
            ValueError: ``shape`` is not compatible with the current shape.
        """
        self._shape = self._shape.merge_with(as_shape(shape))

    def eval(self, feed_dict: Any = None, session: Session | None = None) -> Any:
        """Evaluate in ``session`` (default: the default session)."""
        return _session_for(self.graph, session, "eval()").run(self, feed_dict=feed_dict)

    def consumers(self) -> list[Operation]:
        return [op for op in self.graph._ops if self in op._inputs]

    def __repr__(self) -> str:
        return f"<tf.Tensor '{self.name}' shape={self._shape} dtype={self.dtype.name}>"

    def __iter__(self) -> Iterator[Any]:
        raise TypeError(
            "Tensor objects are only iterable when eager execution is enabled. To iterate "
            "over this tensor use tf.map_fn."
        )

    def __bool__(self) -> bool:
        raise TypeError(
            "Using a `tf.Tensor` as a Python `bool` is not allowed. Use `if t is not None:` "
            "instead of `if t:` to test if a tensor is defined."
        )

    def __len__(self) -> int:
        raise TypeError("len is not well defined for symbolic Tensors.")

    __hash__ = object.__hash__

    # The arithmetic operators (defined in _ops, which owns the element-wise ops).
    def __getitem__(self, key: Any) -> Tensor:
        from conveyor.compat.v1 import _ops

        return _ops.getitem(self, key)

    def _binary(self, other: Any, fn: Callable[[Any, Any], Any], name: str, swap: bool) -> Tensor:
        from conveyor.compat.v1 import _ops

        return _ops.binary(other, self, fn, name) if swap else _ops.binary(self, other, fn, name)

    def __add__(self, o: Any) -> Tensor:
        return self._binary(o, np.add, "add", False)

    def __radd__(self, o: Any) -> Tensor:
        return self._binary(o, np.add, "add", True)

    def __sub__(self, o: Any) -> Tensor:
        return self._binary(o, np.subtract, "sub", False)

    def __rsub__(self, o: Any) -> Tensor:
        return self._binary(o, np.subtract, "sub", True)

    def __mul__(self, o: Any) -> Tensor:
        return self._binary(o, np.multiply, "mul", False)

    def __rmul__(self, o: Any) -> Tensor:
        return self._binary(o, np.multiply, "mul", True)

    def __truediv__(self, o: Any) -> Tensor:
        return self._binary(o, _truediv, "truediv", False)

    def __rtruediv__(self, o: Any) -> Tensor:
        return self._binary(o, _truediv, "truediv", True)

    def __floordiv__(self, o: Any) -> Tensor:
        return self._binary(o, np.floor_divide, "floordiv", False)

    def __mod__(self, o: Any) -> Tensor:
        return self._binary(o, np.mod, "mod", False)

    def __lt__(self, o: Any) -> Tensor:
        return self._binary(o, np.less, "Less", False)

    def __le__(self, o: Any) -> Tensor:
        return self._binary(o, np.less_equal, "LessEqual", False)

    def __gt__(self, o: Any) -> Tensor:
        return self._binary(o, np.greater, "Greater", False)

    def __ge__(self, o: Any) -> Tensor:
        return self._binary(o, np.greater_equal, "GreaterEqual", False)

    def __neg__(self) -> Tensor:
        from conveyor.compat.v1 import _ops

        return _ops.unary(self, np.negative, "Neg")


def _truediv(a: Any, b: Any) -> Any:
    a = np.asarray(a)
    out = np.true_divide(a, b)
    if a.dtype.kind == "f":
        return out.astype(a.dtype, copy=False)
    return out


class SparseTensor:
    """A sparse value: ``indices``, ``values`` and ``dense_shape`` tensors
    (``tf.SparseTensor``); fetching it gives a ``SparseTensorValue``."""

    def __init__(self, indices: Any, values: Any, dense_shape: Any) -> None:
        self.indices = convert_to_tensor(indices, dtype="int64")
        self.values = convert_to_tensor(values)
        self.dense_shape = convert_to_tensor(dense_shape, dtype="int64")

    @property
    def dtype(self) -> DType:
        return self.values.dtype

    @property
    def graph(self) -> Graph:
        return self.values.graph

    def eval(self, feed_dict: Any = None, session: Session | None = None) -> Any:
        return _session_for(self.graph, session, "eval()").run(self, feed_dict=feed_dict)

    def __repr__(self) -> str:
        return f"SparseTensor(indices={self.indices}, values={self.values}, dense_shape={self.dense_shape})"


# -- graphs ------------------------------------------------------------------------
class Graph:
    """A set of operations and the collections that belong to them (``tf.Graph``).

    Thread-safety: building may happen from any thread; names and collections are
    guarded.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ops: list[Operation] = []
        self._by_name: dict[str, Operation] = {}
        self._names: dict[str, int] = {}
        self._ids = itertools.count(1)
        self._collections = Collections()
        self._scope: list[str] = []
        self.seed: int | None = None
        self._finalized = False
        self._control: list[list[Operation]] = []

    def _next_id(self) -> int:
        return next(self._ids)

    # -- names ----------------------------------------------------------------------
    def unique_name(self, name: str, mark_as_used: bool = True) -> str:
        """A name not used yet in this graph, within the current name scope."""
        full = "/".join([*self._scope, name]) if self._scope else name
        with self._lock:
            count = self._names.get(full.lower(), 0)
            unique = full if count == 0 else f"{full}_{count}"
            while count and unique.lower() in self._names:
                count += 1
                unique = f"{full}_{count}"
            if mark_as_used:
                self._names[full.lower()] = count + 1
                if unique != full:
                    self._names[unique.lower()] = 1
        return unique

    @contextlib.contextmanager
    def name_scope(self, name: str | None) -> Iterator[str]:
        if not name:
            saved = self._scope
            self._scope = []
            try:
                yield ""
            finally:
                self._scope = saved
            return
        name = name.rstrip("/")
        scope = self.unique_name(name)
        saved = self._scope
        self._scope = scope.split("/")
        try:
            yield scope + "/"
        finally:
            self._scope = saved

    def _add(self, op: Operation) -> None:
        if self._finalized:
            raise RuntimeError("Graph is finalized and cannot be modified.")
        with self._lock:
            self._ops.append(op)
            self._by_name[op.name] = op

    # -- lookups --------------------------------------------------------------------
    def get_operations(self) -> list[Operation]:
        with self._lock:
            return list(self._ops)

    def get_operation_by_name(self, name: str) -> Operation:
        with self._lock:
            if name not in self._by_name:
                raise KeyError(f"The name {name!r} refers to an Operation not in the graph.")
            return self._by_name[name]

    def get_tensor_by_name(self, name: str) -> Tensor:
        op_name, _, index = name.rpartition(":")
        if not op_name or not index.isdigit():
            raise ValueError(
                f"The name {name!r} looks like an (invalid) Operation name, not a Tensor."
            )
        op = self.get_operation_by_name(op_name)
        if int(index) >= len(op.outputs):
            raise KeyError(f"The name {name!r} refers to a Tensor which does not exist.")
        return op.outputs[int(index)]

    def as_graph_element(self, obj: Any) -> Any:
        if isinstance(obj, str):
            return self.get_tensor_by_name(obj) if ":" in obj else self.get_operation_by_name(obj)
        return obj

    # -- collections ----------------------------------------------------------------
    def add_to_collection(self, name: str, value: Any) -> None:
        self._collections.add(name, value)

    def add_to_collections(self, names: Any, value: Any) -> None:
        for n in [names] if isinstance(names, str) else set(names):
            self._collections.add(n, value)

    def get_collection(self, name: str, scope: str | None = None) -> list[Any]:
        items = self._collections.get(name)
        if scope is None:
            return items
        pattern = re.compile(scope)
        return [i for i in items if pattern.match(getattr(i, "name", "") or "")]

    def get_collection_ref(self, name: str) -> list[Any]:
        return self._collections.ref(name)

    def clear_collection(self, name: str) -> None:
        self._collections.clear(name)

    def get_all_collection_keys(self) -> list[str]:
        return self._collections.keys()

    @property
    def collections(self) -> list[str]:
        return self._collections.keys()

    # -- context --------------------------------------------------------------------
    @contextlib.contextmanager
    def as_default(self) -> Iterator[Graph]:
        """Make this the default graph of the current thread, within the ``with``."""
        stack = _graph_stack()
        stack.append(self)
        try:
            yield self
        finally:
            stack.pop()

    @contextlib.contextmanager
    def control_dependencies(self, control_inputs: Any) -> Iterator[None]:
        if control_inputs is None:
            saved = self._control
            self._control = []
            try:
                yield
            finally:
                self._control = saved
            return
        ops = [c.op if isinstance(c, Tensor) else c for c in control_inputs]
        self._control.append(ops)
        try:
            yield
        finally:
            self._control.pop()

    def finalize(self) -> None:
        self._finalized = True

    @property
    def finalized(self) -> bool:
        return self._finalized

    @property
    def version(self) -> int:
        return len(self._ops)


_global_graph = Graph()
_local = threading.local()


def _graph_stack() -> list[Graph]:
    stack = getattr(_local, "graphs", None)
    if stack is None:
        stack = _local.graphs = []
    return stack


def _session_stack() -> list[Session]:
    stack = getattr(_local, "sessions", None)
    if stack is None:
        stack = _local.sessions = []
    return stack


def get_default_graph() -> Graph:
    """The graph new operations go to (``tf.get_default_graph``)."""
    stack = _graph_stack()
    return stack[-1] if stack else _global_graph


def reset_default_graph() -> None:
    """Replace the global default graph by a new, empty one (``tf.reset_default_graph``).

    Raises:
        AssertionError: called inside a ``with graph.as_default()`` block.
    """
    global _global_graph
    if _graph_stack():
        raise AssertionError(
            "Do not use tf.reset_default_graph() to clear nested graphs. If you need a "
            "cleared graph, exit the nesting and create a new graph."
        )
    _global_graph = Graph()


def get_default_session() -> Session | None:
    """The innermost session entered with ``as_default`` in this thread, or ``None``."""
    stack = _session_stack()
    return stack[-1] if stack else None


def _session_for(graph: Graph, session: Session | None, what: str) -> Session:
    if session is None:
        session = get_default_session()
        if session is None:
            raise ValueError(
                f"Cannot evaluate tensor using `{what}`: No default session is registered. "
                "Use `with sess.as_default()` or pass an explicit session to "
                f"`{what[:-2]}(session=sess)`"
            )
    if session.graph is not graph:
        raise ValueError(
            "Cannot use the given session to evaluate tensor: the tensor's graph is "
            "different from the session's graph."
        )
    return session


@contextlib.contextmanager
def name_scope(
    name: str | None, default_name: str | None = None, values: Any = None
) -> Iterator[str]:
    """A name scope in the default graph (``tf.name_scope``)."""
    with get_default_graph().name_scope(name or default_name) as scope:
        yield scope


def _graph_of(values: Sequence[Any]) -> Graph:
    for v in values:
        if isinstance(v, Tensor | Operation):
            return v.graph
        if isinstance(v, SparseTensor):
            return v.graph
    return get_default_graph()


def _op_name(graph: Graph, name: str) -> str:
    """An op's name: unique in the current scope, or — for a name ending in ``/``, a scope
    name returned by ``name_scope`` — that scope's own name, as TensorFlow names ops."""
    if name.endswith("/"):
        return name[:-1]
    return graph.unique_name(name)


def make_op(
    op_type: str,
    inputs: Sequence[Any],
    compute: Compute,
    outputs: Sequence[tuple[Any, Any]],
    name: str | None = None,
    stateful: bool = False,
    graph: Graph | None = None,
) -> Operation:
    """Add an operation to the graph of its inputs (default: the default graph).

    Args:
        op_type: the kind of operation; also its default name.
        inputs: tensors (or values, made constants) consumed, in order.
        compute: ``compute(run, input_values)`` returns the output values (a tuple when
            there are several outputs, anything when there is one, ``None`` for none).
        outputs: ``(dtype, shape)`` per output.
        stateful: whether it uses state (a queue, a reader): never cached across runs.
    """
    if graph is None:
        graph = _graph_of(inputs)
    tensors = [convert_to_tensor(i, graph=graph) for i in inputs]
    for t in tensors:
        if t.graph is not graph:
            raise ValueError(f"Tensor {t.name} must be from the same graph as the operation.")
    control = [op for ops in graph._control for op in ops]
    if not stateful and tensors and not control and all(t.op.type == "Const" for t in tensors):
        compute = _folded(compute)
    op = Operation(
        graph,
        op_type,
        _op_name(graph, name or op_type),
        tensors,
        compute,
        [(as_dtype(dt), as_shape(sh)) for dt, sh in outputs],
        control_inputs=control,
        stateful=stateful,
    )
    graph._add(op)
    return op


def _folded(compute: Compute) -> Compute:
    """``compute`` of an op of constants: computed once, then reused by every run."""
    cache: list[Any] = []

    def once(run: RunContext, inputs: list[Any]) -> Any:
        if not cache:
            value = compute(run, inputs)
            if isinstance(value, np.ndarray):
                value.flags.writeable = False
            cache.append(value)
        return cache[0]

    return once


def _constant_value(value: np.ndarray) -> Compute:
    return lambda run, inputs: value


def constant_tensor(
    value: Any,
    dtype: Any = None,
    shape: Any = None,
    name: str | None = None,
    graph: Graph | None = None,
) -> Tensor:
    """A constant (``tf.constant``)."""
    dt = infer_dtype(value) if dtype is None else as_dtype(dtype)
    if dtype is not None and not isinstance(value, np.ndarray) and dt is not string:
        given = infer_dtype(value)
        lossy = (given.is_floating and not dt.is_floating) or (given is string)
        if lossy and not (
            given.is_floating and np.all(np.mod(np.asarray(value, np.float64), 1) == 0)
        ):
            raise TypeError(
                f"Expected {dt.name}, got {value!r:.60} of type '{type(value).__name__}' instead."
            )
    try:
        arr = to_numpy(value, dt)
    except (TypeError, ValueError) as e:
        raise TypeError(
            f"Expected {dt.name}, got {value!r} of type '{type(value).__name__}' instead."
        ) from e
    if shape is not None:
        target = tuple(int(d or 0) for d in as_shape(shape).as_list())
        if arr.size == 1 and int(np.prod(target)) != 1:
            arr = np.full(target, arr.reshape(()), dtype=arr.dtype)
        elif arr.size == int(np.prod(target)):
            arr = arr.reshape(target)
        else:
            raise TypeError(
                f"Expected Tensor's shape: {target}, got {arr.shape}."
                if arr.size > int(np.prod(target))
                else f"Too few elements: {arr.size} for shape {target}"
            )
    arr.flags.writeable = False
    op = make_op("Const", [], _constant_value(arr), [(dt, arr.shape)], name=name, graph=graph)
    return op.outputs[0]


def convert_to_tensor(
    value: Any, dtype: Any = None, name: str | None = None, graph: Graph | None = None
) -> Tensor:
    """A tensor for ``value``: tensors pass through, values become constants
    (``tf.convert_to_tensor``).

    Raises:
        ValueError: a tensor of another dtype than ``dtype``.
        TypeError: an operation, or a value that is not a tensor.
    """
    if isinstance(value, Tensor):
        if dtype is not None and value.dtype != as_dtype(dtype):
            raise ValueError(
                f"Tensor conversion requested dtype {as_dtype(dtype).name} for Tensor with "
                f"dtype {value.dtype.name}: {value!r}"
            )
        return value
    if hasattr(value, "_as_tensor"):
        return value._as_tensor()  # type: ignore[no-any-return]
    if isinstance(value, Operation):
        raise TypeError(f"Can't convert Operation '{value.name}' to Tensor")
    if isinstance(value, list | tuple) and any(isinstance(v, Tensor) for v in value):
        from conveyor.compat.v1 import _ops

        return _ops.stack(list(value), name=name or "stack")
    return constant_tensor(value, dtype=dtype, name=name or "Const", graph=graph)


# -- variables ---------------------------------------------------------------------
class _VariableState:
    __slots__ = ("lock", "value")

    def __init__(self) -> None:
        self.value: Any = None
        self.lock = threading.Lock()


class Variable:
    """A value kept by each session between runs (``tf.Variable``), initialized by its
    ``initializer`` (or ``global_variables_initializer``).

    Reading it before initialization raises ``FailedPreconditionError``.
    """

    def __init__(
        self,
        initial_value: Any = None,
        trainable: bool = True,
        collections: Sequence[str] | None = None,
        validate_shape: bool = True,
        name: str | None = None,
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        if initial_value is None:
            raise ValueError("initial_value must be specified.")
        if callable(initial_value):
            initial_value = initial_value()
        init = convert_to_tensor(initial_value, dtype=dtype)
        graph = init.graph
        self.graph = graph
        self.dtype = init.dtype
        self._shape = init.shape if validate_shape else TensorShape(None)
        if collections is None:
            collections = [GraphKeys.GLOBAL_VARIABLES]
        collections = list(collections)
        if trainable and GraphKeys.TRAINABLE_VARIABLES not in collections:
            collections.append(GraphKeys.TRAINABLE_VARIABLES)
        self._op = make_op(
            "VariableV2", [], lambda run, inputs: None, [], name=name or "Variable", graph=graph
        )
        self.name = self._op.name + ":0"
        var_op = self._op

        def state(run: RunContext) -> _VariableState:
            return run.resource(var_op, _VariableState)

        self._state = state

        def initialize(run: RunContext, inputs: list[Any]) -> None:
            st = state(run)
            with st.lock:
                st.value = np.array(inputs[0], copy=True)

        self.initializer = make_op(
            "Assign", [init], initialize, [], name=self._op.name + "/Assign", stateful=True
        )
        self.initial_value = init

        def read(run: RunContext, inputs: list[Any]) -> Any:
            st = state(run)
            with st.lock:
                if st.value is None:
                    raise FailedPreconditionError(
                        f"Attempting to use uninitialized value {var_op.name}"
                    )
                return st.value.copy()

        self._read = make_op(
            "Identity",
            [],
            read,
            [(self.dtype, self._shape)],
            name=self._op.name + "/read",
            stateful=True,
        ).outputs[0]
        graph.add_to_collections(collections, self)

    @property
    def op(self) -> Operation:
        return self._op

    @property
    def shape(self) -> TensorShape:
        return self._shape

    def get_shape(self) -> TensorShape:
        return self._shape

    def value(self) -> Tensor:
        return self._read

    def read_value(self) -> Tensor:
        return self._read

    def _as_tensor(self) -> Tensor:
        return self._read

    def eval(self, session: Session | None = None) -> Any:
        return self._read.eval(session=session)

    def _update(self, value: Any, how: Callable[[Any, Any], Any], kind: str) -> Tensor:
        state = self._state
        var_name = self._op.name
        dtype = self.dtype

        def update(run: RunContext, inputs: list[Any]) -> Any:
            st = state(run)
            with st.lock:
                if st.value is None:
                    raise FailedPreconditionError(
                        f"Attempting to use uninitialized value {var_name}"
                    )
                st.value = np.asarray(how(st.value, inputs[0]), dtype=st.value.dtype)
                return st.value.copy()

        return make_op(
            kind,
            [convert_to_tensor(value, dtype=dtype)],
            update,
            [(dtype, self._shape)],
            stateful=True,
        ).outputs[0]

    def assign(self, value: Any, use_locking: bool = False, name: str | None = None) -> Tensor:
        return self._update(value, lambda old, new: new, "Assign")

    def assign_add(self, delta: Any, use_locking: bool = False, name: str | None = None) -> Tensor:
        return self._update(delta, np.add, "AssignAdd")

    def assign_sub(self, delta: Any, use_locking: bool = False, name: str | None = None) -> Tensor:
        return self._update(delta, np.subtract, "AssignSub")

    def __repr__(self) -> str:
        return f"<tf.Variable '{self.name}' shape={self._shape} dtype={self.dtype.name}>"

    def _binary(self, other: Any, fn: Any, name: str, swap: bool) -> Tensor:
        return self._read._binary(other, fn, name, swap)

    def __add__(self, o: Any) -> Tensor:
        return self._read + o

    def __mul__(self, o: Any) -> Tensor:
        return self._read * o


def group(*inputs: Any, name: str | None = None) -> Operation:
    """An operation that runs all of ``inputs`` (``tf.group``)."""
    ops = [i.op if isinstance(i, Tensor) else i for i in inputs]
    graph = _graph_of(ops)
    op = make_op("NoOp", [], lambda run, inputs: None, [], name=name or "group_deps", graph=graph)
    op.control_inputs.extend(ops)
    return op


# -- sessions ----------------------------------------------------------------------
class _SessionClosed(Exception):
    """A run in a session that was closed: ends a runner thread quietly."""


class RunContext:
    """One ``Session.run`` call: the values computed so far, the session, the options."""

    __slots__ = ("sequence", "session", "timeout", "values")

    def __init__(self, session: Session, timeout: float | None) -> None:
        self.session = session
        self.values: dict[Operation, Any] = {}
        self.timeout = timeout
        self.sequence: Any = None  # set by the ordered enqueue of a runner thread

    def resource(self, op: Operation, make: Callable[[], Any]) -> Any:
        return self.session._resource(op, make)

    def evaluate(self, op: Operation) -> Any:
        values = self.values
        if op in values:
            return values[op]
        for c in op.control_inputs:
            self.evaluate(c)
        inputs = [self.tensor(t) for t in op._inputs]
        out = op._compute(self, inputs)
        values[op] = out
        return out

    def tensor(self, t: Tensor) -> Any:
        out = self.evaluate(t.op)
        return out[t.value_index] if len(t.op.outputs) > 1 else out


_Fetch = Callable[[list[Any]], Any]


def _fetch_value(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return value[()]
        if not value.flags.writeable:
            return value.copy()
    return value


class Session:
    """Runs operations of a graph (``tf.Session``).

    Args:
        target, config: accepted for compatibility; everything runs in this process.
        graph: the graph to run (default: the default graph).

    Thread-safety: ``run`` may be called from many threads at once (the QueueRunner
    threads do); each call has its own values.
    """

    def __init__(self, target: str = "", graph: Graph | None = None, config: Any = None) -> None:
        self._graph = graph if graph is not None else get_default_graph()
        self._target = target
        self._config = config
        self._lock = threading.RLock()
        self._resources: dict[Operation, Any] = {}
        self._closed = False
        self._started_queues: set[Any] = set()
        self._warned: set[Any] = set()
        self._context: list[Any] = []

    @property
    def graph(self) -> Graph:
        return self._graph

    @property
    def graph_def(self) -> Any:
        raise NotImplementedError("Session.graph_def: conveyor's graphs have no GraphDef")

    @property
    def sess_str(self) -> str:
        return self._target

    # -- state ----------------------------------------------------------------------
    def _resource(self, op: Operation, make: Callable[[], Any]) -> Any:
        res = self._resources.get(op)
        if res is not None:
            return res
        with self._lock:
            res = self._resources.get(op)
            if res is None:
                if self._closed:
                    raise _SessionClosed()
                res = make()
                self._resources[op] = res
            return res

    # -- running --------------------------------------------------------------------
    def run(
        self,
        fetches: Any,
        feed_dict: Mapping[Any, Any] | None = None,
        options: Any = None,
        run_metadata: Any = None,
    ) -> Any:
        """Evaluate ``fetches`` once and return their values in the same structure.

        Args:
            fetches: a tensor, operation, sparse tensor or tensor name, or a list, tuple,
                namedtuple or dict of them (nested).
            feed_dict: tensor (or tensor name) → value, overriding what it computes.
            options: a ``RunOptions``; its ``timeout_in_ms`` bounds blocking ops.

        Returns:
            NumPy values (scalars as NumPy scalars, scalar strings as ``bytes``), ``None``
            for operations, in the structure of ``fetches``.

        Raises:
            RuntimeError: the session is closed.
            TypeError: a fetch of an unsupported type.
            ValueError: a fetch from another graph; a feed of the wrong shape.
            the errors of the operations (``OutOfRangeError`` at the end of input...).
        """
        if self._closed:
            raise RuntimeError("Attempted to use a closed Session.")
        targets: list[Any] = []
        rebuild = self._flatten(fetches, targets)
        timeout = None
        if options is not None:
            ms = getattr(options, "timeout_in_ms", 0) or 0
            if ms > 0:
                timeout = ms / 1000.0
        run = RunContext(self, timeout)
        if feed_dict:
            self._feed(run, feed_dict)
        values = []
        try:
            for t in targets:
                values.append(self._value(run, t))
        except _SessionClosed:
            raise RuntimeError("Attempted to use a closed Session.") from None
        except CancelledError:
            if self._closed:
                raise RuntimeError("Attempted to use a closed Session.") from None
            raise
        return rebuild(values)

    def _value(self, run: RunContext, t: Any) -> Any:
        if isinstance(t, Tensor):
            return _fetch_value(run.tensor(t))
        if isinstance(t, Operation):
            run.evaluate(t)
            return None
        from conveyor.ops.parsing import SparseTensorValue

        return SparseTensorValue(
            run.tensor(t.indices), run.tensor(t.values), run.tensor(t.dense_shape)
        )

    def _run_op(self, op: Operation, ticket: Any = None) -> None:
        """Run one operation (a runner thread's enqueue op), no fetch structure.

        Args:
            ticket: keeps this run's element in order among the runner's threads.
        """
        if self._closed:
            raise _SessionClosed()
        run = RunContext(self, None)
        run.sequence = ticket
        try:
            run.evaluate(op)
        except CancelledError:
            if self._closed:
                raise _SessionClosed() from None
            raise
        finally:
            if ticket is not None:
                ticket.release()

    def _run_block(self, plan: Any, ticket: Any = None) -> None:
        """Run a runner's enqueue op over a block of elements (see ``_vectorize``)."""
        from conveyor.compat.v1._vectorize import run_block

        if self._closed:
            raise _SessionClosed()
        try:
            run_block(plan, self, ticket)
        except CancelledError:
            if self._closed:
                raise _SessionClosed() from None
            raise
        finally:
            if ticket is not None:
                ticket.release()

    def _element(self, fetch: Any) -> Any:
        if isinstance(fetch, str):
            try:
                fetch = self._graph.as_graph_element(fetch)
            except (KeyError, ValueError) as e:
                raise ValueError(
                    f"Fetch argument {fetch!r} cannot be interpreted as a Tensor. ({e})"
                ) from None
        if isinstance(fetch, Variable):
            fetch = fetch.value()
        if isinstance(fetch, Tensor | Operation | SparseTensor):
            if fetch.graph is not self._graph:
                raise ValueError(
                    f"Fetch argument {fetch!r} cannot be interpreted as a Tensor. "
                    f"(Tensor {fetch!r} is not an element of this graph.)"
                )
            return fetch
        raise TypeError(
            f"Fetch argument {fetch!r} has invalid type {type(fetch)!r}, must be a string or Tensor. "
            "(Can not convert a {type(fetch).__name__} into a Tensor or Operation.)"
        )

    def _flatten(self, fetches: Any, targets: list[Any]) -> _Fetch:
        if isinstance(fetches, Mapping):
            keys = list(fetches)
            parts = [self._flatten(fetches[k], targets) for k in keys]
            kind = type(fetches)

            def rebuild_dict(values: list[Any]) -> Any:
                items = [(k, p(values)) for k, p in zip(keys, parts)]
                try:
                    return kind(items)  # type: ignore[call-arg]
                except TypeError:
                    return dict(items)

            return rebuild_dict
        if isinstance(fetches, tuple) and hasattr(fetches, "_fields"):
            parts = [self._flatten(f, targets) for f in fetches]
            named = type(fetches)
            return lambda values: named(*[p(values) for p in parts])
        if isinstance(fetches, list | tuple):
            parts = [self._flatten(f, targets) for f in fetches]
            if type(fetches) is list:
                return lambda values: [p(values) for p in parts]
            return lambda values: tuple(p(values) for p in parts)
        element = self._element(fetches)
        index = len(targets)
        targets.append(element)
        return lambda values: values[index]

    def _feed(self, run: RunContext, feed_dict: Mapping[Any, Any]) -> None:
        for key, value in feed_dict.items():
            if isinstance(key, str):
                key = self._graph.as_graph_element(key)
            if isinstance(key, Variable):
                key = key.value()
            if isinstance(key, SparseTensor):
                for part, v in zip((key.indices, key.values, key.dense_shape), value):
                    self._feed(run, {part: v})
                continue
            if not isinstance(key, Tensor):
                raise TypeError(
                    f"The value of a feed cannot be a tf.Tensor object. Acceptable feed keys "
                    f"are Tensors; got {type(key).__name__} {key!r}."
                    if isinstance(value, Tensor)
                    else f"Cannot interpret feed_dict key as Tensor: {key!r}"
                )
            if key.graph is not self._graph:
                raise ValueError(
                    f"Cannot interpret feed_dict key as Tensor: Tensor {key!r} is not an element of this graph."
                )
            if isinstance(value, Tensor):
                raise TypeError(
                    "The value of a feed cannot be a tf.Tensor object. Acceptable feed values "
                    "include Python scalars, strings, lists, numpy ndarrays, or TensorHandles."
                )
            try:
                arr = to_numpy(value, key.dtype)
            except (TypeError, ValueError) as e:
                raise ValueError(
                    f"Cannot feed value {value!r:.80} for Tensor {key.name!r}: {e}"
                ) from None
            if not key.shape.is_compatible_with(arr.shape):
                raise ValueError(
                    f"Cannot feed value of shape {arr.shape} for Tensor {key.name!r}, "
                    f"which has shape {_shape_text(key.shape)!r}"
                )
            op = key.op
            if len(op.outputs) == 1:
                run.values[op] = arr
            else:
                current = run.values.get(op)
                if current is None:
                    current = run.values[op] = _PartialOutputs(run, op)
                current.feed(key.value_index, arr)

    # -- lifetime -------------------------------------------------------------------
    def close(self) -> None:
        """Close the session: cancel what its queues hold and pending on them, so every
        blocked run (a runner thread's) ends; later runs raise ``RuntimeError``."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            resources = list(self._resources.values())
        for res in resources:
            if isinstance(res, QueueBase):
                res.close(cancel_pending_enqueues=True)

    def __enter__(self) -> Session:
        graph_ctx = self._graph.as_default()
        graph_ctx.__enter__()
        sess_ctx = self.as_default()
        sess_ctx.__enter__()
        self._context.append((graph_ctx, sess_ctx))
        return self

    def __exit__(self, *exc: Any) -> None:
        graph_ctx, sess_ctx = self._context.pop()
        sess_ctx.__exit__(*exc)
        graph_ctx.__exit__(*exc)
        self.close()

    @contextlib.contextmanager
    def as_default(self) -> Iterator[Session]:
        """Make this the default session of the current thread, within the ``with``."""
        stack = _session_stack()
        stack.append(self)
        try:
            yield self
        finally:
            if stack and stack[-1] is self:
                stack.pop()

    def list_devices(self) -> list[Any]:
        return []

    def make_callable(
        self, fetches: Any, feed_list: Sequence[Any] | None = None, accept_options: bool = False
    ) -> Callable[..., Any]:
        feed_list = list(feed_list or [])

        def call(*args: Any, **kwargs: Any) -> Any:
            return self.run(
                fetches, feed_dict=dict(zip(feed_list, args)), options=kwargs.get("options")
            )

        return call


class _PartialOutputs:
    """Outputs of a multi-output op, some fed, the rest computed on demand."""

    def __init__(self, run: RunContext, op: Operation) -> None:
        self._run = run
        self._op = op
        self._fed: dict[int, Any] = {}
        self._computed: Any = None

    def feed(self, index: int, value: Any) -> None:
        self._fed[index] = value

    def __getitem__(self, index: int) -> Any:
        if index in self._fed:
            return self._fed[index]
        if self._computed is None:
            inputs = [self._run.tensor(t) for t in self._op._inputs]
            self._computed = self._op._compute(self._run, inputs)
        return self._computed[index]


def _shape_text(shape: TensorShape) -> str:
    if shape.ndims is None:
        return "<unknown>"
    return (
        "("
        + ", ".join("?" if d is None else str(d) for d in shape.as_list())
        + (",)" if shape.ndims == 1 else ")")
    )


class InteractiveSession(Session):
    """A session that installs itself as the default session (and its graph as the
    default graph) when made, for shells (``tf.InteractiveSession``)."""

    def __init__(self, target: str = "", graph: Graph | None = None, config: Any = None) -> None:
        super().__init__(target, graph, config)
        _session_stack().append(self)
        _graph_stack().append(self._graph)
        self._installed = True

    def close(self) -> None:
        super().close()
        if getattr(self, "_installed", False):
            self._installed = False
            sessions, graphs = _session_stack(), _graph_stack()
            if self in sessions:
                sessions.remove(self)
            for i in range(len(graphs) - 1, -1, -1):
                if graphs[i] is self._graph:
                    del graphs[i]
                    break


class RunOptions:
    """Options of one ``Session.run`` (``tf.RunOptions``): ``timeout_in_ms`` bounds how
    long its blocking ops wait (then ``DeadlineExceededError``); 0 waits forever."""

    NO_TRACE = 0
    SOFTWARE_TRACE = 1
    HARDWARE_TRACE = 2
    FULL_TRACE = 3

    def __init__(self, timeout_in_ms: int = 0, trace_level: int = 0, **kwargs: Any) -> None:
        self.timeout_in_ms = timeout_in_ms
        self.trace_level = trace_level
        self.__dict__.update(kwargs)


class RunMetadata:
    """Accepted by ``Session.run``; nothing is recorded (``tf.RunMetadata``)."""


class ConfigProto:
    """Accepted by ``Session``; everything runs in this process (``tf.ConfigProto``)."""

    def __init__(self, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)


class GPUOptions(ConfigProto):
    """Accepted (``tf.GPUOptions``)."""


def placeholder(dtype: Any, shape: Any = None, name: str | None = None) -> Tensor:
    """A tensor that must be fed (``tf.placeholder``).

    Raises (when run without a feed):
        InvalidArgumentError: naming the placeholder and its dtype.
    """
    dt = as_dtype(dtype)
    op_name: list[str] = []

    def unfed(run: RunContext, inputs: list[Any]) -> Any:
        raise InvalidArgumentError(
            f"You must feed a value for placeholder tensor '{op_name[0]}' with dtype "
            f"{_KERNEL_NAMES.get(dt.name, dt.name)}"
            + ("" if as_shape(shape).ndims is None else f" and shape {_dims_text(as_shape(shape))}")
        )

    op = make_op("Placeholder", [], unfed, [(dt, as_shape(shape))], name=name, stateful=True)
    op_name.append(op.name)
    return op.outputs[0]


# The names TensorFlow's kernels give dtypes in their messages.
_KERNEL_NAMES = {"float32": "float", "float64": "double", "float16": "half"}


def _dims_text(shape: TensorShape) -> str:
    return "[" + ",".join("?" if d is None else str(d) for d in shape.as_list()) + "]"


def placeholder_with_default(input: Any, shape: Any, name: str | None = None) -> Tensor:
    """A tensor that is ``input`` unless fed (``tf.placeholder_with_default``)."""
    value = convert_to_tensor(input)
    op = make_op(
        "PlaceholderWithDefault",
        [value],
        lambda run, inputs: inputs[0],
        [(value.dtype, as_shape(shape))],
        name=name,
    )
    return op.outputs[0]
