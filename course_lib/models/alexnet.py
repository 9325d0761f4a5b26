"""AlexNet (Krizhevsky, Sutskever and Hinton 2012) as in the paper, and torchvision's variant.

The paper's network on a 227x227x3 input (the paper says 224, but only 227 gives the
55x55 maps of its figure with an 11x11 stride-4 kernel and no padding)::

    conv1  96 @ 11x11 / 4          -> 55x55x96, ReLU, LRN, max pool 3/2 -> 27x27x96
    conv2 256 @ 5x5, pad 2, 2 groups -> 27x27x256, ReLU, LRN, max pool 3/2 -> 13x13x256
    conv3 384 @ 3x3, pad 1          -> 13x13x384 (reads both halves), ReLU
    conv4 384 @ 3x3, pad 1, 2 groups -> 13x13x384, ReLU
    conv5 256 @ 3x3, pad 1, 2 groups -> 13x13x256, ReLU, max pool 3/2 -> 6x6x256
    fc6 4096, fc7 4096 (ReLU, dropout 0.5 before each), fc8 1000

The two-GPU split is expressed as grouped convolutions: with ``groups=2`` each half of the
output maps reads only the half of the input maps that lived on the same GPU.  conv1 is split
too, but a split of its output changes nothing (each of its filters reads all three colour
channels anyway).  Total: 60,965,224 parameters (62,378,344 without the split).

Local response normalisation uses the paper's constants ``k = 2, n = 5, alpha = 1e-4,
beta = 0.75`` in the paper's formula ``b = a / (k + alpha * sum of a^2 over n maps)^beta``;
``torch.nn.LocalResponseNorm`` divides its ``alpha`` by ``n``, so it receives ``alpha * n``.

``alexnet_torchvision`` is the single-stream network of torchvision (64/192/384/256/256
maps, no LRN, 224x224 input): 61,100,840 parameters.  It is *not* the paper's network.
"""
from __future__ import annotations

from torch import nn

from . import register_model
from ._common import ClassicNet, spatial_after

__all__ = ["LRN_PAPER", "paper_lrn", "alexnet", "alexnet_torchvision"]

#: The paper's LRN constants (section 3.3).
LRN_PAPER = {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0}


def paper_lrn(size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0) -> nn.LocalResponseNorm:
    """LRN with the paper's formula (``alpha`` not divided by ``size``)."""
    return nn.LocalResponseNorm(size, alpha=alpha * size, beta=beta, k=k)


def _classifier(in_features: int, hidden: int, num_classes: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_features, hidden), nn.ReLU(inplace=True),
                         nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
                         nn.Linear(hidden, num_classes))


@register_model("alexnet")
def alexnet(num_classes: int = 1000, *, two_gpu: bool = True, lrn: bool = True, overlapping_pool: bool = True,
            dropout: float = 0.5, input_size: int = 227) -> ClassicNet:
    """The paper's AlexNet.  The switches remove one ingredient each, for the ablations of the
    book: ``two_gpu=False`` (no grouping), ``lrn=False``, ``overlapping_pool=False`` (2x2
    stride-2 pooling instead of 3x3 stride 2), ``dropout=0``."""
    g = 2 if two_gpu else 1
    pool = (lambda: nn.MaxPool2d(3, 2)) if overlapping_pool else (lambda: nn.MaxPool2d(2, 2))
    norm = (lambda: paper_lrn(**LRN_PAPER)) if lrn else nn.Identity
    features = nn.Sequential(
        nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(inplace=True), norm(), pool(),
        nn.Conv2d(96, 256, 5, padding=2, groups=g), nn.ReLU(inplace=True), norm(), pool(),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 384, 3, padding=1, groups=g), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, 3, padding=1, groups=g), nn.ReLU(inplace=True), pool(),
    )
    h, w = spatial_after(features, (input_size, input_size))
    return ClassicNet(features, _classifier(256 * h * w, 4096, num_classes, dropout), (3, input_size, input_size))


@register_model("alexnet_torchvision")
def alexnet_torchvision(num_classes: int = 1000, *, dropout: float = 0.5, input_size: int = 224) -> ClassicNet:
    """torchvision's single-stream AlexNet variant (its parameter count; no adaptive pooling,
    so the classifier is sized for ``input_size``)."""
    features = nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
    )
    h, w = spatial_after(features, (input_size, input_size))
    return ClassicNet(features, _classifier(256 * h * w, 4096, num_classes, dropout), (3, input_size, input_size))
