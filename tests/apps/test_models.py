from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from conveyor.apps.cifar10.models import (
    HParams,
    ResNet,
    TutorialNet,
    learning_rate,
    lrn,
    max_pool_same,
)


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _tf_lrn(x, depth_radius=4, bias=1.0, alpha=0.001 / 9.0, beta=0.75):
    """tf.nn.lrn written out: the sum over channels d - r .. d + r, times alpha."""
    squares = x.square()
    channels = x.shape[1]
    total = torch.zeros_like(x)
    for d in range(channels):
        low, high = max(0, d - depth_radius), min(channels, d + depth_radius + 1)
        total[:, d] = squares[:, low:high].sum(dim=1)
    return x / (bias + alpha * total) ** beta


def test_lrn_maps_tensorflows_depth_radius_and_alpha_to_torchs_size_and_alpha():
    norm = lrn()
    assert (norm.size, norm.k, norm.beta) == (9, 1.0, 0.75)
    assert norm.alpha == pytest.approx(0.001)
    x = torch.randn(2, 20, 3, 3) * 10
    torch.testing.assert_close(norm(x), _tf_lrn(x), rtol=1e-5, atol=1e-6)


def test_max_pool_same_pads_after_as_tensorflow_same_padding():
    x = torch.arange(24 * 24, dtype=torch.float32).reshape(1, 1, 24, 24)
    out = max_pool_same(x)
    assert out.shape == (1, 1, 12, 12)
    # window i covers rows 2i .. 2i+2, the last one padded: its max is the last row's
    assert out[0, 0, 0, 0] == x[0, 0, 2, 2]
    assert out[0, 0, -1, -1] == x[0, 0, -1, -1]
    assert max_pool_same(torch.zeros(1, 1, 12, 12)).shape == (1, 1, 6, 6)


def test_tutorial_net_is_the_tutorials_layers_on_24x24_inputs():
    net = TutorialNet()
    assert net(torch.randn(2, 3, 24, 24)).shape == (2, 10)
    assert net.local3.in_features == 6 * 6 * 64
    assert (net.local3.out_features, net.local4.out_features) == (384, 192)
    assert net.features(torch.randn(2, 3, 24, 24)).shape == (2, 192)
    # conv1 5x5x3x64, conv2 5x5x64x64, fc 2304x384, 384x192, 192x10, with biases
    expected = (75 * 64 + 64) + (1600 * 64 + 64) + (2304 * 384 + 384) + (384 * 192 + 192)
    assert _count(net) == expected + 192 * 10 + 10


def test_tutorial_net_decays_only_the_fully_connected_weights():
    net = TutorialNet(weight_decay=0.004)
    assert [w.shape for w in net.decayed_weights()] == [(384, 2304), (192, 384)]
    expected = 0.004 * (net.local3.weight.square().sum() + net.local4.weight.square().sum()) / 2
    torch.testing.assert_close(net.weight_decay_loss(), expected)


def test_tutorial_net_follows_the_image_size():
    assert TutorialNet(image_size=32)(torch.randn(1, 3, 32, 32)).shape == (1, 10)


@pytest.mark.parametrize(
    ("units", "published"), [(3, 0.27e6), (5, 0.46e6), (9, 0.85e6), (18, 1.7e6)]
)
def test_resnet_parameter_counts_match_the_published_figures(units, published):
    model = ResNet(HParams(num_residual_units=units))
    assert model.hps.depth == 6 * units + 2
    assert abs(_count(model) - published) / published < 0.03


def test_resnet_164_bottleneck_has_the_published_1_7m_parameters():
    model = ResNet(HParams(num_residual_units=18, use_bottleneck=True))
    assert model.hps.depth == 164
    assert abs(_count(model) - 1.7e6) / 1.7e6 < 0.03


@pytest.mark.parametrize("bottleneck", [False, True])
def test_resnet_runs_on_32x32_and_gives_pooled_features(bottleneck):
    model = ResNet(HParams(num_residual_units=1, use_bottleneck=bottleneck))
    x = torch.randn(2, 3, 32, 32)
    assert model(x).shape == (2, 10)
    assert model.features(x).shape == (2, 256 if bottleneck else 64)


def test_resnet_uses_leaky_relu_of_relu_leakiness():
    model = ResNet(HParams(num_residual_units=1, relu_leakiness=0.0)).eval()
    leaky = ResNet(HParams(num_residual_units=1, relu_leakiness=0.3)).eval()
    leaky.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 32, 32)
    assert not torch.allclose(model(x), leaky(x))


def test_resnet_weight_decay_covers_every_conv_and_the_classifier():
    model = ResNet(HParams(num_residual_units=1, weight_decay_rate=0.0002))
    weights = model.decayed_weights()
    assert len(weights) == 1 + 3 * 2 + 1  # first conv, two per unit, classifier
    expected = 0.0002 * sum(w.square().sum() for w in weights) / 2
    torch.testing.assert_close(model.weight_decay_loss(), expected)


def test_hparams_has_the_seeds_defaults_and_checks_the_optimizer():
    hps = HParams()
    assert (hps.lrn_rate, hps.min_lrn_rate, hps.num_residual_units) == (0.1, 0.0001, 5)
    assert (hps.weight_decay_rate, hps.relu_leakiness, hps.optimizer) == (0.0002, 0.1, "mom")
    with pytest.raises(ValueError, match="optimizer"):
        HParams(optimizer="adam")


def test_the_step_schedule_is_resnet_mains_floored_at_min_lrn_rate():
    assert learning_rate(0) == 0.1
    assert learning_rate(39_999) == 0.1
    assert learning_rate(40_000) == pytest.approx(0.01)
    assert learning_rate(59_999) == pytest.approx(0.01)
    assert learning_rate(60_000) == pytest.approx(0.001)
    assert learning_rate(80_000) == pytest.approx(0.0001)
    assert learning_rate(80_000, min_lrn_rate=0.0005) == 0.0005


def test_models_train_one_step_without_error():
    for model in (TutorialNet(width=8), ResNet(HParams(num_residual_units=1))):
        size = 24 if isinstance(model, TutorialNet) else 32
        logits = model(torch.randn(4, 3, size, size))
        loss = F.cross_entropy(logits, torch.arange(4)) + model.weight_decay_loss()
        loss.backward()
        assert all(p.grad is not None for p in model.parameters())
