"""conveyor.ops.decode: decode_raw and decode_csv with TensorFlow's rules."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from conveyor.core.errors import InvalidArgumentError, OpError
from conveyor.ops.decode import decode_csv, decode_raw
from fixtures import golden_data as golden

_NUMPY = {"int32": np.int32, "int64": np.int64, "float32": np.float32, "float64": np.float64}


def golden_default(entry: dict):
    """Spell a golden record default the way a conveyor user would."""
    dtype, value = entry["dtype"], entry["default"]
    if value is None:
        return bytes if dtype == "string" else _NUMPY[dtype]
    if dtype in ("int32", "float32", "string"):
        return [value]  # Python int/float/str are int32/float32/string, as in TensorFlow
    return [_NUMPY[dtype](value)]


# --- decode_csv: golden ---------------------------------------------------------------

CSV_CASES = golden.manifest()["decode_csv"]


@pytest.mark.parametrize("case", CSV_CASES, ids=[repr(c["records"])[:40] for c in CSV_CASES])
def test_decode_csv_equals_tensorflow_or_rejects_with_its_message(case):
    defaults = [golden_default(entry) for entry in case["record_defaults"]]
    if "error" in case:
        with pytest.raises(InvalidArgumentError) as raised:
            decode_csv(case["records"], defaults, **case["kwargs"])
        assert raised.value.message.startswith(case["error"])
        return
    columns = decode_csv(case["records"], defaults, **case["kwargs"])
    assert len(columns) == len(case["result"])
    for column, description in zip(columns, case["result"], strict=True):
        golden.assert_same_array(column, golden.expected(description))


# --- decode_csv: semantics --------------------------------------------------------------


def test_python_literals_type_columns_as_tensorflow_constants_do():
    columns = decode_csv(["1,2,3,x"], [[0], [0.0], [np.int64(0)], [""]])
    assert [c.dtype for c in columns] == [np.int32, np.float32, np.int64, object]


def test_empty_list_or_bare_type_makes_a_column_required():
    assert decode_csv(["1.5"], [[]])[0].dtype == np.float32
    assert decode_csv(["7"], [np.int64])[0].tolist() == [7]
    assert decode_csv(["7"], [np.array([], dtype=np.int64)])[0].dtype == np.int64
    with pytest.raises(
        InvalidArgumentError, match=r"^Field 0 is required but missing in record 0!$"
    ):
        decode_csv([",1"], [np.int64, [0]])


def test_quoted_fields_keep_delimiters_and_unescape_doubled_quotes():
    columns = decode_csv(['"a,b","say ""hi""",plain'], [[""], [""], [""]])
    assert [c.tolist() for c in columns] == [[b"a,b"], [b'say "hi"'], [b"plain"]]


def test_na_value_fields_take_the_default():
    columns = decode_csv(["NA,2", "3,NA"], [[-1], [-2]], na_value="NA")
    assert [c.tolist() for c in columns] == [[-1, 3], [2, -2]]


def test_select_cols_returns_only_the_chosen_columns_and_ignores_the_rest():
    columns = decode_csv(['1,x,2,"unterminated'], [[0], [0]], select_cols=[0, 2])
    assert [c.tolist() for c in columns] == [[1], [2]]


@pytest.mark.parametrize(
    ("select_cols", "message"),
    [
        ([1, 0], "select_cols is not strictly increasing."),
        ([-1, 0], "select_cols contains negative values."),
        ([0], "Length of select_cols and record_defaults do not match."),
    ],
)
def test_select_cols_must_be_increasing_non_negative_and_one_per_default(select_cols, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        decode_csv(["1,2"], [[0], [0]], select_cols=select_cols)


def test_output_columns_keep_the_shape_of_records():
    columns = decode_csv([["1,a", "2,b"], ["3,c", "4,d"]], [[0], [""]])
    assert columns[0].shape == (2, 2) and columns[0].tolist() == [[1, 2], [3, 4]]
    scalar = decode_csv("5,e", [[0], [""]])
    assert scalar[0].shape == () and int(scalar[0]) == 5 and scalar[1].item() == b"e"


def test_wrong_field_count_names_the_record():
    with pytest.raises(InvalidArgumentError, match=r"^Expect 2 fields but have 3 in record 1$"):
        decode_csv(["1,2", "1,2,3"], [[0], [0]])


def test_the_earliest_record_error_is_reported():
    with pytest.raises(
        InvalidArgumentError, match=r"^Field 1 in record 0 is not a valid int32: x$"
    ):
        decode_csv(["1,x", "1,2,3"], [[0], [0]])


def test_field_delim_must_be_one_character_and_bool_defaults_are_unsupported():
    with pytest.raises(InvalidArgumentError, match="field_delim should be only 1 char"):
        decode_csv(["1;;2"], [[0], [0]], field_delim=";;")
    with pytest.raises(InvalidArgumentError, match="data type bool not supported"):
        decode_csv(["1"], [[True]])
    with pytest.raises(
        InvalidArgumentError, match=r"^There should only be 1 default per field but field 0 has 2$"
    ):
        decode_csv(["1"], [[1, 2]])


_FIELD = st.text(alphabet='ab,"\u00e9 1', max_size=6)


def _quote(field: str) -> str:
    return '"' + field.replace('"', '""') + '"'


@settings(max_examples=150, deadline=None)
@given(st.lists(_FIELD.filter(bool), min_size=1, max_size=4))
def test_properly_quoted_fields_round_trip(fields):
    line = ",".join(_quote(f) for f in fields)
    columns = decode_csv([line], [["d"]] * len(fields))
    assert [c[0] for c in columns] == [f.encode() for f in fields]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet='0123456789.,-+e"x\n\r NAinf', max_size=20))
