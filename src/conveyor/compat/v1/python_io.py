"""``tf.python_io``: conveyor's TFRecord writer and iterator."""

from conveyor.compat.v1._missing import missing_names
from conveyor.io.tfrecord import (
    TFRecordCompressionType as TFRecordCompressionType,
    TFRecordOptions as TFRecordOptions,
    TFRecordWriter as TFRecordWriter,
    tf_record_iterator as tf_record_iterator,
)

__all__ = ["TFRecordCompressionType", "TFRecordOptions", "TFRecordWriter", "tf_record_iterator"]

__getattr__ = missing_names(__name__, "tf.python_io", "conveyor.io.tfrecord")
