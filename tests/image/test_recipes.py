"""Fused recipes: every kernel equals its chain of reference ops (within 1e-5, drawing the
same numbers), over any sources, layouts and indices; the NumPy fallback equals it
exactly; arguments and buffers are checked; threads share a recipe safely."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conveyor.core.seeds import GeneratorSeed
from conveyor.errors import InvalidArgumentError
from conveyor.image import _kernels, recipes

pytestmark = pytest.mark.timeout(120)

TOLERANCE = 1e-5


def _records(m: int, seed: int) -> np.ndarray:
    """CIFAR-10 records: a label byte and CHW bytes."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (m, 1 + 3 * 32 * 32), dtype=np.uint8)


def _planar(m: int, seed: int) -> np.ndarray:
    """The images of CIFAR records as HWC views over the records' own CHW bytes."""
    return _records(m, seed)[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def _hwc(m: int, seed: int, shape: tuple[int, int, int] = (32, 32, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (m, *shape), dtype=np.uint8)


SOURCES = {
    "planar records": lambda: _planar(20, 1),
    "hwc array": lambda: _hwc(20, 2),
    "several with an empty one": lambda: [
        _planar(7, 3),
        np.zeros((0, 32, 32, 3), np.uint8),
        _hwc(5, 4),
        _planar(8, 5),
    ],
    "Sources": lambda: recipes.Sources([_hwc(12, 6), _planar(8, 7)]),
}

INDICES = {
    "all": None,
    "repeats": np.array([3, 3, 0, 19, 7, 3, 12, 12]),
    "one": np.array([6]),
}

RECIPES = {
    "tutorial_train": lambda cf: recipes.tutorial_train(channels_first=cf),
    "tutorial_train odd crop": lambda cf: recipes.tutorial_train(
        (13, 7), max_delta=10, contrast=(0.5, 1.5), channels_first=cf
    ),
    "tutorial_eval": lambda cf: recipes.tutorial_eval(channels_first=cf),
    "tutorial_eval odd crop": lambda cf: recipes.tutorial_eval((11, 17), channels_first=cf),
    "standard_train": lambda cf: recipes.standard_train(channels_first=cf),
    "standard_train cutout": lambda cf: recipes.standard_train(cutout=8, channels_first=cf),
    "standard_train odd": lambda cf: recipes.standard_train(
        padding=3, size=(29, 31), cutout=5, channels_first=cf
    ),
    "standard_train padded beyond the image": lambda cf: recipes.standard_train(
        padding=7, size=(46, 40), cutout=9, channels_first=cf
    ),
}


def _gathered(images) -> np.ndarray:
    """Every image of ``images`` (as a recipe reads them) as one array, in order."""
    sources = recipes.Sources(images)
    return sources.gather(np.arange(len(sources)))


@pytest.mark.parametrize("index", INDICES.values(), ids=INDICES.keys())
@pytest.mark.parametrize("source", SOURCES.values(), ids=SOURCES.keys())
@pytest.mark.parametrize("channels_first", [False, True], ids=["nhwc", "nchw"])
@pytest.mark.parametrize("make", RECIPES.values(), ids=RECIPES.keys())
def test_kernel_equals_reference_and_draws_the_same_numbers(make, channels_first, source, index):
    recipe = make(channels_first)
    images = source()
    rng, ref_rng = np.random.default_rng(11), np.random.default_rng(11)
    batch = recipe(images, rng, index=index)
    expected = recipe.reference(images, ref_rng, index=index)
    n = len(recipes.Sources(images)) if index is None else len(index)
    assert batch.shape == expected.shape == recipe.output_shape(n, (32, 32, 3))
    assert batch.dtype == expected.dtype == np.float32
    assert batch.flags.c_contiguous
    assert np.abs(batch - expected).max() <= TOLERANCE
    assert rng.random() == ref_rng.random()  # the draw contract


# -- a seed instead of a generator: the kernel makes the generator's draws itself -------


def _numpy_generator(entropy, key):
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy, spawn_key=key)))


