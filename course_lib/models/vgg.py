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

__all__ = ["VGG_WIDTHS", "VGG_CONFIGS", "VGG_NAMES", "vgg_features", "vgg"]

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


def vgg_features(config, in_channels: int = 3, *, batch_norm: bool = False, widths=VGG_WIDTHS) -> nn.Sequential:
    """The convolutional part of a configuration (a key of :data:`VGG_CONFIGS` or a list of stages)."""
    stages = VGG_CONFIGS[config] if isinstance(config, str) else config
    if len(stages) != len(widths):
        raise ValueError(f"{len(stages)} stages but {len(widths)} widths")
    layers: list[nn.Module] = []
    c = in_channels
    for stage, width in zip(stages, widths):
        for item in stage:
            if item == "LRN":
                layers.append(paper_lrn(**LRN_PAPER))
                continue
            layers.append(nn.Conv2d(c, width, item, padding=item // 2))
            if batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.ReLU(inplace=True))
            c = width
        layers.append(nn.MaxPool2d(2, 2))
    return nn.Sequential(*layers)


def vgg(config: str = "D", num_classes: int = 1000, *, batch_norm: bool = False, input_size: int = 224,
        dropout: float = 0.5) -> ClassicNet:
    """VGG configuration ``config`` ("A", "A-LRN", "B", "C", "D", "E") for ``input_size`` inputs."""
    if config not in VGG_CONFIGS:
        raise ValueError(f"unknown VGG configuration {config!r}; choose one of {', '.join(VGG_CONFIGS)}")
    features = vgg_features(config, batch_norm=batch_norm)
    h, w = spatial_after(features, (input_size, input_size))
    classifier = nn.Sequential(nn.Linear(VGG_WIDTHS[-1] * h * w, 4096), nn.ReLU(inplace=True), nn.Dropout(dropout),
                               nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(dropout),
                               nn.Linear(4096, num_classes))
    return ClassicNet(features, classifier, (3, input_size, input_size))


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
