"""Residual networks (He, Zhang, Ren and Sun 2016) and their plain counterparts.

A residual unit computes ``relu(F(x) + shortcut(x))``: the stacked layers ``F`` learn a
correction to the identity.  The shortcut is the identity when the shape is unchanged, else
a *projection* (1x1 convolution with the unit's stride, then batch norm; the paper's
option B) or, in the CIFAR networks, the paper's option A: the identity subsampled by the
stride and padded with zero channels (no parameters).  A *plain* network is the same stack
without shortcuts, the control of the degradation experiment.

Blocks (each convolution is bias-free and followed by batch norm):

* :class:`BasicBlock`: 3x3 -> 3x3, ``width`` output channels (ResNet-18/34, CIFAR nets);
* :class:`Bottleneck`: 1x1 (reduce to ``width``) -> 3x3 (stride here, as torchvision) ->
  1x1 (expand to ``4 * width``) (ResNet-50/101/152).

ImageNet networks: 7x7/2 stem with 64 maps, 3x3/2 max pooling, four stages (widths 64,
128, 256, 512; the first unit of stages 2-4 halves the grid), global average pooling, one
FC layer.  Parameter counts equal torchvision's ``resnet18`` ... ``resnet152``.

CIFAR networks (section 4.2): a 3x3 stem with 16 maps, three stages of ``n`` basic blocks
at widths 16, 32, 64, global average pooling, FC: depth ``6n + 2``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import register_model

__all__ = ["BasicBlock", "Bottleneck", "PadShortcut", "ResNet", "CifarResNet", "IMAGENET_DEPTHS",
           "CIFAR_DEPTHS", "resnet", "resnet_cifar"]


def _conv_bn(in_ch: int, out_ch: int, kernel_size: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_ch)]


class PadShortcut(nn.Module):
    """Option A shortcut: ``x[:, :, ::stride, ::stride]`` with zero channels appended up to
    ``out_ch``.  x: (N, C, H, W) -> (N, out_ch, ceil(H/stride), ceil(W/stride))."""

    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        if out_ch < in_ch:
            raise ValueError(f"a padding shortcut cannot reduce channels ({in_ch} -> {out_ch})")
        self.extra, self.stride = out_ch - in_ch, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, ::self.stride, ::self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra)) if self.extra else x


def _shortcut(kind: str | None, in_ch: int, out_ch: int, stride: int) -> nn.Module | None:
    """None (plain), the identity, or a projection / padding when the shape changes."""
    if kind is None:
        return None
    if stride == 1 and in_ch == out_ch:
        return nn.Identity()
    if kind == "projection":
        return nn.Sequential(*_conv_bn(in_ch, out_ch, 1, stride))
    if kind == "pad":
        return PadShortcut(in_ch, out_ch, stride)
    raise ValueError(f"shortcut must be 'projection', 'pad' or None, got {kind!r}")


class _Residual(nn.Module):
    """``relu(body(x) + shortcut(x))``, or ``relu(body(x))`` without a shortcut."""

    expansion = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return F.relu(out)


class BasicBlock(_Residual):
    """Two 3x3 convolutions.  x: (N, in_ch, H, W) -> (N, width, H/stride, W/stride).
    ``shortcut``: "projection" (default), "pad" or None (a plain block)."""

    expansion = 1

    def __init__(self, in_ch: int, width: int, stride: int = 1, shortcut: str | None = "projection"):
        super().__init__()
        self.body = nn.Sequential(*_conv_bn(in_ch, width, 3, stride), nn.ReLU(inplace=True), *_conv_bn(width, width, 3))
        self.shortcut = _shortcut(shortcut, in_ch, width, stride)
        self.out_channels = width


class Bottleneck(_Residual):
    """1x1 reduce, 3x3 (with the stride), 1x1 expand.
    x: (N, in_ch, H, W) -> (N, 4 * width, H/stride, W/stride)."""

    expansion = 4

    def __init__(self, in_ch: int, width: int, stride: int = 1, shortcut: str | None = "projection"):
        super().__init__()
        out = width * self.expansion
        self.body = nn.Sequential(*_conv_bn(in_ch, width, 1), nn.ReLU(inplace=True),
                                  *_conv_bn(width, width, 3, stride), nn.ReLU(inplace=True),
                                  *_conv_bn(width, out, 1))
        self.shortcut = _shortcut(shortcut, in_ch, out, stride)
        self.out_channels = out


def _stage(block: type[_Residual], in_ch: int, width: int, count: int, stride: int, shortcut) -> nn.Sequential:
    units = []
    for i in range(count):
        units.append(block(in_ch, width, stride if i == 0 else 1, shortcut))
        in_ch = units[-1].out_channels
    return nn.Sequential(*units)


#: ImageNet networks: depth -> (block, units per stage).
IMAGENET_DEPTHS = {18: (BasicBlock, (2, 2, 2, 2)), 34: (BasicBlock, (3, 4, 6, 3)), 50: (Bottleneck, (3, 4, 6, 3)),
                   101: (Bottleneck, (3, 4, 23, 3)), 152: (Bottleneck, (3, 8, 36, 3))}
#: CIFAR depths registered by name (any 6n + 2 works with :func:`resnet_cifar`).
CIFAR_DEPTHS = (20, 32, 44, 56, 110)


class ResNet(nn.Module):
    """ImageNet ResNet.  x: (N, in_channels, H, W), H, W >= 32 (224 in the paper) -> (N, num_classes)."""

    def __init__(self, block: type[_Residual], counts, num_classes: int = 1000, *, shortcut="projection",
                 in_channels: int = 3, widths=(64, 128, 256, 512)):
        super().__init__()
        self.input_size = (in_channels, 224, 224)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 7, stride=2, padding=3, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, padding=1))
        stages, c = [], widths[0]
        for i, (width, count) in enumerate(zip(widths, counts)):
            stages.append(_stage(block, c, width, count, 1 if i == 0 else 2, shortcut))
            c = width * block.expansion
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))


class CifarResNet(nn.Module):
    """CIFAR-style network of depth ``6n + 2``.  x: (N, in_channels, H, W) -> (N, num_classes)."""

    def __init__(self, depth: int = 20, num_classes: int = 10, *, shortcut="pad", in_channels: int = 3,
                 widths=(16, 32, 64), input_size: int = 32):
        super().__init__()
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
            raise ValueError(f"depth must be 6n + 2 with n >= 1 (8, 14, 20, ...), got {depth!r}")
        n = (depth - 2) // 6
        self.depth = depth
        self.input_size = (in_channels, input_size, input_size)
        self.stem = nn.Sequential(*_conv_bn(in_channels, widths[0], 3), nn.ReLU(inplace=True))
        stages, c = [], widths[0]
        for i, width in enumerate(widths):
            stages.append(_stage(BasicBlock, c, width, n, 1 if i == 0 else 2, shortcut))
            c = width
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))


def resnet(depth: int, num_classes: int = 1000, *, shortcut="projection", **kwargs) -> ResNet:
    """ImageNet ResNet-``depth`` (18, 34, 50, 101, 152); ``shortcut=None`` gives the plain net."""
    if depth not in IMAGENET_DEPTHS:
        raise ValueError(f"ImageNet ResNet depth must be one of {sorted(IMAGENET_DEPTHS)}, got {depth!r}")
    block, counts = IMAGENET_DEPTHS[depth]
    return ResNet(block, counts, num_classes, shortcut=shortcut, **kwargs)


def resnet_cifar(depth: int = 20, num_classes: int = 10, *, shortcut="pad", **kwargs) -> CifarResNet:
    """CIFAR ResNet of depth ``6n + 2`` (option A shortcuts by default; None: plain net)."""
    return CifarResNet(depth, num_classes, shortcut=shortcut, **kwargs)


def _register(name: str, build, depth: int, shortcut, doc: str) -> None:
    def builder(num_classes: int | None = None, **kwargs):
        if num_classes is not None:
            kwargs["num_classes"] = num_classes
        return build(depth, shortcut=shortcut, **kwargs)

    builder.__name__ = name
    builder.__doc__ = doc
    register_model(name)(builder)


for _d in IMAGENET_DEPTHS:
    _register(f"resnet{_d}", resnet, _d, "projection", f"ResNet-{_d} (ImageNet layout, projection shortcuts).")
for _d in (18, 34):
    _register(f"plain{_d}", resnet, _d, None, f"Plain-{_d}: ResNet-{_d} without shortcuts.")
for _d in CIFAR_DEPTHS:
    _register(f"resnet{_d}_cifar", resnet_cifar, _d, "pad", f"CIFAR ResNet-{_d} (option A shortcuts).")
for _d in CIFAR_DEPTHS[:4]:
    _register(f"plain{_d}_cifar", resnet_cifar, _d, None, f"CIFAR plain net of depth {_d} (no shortcuts).")