def test_arbitrary_text_either_decodes_or_raises_invalid_argument(line):
    try:
        decode_csv([line], [[0], [0.0], np.int64, [""]], na_value="NA")
    except OpError as error:
        assert isinstance(error, InvalidArgumentError)


# --- decode_raw: golden -------------------------------------------------------------------

RAW_CASES = golden.manifest()["decode_raw"]


@pytest.mark.parametrize(
    "case",
    RAW_CASES,
    ids=[
        f"{c['out_type']}-{c['little_endian']}-{c['fixed_length']}-{i}"
        for i, c in enumerate(RAW_CASES)
    ],
)
def test_decode_raw_equals_tensorflow_or_rejects_with_its_message(case):
    inputs = [base64.b64decode(v) for v in case["inputs"]]
    kwargs = {"little_endian": case["little_endian"], "fixed_length": case["fixed_length"]}
    if "error" in case:
        with pytest.raises(InvalidArgumentError) as raised:
            decode_raw(inputs, case["out_type"], **kwargs)
        assert raised.value.message == case["error"]
        return
    golden.assert_same_array(
        decode_raw(inputs, case["out_type"], **kwargs), golden.expected(case["result"])
    )


@pytest.mark.parametrize(
    "case", [c for c in RAW_CASES if "result" in c and c["inputs"] and c["fixed_length"] is None]
)
def test_decode_raw_of_a_uint8_record_block_equals_tensorflow(case):
    inputs = [base64.b64decode(v) for v in case["inputs"]]
    block = np.frombuffer(b"".join(inputs), dtype=np.uint8).reshape(len(inputs), -1)
    out = decode_raw(block, case["out_type"], little_endian=case["little_endian"])
    golden.assert_same_array(out, golden.expected(case["result"]))


# --- decode_raw: semantics ------------------------------------------------------------------


def test_uint8_record_block_is_decoded_as_a_view_without_copying():
    records = np.arange(4 * 12, dtype=np.uint8).reshape(4, 12)
    native = np.dtype(np.int32).newbyteorder("=")
    out = decode_raw(records, native, little_endian=np.little_endian)
    assert out.shape == (4, 3) and out.dtype == np.int32
    assert np.shares_memory(out, records) and out.base is not None
    assert out.tolist() == np.frombuffer(records.tobytes(), "<i4").reshape(4, 3).tolist()


def test_uint8_view_of_uint8_output_is_the_same_memory():
    records = np.zeros((2, 5), dtype=np.uint8)
    out = decode_raw(records, np.uint8)
    out[0, 0] = 9
    assert records[0, 0] == 9


def test_foreign_byte_order_is_swapped_into_a_native_copy():
    records = np.array([[0, 1, 0, 2]], dtype=np.uint8)
    out = decode_raw(records, np.uint16, little_endian=False)
    assert out.tolist() == [[1, 2]] and out.dtype == np.dtype(np.uint16)
    assert not np.shares_memory(out, records)


def test_bytes_input_gives_a_writable_array():
    out = decode_raw(b"\x01\x00\x00\x00", np.int32)
    out[0] += 1
    assert out.tolist() == [2]


def test_fixed_length_pads_or_truncates_a_uint8_block():
    records = np.array([[1, 0, 2, 0]], dtype=np.uint8)
    assert decode_raw(records, np.int16, fixed_length=2).tolist() == [[1]]
    assert decode_raw(records, np.int16, fixed_length=6).tolist() == [[1, 2, 0]]


def test_fixed_width_bytes_arrays_are_read_with_their_padding():
    records = np.array([b"\x01\x00", b"\x02"], dtype="S2")
    assert decode_raw(records, "<u2").tolist() == [[1], [2]]


def test_any_input_shape_gains_a_last_axis():
    out = decode_raw([[b"ab", b"cd"], [b"ef", b"gh"]], np.uint8)
    assert out.shape == (2, 2, 2) and out[1, 0].tolist() == [101, 102]


def test_tensorflow_type_names_and_dtype_objects_are_understood():
    class FakeTfDType:
        name = "half"

    assert decode_raw(b"\x00\x3c", FakeTfDType()).dtype == np.float16
    assert decode_raw(b"\x00\x00\x80\x3f", "float").tolist() == [1.0]
    with pytest.raises(InvalidArgumentError, match="out_type"):
        decode_raw(b"ab", "string")


def test_fixed_length_must_be_positive():
    with pytest.raises(
        InvalidArgumentError, match=r"^fixed_length \(0\) must be greater than zero\.$"
    ):
        decode_raw([b"ab"], np.uint8, fixed_length=0)
