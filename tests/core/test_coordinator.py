"""The Coordinator's contract, as TensorFlow's tf.train.Coordinator."""

from __future__ import annotations

import sys
import threading
import time
import traceback

import pytest

from conveyor import Coordinator, LooperThread
from conveyor.errors import InvalidArgumentError, OutOfRangeError

pytestmark = pytest.mark.timeout(30)


def _raise_in_worker(coord: Coordinator, started: threading.Event) -> None:
    with coord.stop_on_exception():
        started.set()
        _fail_deep_inside()


def _fail_deep_inside() -> None:
    raise ValueError("worker failed")


def test_should_stop_is_false_until_request_stop():
    coord = Coordinator()
    assert not coord.should_stop()
    coord.request_stop()
    assert coord.should_stop()


def test_request_stop_wakes_every_waiting_thread():
    coord = Coordinator()
    woke = []
    threads = [
        threading.Thread(target=lambda: woke.append(coord.wait_for_stop())) for _ in range(5)
    ]
    for t in threads:
        t.start()
    time.sleep(0.05)
    assert woke == []
    coord.request_stop()
    coord.join(threads)
    assert woke == [True] * 5


def test_wait_for_stop_times_out_with_false():
    coord = Coordinator()
    assert coord.wait_for_stop(0.01) is False


def test_join_reraises_the_first_exception_with_its_original_traceback():
    coord = Coordinator()
    started = threading.Event()
    t = threading.Thread(target=_raise_in_worker, args=(coord, started))
    t.start()
    with pytest.raises(ValueError, match="worker failed") as info:
        coord.join([t])
    frames = [f.name for f in traceback.extract_tb(info.value.__traceback__)]
    assert "_fail_deep_inside" in frames and "_raise_in_worker" in frames
    assert coord.joined


def test_only_the_first_reported_exception_is_kept():
    coord = Coordinator()
    coord.request_stop(KeyError("first"))
    coord.request_stop(IndexError("second"))
    with pytest.raises(KeyError, match="first"):
        coord.raise_requested_exception()
    with pytest.raises(KeyError):
        coord.join([])


def test_exc_info_tuples_are_accepted():
    coord = Coordinator()
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        coord.request_stop(sys.exc_info())
    with pytest.raises(RuntimeError, match="boom"):
        coord.join()


def test_out_of_range_is_a_clean_stop_not_an_error():
    coord = Coordinator()
    coord.request_stop(OutOfRangeError("end of input"))
    assert coord.should_stop()
    coord.raise_requested_exception()  # nothing to raise
    coord.join([])


def test_stop_on_exception_treats_out_of_range_as_clean():
    coord = Coordinator()
    with coord.stop_on_exception():
        raise OutOfRangeError("done")
    assert coord.should_stop()
    coord.join([])


def test_custom_clean_stop_exception_types():
    coord = Coordinator(clean_stop_exception_types=(StopIteration,))
    coord.request_stop(StopIteration())
    coord.join([])
    coord2 = Coordinator(clean_stop_exception_types=(StopIteration,))
    coord2.request_stop(OutOfRangeError("not clean here"))
    with pytest.raises(OutOfRangeError):
        coord2.join([])


def test_clear_stop_allows_a_restart():
    coord = Coordinator()
    coord.request_stop(ValueError("x"))
    with pytest.raises(ValueError):
        coord.join([])
    coord.clear_stop()
    assert not coord.should_stop() and not coord.joined
    coord.raise_requested_exception()
    coord.request_stop()
    coord.join([])


def test_join_waits_for_threads_that_end_without_a_stop():
    coord = Coordinator()
    done = []
    t = threading.Thread(target=lambda: (time.sleep(0.1), done.append(1)))
    t.start()
    coord.join([t])
    assert done == [1] and not coord.should_stop()


def test_join_names_threads_alive_after_the_grace_period():
    coord = Coordinator()
    release = threading.Event()
    t = threading.Thread(target=release.wait, name="stubborn-worker", daemon=True)
    t.start()
    coord.request_stop()
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="stubborn-worker"):
        coord.join([t], stop_grace_period_secs=0.2)
    assert time.monotonic() - t0 < 2
    release.set()
    t.join()


def test_join_ignore_live_threads_logs_instead_of_raising():
    coord = Coordinator()
    release = threading.Event()
    t = threading.Thread(target=release.wait, daemon=True)
    t.start()
    coord.request_stop()
    coord.join([t], stop_grace_period_secs=0.05, ignore_live_threads=True)
    release.set()
    t.join()


