"""Array operations as graph nodes: each evaluates with NumPy over whole arrays, and the
decoding and parsing ones call conveyor's ``ops`` layer."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from conveyor.compat.v1._dtypes import DType, TensorShape, as_dtype, as_shape, string
from conveyor.compat.v1._graph import (
    Operation,
    RunContext,
    SparseTensor,
    Tensor,
    convert_to_tensor,
    get_default_graph,
    make_op,
)
from conveyor.compat.v1._vectorize import Unbatchable, elementwise, only_first_batched
from conveyor.core.errors import InvalidArgumentError, UnimplementedError

# The default graph-level seed TensorFlow uses when only an op seed is given.
DEFAULT_GRAPH_SEED = 87654321


def _static(t: Tensor) -> Any:
    """The value of a constant tensor, or ``None`` when it is computed."""
    if t.op.type == "Const":
        return t.op._compute(None, [])  # type: ignore[arg-type]
    return None


# -- seeds and random state ----------------------------------------------------------
def set_random_seed(seed: int | None) -> None:
    """Set the graph-level seed of the default graph (``tf.set_random_seed``)."""
    get_default_graph().seed = None if seed is None else int(seed)


def get_seed(op_seed: int | None) -> tuple[int | None, int | None]:
    """TensorFlow's seed rule: ``(graph seed, op seed)`` for a new random op."""
    graph = get_default_graph()
    if graph.seed is not None:
        return graph.seed, op_seed if op_seed is not None else graph._next_id()
    if op_seed is not None:
        return DEFAULT_GRAPH_SEED, op_seed
    return None, None


class RandomState:
    """A session's generator for one random op (used under its lock: several runner
    threads may run the op)."""

    def __init__(self, seeds: tuple[int | None, int | None]) -> None:
        self.rng = np.random.default_rng(None if seeds[0] is None else [seeds[0], seeds[1] or 0])
        self.lock = threading.Lock()


def random_state(
    run: RunContext, op: Operation, seeds: tuple[int | None, int | None]
) -> RandomState:
    return run.resource(op, lambda: RandomState(seeds))  # type: ignore[no-any-return]


def random_op(
    op_type: str,
    inputs: Sequence[Any],
    fn: Any,
    outputs: Sequence[tuple[Any, Any]],
    seed: int | None,
    name: str | None = None,
    batch_fn: Any = None,
) -> Operation:
    """An op computing ``fn(rng, *input_values)`` with its own per-session generator;
    ``batch_fn(rng, *values)``, when given, computes a block of elements (the first input
    batched) with independent draws per element."""
    seeds = get_seed(seed)
    holder: list[Operation] = []

    def compute(run: RunContext, values: list[Any]) -> Any:
        state = random_state(run, holder[0], seeds)
        with state.lock:
            return fn(state.rng, *values)

    op = make_op(op_type, inputs, compute, outputs, name=name, stateful=True)
    holder.append(op)
    op._seeds = seeds  # type: ignore[attr-defined]
    if batch_fn is not None:

        def batch(run: RunContext, values: list[Any], batched: list[bool]) -> Any:
            if not batched[0] or any(batched[1:]):
                raise Unbatchable()
            state = random_state(run, holder[0], seeds)
            with state.lock:
                return batch_fn(state.rng, *values)

        op._batch = batch
    return op


# -- element-wise ------------------------------------------------------------------------
def binary(a: Any, b: Any, fn: Any, name: str) -> Tensor:
    ta = a if isinstance(a, Tensor) else None
    tb = b if isinstance(b, Tensor) else None
    dtype = (ta if ta is not None else tb).dtype  # type: ignore[union-attr]
    if ta is None:
        ta = convert_to_tensor(np.asarray(a, dtype=dtype.as_numpy_dtype))
    if tb is None:
        tb = convert_to_tensor(np.asarray(b, dtype=dtype.as_numpy_dtype))
    if ta.dtype != tb.dtype:
        raise TypeError(
            f"Input 'y' of '{name}' Op has type {tb.dtype.name} that does not match type "
            f"{ta.dtype.name} of argument 'x'."
        )
    out_dtype: DType = (
        as_dtype("bool")
        if fn in (np.less, np.less_equal, np.greater, np.greater_equal, np.equal)
        else dtype
    )
    shape = _broadcast_shape(ta.shape, tb.shape)
    np_type = out_dtype.as_numpy_dtype

    def compute(run: RunContext, v: list[Any]) -> Any:
        return np.asarray(fn(v[0], v[1])).astype(np_type, copy=False)

    op = make_op(name[:1].upper() + name[1:], [ta, tb], compute, [(out_dtype, shape)])
    op._batch = elementwise(compute)
    return op.outputs[0]


