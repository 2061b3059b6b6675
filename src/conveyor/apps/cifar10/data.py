"""The training and evaluation inputs of the CIFAR-10 system, by recipe.

============  ==============================================================  =======
recipe        training images                                                 size
============  ==============================================================  =======
``tutorial``  :func:`conveyor.datasets.cifar10.distorted_inputs`: the          24x24
              tutorial's crop, flip, brightness, contrast, standardization
``standard``  :func:`conveyor.datasets.cifar10.standard_train_inputs`: pad 4,  32x32
              random crop, flip, per-channel normalization
``digits``    :func:`digits_train_inputs`: pad 4 and a random crop, per-image  32x32
              standardization — *no flip*: a mirrored digit is another digit
============  ==============================================================  =======

Evaluation uses the matching undistorted input: the tutorial's central crop and
standardization (:func:`conveyor.datasets.cifar10.inputs`), the whole image normalized
per channel (``standard``) or standardized per image (``digits``). Every pipeline yields
NCHW float32 images and int32 labels, in deterministic mode with its seed, so it
resumes exactly from its ``state_dict()``.

``data_dir`` may be an fsspec URL (``s3://bucket/cifar10``, ``gs://…``; shared storage
for data-parallel training): :func:`local_data_dir` copies its record files once into
the local cache (:func:`conveyor.datasets.cache_dir`), where they are memory-mapped.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from functools import partial
from typing import Any

import numpy as np

from conveyor import image
from conveyor.core.errors import NotFoundError
from conveyor.datasets import cache_dir, cifar10
from conveyor.datasets._cifar_input import run_seed
from conveyor.image import recipes
from conveyor.io.files import is_url, open_input
from conveyor.pipeline import Pipeline, from_arrays

__all__ = [
    "RECIPES",
    "digits_train_inputs",
    "eval_inputs",
    "image_size",
    "local_data_dir",
    "train_inputs",
]

RECIPES = ("tutorial", "standard", "digits")


def image_size(recipe: str) -> int:
    """The side of the images ``recipe`` delivers."""
    _check(recipe)
    return 24 if recipe == "tutorial" else 32


def local_data_dir(data_dir: Any) -> Any:
    """``data_dir`` itself when it is local; for an fsspec URL, a local copy of its
    CIFAR-10 files (``cifar-10-batches-bin/`` under the URL, or the URL being that
    folder) in ``cache_dir()/remote/``, fetched once — each file to a temporary name,
    then renamed, so processes copying at once never see half a file.

    Raises:
        NotFoundError: the URL holds no CIFAR-10 training files.
        ImportError: fsspec, or the package its filesystem needs, is not installed.
    """
    if data_dir is None or not is_url(str(data_dir)):
        return data_dir
    url = str(data_dir).rstrip("/")
    root = cache_dir() / "remote" / hashlib.sha256(url.encode()).hexdigest()[:16]
    target = root / cifar10.FOLDER
    names = (*cifar10.TRAIN_FILES, *cifar10.TEST_FILES)
    if all((target / name).is_file() for name in names):
        return str(root)
    folder = f"{url}/{cifar10.FOLDER}"
    try:
        open_input(f"{folder}/{names[0]}").close()
    except NotFoundError:
        folder = url  # the URL is the folder itself
    target.mkdir(parents=True, exist_ok=True)
    for name in (*names, cifar10.META):
        if (target / name).is_file():
            continue
        try:
            source = open_input(f"{folder}/{name}")
        except NotFoundError:
            if name == cifar10.META:
                continue  # the class names are optional
            raise
        temporary = target / f".{name}.{uuid.uuid4().hex}"
        try:
            with source, open(temporary, "wb") as out:
                while chunk := source.read(1 << 22):
                    out.write(chunk)
            os.replace(temporary, target / name)
        finally:
            temporary.unlink(missing_ok=True)
    return str(root)


def _check(recipe: str) -> None:
    if recipe not in RECIPES:
        raise ValueError(f"recipe must be one of {RECIPES}, got {recipe!r}")


class _Images:
    """The images and labels of a split, in memory (uint8 NHWC), gathered by index."""

    def __init__(self, data_dir: Any, eval_data: bool) -> None:
        records = cifar10.load_records(data_dir, eval_data=eval_data)
        self.images = np.concatenate([cifar10.images_of(r) for r in records])
        self.labels = np.concatenate([cifar10.labels_of(r) for r in records]).astype(np.int32)

    def __len__(self) -> int:
        return len(self.labels)


class _DigitsAugment:
    """A batch of indices → ``(images, labels)``: pad 4, a random 32x32 crop, per-image
    standardization, NCHW."""

    __name__ = "digits_augment"

    def __init__(self, split: _Images) -> None:
        self.split = split
        self.steps = image.Compose(
            [
                partial(image.pad_and_random_crop, padding=4, size=(32, 32)),
                image.per_image_standardization,
            ]
        )

    def __call__(
        self, index: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        batch = self.steps(self.split.images[index], rng)
        return np.ascontiguousarray(batch.transpose(0, 3, 1, 2)), self.split.labels[index]


class _Undistorted:
    """A batch of indices → ``(images, labels)`` through a recipe without draws."""

    __name__ = "undistorted"

    def __init__(self, split: _Images, recipe: recipes.Recipe) -> None:
        self.split, self.recipe = split, recipe
        self.sources = recipes.Sources(split.images)
        self.rng = np.random.default_rng(0)  # the recipe draws nothing

    def __call__(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.recipe(self.sources, self.rng, index=index), self.split.labels[index]


def _indices(
    n: int,
    batch_size: int,
    shuffle: bool,
    seed: int | None,
    epochs: int | None,
    shard: tuple[int, int] | None = None,
) -> Pipeline:
    source = from_arrays(
        np.arange(n, dtype=np.int64),
        shuffle=shuffle,
        seed=seed,
        epochs=epochs,
        chunk_size=max(batch_size, 1024),
    )
    # Sharded at the source: this rank's rows of each epoch's order, before any batch
    # is cut or augmented.
    return source if shard is None else source.shard(*shard)


def digits_train_inputs(
    data_dir: Any,
    batch_size: int = 128,
    *,
    seed: int | None = None,
    epochs: int | None = None,
    threads: int = 1,
    shard: tuple[int, int] | None = None,
) -> Pipeline:
    """Training batches for the embedded digits: every epoch a seeded permutation, each
    image padded by 4, randomly cropped back to 32x32 (a shift of up to one source
    pixel) and standardized; no flip. Batches are full, NCHW. ``shard=(index, count)``:
    the images ``index, index + count, …`` of each epoch's permutation (the same on
    every rank with the same seed), taken before batching."""
    split = _Images(data_dir, eval_data=False)
    return (
        _indices(len(split), batch_size, True, seed, epochs, shard)
        .batch(batch_size, drop_remainder=True)
        .map(_DigitsAugment(split), rng=True, threads=threads)
        .with_options(deterministic=True, seed=run_seed(seed, shard, True))
    )


def train_inputs(
    recipe: str,
    data_dir: Any,
    batch_size: int,
    *,
    seed: int | None = None,
    epochs: int | None = None,
    threads: int = 2,
    shard: tuple[int, int] | None = None,
) -> Pipeline:
    """The training pipeline of ``recipe`` (see the module's table), NCHW.

    ``shard=(index, count)``: rank ``index`` of ``count`` data-parallel ranks reads and
    augments only its own records — ``index, index + count, …`` of each epoch's
    permutation, sharded at the source — in batches of ``batch_size`` (its share of
    the global batch)."""
    _check(recipe)
    if recipe == "tutorial":
        return cifar10.distorted_inputs(
            data_dir,
            batch_size,
            seed=seed,
            epochs=epochs,
            threads=threads,
            channels_first=True,
            shard=shard,
        )
    if recipe == "standard":
        return cifar10.standard_train_inputs(
            data_dir,
            batch_size,
            seed=seed,
            epochs=epochs,
            threads=threads,
            channels_first=True,
            shard=shard,
        )
    return digits_train_inputs(
        data_dir, batch_size, seed=seed, epochs=epochs, threads=threads, shard=shard
    )


def eval_inputs(
    recipe: str,
    data_dir: Any,
    batch_size: int,
    *,
    eval_data: bool = True,
    threads: int = 1,
) -> Pipeline:
    """Every image of the test set (or, ``eval_data=False``, the training set) once, in
    order, undistorted as ``recipe`` evaluates; the last batch may be short."""
    _check(recipe)
    if recipe == "tutorial":
        return cifar10.inputs(data_dir, batch_size, eval_data, threads=threads, channels_first=True)
    split = _Images(data_dir, eval_data=eval_data)
    fn: Any
    if recipe == "standard":
        fn = _Normalized(split)
    else:
        fn = _Undistorted(split, recipes.tutorial_eval(32, channels_first=True))
    return (
        _indices(len(split), batch_size, False, None, 1)
        .batch(batch_size)
        .map(fn, threads=threads)
        .with_options(deterministic=True)
    )


class _Normalized:
    """A batch of indices → ``(images, labels)`` normalized per channel by CIFAR-10's
    mean and std, as ``standard`` training does, without its crop and flip."""

    __name__ = "normalize"

    def __init__(self, split: _Images) -> None:
        self.split = split

    def __call__(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        batch = image.normalize(
            self.split.images[index], mean=recipes.CIFAR10_MEAN, std=recipes.CIFAR10_STD
        )
        return np.ascontiguousarray(batch.transpose(0, 3, 1, 2)), self.split.labels[index]