@settings(max_examples=300, deadline=None)
@given(
    entropy=st.integers(0, 2**160),
    key=st.lists(st.integers(0, 2**63 - 1), min_size=1, max_size=6),
    calls=st.lists(
        st.one_of(
            st.tuples(st.just("integers"), st.integers(-(2**40), 2**40), st.integers(1, 2**32)),
            st.tuples(
                st.just("uniform"),
                st.floats(-1e6, 1e6, allow_nan=False),
                st.floats(0, 1e6, allow_nan=False),
            ),
        ).flatmap(lambda c: st.tuples(st.just(c), st.integers(0, 70))),
        min_size=1,
        max_size=6,
    ),
)
def test_compiled_draws_are_numpys_generator_bit_for_bit(entropy, key, calls):
    """SeedSequence's mixing, PCG64's seeding, its 32-bit buffer shared between calls,
    Lemire's rejection and the doubles' 53 bits: every call equals NumPy's exactly."""
    plan = []
    for (kind, low, width), n in calls:
        # integers(low, low + width): spans of 1 (no draw) to 2**32 (the widest 32-bit one)
        plan.append((kind, low, low + width, n))
    got = _kernels.draws(GeneratorSeed(entropy).entropy, tuple(key), plan)
    rng = _numpy_generator(entropy, tuple(key))
    for (kind, low, high, n), values in zip(plan, got):
        expected = (
            rng.integers(low, high, size=n) if kind == "integers" else rng.uniform(low, high, n)
        )
        assert values.dtype == expected.dtype
        assert values.tolist() == expected.tolist(), (kind, low, high, n)


@pytest.mark.parametrize("high", [1, 2, 2**31 + 1, 2**32 - 1, 2**32], ids=str)
def test_compiled_draws_at_the_edges_of_the_32_bit_path_are_numpys(high):
    # 1: no draw at all; 2**31 + 1 rejects almost half of the 32-bit outputs; 2**32
    # takes them as they are
    plan = [("integers", 0, high, 400), ("uniform", 0.0, 1.0, 3), ("integers", 5, 5 + high, 9)]
    got = _kernels.draws(GeneratorSeed(3).entropy, (1,), plan)
    rng = _numpy_generator(3, (1,))
    assert got[0].tolist() == rng.integers(0, high, 400).tolist()
    assert got[1].tolist() == rng.random(3).tolist()
    assert got[2].tolist() == rng.integers(5, 5 + high, 9).tolist()


SEED_KEYS = {"one part": (0,), "a pipeline's": (3, 1, 128), "wide parts": (2, 2**40, 2**63 - 1)}


@pytest.mark.parametrize("key", SEED_KEYS.values(), ids=SEED_KEYS.keys())
@pytest.mark.parametrize("channels_first", [False, True], ids=["nhwc", "nchw"])
@pytest.mark.parametrize("make", RECIPES.values(), ids=RECIPES.keys())
def test_a_seed_gives_exactly_the_batch_of_the_generator_it_makes(make, channels_first, key):
    recipe = make(channels_first)
    images = SOURCES["several with an empty one"]()
    index = np.random.default_rng(5).integers(0, 20, 64)
    seed = GeneratorSeed(2**64 + 3, key)
    batch = recipe(images, seed, index=index)
    np.testing.assert_array_equal(batch, recipe(images, seed.generator(), index=index))
    reference = recipe.reference(images, seed, index=index)
    assert np.abs(batch - reference).max() <= TOLERANCE
    out = np.full_like(batch, np.nan)
    assert recipe(images, seed, index=index, out=out) is out
    np.testing.assert_array_equal(out, batch)


@pytest.mark.parametrize("key", [(), (2**63, 1)], ids=["no key", "beyond int64"])
def test_a_seed_compiled_code_cannot_take_draws_through_its_generator(key):
    recipe = recipes.tutorial_train()
    images = _planar(10, 3)
    seed = GeneratorSeed(7, key)
    assert not seed.compiled
    np.testing.assert_array_equal(recipe(images, seed), recipe(images, seed.generator()))


