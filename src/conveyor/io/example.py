"""TensorFlow's ``tf.train.Example`` protocol buffers, wire-compatible and TensorFlow-free.

The messages are generated at import time from descriptors that mirror TensorFlow's
``tensorflow/core/example/feature.proto`` and ``example.proto``: the same package
(``tensorflow``), message names, field numbers, packing and ``oneof``. Bytes written by
TensorFlow parse here and bytes written here parse in TensorFlow.

The descriptors live in a private :class:`~google.protobuf.descriptor_pool.DescriptorPool`,
not the default one, so importing conveyor in the same process as TensorFlow (which
registers the same file names in the default pool) never raises a duplicate-symbol error.

Importing this module needs protobuf (``pip install "conveyor[io]"``); without it the
import raises an :class:`ImportError` that says so.

The classes are ordinary protobuf messages::

    >>> ex = Example(features=Features(feature={
    ...     "label": Feature(int64_list=Int64List(value=[7])),
    ...     "image": Feature(bytes_list=BytesList(value=[b"\\x00\\x01"])),
    ... }))
    >>> Example.FromString(ex.SerializeToString()).features.feature["label"].int64_list.value[0]
    7
    >>> Example.DESCRIPTOR.full_name
    'tensorflow.Example'
"""

from __future__ import annotations

from typing import Any

from conveyor._optional import missing

try:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
except ImportError as e:  # the messages are protobuf classes: nothing here works without it
    raise missing("google.protobuf", "tf.train.Example (conveyor.io.example)") from e

__all__ = [
    "BytesList",
    "Example",
    "Feature",
    "FeatureList",
    "FeatureLists",
    "Features",
    "FloatList",
    "Int64List",
    "SequenceExample",
]

_FDP = descriptor_pb2.FieldDescriptorProto
_PACKAGE = "tensorflow"


def _field(
    message: descriptor_pb2.DescriptorProto,
    name: str,
    number: int,
    type_: int,
    *,
    repeated: bool = False,
    type_name: str | None = None,
    packed: bool = False,
    oneof_index: int | None = None,
) -> None:
    field = message.field.add(
        name=name,
        number=number,
        type=type_,
        label=_FDP.LABEL_REPEATED if repeated else _FDP.LABEL_OPTIONAL,
    )
    if type_name is not None:
        field.type_name = f".{_PACKAGE}.{type_name}"
    if packed:
        field.options.packed = True
    if oneof_index is not None:
        field.oneof_index = oneof_index


def _map_field(
    file: descriptor_pb2.FileDescriptorProto,
    message: descriptor_pb2.DescriptorProto,
    name: str,
    entry_name: str,
    value_type: str,
) -> None:
    # A proto3 ``map<string, V>`` is a repeated nested "entry" message with map_entry set.
    entry = message.nested_type.add(name=entry_name)
    entry.options.map_entry = True
    _field(entry, "key", 1, _FDP.TYPE_STRING)
    _field(entry, "value", 2, _FDP.TYPE_MESSAGE, type_name=value_type)
    _field(
        message, name, 1, _FDP.TYPE_MESSAGE, repeated=True, type_name=f"{message.name}.{entry_name}"
    )


def _feature_file() -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto(
        name="tensorflow/core/example/feature.proto", package=_PACKAGE, syntax="proto3"
    )
    _field(file.message_type.add(name="BytesList"), "value", 1, _FDP.TYPE_BYTES, repeated=True)
    _field(
        file.message_type.add(name="FloatList"),
        "value",
        1,
        _FDP.TYPE_FLOAT,
        repeated=True,
        packed=True,
    )
    _field(
        file.message_type.add(name="Int64List"),
        "value",
        1,
        _FDP.TYPE_INT64,
        repeated=True,
        packed=True,
    )
    feature = file.message_type.add(name="Feature")
    feature.oneof_decl.add(name="kind")
    for number, (name, type_name) in enumerate(
        [("bytes_list", "BytesList"), ("float_list", "FloatList"), ("int64_list", "Int64List")],
        start=1,
    ):
        _field(feature, name, number, _FDP.TYPE_MESSAGE, type_name=type_name, oneof_index=0)
    _map_field(file, file.message_type.add(name="Features"), "feature", "FeatureEntry", "Feature")
    _field(
        file.message_type.add(name="FeatureList"),
        "feature",
        1,
        _FDP.TYPE_MESSAGE,
        repeated=True,
        type_name="Feature",
    )
    _map_field(
        file,
        file.message_type.add(name="FeatureLists"),
        "feature_list",
        "FeatureListEntry",
        "FeatureList",
    )
    return file


def _example_file() -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto(
        name="tensorflow/core/example/example.proto",
        package=_PACKAGE,
        syntax="proto3",
        dependency=["tensorflow/core/example/feature.proto"],
    )
    _field(
        file.message_type.add(name="Example"),
        "features",
        1,
        _FDP.TYPE_MESSAGE,
        type_name="Features",
    )
    sequence = file.message_type.add(name="SequenceExample")
    _field(sequence, "context", 1, _FDP.TYPE_MESSAGE, type_name="Features")
    _field(sequence, "feature_lists", 2, _FDP.TYPE_MESSAGE, type_name="FeatureLists")
    return file


def _message_class(pool: descriptor_pool.DescriptorPool, name: str) -> Any:
    descriptor = pool.FindMessageTypeByName(f"{_PACKAGE}.{name}")
    get_message_class = getattr(message_factory, "GetMessageClass", None)
    if get_message_class is not None:
        return get_message_class(descriptor)
    # protobuf releases before GetMessageClass existed (4.21) only offer GetPrototype.
    return message_factory.MessageFactory(pool).GetPrototype(descriptor)  # pragma: no cover


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_feature_file())
_POOL.Add(_example_file())

BytesList: Any = _message_class(_POOL, "BytesList")
FloatList: Any = _message_class(_POOL, "FloatList")
Int64List: Any = _message_class(_POOL, "Int64List")
Feature: Any = _message_class(_POOL, "Feature")
Features: Any = _message_class(_POOL, "Features")
FeatureList: Any = _message_class(_POOL, "FeatureList")
FeatureLists: Any = _message_class(_POOL, "FeatureLists")
Example: Any = _message_class(_POOL, "Example")
SequenceExample: Any = _message_class(_POOL, "SequenceExample")

# Without this the classes report the generated module's name (or none) in reprs and pickles.
for _cls in (
    BytesList,
    FloatList,
    Int64List,
    Feature,
    Features,
    FeatureList,
    FeatureLists,
    Example,
    SequenceExample,
):
    _cls.__module__ = __name__
del _cls
