"""A small digit classifier whose insides Chapter 6 looks at (filters, feature maps, occlusion).

``probe_cnn``: ``x: (N, 1, 32, 32)`` -> ``(N, 10)`` class scores::

    conv1 5x5, 16 filters, pad 2 -> ReLU -> max pool 2   (16, 16, 16)
    conv2 3x3, 32 filters, pad 1 -> ReLU -> max pool 2   (32,  8,  8)
    conv3 3x3, 32 filters, pad 1 -> ReLU                 (32,  8,  8)
    flatten -> linear 2048 -> 10

Its trained weights are cached in ``book/ch6_applications/digit_cnn.pt`` by
``book/ch6_applications/train_digit_cnn.py`` (scikit-learn's digits, nothing downloaded).
"""
from __future__ import annotations

from torch import nn

from . import register_model

__all__ = ["probe_cnn"]


@register_model("probe_cnn")
def probe_cnn(num_classes: int = 10, in_channels: int = 1, image_size: int = 32) -> nn.Sequential:
    """The three-convolution digit CNN above (random weights); ``image_size`` divisible by 4."""
    if image_size % 4 or image_size < 4:
        raise ValueError(f"probe_cnn: image_size must be a positive multiple of 4, got {image_size}")
    side = image_size // 4
    net = nn.Sequential(
        nn.Conv2d(in_channels, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(32 * side * side, num_classes),
    )
    net.input_size = (in_channels, image_size, image_size)   # (C, H, W), as every image model of the registry
    return net