def _broadcast_shape(a: TensorShape, b: TensorShape) -> TensorShape:
    if a.ndims is None or b.ndims is None:
        return TensorShape(None)
    da: list[int | None] = a.as_list()
    db: list[int | None] = b.as_list()
    n = max(len(da), len(db))
    pad_a: list[int | None] = [1] * (n - len(da))
    pad_b: list[int | None] = [1] * (n - len(db))
    da, db = pad_a + da, pad_b + db
    out = []
    for x, y in zip(da, db):
        if x == 1:
            out.append(y)
        elif y == 1:
            out.append(x)
        elif x is None or y is None:
            out.append(x if y is None else y)
        elif x != y:
            raise ValueError(f"Dimensions must be equal, but are {x} and {y}")
        else:
            out.append(x)
    return TensorShape(out)


def unary(x: Any, fn: Any, name: str) -> Tensor:
    t = convert_to_tensor(x)
    op = make_op(name, [t], lambda run, v: fn(v[0]), [(t.dtype, t.shape)])
    op._batch = elementwise(op._compute)
    return op.outputs[0]


def add(x: Any, y: Any, name: str | None = None) -> Tensor:
    return binary(x, y, np.add, "Add")


def multiply(x: Any, y: Any, name: str | None = None) -> Tensor:
    return binary(x, y, np.multiply, "Mul")


def subtract(x: Any, y: Any, name: str | None = None) -> Tensor:
    return binary(x, y, np.subtract, "Sub")


def identity(input: Any, name: str | None = None) -> Tensor:
    """``input`` unchanged (``tf.identity``)."""
    t = convert_to_tensor(input)
    op = make_op("Identity", [t], lambda run, v: v[0], [(t.dtype, t.shape)], name=name)
    op._batch = elementwise(op._compute)
    return op.outputs[0]


def no_op(name: str | None = None) -> Operation:
    """An operation that does nothing (``tf.no_op``)."""
    return make_op("NoOp", [], lambda run, v: None, [], name=name)


# -- casting and shapes ------------------------------------------------------------------
def cast(x: Any, dtype: Any, name: str | None = None) -> Tensor:
    """``x`` converted to ``dtype`` (``tf.cast``): floats to ints truncate toward zero,
    bools become 0/1.

    Raises:
        UnimplementedError (when run): a cast from or to ``string``.
    """
    if isinstance(x, SparseTensor):
        return SparseTensor(x.indices, cast(x.values, dtype), x.dense_shape)  # type: ignore[return-value]
    t = convert_to_tensor(x)
    target = as_dtype(dtype)
    if t.dtype == target:
        return identity(t, name=name or "Cast")
    np_type = target.as_numpy_dtype
    source = t.dtype

    def compute(run: RunContext, v: list[Any]) -> Any:
        if source is string or target is string:
            raise UnimplementedError(f"Cast {source.name} to {target.name} is not supported")
        return np.asarray(v[0]).astype(np_type)

    op = make_op("Cast", [t], compute, [(target, t.shape)], name=name)
    op._batch = elementwise(compute)
    if source.name == "uint8" and target.name == "float32":
        op._fuse = ("uint8_to_float32",)  # type: ignore[attr-defined]
    return op.outputs[0]


to_float = lambda x, name=None: cast(x, "float32", name)  # noqa: E731
to_int32 = lambda x, name=None: cast(x, "int32", name)  # noqa: E731
to_int64 = lambda x, name=None: cast(x, "int64", name)  # noqa: E731


def _int_list(value: Any, what: str) -> list[int] | None:
    if isinstance(value, Tensor):
        static = _static(value)
        return None if static is None else [int(v) for v in np.asarray(static).reshape(-1)]
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu" and arr.size:
        raise TypeError(f"{what} must be integers, got {value!r}")
    return [int(v) for v in arr.reshape(-1)]


