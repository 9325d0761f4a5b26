"""The bridge from forward/backward pairs to ``torch.autograd``.

:func:`function_from_pair` wraps a CS231n-style pair once into a
``torch.autograd.Function``: the same code then trains real networks and is
checked by ``torch.autograd.gradcheck``.
"""
from __future__ import annotations

from typing import Callable

import torch

from . import functional as F

__all__ = ["function_from_pair", "affine", "relu", "Linear", "ReLU"]


def function_from_pair(forward: Callable, backward: Callable, name: str) -> type[torch.autograd.Function]:
    """Make a ``torch.autograd.Function`` from ``forward(*args) -> (out, cache)``
    and ``backward(dout, cache) -> grad or tuple of grads``.

    The backward must return one gradient per leading tensor argument; the
    remaining arguments (strides, flags, ...) get ``None``.
    """

    def fn_forward(ctx, *args):
        out, cache = forward(*args)
        ctx.cache = cache
        ctx.n_args = len(args)
        return out

    def fn_backward(ctx, dout):
        grads = backward(dout.contiguous(), ctx.cache)
        if not isinstance(grads, tuple):
            grads = (grads,)
        return grads + (None,) * (ctx.n_args - len(grads))

    return type(name, (torch.autograd.Function,), {
        "forward": staticmethod(fn_forward),
        "backward": staticmethod(fn_backward),
        "__doc__": f"autograd Function built from {forward.__name__} / {backward.__name__}.",
    })


AffineFunction = function_from_pair(F.affine_forward, F.affine_backward, "AffineFunction")
ReLUFunction = function_from_pair(F.relu_forward, F.relu_backward, "ReLUFunction")


def affine(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Differentiable fully connected layer: x (N, D), w (D, M), b (M,) -> (N, M)."""
    return AffineFunction.apply(x, w, b)


def relu(x: torch.Tensor) -> torch.Tensor:
    """Differentiable ReLU, any shape."""
    return ReLUFunction.apply(x)


class Linear(torch.nn.Module):
    """Fully connected module on :func:`affine`; weights (in_features, out_features).

    Initialised like ``torch.nn.Linear``: uniform in ``[-1/sqrt(in), 1/sqrt(in)]``.
    """

    def __init__(self, in_features: int, out_features: int, *, device=None, dtype=None):
        super().__init__()
        bound = in_features ** -0.5
        kw = {"device": device, "dtype": dtype}
        self.weight = torch.nn.Parameter(torch.empty(in_features, out_features, **kw).uniform_(-bound, bound))
        self.bias = torch.nn.Parameter(torch.empty(out_features, **kw).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return affine(x, self.weight, self.bias)


class ReLU(torch.nn.Module):
    """Module form of :func:`relu`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return relu(x)
