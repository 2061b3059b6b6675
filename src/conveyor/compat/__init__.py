"""Compatibility facades over conveyor: :mod:`conveyor.compat.v1` runs TensorFlow 1
input-pipeline programs with only their import changed."""
