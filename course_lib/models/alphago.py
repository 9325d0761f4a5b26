"""AlphaGo's supervised-learning policy network (Silver et al. 2016, "Methods: Neural network architecture").

Input: ``x: (N, 48, 19, 19)`` feature planes (:func:`course_lib.go.feature_planes`).

* layer 1: zero-pad to 23x23 (padding 2), ``k`` 5x5 filters, stride 1, ReLU -> ``(N, k, 19, 19)``;
* layers 2-12 (eleven layers): zero-pad to 21x21 (padding 1), ``k`` 3x3 filters, ReLU;
* layer 13: one 1x1 filter without bias, then a separate bias for each of the 361 points;
* a softmax over the 361 points, with illegal points masked out.

``k = 192`` in the match version (128, 256 and 384 in the paper's comparison).  Every
convolution of layers 1-12 has a bias per filter (the paper does not list them; the count below
includes them).  The weights are random: nothing is downloaded.
"""
from __future__ import annotations

import torch
from torch import nn

from ..shapes import conv_layer_params
from . import register_model

__all__ = ["AlphaGoPolicy", "alphago_policy", "alphago_policy_params", "masked_softmax"]


def alphago_policy_params(k: int = 192, in_planes: int = 48, board_size: int = 19, layers: int = 13) -> int:
    """Number of learnable parameters of :class:`AlphaGoPolicy` (with ``layers - 2`` 3x3 layers).

    ``conv 5x5 (in_planes -> k) + (layers - 2) * conv 3x3 (k -> k) + conv 1x1 (k -> 1, no bias)
    + board_size**2`` position biases; 3,882,793 at the defaults.
    """
    return (conv_layer_params(in_planes, k, 5) + (layers - 2) * conv_layer_params(k, k, 3)
            + conv_layer_params(k, 1, 1, bias=False) + board_size * board_size)


def masked_softmax(logits: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dimension with illegal entries at exactly zero probability.

    logits: ``(N, P)`` any floating dtype; legal: ``(N, P)`` or ``(P,)`` bool.  The softmax is
    computed in at least float32 and returned in ``logits``' dtype; illegal entries are set to
    zero after it, so no rounding can leave them a tiny probability.  A row without a legal entry
    is an error.
    """
    if legal.dtype != torch.bool:
        raise TypeError(f"masked_softmax: legal must be a bool tensor, got {legal.dtype}")
    legal = legal.to(logits.device).expand_as(logits)
    if not bool(legal.any(dim=-1).all()):
        raise ValueError("masked_softmax: a position has no legal move (every entry of a row is masked)")
    work = logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
    work = work.masked_fill(~legal, float("-inf"))
    probs = torch.softmax(work, dim=-1).masked_fill(~legal, 0.0)
    return probs.to(logits.dtype)


class AlphaGoPolicy(nn.Module):
    """The SL policy network ``p_sigma``.

    Args:
        k: filters per hidden layer (192 in play).
        in_planes: input feature planes (48).
        board_size: points per side (19).
        layers: convolution layers in all (13: one 5x5, ``layers - 2`` 3x3, one 1x1).
    """

    def __init__(self, k: int = 192, in_planes: int = 48, board_size: int = 19, layers: int = 13):
        super().__init__()
        for name, value, low in (("k", k, 1), ("in_planes", in_planes, 1), ("board_size", board_size, 1),
                                 ("layers", layers, 2)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"AlphaGoPolicy: {name} must be an int >= {low}, got {value!r}")
        self.k, self.in_planes, self.board_size = k, in_planes, board_size
        self.input_size = (in_planes, board_size, board_size)   # (C, H, W) of the input planes
        convs = [nn.Conv2d(in_planes, k, 5, padding=2)]
        convs += [nn.Conv2d(k, k, 3, padding=1) for _ in range(layers - 2)]
        self.hidden = nn.ModuleList(convs)
        self.head = nn.Conv2d(k, 1, 1, bias=False)
        self.position_bias = nn.Parameter(torch.zeros(board_size * board_size))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """x: ``(N, in_planes, S, S)`` -> unnormalised move scores ``(N, S*S)`` (row-major points)."""
        if x.ndim != 4 or x.shape[1] != self.in_planes or x.shape[2:] != (self.board_size, self.board_size):
            raise ValueError(f"AlphaGoPolicy: x must be (N, {self.in_planes}, {self.board_size}, "
                             f"{self.board_size}), got {tuple(x.shape)}")
        for conv in self.hidden:
            x = torch.relu(conv(x))
        return self.head(x).flatten(1) + self.position_bias

    def forward(self, x: torch.Tensor, legal: torch.Tensor | None = None) -> torch.Tensor:
        """Move probabilities ``(N, S*S)``.

        legal: ``(N, S, S)``, ``(S, S)``, ``(N, S*S)`` or ``(S*S,)`` bool; illegal points get
        exactly 0.  Without it every point is allowed.
        """
        logits = self.logits(x)
        if legal is None:
            legal = torch.ones_like(logits, dtype=torch.bool)
        side = (self.board_size, self.board_size)
        if legal.ndim in (2, 3) and tuple(legal.shape[-2:]) == side:
            legal = legal.flatten(-2)
        if legal.shape[-1] != logits.shape[-1]:
            raise ValueError(f"AlphaGoPolicy: legal must cover the {logits.shape[-1]} points, got shape "
                             f"{tuple(legal.shape)}")
        return masked_softmax(logits, legal)


@register_model("alphago_policy")
def alphago_policy(k: int = 192, in_planes: int = 48, board_size: int = 19, layers: int = 13) -> AlphaGoPolicy:
    """AlphaGo's SL policy network with random weights (``k`` filters per layer)."""
    return AlphaGoPolicy(k=k, in_planes=in_planes, board_size=board_size, layers=layers)
