"""Whole augmentation recipes, each one fused, GIL-free kernel per batch.

A recipe gathers a batch of images by index from uint8 source arrays, augments it and
writes float32 — the work of a chain of :mod:`conveyor.image` ops in one compiled pass
(:mod:`conveyor.image._kernels`). Its NumPy form, :meth:`Recipe.reference`, *is* that
chain of ops, drawing the same random numbers in the same order, and is what the kernel
is tested against (max abs difference ≤ 1e-5). Without numba a recipe runs its reference.

>>> import numpy as np
>>> from conveyor.image import recipes
>>> images = np.random.default_rng(0).integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)
>>> train = recipes.tutorial_train()
>>> batch = train(images, np.random.default_rng(1), index=np.array([3, 1, 4]))
>>> batch.shape, batch.dtype
((3, 24, 24, 3), dtype('float32'))
>>> ref = train.reference(images, np.random.default_rng(1), index=np.array([3, 1, 4]))
>>> bool(np.abs(batch - ref).max() < 1e-5)
True

The recipes:

- :func:`tutorial_train` — the CIFAR-10 tutorial's training distortion
  (``distorted_inputs``): random 24x24 crop, random left-right flip, random brightness
  (max delta 63), random contrast (0.2-1.8), per-image standardization.
- :func:`tutorial_eval` — its evaluation input: the central 24x24 crop
  (``resize_with_crop_or_pad``) and per-image standardization.
- :func:`standard_train` — the usual modern CIFAR recipe: zero-pad 4, random 32x32 crop,
  random flip, per-channel normalization, optionally cutout.

Sources: one ``(M, H, W, C)`` uint8 array, or a sequence of them read as their
concatenation (several record files, without joining them). Any strides will do: the
CHW bytes of CIFAR records viewed as HWC (``records[:, 1:].reshape(-1, 3, 32, 32)
.transpose(0, 2, 3, 1)``) are read in place. Wrap them once in :class:`Sources` when the
same arrays feed every batch.

Thread-safety: a recipe holds no mutable state; any number of threads may call one at
once (each with its own generator and output buffer).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np

from conveyor.core.errors import InvalidArgumentError
from conveyor.core.seeds import GeneratorSeed
from conveyor.image import _kernels, color, geometry
from conveyor.image.compose import Compose

__all__ = [
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "Recipe",
    "Sources",
    "standard_train",
    "tutorial_eval",
    "tutorial_train",
]

# The per-channel mean and standard deviation of CIFAR-10's 50,000 training images, on
# the 0..255 scale.
CIFAR10_MEAN = (125.307, 122.950, 113.865)
CIFAR10_STD = (62.993, 62.089, 66.705)


#: what a kernel is given for ``flat`` when the output is channel-first
_NO_FLAT = np.empty(0, np.float32)


class Sources:
    """uint8 image arrays ``(M_i, H, W, C)`` read as one array of ``sum(M_i)`` rows.

    The kernels read *planar* images — the pixels of each channel's rows adjacent, as in
    CIFAR's CHW records — in place, whatever their other strides. An array that is not
    planar (an ordinary HWC array has its channels adjacent instead) is copied once,
    here, into planar layout; wrap such arrays once, not per batch.

    Args:
        arrays: one 4-d uint8 array or a sequence of them, all with the same
            ``(H, W, C)``.

    Raises:
        InvalidArgumentError: no arrays, a wrong dtype or rank, or differing image shapes.
    """

    def __init__(self, arrays: Any) -> None:
        if isinstance(arrays, Sources):
            self.__dict__.update(arrays.__dict__)
            return
        if isinstance(arrays, np.ndarray):
            arrays = [arrays]
        if not isinstance(arrays, Sequence) or not arrays:
            raise InvalidArgumentError(
                "images must be a (M, H, W, C) uint8 array or a non-empty sequence of them"
            )
        views: list[np.ndarray] = []
        for i, a in enumerate(arrays):
            a = np.asarray(a).view(np.ndarray)
            if a.dtype != np.uint8 or a.ndim != 4:
                raise InvalidArgumentError(
                    f"images[{i}] must be a (M, H, W, C) uint8 array, got {a.dtype} "
                    f"with shape {a.shape}"
                )
            if views and a.shape[1:] != views[0].shape[1:]:
                raise InvalidArgumentError(
                    f"images[{i}] holds images of shape {a.shape[1:]}, images[0] of "
                    f"{views[0].shape[1:]}: every source must hold images of one shape"
                )
            views.append(a)
        self.arrays: tuple[np.ndarray, ...] = tuple(views)
        h, w, c = views[0].shape[1:]
        self._image_shape = (int(h), int(w), int(c))
        self.starts = np.concatenate([[0], np.cumsum([len(a) for a in views])]).astype(np.int64)
        planar = [_planar(a) for a in views if len(a)]
        if not planar:  # no images at all: nothing will be gathered
            planar = [(np.zeros(1, np.uint8), np.zeros(3, np.int64))]
        self.buffers = tuple(b for b, _ in planar)
        self.strides = np.stack([st for _, st in planar])
        if len(planar) < len(views):  # drop empty sources from the kernels' view
            kept = [len(a) for a in views if len(a)]
            self.kernel_starts = np.concatenate([[0], np.cumsum(kept)]).astype(np.int64)
        else:
            self.kernel_starts = self.starts
        #: what every kernel is given first: the planar buffers, their strides, the rows
        #: each starts at
        self.planes = (self.buffers, self.strides, self.kernel_starts)

    def __len__(self) -> int:
        return int(self.starts[-1])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(H, W, C)`` of every image."""
        return self._image_shape

    def gather(self, index: np.ndarray) -> np.ndarray:
        """The images at ``index``, as one new ``(n, H, W, C)`` uint8 array."""
        if len(self.arrays) == 1:
            return self.arrays[0][index]
        k = np.searchsorted(self.starts, index, side="right") - 1
        out = np.empty((len(index), *self.image_shape), np.uint8)
        for f in np.unique(k):
            rows = k == f
            out[rows] = self.arrays[f][index[rows] - self.starts[f]]
        return out

    def index(self, index: Any) -> np.ndarray:
        """``index`` checked: an int64 array of rows in range (all rows for ``None``)."""
        if index is None:
            return np.arange(len(self), dtype=np.int64)
        index = np.asarray(index)
        if index.ndim != 1 or not (np.issubdtype(index.dtype, np.integer) or index.size == 0):
            raise InvalidArgumentError(
                f"index must be a 1-d array of integers, got {index.dtype} with shape {index.shape}"
            )
        index = index.astype(np.int64, copy=False)
        if index.size and (index.min() < 0 or index.max() >= len(self)):
            bad = index[(index < 0) | (index >= len(self))][0]
            raise InvalidArgumentError(
                f"index {int(bad)} is out of range for {len(self)} source images"
            )
        return index