@pytest.mark.parametrize("make", RECIPES.values(), ids=RECIPES.keys())
def test_without_the_kernels_a_seed_gives_the_reference_of_its_generator(make, monkeypatch):
    monkeypatch.setattr(_kernels, "AVAILABLE", False)
    recipe = make(False)
    images = _planar(20, 4)
    seed = GeneratorSeed(11, (2, 9))
    np.testing.assert_array_equal(recipe(images, seed), recipe.reference(images, seed.generator()))


@pytest.mark.parametrize("make", RECIPES.values(), ids=RECIPES.keys())
def test_channels_first_is_the_nhwc_batch_transposed(make):
    images = _planar(20, 8)
    nhwc = make(False)(images, np.random.default_rng(3))
    nchw = make(True)(images, np.random.default_rng(3))
    np.testing.assert_array_equal(nchw, nhwc.transpose(0, 3, 1, 2))


@pytest.mark.parametrize("make", RECIPES.values(), ids=RECIPES.keys())
def test_several_sources_read_as_their_concatenation(make):
    parts = SOURCES["several with an empty one"]()
    joined = np.concatenate(parts)
    index = np.array([0, 6, 7, 11, 12, 19, 7])
    np.testing.assert_array_equal(
        make(False)(parts, np.random.default_rng(4), index=index),
        make(False)(joined, np.random.default_rng(4), index=index),
    )


@pytest.mark.parametrize("make", RECIPES.values(), ids=RECIPES.keys())
def test_without_the_kernels_a_recipe_is_exactly_its_reference(make, monkeypatch):
    monkeypatch.setattr(_kernels, "AVAILABLE", False)
    recipe = make(False)
    images = SOURCES["several with an empty one"]()
    index = INDICES["repeats"]
    rng, ref_rng = np.random.default_rng(9), np.random.default_rng(9)
    np.testing.assert_array_equal(
        recipe(images, rng, index=index), recipe.reference(images, ref_rng, index=index)
    )
    assert rng.random() == ref_rng.random()


def test_the_reference_is_the_chain_of_steps_on_the_gathered_images():
    recipe = recipes.tutorial_train()
    images = _planar(10, 12)
    index = np.array([4, 2, 2, 9])
    steps = recipe.steps((32, 32, 3))
    assert len(steps) == 6
    expected = steps(images[index], np.random.default_rng(5))
    np.testing.assert_array_equal(
        recipe.reference(images, np.random.default_rng(5), index=index), expected
    )


