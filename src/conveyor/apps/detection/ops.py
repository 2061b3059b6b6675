"""The detector's box operations in plain torch: IoU, the box coder, anchors, NMS and
RoI Align.

Boxes are ``[x0, y0, x1, y1]`` in absolute pixels (:mod:`conveyor.image.boxes`): a box
with integer corners covers ``image[y0:y1, x0:x1]``, its width is ``x1 - x0``.

These are the operations torchvision provides as ``torchvision.ops`` (``box_iou``,
``nms``, ``batched_nms``, ``roi_align``) and its detection models' ``BoxCoder`` and
``AnchorGenerator``, written here because torchvision is not a dependency; they follow
torchvision's definitions, which are Detectron's:

- :func:`nms` keeps the highest-scoring box, drops every remaining box whose IoU with
  it is *greater than* the threshold, and repeats; ties in score keep the lower index.
- :func:`roi_align` is Mask R-CNN's RoI Align (``aligned=True``: a box's corners are
  shifted by half a pixel so that pixel centres sit at ``i + 0.5``), with a fixed
  number of bilinear samples per bin averaged.
- :class:`BoxCoder` encodes a box against a reference as ``(dx, dy, dw, dh)`` =
  ``(wx (x - xa) / wa, wy (y - ya) / ha, ww log(w / wa), wh log(h / ha))`` of the
  centres and sizes, and decodes the inverse with ``dw, dh`` clamped at
  ``log(1000 / 16)``.

>>> import torch
>>> a = torch.tensor([[0.0, 0.0, 10.0, 10.0], [5.0, 0.0, 15.0, 10.0]])
>>> box_iou(a, a)
tensor([[1.0000, 0.3333],
        [0.3333, 1.0000]])
>>> nms(a, torch.tensor([0.9, 0.8]), 0.3).tolist()
[0]
>>> nms(a, torch.tensor([0.9, 0.8]), 0.5).tolist()
[0, 1]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

__all__ = [
    "BoxCoder",
    "anchors",
    "batched_nms",
    "box_area",
    "box_iou",
    "clip_boxes",
    "nms",
    "remove_small_boxes",
    "roi_align",
]

#: above this many boxes, batched_nms runs group by group (torchvision's rule too)
_GROUPWISE = 4000
#: decoded widths and heights are at most ``exp(BBOX_CLIP)`` times the reference's
BBOX_CLIP = math.log(1000.0 / 16)


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """``(n,)`` areas of ``(n, 4)`` boxes (zero for inverted ones' negative sides)."""
    return (boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(n, m)`` intersection over union of every box of ``a`` with every box of
    ``b``; 0 where both are empty."""
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=2)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))


def clip_boxes(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Boxes clipped to the image ``[0, width] x [0, height]``."""
    x = boxes[..., 0::2].clamp(0, width)
    y = boxes[..., 1::2].clamp(0, height)
    return torch.stack((x[..., 0], y[..., 0], x[..., 1], y[..., 1]), dim=-1)


def remove_small_boxes(boxes: torch.Tensor, min_size: float) -> torch.Tensor:
    """Indices of the boxes whose width and height are both at least ``min_size``."""
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    return torch.nonzero((w >= min_size) & (h >= min_size)).flatten()


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression.

    Args:
        boxes: ``(n, 4)``.
        scores: ``(n,)``.
        iou_threshold: a box is suppressed by a kept box when their IoU is greater.

    Returns:
        The ``int64`` indices of the kept boxes, by decreasing score (a tie keeps the
        lower index first).
    """
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.int64, device=boxes.device)
    # A stable sort of -score: decreasing score, ties in index order.
    order = torch.sort(-scores.detach(), stable=True).indices
    over = (box_iou(boxes[order].detach(), boxes[order].detach()) > iou_threshold).cpu().numpy()
    n = len(order)
    removed = np.zeros(n, dtype=bool)
    keep: list[int] = []
    for i in range(n):
        if removed[i]:
            continue
        keep.append(i)
        removed |= over[i]
    return order[torch.as_tensor(keep, dtype=torch.int64, device=order.device)]


def batched_nms(
    boxes: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor, iou_threshold: float
) -> torch.Tensor:
    """NMS within each group (a class, an image): boxes of different groups never
    suppress each other. Returns kept indices by decreasing score."""
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.int64, device=boxes.device)
    if len(boxes) > _GROUPWISE:
        # the IoU matrix of all the boxes at once would be large: group by group
        keep = torch.zeros(len(boxes), dtype=torch.bool, device=boxes.device)
        for g in torch.unique(groups):
            members = torch.nonzero(groups == g).flatten()
            keep[members[nms(boxes[members], scores[members], iou_threshold)]] = True
        kept = torch.nonzero(keep).flatten()
        return kept[torch.sort(-scores[kept].detach(), stable=True).indices]
    # Each group moved to its own region of the plane, beyond every other's boxes: the
    # shift is the span of all coordinates plus one (torchvision's ``max + 1`` is that
    # only for boxes at or right of the origin; negative corners would overlap).
    span = boxes.detach().max() - boxes.detach().min() + 1
    offsets = groups.to(boxes.dtype) * span
    return nms(boxes + offsets[:, None], scores, iou_threshold)


class BoxCoder:
    """Box regression targets: boxes as offsets from reference boxes (anchors,
    proposals), and back.

    Args:
        weights: ``(wx, wy, ww, wh)``, the scale of each offset: ``(1, 1, 1, 1)`` for
            the RPN, ``(10, 10, 5, 5)`` for the second stage (Detectron's values).

    >>> coder = BoxCoder((1.0, 1.0, 1.0, 1.0))
    >>> ref = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    >>> d = coder.encode(torch.tensor([[5.0, 0.0, 25.0, 10.0]]), ref)
    >>> [round(v, 4) for v in d[0].tolist()]
    [1.0, 0.0, 0.6931, 0.0]
    >>> coder.decode(d, ref).tolist()
    [[5.0, 0.0, 25.0, 10.0]]
    """

    def __init__(self, weights: Sequence[float]) -> None:
        if len(weights) != 4:
            raise ValueError(f"weights must be 4 numbers (wx, wy, ww, wh), got {weights!r}")
        self.weights = tuple(float(w) for w in weights)

    @staticmethod
    def _centres(boxes: torch.Tensor) -> tuple[torch.Tensor, ...]:
        w = boxes[:, 2] - boxes[:, 0]
        h = boxes[:, 3] - boxes[:, 1]
        return boxes[:, 0] + 0.5 * w, boxes[:, 1] + 0.5 * h, w, h

    def encode(self, boxes: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """``(n, 4)`` offsets of ``boxes`` from ``reference`` (both ``(n, 4)``)."""
        wx, wy, ww, wh = self.weights
        x, y, w, h = self._centres(boxes)
        xa, ya, wa, ha = self._centres(reference)
        return torch.stack(
            (
                wx * (x - xa) / wa,
                wy * (y - ya) / ha,
                ww * torch.log(w / wa),
                wh * torch.log(h / ha),
            ),
            dim=1,
        )

    def decode(self, deltas: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Boxes from offsets: ``deltas`` ``(n, 4 k)`` against ``reference`` ``(n, 4)``
        give ``(n, 4 k)`` boxes (``k`` sets of offsets per reference, one per class)."""
        wx, wy, ww, wh = self.weights
        xa, ya, wa, ha = (t[:, None] for t in self._centres(reference.to(deltas.dtype)))
        dx = deltas[:, 0::4] / wx
        dy = deltas[:, 1::4] / wy
        dw = (deltas[:, 2::4] / ww).clamp(max=BBOX_CLIP)
        dh = (deltas[:, 3::4] / wh).clamp(max=BBOX_CLIP)
        x = dx * wa + xa
        y = dy * ha + ya
        w = torch.exp(dw) * wa
        h = torch.exp(dh) * ha
        out = torch.stack((x - 0.5 * w, y - 0.5 * h, x + 0.5 * w, y + 0.5 * h), dim=2)
        return out.reshape(deltas.shape)


def anchors(
    feature_size: tuple[int, int],
    stride: int,
    sizes: Sequence[float],
    aspect_ratios: Sequence[float],
    device: torch.device | None = None,
) -> torch.Tensor:
    """The anchors of a feature map: ``(H * W * A, 4)``, location-major, where ``A =
    len(sizes) * len(aspect_ratios)``.

    At location ``(i, j)`` of an ``H x W`` map of the given stride, the anchors are
    centred on the image point ``(stride j, stride i)`` (torchvision's
    ``AnchorGenerator``), one per (ratio, size) pair, ratio-major: anchor ``a`` has
    ratio ``aspect_ratios[a // len(sizes)]`` and size ``sizes[a % len(sizes)]``, height
    ``size * sqrt(ratio)`` and width ``size / sqrt(ratio)`` (ratio = height / width),
    rounded to whole pixels as torchvision rounds them.

    >>> anchors((1, 2), 16, sizes=(8,), aspect_ratios=(1.0,)).tolist()
    [[-4.0, -4.0, 4.0, 4.0], [12.0, -4.0, 20.0, 4.0]]
    """
    size_t = torch.as_tensor(sizes, dtype=torch.float32)
    ratio_t = torch.as_tensor(aspect_ratios, dtype=torch.float32)
    h_ratio = torch.sqrt(ratio_t)
    w_ratio = 1 / h_ratio
    ws = (w_ratio[:, None] * size_t[None, :]).reshape(-1)
    hs = (h_ratio[:, None] * size_t[None, :]).reshape(-1)
    base = torch.round(torch.stack((-ws, -hs, ws, hs), dim=1) / 2)
    fh, fw = feature_size
    ys = torch.arange(fh, dtype=torch.float32) * stride
    xs = torch.arange(fw, dtype=torch.float32) * stride
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    shifts = torch.stack((xx, yy, xx, yy), dim=-1).reshape(-1, 1, 4)
    out = (shifts + base[None, :, :]).reshape(-1, 4)
    return out if device is None else out.to(device)


def roi_align(
    features: torch.Tensor,
    rois: torch.Tensor,
    output_size: int | tuple[int, int],
    spatial_scale: float,
    sampling_ratio: int = 2,
    aligned: bool = True,
) -> torch.Tensor:
    """RoI Align: each region of a feature map pooled to a fixed size.

    Args:
        features: ``(N, C, H, W)``.
        rois: ``(R, 5)``: ``(batch index, x0, y0, x1, y1)`` in image pixels.
        output_size: ``(ph, pw)`` bins (an int: square).
        spatial_scale: feature pixels per image pixel (``1 / stride``).
        sampling_ratio: bilinear samples per bin along each axis (``> 0``), averaged.
        aligned: shift the scaled box by half a pixel (Mask R-CNN's fix); ``False`` is
            the original RoI Align, which also floors the box size at one pixel.

    Returns:
        ``(R, C, ph, pw)``, differentiable with respect to ``features``. A sample
        outside the map by more than one pixel reads 0; one within a pixel of it reads
        the border (torchvision's rule).
    """
    ph, pw = (output_size, output_size) if isinstance(output_size, int) else output_size
    if sampling_ratio < 1:
        raise ValueError(f"sampling_ratio must be a positive int, got {sampling_ratio}")
    _, c, height, width = features.shape
    r = rois.shape[0]
    if r == 0:
        return features.new_zeros((0, c, ph, pw))
    offset = 0.5 if aligned else 0.0
    boxes = rois[:, 1:].detach().to(features.dtype) * spatial_scale - offset
    x0, y0, x1, y1 = boxes.unbind(1)
    roi_w, roi_h = x1 - x0, y1 - y0
    if not aligned:
        roi_w, roi_h = roi_w.clamp(min=1.0), roi_h.clamp(min=1.0)
    # Bilinear sampling and the mean over a bin's samples are both separable: a bin is
    # (row weights) @ feature map @ (column weights)^T, with (R, ph, H) row weights and
    # (R, pw, W) column weights, so the pooling is two dense matrix products per image.
    wy = _bin_weights(y0, roi_h, ph, sampling_ratio, height)
    wx = _bin_weights(x0, roi_w, pw, sampling_ratio, width)
    batch = rois[:, 0].detach().long()
    ordered = bool((batch[1:] >= batch[:-1]).all())  # the detector's rois, image by image
    order = torch.arange(r, device=batch.device) if ordered else torch.argsort(batch, stable=True)
    images, counts = torch.unique_consecutive(batch[order], return_counts=True)
    parts = []
    for b, sel in zip(images.tolist(), order.split(counts.tolist())):
        # (Rb, ph, H) x (C, H, W) -> (Rb, C, ph, W) -> x (Rb, pw, W) -> (Rb, C, ph, pw)
        rows = torch.einsum("rph,chw->rcpw", wy[sel], features[b])
        parts.append(torch.einsum("rcpw,rqw->rcpq", rows, wx[sel]))
    out = torch.cat(parts)
    if ordered:
        return out
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(r, device=order.device)
    return out[inverse]


def _bin_weights(
    start: torch.Tensor, length: torch.Tensor, bins: int, s: int, size: int
) -> torch.Tensor:
    """``(R, bins, size)``: along one axis, the weight of each feature row (column) in
    each bin — the bilinear weights of the bin's ``s`` samples at ``(k + 0.5) / s`` of
    it, averaged; a sample more than a pixel outside the map weighs nothing, one
    within a pixel of it reads the border (torchvision's rule)."""
    r = start.shape[0]
    grid = (torch.arange(bins * s, dtype=start.dtype, device=start.device) + 0.5) / s
    v = start[:, None] + grid[None, :] * (length / bins)[:, None]
    inside = ((v >= -1.0) & (v <= size)).to(v.dtype)
    v = v.clamp(min=0)
    low = v.floor().long()
    at_end = low >= size - 1
    low = torch.where(at_end, torch.full_like(low, size - 1), low)
    high = torch.where(at_end, low, low + 1)
    frac = torch.where(at_end, torch.zeros_like(v), v - low.to(v.dtype))
    weights = torch.zeros(r, bins * s, size, dtype=v.dtype, device=v.device)
    weights.scatter_add_(2, low[..., None], ((1 - frac) * inside)[..., None])
    weights.scatter_add_(2, high[..., None], (frac * inside)[..., None])
    return weights.view(r, bins, s, size).mean(dim=2)