def _planar(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``images`` as a flat uint8 buffer and its (image, row, channel) byte strides.

    A view with adjacent pixels in each channel row and no negative stride is used as
    it is; anything else is first copied into CHW order.
    """
    s0, s1, s2, s3 = images.strides
    if s2 != 1 or min(images.strides) < 0:
        images = np.ascontiguousarray(images.transpose(0, 3, 1, 2)).transpose(0, 2, 3, 1)
        s0, s1, s2, s3 = images.strides
    span = 1 + sum((n - 1) * s for n, s in zip(images.shape, images.strides))
    flat = np.lib.stride_tricks.as_strided(images, shape=(span,), strides=(1,), writeable=False)
    return flat, np.array([s0, s1, s3], np.int64)


def _rng(rng: Any) -> np.random.Generator | GeneratorSeed:
    if not isinstance(rng, np.random.Generator | GeneratorSeed):
        raise InvalidArgumentError(
            f"rng must be a numpy.random.Generator or a GeneratorSeed, got {rng!r}"
        )
    return rng


def _generator(rng: Any) -> np.random.Generator:
    rng = _rng(rng)
    return rng.generator() if isinstance(rng, GeneratorSeed) else rng


def _seeded(rng: np.random.Generator | GeneratorSeed) -> bool:
    """Whether a kernel makes ``rng``'s draws itself (a seed, not a generator)."""
    return isinstance(rng, GeneratorSeed) and rng.compiled


class Recipe:
    """A chain of image ops over a batch gathered by index, fused into one kernel.

    Call it as ``recipe(images, rng, index=None, out=None)``: ``images`` are the sources
    (an array, a sequence of arrays or :class:`Sources`), ``index`` the rows to gather
    (default: all, in order), ``out`` an optional C-contiguous float32 buffer of
    :meth:`output_shape` to write into (a new array otherwise). Returns the float32
    batch, NHWC, or NCHW for a recipe made with ``channels_first=True``. ``rng``
    supplies every random draw, in the order of the steps (:meth:`steps`): a
    ``numpy.random.Generator`` (its stream advances), or a
    :class:`~conveyor.core.seeds.GeneratorSeed` — the numbers of the generator it makes,
    drawn inside the kernel without making it (about 18 µs of Python less per batch,
    which is what a pipeline's per-batch seeds are for).
    """

    size: tuple[int, int] | None = None
    channels_first = False

    def steps(self, image_shape: tuple[int, int, int]) -> Compose:
        """The chain of :mod:`conveyor.image` ops this recipe is, for images of
        ``image_shape`` ``(H, W, C)``: its reference."""
        raise NotImplementedError

    def _crop(self, image_shape: tuple[int, int, int]) -> tuple[int, int]:
        return self.size or (image_shape[0], image_shape[1])

    def output_shape(self, n: int, image_shape: tuple[int, int, int]) -> tuple[int, ...]:
        """The shape of a batch of ``n`` images made from images of ``image_shape``."""
        h, w = self._crop(image_shape)
        c = image_shape[2]
        return (n, c, h, w) if self.channels_first else (n, h, w, c)

    def _check(self, image_shape: tuple[int, int, int]) -> None:
        """Raise unless images of ``image_shape`` suit this recipe."""
        h, w = self._crop(image_shape)
        if h > image_shape[0] or w > image_shape[1]:
            raise InvalidArgumentError(
                f"the crop {(h, w)} is larger than the images {image_shape[:2]}"
            )

    def _kernel(
        self,
        sources: Sources,
        index: np.ndarray,
        rng: np.random.Generator | GeneratorSeed,
        out: np.ndarray,
        flat: np.ndarray,
    ) -> None:
        raise NotImplementedError

    def __call__(
        self, images: Any, rng: Any, *, index: Any = None, out: np.ndarray | None = None
    ) -> np.ndarray:
        sources = Sources(images)
        rng = _rng(rng)
        self._check(sources.image_shape)
        index = sources.index(index)
        shape = self.output_shape(len(index), sources.image_shape)
        if out is None:
            out = np.empty(shape, np.float32)
        elif (
            not isinstance(out, np.ndarray)
            or out.shape != shape
            or out.dtype != np.float32
            or not out.flags.c_contiguous
            or not out.flags.writeable
        ):
            raise InvalidArgumentError(
                f"out must be a writable C-contiguous float32 array of shape {shape}, got "
                f"{getattr(out, 'dtype', type(out).__name__)} {getattr(out, 'shape', '')}"
            )
        return self._batch(sources, index, rng, out)

    def _batch(
        self,
        sources: Sources,
        index: np.ndarray,
        rng: np.random.Generator | GeneratorSeed,
        out: np.ndarray,
    ) -> np.ndarray:
        """The call after its checks (for callers that made ``index`` and ``out``)."""
        if not _kernels.AVAILABLE or not len(index):
            out[...] = self.reference(sources, rng, index=index)
            return out
        if self.channels_first:
            self._kernel(sources, index, rng, out, _NO_FLAT)
        else:  # the kernels see channel-first axes, and the NHWC memory as one row
            self._kernel(sources, index, rng, out.transpose(0, 3, 1, 2), out.reshape(-1))
        return out

    def reference(self, images: Any, rng: Any, *, index: Any = None) -> np.ndarray:
        """The recipe as its chain of NumPy ops (:meth:`steps`): the tested reference.

        Makes the same draws from ``rng`` as the fused kernel, in the same order.
        """
        sources = Sources(images)
        rng = _generator(rng)
        self._check(sources.image_shape)
        batch = sources.gather(sources.index(index))
        result = np.asarray(self.steps(sources.image_shape)(batch, rng), dtype=np.float32)
        return np.ascontiguousarray(result.transpose(0, 3, 1, 2)) if self.channels_first else result

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._describe()}, channels_first={self.channels_first})"

    def _describe(self) -> str:
        raise NotImplementedError


