"""Object detection building blocks: IoU, non-maximum suppression, anchors, and torchvision's detectors.

Boxes are ``(N, 4)`` tensors in ``xyxy`` form, ``(x1, y1, x2, y2)`` in pixels with ``x1 <= x2`` and
``y1 <= y2``.  The functions follow torchvision's conventions exactly (tested against
``torchvision.ops``):

* :func:`box_iou`: intersection over union of every pair; two zero-area boxes give ``nan`` (0/0),
  as in torchvision;
* :func:`nms`: greedy non-maximum suppression; a box is dropped when its IoU with a kept,
  higher-scoring box is ``> iou_threshold``; equal scores are visited in index order (a stable
  sort), so of two identical boxes with one score the lower index survives;
* :func:`batched_nms`: the same per class, no suppression across classes;
* :func:`anchor_boxes`: the reference boxes of a region proposal network.

:func:`random_detector` builds torchvision's Faster / Mask R-CNN with random weights
(``weights=None, weights_backbone=None``): for their structure and output format only.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

__all__ = ["box_area", "box_iou", "nms", "batched_nms", "anchor_boxes", "random_detector"]


def _check_boxes(boxes: torch.Tensor, name: str, what: str) -> None:
    if not isinstance(boxes, torch.Tensor):
        raise TypeError(f"{what}: {name} must be a tensor, got {type(boxes).__name__}")
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{what}: {name} must have shape (N, 4) (x1, y1, x2, y2), got {tuple(boxes.shape)}")
    if not boxes.is_floating_point():
        raise TypeError(f"{what}: {name} must be floating point, got {boxes.dtype}")
    if boxes.numel() and bool(((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])).any()):
        raise ValueError(f"{what}: {name} has a box with x2 < x1 or y2 < y1 (boxes must be xyxy)")


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """boxes: ``(N, 4)`` xyxy -> areas ``(N,)`` in square pixels."""
    _check_boxes(boxes, "boxes", "box_area")
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """Intersection over union of every pair: boxes1 ``(N, 4)``, boxes2 ``(M, 4)`` -> ``(N, M)``.

    ``IoU = |A ∩ B| / (|A| + |B| - |A ∩ B|)``; 0 for disjoint boxes, nan for two zero-area boxes.
    """
    _check_boxes(boxes1, "boxes1", "box_iou")
    _check_boxes(boxes2, "boxes2", "box_iou")
    if boxes1.dtype != boxes2.dtype or boxes1.device != boxes2.device:
        raise ValueError(f"box_iou: boxes1 ({boxes1.dtype}, {boxes1.device}) and boxes2 ({boxes2.dtype}, "
                         f"{boxes2.device}) must share dtype and device")
    area1, area2 = box_area(boxes1), box_area(boxes2)
    top_left = torch.maximum(boxes1[:, None, :2], boxes2[None, :, :2])      # (N, M, 2)
    bottom_right = torch.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])  # (N, M, 2)
    wh = (bottom_right - top_left).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter / (area1[:, None] + area2[None, :] - inter)


def _check_scores(boxes: torch.Tensor, scores: torch.Tensor, what: str) -> None:
    _check_boxes(boxes, "boxes", what)
    if scores.ndim != 1 or scores.shape[0] != boxes.shape[0]:
        raise ValueError(f"{what}: scores must have shape ({boxes.shape[0]},) (one per box), got "
                         f"{tuple(scores.shape)}")


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression.

    Visit the boxes by decreasing score (equal scores in index order); keep a box unless a box
    kept before it overlaps it with IoU ``> iou_threshold``.

    Args:
        boxes: ``(N, 4)`` xyxy.
        scores: ``(N,)``.
        iou_threshold: overlap above which the lower-scoring box is dropped.
    Returns:
        int64 indices ``(K,)`` of the kept boxes, by decreasing score, on ``boxes``' device.
    """
    _check_scores(boxes, scores, "nms")
    if boxes.shape[0] == 0:
        return torch.empty(0, dtype=torch.int64, device=boxes.device)
    order = torch.sort(scores, descending=True, stable=True).indices
    overlap = (box_iou(boxes[order], boxes[order]) > iou_threshold).cpu()
    suppressed = torch.zeros(len(order), dtype=torch.bool)
    kept = []
    for i in range(len(order)):
        if not suppressed[i]:
            kept.append(i)
            suppressed |= overlap[i]
    return order[torch.tensor(kept, dtype=torch.int64, device=boxes.device)]


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor,
                iou_threshold: float) -> torch.Tensor:
    """:func:`nms` within each class: boxes of different ``idxs`` never suppress each other.

    boxes ``(N, 4)``, scores ``(N,)``, idxs ``(N,)`` integer class of each box.  Returns the kept
    indices by decreasing score (equal scores in index order).
    """
    _check_scores(boxes, scores, "batched_nms")
    if idxs.shape != scores.shape:
        raise ValueError(f"batched_nms: idxs must have shape {tuple(scores.shape)}, got {tuple(idxs.shape)}")
    keep = torch.zeros(boxes.shape[0], dtype=torch.bool, device=boxes.device)
    for cls in torch.unique(idxs):
        members = torch.nonzero(idxs == cls).flatten()
        keep[members[nms(boxes[members], scores[members], iou_threshold)]] = True
    kept = torch.nonzero(keep).flatten()
    return kept[torch.sort(scores[kept], descending=True, stable=True).indices]


