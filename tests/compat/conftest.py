"""Every test starts on a fresh default graph, and none can hang: concurrency tests
fail on a per-test timeout instead."""

from pathlib import Path

import pytest

import conveyor.compat.v1 as tf


@pytest.fixture(autouse=True)
def _fresh_graph():
    tf.reset_default_graph()
    yield
    tf.reset_default_graph()


HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items):
    for item in items:
        if HERE not in Path(item.path).resolve().parents:
            continue  # the hook sees every test of the run; only ours get 30 s
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(30))