class _TutorialTrain(Recipe):
    def __init__(
        self,
        size: tuple[int, int],
        max_delta: float,
        contrast: tuple[float, float],
        channels_first: bool,
    ):
        self.size = size
        self.max_delta = _number("max_delta", max_delta, minimum=0.0)
        if not np.isfinite(2 * self.max_delta):  # the range of uniform(-d, d), as NumPy's
            raise InvalidArgumentError(
                f"max_delta must be at most {np.finfo(np.float64).max / 2:.3g}, got {max_delta!r}"
            )
        try:
            lower, upper = contrast
        except (TypeError, ValueError):
            raise InvalidArgumentError(
                f"contrast must be (lower, upper), got {contrast!r}"
            ) from None
        self.lower = _number("contrast lower", lower, minimum=0.0)
        self.upper = _number("contrast upper", upper, minimum=self.lower)
        if self.upper <= self.lower:  # as tf.image.random_contrast
            raise InvalidArgumentError(
                f"contrast must have upper > lower, got {(self.lower, self.upper)}"
            )
        self.channels_first = _flag("channels_first", channels_first)

    def steps(self, image_shape: tuple[int, int, int]) -> Compose:
        return Compose(
            [
                _as_float32,
                partial(geometry.random_crop, size=self._crop(image_shape)),
                geometry.random_flip_left_right,
                partial(color.random_brightness, max_delta=self.max_delta),
                partial(color.random_contrast, lower=self.lower, upper=self.upper),
                _standardize,
            ]
        )

    def _describe(self) -> str:
        return f"size={self.size}, max_delta={self.max_delta}, contrast={(self.lower, self.upper)}"

    def _kernel(
        self,
        sources: Sources,
        index: np.ndarray,
        rng: np.random.Generator | GeneratorSeed,
        out: np.ndarray,
        flat: np.ndarray,
    ) -> None:
        n = len(index)
        height, width, _ = sources.image_shape
        assert self.size is not None
        span_y, span_x = height - self.size[0] + 1, width - self.size[1] + 1
        if _seeded(rng):
            _kernels.tutorial_train_seeded(
                *sources.planes,
                index,
                rng.entropy,  # type: ignore[union-attr]
                rng.spawn_key,  # type: ignore[union-attr]
                span_y,
                span_x,
                self.max_delta,
                self.lower,
                self.upper,
                out,
                flat,
            )
            return
        rng = _generator(rng)
        oy = rng.integers(0, span_y, size=n)
        ox = rng.integers(0, span_x, size=n)
        flip = rng.random(n) < 0.5
        rng.uniform(-self.max_delta, self.max_delta, size=n)  # brightness: cancels, still drawn
        factor = rng.uniform(self.lower, self.upper, size=n)
        _kernels.tutorial_train(
            *sources.planes,
            index,
            oy,
            ox,
            flip,
            factor,
            out,
            flat,
        )


