"""The CIFAR-10 tutorial's input functions as pipelines: exact batches (the reference
recipe on the records the pipeline chose, with the generator it gave), every record once
an epoch, the evaluation order and its short last batch, lengths, exact resumes, held
batches never overwritten, the layouts, and checked arguments — on synthetic and on the
embedded data."""

from __future__ import annotations

import copy
import itertools
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from conveyor.core.seeds import GeneratorSeed
from conveyor.datasets import _cifar_input, cifar10, embedded, synthetic
from conveyor.errors import InvalidArgumentError, NotFoundError
from conveyor.image import recipes

pytestmark = pytest.mark.timeout(120)

TRAIN_N, TEST_N = 600, 200
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return synthetic(TRAIN_N, tmp_path_factory.mktemp("synthetic"), test_n=TEST_N)


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> Path:
    return embedded(tmp_path_factory.mktemp("digits"))


def _records(root: Path, eval_data: bool = False) -> np.ndarray:
    return np.concatenate([np.asarray(r) for r in cifar10.load_records(root, eval_data)])


def _images(root: Path, eval_data: bool = False) -> np.ndarray:
    return cifar10.images_of(_records(root, eval_data))


def _labels(root: Path, eval_data: bool = False) -> np.ndarray:
    return cifar10.labels_of(_records(root, eval_data))


