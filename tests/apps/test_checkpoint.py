from __future__ import annotations

import os
import pickle

import pytest
import torch

from conveyor.apps.cifar10 import checkpoint
from conveyor.errors import DataLossError, NotFoundError


def _state(step: int) -> dict:
    return {"global_step": step, "model": {"w": torch.full((2,), float(step))}, "data": {"a": [1]}}


def test_save_names_by_step_and_latest_finds_the_newest(tmp_path):
    for step in (5, 100, 20):
        checkpoint.save(tmp_path, _state(step), step, keep=10)
    assert [checkpoint.step_of(p) for p in checkpoint.list_checkpoints(tmp_path)] == [5, 20, 100]
    assert checkpoint.latest(tmp_path).name == "model.ckpt-100.pt"
    assert checkpoint.load(checkpoint.latest(tmp_path))["model"]["w"].tolist() == [100.0, 100.0]


def test_only_the_newest_k_are_kept(tmp_path):
    for step in range(1, 7):
        checkpoint.save(tmp_path, _state(step), step, keep=3)
    assert [checkpoint.step_of(p) for p in checkpoint.list_checkpoints(tmp_path)] == [4, 5, 6]


def test_save_is_atomic_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    checkpoint.save(tmp_path, _state(1), 1)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(tmp_path, _state(2), 2)
    assert sorted(os.listdir(tmp_path)) == ["model.ckpt-1.pt"]


def test_latest_of_a_missing_folder_is_none(tmp_path):
    assert checkpoint.latest(tmp_path / "nothing") is None
    with pytest.raises(NotFoundError):
        checkpoint.load(tmp_path / "model.ckpt-1.pt")


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_malicious_pickle_is_refused_and_never_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "model.ckpt-1.pt"
    torch.save({"global_step": 1, "model": _Exploit()}, path)
    with pytest.raises(DataLossError, match="refused"):
        checkpoint.load(path)
    assert not (tmp_path / "pwned").exists()
    raw = tmp_path / "model.ckpt-2.pt"
    raw.write_bytes(pickle.dumps({"global_step": 2, "x": _Exploit()}))
    with pytest.raises(DataLossError):
        checkpoint.load(raw)
    assert not (tmp_path / "pwned").exists()


def test_a_truncated_file_is_data_loss(tmp_path):
    path = checkpoint.save(tmp_path, _state(1), 1)
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(DataLossError):
        checkpoint.load(path)
