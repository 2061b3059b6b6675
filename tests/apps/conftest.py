"""The training system's tests need torch (and TensorBoard for the summaries); tiny
models and a few steps keep them quick on two cores."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