def anchor_boxes(feature_size: Sequence[int], stride: int | Sequence[int], sizes: Sequence[float],
                 aspect_ratios: Sequence[float], *, offset: float = 0.5,
                 dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> torch.Tensor:
    """Anchors of a region proposal network over an ``(H, W)`` feature map.

    Every feature-map cell ``(i, j)`` is centred on the image pixel
    ``((j + offset) * stride_w, (i + offset) * stride_h)``; around each centre sit one box per
    (aspect ratio, size) pair, of area ``size**2`` and height / width ``= ratio``:
    ``w = size / sqrt(ratio)``, ``h = size * sqrt(ratio)``.

    Returns ``(H * W * A, 4)`` xyxy, ``A = len(aspect_ratios) * len(sizes)``, ordered by cell
    (row-major), then ratio, then size (torchvision's order; torchvision uses ``offset=0`` and
    rounds its boxes to whole pixels).
    """
    if len(feature_size) != 2 or any(int(n) < 1 for n in feature_size):
        raise ValueError(f"anchor_boxes: feature_size must be (H, W) with H, W >= 1, got {feature_size!r}")
    stride_h, stride_w = (stride, stride) if isinstance(stride, int) else tuple(stride)
    if stride_h < 1 or stride_w < 1:
        raise ValueError(f"anchor_boxes: stride must be >= 1, got {stride!r}")
    if not sizes or not aspect_ratios or min(sizes) <= 0 or min(aspect_ratios) <= 0:
        raise ValueError(f"anchor_boxes: sizes and aspect_ratios must be non-empty and positive, got "
                         f"{sizes!r}, {aspect_ratios!r}")
    half = torch.tensor([[size / math.sqrt(r) / 2, size * math.sqrt(r) / 2]
                         for r in aspect_ratios for size in sizes], dtype=torch.float64)   # (A, 2) w/2, h/2
    base = torch.cat([-half, half], dim=1)                                                 # (A, 4)
    h, w = int(feature_size[0]), int(feature_size[1])
    cy = (torch.arange(h, dtype=torch.float64) + offset) * stride_h
    cx = (torch.arange(w, dtype=torch.float64) + offset) * stride_w
    cy, cx = torch.meshgrid(cy, cx, indexing="ij")
    centres = torch.stack([cx, cy, cx, cy], dim=-1).reshape(-1, 1, 4)                     # (HW, 1, 4)
    return (centres + base[None]).reshape(-1, 4).to(dtype=dtype, device=device)


def random_detector(kind: str = "faster", *, num_classes: int = 91, image_size: int = 128):
    """torchvision's Faster R-CNN (``kind="faster"``) or Mask R-CNN (``"mask"``), ResNet-50-FPN backbone,
    with random weights (nothing is downloaded), set to resize images to ``image_size`` pixels.

    For structure and output format only: in ``eval()`` mode it returns, per image, a dict with
    ``boxes (K, 4)`` xyxy, ``labels (K,)``, ``scores (K,)`` (and ``masks (K, 1, H, W)`` for Mask R-CNN).
    """
    from torchvision.models import detection as tvd

    builders = {"faster": tvd.fasterrcnn_resnet50_fpn, "mask": tvd.maskrcnn_resnet50_fpn}
    if kind not in builders:
        raise ValueError(f"random_detector: kind must be one of {sorted(builders)}, got {kind!r}")
    return builders[kind](weights=None, weights_backbone=None, num_classes=num_classes,
                          min_size=image_size, max_size=image_size)