def _take(pipe, n: int | None = None, state=None) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` batches (all when ``None``) of a run, copied, the run closed after."""
    with pipe.iterate(state) if state is not None else pipe.iterate() as it:
        return [(i.copy(), lab.copy()) for i, lab in itertools.islice(it, n)]


def _assert_same_batches(a, b) -> None:
    assert len(a) == len(b)
    for (ia, la), (ib, lb) in zip(a, b):
        np.testing.assert_array_equal(ia, ib)
        np.testing.assert_array_equal(la, lb)


class _Calls:
    """What the batch functions were given: each batch's indices (or records), its
    generator's state before the recipe drew, and the images array it returned."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.log: list[tuple[np.ndarray, dict, np.ndarray]] = []

    def wrap(self, original):
        def probe(augment, rows, rng):
            # the pipeline passes the batch's seed; a generator made from it starts there
            generator = rng.generator() if isinstance(rng, GeneratorSeed) else rng
            state = copy.deepcopy(generator.bit_generator.state)
            images, labels = original(augment, rows, rng)
            with self.lock:
                self.log.append((np.array(rows), state, images))
            return images, labels

        return probe

    def of(self, images: np.ndarray) -> tuple[np.ndarray, np.random.Generator]:
        """The rows and a copy of the generator behind the batch ``images``."""
        (rows, state), *more = [(r, s) for r, s, i in self.log if i is images]
        assert not more
        rng = np.random.default_rng()
        rng.bit_generator.state = state
        return rows, rng


@pytest.fixture
def calls(monkeypatch) -> _Calls:
    calls = _Calls()
    for cls in (_cifar_input._Augment, _cifar_input._AugmentRecords):
        monkeypatch.setattr(cls, "__call__", calls.wrap(cls.__call__))
    return calls


# -- distorted_inputs -------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [128, 50, 7])
def test_distorted_inputs_gives_full_batches_of_the_reference_recipe(root, calls, batch_size):
    images, labels = _images(root), _labels(root)
    pipe = cifar10.distorted_inputs(root, batch_size, seed=3, epochs=1, copy=True)
    batches = list(pipe)
    assert len(batches) == TRAIN_N // batch_size == len(pipe)
    reference = recipes.tutorial_train()
    for batch, batch_labels in batches:
        assert batch.shape == (batch_size, 24, 24, 3)
        assert batch.dtype == np.float32
        assert batch_labels.shape == (batch_size,)
        assert batch_labels.dtype == np.int32
        index, rng = calls.of(batch)
        np.testing.assert_array_equal(batch_labels, labels[index])
        expected = reference.reference(images, rng, index=index)
        assert np.abs(batch - expected).max() <= TOLERANCE


@pytest.mark.parametrize("shuffle", ["index", "pool"])
def test_shards_split_every_epoch_exactly_between_the_ranks(root, shuffle):
    # Three ranks with one seed: each reads its own records, and together every record.
    labels = []
    for index in range(3):
        pipe = cifar10.distorted_inputs(
            root, 20, shuffle=shuffle, seed=5, epochs=1, shard=(index, 3)
        )
        labels.append(np.concatenate([lab for _, lab in _take(pipe)]))
        assert len(labels[-1]) == TRAIN_N // 3
    assert Counter(np.concatenate(labels).tolist()) == Counter(_labels(root).tolist())


def test_ranks_share_the_order_but_not_the_augmentation(root):
    # Same seed: the ranks split one permutation (test above); the run seed that their
    # augmentation draws from differs by rank, and is the seed itself unsharded.
    seeds = [
        cifar10.distorted_inputs(root, 16, seed=5, shard=(i, 3))._options.seed for i in range(3)
    ]
    assert len(set(seeds)) == 3 and 5 not in seeds
    assert cifar10.distorted_inputs(root, 16, seed=5)._options.seed == 5
    with pytest.raises(InvalidArgumentError, match="shard needs a seed"):
        cifar10.distorted_inputs(root, 16, shard=(0, 2))
    assert cifar10.inputs(root, 16, shard=(0, 2))._options.seed is None  # nothing shuffled


def test_a_shard_of_the_evaluation_set_is_every_count_th_image_in_order(root):
    got = _take(cifar10.inputs(root, 64, shard=(1, 4)))
    images = np.concatenate([i for i, _ in got])
    expected = recipes.tutorial_eval().reference(_images(root, True)[1::4], _rng())
    np.testing.assert_allclose(images, expected, atol=TOLERANCE)


@pytest.mark.parametrize("shuffle", ["index", "pool"])
def test_one_epoch_reads_every_record_exactly_once(root, calls, shuffle):
    pipe = cifar10.distorted_inputs(root, 100, shuffle=shuffle, seed=5, epochs=1)
    labels = np.concatenate([lab for _, lab in _take(pipe)])
    assert Counter(labels.tolist()) == Counter(_labels(root).tolist())
    if shuffle == "index":
        index = np.concatenate([rows for rows, _, _ in calls.log])
        np.testing.assert_array_equal(np.sort(index), np.arange(TRAIN_N))
    else:
        rows = np.concatenate([rows for rows, _, _ in calls.log])
        seen = sorted(r.tobytes() for r in rows)
        assert seen == sorted(r.tobytes() for r in _records(root))


def test_an_epoch_that_does_not_divide_drops_the_rest_and_repeats_nothing(root, calls):
    list(cifar10.distorted_inputs(root, seed=5, epochs=1))
    index = np.concatenate([rows for rows, _, _ in calls.log])
    assert len(index) == 4 * 128
    assert len(np.unique(index)) == len(index)


def test_every_epoch_is_a_fresh_permutation(root, calls):
    batches = list(cifar10.distorted_inputs(root, 100, seed=5, epochs=3, copy=True))
    index = np.concatenate([calls.of(images)[0] for images, _ in batches]).reshape(3, TRAIN_N)
    for epoch in index:
        np.testing.assert_array_equal(np.sort(epoch), np.arange(TRAIN_N))
    assert not np.array_equal(index[0], index[1])
    assert not np.array_equal(index[0], np.arange(TRAIN_N))


def test_pool_shuffle_batches_are_the_reference_recipe_on_the_records(root, calls):
    reference = recipes.tutorial_train()
    by_bytes = {r.tobytes(): r[0] for r in _records(root)}
    pipe = cifar10.distorted_inputs(root, 64, shuffle="pool", seed=2, epochs=1, copy=True)
    for batch, batch_labels in pipe:
        rows, rng = calls.of(batch)
        assert [by_bytes[r.tobytes()] for r in rows] == batch_labels.tolist()
        expected = reference.reference(cifar10.images_of(rows), rng)
        assert np.abs(batch - expected).max() <= TOLERANCE


@pytest.mark.parametrize("shuffle", ["index", "pool"])
def test_a_seed_gives_the_same_batches_in_every_run_whatever_the_threads(root, shuffle):
    def run(threads: int, seed: int = 11):
        pipe = cifar10.distorted_inputs(
            root, 64, shuffle=shuffle, seed=seed, epochs=2, threads=threads
        )
        return _take(pipe)

    first = run(2)
    assert len(first) == 2 * TRAIN_N // 64
    _assert_same_batches(first, run(2))
    _assert_same_batches(first, run(1))
    _assert_same_batches(first, run(3))
    other = run(2, seed=12)
    assert not np.array_equal(first[0][0], other[0][0])


def test_the_unshuffled_form_reads_the_records_in_order(root, calls):
    pipe = cifar10.distorted_inputs(root, 100, shuffle=False, seed=0, epochs=1)
    labels = np.concatenate([lab for _, lab in _take(pipe)])
    np.testing.assert_array_equal(labels, _labels(root))
    index = np.concatenate([rows for rows, _, _ in sorted(calls.log, key=lambda c: c[0][0])])
    np.testing.assert_array_equal(index, np.arange(TRAIN_N))


def test_lengths(root):
    assert len(cifar10.distorted_inputs(root, seed=0, epochs=1)) == 4
    assert len(cifar10.distorted_inputs(root, seed=0, epochs=2)) == 9
    assert len(cifar10.distorted_inputs(root, 7, seed=0, epochs=3)) == 3 * TRAIN_N // 7
    assert len(cifar10.distorted_inputs(root, seed=0, epochs=2, shuffle="pool")) == 9
    assert len(cifar10.standard_train_inputs(root, seed=0, epochs=1)) == 4
    assert len(cifar10.inputs(root)) == 2
    assert len(cifar10.inputs(root, 100)) == 2
    assert len(cifar10.inputs(root, eval_data=False)) == 5
    assert len(cifar10.inputs(root, epochs=3)) == 5  # 600 test images over 3 epochs
    with pytest.raises(TypeError, match="infinite"):
        len(cifar10.distorted_inputs(root, seed=0))


_KS = [int(k) for k in np.random.default_rng(2026).integers(1, 13, size=3)]


@pytest.mark.parametrize("k", _KS)
@pytest.mark.parametrize("shuffle", ["index", "pool"])
def test_a_resumed_run_continues_with_exactly_the_batches_of_the_uninterrupted_one(
    root, shuffle, k
):
    pipe = cifar10.distorted_inputs(root, 128, shuffle=shuffle, seed=7, epochs=3, threads=2)
    whole = _take(pipe)
    assert len(whole) == 3 * TRAIN_N // 128
    with pipe.iterate() as it:
        head = [(i.copy(), lab.copy()) for i, lab in itertools.islice(it, k)]
        state = it.state_dict()
    _assert_same_batches(head, whole[:k])
    _assert_same_batches(_take(pipe, state=state), whole[k:])
    # a freshly built pipeline with the same arguments takes the state too
    again = cifar10.distorted_inputs(root, 128, shuffle=shuffle, seed=7, epochs=3, threads=3)
    _assert_same_batches(_take(again, 2, state=state), whole[k : k + 2])


def test_without_a_seed_runs_differ_yet_a_resume_is_exact(root):
    pipe = cifar10.distorted_inputs(root, 100, epochs=2)
    with pipe.iterate() as it:
        first = [(i.copy(), lab.copy()) for i, lab in itertools.islice(it, 3)]
        state = it.state_dict()
        rest = [(i.copy(), lab.copy()) for i, lab in it]
    assert len(rest) == 9
    _assert_same_batches(_take(pipe, state=state), rest)
    other = _take(pipe, 3)
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(first, other))


def test_a_state_does_not_load_into_another_pipeline(root):
    pipe = cifar10.distorted_inputs(root, seed=7, epochs=2)
    with pipe.iterate() as it:
        next(it)
        state = it.state_dict()
    other = cifar10.distorted_inputs(root, 64, seed=7, epochs=2)
    with pytest.raises(InvalidArgumentError):
        _take(other, 1, state=state)


@pytest.mark.parametrize("shuffle", ["index", "pool"])
def test_held_batches_are_never_overwritten(root, shuffle):
    def run(copy: bool):
        pipe = cifar10.distorted_inputs(root, 64, shuffle=shuffle, seed=4, copy=copy)
        with pipe.iterate() as it:
            return list(itertools.islice(it, 50))  # held, not copied

    pooled, copied = run(False), run(True)
    assert len({id(images) for images, _ in pooled}) == 50
    _assert_same_batches(pooled, copied)


def test_released_batches_reuse_their_buffers(root):
    pipe = cifar10.distorted_inputs(root, 64, seed=4)
    with pipe.iterate() as it:
        ids = {id(images) for images, _ in itertools.islice(it, 40)}
    assert len(ids) < 40  # buffers came back to the pool


@pytest.mark.parametrize("shuffle", ["index", "pool"])
def test_channels_first_batches_are_the_nhwc_batches_transposed(root, shuffle):
    def run(channels_first: bool):
        pipe = cifar10.distorted_inputs(
            root, 64, shuffle=shuffle, seed=9, epochs=1, channels_first=channels_first
        )
        return _take(pipe)

    nhwc, nchw = run(False), run(True)
    assert nchw[0][0].shape == (64, 3, 24, 24)
    _assert_same_batches(nchw, [(i.transpose(0, 3, 1, 2), lab) for i, lab in nhwc])


# -- inputs -----------------------------------------------------------------------------


@pytest.mark.parametrize(("eval_data", "n"), [(True, TEST_N), (False, TRAIN_N)])
def test_inputs_yields_every_image_once_in_order_with_a_short_last_batch(root, eval_data, n):
    batches = _take(cifar10.inputs(root, eval_data=eval_data))
    sizes = [len(lab) for _, lab in batches]
    assert sizes == [128] * (n // 128) + [n % 128]
    images = np.concatenate([i for i, _ in batches])
    labels = np.concatenate([lab for _, lab in batches])
    assert images.shape == (n, 24, 24, 3)
    assert images.dtype == np.float32
    np.testing.assert_array_equal(labels, _labels(root, eval_data))
    expected = recipes.tutorial_eval().reference(_images(root, eval_data), _rng())
    assert np.abs(images - expected).max() <= TOLERANCE


def _rng() -> np.random.Generator:
    return np.random.default_rng(0)  # tutorial_eval draws nothing


def test_inputs_over_several_epochs_repeats_the_same_order(root):
    batches = _take(cifar10.inputs(root, 100, epochs=2, channels_first=True))
    assert [len(lab) for _, lab in batches] == [100, 100, 100, 100]
    assert batches[0][0].shape == (100, 3, 24, 24)
    _assert_same_batches(batches[:2], batches[2:])


def test_inputs_channels_first_and_copy_give_the_same_values(root):
    nhwc = _take(cifar10.inputs(root, threads=1))
    nchw = _take(cifar10.inputs(root, threads=3, channels_first=True, copy=True))
    _assert_same_batches(nchw, [(i.transpose(0, 3, 1, 2), lab) for i, lab in nhwc])


# -- standard_train_inputs --------------------------------------------------------------


def test_standard_train_inputs_gives_the_reference_recipe(root, calls):
    images, labels = _images(root), _labels(root)
    reference = recipes.standard_train(cutout=8)
    pipe = cifar10.standard_train_inputs(root, 100, cutout=8, seed=1, epochs=1)
    batches = list(pipe)
    assert len(batches) == len(pipe) == TRAIN_N // 100
    for batch, batch_labels in batches:
        assert batch.shape == (100, 32, 32, 3)
        index, rng = calls.of(batch)
        np.testing.assert_array_equal(batch_labels, labels[index])
        assert np.abs(batch - reference.reference(images, rng, index=index)).max() <= TOLERANCE


def test_standard_train_inputs_channels_first_and_pool_shuffle(root):
    pipe = cifar10.standard_train_inputs(
        root, 50, shuffle="pool", seed=1, epochs=1, channels_first=True
    )
    batches = _take(pipe)
    assert len(batches) == TRAIN_N // 50
    assert batches[0][0].shape == (50, 3, 32, 32)
    labels = np.concatenate([lab for _, lab in batches])
    assert Counter(labels.tolist()) == Counter(_labels(root).tolist())


# -- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda d: cifar10.distorted_inputs(d),
        lambda d: cifar10.distorted_inputs(d, shuffle="pool"),
        lambda d: cifar10.inputs(d),
        lambda d: cifar10.inputs(d, eval_data=False),
        lambda d: cifar10.standard_train_inputs(d),
    ],
    ids=["distorted", "distorted pool", "inputs", "inputs train", "standard"],
)
def test_a_missing_data_dir_is_not_found(tmp_path, make):
    with pytest.raises(NotFoundError, match="download"):
        make(tmp_path / "nowhere")


BAD = [
    (cifar10.distorted_inputs, {"batch_size": 0}, "batch_size"),
    (cifar10.distorted_inputs, {"batch_size": 2.0}, "batch_size"),
    (cifar10.distorted_inputs, {"batch_size": True}, "batch_size"),
    (cifar10.distorted_inputs, {"shuffle": "nope"}, "shuffle"),
    (cifar10.distorted_inputs, {"shuffle": "pool", "threads": 0}, "threads"),
    (cifar10.distorted_inputs, {"threads": 0}, "threads"),
    (cifar10.distorted_inputs, {"threads": 1.5}, "threads"),
    (cifar10.distorted_inputs, {"copy": "yes"}, "copy"),
    (cifar10.distorted_inputs, {"channels_first": 1}, "channels_first"),
    (cifar10.inputs, {"batch_size": -1}, "batch_size"),
    (cifar10.inputs, {"eval_data": "test"}, "eval_data"),
    (cifar10.inputs, {"threads": 0}, "threads"),
    (cifar10.standard_train_inputs, {"cutout": -1}, "cutout"),
    (cifar10.standard_train_inputs, {"padding": -4}, "padding"),
    (cifar10.standard_train_inputs, {"shuffle": "window"}, "shuffle"),
    (cifar10.standard_train_inputs, {"batch_size": 0}, "batch_size"),
    (cifar10.distorted_inputs, {"shard": (2, 2)}, "shard"),
    (cifar10.distorted_inputs, {"shard": 3}, "shard"),
    (cifar10.inputs, {"shard": (0, 0)}, "shard"),
]


@pytest.mark.parametrize(("fn", "kwargs", "name"), BAD)
def test_bad_arguments_are_refused_by_name(root, fn, kwargs, name):
    with pytest.raises(InvalidArgumentError, match=name):
        fn(root, **kwargs)


# -- the embedded digits ----------------------------------------------------------------


def test_the_embedded_digits_flow_through_the_training_input(digits, calls):
    pipe = cifar10.distorted_inputs(digits, 100, seed=0, epochs=1, copy=True)
    batches = list(pipe)
    assert len(batches) == 1497 // 100 == len(pipe)
    labels = np.concatenate([lab for _, lab in batches])
    assert set(labels.tolist()) == set(range(10))
    index = np.concatenate([calls.of(images)[0] for images, _ in batches])
    assert len(np.unique(index)) == len(index) == 1400
    assert index.max() < 1497
    np.testing.assert_array_equal(labels, _labels(digits)[index])


def test_the_embedded_digits_flow_through_the_evaluation_input(digits):
    batches = _take(cifar10.inputs(digits))
    assert [len(lab) for _, lab in batches] == [128, 128, 44]
    labels = np.concatenate([lab for _, lab in batches])
    assert Counter(labels.tolist()) == dict.fromkeys(range(10), 30)
    np.testing.assert_array_equal(labels, _labels(digits, eval_data=True))
    assert np.isfinite(np.concatenate([i for i, _ in batches])).all()
    assert sum(len(lab) for _, lab in _take(cifar10.inputs(digits, eval_data=False))) == 1497
