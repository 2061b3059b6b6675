"""Data-parallel training: two CPU processes (gloo) launched by torch.distributed.run
train exactly as one process does on the union of their batches; two "nodes" on
127.0.0.1 train together. Tiny models and few steps: the machine is small."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from train_helpers import tiny

import conveyor
from conveyor.apps import loop
from conveyor.apps.cifar10 import checkpoint, data, train as train_module
from conveyor.datasets import embedded
from conveyor.pipeline import from_arrays

SRC = str(Path(conveyor.__file__).resolve().parent.parent)
WORKER = str(Path(__file__).with_name("dist_worker.py"))

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
    reason="needs torch.distributed with gloo",
)

GLOBAL_BATCH = 8
STEPS = 3


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(tmp_path, name: str):
    return tiny(
        tmp_path / name,
        batch_size=GLOBAL_BATCH,
        max_steps=STEPS,
        log_frequency=1,
        lrn_rate=0.05,
        schedule="cosine",
        device="cpu",
    )


def _rank_batches(config, rank: int, world: int) -> list[tuple[np.ndarray, np.ndarray]]:
    pipe = data.train_inputs(
        config.input_recipe,
        embedded(),
        config.batch_size // world,
        seed=config.seed,
        threads=1,
        shard=(rank, world),
    )
    it = pipe.iterate()
    try:
        return [tuple(np.array(a) for a in next(it)) for _ in range(STEPS)]
    finally:
        it.close()


def _params(path: Path) -> dict[str, torch.Tensor]:
    state = checkpoint.load(path)
    return {**state["model"], **{f"ema.{k}": v for k, v in state["ema"].items()}}


@pytest.mark.timeout(600)
def test_two_processes_train_as_one_on_the_union_of_their_batches(tmp_path, monkeypatch):
    config = _config(tmp_path, "ddp")
    config_file, result_file = tmp_path / "config.json", tmp_path / "result.json"
    config_file.write_text(json.dumps(config.as_dict()))
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         WORKER, str(config_file), str(result_file)],
        env=_env(), capture_output=True, text=True, timeout=540,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    distributed = json.loads(result_file.read_text())
    assert distributed["global_step"] == STEPS

    # Source sharding: per step, the two ranks' images are together exactly the images
    # one process reads with the global batch (same labels, as a multiset).
    shards = [_rank_batches(config, r, 2) for r in range(2)]
    whole = _rank_batches(config, 0, 1)
    for step in range(STEPS):
        union = np.concatenate([shards[0][step][1], shards[1][step][1]])
        assert sorted(union.tolist()) == sorted(whole[step][1].tolist())

    # One process fed, step by step, the union of the two ranks' augmented batches.
    images = np.stack([np.concatenate([shards[0][s][0], shards[1][s][0]]) for s in range(STEPS)])
    labels = np.stack([np.concatenate([shards[0][s][1], shards[1][s][1]]) for s in range(STEPS)])
    monkeypatch.setattr(
        train_module, "build_inputs", lambda config, data_dir: from_arrays((images, labels))
    )
    single_config = dataclasses.replace(config, train_dir=str(tmp_path / "single" / "train"))
    single = train_module.train(single_config)
    assert single.global_step == STEPS

    assert distributed["loss"] == pytest.approx(single.loss, rel=1e-5, abs=1e-6)
    ddp_ckpt = checkpoint.latest(config.train_dir)
    assert ddp_ckpt is not None and single.checkpoint is not None
    ddp_params, single_params = _params(ddp_ckpt), _params(single.checkpoint)
    assert ddp_params.keys() == single_params.keys()
    for name, value in single_params.items():
        torch.testing.assert_close(ddp_params[name], value, rtol=1e-4, atol=1e-6, msg=name)
    # The run moved: the comparison is not of two initialisations.
    init = train_module.build_model(config).state_dict()
    assert any(not torch.equal(init[k], single_params[k]) for k in init)
    # Every rank's input position is in the checkpoint, for --resume.
    assert len(checkpoint.load(ddp_ckpt)["data_ranks"]) == 2


def _cli(tmp_path, name: str, *flags: str) -> list[str]:
    return [
        sys.executable, "-m", "conveyor", "cifar10", "train",
        "--train_dir", str(tmp_path / name), "--max_steps", "2", "--batch_size", "8",
        "--width", "8", "--log_frequency", "1", "--seed", "0", "--threads", "1",
        "--torch_threads", "1", "--no_summaries", "--no_eval", "--device", "cpu",
        "--no-progress", *flags,
    ]  # fmt: skip


@pytest.mark.timeout(600)
def test_nproc_trains_with_two_processes_and_rank_0_alone_logs_and_checkpoints(tmp_path):
    run = subprocess.run(
        _cli(tmp_path, "train", "--nproc", "2"),
        env=_env(), capture_output=True, text=True, timeout=540,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert run.stdout.count("step 2, loss = ") == 1  # rank 0's line only
    newest = checkpoint.latest(tmp_path / "train")
    assert newest is not None and checkpoint.step_of(newest) == 2
    state = checkpoint.load(newest)
    assert len(state["data_ranks"]) == 2
    # a torch generator per rank, seeded from the run's seed and the rank
    rngs = [r["torch"] for r in state["rng_ranks"]]
    expected = [torch.Generator().manual_seed(loop.rank_seed(0, r)).get_state() for r in (0, 1)]
    assert [torch.equal(a, b) for a, b in zip(rngs, expected)] == [True, True]


def _node(tmp_path, rank: int, port: int) -> subprocess.Popen[str]:
    flags = ["--nnodes", "2", "--node_rank", str(rank), "--master_addr", "127.0.0.1",
             "--master_port", str(port)]  # fmt: skip
    return subprocess.Popen(
        _cli(tmp_path, "train", *flags),
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.timeout(600)
def test_two_nodes_on_localhost_train_together(tmp_path):
    port = _free_port()
    nodes = [_node(tmp_path, rank, port) for rank in range(2)]
    try:
        outputs = [node.communicate(timeout=540) for node in nodes]
    finally:
        for node in nodes:
            if node.poll() is None:
                node.kill()
    for node, (out, err) in zip(nodes, outputs, strict=True):
        assert node.returncode == 0, out[-3000:] + err[-3000:]
    # One world of two: a single rank 0 logged and wrote the checkpoint, holding both
    # ranks' input positions.
    assert sum(out.count("step 2, loss = ") for out, _ in outputs) == 1
    newest = checkpoint.latest(tmp_path / "train")
    assert newest is not None and checkpoint.step_of(newest) == 2
    assert len(checkpoint.load(newest)["data_ranks"]) == 2


@pytest.mark.timeout(600)
def test_sigterm_to_the_command_stops_every_rank_after_a_checkpoint(tmp_path):
    flags = ["--nproc", "2", "--max_steps", "100000", "--checkpoint_secs", "100000"]
    process = subprocess.Popen(
        _cli(tmp_path, "train", *flags),
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("step 3,"):
                break
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 128 + signal.SIGTERM, out[-3000:] + err[-3000:]
    assert "stopped by SIGTERM at step" in out
    newest = checkpoint.latest(tmp_path / "train")
    assert newest is not None and checkpoint.step_of(newest) >= 3
    assert len(checkpoint.load(newest)["data_ranks"]) == 2


def _launch_worker(tmp_path, config, name: str) -> dict:
    config_file, result_file = tmp_path / f"{name}.json", tmp_path / f"{name}.result.json"
    config_file.write_text(json.dumps(config.as_dict()))
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         WORKER, str(config_file), str(result_file)],
        env=_env(), capture_output=True, text=True, timeout=540,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return json.loads(result_file.read_text())


@pytest.mark.timeout(900)
def test_a_resumed_two_process_run_continues_every_shard_exactly(tmp_path):
    # Stopped past the end of the first epoch, where the shards' positions differ (of
    # the 1,497 images rank 0 has 749 an epoch, rank 1 748), and on a schedule that does
    # not depend on max_steps (cosine would).
    whole = dataclasses.replace(
        _config(tmp_path, "whole"), max_steps=192, schedule="tutorial", log_frequency=64
    )
    _launch_worker(tmp_path, whole, "whole")
    halves = dataclasses.replace(whole, train_dir=str(tmp_path / "halves" / "train"), max_steps=190)
    _launch_worker(tmp_path, halves, "first")
    resumed = _launch_worker(
        tmp_path, dataclasses.replace(halves, max_steps=192, resume=True), "second"
    )
    assert resumed["global_step"] == 192
    a = checkpoint.latest(whole.train_dir)
    b = checkpoint.latest(halves.train_dir)
    assert a is not None and b is not None and checkpoint.step_of(b) == 192
    pa, pb = _params(a), _params(b)
    for name, value in pa.items():
        torch.testing.assert_close(pb[name], value, rtol=0, atol=0, msg=name)
