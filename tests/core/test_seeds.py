"""GeneratorSeed: a generator's seed, exactly NumPy's generator when made."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from conveyor.core.seeds import GeneratorSeed, seed_words
from conveyor.errors import InvalidArgumentError


def _numpy(entropy, key):
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy, spawn_key=key)))


@pytest.mark.parametrize("entropy", [0, 1, 2**32 - 1, 2**32, 2**70 + 5, 2**128 + 9])
@pytest.mark.parametrize("key", [(), (0,), (3, 1, 128), (2**40, 7)])
def test_a_seed_makes_numpys_generator_of_its_entropy_and_spawn_key(entropy, key):
    made = GeneratorSeed(entropy, key).generator()
    assert made.bit_generator.state == _numpy(entropy, key).bit_generator.state
    assert (
        made.integers(0, 2**40, 8).tolist() == _numpy(entropy, key).integers(0, 2**40, 8).tolist()
    )


def test_a_seed_is_not_a_stream_each_generator_starts_afresh():
    seed = GeneratorSeed(5, (1,))
    assert seed.generator().random(4).tolist() == seed.generator().random(4).tolist()


def test_of_words_is_the_seed_of_the_same_words_and_key():
    assert GeneratorSeed.of_words(seed_words(2**70 + 5), (2, 3)) == GeneratorSeed(2**70 + 5, (2, 3))
    assert GeneratorSeed(9, (1,)) != GeneratorSeed(9, (2,))
    assert GeneratorSeed(9, (1,)) != GeneratorSeed(10, (1,))
    assert (
        len({GeneratorSeed(9, (1,)), GeneratorSeed(9, [1]), GeneratorSeed(9, (np.int64(1),))}) == 1
    )


def test_compiled_code_takes_keys_of_one_or_more_int64s_only():
    assert GeneratorSeed(1, (0,)).compiled
    assert GeneratorSeed(1, (2**63 - 1, 5)).compiled
    assert not GeneratorSeed(1, ()).compiled
    assert not GeneratorSeed(1, (2**63,)).compiled


def test_a_seed_pickles_and_reads_as_its_value():
    seed = GeneratorSeed(2**40 + 3, (4, 5))
    back = pickle.loads(pickle.dumps(seed))
    assert back == seed and back.compiled
    assert back.generator().random(3).tolist() == seed.generator().random(3).tolist()
    assert repr(seed) == "GeneratorSeed(1099511627779, (4, 5))"


@pytest.mark.parametrize(
    "entropy", [-1, 1.5, True, None, "7", np.array([1, 2]), np.zeros(0, np.uint32)]
)
def test_a_bad_entropy_is_refused(entropy):
    with pytest.raises(InvalidArgumentError, match="entropy must be a non-negative int"):
        GeneratorSeed(entropy, (1,))


@pytest.mark.parametrize("key", [(-1,), (1.0,), (True,), ("a",), 5, None])
def test_a_bad_spawn_key_is_refused(key):
    with pytest.raises(
        InvalidArgumentError, match="spawn key must be a tuple of non-negative ints"
    ):
        GeneratorSeed(3, key)


def test_a_seed_keeps_its_own_read_only_words():
    words = np.array([5, 7], np.uint32)
    seed = GeneratorSeed(words, (1,))
    words[0] = 99
    assert seed.entropy.tolist() == [5, 7] and not seed.entropy.flags.writeable
    assert seed == GeneratorSeed(5 + (7 << 32), (1,))
    assert not seed_words(3).flags.writeable


def test_the_repr_of_words_no_int_makes_shows_the_words():
    odd = GeneratorSeed(np.array([1, 2, 3, 4, 0], np.uint32), (1,))
    assert repr(odd) == "GeneratorSeed(np.array([1, 2, 3, 4, 0], np.uint32), (1,))"
    rebuilt = eval(repr(odd), {"GeneratorSeed": GeneratorSeed, "np": np})
    assert rebuilt.generator().bit_generator.state == odd.generator().bit_generator.state
    # a trailing zero past the pool's four words changes the stream
    assert (
        odd.generator().bit_generator.state
        != GeneratorSeed(1 + (2 << 32) + (3 << 64) + (4 << 96), (1,))
        .generator()
        .bit_generator.state
    )
