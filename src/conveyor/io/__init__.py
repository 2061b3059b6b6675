"""The I/O layer: input producers, file access, record readers and the TFRecord format.

Names are imported on first use, so the optional dependencies (``conveyor[io]``:
protobuf, google-crc32c, fsspec) are needed only by what uses them.
"""

from typing import TYPE_CHECKING

from conveyor._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(
        [
            "input_producer",
            "string_input_producer",
            "range_input_producer",
            "slice_input_producer",
            "match_filenames_once",
            "SliceSource",
        ],
        "conveyor.io.producers",
    ),
    **dict.fromkeys(
        [
            "ReaderBase",
            "FixedLengthRecordReader",
            "WholeFileReader",
            "TextLineReader",
            "TFRecordReader",
        ],
        "conveyor.io.readers",
    ),
    **dict.fromkeys(
        [
            "TFRecordWriter",
            "TFRecordOptions",
            "TFRecordCompressionType",
            "tf_record_iterator",
        ],
        "conveyor.io.tfrecord",
    ),
    **dict.fromkeys(["match_files", "open_input"], "conveyor.io.files"),
    **dict.fromkeys(
        [
            "Example",
            "Features",
            "Feature",
            "BytesList",
            "FloatList",
            "Int64List",
            "SequenceExample",
            "FeatureList",
            "FeatureLists",
        ],
        "conveyor.io.example",
    ),
}

__all__ = sorted(_EXPORTS)

# The lazy names, for type checkers and IDEs, which cannot see through __getattr__
# (tests/test_exports.py keeps this list equal to _EXPORTS).
if TYPE_CHECKING:
    from conveyor.io.example import (
        BytesList as BytesList,
        Example as Example,
        Feature as Feature,
        FeatureList as FeatureList,
        FeatureLists as FeatureLists,
        Features as Features,
        FloatList as FloatList,
        Int64List as Int64List,
        SequenceExample as SequenceExample,
    )
    from conveyor.io.files import (
        match_files as match_files,
        open_input as open_input,
    )
    from conveyor.io.producers import (
        SliceSource as SliceSource,
        input_producer as input_producer,
        match_filenames_once as match_filenames_once,
        range_input_producer as range_input_producer,
        slice_input_producer as slice_input_producer,
        string_input_producer as string_input_producer,
    )
    from conveyor.io.readers import (
        FixedLengthRecordReader as FixedLengthRecordReader,
        ReaderBase as ReaderBase,
        TextLineReader as TextLineReader,
        TFRecordReader as TFRecordReader,
        WholeFileReader as WholeFileReader,
    )
    from conveyor.io.tfrecord import (
        TFRecordCompressionType as TFRecordCompressionType,
        TFRecordOptions as TFRecordOptions,
        TFRecordWriter as TFRecordWriter,
        tf_record_iterator as tf_record_iterator,
    )
else:
    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