def test_tutorial_eval_is_the_central_crop_standardized():
    images = _hwc(3, 13)
    batch = recipes.tutorial_eval()(images, np.random.default_rng(0))
    crop = images[:, 4:28, 4:28].astype(np.float64)
    mean = crop.mean(axis=(1, 2, 3), keepdims=True)
    std = crop.std(axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(batch, (crop - mean) / std, atol=TOLERANCE)


def test_tutorial_eval_makes_no_draws():
    rng = np.random.default_rng(2)
    recipes.tutorial_eval()(_hwc(4, 1), rng)
    assert rng.random() == np.random.default_rng(2).random()


def test_standard_train_without_padding_at_full_size_only_flips_and_normalizes():
    images = _hwc(6, 14)
    recipe = recipes.standard_train(padding=0, mean=(10, 20, 30), std=(2, 4, 8))
    batch = recipe(images, np.random.default_rng(1))
    flip = np.random.default_rng(1)
    flip.integers(0, 1, size=6), flip.integers(0, 1, size=6)  # the crop offsets: all 0
    flipped = flip.random(6) < 0.5
    expected = np.where(flipped[:, None, None, None], images[:, :, ::-1], images)
    expected = (expected - np.array([10, 20, 30])) / np.array([2, 4, 8])
    np.testing.assert_allclose(batch, expected, atol=TOLERANCE)


@pytest.mark.parametrize(
    "make",
    [recipes.tutorial_train, recipes.tutorial_eval],
    ids=["tutorial_train", "tutorial_eval"],
)
def test_a_constant_image_standardizes_to_zeros(make):
    """The floor of per_image_standardization: a blank crop becomes exact zeros (no
    cancellation noise from the fused affine form)."""
    images = np.concatenate([np.full((3, 32, 32, 3), v, np.uint8) for v in (0, 200, 255)])
    batch = make()(images, np.random.default_rng(0))
    assert np.abs(batch).max() <= TOLERANCE


@pytest.mark.parametrize(
    "make",
    [recipes.tutorial_train, recipes.tutorial_eval],
    ids=["tutorial_train", "tutorial_eval"],
)
def test_nearly_constant_images_stay_within_tolerance_of_the_reference(make):
    rng = np.random.default_rng(3)
    images = (200 + (rng.random((8, 32, 32, 3)) < 0.01)).astype(np.uint8)
    recipe = make()
    batch = recipe(images, np.random.default_rng(1))
    expected = recipe.reference(images, np.random.default_rng(1))
    assert np.abs(batch - expected).max() <= 1e-4 * max(1.0, np.abs(expected).max())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    height=st.integers(1, 12),
    width=st.integers(1, 12),
    channels=st.integers(1, 4),
    n=st.integers(1, 9),
    seed=st.integers(0, 2**32 - 1),
    kind=st.sampled_from(["tutorial_train", "tutorial_eval", "standard_train"]),
    channels_first=st.booleans(),
    planar=st.booleans(),
)
def test_kernels_equal_references_over_shapes_and_seeds(
    data, height, width, channels, n, seed, kind, channels_first, planar
):
    rng = np.random.default_rng(seed)
    m = int(rng.integers(1, 6))
    if planar:
        images = rng.integers(0, 256, (m, channels, height, width), dtype=np.uint8)
        images = images.transpose(0, 2, 3, 1)
    else:
        images = rng.integers(0, 256, (m, height, width, channels), dtype=np.uint8)
    crop = (data.draw(st.integers(1, height)), data.draw(st.integers(1, width)))
    if kind == "tutorial_train":
        recipe = recipes.tutorial_train(crop, channels_first=channels_first)
    elif kind == "tutorial_eval":
        recipe = recipes.tutorial_eval(crop, channels_first=channels_first)
    else:
        padding = data.draw(st.integers(0, 4))
        size = (data.draw(st.integers(1, height + 2 * padding)),
                data.draw(st.integers(1, width + 2 * padding)))  # fmt: skip
        recipe = recipes.standard_train(
            padding,
            size,
            mean=tuple(rng.uniform(0, 255, channels)),
            std=tuple(rng.uniform(1, 80, channels)),
            cutout=data.draw(st.integers(0, 5)),
            channels_first=channels_first,
        )
    index = rng.integers(0, m, size=n)
    a, b = np.random.default_rng(seed), np.random.default_rng(seed)
    batch = recipe(images, a, index=index)
    expected = recipe.reference(images, b, index=index)
    assert batch.shape == expected.shape
    # standardized values reach sqrt(h * w * c) for a single odd pixel
    assert np.abs(batch - expected).max() <= TOLERANCE * max(1.0, np.abs(expected).max())
    assert a.random() == b.random()


# -- out= -------------------------------------------------------------------------------


@pytest.mark.parametrize("channels_first", [False, True], ids=["nhwc", "nchw"])
@pytest.mark.parametrize("make", RECIPES.values(), ids=RECIPES.keys())
def test_out_is_written_in_place_and_returned(make, channels_first):
    recipe = make(channels_first)
    images = _planar(20, 15)
    index = INDICES["repeats"]
    out = np.full(recipe.output_shape(len(index), (32, 32, 3)), np.nan, np.float32)
    result = recipe(images, np.random.default_rng(6), index=index, out=out)
    assert result is out
    np.testing.assert_array_equal(out, recipe(images, np.random.default_rng(6), index=index))


def _bad_outs(shape: tuple[int, ...]) -> dict[str, object]:
    read_only = np.empty(shape, np.float32)
    read_only.flags.writeable = False
    wide = np.empty((*shape[:-1], 2 * shape[-1]), np.float32)
    return {
        "shape": np.empty((shape[0] + 1, *shape[1:]), np.float32),
        "dtype": np.empty(shape, np.float64),
        "non-contiguous": wide[..., ::2],
        "fortran": np.asfortranarray(np.empty(shape, np.float32)),
        "read-only": read_only,
        "list": np.empty(shape, np.float32).tolist(),
    }


