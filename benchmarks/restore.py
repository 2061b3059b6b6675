"""Restore time, 1 to 20 epochs into a run, against replaying the run from its start.

50,000 CIFAR-10-format records (5 files of 10,000 records of 3,073 random bytes, written
to a temporary directory) and two pipelines:

* index — ``fixed_length_records(shuffle=True)`` → ``map(decode, batched=True)`` →
  ``batch(128)``: the source shuffles by index, so its state is ``(epoch, position)``;
* stream — ``files(shuffle=True)`` → ``read(FixedLengthRecordReader)`` →
  ``shuffle(--pool)`` → ``batch(128)``: a restore reopens the reader at its offset and
  re-reads only the shuffle pool's window.

For each position (``--epochs``, in epochs consumed) one uninterrupted run is iterated
there; its ``state_dict()`` is taken and the batch it yields next kept. The figure is the
restore: ``pipe.iterate(state)`` and its first batch, which must equal that kept batch
(a restore that does not is marked ``≠`` and makes the script exit with an error after
the tables). Baseline, in the same rounds: what a restore was before resume marks — a
fresh run that discards every batch already consumed, then yields the next one (also
asserted equal). Rounds take turns over positions and kinds, so that load from elsewhere
on the machine hits them alike; each figure is the median with min-max over rounds.

Run: ``python benchmarks/restore.py`` (``--help`` for rounds, positions and sizes).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import conveyor as cv
import conveyor.pipeline as cp

RECORD = 3073
BATCH = 128
FILES = 5


def decode(records: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = records[:, 0].astype(np.int32)
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images.astype(np.float32) / 255.0, labels


def index_pipeline(folder: Path, epochs: int) -> cp.Pipeline:
    names = sorted(str(p) for p in folder.glob("*.bin"))
    return (
        cp.fixed_length_records(names, record_bytes=RECORD, shuffle=True, seed=0, epochs=epochs)
        .map(decode, batched=True)
        .batch(BATCH)
    )


def stream_pipeline(folder: Path, epochs: int, pool: int) -> cp.Pipeline:
    return (
        cp.files(str(folder / "*.bin"), shuffle=True, seed=0, epochs=epochs)
        .read(cv.FixedLengthRecordReader(RECORD))
        .shuffle(pool, seed=0)
        .batch(BATCH)
    )


def same(a: Any, b: Any) -> bool:
    if isinstance(a, tuple | list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return bool(np.array_equal(a, b))


class Position:
    """A point ``batches`` batches into one uninterrupted run of ``pipe``."""

    def __init__(self, pipe: cp.Pipeline, batches: int) -> None:
        self.pipe = pipe
        self.batches = batches
        with pipe.iterate() as it:
            for _ in range(batches):
                next(it)
            t0 = time.perf_counter()
            self.state = it.state_dict()
            self.state_seconds = time.perf_counter() - t0
            self.expected = next(it)
        self.state_bytes = len(json.dumps(self.state))
        self.exact = True

    def restore(self) -> float:
        """``pipe.iterate(state)`` to its first batch; ``exact`` says whether that batch
        was the run's."""
        t0 = time.perf_counter()
        it = self.pipe.iterate(self.state)
        first = next(it)
        elapsed = time.perf_counter() - t0
        it.close()
        self.exact = self.exact and same(first, self.expected)
        return elapsed

    def replay(self) -> float:
        """A fresh run that discards the consumed batches, to the next one."""
        t0 = time.perf_counter()
        it = self.pipe.iterate()
        for _ in range(self.batches):
            next(it)
        first = next(it)
        elapsed = time.perf_counter() - t0
        it.close()
        assert same(first, self.expected), "the replayed run's batch differs"
        return elapsed


def summary(seconds: list[float]) -> str:
    ms = [s * 1e3 for s in seconds]
    return f"{statistics.median(ms):.1f} ({min(ms):.1f}-{max(ms):.1f})"


def _table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = []
    for r in [head, *rows]:
        cells = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="restores per figure")
    parser.add_argument(
        "--replay-rounds", type=int, default=3, help="replays per figure (seconds each)"
    )
    parser.add_argument(
        "--epochs", type=int, nargs="+", default=[1, 5, 20], help="positions, in epochs"
    )
    parser.add_argument("--records", type=int, default=10_000, help="records per file")
    parser.add_argument("--pool", type=int, default=10_000, help="the stream's shuffle pool")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rng = np.random.default_rng(0)
        for i in range(FILES):
            data = rng.integers(0, 256, size=(args.records, RECORD), dtype=np.uint8)
            (folder / f"data_batch_{i}.bin").write_bytes(data.tobytes())
        per_epoch = FILES * args.records
        total = max(args.epochs) + 1
        pipes = {
            "index": index_pipeline(folder, total),
            "stream": stream_pipeline(folder, total, args.pool),
        }
        t0 = time.perf_counter()
        at = {
            (kind, k): Position(pipe, k * per_epoch // BATCH)
            for k in args.epochs
            for kind, pipe in pipes.items()
        }
        setup = time.perf_counter() - t0
        for position in at.values():  # warm-up: imports, page cache
            position.restore()

        runs: dict[tuple[str, str, int], list[float]] = {}
        for r in range(max(args.rounds, args.replay_rounds)):
            for k in args.epochs:
                for kind in pipes:
                    position = at[kind, k]
                    if r < args.rounds:
                        runs.setdefault(("restore", kind, k), []).append(position.restore())
                    if r < args.replay_rounds:
                        runs.setdefault(("replay", kind, k), []).append(position.replay())

        print(
            f"{per_epoch:,} records of {RECORD} B, batch {BATCH}, stream pool {args.pool:,}; "
            f"restore = iterate(state) + first batch, ms median (min-max) over "
            f"{args.rounds} rounds, replay over {args.replay_rounds}; ≠: the restored "
            f"first batch is not the uninterrupted run's"
        )
        rows = []
        for k in args.epochs:
            ri, rs = runs["restore", "index", k], runs["restore", "stream", k]
            pi, ps = runs["replay", "index", k], runs["replay", "stream", k]
            rows.append(
                (
                    str(k),
                    f"{at['index', k].batches:,}",
                    summary(ri) + ("" if at["index", k].exact else " ≠"),
                    summary(rs) + ("" if at["stream", k].exact else " ≠"),
                    summary(pi),
                    summary(ps),
                    f"{statistics.median(pi) / statistics.median(ri):,.0f}x",
                    f"{statistics.median(ps) / statistics.median(rs):,.0f}x",
                )
            )
        head = (
            "epochs",
            "batches in",
            "index restore",
            "stream restore",
            "index replay",
            "stream replay",
            "index speed-up",
            "stream speed-up",
        )
        print(_table(head, rows))
        print()
        taken: list[tuple[str, ...]] = []
        for k in args.epochs:
            for kind in pipes:
                p = at[kind, k]
                taken.append(
                    (f"{kind}, {k} epochs", f"{p.state_seconds * 1e3:.2f}", f"{p.state_bytes:,}")
                )
        print("state_dict() at each position (one call each)")
        print(_table(("pipeline", "ms", "JSON bytes"), taken))
        print(f"(positions reached by iterating once: {setup:.1f} s)")
        wrong = [f"{kind} at {k} epochs" for (kind, k), p in at.items() if not p.exact]
        if wrong:
            raise SystemExit(
                "restored first batch differs from the uninterrupted run's: " + ", ".join(wrong)
            )


if __name__ == "__main__":
    main()
