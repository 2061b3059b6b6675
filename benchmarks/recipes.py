"""The fused recipes alone: µs per batch of each recipe and layout, one thread.

Run ``PYTHONPATH=src python benchmarks/recipes.py`` (``--help`` for sizes). Every recipe
of :mod:`conveyor.image.recipes` runs on batches of 128 random indices into 50,000
CIFAR-10 records held in memory (their CHW bytes read in place, as
``cifar10.distorted_inputs`` reads its memory-mapped files), into one reused buffer:

* NHWC (TensorFlow's layout) and NCHW (``channels_first=True``, PyTorch's);
* ``rng`` a ``numpy.random.Generator`` (the draws are NumPy calls, on the GIL) or a
  ``GeneratorSeed`` (the kernel makes the same draws itself);
* the baseline, in the same rounds: the recipe's NumPy reference on the same batches.

The rows take turns, ``--rounds`` times; each turn times ``--batches`` batches, and the
report gives the median (min-max) µs per batch and the median ratio to the reference.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from conveyor.core.seeds import GeneratorSeed
from conveyor.image import recipes

BATCH = 128


def records(n: int) -> recipes.Sources:
    """``n`` random CIFAR-10 records' images, as the CIFAR inputs read them."""
    raw = np.random.default_rng(0).integers(0, 256, (n, 1 + 3 * 32 * 32), dtype=np.uint8)
    return recipes.Sources(raw[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))


RECIPES: dict[str, Callable[[bool], recipes.Recipe]] = {
    "tutorial_train": lambda cf: recipes.tutorial_train(channels_first=cf),
    "tutorial_eval": lambda cf: recipes.tutorial_eval(channels_first=cf),
    "standard_train": lambda cf: recipes.standard_train(channels_first=cf),
    "standard_train cutout=8": lambda cf: recipes.standard_train(cutout=8, channels_first=cf),
}


def runs(sources: recipes.Sources, batches: int) -> dict[str, Callable[[], None]]:
    """One callable per row: *batches* batches of it."""
    index = np.random.default_rng(1).integers(0, len(sources), (batches, BATCH))
    rows: dict[str, Callable[[], None]] = {}
    for name, make in RECIPES.items():
        for layout, channels_first in (("NHWC", False), ("NCHW", True)):
            recipe = make(channels_first)
            out = np.empty(recipe.output_shape(BATCH, sources.image_shape), np.float32)

            def generator(recipe=recipe, out=out) -> None:
                rng = np.random.default_rng(2)
                for i in range(batches):
                    recipe(sources, rng, index=index[i], out=out)

            def seed(recipe=recipe, out=out) -> None:
                for i in range(batches):
                    recipe(sources, GeneratorSeed.of_words(_WORDS, (0, i)), index=index[i], out=out)

            rows[f"{name} {layout} generator"] = generator
            rows[f"{name} {layout} seed"] = seed
        reference = make(False)

        def slow(recipe=reference) -> None:
            rng = np.random.default_rng(2)
            for i in range(max(1, batches // 20)):  # ~40x slower: fewer batches
                recipe.reference(sources, rng, index=index[i])

        rows[f"{name} reference"] = slow
    return rows


_WORDS = GeneratorSeed(0).entropy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000, help="images to gather from")
    parser.add_argument("--batches", type=int, default=200, help="batches per timed turn")
    parser.add_argument("--rounds", type=int, default=5, help="turns of every row")
    args = parser.parse_args()
    batches = args.batches
    rows = runs(records(args.records), batches)
    for run in rows.values():  # warm up: compile (or load) every specialisation
        run()
    times: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(args.rounds):
        for name, run in rows.items():
            n = max(1, batches // 20) if name.endswith("reference") else batches
            start = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - start) / n * 1e6)
    print(
        f"fused recipes, one thread, batches of {BATCH} from {args.records:,} records; "
        f"median (min-max) of {args.rounds} interleaved rounds"
    )
    print(f"{'row':42s} {'us/batch':>22s} {'images/s':>11s} {'x reference':>12s}")
    for name, ts in times.items():
        recipe = name.rsplit(" ", 2)[0] if not name.endswith("reference") else name[:-10]
        base = times[f"{recipe} reference"]
        ratio = statistics.median(b / t for b, t in zip(base, ts))
        med = statistics.median(ts)
        print(
            f"{name:42s} {med:8.1f} ({min(ts):6.1f}-{max(ts):6.1f}) "
            f"{BATCH / med * 1e6:11,.0f} {ratio:11.1f}x"
        )


if __name__ == "__main__":
    main()