@pytest.mark.parametrize("what", list(_bad_outs((2, 3, 4, 5))))
@pytest.mark.parametrize("make", RECIPES.values(), ids=RECIPES.keys())
def test_a_bad_out_is_refused_by_name(make, what):
    recipe = make(False)
    images = _hwc(4, 16)
    out = _bad_outs(recipe.output_shape(4, (32, 32, 3)))[what]
    with pytest.raises(InvalidArgumentError, match="out"):
        recipe(images, np.random.default_rng(0), out=out)


# -- checked arguments ------------------------------------------------------------------


BAD_INDICES = {
    "past the end": np.array([0, 20]),
    "negative": np.array([-1, 3]),
    "2-d": np.array([[0, 1], [2, 3]]),
    "float": np.array([0.0, 1.0]),
    "bool": np.array([True, False]),
    "scalar": np.int64(3),
}


@pytest.mark.parametrize("index", BAD_INDICES.values(), ids=BAD_INDICES.keys())
@pytest.mark.parametrize("call", ["kernel", "reference"])
def test_a_bad_index_is_refused(index, call):
    recipe = recipes.tutorial_train()
    images = _planar(20, 17)
    fn = recipe if call == "kernel" else recipe.reference
    with pytest.raises(InvalidArgumentError, match="index"):
        fn(images, np.random.default_rng(0), index=index)


def test_an_empty_index_gives_an_empty_batch():
    recipe = recipes.tutorial_train(channels_first=True)
    batch = recipe(_hwc(3, 18), np.random.default_rng(0), index=np.array([], np.int64))
    assert batch.shape == (0, 3, 24, 24)
    assert batch.dtype == np.float32


BAD_FACTORY_ARGUMENTS = [
    (recipes.tutorial_train, {"size": 0}, "size"),
    (recipes.tutorial_train, {"size": (24,)}, "size"),
    (recipes.tutorial_train, {"size": (24, 2.5)}, "size"),
    (recipes.tutorial_train, {"size": True}, "size"),
    (recipes.tutorial_train, {"max_delta": -1}, "max_delta"),
    (recipes.tutorial_train, {"max_delta": float("nan")}, "max_delta"),
    (recipes.tutorial_train, {"max_delta": "63"}, "max_delta"),
    (recipes.tutorial_train, {"max_delta": 1e308}, "max_delta must be at most 8.99e\\+307"),
    (recipes.tutorial_train, {"contrast": (1.8, 0.2)}, "contrast"),
    (recipes.tutorial_train, {"contrast": (1.0, 1.0)}, "contrast"),
    (recipes.tutorial_train, {"contrast": (-0.5, 1.0)}, "contrast"),
    (recipes.tutorial_train, {"contrast": 1.0}, "contrast"),
    (recipes.tutorial_train, {"channels_first": 1}, "channels_first"),
    (recipes.tutorial_eval, {"size": "24"}, "size"),
    (recipes.tutorial_eval, {"size": (0, 24)}, "size"),
    (recipes.tutorial_eval, {"channels_first": None}, "channels_first"),
    (recipes.standard_train, {"padding": -1}, "padding"),
    (recipes.standard_train, {"padding": 2.0}, "padding"),
    (recipes.standard_train, {"cutout": -2}, "cutout"),
    (recipes.standard_train, {"size": -3}, "size"),
    (recipes.standard_train, {"std": (60, 0, 60)}, "std"),
    (recipes.standard_train, {"mean": (1, 2)}, "mean"),
    (recipes.standard_train, {"mean": "abc"}, "mean"),
    (recipes.standard_train, {"channels_first": "no"}, "channels_first"),
]


@pytest.mark.parametrize(("factory", "kwargs", "name"), BAD_FACTORY_ARGUMENTS)
def test_bad_factory_arguments_are_refused_by_name(factory, kwargs, name):
    with pytest.raises(InvalidArgumentError, match=name):
        factory(**kwargs)