def reshape(tensor: Any, shape: Any, name: str | None = None) -> Tensor:
    """``tensor`` with a new shape of the same number of elements; one dim may be -1
    (``tf.reshape``).

    Raises:
        ValueError: the element counts cannot match (known when building).
        InvalidArgumentError (when run): they do not match.
    """
    t = convert_to_tensor(tensor)
    dims = _int_list(shape, "shape")
    shape_t = convert_to_tensor(shape, dtype="int32") if not isinstance(shape, Tensor) else shape
    static: TensorShape
    if dims is None:
        static = TensorShape(None)
    else:
        if sum(d == -1 for d in dims) > 1:
            raise ValueError(f"Cannot reshape to {dims}: only one dimension may be -1")
        known = int(np.prod([d for d in dims if d != -1], dtype=np.int64))
        total = t.shape.num_elements()
        out = list(dims)
        if total is not None:
            if -1 in dims:
                if known == 0 or total % known:
                    raise ValueError(
                        f"Cannot reshape a tensor with {total} elements to shape {dims}"
                    )
                out[dims.index(-1)] = total // known
            elif known != total:
                raise ValueError(
                    f"Cannot reshape a tensor with {total} elements to shape {dims} "
                    f"({known} elements) for '{name or 'Reshape'}'"
                )
        static = TensorShape([None if d == -1 else d for d in out])

    def compute(run: RunContext, v: list[Any]) -> Any:
        target = [int(d) for d in np.asarray(v[1]).reshape(-1)]
        arr = np.asarray(v[0])
        try:
            return arr.reshape(target)
        except ValueError:
            need = int(np.prod([d for d in target if d != -1], dtype=np.int64))
            raise InvalidArgumentError(
                f"Input to reshape is a tensor with {arr.size} values, but the requested "
                f"shape has {need}"
            ) from None

    op = make_op("Reshape", [t, shape_t], compute, [(t.dtype, static)], name=name)

    def batch(run: RunContext, v: list[Any], batched: list[bool]) -> Any:
        arr = np.asarray(v[0])
        return compute(run, [arr, [len(arr), *np.asarray(v[1]).reshape(-1).tolist()]])

    op._batch = only_first_batched(batch)
    return op.outputs[0]


def transpose(a: Any, perm: Any = None, name: str = "transpose", conjugate: bool = False) -> Tensor:
    """``a`` with its axes permuted by ``perm`` (default: reversed) (``tf.transpose``)."""
    t = convert_to_tensor(a)
    p = None if perm is None else _int_list(perm, "perm")
    if t.shape.ndims is not None:
        dims = t.shape.as_list()
        order = list(range(len(dims)))[::-1] if p is None else p
        if sorted(order) != list(range(len(dims))):
            raise ValueError(f"perm {order} is not a permutation of the {len(dims)} dimensions")
        static = TensorShape([dims[i] for i in order])
    else:
        static = TensorShape(None if p is None else [None] * len(p))

    def compute(run: RunContext, v: list[Any]) -> Any:
        arr = np.asarray(v[0])
        try:
            return np.ascontiguousarray(np.transpose(arr, p))
        except ValueError as e:
            raise InvalidArgumentError(
                f"transpose expects a vector of size {arr.ndim}: {e}"
            ) from None

    op = make_op("Transpose", [t], compute, [(t.dtype, static)], name=name)

    def batch(run: RunContext, v: list[Any], batched: list[bool]) -> Any:
        arr = np.asarray(v[0])
        order = list(range(arr.ndim - 1, 0, -1)) if p is None else [i + 1 for i in p]
        return np.transpose(arr, [0, *order])  # a view, as the sliced block

    op._batch = only_first_batched(batch)
    return op.outputs[0]