class _TutorialEval(Recipe):
    def __init__(self, size: tuple[int, int], channels_first: bool):
        self.size = size
        self.channels_first = _flag("channels_first", channels_first)

    def steps(self, image_shape: tuple[int, int, int]) -> Compose:
        return Compose([partial(_crop_or_pad, size=self._crop(image_shape)), _standardize])

    def _describe(self) -> str:
        return f"size={self.size}"

    def _kernel(
        self,
        sources: Sources,
        index: np.ndarray,
        rng: np.random.Generator | GeneratorSeed,
        out: np.ndarray,
        flat: np.ndarray,
    ) -> None:
        height, width, _ = sources.image_shape
        assert self.size is not None
        # resize_with_crop_or_pad's offsets when it crops
        oy = (height - self.size[0]) // 2
        ox = (width - self.size[1]) // 2
        _kernels.tutorial_eval(*sources.planes, index, oy, ox, out, flat)


class _StandardTrain(Recipe):
    def __init__(
        self,
        padding: int,
        size: tuple[int, int] | None,
        mean: Sequence[float],
        std: Sequence[float],
        cutout: int,
        channels_first: bool,
    ):
        self.padding = _nonnegative("padding", padding)
        self.size = size
        try:
            self.mean = np.asarray(mean, np.float64)
            self.std = np.asarray(std, np.float64)
        except (TypeError, ValueError):
            raise InvalidArgumentError(
                f"mean and std must be sequences of numbers, got {mean!r} and {std!r}"
            ) from None
        if self.mean.ndim != 1 or self.mean.shape != self.std.shape or not self.mean.size:
            raise InvalidArgumentError(
                f"mean and std must be sequences of one value per channel, got {mean!r} and {std!r}"
            )
        if not np.all(self.std > 0):
            raise InvalidArgumentError(f"std must be positive, got {std!r}")
        self._scale, self._offset = 1.0 / self.std, -self.mean / self.std  # x * scale + offset
        self.cutout = _nonnegative("cutout", cutout)
        self.channels_first = _flag("channels_first", channels_first)

    def steps(self, image_shape: tuple[int, int, int]) -> Compose:
        steps: list[Any] = [
            partial(
                geometry.pad_and_random_crop, padding=self.padding, size=self._crop(image_shape)
            ),
            geometry.random_flip_left_right,
            partial(color.normalize, mean=tuple(self.mean), std=tuple(self.std)),
        ]
        if self.cutout:
            steps.append(partial(geometry.cutout, size=self.cutout))
        return Compose(steps)

    def _describe(self) -> str:
        return (
            f"padding={self.padding}, size={self.size}, mean={tuple(map(float, self.mean))}, "
            f"std={tuple(map(float, self.std))}, cutout={self.cutout}"
        )

    def _check(self, image_shape: tuple[int, int, int]) -> None:
        if image_shape[2] != len(self.mean):
            raise InvalidArgumentError(
                f"mean and std have {len(self.mean)} channels, the images {image_shape[2]}"
            )
        h, w = self._crop(image_shape)
        if h > image_shape[0] + 2 * self.padding or w > image_shape[1] + 2 * self.padding:
            raise InvalidArgumentError(
                f"the crop {(h, w)} is larger than the padded images "
                f"{(image_shape[0] + 2 * self.padding, image_shape[1] + 2 * self.padding)}"
            )

    def _kernel(
        self,
        sources: Sources,
        index: np.ndarray,
        rng: np.random.Generator | GeneratorSeed,
        out: np.ndarray,
        flat: np.ndarray,
    ) -> None:
        n = len(index)
        height, width, _ = sources.image_shape
        h, w = self._crop(sources.image_shape)
        span_y = height + 2 * self.padding - h + 1
        span_x = width + 2 * self.padding - w + 1
        if _seeded(rng):
            _kernels.standard_train_seeded(
                *sources.planes,
                index,
                rng.entropy,  # type: ignore[union-attr]
                rng.spawn_key,  # type: ignore[union-attr]
                height,
                width,
                self.padding,
                span_y,
                span_x,
                self._scale,
                self._offset,
                self.cutout,
                out,
                flat,
            )
            return
        rng = _generator(rng)
        oy = rng.integers(0, span_y, size=n)
        ox = rng.integers(0, span_x, size=n)
        flip = rng.random(n) < 0.5
        if self.cutout:
            cy = rng.integers(0, h, size=n)
            cx = rng.integers(0, w, size=n)
        else:
            cy = cx = oy
        _kernels.standard_train(
            *sources.planes,
            index,
            height,
            width,
            self.padding,
            oy,
            ox,
            flip,
            self._scale,
            self._offset,
            self.cutout,
            cy,
            cx,
            0.0,
            out,
            flat,
        )


