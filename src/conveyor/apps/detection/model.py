"""Faster R-CNN (Ren et al., 2015) in plain PyTorch: a ResNet backbone, a region
proposal network, RoI Align and a two-layer box head.

:class:`FasterRCNN` takes a batch of images ``(N, 3, H, W)`` float32 in ``0..255`` and,
in training mode, one target dict per image (``boxes`` ``(k, 4)``, ``labels`` ``(k,)``
in ``0 .. C-1``; :meth:`FasterRCNN.targets_of` makes them from a padded batch's
``boxes``, ``labels`` and ``num_boxes``; boxes without width or height are left out),
and returns its four losses; in evaluation mode it returns one
detection dict per image: ``boxes`` ``(d, 4)`` in the image's pixels, ``scores``
``(d,)``, ``labels`` ``(d,)`` in ``0 .. C-1``.

The parts, as torchvision's ``fasterrcnn`` composes them (the same defaults where they
carry over to small images):

- **Backbone** (:class:`Backbone`): the CIFAR ResNet of
  :mod:`conveyor.apps.cifar10.models` without its pooling and classifier — a 3x3
  convolution, three stages of pre-activation residual units at strides 1, 2, 2, a
  final batch norm and leaky ReLU: features at stride 4 (64 channels, 256 with
  bottleneck units). Images are standardised by the ImageNet mean and deviation first.
- **Anchors**: at every feature location, one box per (aspect ratio, size) pair,
  ``anchor_sizes`` ``(16, 32, 64)`` and ratios ``(0.5, 1, 2)`` by default
  (:func:`~conveyor.apps.detection.ops.anchors`).
- **RPN**: a 3x3 convolution and ReLU, then a 1x1 convolution for each anchor's
  objectness and one for its box offsets. Training labels an anchor positive when its
  IoU with a ground-truth box is at least 0.7 (or it is a box's best anchor), negative
  below 0.3, samples 256 anchors per image with at most half positive, and adds binary
  cross entropy to a smooth L1 (beta 1/9) over the positives, both over the sampled
  count. Proposals: the ``pre_nms_top_n`` best-scoring anchors' decoded boxes, clipped
  to the image, NMS at 0.7, the ``post_nms_top_n`` best kept (per image).
- **RoI heads**: proposals (with the ground-truth boxes added in training) matched at
  IoU 0.5 — a proposal below it is background — sampled 128 per image, a quarter
  positive; :func:`~conveyor.apps.detection.ops.roi_align` to 7x7 (2x2 samples per
  bin); two fully connected layers of 256; a linear layer of ``C + 1`` class scores
  (0 is the background) and one of per-class box offsets (coder weights 10, 10, 5, 5).
  Losses: cross entropy over the sampled proposals, smooth L1 (beta 1/9) of the true
  class's offsets over the positives, divided by the sampled count.
- **Detections**: per class, softmax scores above ``score_threshold`` (0.05), boxes
  decoded and clipped, NMS at ``nms_threshold`` (0.5), the ``detections_per_image``
  (100) best over all classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from conveyor.apps.cifar10 import models
from conveyor.apps.detection import ops

__all__ = ["Backbone", "DetectorConfig", "FasterRCNN", "Matcher", "sample_balanced"]

#: the ImageNet statistics torchvision's detection transform standardises with
IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class DetectorConfig:
    """The detector's hyper-parameters.

    Attributes:
        num_classes: object classes ``C`` (the background is added to them).
        num_residual_units, use_bottleneck, relu_leakiness: the backbone's
            (:class:`~conveyor.apps.cifar10.models.HParams`).
        anchor_sizes, aspect_ratios: the anchors at each feature location (ratio =
            height / width).
        rpn_pre_nms_top_n, rpn_post_nms_top_n: proposals kept before and after the
            proposal NMS, per image, in training; ``*_test`` in evaluation.
        rpn_nms_threshold: the proposal NMS's IoU.
        rpn_fg_iou, rpn_bg_iou: anchor IoU for positive, below for negative.
        rpn_batch_size, rpn_positive_fraction: anchors sampled per image.
        roi_fg_iou: a proposal at or above this IoU with a box is that box's class,
            below it background.
        roi_batch_size, roi_positive_fraction: proposals sampled per image.
        pool_size: RoI Align output side; sampling_ratio: its samples per bin side.
        representation: the box head's hidden width.
        score_threshold, nms_threshold, detections_per_image: the detections kept.
        weight_decay: L2 rate on every convolution's and linear layer's weights.
    """

    num_classes: int = 10
    num_residual_units: int = 1
    use_bottleneck: bool = False
    relu_leakiness: float = 0.1
    anchor_sizes: tuple[float, ...] = (16.0, 32.0, 64.0)
    aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)
    rpn_pre_nms_top_n: int = 1000
    rpn_post_nms_top_n: int = 300
    rpn_pre_nms_top_n_test: int = 500
    rpn_post_nms_top_n_test: int = 100
    rpn_nms_threshold: float = 0.7
    rpn_fg_iou: float = 0.7
    rpn_bg_iou: float = 0.3
    rpn_batch_size: int = 256
    rpn_positive_fraction: float = 0.5
    roi_fg_iou: float = 0.5
    roi_batch_size: int = 128
    roi_positive_fraction: float = 0.25
    pool_size: int = 7
    sampling_ratio: int = 2
    representation: int = 256
    score_threshold: float = 0.05
    nms_threshold: float = 0.5
    detections_per_image: int = 100
    weight_decay: float = 1e-4

    def __post_init__(self) -> None:
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {self.num_classes}")
        if not self.anchor_sizes or not self.aspect_ratios:
            raise ValueError("anchor_sizes and aspect_ratios must not be empty")
        if not 0 <= self.rpn_bg_iou <= self.rpn_fg_iou <= 1:
            raise ValueError(
                f"need 0 <= rpn_bg_iou <= rpn_fg_iou <= 1, got {self.rpn_bg_iou}, {self.rpn_fg_iou}"
            )

    @property
    def num_anchors(self) -> int:
        return len(self.anchor_sizes) * len(self.aspect_ratios)


class Matcher:
    """Each reference box (anchor, proposal) matched to the ground-truth box it
    overlaps most.

    ``match(iou)`` of an ``(G, R)`` IoU matrix returns ``(R,)`` int64: the matched
    box's index when the best IoU is at least ``high``, :attr:`BELOW` (-1) when it is
    below ``low``, :attr:`BETWEEN` (-2) in between. With ``allow_low_quality``, a
    reference that is some box's best match (ties included) keeps its match whatever
    its IoU, so every box has a positive.

    >>> m = Matcher(0.7, 0.3, allow_low_quality=True)
    >>> m.match(torch.tensor([[0.9, 0.5, 0.1, 0.0], [0.0, 0.6, 0.2, 0.0]])).tolist()
    [0, 1, -1, -1]
    >>> Matcher(0.7, 0.3).match(torch.tensor([[0.9, 0.5, 0.1, 0.0]])).tolist()
    [0, -2, -1, -1]
    """

    BELOW = -1
    BETWEEN = -2

    def __init__(self, high: float, low: float, allow_low_quality: bool = False) -> None:
        self.high, self.low, self.allow_low_quality = high, low, allow_low_quality

    def match(self, iou: torch.Tensor) -> torch.Tensor:
        if iou.shape[0] == 0:
            return torch.full((iou.shape[1],), self.BELOW, dtype=torch.int64, device=iou.device)
        best, matches = iou.max(dim=0)
        out = matches.clone()
        out[best < self.low] = self.BELOW
        out[(best >= self.low) & (best < self.high)] = self.BETWEEN
        if self.allow_low_quality:
            best_per_box = iou.max(dim=1, keepdim=True).values
            refs = torch.nonzero(iou == best_per_box)[:, 1]
            out[refs] = matches[refs]
        return out


def sample_balanced(
    labels: torch.Tensor, batch_size: int, positive_fraction: float, generator: Any = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of sampled positives (``labels > 0``) and negatives (``labels == 0``;
    ``labels < 0`` are ignored): at most ``batch_size * positive_fraction`` positives,
    negatives filling the rest, each drawn uniformly without replacement."""
    positive = torch.nonzero(labels > 0).flatten()
    negative = torch.nonzero(labels == 0).flatten()
    n_pos = min(positive.numel(), int(batch_size * positive_fraction))
    n_neg = min(negative.numel(), batch_size - n_pos)
    perm_pos = torch.randperm(positive.numel(), generator=generator, device=labels.device)
    perm_neg = torch.randperm(negative.numel(), generator=generator, device=labels.device)
    return positive[perm_pos[:n_pos]], negative[perm_neg[:n_neg]]