def slice(input_: Any, begin: Any, size: Any, name: str | None = None) -> Tensor:
    """``input_[b0:b0+s0, b1:b1+s1, ...]``; a size of -1 takes the rest (``tf.slice``).

    Raises:
        InvalidArgumentError (when run): the window leaves the input.
    """
    t = convert_to_tensor(input_)
    b = _int_list(begin, "begin")
    s = _int_list(size, "size")
    static = TensorShape(None)
    if b is not None and s is not None:
        dims = t.shape.as_list() if t.shape.ndims is not None else [None] * len(s)
        static = TensorShape(
            [
                (d - bb if d is not None else None) if ss == -1 else ss
                for d, bb, ss in zip(dims, b, s)
            ]
        )
    bt = begin if isinstance(begin, Tensor) else convert_to_tensor(np.asarray(b, np.int32))
    st = size if isinstance(size, Tensor) else convert_to_tensor(np.asarray(s, np.int32))

    def compute(run: RunContext, v: list[Any]) -> Any:
        arr = np.asarray(v[0])
        bb = [int(x) for x in np.asarray(v[1]).reshape(-1)]
        ss = [int(x) for x in np.asarray(v[2]).reshape(-1)]
        if len(bb) != arr.ndim or len(ss) != arr.ndim:
            raise InvalidArgumentError(
                f"Expected begin and size arguments to be 1-D tensors of size {arr.ndim}, but "
                f"got shapes [{len(bb)}] and [{len(ss)}] instead."
            )
        window = []
        for i, (lo, n, d) in enumerate(zip(bb, ss, arr.shape)):
            if n == -1:
                n = d - lo
            if lo < 0 or n < 0 or lo + n > d:
                raise InvalidArgumentError(
                    f"Expected begin[{i}] in [0, {d}] and size[{i}] in [0, {d - lo}], but got "
                    f"{lo} and {n}"
                )
            window.append(np.s_[lo : lo + n])
        return arr[tuple(window)]

    return make_op("Slice", [t, bt, st], compute, [(t.dtype, static)], name=name).outputs[0]


def _strided_key(
    begin: list[int],
    end: list[int],
    strides: list[int],
    begin_mask: int,
    end_mask: int,
    ellipsis_mask: int,
    new_axis_mask: int,
    shrink_axis_mask: int,
) -> tuple[Any, ...]:
    key: list[Any] = []
    for i, (b, e, s) in enumerate(zip(begin, end, strides)):
        bit = 1 << i
        if ellipsis_mask & bit:
            key.append(Ellipsis)
        elif new_axis_mask & bit:
            key.append(np.newaxis)
        elif shrink_axis_mask & bit:
            key.append(b)
        else:
            key.append(np.s_[None if begin_mask & bit else b : None if end_mask & bit else e : s])
    return tuple(key)


def strided_slice(
    input_: Any,
    begin: Any,
    end: Any,
    strides: Any = None,
    begin_mask: int = 0,
    end_mask: int = 0,
    ellipsis_mask: int = 0,
    new_axis_mask: int = 0,
    shrink_axis_mask: int = 0,
    var: Any = None,
    name: str | None = None,
) -> Tensor:
    """Python's extended slicing as an op (``tf.strided_slice``), with its masks."""
    t = convert_to_tensor(input_)
    b = _int_list(begin, "begin")
    e = _int_list(end, "end")
    s = [1] * len(b or []) if strides is None else _int_list(strides, "strides")
    if b is None or e is None or s is None:
        raise NotImplementedError("strided_slice with computed begin/end/strides: pass constants")
    if any(x == 0 for x in s):
        raise ValueError("strides must be non-zero")
    key = _strided_key(
        b, e, s, begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_axis_mask
    )
    return _slice_op(t, key, name or "StridedSlice")


def _slice_op(t: Tensor, key: tuple[Any, ...], name: str) -> Tensor:
    static = TensorShape(None)
    if t.shape.is_fully_defined():
        probe = np.broadcast_to(np.empty((), np.uint8), tuple(t.shape.as_list()))  # type: ignore[arg-type]
        try:
            static = TensorShape(probe[key].shape)
        except IndexError as e:
            raise ValueError(f"slice index out of bounds for shape {t.shape}: {e}") from None
    elif t.shape.ndims is not None:
        static = _partial_slice_shape(t.shape.as_list(), key)

    def compute(run: RunContext, v: list[Any]) -> Any:
        arr = np.asarray(v[0])
        try:
            out = arr[key]
        except IndexError as err:
            raise InvalidArgumentError(f"slice index out of bounds: {err}") from None
        return np.ascontiguousarray(out) if isinstance(out, np.ndarray) else np.asarray(out)

    op = make_op("StridedSlice", [t], compute, [(t.dtype, static)], name=name)
    batched_key = (np.s_[:], *key)

    def batch(run: RunContext, v: list[Any], batched: list[bool]) -> Any:
        if Ellipsis in key and np.ndim(v[0]) == 0:
            raise Unbatchable()
        # A view: the next op (or the enqueue, which copies) reads it in place.
        return np.asarray(np.asarray(v[0])[batched_key])

    op._batch = only_first_batched(batch)
    return op.outputs[0]


