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
    """A convolution (stride 1, no padding) whose output map ``j`` reads only the input maps
    ``table[j]``: one ``k x k`` kernel per connection and one bias per output map, so the
    parameters are exactly those of the table (C3: 60 connections x 25 weights + 16 biases
    = 1,516 parameters, against 2,416 for a full connection).

    The forward pass scatters the kernels into a dense ``(C_out, C_in, k, k)`` kernel whose
    missing connections are zero and runs one convolution: at LeNet's size a convolution's
    cost is dominated by its per-call overhead, so sixteen small convolutions (one per map,
    no multiplication by zero) train about ten times slower.  The executed multiply-adds are
    therefore those of the dense kernel; ``connection_multiply_adds`` gives the table's.
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
        self.table = table
        connections = [(j, i) for j, inputs in enumerate(table) for i in inputs]
        self.register_buffer("slots", torch.tensor([j * in_channels + i for j, i in connections]), persistent=False)
        self.weight = nn.Parameter(torch.empty(len(connections), kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty(len(table)))
        with torch.no_grad():  # torch's default for a convolution with this map's fan-in
            start = 0
            for j, inputs in enumerate(table):
                bound = (len(inputs) * kernel_size * kernel_size) ** -0.5
                self.weight[start:start + len(inputs)].uniform_(-bound, bound)
                self.bias[j].uniform_(-bound, bound)
                start += len(inputs)

    def dense_weight(self) -> torch.Tensor:
        """The kernel as ``(C_out, C_in, k, k)``, zero where the table has no connection."""
        k, c_out, c_in = self.kernel_size, self.out_channels, self.in_channels
        dense = self.weight.new_zeros(c_out * c_in, k, k).index_copy(0, self.slots, self.weight)
        return dense.view(c_out, c_in, k, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"PartialConv2d expects (N, {self.in_channels}, H, W), got {tuple(x.shape)}")
        return torch.nn.functional.conv2d(x, self.dense_weight(), self.bias)

    def multiply_adds(self, x: torch.Tensor, out: torch.Tensor) -> int:
        """Executed multiply-adds of one call (dense kernel), as course_lib.summary counts them."""
        return out.numel() * self.in_channels * self.kernel_size ** 2

    def connection_multiply_adds(self, out_h: int, out_w: int) -> int:
        """Multiply-adds per example that the table's connections need: connections x k^2 x positions."""
        return self.weight.numel() * out_h * out_w


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
