"""TensorFlow's ``Summary`` and ``Event`` messages (``tf.Summary``, ``tf.Event``), the
fields TensorBoard reads, as protobuf classes from a private descriptor pool (as
:mod:`conveyor.io.example` builds ``Example``)."""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool

from conveyor.io.example import _FDP, _PACKAGE, _field, _message_class

__all__ = ["Event", "Summary"]


def _summary_file() -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto(
        name="tensorflow/core/framework/summary.proto", package=_PACKAGE, syntax="proto3"
    )
    summary = file.message_type.add(name="Summary")
    image = summary.nested_type.add(name="Image")
    _field(image, "height", 1, _FDP.TYPE_INT32)
    _field(image, "width", 2, _FDP.TYPE_INT32)
    _field(image, "colorspace", 3, _FDP.TYPE_INT32)
    _field(image, "encoded_image_string", 4, _FDP.TYPE_BYTES)
    value = summary.nested_type.add(name="Value")
    value.oneof_decl.add(name="value")
    _field(value, "node_name", 7, _FDP.TYPE_STRING)
    _field(value, "tag", 1, _FDP.TYPE_STRING)
    _field(value, "simple_value", 2, _FDP.TYPE_FLOAT, oneof_index=0)
    _field(value, "obsolete_old_style_histogram", 3, _FDP.TYPE_BYTES, oneof_index=0)
    _field(value, "image", 4, _FDP.TYPE_MESSAGE, type_name="Summary.Image", oneof_index=0)
    _field(summary, "value", 1, _FDP.TYPE_MESSAGE, repeated=True, type_name="Summary.Value")
    return file


def _event_file() -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto(
        name="tensorflow/core/util/event.proto",
        package=_PACKAGE,
        syntax="proto3",
        dependency=["tensorflow/core/framework/summary.proto"],
    )
    event = file.message_type.add(name="Event")
    event.oneof_decl.add(name="what")
    _field(event, "wall_time", 1, _FDP.TYPE_DOUBLE)
    _field(event, "step", 2, _FDP.TYPE_INT64)
    _field(event, "file_version", 3, _FDP.TYPE_STRING, oneof_index=0)
    _field(event, "graph_def", 4, _FDP.TYPE_BYTES, oneof_index=0)
    _field(event, "summary", 5, _FDP.TYPE_MESSAGE, type_name="Summary", oneof_index=0)
    return file


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_summary_file())
_POOL.Add(_event_file())

Summary: Any = _message_class(_POOL, "Summary")
Event: Any = _message_class(_POOL, "Event")
for _cls in (Summary, Event):
    _cls.__module__ = "conveyor.compat.v1"
del _cls
