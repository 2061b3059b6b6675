from __future__ import annotations

import dataclasses

import pytest
import torch
from train_helpers import tiny

from conveyor.apps.cifar10 import checkpoint
from conveyor.apps.cifar10.train import TrainConfig, learning_rate_at, train
from conveyor.errors import InvalidArgumentError


@pytest.mark.timeout(120)
def test_train_logs_the_tutorials_line_and_checkpoints_at_the_end(tmp_path):
    lines: list[str] = []
    result = train(tiny(tmp_path), log=lines.append)
    assert result.global_step == 4
    assert [line.split(",")[0] for line in lines[:-1]] == ["step 2", "step 4"]
    assert all(" examples/sec; " in line and line.endswith(" sec/batch)") for line in lines[:-1])
    assert lines[-1].startswith("trained 4 steps in ") and "input stall " in lines[-1]
    assert lines[0].startswith("step 2, loss = ")
    assert result.checkpoint == tmp_path / "train" / "model.ckpt-4.pt"
    state = checkpoint.load(result.checkpoint)
    assert state["global_step"] == 4
    assert set(state) >= {"model", "optimizer", "ema", "rng", "data", "config"}
    assert state["data"]["version"] == 2
    assert 0.0 <= result.input_stall <= 1.0


@pytest.mark.timeout(120)
def test_checkpoints_every_n_steps_keeping_the_newest_k(tmp_path):
    result = train(tiny(tmp_path, max_steps=6, checkpoint_steps=1, keep_checkpoints=2))
    names = [p.name for p in checkpoint.list_checkpoints(tmp_path / "train")]
    assert names == ["model.ckpt-5.pt", "model.ckpt-6.pt"]
    assert result.checkpoint.name == "model.ckpt-6.pt"


@pytest.mark.timeout(180)
def test_resume_at_k_gives_the_parameters_of_an_uninterrupted_run_at_2k(tmp_path):
    whole = train(tiny(tmp_path / "a", max_steps=6))
    train(tiny(tmp_path / "b", max_steps=3))
    resumed = train(tiny(tmp_path / "b", max_steps=6, resume=True))
    assert resumed.global_step == 6
    a = checkpoint.load(whole.checkpoint)
    b = checkpoint.load(resumed.checkpoint)
    for name, value in a["model"].items():
        assert torch.equal(value, b["model"][name]), name
    for name, value in a["ema"]["shadow"].items():
        assert torch.equal(value, b["ema"]["shadow"][name]), name
    assert a["data"] == b["data"]


@pytest.mark.timeout(120)
def test_a_fresh_run_replaces_an_older_runs_checkpoints(tmp_path):
    train(tiny(tmp_path, max_steps=5))
    train(tiny(tmp_path, max_steps=2))
    assert [p.name for p in checkpoint.list_checkpoints(tmp_path / "train")] == ["model.ckpt-2.pt"]


@pytest.mark.timeout(120)
def test_the_resnet_trains_on_32x32_images(tmp_path):
    config = tiny(tmp_path, model="resnet", num_residual_units=1, max_steps=2)
    assert config.input_recipe == "digits"
    result = train(config)
    assert result.global_step == 2
    hps = config.hparams()
    assert (hps.num_residual_units, hps.weight_decay_rate, hps.optimizer) == (1, 0.0002, "mom")


@pytest.mark.timeout(120)
def test_evaluate_reports_precision_of_the_moving_average(tmp_path):
    lines: list[str] = []
    result = train(tiny(tmp_path, max_steps=2, evaluate=True), log=lines.append)
    assert 0.0 <= result.precision <= 1.0
    assert lines[-1].startswith("precision @ 1 = ")
    assert lines[-1].endswith("of 300 test images)")


def test_recipes_and_schedules_follow_the_model_and_the_data():
    assert TrainConfig().input_recipe == "digits"
    assert TrainConfig(data_dir="/d").input_recipe == "tutorial"
    assert TrainConfig(data_dir="/d", model="resnet").input_recipe == "standard"
    assert TrainConfig(model="resnet").lr_schedule == "resnet"
    config = TrainConfig()
    assert learning_rate_at(config, 0, 390.625) == 0.1
    decay_steps = int(390.625 * 350)
    assert learning_rate_at(config, decay_steps, 390.625) == pytest.approx(0.01)
    cosine = dataclasses.replace(config, schedule="cosine", max_steps=100)
    assert learning_rate_at(cosine, 50, 1) == pytest.approx(0.05)
    assert learning_rate_at(cosine, 100, 1) == pytest.approx(0.0)
    resnet = TrainConfig(model="resnet")
    assert learning_rate_at(resnet, 40_000, 1) == pytest.approx(0.01)


def test_bad_configurations_are_refused():
    with pytest.raises(InvalidArgumentError, match="model"):
        TrainConfig(model="vgg")
    with pytest.raises(InvalidArgumentError, match="max_steps"):
        TrainConfig(max_steps=0)
    with pytest.raises(InvalidArgumentError, match="schedule"):
        TrainConfig(schedule="linear")


def test_resume_refuses_a_checkpoint_of_another_number_of_processes(tmp_path):
    first = train(tiny(tmp_path, max_steps=2, checkpoint_steps=1))
    assert first.checkpoint is not None
    state = checkpoint.load(first.checkpoint)
    state["data_ranks"] = [state["data"], state["data"]]  # as two ranks write it
    checkpoint.save(tmp_path / "train", state, 3)
    with pytest.raises(InvalidArgumentError, match="input positions of 2 process"):
        train(tiny(tmp_path, max_steps=4, resume=True))


def test_resume_gives_each_rank_its_own_generator_state(tmp_path, monkeypatch):
    from conveyor.apps import loop
    from conveyor.apps.cifar10.ema import ExponentialMovingAverage
    from conveyor.apps.cifar10.train import build_inputs, build_model, build_optimizer
    from conveyor.datasets import embedded
    from conveyor.torch import loader

    config = tiny(tmp_path, max_steps=2, checkpoint_steps=1)
    first = train(config)
    assert first.checkpoint is not None
    model = build_model(config)
    parts = (
        model,
        build_optimizer(model, config),
        ExponentialMovingAverage(model, config.ema_decay),
        loader(build_inputs(config, embedded())),
    )
    state = checkpoint.load(first.checkpoint)
    rngs = [torch.Generator().manual_seed(s).get_state() for s in (11, 12)]
    state["data_ranks"] = [state["data"]] * 2
    state["rng_ranks"] = [{"torch": r} for r in rngs]
    for rank in (0, 1):
        monkeypatch.setattr(loop, "world", lambda rank=rank: (rank, 2))
        assert loop.restore_state(state, *parts) == 2
        assert torch.equal(torch.get_rng_state(), rngs[rank])
    # a single process's checkpoint: its one state
    monkeypatch.setattr(loop, "world", lambda: (0, 1))
    single = checkpoint.load(first.checkpoint)
    loop.restore_state(single, *parts)
    assert torch.equal(torch.get_rng_state(), single["rng"]["torch"])