def test_registered_threads_are_joined():
    coord = Coordinator()
    ran = []
    t = threading.Thread(target=lambda: ran.append(coord.wait_for_stop()))
    coord.register_thread(t)
    t.start()
    coord.request_stop()
    coord.join()
    assert ran == [True] and not t.is_alive()


def test_request_stop_with_an_error_after_join_raises_it_in_the_caller():
    coord = Coordinator()
    coord.request_stop()
    coord.join([])
    with pytest.raises(ValueError, match="late"):
        coord.request_stop(ValueError("late"))
    coord.request_stop()  # no error: nothing raised


def test_loop_calls_its_target_periodically_until_stop():
    coord = Coordinator()
    calls = []
    looper = coord.loop(0.01, calls.append, args=(1,))
    time.sleep(0.2)
    coord.request_stop()
    coord.join([looper])
    assert 3 <= len(calls) <= 40 and set(calls) == {1}


def test_looper_reports_its_exception():
    coord = Coordinator()

    def bad():
        raise KeyError("looper")

    looper = coord.loop(0.01, bad)
    with pytest.raises(KeyError, match="looper"):
        coord.join([looper])


_BAD_SECONDS = [(float("nan"), "nan"), (-1, "-1"), (True, "True"), ("soon", "'soon'")]


@pytest.mark.parametrize(("bad", "shown"), _BAD_SECONDS)
def test_wait_for_stop_refuses_a_nan_negative_bool_or_non_number_timeout(bad, shown):
    coord = Coordinator()
    coord.request_stop()  # it would return at once: refused anyway
    with pytest.raises(InvalidArgumentError) as info:
        coord.wait_for_stop(bad)
    assert str(info.value) == f"timeout must be None or a number of seconds >= 0, got {shown}"


@pytest.mark.timeout(5)
@pytest.mark.parametrize("forever", [float("inf"), 1e300], ids=["inf", "1e300"])
def test_wait_for_stop_with_an_infinite_timeout_waits_for_the_stop(forever):
    coord = Coordinator()
    woke = []
    t = threading.Thread(target=lambda: woke.append(coord.wait_for_stop(forever)))
    t.start()
    time.sleep(0.05)
    assert woke == []
    coord.request_stop()
    t.join(2)
    assert woke == [True]


@pytest.mark.parametrize(("bad", "shown"), _BAD_SECONDS)
def test_join_refuses_a_bad_grace_period_before_waiting(bad, shown):
    coord = Coordinator()
    coord.request_stop()
    with pytest.raises(InvalidArgumentError) as info:
        coord.join([], stop_grace_period_secs=bad)
    assert str(info.value) == (
        f"stop_grace_period_secs must be None or a number of seconds >= 0, got {shown}"
    )
    assert not coord.joined


@pytest.mark.timeout(5)
def test_join_with_an_infinite_grace_period_waits_for_the_threads():
    coord = Coordinator()
    release = threading.Event()
    t = threading.Thread(target=release.wait, daemon=True)
    t.start()
    coord.request_stop()
    threading.Timer(0.1, release.set).start()
    coord.join([t], stop_grace_period_secs=float("inf"))
    assert not t.is_alive() and coord.joined


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        *((b, f"a number of seconds >= 0, got {shown}") for b, shown in _BAD_SECONDS),
        (float("inf"), "a finite number of seconds >= 0, got inf"),
    ],
)
def test_looper_refuses_a_bad_interval_before_registering(bad, message):
    coord = Coordinator()
    with pytest.raises(InvalidArgumentError) as info:
        coord.loop(bad, lambda: None)
    assert str(info.value) == f"timer_interval_secs must be None or {message}"
    coord.join([])  # returns at once: no thread was registered


def test_clean_stop_exception_types_must_be_exception_classes():
    with pytest.raises(InvalidArgumentError) as info:
        Coordinator(clean_stop_exception_types=[KeyError, 5])
    assert str(info.value) == (
        f"clean_stop_exception_types must be exception classes, got 5 in [{KeyError!r}, 5]"
    )
    coord = Coordinator(clean_stop_exception_types=KeyError)  # one class is enough
    coord.request_stop(KeyError("done"))
    coord.join([])  # a clean stop: nothing raised


def test_looper_refuses_a_target_that_is_not_callable_and_a_coord_that_is_not_one():
    coord = Coordinator()
    with pytest.raises(InvalidArgumentError) as info:
        coord.loop(0.01, "tick")
    assert str(info.value) == "target must be callable, got 'tick'"
    with pytest.raises(ValueError, match="coord must be a Coordinator"):  # still a ValueError
        LooperThread("coord", 0.01, target=print)
    coord.join([])
