"""Seeds of NumPy generators: a run's seed as words, and a generator's seed before the
generator is made.

Every random draw in a pipeline comes from a ``numpy.random.Generator`` over ``PCG64``
seeded by a ``SeedSequence`` of the run's seed and a *spawn key* (the stage, the unit),
so that the same seed gives the same numbers whatever the threads. Making that
generator costs about 8 µs of Python per unit — a SeedSequence, then PCG64's seeding —
which is a large share of a batch's budget on a fast path. :class:`GeneratorSeed`
carries what the generator is made from instead; compiled code given one draws exactly
the generator's numbers without making it (:mod:`conveyor.image`'s fused recipes do),
and anything else calls :meth:`GeneratorSeed.generator`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from conveyor.core.errors import InvalidArgumentError

__all__ = ["GeneratorSeed", "seed_words"]

_INT64_MAX = 2**63 - 1


def seed_words(seed: Any) -> Any:
    """A non-negative int seed as the uint32 words ``numpy.random.SeedSequence`` makes of
    it (least significant first): ``SeedSequence(seed_words(s), spawn_key=k)`` draws
    exactly what ``SeedSequence(s, spawn_key=k)`` draws, without converting the int each
    time (a third of the cost of a seed sequence per unit). Other seeds (``None``, arrays)
    come back as they are.

    >>> s = 2**70 + 5
    >>> a = np.random.SeedSequence(s, spawn_key=(1, 2)).generate_state(2)
    >>> b = np.random.SeedSequence(seed_words(s), spawn_key=(1, 2)).generate_state(2)
    >>> a.tolist() == b.tolist(), seed_words(s).tolist()
    (True, [5, 0, 64])
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        return seed
    value = int(seed)
    words = []
    while True:
        words.append(value & 0xFFFFFFFF)
        value >>= 32
        if not value:
            break
    out = np.array(words, dtype=np.uint32)
    out.flags.writeable = False  # shared by every seed made of it
    return out


def _is_count(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool) and bool(value >= 0)


class GeneratorSeed:
    """What one generator is made from: an entropy and a spawn key.

    ``GeneratorSeed(entropy, spawn_key).generator()`` is ``numpy.random.Generator(
    numpy.random.PCG64(numpy.random.SeedSequence(entropy, spawn_key=spawn_key)))``, made
    afresh on each call: a seed is not a stream, and two users of one seed draw the same
    numbers.

    Args:
        entropy: a non-negative int, or uint32 words (as :func:`seed_words` makes of an
            int; copied). Seeds compare equal when their words and keys are equal.
        spawn_key: non-negative ints (``SeedSequence``'s ``spawn_key``).

    Raises:
        InvalidArgumentError: another entropy, or a spawn key that is not non-negative
            ints.

    >>> seed = GeneratorSeed(7, (1, 2))
    >>> seed.generator().integers(0, 100, 4).tolist() == (
    ...     np.random.Generator(np.random.PCG64(np.random.SeedSequence(7, spawn_key=(1, 2))))
    ...     .integers(0, 100, 4).tolist())
    True
    """

    __slots__ = ("compiled", "entropy", "spawn_key")

    def __init__(self, entropy: Any, spawn_key: tuple[int, ...] = ()) -> None:
        if _is_count(entropy):
            entropy = seed_words(entropy)
        elif (
            isinstance(entropy, np.ndarray)
            and entropy.dtype == np.uint32
            and entropy.ndim == 1
            and len(entropy)
        ):
            entropy = np.array(entropy)  # its own copy, read-only: a seed does not change
            entropy.flags.writeable = False
        else:
            raise InvalidArgumentError(
                f"a generator's entropy must be a non-negative int, got {entropy!r}"
            )
        try:
            key = tuple(spawn_key)
        except TypeError:
            raise InvalidArgumentError(
                f"a spawn key must be a tuple of non-negative ints, got {spawn_key!r}"
            ) from None
        if not all(_is_count(k) for k in key):
            raise InvalidArgumentError(
                f"a spawn key must be a tuple of non-negative ints, got {spawn_key!r}"
            )
        self.entropy: np.ndarray = entropy
        self.spawn_key: tuple[int, ...] = tuple(int(k) for k in key)
        #: whether compiled code can take it: a key of one or more int64s
        self.compiled = bool(key) and max(self.spawn_key) <= _INT64_MAX

    @classmethod
    def of_words(cls, words: np.ndarray, spawn_key: tuple[int, ...]) -> GeneratorSeed:
        """The seed of ``words`` (from :func:`seed_words`) and ``spawn_key`` (one or more
        non-negative Python ints below 2**63), taken as they are: for a pipeline's
        own seeds, made per batch, which are that by construction."""
        seed = object.__new__(cls)
        seed.entropy = words
        seed.spawn_key = spawn_key
        seed.compiled = True
        return seed

    def seed_sequence(self) -> np.random.SeedSequence:
        """The ``SeedSequence`` this seed is."""
        return np.random.SeedSequence(self.entropy, spawn_key=self.spawn_key)

    def generator(self) -> np.random.Generator:
        """A new generator at the start of this seed's stream."""
        return np.random.Generator(np.random.PCG64(self.seed_sequence()))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GeneratorSeed):
            return NotImplemented
        return self.spawn_key == other.spawn_key and np.array_equal(self.entropy, other.entropy)

    def __hash__(self) -> int:
        return hash((self.entropy.tobytes(), self.spawn_key))

    def __repr__(self) -> str:
        value = sum(int(w) << (32 * i) for i, w in enumerate(self.entropy))
        if np.array_equal(seed_words(value), self.entropy):
            return f"GeneratorSeed({value}, {self.spawn_key})"
        # words no int makes (a trailing zero word past the pool's four counts)
        return f"GeneratorSeed(np.array({self.entropy.tolist()}, np.uint32), {self.spawn_key})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (GeneratorSeed, (self.entropy, self.spawn_key))
