"""The pipeline: describe an input pipeline, then iterate it to run it.

``Pipeline`` is an immutable description; ``iter(pipe)`` returns a
``PipelineIterator`` that owns one run (its threads, stats and resumable state).
``Stage`` is the template for stages of your own (``pipe.apply(stage)``).
"""

from conveyor.pipeline.bucket import bucket_by_sequence_length
from conveyor.pipeline.iterator import PipelineIterator
from conveyor.pipeline.pipeline import (
    Pipeline,
    concatenate,
    files,
    fixed_length_records,
    from_arrays,
    from_iterable,
    interleave,
    mix,
    range as range,
    zip as zip,
)
from conveyor.pipeline.stage import (
    INFINITE,
    UNKNOWN,
    EndOfStream,
    Output,
    Stage,
    StageContext,
    Unit,
)
from conveyor.pipeline.stats import PipelineStats, StageStats

__all__ = [
    "INFINITE",
    "UNKNOWN",
    "EndOfStream",
    "Output",
    "Pipeline",
    "PipelineIterator",
    "PipelineStats",
    "Stage",
    "StageContext",
    "StageStats",
    "Unit",
    "bucket_by_sequence_length",
    "concatenate",
    "files",
    "fixed_length_records",
    "from_arrays",
    "from_iterable",
    "interleave",
    "mix",
]
# `range` and `zip` are attributes (cp.range, cp.zip) but not star-exports: they would
# shadow the builtins.
