from __future__ import annotations

import pytest
import torch

from conveyor.apps.cifar10.ema import ExponentialMovingAverage, decay_at


def test_decay_is_min_of_decay_and_one_plus_step_over_ten_plus_step():
    assert decay_at(0.9999, 0) == pytest.approx(0.1)
    assert decay_at(0.9999, 10) == pytest.approx(11 / 20)
    assert decay_at(0.999, 100_000) == 0.999


def test_shadow_follows_the_seeds_formula_by_hand():
    model = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema = ExponentialMovingAverage(model, decay=0.9)
    # step 1: decay = min(0.9, 2/11); shadow = d * 1 + (1 - d) * 3
    with torch.no_grad():
        model.weight.fill_(3.0)
    assert ema.update(model, 1) == pytest.approx(2 / 11)
    first = 2 / 11 * 1.0 + 9 / 11 * 3.0
    assert ema.shadow["weight"].item() == pytest.approx(first)
    # step 100: decay = min(0.9, 101/110) = 0.9
    with torch.no_grad():
        model.weight.fill_(5.0)
    assert ema.update(model, 100) == pytest.approx(0.9)
    assert ema.shadow["weight"].item() == pytest.approx(0.9 * first + 0.1 * 5.0)


def test_buffers_are_copied_not_averaged():
    model = torch.nn.BatchNorm1d(2)
    ema = ExponentialMovingAverage(model, decay=0.99)
    model.running_mean.fill_(7.0)
    model.num_batches_tracked.fill_(3)
    ema.update(model, 1000)
    assert ema.shadow["running_mean"].tolist() == [7.0, 7.0]
    assert ema.shadow["num_batches_tracked"].item() == 3


def test_copy_to_loads_the_averages_into_a_model():
    model = torch.nn.Linear(2, 2)
    ema = ExponentialMovingAverage(model)
    other = torch.nn.Linear(2, 2)
    ema.copy_to(other)
    torch.testing.assert_close(other.weight, model.weight)


def test_state_dict_round_trips():
    model = torch.nn.Linear(2, 2)
    ema = ExponentialMovingAverage(model, decay=0.5)
    ema.update(model, 3)
    again = ExponentialMovingAverage(torch.nn.Linear(2, 2))
    again.load_state_dict(ema.state_dict())
    assert again.decay == 0.5
    torch.testing.assert_close(again.shadow["weight"], ema.shadow["weight"])
