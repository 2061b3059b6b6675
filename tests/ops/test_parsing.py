"""conveyor.ops.parsing: tf.train.Example parsing with TensorFlow's shapes, dtypes and errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from conveyor.core.errors import InvalidArgumentError, OpError
from conveyor.io.example import BytesList, Example, Feature, Features, FloatList, Int64List
from conveyor.ops.parsing import (
    FixedLenFeature,
    FixedLenSequenceFeature,
    SparseTensorValue,
    VarLenFeature,
    parse_example,
    parse_single_example,
)
from fixtures import golden_data as golden


def record(**features) -> bytes:
    """Serialize an Example; each feature is ("int64"|"float"|"bytes"|"unset", values)."""
    built = {}
    for key, (kind, values) in features.items():
        if kind == "int64":
            built[key] = Feature(int64_list=Int64List(value=values))
        elif kind == "float":
            built[key] = Feature(float_list=FloatList(value=values))
        elif kind == "bytes":
            built[key] = Feature(bytes_list=BytesList(value=values))
        else:
            built[key] = Feature()
    return Example(features=Features(feature=built)).SerializeToString()


def conveyor_spec(spec: dict):
    if spec["type"] == "fixed":
        return FixedLenFeature(spec["shape"], spec["dtype"], spec.get("default"))
    if spec["type"] == "var":
        return VarLenFeature(spec["dtype"])
    return FixedLenSequenceFeature(spec["shape"], spec["dtype"], True, spec.get("default"))


def assert_same_result(actual, wanted) -> None:
    if isinstance(wanted, tuple):
        assert isinstance(actual, SparseTensorValue)
        for part, expected_part in zip(actual, wanted, strict=True):
            golden.assert_same_array(part, expected_part)
    else:
        golden.assert_same_array(actual, wanted)


# --- golden: what TensorFlow returned -------------------------------------------------

PARSE = golden.manifest()["parse"]
EXAMPLES = golden.unb64(PARSE["examples"])


@pytest.mark.parametrize(
    "case",
    PARSE["cases"],
    ids=[
        f"{c['spec']}-{'single' if c['single'] else 'batch'}-{c['records']}" for c in PARSE["cases"]
    ],
)
def test_parse_results_equal_tensorflow_exactly(case):
    spec = {key: conveyor_spec(value) for key, value in PARSE["specs"][case["spec"]].items()}
    if case["single"]:
        result = parse_single_example(EXAMPLES[case["records"][0]], spec)
    else:
        result = parse_example([EXAMPLES[i] for i in case["records"]], spec)
    assert set(result) == set(case["result"])
    for key, description in case["result"].items():
        assert_same_result(result[key], golden.expected(description))


@pytest.mark.parametrize("case", PARSE["errors"], ids=[c["name"] for c in PARSE["errors"]])
def test_parse_rejects_what_tensorflow_rejects_naming_the_same_place(case):
    records = golden.unb64(case["records"])
    spec = {key: conveyor_spec(value) for key, value in case["spec"].items()}
    with pytest.raises(InvalidArgumentError) as raised:
        if case["single"]:
            parse_single_example(records[0], spec)
        else:
            parse_example(records, spec)
    # TensorFlow's message locates the failure before its first ".  " (name, key, index);
    # conveyor's says the same there.
    where = case["error"].split(".  ")[0]
    if "value: '" in where:
        # TensorFlow shows the raw bytes; conveyor escapes them.
        where = where.split("value: '")[0]
    assert raised.value.message.startswith(where)


# --- shapes and dtypes ----------------------------------------------------------------


def test_batch_of_var_len_features_gives_example_position_indices_and_padded_dense_shape():
    batch = [record(a=("int64", [1, 2])), record(), record(a=("int64", [3, 4, 5]))]
    sparse = parse_example(batch, {"a": VarLenFeature(np.int64)})["a"]
    assert sparse.indices.tolist() == [[0, 0], [0, 1], [2, 0], [2, 1], [2, 2]]
    assert sparse.values.tolist() == [1, 2, 3, 4, 5]
    assert sparse.dense_shape.tolist() == [3, 3]
    assert sparse.indices.dtype == np.int64 and sparse.dense_shape.dtype == np.int64


def test_single_example_var_len_feature_has_rank_one_indices():
    sparse = parse_single_example(record(a=("bytes", [b"x", b"y"])), {"a": VarLenFeature(bytes)})[
        "a"
    ]
    assert sparse.indices.tolist() == [[0], [1]]
    assert sparse.values.dtype == object and sparse.values.tolist() == [b"x", b"y"]
    assert sparse.dense_shape.tolist() == [2]


def test_fixed_len_feature_is_reshaped_to_the_batch_and_feature_shape():
    batch = [record(m=("float", [1, 2, 3, 4, 5, 6])), record(m=("float", [6, 5, 4, 3, 2, 1]))]
    out = parse_example(batch, {"m": FixedLenFeature([2, 3], np.float32)})["m"]
    assert out.dtype == np.float32 and out.shape == (2, 2, 3)
    assert out[1].tolist() == [[6, 5, 4], [3, 2, 1]]


def test_scalar_fixed_len_feature_of_a_single_example_is_zero_dimensional():
    out = parse_single_example(record(a=("int64", [9])), {"a": FixedLenFeature([], "int64")})["a"]
    assert out.shape == () and out.dtype == np.int64 and int(out) == 9


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        ("string", object),
        (bytes, object),
        (str, object),
        (object, object),
        (np.bytes_, object),
        ("int64", np.int64),
        (np.int64, np.int64),
        ("float32", np.float32),
        ("float", np.float32),
        (np.float32, np.float32),
    ],
)
def test_every_spelling_of_the_three_dtypes_is_accepted(dtype, expected):
    features = {"s": ("bytes", [b"v"]), "i": ("int64", [1]), "f": ("float", [1.0])}
    key = {object: "s", np.int64: "i", np.float32: "f"}[expected]
    out = parse_single_example(record(**features), {key: FixedLenFeature([1], dtype)})[key]
    assert out.dtype == np.dtype(expected)


def test_tensorflow_dtype_objects_are_accepted_by_name():
    class FakeTfDType:
        name = "int64"

    out = parse_single_example(record(a=("int64", [4])), {"a": FixedLenFeature([], FakeTfDType())})
    assert out["a"].dtype == np.int64


@pytest.mark.parametrize("dtype", [np.int32, "float64", np.uint8])
def test_dtypes_outside_float32_int64_string_are_rejected(dtype):
    with pytest.raises(InvalidArgumentError, match="unsupported dtype"):
        parse_single_example(record(), {"a": VarLenFeature(dtype)})


def test_serialized_may_be_a_list_tuple_or_object_array():
    batch = [record(a=("int64", [1])), record(a=("int64", [2]))]
    spec = {"a": FixedLenFeature([], np.int64)}
    for serialized in (batch, tuple(batch), np.array(batch, dtype=object)):
        assert parse_example(serialized, spec)["a"].tolist() == [1, 2]


def test_parse_example_of_a_scalar_behaves_like_parse_single_example():
    one = record(a=("int64", [5, 6]))
    spec = {"a": VarLenFeature(np.int64), "b": FixedLenFeature([], np.int64, default_value=1)}
    for serialized in (one, np.array(one, dtype=object)):
        out = parse_example(serialized, spec)
        assert out["a"].indices.tolist() == [[0], [1]]
        assert out["b"].shape == () and int(out["b"]) == 1


def test_empty_batch_gives_empty_arrays_with_feature_shapes():
    spec = {
        "a": VarLenFeature(np.int64),
        "b": FixedLenFeature([2], np.int64, default_value=[1, 1]),
        "c": FixedLenSequenceFeature([3], np.float32, allow_missing=True),
    }
    out = parse_example([], spec)
    assert out["a"].indices.shape == (0, 2) and out["a"].dense_shape.tolist() == [0, 0]
    assert out["b"].shape == (0, 2) and out["b"].dtype == np.int64
    assert out["c"].shape == (0, 0, 3)


def test_result_keys_keep_the_order_of_the_features_mapping():
    spec = {"z": VarLenFeature("int64"), "a": VarLenFeature("int64"), "m": VarLenFeature("int64")}
    assert list(parse_single_example(record(), spec)) == ["z", "a", "m"]


# --- defaults and missing features ----------------------------------------------------


def test_missing_feature_takes_the_default_in_every_example_that_lacks_it():
    batch = [record(), record(a=("float", [7, 8])), record()]
    out = parse_example(batch, {"a": FixedLenFeature([2], np.float32, default_value=[0.5, 1.5])})
    assert out["a"].tolist() == [[0.5, 1.5], [7, 8], [0.5, 1.5]]


def test_feature_with_no_list_set_counts_as_missing():
    out = parse_single_example(record(a=("unset", None)), {"a": FixedLenFeature([], "int64", 3)})
    assert int(out["a"]) == 3


def test_empty_list_of_the_right_kind_does_not_count_as_missing():
    with pytest.raises(InvalidArgumentError, match="Values size: 0 but output shape: \\[\\]"):
        parse_single_example(record(a=("int64", [])), {"a": FixedLenFeature([], "int64", 3)})


def test_default_is_reshaped_not_broadcast():
    spec = {"a": FixedLenFeature([2, 2], np.int64, default_value=[[1, 2], [3, 4]])}
    assert parse_single_example(record(), spec)["a"].tolist() == [[1, 2], [3, 4]]
    spec = {"a": FixedLenFeature([2, 3], np.int64, default_value=[1, 2, 3, 4, 5, 6])}
    assert parse_single_example(record(), spec)["a"].tolist() == [[1, 2, 3], [4, 5, 6]]
    with pytest.raises(InvalidArgumentError, match="default_value has 1 values"):
        parse_single_example(record(), {"a": FixedLenFeature([2], np.int64, default_value=7)})


def test_string_defaults_may_be_str_or_bytes():
    spec = {"a": FixedLenFeature([], "string", default_value="h\u00e9")}
    assert parse_single_example(record(), spec)["a"].item() == "h\u00e9".encode()


def test_missing_required_feature_error_names_feature_dtype_and_example():
    with pytest.raises(InvalidArgumentError) as raised:
        parse_example(
            [record(a=("int64", [1])), record()],
            {"a": FixedLenFeature([], np.int64)},
            example_names=["first", "second"],
        )
    assert raised.value.message == (
        "Name: second, Feature: a (data type: int64) is required but could not be found."
    )


# --- errors -----------------------------------------------------------------------------


def test_wrong_value_count_error_names_key_and_example_index():
    batch = [record(a=("int64", [1])), record(a=("int64", [1, 2]))]
    with pytest.raises(InvalidArgumentError) as raised:
        parse_example(batch, {"a": FixedLenFeature([], np.int64)})
    assert raised.value.message == (
        "Name: <unknown>, Key: a, Index: 1.  Number of int64 values != expected.  "
        "Values size: 2 but output shape: []"
    )


def test_list_kind_that_differs_from_the_dtype_is_a_type_mismatch():
    with pytest.raises(InvalidArgumentError) as raised:
        parse_single_example(record(a=("float", [1.0])), {"a": FixedLenFeature([], np.int64)})
    assert raised.value.message == (
        "Key: a.  Data types don't match. Data type: float but expected type: int64"
    )
    with pytest.raises(InvalidArgumentError) as raised:
        parse_single_example(record(a=("bytes", [b"x"])), {"a": VarLenFeature(np.float32)})
    assert raised.value.message == (
        "Key: a.  Data types don't match. Expected type: float, Actual type: string"
    )


def test_the_earliest_example_error_is_reported_whatever_the_feature_order():
    batch = [record(a=("int64", [1]), b=("int64", [1])), record(a=("int64", [1])), record()]
    spec = {"b": FixedLenFeature([], np.int64), "a": FixedLenFeature([], np.float32, 0.0)}
    with pytest.raises(InvalidArgumentError, match="Key: a, Index: 0"):
        parse_example(batch, spec)


def test_bytes_that_are_not_an_example_are_invalid_argument():
    with pytest.raises(InvalidArgumentError, match=r"^Could not parse example input, value: '"):
        parse_example([record(), b"\x0a\x05abcde"], {"a": VarLenFeature(np.int64)})


def test_empty_features_and_unknown_dimensions_are_value_errors_as_in_tensorflow():
    with pytest.raises(ValueError, match="features cannot be empty"):
        parse_single_example(record(), {})
    with pytest.raises(ValueError, match="Consider using FixedLenSequenceFeature"):
        parse_single_example(record(), {"a": FixedLenFeature([None], np.int64)})
    with pytest.raises(ValueError, match="requires allow_missing to be True"):
        parse_single_example(record(), {"a": FixedLenSequenceFeature([], np.int64)})


# --- FixedLenSequenceFeature --------------------------------------------------------------


def test_sequence_feature_pads_shorter_examples_with_the_default():
    batch = [record(a=("int64", [1, 2, 3, 4])), record(a=("int64", [5, 6])), record()]
    spec = {"a": FixedLenSequenceFeature([2], np.int64, allow_missing=True, default_value=-1)}
    assert parse_example(batch, spec)["a"].tolist() == [
        [[1, 2], [3, 4]],
        [[5, 6], [-1, -1]],
        [[-1, -1], [-1, -1]],
    ]


def test_sequence_feature_value_count_must_be_a_multiple_of_the_row_size():
    spec = {"a": FixedLenSequenceFeature([2], np.int64, allow_missing=True)}
    with pytest.raises(InvalidArgumentError, match=r"not a multiple of stride length\. Saw 3"):
        parse_example([record(a=("int64", [1, 2, 3]))], spec)


# --- robustness ---------------------------------------------------------------------------

_SPEC = {
    "a": FixedLenFeature([], np.int64, default_value=0),
    "b": VarLenFeature(np.float32),
    "c": FixedLenSequenceFeature([], "string", allow_missing=True),
}
_VALID = record(a=("int64", [3]), b=("float", [1.5, 2.5]), c=("bytes", [b"xy", b"z"]))


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_either_parse_or_raise_invalid_argument(data):
    try:
        parse_single_example(data, _SPEC)
    except OpError as error:
        assert isinstance(error, InvalidArgumentError)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, len(_VALID) * 8 - 1), st.integers(0, len(_VALID) * 8 - 1))
def test_bit_flipped_examples_either_parse_or_raise_invalid_argument(first, second):
    corrupted = bytearray(_VALID)
    for bit in (first, second):
        corrupted[bit // 8] ^= 1 << (bit % 8)
    try:
        out = parse_example([bytes(corrupted)], _SPEC)
    except OpError as error:
        assert isinstance(error, InvalidArgumentError)
    else:
        assert out["a"].shape == (1,) and out["b"].indices.shape[1] == 2
