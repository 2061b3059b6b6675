"""Every test starts on a fresh default graph, and none can hang: concurrency tests
fail on a per-test timeout instead."""

import pytest

import conveyor.compat.v1 as tf


@pytest.fixture(autouse=True)
def _fresh_graph():
    tf.reset_default_graph()
    yield
    tf.reset_default_graph()


def pytest_collection_modifyitems(items):
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(30))