@pytest.mark.parametrize("call", ["kernel", "reference"])
def test_recipe_time_errors_name_the_problem(call):
    def run(recipe, images, rng=None):
        fn = recipe if call == "kernel" else recipe.reference
        return fn(images, np.random.default_rng(0) if rng is None else rng)

    with pytest.raises(InvalidArgumentError, match="crop"):
        run(recipes.tutorial_train(33), _hwc(2, 0))
    with pytest.raises(InvalidArgumentError, match="crop"):
        run(recipes.standard_train(padding=1, size=35), _hwc(2, 0))
    with pytest.raises(InvalidArgumentError, match="channels"):
        run(recipes.standard_train(), _hwc(2, 0, (32, 32, 1)))
    with pytest.raises(InvalidArgumentError, match=r"rng must be a numpy\.random\.Generator or a"):
        run(recipes.tutorial_train(), _hwc(2, 0), rng=np.random.RandomState(0))
    with pytest.raises(InvalidArgumentError, match="images"):
        run(recipes.tutorial_train(), _hwc(2, 0).astype(np.float32))
    with pytest.raises(InvalidArgumentError, match="images"):
        run(recipes.tutorial_train(), _hwc(2, 0)[0])
    with pytest.raises(InvalidArgumentError, match=r"images\[1\]"):
        run(recipes.tutorial_train(), [_hwc(2, 0), _hwc(2, 0, (32, 30, 3))])
    with pytest.raises(InvalidArgumentError, match="images"):
        run(recipes.tutorial_train(), [])


def test_sources_copy_non_planar_arrays_once_and_read_planar_views_in_place():
    records = _records(6, 19)
    planar = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    hwc = np.ascontiguousarray(planar)
    sources = recipes.Sources([planar, hwc])
    assert len(sources) == 12
    assert sources.image_shape == (32, 32, 3)
    assert np.shares_memory(sources.buffers[0], records)
    assert not np.shares_memory(sources.buffers[1], hwc)
    np.testing.assert_array_equal(sources.gather(np.array([0, 6, 11])), hwc[[0, 0, 5]])
    assert all(a is b for a, b in zip(recipes.Sources(sources).buffers, sources.buffers))


def test_mirrored_and_negatively_strided_sources_read_correctly():
    images = _hwc(5, 20)
    mirrored = images[::-1, :, ::-1]
    recipe = recipes.tutorial_eval()
    np.testing.assert_allclose(
        recipe(mirrored, np.random.default_rng(0)),
        recipe.reference(np.ascontiguousarray(mirrored), np.random.default_rng(0)),
        atol=TOLERANCE,
    )


def test_repr_names_the_recipe_and_its_parameters():
    assert repr(recipes.tutorial_train()) == (
        "_TutorialTrain(size=(24, 24), max_delta=63.0, contrast=(0.2, 1.8), channels_first=False)"
    )
    assert "cutout=8" in repr(recipes.standard_train(cutout=8))
    assert "channels_first=True" in repr(recipes.tutorial_eval(channels_first=True))


# -- threads ----------------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("make", RECIPES.values(), ids=RECIPES.keys())
def test_threads_sharing_a_recipe_get_what_sequential_calls_get(make):
    recipe = make(False)
    sources = recipes.Sources(SOURCES["several with an empty one"]())
    rounds = 30
    index = np.random.default_rng(0).integers(0, len(sources), size=(rounds, 64))

    def run(seed: int) -> list[np.ndarray]:
        rng = np.random.default_rng(seed)
        out = np.empty(recipe.output_shape(64, sources.image_shape), np.float32)
        return [recipe(sources, rng, index=i, out=out).copy() for i in index]

    expected = {seed: run(seed) for seed in (1, 2)}
    results: dict[int, list[np.ndarray]] = {}
    barrier = threading.Barrier(2)

    def worker(seed: int) -> None:
        barrier.wait()
        results[seed] = run(seed)

    threads = [threading.Thread(target=worker, args=(s,)) for s in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for seed in (1, 2):
        assert len(results[seed]) == rounds
        for got, want in zip(results[seed], expected[seed]):
            np.testing.assert_array_equal(got, want)