class Backbone(nn.Module):
    """The CIFAR ResNet's convolutional part: stride-4 feature maps."""

    stride = 4

    def __init__(self, config: DetectorConfig) -> None:
        super().__init__()
        resnet = models.ResNet(
            models.HParams(
                num_classes=config.num_classes,
                num_residual_units=config.num_residual_units,
                use_bottleneck=config.use_bottleneck,
                relu_leakiness=config.relu_leakiness,
            )
        )
        self.init_conv = resnet.init_conv
        self.units = resnet.units
        self.final_bn = resnet.final_bn
        self.leakiness = config.relu_leakiness
        self.out_channels = resnet.final_bn.num_features
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", 255.0 * torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", 255.0 * torch.tensor(IMAGE_STD).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (images - self.mean) / self.std
        x = self.units(self.init_conv(x))
        return F.leaky_relu(self.final_bn(x), self.leakiness)


def _proper(target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A target without its boxes of no width or height: such a box overlaps no anchor,
    so every anchor would be its best match (and a positive)."""
    boxes = target["boxes"]
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    if bool(keep.all()):
        return target
    return {**target, "boxes": boxes[keep], "labels": target["labels"][keep]}


def _smooth_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.smooth_l1_loss(pred, target, beta=1.0 / 9, reduction="sum")


class FasterRCNN(nn.Module):
    """The detector; see the module's docstring.

    Args:
        config: its :class:`DetectorConfig`.

    The training samplers draw from torch's global generator, so a run seeded with
    ``torch.manual_seed`` (its state is in every checkpoint) samples the same anchors
    and proposals, and a resumed run goes on drawing as the uninterrupted one.
    """

    def __init__(self, config: DetectorConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or DetectorConfig()
        self.backbone = Backbone(config)
        channels = self.backbone.out_channels
        a = config.num_anchors
        self.rpn_conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.rpn_logits = nn.Conv2d(channels, a, 1)
        self.rpn_deltas = nn.Conv2d(channels, 4 * a, 1)
        for layer in (self.rpn_conv, self.rpn_logits, self.rpn_deltas):
            nn.init.normal_(layer.weight, std=0.01)
            nn.init.zeros_(layer.bias)  # type: ignore[arg-type]
        pooled = channels * config.pool_size**2
        self.fc6 = nn.Linear(pooled, config.representation)
        self.fc7 = nn.Linear(config.representation, config.representation)
        self.cls_score = nn.Linear(config.representation, config.num_classes + 1)
        self.bbox_pred = nn.Linear(config.representation, 4 * (config.num_classes + 1))
        nn.init.normal_(self.cls_score.weight, std=0.01)
        nn.init.normal_(self.bbox_pred.weight, std=0.001)
        nn.init.zeros_(self.cls_score.bias)
        nn.init.zeros_(self.bbox_pred.bias)
        self.rpn_coder = ops.BoxCoder((1.0, 1.0, 1.0, 1.0))
        self.roi_coder = ops.BoxCoder((10.0, 10.0, 5.0, 5.0))
        self.rpn_matcher = Matcher(config.rpn_fg_iou, config.rpn_bg_iou, allow_low_quality=True)
        self.roi_matcher = Matcher(config.roi_fg_iou, config.roi_fg_iou)
        self._anchor_cache: dict[tuple[int, int, str], torch.Tensor] = {}

    # -- weight decay, as the CIFAR models have it ----------------------------------

    def decayed_weights(self) -> list[torch.Tensor]:
        return [m.weight for m in self.modules() if isinstance(m, nn.Conv2d | nn.Linear)]

    def weight_decay_loss(self) -> torch.Tensor:
        """``weight_decay * sum(w ** 2) / 2`` over every convolution's and linear
        layer's weights."""
        return self.config.weight_decay * sum(  # type: ignore[return-value]
            (w * w).sum() / 2 for w in self.decayed_weights()
        )

    # -- the parts ------------------------------------------------------------------

    def anchors_for(self, features: torch.Tensor) -> torch.Tensor:
        key = (features.shape[2], features.shape[3], str(features.device))
        if key not in self._anchor_cache:
            self._anchor_cache[key] = ops.anchors(
                (features.shape[2], features.shape[3]),
                self.backbone.stride,
                self.config.anchor_sizes,
                self.config.aspect_ratios,
                device=features.device,
            )
        return self._anchor_cache[key]

    def rpn(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Objectness ``(N, H W A)`` and offsets ``(N, H W A, 4)``, anchor order."""
        n = features.shape[0]
        hidden = F.relu(self.rpn_conv(features))
        logits = self.rpn_logits(hidden).permute(0, 2, 3, 1).reshape(n, -1)
        deltas = self.rpn_deltas(hidden)
        a, h, w = self.config.num_anchors, deltas.shape[2], deltas.shape[3]
        deltas = deltas.view(n, a, 4, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, 4)
        return logits, deltas

    def proposals(
        self,
        anchors: torch.Tensor,
        logits: torch.Tensor,
        deltas: torch.Tensor,
        image_size: tuple[int, int],
    ) -> list[torch.Tensor]:
        """Each image's proposal boxes (no gradient flows through them)."""
        cfg = self.config
        pre, post = (
            (cfg.rpn_pre_nms_top_n, cfg.rpn_post_nms_top_n)
            if self.training
            else (cfg.rpn_pre_nms_top_n_test, cfg.rpn_post_nms_top_n_test)
        )
        out = []
        logits, deltas = logits.detach(), deltas.detach()
        for i in range(logits.shape[0]):
            top = logits[i].topk(min(pre, logits.shape[1])).indices
            boxes = self.rpn_coder.decode(deltas[i, top], anchors[top])
            boxes = ops.clip_boxes(boxes, *image_size)
            scores = logits[i, top]
            keep = ops.remove_small_boxes(boxes, 1e-3)
            boxes, scores = boxes[keep], scores[keep]
            keep = ops.nms(boxes, scores, cfg.rpn_nms_threshold)[:post]
            out.append(boxes[keep])
        return out

    def rpn_loss(
        self,
        anchors: torch.Tensor,
        logits: torch.Tensor,
        deltas: torch.Tensor,
        targets: list[dict[str, torch.Tensor]],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.config
        pos_all, neg_all, target_deltas, pred_deltas = [], [], [], []
        for i, target in enumerate(targets):
            gt = target["boxes"]
            matched = self.rpn_matcher.match(ops.box_iou(gt, anchors))
            labels = (matched >= 0).to(torch.int64)
            labels[matched == Matcher.BETWEEN] = -1
            pos, neg = sample_balanced(labels, cfg.rpn_batch_size, cfg.rpn_positive_fraction)
            offset = i * anchors.shape[0]
            pos_all.append(pos + offset)
            neg_all.append(neg + offset)
            if pos.numel():
                target_deltas.append(self.rpn_coder.encode(gt[matched[pos]], anchors[pos]))
                pred_deltas.append(deltas[i, pos])
        pos_idx, neg_idx = torch.cat(pos_all), torch.cat(neg_all)
        sampled = torch.cat((pos_idx, neg_idx))
        flat = logits.reshape(-1)
        wanted = torch.cat((torch.ones_like(pos_idx), torch.zeros_like(neg_idx))).to(flat.dtype)
        objectness = F.binary_cross_entropy_with_logits(flat[sampled], wanted)
        count = max(sampled.numel(), 1)
        if pred_deltas:
            box = _smooth_l1(torch.cat(pred_deltas), torch.cat(target_deltas)) / count
        else:
            box = deltas.sum() * 0.0
        return objectness, box

    def box_head(
        self, features: torch.Tensor, proposals: list[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Class logits ``(R, C + 1)`` and offsets ``(R, 4 (C + 1))`` of the proposals
        of all images, in order."""
        index = torch.cat(
            [
                torch.full((len(p), 1), i, dtype=p.dtype, device=p.device)
                for i, p in enumerate(proposals)
            ]
        )
        rois = torch.cat((index, torch.cat(proposals)), dim=1)
        pooled = ops.roi_align(
            features,
            rois,
            self.config.pool_size,
            1.0 / self.backbone.stride,
            self.config.sampling_ratio,
        )
        x = F.relu(self.fc6(pooled.flatten(1)))
        x = F.relu(self.fc7(x))
        return self.cls_score(x), self.bbox_pred(x)

    def sample_proposals(
        self, proposals: list[torch.Tensor], targets: list[dict[str, torch.Tensor]]
    ) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        """Training: the sampled proposals of each image (the ground truth added), their
        class labels (0 background, ``1 .. C``) and regression targets."""
        cfg = self.config
        sampled, all_labels, all_targets = [], [], []
        for boxes, target in zip(proposals, targets):
            gt, gt_labels = target["boxes"], target["labels"]
            boxes = torch.cat((boxes, gt))
            matched = self.roi_matcher.match(ops.box_iou(gt, boxes))
            labels = torch.zeros(len(boxes), dtype=torch.int64, device=boxes.device)
            fg = matched >= 0
            labels[fg] = gt_labels[matched[fg]] + 1
            pos, neg = sample_balanced(labels, cfg.roi_batch_size, cfg.roi_positive_fraction)
            keep = torch.cat((pos, neg))
            boxes, labels, matched = boxes[keep], labels[keep], matched[keep]
            reg = torch.zeros_like(boxes)
            if gt.numel():
                fg = labels > 0
                reg[fg] = self.roi_coder.encode(gt[matched[fg]], boxes[fg])
            sampled.append(boxes)
            all_labels.append(labels)
            all_targets.append(reg)
        return sampled, torch.cat(all_labels), torch.cat(all_targets)

    def head_loss(
        self,
        class_logits: torch.Tensor,
        box_deltas: torch.Tensor,
        labels: torch.Tensor,
        regression: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        classification = F.cross_entropy(class_logits, labels)
        fg = torch.nonzero(labels > 0).flatten()
        deltas = box_deltas.view(len(labels), -1, 4)[fg, labels[fg]]
        box = _smooth_l1(deltas, regression[fg]) / max(labels.numel(), 1)
        return classification, box

    def detections(
        self,
        class_logits: torch.Tensor,
        box_deltas: torch.Tensor,
        proposals: list[torch.Tensor],
        image_size: tuple[int, int],
    ) -> list[dict[str, torch.Tensor]]:
        cfg = self.config
        c = cfg.num_classes + 1
        boxes = self.roi_coder.decode(box_deltas, torch.cat(proposals)).view(-1, c, 4)
        boxes = ops.clip_boxes(boxes, *image_size)
        scores = F.softmax(class_logits, dim=1)
        out = []
        start = 0
        for p in proposals:
            b = boxes[start : start + len(p), 1:].reshape(-1, 4)
            s = scores[start : start + len(p), 1:].reshape(-1)
            lab = torch.arange(cfg.num_classes, device=b.device).repeat(len(p))
            start += len(p)
            keep = torch.nonzero(s > cfg.score_threshold).flatten()
            b, s, lab = b[keep], s[keep], lab[keep]
            keep = ops.remove_small_boxes(b, 1e-2)
            b, s, lab = b[keep], s[keep], lab[keep]
            keep = ops.batched_nms(b, s, lab, cfg.nms_threshold)[: cfg.detections_per_image]
            out.append({"boxes": b[keep], "scores": s[keep], "labels": lab[keep]})
        return out

    # -- the whole ------------------------------------------------------------------

    @staticmethod
    def targets_of(
        boxes: torch.Tensor, labels: torch.Tensor, num_boxes: torch.Tensor
    ) -> list[dict[str, torch.Tensor]]:
        """Per-image targets from padded batch components."""
        return [
            {"boxes": boxes[i, :k].float(), "labels": labels[i, :k].long()}
            for i, k in enumerate(num_boxes.tolist())
        ]

    def forward(
        self, images: torch.Tensor, targets: list[dict[str, torch.Tensor]] | None = None
    ) -> Any:
        """Training mode: ``targets`` (one ``{"boxes", "labels"}`` per image) in,
        ``{"rpn_objectness", "rpn_box", "classification", "box"}`` losses out.
        Evaluation mode: one ``{"boxes", "scores", "labels"}`` dict per image."""
        image_size = (images.shape[2], images.shape[3])
        features = self.backbone(images)
        anchors = self.anchors_for(features)
        logits, deltas = self.rpn(features)
        proposals = self.proposals(anchors, logits, deltas, image_size)
        if self.training:
            if targets is None or len(targets) != images.shape[0]:
                raise ValueError("training needs one target dict per image")
            targets = [_proper(t) for t in targets]
            objectness, rpn_box = self.rpn_loss(anchors, logits, deltas, targets)
            sampled, labels, regression = self.sample_proposals(proposals, targets)
            class_logits, box_deltas = self.box_head(features, sampled)
            classification, box = self.head_loss(class_logits, box_deltas, labels, regression)
            return {
                "rpn_objectness": objectness,
                "rpn_box": rpn_box,
                "classification": classification,
                "box": box,
            }
        class_logits, box_deltas = self.box_head(features, proposals)
        return self.detections(class_logits, box_deltas, proposals, image_size)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
