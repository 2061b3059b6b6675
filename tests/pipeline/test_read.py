"""files() + read(): records from CIFAR-10-format files through reader threads."""

from __future__ import annotations

import collections
import threading

import numpy as np
import pytest

import conveyor as cv
import conveyor.pipeline as cp

pytestmark = pytest.mark.timeout(60)

RECORD = 1 + 3 * 4 * 4  # a small CIFAR-style record: label byte + CHW image


def _write_cifar_like(tmp_path, files=5, per_file=40):
    """Files of records whose bytes encode (file, index): label = file, pixels = index."""
    names = []
    for f in range(files):
        records = np.zeros((per_file, RECORD), dtype=np.uint8)
        records[:, 0] = f
        records[:, 1:] = (np.arange(per_file) % 256)[:, None]
        path = tmp_path / f"data_batch_{f}.bin"
        path.write_bytes(records.tobytes())
        names.append(str(path))
    return names


def _ids(values: np.ndarray) -> list[tuple[int, int]]:
    return list(zip(values[:, 0].tolist(), values[:, 1].tolist()))


def test_read_yields_every_record_of_every_file_once_per_epoch(tmp_path):
    _write_cifar_like(tmp_path)
    pipe = cp.files(str(tmp_path / "data_batch_*.bin"), shuffle=True, seed=0, epochs=2).read(
        cv.FixedLengthRecordReader(RECORD), threads=3, chunk=7
    )
    keys, ids = [], []
    for key, value in pipe:
        keys.append(key)
        ids.append((int(value[0]), int(value[1])))
    assert collections.Counter(ids) == collections.Counter(
        [(f, i) for f in range(5) for i in range(40)] * 2
    )
    name, index = keys[0].rsplit(b":", 1)
    assert name.endswith(b".bin") and int(index) < 40


def test_read_without_shuffle_and_one_thread_keeps_file_and_record_order(tmp_path):
    names = _write_cifar_like(tmp_path, files=3, per_file=5)
    pipe = cp.files(names, shuffle=False).read(cv.FixedLengthRecordReader(RECORD), chunk=2)
    got = [(bytes(k), int(v[0]), int(v[1])) for k, v in pipe]
    want = [(f"{names[f]}:{i}".encode(), f, i) for f in range(3) for i in range(5)]
    assert got == want


def test_deterministic_read_with_many_threads_matches_one_thread(tmp_path):
    _write_cifar_like(tmp_path, files=6, per_file=50)

    def build(threads):
        return (
            cp.files(str(tmp_path / "*.bin"), shuffle=True, epochs=2)
            .read(cv.FixedLengthRecordReader(RECORD), threads=threads, chunk=8)
            .map(lambda k, v: v, batched=True, threads=threads)
            .shuffle(100)
            .batch(16)
            .with_options(deterministic=True, seed=7)
        )

    one = [_ids(b) for b in build(1)]
    three = [_ids(b) for b in build(3)]
    assert one == three
    assert sum(len(b) for b in one) == 600


def test_files_shard_splits_whole_files_between_ranks(tmp_path):
    _write_cifar_like(tmp_path, files=4, per_file=10)
    per_rank = []
    for rank in range(2):
        pipe = (
            cp.files(str(tmp_path / "*.bin"), shuffle=True, seed=1)
            .shard(rank, 2)
            .read(cv.FixedLengthRecordReader(RECORD))
        )
        per_rank.append({int(v[0]) for _, v in pipe})
    assert per_rank[0].isdisjoint(per_rank[1])
    assert per_rank[0] | per_rank[1] == {0, 1, 2, 3}
    assert len(per_rank[0]) == 2


def test_too_few_files_shard_records_instead(tmp_path):
    _write_cifar_like(tmp_path, files=1, per_file=30)
    per_rank = []
    for rank in range(3):
        pipe = (
            cp.files(str(tmp_path / "*.bin"))
            .read(cv.FixedLengthRecordReader(RECORD), chunk=4)
            .shard(rank, 3)
        )
        per_rank.append([int(v[1]) for _, v in pipe])
    assert sorted(v for r in per_rank for v in r) == list(range(30))
    assert [len(r) for r in per_rank] == [10, 10, 10]


def test_a_corrupt_file_surfaces_as_data_loss_after_its_good_records(tmp_path):
    good = np.zeros((3, RECORD), dtype=np.uint8).tobytes()
    (tmp_path / "a.bin").write_bytes(good + b"\x01\x02")  # two stray bytes
    pipe = cp.files(str(tmp_path / "a.bin")).read(cv.FixedLengthRecordReader(RECORD), chunk=10)
    got = []
    with pytest.raises(cv.errors.DataLossError, match=r"a\.bin"):
        for _, v in pipe:
            got.append(v)
    assert len(got) == 3
    assert [t for t in threading.enumerate() if t.name.startswith("QueueRunner")] == []


def test_text_lines_through_read_and_map(tmp_path):
    (tmp_path / "a.txt").write_text("x,1\ny,2\n")
    (tmp_path / "b.txt").write_text("z,3\n")
    pipe = (
        cp.files([str(tmp_path / "a.txt"), str(tmp_path / "b.txt")], shuffle=False)
        .read(cv.TextLineReader())
        .map(lambda key, line: int(line.split(b",")[1]))
    )
    assert [int(v) for v in pipe] == [1, 2, 3]


def test_resume_mid_file_yields_exactly_the_rest_of_the_uninterrupted_run(tmp_path):
    _write_cifar_like(tmp_path, files=4, per_file=90)

    def build():
        return (
            cp.files(str(tmp_path / "*.bin"), shuffle=True, epochs=2)
            .read(cv.FixedLengthRecordReader(RECORD), threads=2, chunk=16)
            .shuffle(50)
            .batch(10)
            .with_options(deterministic=True, seed=11)
        )

    full = [_ids(values) for _, values in build()]
    assert sum(len(b) for b in full) == 720
    pipe = build()
    it = iter(pipe)
    head = [_ids(next(it)[1]) for _ in range(13)]  # 130 records: inside the second file
    state = it.state_dict()
    it.close()
    assert head == full[:13]
    resumed = build()
    assert [_ids(values) for _, values in resumed.iterate(state)] == full[13:]
