"""The CIFAR-10 tutorial's input functions (``cifar10_input.py``), as conveyor pipelines.

:func:`distorted_inputs` is the training input, :func:`inputs` the evaluation input and
:func:`standard_train_inputs` the usual modern training recipe. Each returns a
:class:`~conveyor.pipeline.Pipeline` of ``(images, labels)`` batches — float32 images
(NHWC, or NCHW with ``channels_first=True``) and int32 labels — with ``len()``,
``state_dict()`` and resume.

The shape of the hot path: the record files stay memory-mapped; an epoch is a seeded
permutation of record *indices*; each batch of 128 indices becomes a batch of images in
one fused, GIL-free kernel (:mod:`conveyor.image.recipes`) that gathers, crops, flips,
colours and standardizes straight from the mapped files into a reused buffer
(:class:`~conveyor.image.buffers.BufferPool`). No record is copied and no Python object
is made per image.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from conveyor.core.errors import InvalidArgumentError
from conveyor.core.seeds import GeneratorSeed
from conveyor.datasets import cifar10
from conveyor.image import recipes
from conveyor.image.buffers import BufferPool
from conveyor.pipeline import Pipeline, fixed_length_records, from_arrays

__all__ = ["distorted_inputs", "inputs", "standard_train_inputs"]

#: TF's ``min_fraction_of_examples_in_queue`` for the training pool
MIN_FRACTION_OF_EXAMPLES_IN_QUEUE = 0.4


class _Augment:
    """The batch function: a batch of record indices → ``(images, labels)``.

    One fused recipe call per batch, into a buffer from the pool unless ``copy``.
    """

    def __init__(self, recipe: recipes.Recipe, records: Sequence[np.ndarray], copy: bool) -> None:
        self.recipe = recipe
        self.sources = recipes.Sources([cifar10.images_of(r) for r in records])
        self.labels = np.concatenate([cifar10.labels_of(r) for r in records]).astype(np.int32)
        self.pool = None if copy else BufferPool()
        self.__name__ = f"augment[{recipe!r}]"

    def __call__(
        self, index: np.ndarray, rng: np.random.Generator | GeneratorSeed
    ) -> tuple[np.ndarray, np.ndarray]:
        # ``index`` comes from the pipeline's own permutation: in range, int64. ``rng``
        # is the batch's seed: the kernel draws its numbers without a Generator.
        shape = self.recipe.output_shape(len(index), self.sources.image_shape)
        out = np.empty(shape, np.float32) if self.pool is None else self.pool.get(shape)
        images = self.recipe._batch(self.sources, index, rng, out)
        return images, self.labels[index]


class _AugmentRecords:
    """The batch function of the pool-shuffled form: a batch of records (label byte +
    CHW bytes) → ``(images, labels)``."""

    def __init__(self, recipe: recipes.Recipe, copy: bool) -> None:
        self.recipe = recipe
        self.pool = None if copy else BufferPool()
        self.__name__ = f"augment[{recipe!r}]"

    def __call__(
        self, records: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        images = cifar10.images_of(records)
        out = None
        if self.pool is not None:
            out = self.pool.get(self.recipe.output_shape(len(records), images.shape[1:]))
        return self.recipe(images, rng, out=out), cifar10.labels_of(records).astype(np.int32)


def _check_batch_size(batch_size: Any) -> int:
    if (
        not isinstance(batch_size, int | np.integer)
        or isinstance(batch_size, bool)
        or batch_size < 1
    ):
        raise InvalidArgumentError(f"batch_size must be a positive int, got {batch_size!r}")
    return int(batch_size)


def _check_threads(threads: Any) -> int:
    if not isinstance(threads, int | np.integer) or isinstance(threads, bool) or threads < 1:
        raise InvalidArgumentError(f"threads must be a positive int, got {threads!r}")
    return int(threads)


def _check_shard(shard: Any) -> tuple[int, int] | None:
    if shard is None:
        return None
    try:
        index, count = shard
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"shard must be (index, count), got {shard!r}") from None
    ok = all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in (index, count))
    if not ok or count < 1 or not 0 <= index < count:
        raise InvalidArgumentError(
            f"shard must be (index, count) with 0 <= index < count, got {shard!r}"
        )
    return int(index), int(count)


def run_seed(seed: int | None, shard: tuple[int, int] | None, shuffled: bool) -> int | None:
    """The seed of a sharded run's augmentation: its own on each rank.

    The order of the records comes from ``seed`` itself (the sources are given it
    explicitly), so every rank cuts the same permutation into its share; the
    augmentation draws from a seed that also depends on the rank, so that ranks do not
    crop and flip their k-th batches alike.

    Raises:
        InvalidArgumentError: a shuffled, sharded input without a seed (ranks would
            each draw their own permutation and read overlapping records).
    """
    if shard is None:
        return seed
    if seed is None:
        if shuffled:
            raise InvalidArgumentError(
                "shard needs a seed that every rank shares (seed=...): without it each "
                "rank would shuffle the records its own way and the shards would overlap"
            )
        return None
    return int(np.random.SeedSequence([seed, *shard]).generate_state(1, np.uint64)[0] >> 1)


def _sharded(pipe: Pipeline, shard: tuple[int, int] | None) -> Pipeline:
    """The source's share for one of ``count`` ranks: rows of each epoch's order (the
    same permutation on every rank with the same seed), before anything is computed."""
    return pipe if shard is None else pipe.shard(*shard)


def _batches(
    data_dir: Any,
    eval_data: bool,
    recipe: recipes.Recipe,
    batch_size: int,
    shuffle: Any,
    seed: int | None,
    epochs: int | None,
    threads: int,
    copy: bool,
    drop_remainder: bool,
    shard: Any = None,
) -> Pipeline:
    batch_size = _check_batch_size(batch_size)
    shard = _check_shard(shard)
    threads = _check_threads(threads)
    if not isinstance(copy, bool):
        raise InvalidArgumentError(f"copy must be a bool, got {copy!r}")
    if shuffle == "pool":
        names = cifar10.files(data_dir, eval_data=eval_data)
        records = cifar10.load_records(data_dir, eval_data=eval_data)  # checks every file
        total = sum(len(r) for r in records)
        pool = int(total * MIN_FRACTION_OF_EXAMPLES_IN_QUEUE)
        pipe = (
            _sharded(
                fixed_length_records(
                    names, record_bytes=cifar10.RECORD_BYTES, epochs=epochs, chunk_size=batch_size
                ),
                shard,
            )
            .shuffle(pool // (1 if shard is None else shard[1]), seed=seed)
            .batch(batch_size, drop_remainder=drop_remainder)
            .map(_AugmentRecords(recipe, copy), rng=True, threads=threads)
        )
    elif shuffle == "index" or shuffle is True or shuffle is False:
        records = cifar10.load_records(data_dir, eval_data=eval_data)
        total = sum(len(r) for r in records)
        pipe = (
            _sharded(
                from_arrays(
                    np.arange(total, dtype=np.int64),
                    shuffle=shuffle is not False,  # "index" and True both shuffle
                    seed=seed,
                    epochs=epochs,
                    chunk_size=max(batch_size, 1024),
                ),
                shard,
            )
            .batch(batch_size, drop_remainder=drop_remainder)
            ._map_batches_in_source(_Augment(recipe, records, copy), rng="seed", threads=threads)
        )
    else:
        raise InvalidArgumentError(
            f"shuffle must be 'index' (an exact permutation of the records per epoch), "
            f"'pool' (TF's shuffle_batch pool) or False, got {shuffle!r}"
        )
    return pipe.with_options(deterministic=True, seed=run_seed(seed, shard, shuffle is not False))


def distorted_inputs(
    data_dir: Any,
    batch_size: int = 128,
    *,
    shuffle: Any = "index",
    seed: int | None = None,
    epochs: int | None = None,
    threads: int = 2,
    channels_first: bool = False,
    copy: bool = False,
    shard: Any = None,
) -> Pipeline:
    """The tutorial's training input: distorted, shuffled batches of the training set.

    Each image: a random 24x24 crop, a random left-right flip, a random brightness
    change (max delta 63 on the 0..255 scale), a random contrast factor in [0.2, 1.8]
    and per-image standardization (:func:`conveyor.image.recipes.tutorial_train`).

    Args:
        data_dir: the directory holding ``cifar-10-batches-bin`` (see
            :func:`conveyor.datasets.cifar10.files`).
        batch_size: images per batch; every batch is full (TF's ``shuffle_batch``).
        shuffle: ``"index"`` (default) — every epoch an exact seeded permutation of all
            50,000 records, read in place; ``"pool"`` — TF's semantics: records stream in
            file order through a shuffle pool of ``min_after_dequeue`` = 0.4 x 50,000
            (a window, not a permutation; costs 61 MB and a resume re-reads the pool).
        seed: the seed of every draw (order and augmentation); the same seed gives the
            same batches whatever ``threads``.
        epochs: passes over the data; ``None`` (default) repeats forever, as the
            tutorial's queues do.
        threads: threads running the fused kernel (it releases the GIL).
        channels_first: NCHW batches (PyTorch's layout) instead of NHWC (TF's).
        copy: give every batch a fresh array instead of a pooled buffer. Pooled buffers
            are reused only once nothing refers to them any more, so holding batches is
            always safe; ``copy=True`` only trades speed for never sharing memory.
        shard: ``(index, count)``: this rank's share for data-parallel training — the
            records ``index, index + count, …`` of every epoch's permutation (the same on
            every rank with the same seed), taken at the source, so each rank reads and
            augments only its own images. ``conveyor.torch.shard_for_current_rank`` on the
            returned pipeline would instead drop other ranks' finished batches.

    Returns:
        A pipeline of ``(images, labels)``: float32 ``(batch_size, 24, 24, 3)`` (or
        ``(batch_size, 3, 24, 24)``) and int32 ``(batch_size,)``.

    Raises:
        NotFoundError: the data files are missing (the message says how to get them).
        DataLossError: a file is not whole records.
        InvalidArgumentError: a bad argument.
    """
    recipe = recipes.tutorial_train(channels_first=channels_first)
    return _batches(
        data_dir,
        False,
        recipe,
        batch_size,
        shuffle,
        seed,
        epochs,
        threads,
        copy,
        drop_remainder=True,
        shard=shard,
    )


def inputs(
    data_dir: Any,
    batch_size: int = 128,
    eval_data: bool = True,
    *,
    epochs: int | None = 1,
    threads: int = 2,
    channels_first: bool = False,
    copy: bool = False,
    shard: Any = None,
) -> Pipeline:
    """The tutorial's evaluation input: every image once, in order, undistorted.

    Each image: the central 24x24 crop (``resize_with_crop_or_pad``) and per-image
    standardization (:func:`conveyor.image.recipes.tutorial_eval`). The last batch is
    short when the images do not divide into batches (10,000 test images in batches of
    128: 78 full batches and one of 16).

    Args:
        data_dir: as :func:`distorted_inputs`.
        batch_size: images per batch.
        eval_data: the test set (default) or, ``False``, the training set.
        epochs: passes over the data (default one).
        threads, channels_first, copy, shard: as :func:`distorted_inputs` (a shard of the
            evaluation set is every ``count``-th image, in order).

    Returns:
        A pipeline of ``(images, labels)``.
    """
    if not isinstance(eval_data, bool):
        raise InvalidArgumentError(f"eval_data must be a bool, got {eval_data!r}")
    recipe = recipes.tutorial_eval(channels_first=channels_first)
    return _batches(
        data_dir,
        eval_data,
        recipe,
        batch_size,
        False,
        None,
        epochs,
        threads,
        copy,
        drop_remainder=False,
        shard=shard,
    )


def standard_train_inputs(
    data_dir: Any,
    batch_size: int = 128,
    *,
    padding: int = 4,
    cutout: int = 0,
    mean: Any = recipes.CIFAR10_MEAN,
    std: Any = recipes.CIFAR10_STD,
    shuffle: Any = "index",
    seed: int | None = None,
    epochs: int | None = None,
    threads: int = 2,
    channels_first: bool = False,
    copy: bool = False,
    shard: Any = None,
) -> Pipeline:
    """The usual modern CIFAR training input: zero-pad ``padding``, a random 32x32
    crop, a random flip, per-channel normalization by ``mean``/``std`` (0..255 scale)
    and, when ``cutout`` > 0, a ``cutout`` x ``cutout`` square set to 0
    (:func:`conveyor.image.recipes.standard_train`). Other arguments as
    :func:`distorted_inputs`; batches are ``(batch_size, 32, 32, 3)``.
    """
    recipe = recipes.standard_train(padding, None, mean, std, cutout, channels_first=channels_first)
    return _batches(
        data_dir,
        False,
        recipe,
        batch_size,
        shuffle,
        seed,
        epochs,
        threads,
        copy,
        drop_remainder=True,
        shard=shard,
    )
