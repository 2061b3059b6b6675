"""Command line: ``python -m conveyor demo`` runs a small threaded pipeline end to end,
first wired by hand from queues and runners (the TF1 way), then with the Pipeline API;
``python -m conveyor cifar10 train|eval|features|finetune`` is the CIFAR-10 training system
(:mod:`conveyor.apps.cifar10.cli`) and ``python -m conveyor detection train|eval|predict``
the detector (:mod:`conveyor.apps.detection.cli`), each imported only when its command
runs."""

from __future__ import annotations

import argparse
import sys
import threading
import time

import numpy as np

import conveyor as cv

RECORD_BYTES = 3073  # one CIFAR-10 record: a label byte and a 32x32x3 image


def demo(records: int, batch_size: int, producers: int, seed: int) -> dict[str, float]:
    """Move ``records`` synthetic CIFAR-10 records through a threaded pipeline.

    Producers (QueueRunner threads) write records into a ``RandomShuffleQueue``; a
    batching runner moves them into a ``FIFOQueue`` in batches; the main thread
    dequeues batches until the end of input. Returns what was moved, and the seconds
    the pipeline ran.
    """
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(records, RECORD_BYTES), dtype=np.uint8)
    data[:, 0] = np.arange(records) % 10  # the label byte

    shuffled = cv.RandomShuffleQueue(
        capacity=16 * batch_size,
        min_after_dequeue=4 * batch_size,
        dtypes=["uint8"],
        shapes=[(RECORD_BYTES,)],
        seed=seed,
        name="shuffle",
    )
    batches = cv.FIFOQueue(4, ["uint8", "uint8"], shapes=[(32, 32, 3), ()], name="batches")

    position = {"next": 0}
    lock = threading.Lock()
    chunk = 256

    def produce() -> None:
        with lock:
            start = position["next"]
            if start >= records:
                raise cv.errors.OutOfRangeError("all records produced")
            position["next"] = start + chunk
        shuffled.enqueue_many(data[start : start + chunk])

    def batch() -> None:
        rows = shuffled.dequeue_up_to(batch_size)
        images = rows[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # CHW -> HWC
        batches.enqueue_many((images, rows[:, 0]))

    cv.add_queue_runner(cv.QueueRunner(shuffled, [produce] * producers))
    cv.add_queue_runner(cv.QueueRunner(batches, [batch]))
    coord = cv.Coordinator()
    t0 = time.perf_counter()
    threads = cv.start_queue_runners(coord=coord)
    moved: dict[str, float] = {"batches": 0, "records": 0, "label_sum": 0}
    try:
        while not coord.should_stop():
            _, labels = batches.dequeue_up_to(batch_size)
            moved["batches"] += 1
            moved["records"] += len(labels)
            moved["label_sum"] += int(labels.sum())
    except cv.errors.OutOfRangeError:
        pass
    finally:
        coord.request_stop()
        coord.join(threads)
        cv.clear_queue_runners()
    moved["seconds"] = time.perf_counter() - t0
    return moved


def pipeline_demo(records: int, batch_size: int, threads: int, seed: int) -> tuple[int, int, str]:
    """The same records through the Pipeline API: shuffle, decode, batch.

    Returns ``(records moved, sum of their labels, the pipeline's stats table)``.
    """
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(records, RECORD_BYTES), dtype=np.uint8)
    data[:, 0] = np.arange(records) % 10

    def decode(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        images = rows[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # CHW -> HWC
        return images, rows[:, 0]

    pipe = (
        cv.from_arrays(data, shuffle=True, seed=seed)
        .shuffle(min_after_dequeue=4 * batch_size)
        .map(decode, batched=True, threads=threads)
        .batch(batch_size)
        .prefetch(4)
    )
    moved = label_sum = 0
    for _, labels in pipe:
        moved += len(labels)
        label_sum += int(labels.sum())
    return moved, label_sum, str(pipe.stats())


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else list(argv)
    if args_list[:1] == ["cifar10"]:
        # torch and the training system load only for this command
        try:
            from conveyor.apps.cifar10.cli import main as cifar10_main
        except ImportError as e:
            print(f"conveyor cifar10: {e}", file=sys.stderr)
            return 1

        return cifar10_main(args_list[1:], prog="conveyor cifar10")
    if args_list[:1] == ["detection"]:
        try:
            from conveyor.apps.detection.cli import main as detection_main
        except ImportError as e:
            print(f"conveyor detection: {e}", file=sys.stderr)
            return 1

        return detection_main(args_list[1:], prog="conveyor detection")
    parser = argparse.ArgumentParser(prog="conveyor", description="conveyor command line")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "cifar10",
        help="train and evaluate CIFAR-10 models: cifar10 train|eval (see cifar10 --help)",
        add_help=False,
    )
    sub.add_parser(
        "detection",
        help="train, evaluate and draw a Faster R-CNN: detection train|eval|predict "
        "(see detection --help)",
        add_help=False,
    )
    p = sub.add_parser("demo", help="run a small threaded pipeline end to end")
    p.add_argument("--records", type=int, default=50_000, help="records to move")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--producers", type=int, default=2, help="producer threads")
    p.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(args_list)

    moved = demo(args.records, args.batch_size, args.producers, args.seed)
    seconds = moved["seconds"]
    expected_sum = int((np.arange(args.records) % 10).sum())
    print(
        f"moved {moved['records']:.0f} records ({moved['records'] * RECORD_BYTES / 1e6:.1f} MB) "
        f"in {moved['batches']:.0f} batches through 2 queues with {args.producers} producer "
        f"threads in {seconds:.2f} s ({moved['records'] / seconds:,.0f} records/s)"
    )
    ok = moved["records"] == args.records and moved["label_sum"] == expected_sum
    print(
        "every record arrived exactly once" if ok else "MISMATCH: records were lost or duplicated"
    )

    count, label_sum, table = pipeline_demo(
        args.records, args.batch_size, args.producers, args.seed
    )
    print(f"\nthe same records through conveyor.pipeline (shuffle -> map -> batch):\n{table}")
    pipeline_ok = count == args.records and label_sum == expected_sum
    print(
        "every record arrived exactly once"
        if pipeline_ok
        else "MISMATCH: records were lost or duplicated"
    )
    return 0 if ok and pipeline_ok else 1


if __name__ == "__main__":
    sys.exit(main())