def _partial_slice_shape(dims: list[int | None], key: tuple[Any, ...]) -> TensorShape:
    if any(k is Ellipsis or k is None for k in key):
        return TensorShape(None)
    out: list[int | None] = []
    for i, d in enumerate(dims):
        k = key[i] if i < len(key) else np.s_[:]
        if isinstance(k, int):
            continue
        # An unknown dimension stays unknown: its slice's length depends on it.
        out.append(None if d is None else len(range(*k.indices(d))))
    return TensorShape(out)


def getitem(t: Tensor, key: Any) -> Tensor:
    """``t[key]`` for ints, slices, ``...`` and ``None``."""
    if not isinstance(key, tuple):
        key = (key,)
    for k in key:
        if isinstance(k, Tensor):
            raise NotImplementedError("indexing with a tensor: use tf.gather")
    clean = tuple(int(k) if isinstance(k, int | np.integer) else k for k in key)
    return _slice_op(t, clean, "strided_slice")


def squeeze(
    input: Any, axis: Any = None, name: str | None = None, squeeze_dims: Any = None
) -> Tensor:
    """``input`` without its size-1 dimensions (or only those in ``axis``) (``tf.squeeze``)."""
    t = convert_to_tensor(input)
    if axis is None:
        axis = squeeze_dims
    axes = None if axis is None else tuple(_int_list(axis, "axis") or [])
    static = TensorShape(None)
    if t.shape.ndims is not None:
        dims = t.shape.as_list()
        n = len(dims)
        if axes is None:
            if all(d is not None for d in dims):
                static = TensorShape([d for d in dims if d != 1])
        else:
            norm = {a % n for a in axes}
            for a in norm:
                if dims[a] not in (1, None):
                    raise ValueError(
                        f"Can not squeeze dim[{a}], expected a dimension of 1, got {dims[a]}"
                    )
            static = TensorShape([d for i, d in enumerate(dims) if i not in norm])

    def compute(run: RunContext, v: list[Any]) -> Any:
        arr = np.asarray(v[0])
        try:
            return np.squeeze(arr, axis=axes)
        except ValueError as e:
            raise InvalidArgumentError(f"Can not squeeze: {e}") from None

    op = make_op("Squeeze", [t], compute, [(t.dtype, static)], name=name)

    def batch(run: RunContext, v: list[Any], batched: list[bool]) -> Any:
        arr = np.asarray(v[0])
        if axes is None:
            shifted = tuple(i + 1 for i, d in enumerate(arr.shape[1:]) if d == 1)
        else:
            shifted = tuple(a + 1 if a >= 0 else a for a in axes)
        try:
            return np.squeeze(arr, axis=shifted)
        except ValueError:
            raise Unbatchable() from None

    op._batch = only_first_batched(batch)
    return op.outputs[0]


def expand_dims(input: Any, axis: Any = None, name: str | None = None, dim: Any = None) -> Tensor:
    """``input`` with a size-1 dimension inserted at ``axis`` (``tf.expand_dims``)."""
    if axis is None:
        axis = dim
    if axis is None:
        raise ValueError("Must specify an axis argument to tf.expand_dims()")
    t = convert_to_tensor(input)
    a = int(np.asarray(axis).reshape(()))
    static = TensorShape(None)
    if t.shape.ndims is not None:
        dims = t.shape.as_list()
        pos = a if a >= 0 else len(dims) + 1 + a
        static = TensorShape([*dims[:pos], 1, *dims[pos:]])
    return make_op(
        "ExpandDims",
        [t],
        lambda run, v: np.expand_dims(np.asarray(v[0]), a),
        [(t.dtype, static)],
        name=name,
    ).outputs[0]


