"""Helpers shared by the model families: spatial sizes through a stack, and weight init."""
from __future__ import annotations

import torch
from torch import nn

from ..shapes import conv_output_size

__all__ = ["spatial_after", "ClassicNet"]


def _pair(v) -> tuple[int, int]:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _windowed(module: nn.Module):
    """The modules of a sequential stack that slide a window (they have ``kernel_size``), in
    order; a module that has one counts once and is not searched further."""
    if hasattr(module, "kernel_size") and not isinstance(module, nn.Sequential):
        yield module
    else:
        for child in module.children():
            yield from _windowed(child)


def spatial_after(layers, size: tuple[int, int]) -> tuple[int, int]:
    """Spatial size ``(h, w)`` after a *sequential* stack of modules (parallel branches are
    not supported), from each windowed module's ``kernel_size``, ``stride``, ``padding`` and
    ``dilation`` with :func:`course_lib.shapes.conv_output_size`.  Lets a network size its first
    fully connected layer from the input size, before any forward pass."""
    h, w = size
    for layer in layers:
        for m in _windowed(layer):
            k, s, p = _pair(m.kernel_size), _pair(m.stride or m.kernel_size), _pair(m.padding)
            d = _pair(getattr(m, "dilation", 1))
            if getattr(m, "ceil_mode", False):
                raise ValueError(f"spatial_after does not handle ceil_mode pooling ({m})")
            h = conv_output_size(h, k[0], p[0], s[0], d[0], dim_name="height")
            w = conv_output_size(w, k[1], p[1], s[1], d[1], dim_name="width")
    return h, w


class ClassicNet(nn.Module):
    """``features`` (convolutions) -> flatten -> ``classifier`` (fully connected), the shape
    of LeNet, AlexNet and VGG.  ``input_size``: the ``(C, H, W)`` the network was sized for."""

    def __init__(self, features: nn.Module, classifier: nn.Module, input_size: tuple[int, int, int]):
        super().__init__()
        self.features = features
        self.classifier = classifier
        self.input_size = tuple(input_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, H, W) at ``input_size`` -> scores (N, num_classes)."""
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_size:
            raise ValueError(f"{type(self).__name__} expects input (N, {', '.join(map(str, self.input_size))}), "
                             f"got {tuple(x.shape)}")
        return self.classifier(torch.flatten(self.features(x), 1))
