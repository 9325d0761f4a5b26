"""VGG (Simonyan and Zisserman 2015): the six configurations of the paper's Table 1, built
from one table, with or without batch normalisation.

Each configuration is a list of stages; a stage is a list of convolutions, written as
``k`` (a ``k x k`` convolution, stride 1, padding ``k // 2``, to the stage's width) or
``"LRN"``, and every stage ends with 2x2 max pooling.  Widths are 64, 128, 256, 512, 512.
Then three fully connected layers (4096, 4096, 1000), dropout 0.5 after the first two.  On a 224x224 input the parameter counts
are 132.9 M (A), 132.9 M (A-LRN), 133.0 M (B), 133.6 M (C), 138.4 M (D), 143.7 M (E),
the paper's Table 2 rounded (133, 133, 133, 134, 138, 144).

With ``batch_norm=True`` every convolution is followed by ``BatchNorm2d`` (as torchvision's
``vgg*_bn``; the paper predates batch normalisation).
"""
from __future__ import annotations

from torch import nn

from . import register_model
from ._common import ClassicNet, spatial_after
from .alexnet import LRN_PAPER, paper_lrn

__all__ = ["VGG_WIDTHS", "VGG_CONFIGS", "VGG_NAMES", "config_layers", "vgg_features", "vgg_from_layers", "vgg"]

VGG_WIDTHS = (64, 128, 256, 512, 512)

#: Table 1 of the paper: per configuration, the layers of each of the five stages.
VGG_CONFIGS: dict[str, tuple[tuple, ...]] = {
    "A": ((3,), (3,), (3, 3), (3, 3), (3, 3)),
    "A-LRN": ((3, "LRN"), (3,), (3, 3), (3, 3), (3, 3)),
    "B": ((3, 3), (3, 3), (3, 3), (3, 3), (3, 3)),
    "C": ((3, 3), (3, 3), (3, 3, 1), (3, 3, 1), (3, 3, 1)),
    "D": ((3, 3), (3, 3), (3, 3, 3), (3, 3, 3), (3, 3, 3)),
    "E": ((3, 3), (3, 3), (3, 3, 3, 3), (3, 3, 3, 3), (3, 3, 3, 3)),
}

#: Registry names: configuration -> name (weight layers), as torchvision where it has one.
VGG_NAMES = {"A": "vgg11", "A-LRN": "vgg11_lrn", "B": "vgg13", "C": "vgg16_1x1", "D": "vgg16", "E": "vgg19"}


def config_layers(config) -> list:
    """A configuration (a key of :data:`VGG_CONFIGS`) as a flat layer list: ``w`` (3x3
    convolution to ``w`` maps), ``(k, w)`` (``k x k`` convolution), ``"LRN"``, ``"M"`` (2x2 max pooling)."""
    layers: list = []
    for stage, width in zip(VGG_CONFIGS[config], VGG_WIDTHS):
        layers += ["LRN" if k == "LRN" else (width if k == 3 else (k, width)) for k in stage] + ["M"]
    return layers


def vgg_features(layers, in_channels: int = 3, *, batch_norm: bool = False) -> nn.Sequential:
    """The convolutional part from a flat layer list (see :func:`config_layers`): every
    convolution (stride 1, padding ``k // 2``) is followed by ``BatchNorm2d`` if ``batch_norm``,
    then ReLU."""
    modules: list[nn.Module] = []
    c = in_channels
    for i, item in enumerate(layers):
        if item == "M":
            modules.append(nn.MaxPool2d(2, 2))
        elif item == "LRN":
            modules.append(paper_lrn(**LRN_PAPER))
        else:
            k, width = (3, item) if isinstance(item, int) else item
            if isinstance(k, bool) or not isinstance(k, int) or not isinstance(width, int) or k < 1 or width < 1:
                raise ValueError(f"layer {i}: expected a width, (kernel, width), 'M' or 'LRN', got {item!r}")
            modules.append(nn.Conv2d(c, width, k, padding=k // 2))
            if batch_norm:
                modules.append(nn.BatchNorm2d(width))
            modules.append(nn.ReLU(inplace=True))
            c = width
    return nn.Sequential(*modules)


def vgg_from_layers(layers, num_classes: int = 1000, *, in_channels: int = 3, input_size: int = 224,
                    batch_norm: bool = False, hidden: int = 4096, dropout: float = 0.5) -> ClassicNet:
    """A VGG-style network from a flat layer list: ``features`` (see :func:`vgg_features`), then
    ``classifier`` = Linear(C*h*w, hidden), ReLU, Dropout, Linear(hidden, hidden), ReLU, Dropout,
    Linear(hidden, num_classes), its first layer sized from ``input_size``."""
    features = vgg_features(layers, in_channels, batch_norm=batch_norm)
    convs = [m for m in features if isinstance(m, nn.Conv2d)]
    channels = convs[-1].out_channels if convs else in_channels
    h, w = spatial_after(features, (input_size, input_size))
    classifier = nn.Sequential(nn.Linear(channels * h * w, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                               nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                               nn.Linear(hidden, num_classes))
    return ClassicNet(features, classifier, (in_channels, input_size, input_size))


def vgg(config: str = "D", num_classes: int = 1000, *, batch_norm: bool = False, input_size: int = 224,
        dropout: float = 0.5) -> ClassicNet:
    """VGG configuration ``config`` ("A", "A-LRN", "B", "C", "D", "E") for ``input_size`` inputs."""
    if config not in VGG_CONFIGS:
        raise ValueError(f"unknown VGG configuration {config!r}; choose one of {', '.join(VGG_CONFIGS)}")
    return vgg_from_layers(config_layers(config), num_classes, input_size=input_size, batch_norm=batch_norm,
                           dropout=dropout)


def _register(config: str, batch_norm: bool) -> None:
    name = VGG_NAMES[config] + ("_bn" if batch_norm else "")

    def build(num_classes: int = 1000, **kwargs) -> ClassicNet:
        return vgg(config, num_classes, batch_norm=batch_norm, **kwargs)

    build.__name__ = name
    build.__doc__ = f"VGG configuration {config}{' with batch norm' if batch_norm else ''} (see :func:`vgg`)."
    register_model(name)(build)


for _config in VGG_CONFIGS:
    for _bn in (False, True):
        if not (_bn and "LRN" in _config):  # LRN and BN are two answers to one question: not combined
            _register(_config, _bn)
