"""GoogLeNet / Inception v1 (Szegedy et al. 2015) and the factorised modules of Inception v3
(Szegedy et al. 2016).

An Inception module runs four branches on the same input and concatenates their maps::

    1x1 conv (c1)
    1x1 conv (c3r) -> 3x3 conv (c3)         the 1x1 "reductions" shrink the channels first,
    1x1 conv (c5r) -> 5x5 conv (c5)         so the 3x3 and 5x5 convolutions are cheap
    3x3 max pool (stride 1) -> 1x1 conv (pool_proj)

Output channels ``c1 + c3 + c5 + pool_proj``; every convolution is followed by ReLU.

``googlenet`` follows the paper's Table 1 (convolutions with biases, LRN after the first two
stages, 5x5 branches, dropout 0.4, two optional auxiliary classifiers after 4a and 4d).
``googlenet_torchvision`` is torchvision's layout: batch norm after every bias-free
convolution, no LRN, and a 3x3 kernel in the "5x5" branch; its parameter count equals
``torchvision.models.googlenet``'s (6,624,904 without and 13,004,888 with the auxiliary
classifiers).  Both use ``ceil_mode`` max pooling, giving the paper's 56/28/14/7 grids on a
224x224 input, and global average pooling, so they also accept smaller inputs (at least
32x32, which the 32-fold downsampling brings to 1x1; the auxiliary classifiers pool
adaptively to 4x4).
"""
from __future__ import annotations

from collections import namedtuple
from typing import Callable

import torch
from torch import nn

from . import register_model
from .alexnet import LRN_PAPER, paper_lrn

__all__ = ["GOOGLENET_TABLE", "conv_relu", "conv_bn_relu", "Inception", "InceptionAux", "GoogLeNet",
           "googlenet", "googlenet_torchvision", "InceptionFactorized5x5", "InceptionFactorizedNxN",
           "GoogLeNetOutputs"]

GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux1", "aux2"])

#: Table 1 of the paper: module -> (c1, c3 reduce, c3, c5 reduce, c5, pool proj).
GOOGLENET_TABLE: dict[str, tuple[int, int, int, int, int, int]] = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}


def conv_relu(in_ch: int, out_ch: int, kernel_size, stride=1, padding=0) -> nn.Sequential:
    """Convolution (with bias) then ReLU: the paper's unit."""
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, padding=padding), nn.ReLU(inplace=True))


def conv_bn_relu(in_ch: int, out_ch: int, kernel_size, stride=1, padding=0) -> nn.Sequential:
    """Bias-free convolution, batch norm (eps 1e-3, as torchvision's Inception), ReLU."""
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, padding=padding, bias=False),
                         nn.BatchNorm2d(out_ch, eps=0.001), nn.ReLU(inplace=True))


class Inception(nn.Module):
    """Inception v1 module.  x: (N, in_ch, H, W) -> (N, c1 + c3 + c5 + pool_proj, H, W)."""

    def __init__(self, in_ch: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, pool_proj: int, *,
                 conv: Callable = conv_relu, c5_kernel: int = 5):
        super().__init__()
        self.branch1 = conv(in_ch, c1, 1)
        self.branch3 = nn.Sequential(conv(in_ch, c3r, 1), conv(c3r, c3, 3, padding=1))
        self.branch5 = nn.Sequential(conv(in_ch, c5r, 1), conv(c5r, c5, c5_kernel, padding=c5_kernel // 2))
        self.branch_pool = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True), conv(in_ch, pool_proj, 1))
        self.out_channels = c1 + c3 + c5 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(x)], 1)


class InceptionAux(nn.Module):
    """Auxiliary classifier: 5x5/3 average pooling (to 4x4 on a 14x14 grid), 1x1 conv to 128,
    FC 1024, dropout 0.7, FC num_classes."""

    def __init__(self, in_ch: int, num_classes: int, *, conv: Callable = conv_relu, dropout: float = 0.7):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d((4, 4))
        self.conv = conv(in_ch, 128, 1)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.conv(self.pool(x)), 1)
        return self.fc2(self.dropout(self.relu(self.fc1(x))))


