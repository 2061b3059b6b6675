from __future__ import annotations

import threading

import pytest
import torch
from train_helpers import tiny

from conveyor.apps.cifar10 import checkpoint
from conveyor.apps.cifar10.eval import EvalConfig, eval_loop, evaluate_checkpoint, evaluate_model
from conveyor.apps.cifar10.train import train


@pytest.mark.timeout(120)
def test_evaluation_uses_the_moving_average_and_sees_every_test_image_once(tmp_path):
    result = train(tiny(tmp_path, max_steps=3))
    evaluation = evaluate_checkpoint(result.checkpoint)
    assert (evaluation.total, evaluation.global_step) == (300, 3)
    state = checkpoint.load(result.checkpoint)
    # the EMA weights differ from the trained ones, and they are what is evaluated
    weight = "conv1.weight"
    assert not torch.equal(state["ema"]["shadow"][weight], state["model"][weight])
    first = evaluate_checkpoint(result.checkpoint, num_examples=50)
    assert first.total == 50


def test_evaluate_model_counts_correct_predictions():
    class Oracle(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.one_hot(x[:, 0, 0, 0].long(), 10).float()

    import numpy as np

    import conveyor.pipeline as cp

    labels = np.arange(10, dtype=np.int64) % 10
    images = np.zeros((10, 1, 1, 1), np.float32)
    images[:, 0, 0, 0] = labels
    images[0, 0, 0, 0] = 5  # one wrong
    pipe = cp.from_arrays((images, labels)).batch(4)
    assert evaluate_model(Oracle(), pipe, "cpu") == (9, 10)


@pytest.mark.timeout(180)
def test_eval_once_prints_precision_and_writes_the_summary(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = train(tiny(tmp_path, max_steps=2))
    lines: list[str] = []
    config = EvalConfig(
        checkpoint_dir=str(result.checkpoint.parent),
        eval_dir=str(tmp_path / "eval"),
        run_once=True,
    )
    results = eval_loop(config, log=lines.append)
    assert len(results) == 1
    assert "precision @ 1 = " in lines[0]
    events = EventAccumulator(str(tmp_path / "eval"))
    events.Reload()
    (scalar,) = events.Scalars("Precision @ 1")
    assert scalar.step == 2
    assert scalar.value == pytest.approx(results[0].precision)


@pytest.mark.timeout(240)
def test_eval_loop_evaluates_new_checkpoints_while_a_trainer_writes_them(tmp_path):
    config = tiny(tmp_path, max_steps=8, checkpoint_steps=2, keep_checkpoints=10)
    trainer = threading.Thread(target=train, args=(config,))
    trainer.start()
    try:
        results = eval_loop(
            EvalConfig(
                checkpoint_dir=config.train_dir,
                eval_dir=str(tmp_path / "eval"),
                eval_interval_secs=0.05,
                stop_at_step=8,
                summaries=False,
            ),
            log=lambda line: None,
        )
    finally:
        trainer.join()
    steps = [r.global_step for r in results]
    assert steps[-1] == 8
    assert steps == sorted(set(steps))  # each checkpoint once, newest last
    assert all(r.total == 300 for r in results)


@pytest.mark.timeout(30)
def test_eval_waits_when_there_is_no_checkpoint(tmp_path):
    lines: list[str] = []
    naps: list[float] = []
    results = eval_loop(
        EvalConfig(
            checkpoint_dir=str(tmp_path / "none"),
            eval_interval_secs=7,
            max_evaluations=0,
            summaries=False,
        ),
        log=lines.append,
        sleep=naps.append,
    )
    assert results == [] and lines == [f"no checkpoint found in {tmp_path / 'none'}"]


@pytest.mark.timeout(120)
def test_a_resnet_checkpoint_is_rebuilt_from_its_configuration(tmp_path):
    config = tiny(tmp_path, model="resnet", num_residual_units=1, use_bottleneck=True)
    result = train(config)
    evaluation = evaluate_checkpoint(result.checkpoint)
    assert (evaluation.total, evaluation.global_step) == (300, 4)
    assert 0.0 <= evaluation.precision <= 1.0
