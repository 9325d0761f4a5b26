"""LeNet-5 (LeCun, Bottou, Bengio and Haffner 1998), as in the paper and in a modern variant.

The paper's network on a 32x32 input::

    C1  conv 5x5, 6 maps 28x28         156 parameters  (6 * 25 weights + 6 biases)
    S2  subsampling 2x2, 6 maps 14x14   12 parameters  (one coefficient and one bias per map)
    C3  conv 5x5, 16 maps 10x10      1,516 parameters  (Table I: each map sees 3, 4 or all 6 maps of S2)
    S4  subsampling 2x2, 16 maps 5x5    32 parameters
    C5  conv 5x5, 120 maps 1x1      48,120 parameters
    F6  fully connected, 84         10,164 parameters
    output, 10 classes                 850 parameters

The squashing function is the paper's scaled tanh ``1.7159 tanh(2a/3)``.  The paper's output
layer is a set of Euclidean RBF units with hand-drawn fixed prototypes; here it is a linear
layer trained with the cross-entropy loss, as every modern re-implementation does.  The trunk
(C1-F6) has exactly the paper's 60,000 parameters; with the output layer, 60,850.

The modern variant keeps the sizes and replaces the squashing by ReLU, the trainable
subsampling by max pooling and Table I by a full 6->16 connection (61,706 parameters).
"""
from __future__ import annotations

import torch
from torch import nn

from . import register_model
from ._common import ClassicNet, spatial_after

__all__ = ["C3_TABLE", "ScaledTanh", "Subsampling", "PartialConv2d", "lenet5", "lenet5_modern"]

#: Table I of the paper: the S2 maps (0-5) that each of the 16 C3 maps reads.
C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


class ScaledTanh(nn.Module):
    """The paper's squashing function ``f(a) = A tanh(S a)`` with ``A = 1.7159``, ``S = 2/3``
    (so that ``f(1) = 1`` and ``f(-1) = -1``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 1.7159 * torch.tanh(x * (2.0 / 3.0))


class Subsampling(nn.Module):
    """LeNet's trainable subsampling: each output is ``coefficient * (sum of a 2x2 block) + bias``,
    one coefficient and one bias per channel.  x: (N, C, H, W) -> (N, C, H/2, W/2)."""

    def __init__(self, channels: int, kernel_size: int = 2):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size
        self.padding = 0
        self.weight = nn.Parameter(torch.empty(channels))
        self.bias = nn.Parameter(torch.empty(channels))
        nn.init.uniform_(self.weight, -1.0 / kernel_size, 1.0 / kernel_size)
        nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size
        block_sum = torch.nn.functional.avg_pool2d(x, k) * (k * k)
        return block_sum * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class PartialConv2d(nn.Module):
    """A convolution whose output map ``j`` reads only the input maps ``table[j]``.

    Output maps that read the same number of inputs are computed together as one grouped
    convolution over the gathered input maps, so the parameters and multiply-adds are
    exactly those of the table (C3: 60 connections x 25 weights + 16 biases = 1,516).
    x: (N, C_in, H, W) -> (N, len(table), H - k + 1, W - k + 1).
    """

    def __init__(self, in_channels: int, table, kernel_size: int):
        super().__init__()
        table = [tuple(t) for t in table]
        for j, inputs in enumerate(table):
            if not inputs or any(not 0 <= i < in_channels for i in inputs) or len(set(inputs)) != len(inputs):
                raise ValueError(f"table[{j}] = {inputs} must list distinct input maps in 0..{in_channels - 1}")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, len(table), kernel_size
        self.stride, self.padding, self.dilation = 1, 0, 1
        fan_ins = sorted({len(t) for t in table})
        self.convs = nn.ModuleList()
        order = []
        for fan in fan_ins:
            outs = [j for j, t in enumerate(table) if len(t) == fan]
            order += outs
            self.register_buffer(f"gather{fan}", torch.tensor([i for j in outs for i in table[j]]), persistent=False)
            self.convs.append(nn.Conv2d(fan * len(outs), len(outs), kernel_size, groups=len(outs)))
        self.fan_ins = fan_ins
        self.register_buffer("restore", torch.argsort(torch.tensor(order)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [conv(x.index_select(1, getattr(self, f"gather{fan}"))) for fan, conv in zip(self.fan_ins, self.convs)]
        return torch.cat(parts, 1).index_select(1, self.restore)


def _classifier(in_features: int, act, num_classes: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_features, 120), act(), nn.Linear(120, 84), act(), nn.Linear(84, num_classes))


@register_model("lenet5")
def lenet5(num_classes: int = 10, in_channels: int = 1, input_size: int = 32) -> ClassicNet:
    """The paper's LeNet-5 (scaled tanh, trainable subsampling, Table I) with a linear output.
    C5 is a 5x5 convolution over the 5x5 maps of S4, i.e. a fully connected layer; it is built
    as ``nn.Linear`` over the flattened S4 output, sized from ``input_size``."""
    features = nn.Sequential(
        nn.Conv2d(in_channels, 6, 5), ScaledTanh(), Subsampling(6), ScaledTanh(),
        PartialConv2d(6, C3_TABLE, 5), ScaledTanh(), Subsampling(16), ScaledTanh(),
    )
    h, w = spatial_after(features, (input_size,) * 2)
    return ClassicNet(features, _classifier(16 * h * w, ScaledTanh, num_classes), (in_channels, input_size, input_size))


@register_model("lenet5_modern")
def lenet5_modern(num_classes: int = 10, in_channels: int = 1, input_size: int = 32) -> ClassicNet:
    """LeNet-5's sizes with ReLU, 2x2 max pooling and a full C3 (the usual modern re-implementation)."""
    features = nn.Sequential(nn.Conv2d(in_channels, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2))
    h, w = spatial_after(features, (input_size,) * 2)
    return ClassicNet(features, _classifier(16 * h * w, nn.ReLU, num_classes), (in_channels, input_size, input_size))