def concat(values: Any, axis: int, name: str = "concat") -> Tensor:
    """The tensors joined along ``axis`` (``tf.concat``)."""
    if isinstance(values, Tensor):
        return values
    tensors = [convert_to_tensor(v) for v in values]
    if len(tensors) == 1:
        return identity(tensors[0], name=name)
    dtype = tensors[0].dtype
    static = TensorShape(None)
    shapes = [x.shape for x in tensors]
    if all(sh.ndims is not None for sh in shapes):
        n = shapes[0].ndims
        ax = axis % n if n else 0
        dims = [list(sh.as_list()) for sh in shapes]
        out: list[int | None] = []
        for i in range(n or 0):
            col = [d[i] for d in dims]
            if i == ax:
                out.append(None if None in col else sum(col))  # type: ignore[arg-type]
            else:
                out.append(next((c for c in col if c is not None), None))
        static = TensorShape(out)

    def compute(run: RunContext, v: list[Any]) -> Any:
        try:
            return np.concatenate([np.asarray(x) for x in v], axis=axis)
        except ValueError as e:
            raise InvalidArgumentError(f"ConcatOp : {e}") from None

    return make_op("ConcatV2", tensors, compute, [(dtype, static)], name=name).outputs[0]


def stack(values: Any, axis: int = 0, name: str = "stack") -> Tensor:
    """The tensors stacked along a new ``axis`` (``tf.stack``)."""
    tensors = [convert_to_tensor(v) for v in values]
    if not tensors:
        raise ValueError("stack needs at least one tensor")
    dtype = tensors[0].dtype
    for x in tensors:
        if x.dtype != dtype:
            raise TypeError(
                f"Tensors in list passed to 'values' of 'Pack' Op have types {[t.dtype.name for t in tensors]} that don't all match."
            )
    first = tensors[0].shape
    static = TensorShape(None)
    if first.ndims is not None:
        dims = first.as_list()
        pos = axis if axis >= 0 else len(dims) + 1 + axis
        static = TensorShape([*dims[:pos], len(tensors), *dims[pos:]])

    def compute(run: RunContext, v: list[Any]) -> Any:
        try:
            return np.stack([np.asarray(x) for x in v], axis=axis)
        except ValueError as e:
            raise InvalidArgumentError(f"Shapes of all inputs must match: {e}") from None

    return make_op("Pack", tensors, compute, [(dtype, static)], name=name).outputs[0]


def gather(
    params: Any, indices: Any, validate_indices: Any = None, name: str | None = None, axis: int = 0
) -> Tensor:
    """Rows of ``params`` picked by ``indices`` (``tf.gather``)."""
    p = convert_to_tensor(params)
    i = convert_to_tensor(indices)
    static = TensorShape(None)
    if p.shape.ndims is not None and i.shape.ndims is not None and axis == 0:
        static = i.shape.concatenate(p.shape[1:])

    def compute(run: RunContext, v: list[Any]) -> Any:
        arr = np.asarray(v[0])
        try:
            return np.take(arr, v[1], axis=axis)
        except IndexError as e:
            raise InvalidArgumentError(f"indices out of range: {e}") from None

    op = make_op("GatherV2", [p, i], compute, [(p.dtype, static)], name=name)

    def batch(run: RunContext, v: list[Any], batched: list[bool]) -> Any:
        if batched[0] or not batched[1] or axis != 0:
            raise Unbatchable()
        return compute(run, v)

    op._batch = batch
    return op.outputs[0]


def shape(input: Any, name: str | None = None, out_type: Any = "int32") -> Tensor:
    """The dynamic shape of ``input`` (``tf.shape``)."""
    t = convert_to_tensor(input)
    np_type = as_dtype(out_type).as_numpy_dtype
    return make_op(
        "Shape",
        [t],
        lambda run, v: np.asarray(np.shape(v[0]), dtype=np_type),
        [(out_type, [t.shape.ndims])],
        name=name,
    ).outputs[0]


def size(input: Any, name: str | None = None, out_type: Any = "int32") -> Tensor:
    """The number of elements of ``input`` (``tf.size``)."""
    t = convert_to_tensor(input)
    np_type = as_dtype(out_type).as_numpy_dtype
    return make_op(
        "Size",
        [t],
        lambda run, v: np.asarray(np.size(v[0]), dtype=np_type),
        [(out_type, [])],
        name=name,
    ).outputs[0]


