"""The CIFAR-10 models: the tutorial network (``cifar10.py``) and the ResNet of the
TensorFlow models' ``resnet_model.py`` with its ``HParams``.

Both are :class:`torch.nn.Module` s taking NCHW float32 batches and returning logits,
and both have:

- ``weight_decay_loss()``: the weight-decay term TensorFlow adds to the loss,
  ``rate * sum(w ** 2) / 2`` (``tf.nn.l2_loss``) over the decayed weights;
- ``features(x)``: the activations before the classifier ("bottleneck" features);
- ``classifier``: the final linear layer, applied to ``features(x)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "HParams",
    "ResNet",
    "TutorialNet",
    "learning_rate",
    "lrn",
    "max_pool_same",
]


def lrn() -> nn.LocalResponseNorm:
    """TensorFlow's ``tf.nn.lrn(x, depth_radius=4, bias=1.0, alpha=0.001 / 9.0,
    beta=0.75)`` as torch's :class:`~torch.nn.LocalResponseNorm`.

    TensorFlow sums the squares of ``2 * depth_radius + 1`` channels and multiplies the
    sum by ``alpha``; torch sums ``size`` channels and multiplies by ``alpha / size``.
    So ``size = 9`` and torch's ``alpha = 9 * (0.001 / 9) = 0.001``.
    """
    depth_radius, tf_alpha = 4, 0.001 / 9.0
    size = 2 * depth_radius + 1
    return nn.LocalResponseNorm(size, alpha=tf_alpha * size, beta=0.75, k=1.0)


def max_pool_same(x: torch.Tensor, kernel: int = 3, stride: int = 2) -> torch.Tensor:
    """``tf.nn.max_pool(ksize=kernel, strides=stride, padding="SAME")``: output
    ``ceil(size / stride)``, the padding put after rather than before when it is odd."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):  # F.pad's order: last dimension first
        out = math.ceil(size / stride)
        total = max((out - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.max_pool2d(F.pad(x, pads, value=float("-inf")), kernel, stride)


def _bias(layer: nn.Conv2d | nn.Linear) -> torch.Tensor:
    assert layer.bias is not None
    return layer.bias


def _l2_loss(weights: list[torch.Tensor]) -> torch.Tensor:
    """``tf.nn.l2_loss`` summed: ``sum(w ** 2) / 2`` over every weight."""
    return torch.stack([w.square().sum() for w in weights]).sum() / 2


def _truncated_normal_(tensor: torch.Tensor, std: float) -> torch.Tensor:
    # tf.truncated_normal_initializer: a normal cut at two standard deviations
    return nn.init.trunc_normal_(tensor, 0.0, std, -2 * std, 2 * std)


class TutorialNet(nn.Module):
    """The CIFAR-10 tutorial's network (``cifar10.inference``).

    conv 5x5x64 → ReLU → max-pool 3x3/2 → LRN → conv 5x5x64 → ReLU → LRN → max-pool
    3x3/2 → fc 384 → ReLU → fc 192 → ReLU → linear 10. Initialised as the tutorial
    does (truncated normals; biases 0, 0.1, 0.1, 0.1, 0), weight decay 0.004 on the two
    fully connected layers only.

    Args:
        image_size: the (square) input size: 24 for the tutorial's crops; any size works
            (the first fully connected layer follows it).
        num_classes: outputs.
        weight_decay: the fc layers' weight-decay rate (the tutorial's 0.004).
        width: channels of each convolution (the tutorial's 64).
    """

    def __init__(
        self,
        image_size: int = 24,
        num_classes: int = 10,
        weight_decay: float = 0.004,
        width: int = 64,
    ) -> None:
        super().__init__()
        self.weight_decay = weight_decay
        self.conv1 = nn.Conv2d(3, width, 5, padding=2)
        self.norm1 = lrn()
        self.conv2 = nn.Conv2d(width, width, 5, padding=2)
        self.norm2 = lrn()
        side = math.ceil(math.ceil(image_size / 2) / 2)
        self.local3 = nn.Linear(width * side * side, 384)
        self.local4 = nn.Linear(384, 192)
        self.classifier = nn.Linear(192, num_classes)
        _truncated_normal_(self.conv1.weight, 5e-2)
        nn.init.zeros_(_bias(self.conv1))
        _truncated_normal_(self.conv2.weight, 5e-2)
        nn.init.constant_(_bias(self.conv2), 0.1)
        for fc in (self.local3, self.local4):
            _truncated_normal_(fc.weight, 0.04)
            nn.init.constant_(fc.bias, 0.1)
        _truncated_normal_(self.classifier.weight, 1 / 192.0)
        nn.init.zeros_(self.classifier.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 192 activations of ``local4``, before the classifier."""
        x = self.norm1(max_pool_same(F.relu(self.conv1(x))))
        x = max_pool_same(self.norm2(F.relu(self.conv2(x))))
        x = F.relu(self.local3(torch.flatten(x, 1)))
        return F.relu(self.local4(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))

    def decayed_weights(self) -> list[torch.Tensor]:
        """The weights under weight decay: those of the fc layers local3 and local4."""
        return [self.local3.weight, self.local4.weight]

    def weight_decay_loss(self) -> torch.Tensor:
        """``weight_decay * sum(w ** 2) / 2`` over :meth:`decayed_weights`."""
        return self.weight_decay * _l2_loss(self.decayed_weights())


@dataclass(frozen=True)
class HParams:
    """The ResNet's hyper-parameters, as ``resnet_model.HParams``.

    The seed's values for CIFAR-10 are the defaults: ``num_residual_units=5`` is
    ResNet-32 (6n + 2 layers; 9n + 2 with ``use_bottleneck``).
    """

    batch_size: int = 128
    num_classes: int = 10
    min_lrn_rate: float = 0.0001
    lrn_rate: float = 0.1
    num_residual_units: int = 5
    use_bottleneck: bool = False
    weight_decay_rate: float = 0.0002
    relu_leakiness: float = 0.1
    optimizer: str = "mom"

    def __post_init__(self) -> None:
        if self.optimizer not in ("mom", "sgd"):
            raise ValueError(f"optimizer must be 'mom' or 'sgd', got {self.optimizer!r}")
        if self.num_residual_units < 1:
            raise ValueError(f"num_residual_units must be >= 1, got {self.num_residual_units}")

    @property
    def depth(self) -> int:
        """Layers with weights: 6n + 2 plain, 9n + 2 bottleneck."""
        n = self.num_residual_units
        return 9 * n + 2 if self.use_bottleneck else 6 * n + 2


def learning_rate(step: int, base: float = 0.1, min_lrn_rate: float = 0.0001) -> float:
    """The step schedule of the seed's ``resnet_main``: ``base`` until step 40,000, a
    tenth of it until 60,000, a hundredth until 80,000, a thousandth after, never below
    ``min_lrn_rate``.

    >>> [learning_rate(s) for s in (0, 39_999, 40_000, 60_000, 80_000)]
    [0.1, 0.1, 0.01, 0.001, 0.0001]
    """
    if step < 40_000:
        rate = base
    elif step < 60_000:
        rate = base / 10
    elif step < 80_000:
        rate = base / 100
    else:
        rate = base / 1000
    return max(round(rate, 12), min_lrn_rate)


class _Unit(nn.Module):
    """One residual unit, pre-activation (batch norm and leaky ReLU before each conv).

    ``activate_before_residual``: the shortcut takes the activated input (the first unit
    of the network), else the raw input.
    """

    def __init__(
        self,
        in_filter: int,
        out_filter: int,
        stride: int,
        activate_before_residual: bool,
        leakiness: float,
        bottleneck: bool,
    ) -> None:
        super().__init__()
        self.activate_before_residual = activate_before_residual
        self.leakiness = leakiness
        self.in_filter, self.out_filter, self.stride = in_filter, out_filter, stride
        self.bn1 = nn.BatchNorm2d(in_filter)
        self.project: nn.Conv2d | None = None
        if bottleneck:
            mid = out_filter // 4
            self.convs = nn.ModuleList(
                [
                    nn.Conv2d(in_filter, mid, 1, stride, bias=False),
                    nn.Conv2d(mid, mid, 3, 1, padding=1, bias=False),
                    nn.Conv2d(mid, out_filter, 1, 1, bias=False),
                ]
            )
            self.bns = nn.ModuleList([nn.BatchNorm2d(mid), nn.BatchNorm2d(mid)])
            if in_filter != out_filter:
                self.project = nn.Conv2d(in_filter, out_filter, 1, stride, bias=False)
        else:
            self.convs = nn.ModuleList(
                [
                    nn.Conv2d(in_filter, out_filter, 3, stride, padding=1, bias=False),
                    nn.Conv2d(out_filter, out_filter, 3, 1, padding=1, bias=False),
                ]
            )
            self.bns = nn.ModuleList([nn.BatchNorm2d(out_filter)])

    def _act(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, self.leakiness)

    def _shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.project is not None:
            return self.project(x)
        if self.in_filter == self.out_filter:
            return x
        # resnet_model's plain unit: average-pool to the new size, pad the new channels
        # with zeros (no weights: ResNet-20 stays at 0.27M parameters)
        if self.stride > 1:
            x = F.avg_pool2d(x, self.stride, self.stride)
        extra = self.out_filter - self.in_filter
        return F.pad(x, (0, 0, 0, 0, extra // 2, extra - extra // 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activate_before_residual:
            x = self._act(self.bn1(x))
            orig = x
        else:
            orig = x
            x = self._act(self.bn1(x))
        x = self.convs[0](x)
        for bn, conv in zip(self.bns, self.convs[1:]):
            x = conv(self._act(bn(x)))
        return x + self._shortcut(orig)


class ResNet(nn.Module):
    """The CIFAR ResNet of ``resnet_model.py`` (He et al., 2016), configured by
    :class:`HParams`.

    A 3x3 convolution of 16 filters, three stages of ``num_residual_units`` units
    (filters 16, 32, 64 plain; 64, 128, 256 bottleneck; strides 1, 2, 2), batch norm,
    leaky ReLU, global average pooling, a linear classifier. Weight decay
    (``weight_decay_rate``) on every convolution and the classifier's weights.
    """

    def __init__(self, hps: HParams | None = None) -> None:
        super().__init__()
        self.hps = hps = hps or HParams()
        filters = [16, 64, 128, 256] if hps.use_bottleneck else [16, 16, 32, 64]
        self.init_conv = nn.Conv2d(3, 16, 3, 1, padding=1, bias=False)
        units: list[nn.Module] = []
        for stage, stride in enumerate((1, 2, 2)):
            for i in range(hps.num_residual_units):
                units.append(
                    _Unit(
                        filters[stage] if i == 0 else filters[stage + 1],
                        filters[stage + 1],
                        stride if i == 0 else 1,
                        activate_before_residual=stage == 0 and i == 0,
                        leakiness=hps.relu_leakiness,
                        bottleneck=hps.use_bottleneck,
                    )
                )
        self.units = nn.Sequential(*units)
        self.final_bn = nn.BatchNorm2d(filters[-1])
        self.classifier = nn.Linear(filters[-1], hps.num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):  # resnet_model: normal, stddev sqrt(2 / n)
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / n))
        nn.init.kaiming_uniform_(self.classifier.weight, a=math.sqrt(5))
        nn.init.zeros_(self.classifier.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The globally pooled activations before the classifier."""
        x = self.units(self.init_conv(x))
        x = F.leaky_relu(self.final_bn(x), self.hps.relu_leakiness)
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))

    def decayed_weights(self) -> list[torch.Tensor]:
        """The weights under weight decay (resnet_model's ``DW`` variables): every
        convolution's and the classifier's."""
        return [m.weight for m in self.modules() if isinstance(m, nn.Conv2d | nn.Linear)]

    def weight_decay_loss(self) -> torch.Tensor:
        """``weight_decay_rate * sum(w ** 2) / 2`` over :meth:`decayed_weights`."""
        rate = self.hps.weight_decay_rate
        return rate * _l2_loss(self.decayed_weights())
