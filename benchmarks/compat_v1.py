"""conveyor.compat.v1: the facade's own cost per ``sess.run``, and the CIFAR-10 tutorial's
``cifar10_input`` (examples/tf1/) on it, next to conveyor's native tutorial pipeline.

* ``overhead``: ``sess.run`` of a constant, of a feed through one op, and of a dequeue
  from a queue that always holds an element: microseconds per call, best of runs.
* ``cifar``: images/s of ``distorted_inputs(…, 128)``, the tutorial's TF1 program with
  only the import changed, over conveyor's embedded data (records repeat: the filename
  queue cycles), and of ``conveyor.datasets.cifar10.distorted_inputs``, the native one.

Run: ``PYTHONPATH=src python benchmarks/compat_v1.py [--seconds 5] [--threads 16]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
from pathlib import Path

import conveyor.compat.v1 as tf
from conveyor.datasets import cifar10, embedded

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "tf1" / "cifar10_input.py"


def _per_call(fn, n: int, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best * 1e6


def overhead(n: int = 20000) -> dict[str, float]:
    """Microseconds per ``sess.run`` for three tiny graphs."""
    with tf.Graph().as_default():
        c = tf.constant(1.0)
        x = tf.placeholder(tf.float32, [])
        y = tf.cast(x, tf.int32)
        q = tf.FIFOQueue(10, tf.int32, shapes=[[]])
        one = q.dequeue()
        refill = q.enqueue(one)  # dequeue one element and enqueue it back
        with tf.Session() as sess:
            sess.run(q.enqueue(1))
            return {
                "run(constant)": _per_call(lambda: sess.run(c), n),
                "run(cast(placeholder)), fed": _per_call(lambda: sess.run(y, {x: 1.5}), n),
                "run(dequeue + enqueue)": _per_call(lambda: sess.run(refill), n),
            }


def _load_tutorial(threads: int):
    spec = importlib.util.spec_from_file_location("cifar10_input", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    module.NUM_PREPROCESS_THREADS = threads
    return module


def cifar_compat(seconds: float, threads: int, pool: int) -> float:
    """Images/s of the tutorial's distorted_inputs on the facade (after the pool filled)."""
    module = _load_tutorial(threads)
    module.NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN = int(pool / 0.4)
    with tf.Graph().as_default():
        images, labels = module.distorted_inputs(os.path.join(embedded(), cifar10.FOLDER), 128)
        with tf.Session() as sess:
            coord = tf.train.Coordinator()
            workers = tf.train.start_queue_runners(sess, coord)
            sess.run([images, labels])
            n = 0
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                sess.run([images, labels])
                n += 128
            rate = n / (time.perf_counter() - t0)
            coord.request_stop()
            coord.join(workers)
    return rate


def cifar_native(seconds: float) -> float:
    """Images/s of conveyor.datasets.cifar10.distorted_inputs on the same data."""
    pipe = cifar10.distorted_inputs(embedded(), 128, seed=0)
    n = 0
    it = iter(pipe)
    next(it)
    t0 = time.perf_counter()
    for _ in it:
        n += 128
        if time.perf_counter() - t0 >= seconds:
            break
    return n / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=16, help="the tutorial's preprocess threads")
    parser.add_argument(
        "--pool", type=int, default=2000, help="min_after_dequeue of the shuffle queue"
    )
    args = parser.parse_args()
    print("sess.run overhead (us per call, best of 5):")
    for name, us in overhead().items():
        print(f"  {name:32s} {us:8.1f}")
    print("CIFAR-10 distorted_inputs, batches of 128 (images/s):")
    print(
        f"  {'compat.v1 tutorial cifar10_input':32s} {cifar_compat(args.seconds, args.threads, args.pool):10,.0f}"
    )
    print(f"  {'native cifar10.distorted_inputs':32s} {cifar_native(args.seconds):10,.0f}")


if __name__ == "__main__":
    main()
