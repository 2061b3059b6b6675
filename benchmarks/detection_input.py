"""The detection input — decode, flip, SSD crop, resize with boxes, padded batch — in
images per second, conveyor against PyTorch's ``DataLoader`` doing the same per-image
work, in the same run.

The data: the embedded detection set (``conveyor.datasets.embedded_detection``) as JPEG
files, ``--images`` training images of 128 x 128 with 1 to 4 boxes each. Per image,
both sides run exactly :func:`augment`: read and decode the JPEG
(``CocoDetection.element``), ``random_flip_left_right``, ``random_crop`` (the SSD crop,
``min_object_covered=0.3``), ``resize`` to ``--size`` squared (bilinear, float32; the
compiled kernel, which releases the GIL), with the boxes
moved along. Then batches of ``--batch``: images stacked, boxes and labels padded to the
batch's largest count (0 and -1) with a per-image count.

* conveyor: ``ds.pipeline(shuffle=True, threads=T).map(augment, rng=True, threads=T)
  .batch(B, pad={"boxes": 0, "labels": -1}, lengths={"num_boxes": "boxes"})``, NumPy
  batches;
* DataLoader: a map-style dataset whose ``__getitem__`` runs the same :func:`augment`
  (its generator seeded per image), a custom ``collate_fn`` that pads the same way and
  returns tensors, ``shuffle=True``, ``num_workers`` 0 and 2 (fork).

Each round runs every configuration once, one pass over the images each (thread and
worker start-up included), in turns; the figures are the median and the range over the
rounds.

Run: ``python benchmarks/detection_input.py`` (``--help`` for
sizes). Torch is imported only where the DataLoader runs.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from conveyor.datasets import detection
from conveyor.datasets.coco import CocoDetection
from conveyor.image import boxes as bx

PAD = {"boxes": 0, "labels": -1}
SIZE = (128, 128)


def augment(element: dict[str, Any], rng: np.random.Generator, size=SIZE) -> dict[str, Any]:
    """Flip, SSD crop and resize one element, its boxes moved with its pixels."""
    image, boxes = bx.random_flip_left_right(element["image"], element["boxes"], rng=rng)
    image, boxes, keep = bx.random_crop(image, boxes, rng=rng, min_object_covered=0.3)
    image, boxes = bx.resize(image, boxes, size)
    return {
        "image": image,
        "boxes": boxes,
        "labels": element["labels"][keep],
        "image_id": element["image_id"],
    }


def pad_collate(elements: list[dict[str, Any]]) -> dict[str, Any]:
    """The DataLoader's collate: stack the images, pad boxes and labels, count them."""
    import torch

    counts = np.array([len(e["labels"]) for e in elements], np.int64)
    k = int(counts.max()) if len(counts) else 0
    boxes = np.zeros((len(elements), k, 4), np.float32)
    labels = np.full((len(elements), k), -1, np.int64)
    for i, e in enumerate(elements):
        boxes[i, : counts[i]] = e["boxes"]
        labels[i, : counts[i]] = e["labels"]
    return {
        "image": torch.from_numpy(np.stack([e["image"] for e in elements])),
        "boxes": torch.from_numpy(boxes),
        "labels": torch.from_numpy(labels),
        "num_boxes": torch.from_numpy(counts),
        "image_id": torch.from_numpy(np.array([e["image_id"] for e in elements])),
    }


class AugmentedCoco:
    """A map-style dataset: element ``i`` decoded and augmented (what a worker runs)."""

    def __init__(self, ds: CocoDetection, seed: int, size=SIZE) -> None:
        self.ds = ds
        self.seed = seed
        self.size = size

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int) -> dict[str, Any]:
        rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(i,)))
        return augment(self.ds.element(i), rng, self.size)


def conveyor_batches(ds: CocoDetection, batch: int, threads: int, size=SIZE) -> Iterable[Any]:
    def fn(el: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        return augment(el, rng, size)

    return (
        ds.pipeline(shuffle=True, seed=0, threads=threads)
        .map(fn, rng=True, threads=threads)
        .batch(batch, pad=PAD, lengths={"num_boxes": "boxes"})
        .with_options(seed=0)
    )


def dataloader_batches(ds: CocoDetection, batch: int, workers: int, size=SIZE) -> Iterable[Any]:
    from torch.utils.data import DataLoader

    return DataLoader(
        AugmentedCoco(ds, 0, size),
        batch_size=batch,
        shuffle=True,
        num_workers=workers,
        collate_fn=pad_collate,
    )


def images_per_second(make: Callable[[], Iterable[Any]]) -> float:
    t0 = time.perf_counter()
    n = 0
    for b in make():
        n += len(b["num_boxes"])
    return n / (time.perf_counter() - t0)


def check_same_work(ds: CocoDetection, batch: int) -> None:
    """Both sides make batches of the same shapes and kinds."""
    a = next(iter(conveyor_batches(ds, batch, 1)))
    b = next(iter(dataloader_batches(ds, batch, 0)))
    for key in ("image", "boxes", "labels", "num_boxes"):
        assert a[key].dtype == b[key].numpy().dtype, key
        assert a[key].shape[0] == b[key].shape[0] == batch, key
    assert a["image"].shape[1:] == tuple(b["image"].shape[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="conveyor's threads per map")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", type=int, default=128, help="the side images are resized to")
    parser.add_argument("--data", type=Path, default=None, help="where the set is written")
    args = parser.parse_args()

    tmp = None
    if args.data is None:
        tmp = tempfile.TemporaryDirectory()
        args.data = Path(tmp.name) / "set"
    root = detection.embedded_detection(
        args.data, n_train=args.images, n_test=1, seed=0, image_format="jpeg"
    )
    ds = CocoDetection(detection.annotation_file(root), detection.image_dir(root))
    check_same_work(ds, args.batch)
    size = (args.size, args.size)
    configs: dict[str, Callable[[], Iterable[Any]]] = {
        f"conveyor, map threads={args.threads}": lambda: conveyor_batches(
            ds, args.batch, args.threads, size
        ),
        "conveyor, map threads=1": lambda: conveyor_batches(ds, args.batch, 1, size),
        "DataLoader, num_workers=0": lambda: dataloader_batches(ds, args.batch, 0, size),
        "DataLoader, num_workers=2": lambda: dataloader_batches(ds, args.batch, 2, size),
    }
    for make in configs.values():  # warm: the page cache, numba-free code paths, imports
        images_per_second(make)
    results: dict[str, list[float]] = {name: [] for name in configs}
    for _ in range(args.rounds):
        for name, make in configs.items():
            results[name].append(images_per_second(make))
    baseline = statistics.median(results["DataLoader, num_workers=0"])
    print(
        f"detection input: {args.images} JPEG images 128x128, batch {args.batch}, "
        f"resize to {args.size}x{args.size}, median (min-max) of {args.rounds} rounds"
    )
    print(f"{'workload':32} {'images/s':>10} {'min-max':>15} {'vs DataLoader(0)':>17}")
    for name, values in results.items():
        med = statistics.median(values)
        print(
            f"{name:32} {med:10,.0f} {min(values):7,.0f}-{max(values):<7,.0f} "
            f"{med / baseline:16.2f}x"
        )
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