# -- decoding and parsing (conveyor.ops) -----------------------------------------------
def decode_raw(
    input_bytes: Any = None,
    out_type: Any = None,
    little_endian: bool = True,
    name: str | None = None,
    bytes: Any = None,
) -> Tensor:
    """Reinterpret the bytes of each string as numbers (``tf.decode_raw``), by
    :func:`conveyor.ops.decode_raw`: shape ``input.shape + [len // itemsize]``."""
    from conveyor.ops.decode import decode_raw as _decode_raw

    if input_bytes is None:
        input_bytes = bytes
    if input_bytes is None or out_type is None:
        raise ValueError("decode_raw needs input_bytes and out_type")
    t = convert_to_tensor(input_bytes, dtype="string")
    target = as_dtype(out_type)
    np_type = np.dtype(target.as_numpy_dtype)
    static = TensorShape(None) if t.shape.ndims is None else t.shape.concatenate([None])

    def compute(run: RunContext, v: list[Any]) -> Any:
        return _decode_raw(v[0], np_type, little_endian=little_endian)

    op = make_op("DecodeRaw", [t], compute, [(target, static)], name=name)

    def batch(run: RunContext, v: list[Any], batched: list[bool]) -> Any:
        block = v[0]
        if not (isinstance(block, np.ndarray) and block.dtype == np.uint8 and block.ndim == 2):
            if len({len(b) for b in np.asarray(block, dtype=object).reshape(-1)}) > 1:
                raise Unbatchable()
        return _decode_raw(block, np_type, little_endian=little_endian)

    op._batch = only_first_batched(batch)
    return op.outputs[0]


def random_crop(value: Any, size: Any, seed: int | None = None, name: str | None = None) -> Tensor:
    """A random window of ``size`` out of ``value`` (``tf.random_crop``); one offset per
    dimension, uniform over the valid ones. A 3-D crop keeping the channels goes to
    :func:`conveyor.image.random_crop`.

    Raises:
        InvalidArgumentError (when run): ``size`` exceeds ``value``'s shape.
    """
    from conveyor import image as _image

    t = convert_to_tensor(value)
    dims = _int_list(size, "size")
    if dims is None:
        raise NotImplementedError("random_crop with a computed size: pass a constant size")

    def crop(rng: np.random.Generator, arr: Any) -> Any:
        arr = np.asarray(arr)
        if arr.ndim != len(dims):
            raise InvalidArgumentError(
                f"Need value.shape >= size, got ndim {arr.ndim} vs {len(dims)} for size {dims}"
            )
        if any(d > s for d, s in zip(dims, arr.shape)):
            raise InvalidArgumentError(
                f"Need value.shape >= size, got {list(arr.shape)} and {dims}"
            )
        if arr.ndim == 3 and dims[2] == arr.shape[2]:
            return _image.random_crop(arr, dims[:2], rng=rng)
        offsets = [int(rng.integers(0, s - d + 1)) for d, s in zip(dims, arr.shape)]
        return np.ascontiguousarray(arr[tuple(np.s_[o : o + d] for o, d in zip(offsets, dims))])

    def crop_block(rng: np.random.Generator, block: Any) -> Any:
        block = np.asarray(block)
        if block.ndim == 4 and len(dims) == 3 and dims[2] == block.shape[3]:
            if dims[0] > block.shape[1] or dims[1] > block.shape[2]:
                raise InvalidArgumentError(
                    f"Need value.shape >= size, got {list(block.shape[1:])} and {dims}"
                )
            return _image.random_crop(block, dims[:2], rng=rng)
        return np.stack([crop(rng, x) for x in block])

    op = random_op("RandomCrop", [t], crop, [(t.dtype, dims)], seed, name=name, batch_fn=crop_block)
    if len(dims) == 3:
        op._fuse = ("random_crop", dims[0], dims[1], dims[2])  # type: ignore[attr-defined]
    return op.outputs[0]


def random_shuffle(value: Any, seed: int | None = None, name: str | None = None) -> Tensor:
    """``value`` with its first dimension shuffled (``tf.random_shuffle``)."""
    t = convert_to_tensor(value)
    return random_op(
        "RandomShuffle",
        [t],
        lambda rng, arr: np.asarray(arr)[rng.permutation(len(arr))],
        [(t.dtype, t.shape)],
        seed,
        name=name,
    ).outputs[0]


def random_uniform(
    shape: Any,
    minval: Any = 0,
    maxval: Any = None,
    dtype: Any = "float32",
    seed: int | None = None,
    name: str | None = None,
) -> Tensor:
    """Uniform random values in ``[minval, maxval)`` (``tf.random_uniform``)."""
    dims = _int_list(shape, "shape") or []
    dt = as_dtype(dtype)
    hi = 1 if maxval is None else maxval
    np_type = dt.as_numpy_dtype

    def draw(rng: np.random.Generator) -> Any:
        if dt.is_integer:
            return rng.integers(minval, hi, size=dims).astype(np_type)
        return rng.uniform(minval, hi, size=dims).astype(np_type)

    return random_op("RandomUniform", [], draw, [(dt, dims)], seed, name=name).outputs[0]