class GoogLeNet(nn.Module):
    """GoogLeNet; in training mode with ``aux=True`` it returns ``GoogLeNetOutputs(logits, aux1,
    aux2)``, otherwise the logits (N, num_classes)."""

    def __init__(self, num_classes: int = 1000, *, aux: bool = False, batch_norm: bool = False, lrn: bool = True,
                 c5_kernel: int = 5, dropout: float = 0.4, table=GOOGLENET_TABLE):
        super().__init__()
        conv = conv_bn_relu if batch_norm else conv_relu
        norm = (lambda: paper_lrn(**LRN_PAPER)) if lrn else nn.Identity
        pool = lambda: nn.MaxPool2d(3, 2, ceil_mode=True)  # noqa: E731
        self.input_size = (3, 224, 224)
        self.stem = nn.Sequential(conv(3, 64, 7, stride=2, padding=3), pool(), norm(),
                                  conv(64, 64, 1), conv(64, 192, 3, padding=1), norm(), pool())
        blocks: dict[str, nn.Module] = {}
        c = 192
        for name, row in table.items():
            if name in ("4a", "5a"):
                blocks[f"pool{name[0]}"] = pool()
            blocks[f"inception{name}"] = module = Inception(c, *row, conv=conv, c5_kernel=c5_kernel)
            c = module.out_channels
        self.blocks = nn.ModuleDict(blocks)
        self.aux1 = InceptionAux(self.blocks["inception4a"].out_channels, num_classes, conv=conv) if aux else None
        self.aux2 = InceptionAux(self.blocks["inception4d"].out_channels, num_classes, conv=conv) if aux else None
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(c, num_classes))

    def forward(self, x: torch.Tensor):
        """x: (N, 3, H, W), H and W at least 32 (224 in the paper)."""
        x = self.stem(x)
        aux = {}
        for name, block in self.blocks.items():
            x = block(x)
            if self.training and self.aux1 is not None and name in ("inception4a", "inception4d"):
                aux[name] = (self.aux1 if name == "inception4a" else self.aux2)(x)
        logits = self.head(x)
        if aux:
            return GoogLeNetOutputs(logits, aux["inception4a"], aux["inception4d"])
        return logits


@register_model("googlenet")
def googlenet(num_classes: int = 1000, *, aux: bool = False, **kwargs) -> GoogLeNet:
    """The paper's GoogLeNet (biases, LRN, 5x5 branches); ``aux`` adds the auxiliary classifiers."""
    return GoogLeNet(num_classes, aux=aux, **kwargs)


@register_model("googlenet_torchvision")
def googlenet_torchvision(num_classes: int = 1000, *, aux: bool = False) -> GoogLeNet:
    """torchvision's GoogLeNet layout (batch norm, no LRN, 3x3 in the "5x5" branch)."""
    return GoogLeNet(num_classes, aux=aux, batch_norm=True, lrn=False, c5_kernel=3, dropout=0.2)


class InceptionFactorized5x5(nn.Module):
    """Inception v3 module of the 35x35 grid (paper's Figure 5): the 5x5 branch is replaced by
    two stacked 3x3 convolutions (same 5x5 receptive field, 18/25 of the weights).
    Branches: 1x1 (c1); 1x1 (c3r) -> 3x3 (c3); 1x1 (cdr) -> 3x3 (cd) -> 3x3 (cd); avg pool 3x3 -> 1x1 (cp).
    x: (N, in_ch, H, W) -> (N, c1 + c3 + cd + cp, H, W)."""

    def __init__(self, in_ch: int, c1: int = 64, c3r: int = 48, c3: int = 64, cdr: int = 64, cd: int = 96,
                 cp: int = 64):
        super().__init__()
        self.branch1 = conv_bn_relu(in_ch, c1, 1)
        self.branch3 = nn.Sequential(conv_bn_relu(in_ch, c3r, 1), conv_bn_relu(c3r, c3, 3, padding=1))
        self.branch_double3 = nn.Sequential(conv_bn_relu(in_ch, cdr, 1), conv_bn_relu(cdr, cd, 3, padding=1),
                                            conv_bn_relu(cd, cd, 3, padding=1))
        self.branch_pool = nn.Sequential(nn.AvgPool2d(3, 1, 1), conv_bn_relu(in_ch, cp, 1))
        self.out_channels = c1 + c3 + cd + cp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch3(x), self.branch_double3(x), self.branch_pool(x)], 1)


class InceptionFactorizedNxN(nn.Module):
    """Inception v3 module of the 17x17 grid (paper's Figure 6): an ``n x n`` convolution is
    factorised into ``1 x n`` then ``n x 1`` (``2n`` instead of ``n^2`` weights per channel
    pair), n = 7 in the paper.  Branches: 1x1 (c); 1x1 (m) -> 1xn (m) -> nx1 (c);
    1x1 (m) -> nx1 (m) -> 1xn (m) -> nx1 (m) -> 1xn (c); avg pool 3x3 -> 1x1 (c).
    x: (N, in_ch, H, W) -> (N, 4c, H, W)."""

    def __init__(self, in_ch: int = 768, mid: int = 128, out: int = 192, n: int = 7):
        super().__init__()
        p = n // 2
        row = lambda i, o: conv_bn_relu(i, o, (1, n), padding=(0, p))  # noqa: E731
        col = lambda i, o: conv_bn_relu(i, o, (n, 1), padding=(p, 0))  # noqa: E731
        self.n = n
        self.branch1 = conv_bn_relu(in_ch, out, 1)
        self.branch_n = nn.Sequential(conv_bn_relu(in_ch, mid, 1), row(mid, mid), col(mid, out))
        self.branch_double_n = nn.Sequential(conv_bn_relu(in_ch, mid, 1), col(mid, mid), row(mid, mid),
                                             col(mid, mid), row(mid, out))
        self.branch_pool = nn.Sequential(nn.AvgPool2d(3, 1, 1), conv_bn_relu(in_ch, out, 1))
        self.out_channels = 4 * out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch_n(x), self.branch_double_n(x), self.branch_pool(x)], 1)