def _as_float32(images: np.ndarray, *, rng: np.random.Generator) -> np.ndarray:
    return np.asarray(images, np.float32)


def _standardize(images: np.ndarray, *, rng: np.random.Generator) -> np.ndarray:
    return color.per_image_standardization(images)


def _crop_or_pad(
    images: np.ndarray, *, size: tuple[int, int], rng: np.random.Generator
) -> np.ndarray:
    return geometry.resize_with_crop_or_pad(images, size[0], size[1])


def _size(size: Any) -> tuple[int, int]:
    if isinstance(size, int | np.integer) and not isinstance(size, bool):
        size = (size, size)
    try:
        h, w = (v for v in size)
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"size must be an int or (height, width), got {size!r}"
        ) from None
    if not all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) and v >= 1 for v in (h, w)
    ):
        raise InvalidArgumentError(f"size must be positive ints, got {size!r}")
    return int(h), int(w)


def _nonnegative(name: str, value: Any) -> int:
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 0:
        raise InvalidArgumentError(f"{name} must be a non-negative int, got {value!r}")
    return int(value)


def _number(name: str, value: Any, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InvalidArgumentError(f"{name} must be a number, got {value!r}")
    if not np.isfinite(value) or value < minimum:
        raise InvalidArgumentError(f"{name} must be finite and at least {minimum}, got {value!r}")
    return float(value)


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise InvalidArgumentError(f"{name} must be a bool, got {value!r}")
    return bool(value)


def tutorial_train(
    size: int | tuple[int, int] = 24,
    max_delta: float = 63.0,
    contrast: tuple[float, float] = (0.2, 1.8),
    *,
    channels_first: bool = False,
) -> Recipe:
    """The CIFAR-10 tutorial's training distortion, fused.

    Steps (and draws, in order): cast to float32 (0..255), ``random_crop(size)``,
    ``random_flip_left_right``, ``random_brightness(max_delta)``,
    ``random_contrast(*contrast)``, ``per_image_standardization``.

    Args:
        size: the crop, an int or ``(height, width)``.
        max_delta: the brightness change's bound, on the 0..255 scale.
        contrast: the contrast factor's range ``(lower, upper)``.
        channels_first: return NCHW batches (PyTorch's layout) instead of NHWC.
    """
    return _TutorialTrain(_size(size), max_delta, contrast, channels_first)


def tutorial_eval(size: int | tuple[int, int] = 24, *, channels_first: bool = False) -> Recipe:
    """The CIFAR-10 tutorial's evaluation input, fused: the central crop
    (``resize_with_crop_or_pad(size)``) and ``per_image_standardization``. No draws."""
    return _TutorialEval(_size(size), channels_first)


def standard_train(
    padding: int = 4,
    size: int | tuple[int, int] | None = None,
    mean: Sequence[float] = CIFAR10_MEAN,
    std: Sequence[float] = CIFAR10_STD,
    cutout: int = 0,
    *,
    channels_first: bool = False,
) -> Recipe:
    """The usual modern CIFAR training recipe, fused.

    Steps (and draws, in order): ``pad_and_random_crop(padding, size)`` (size defaults
    to the images' own), ``random_flip_left_right``, ``normalize(mean, std)`` (0..255
    scale), and ``cutout(cutout)`` with fill 0 when ``cutout`` > 0.
    """
    return _StandardTrain(
        padding, None if size is None else _size(size), mean, std, cutout, channels_first
    )