class FixedLenFeature:
    """A fixed-length feature of an ``Example`` (``tf.FixedLenFeature``)."""

    def __new__(cls, shape: Any, dtype: Any, default_value: Any = None) -> Any:
        from conveyor.ops.parsing import FixedLenFeature as _Fixed

        return _Fixed(list(as_shape(shape).as_list()), _np_dtype(dtype), default_value)


class VarLenFeature:
    """A variable-length feature of an ``Example``: parsed into a ``SparseTensor``
    (``tf.VarLenFeature``)."""

    def __new__(cls, dtype: Any) -> Any:
        from conveyor.ops.parsing import VarLenFeature as _Var

        return _Var(_np_dtype(dtype))


class FixedLenSequenceFeature:
    """(``tf.FixedLenSequenceFeature``)."""

    def __new__(
        cls, shape: Any, dtype: Any, allow_missing: bool = False, default_value: Any = None
    ) -> Any:
        from conveyor.ops.parsing import FixedLenSequenceFeature as _Seq

        return _Seq(list(as_shape(shape).as_list()), _np_dtype(dtype), allow_missing, default_value)


def _np_dtype(dtype: Any) -> Any:
    dt = as_dtype(dtype)
    return "string" if dt is string else np.dtype(dt.as_numpy_dtype)


def _parse(
    kind: str, serialized: Any, features: Any, name: str | None, example_names: Any, single: bool
) -> dict[str, Any]:
    from conveyor.ops import parsing

    if not features:
        raise ValueError("Missing: features was empty.")
    s = convert_to_tensor(serialized, dtype="string")
    keys = sorted(features)
    outputs: list[tuple[Any, Any]] = []
    layout: list[tuple[str, bool]] = []
    lead: list[int | None] = [] if single else [s.shape.as_list()[0] if s.shape.ndims else None]
    for k in keys:
        spec = features[k]
        dt = as_dtype("string" if _is_string(spec.dtype) else spec.dtype)
        if type(spec).__name__ == "VarLenFeature":
            rank = 1 if single else 2
            outputs += [("int64", [None, rank]), (dt, [None]), ("int64", [rank])]
            layout.append((k, True))
        else:
            extra = [None] if type(spec).__name__ == "FixedLenSequenceFeature" else []
            outputs.append((dt, lead + extra + list(spec.shape)))
            layout.append((k, False))
    fn = parsing.parse_single_example if single else parsing.parse_example

    def compute(run: RunContext, v: list[Any]) -> Any:
        parsed = fn(v[0], features, example_names=example_names)
        out: list[Any] = []
        for k, sparse in layout:
            value = parsed[k]
            if sparse:
                out += [value.indices, value.values, value.dense_shape]
            else:
                out.append(value)
        return tuple(out) if len(out) > 1 else out[0]

    op = make_op(kind, [s], compute, outputs, name=name)
    result: dict[str, Any] = {}
    i = 0
    for k, sparse in layout:
        if sparse:
            result[k] = SparseTensor(op.outputs[i], op.outputs[i + 1], op.outputs[i + 2])
            i += 3
        else:
            result[k] = op.outputs[i]
            i += 1
    return result


def _is_string(dtype: Any) -> bool:
    try:
        return as_dtype(dtype) is string
    except TypeError:
        return False


def parse_single_example(
    serialized: Any, features: Any, name: str | None = None, example_names: Any = None
) -> dict[str, Any]:
    """Parse one serialized ``Example`` into a dict of tensors (``tf.parse_single_example``),
    by :func:`conveyor.ops.parse_single_example`; ``VarLenFeature`` keys give a
    :class:`SparseTensor`."""
    return _parse("ParseSingleExample", serialized, features, name, example_names, True)


def parse_example(
    serialized: Any, features: Any, name: str | None = None, example_names: Any = None
) -> dict[str, Any]:
    """Parse a vector of serialized ``Example`` s (``tf.parse_example``), by
    :func:`conveyor.ops.parse_example`."""
    return _parse("ParseExample", serialized, features, name, example_names, False)
