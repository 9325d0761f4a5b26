"""Elementwise nonlinearities: ReLU, leaky ReLU, sigmoid and tanh.

Each activation is a forward/backward pair, plus a plain derivative function
(``sigmoid_derivative`` and friends) for plotting: the derivative of the
sigmoid never exceeds 1/4 and that of tanh never exceeds 1, and both vanish for
large ``|x|`` (saturation), while ReLU passes a gradient of exactly 1 for every
positive input.  That is the usual explanation of why ReLU networks train
faster than sigmoid or tanh networks.

All shapes are free: ``x`` may have any shape and ``out`` has the same shape.
ReLU itself lives in :mod:`course_lib.functional.linear` (Chapter 1) and is
re-exported here so this module lists every activation.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from .. import gates
from .._checks import check_dout, check_tensor
from .linear import ReLUCache, relu_backward, relu_forward

__all__ = [
    "ReLUCache",
    "relu_forward",
    "relu_backward",
    "LeakyReLUCache",
    "leaky_relu_forward",
    "leaky_relu_backward",
    "SigmoidCache",
    "sigmoid_forward",
    "sigmoid_backward",
    "TanhCache",
    "tanh_forward",
    "tanh_backward",
    "relu_derivative",
    "leaky_relu_derivative",
    "sigmoid_derivative",
    "tanh_derivative",
]


class LeakyReLUCache(NamedTuple):
    """What :func:`leaky_relu_backward` needs: the input and the negative slope."""

    x: torch.Tensor
    negative_slope: float


def leaky_relu_forward(x: torch.Tensor, *, negative_slope: float = 0.01) -> tuple[torch.Tensor, LeakyReLUCache]:
    """Leaky ReLU: ``x`` where ``x > 0``, else ``negative_slope * x``.

    Args:
        x: any shape.
        negative_slope: slope for negative inputs (0 gives the plain ReLU).
    Returns:
        out: same shape as ``x``, and the cache for :func:`leaky_relu_backward`.
    """
    check_tensor("x", x)
    negative_slope = float(negative_slope)
    return torch.where(x > 0, x, x * negative_slope), LeakyReLUCache(x, negative_slope)


def leaky_relu_backward(dout: torch.Tensor, cache: LeakyReLUCache) -> torch.Tensor:
    """Gradient of the leaky ReLU: ``dout`` where ``x > 0``, else ``negative_slope * dout``.
    dout: shape of x (any shape); returns dx, shape of x.

    At ``x == 0`` the slope used is ``negative_slope`` (torch's convention).
    """
    x, slope = cache
    check_dout(dout, x.shape, "leaky ReLU", like=x)
    return torch.where(x > 0, dout, dout * slope)


class SigmoidCache(NamedTuple):
    """What :func:`sigmoid_backward` needs: the forward output ``out``."""

    out: torch.Tensor


class TanhCache(NamedTuple):
    """What :func:`tanh_backward` needs: the forward output ``out``."""

    out: torch.Tensor


def sigmoid_forward(x: torch.Tensor) -> tuple[torch.Tensor, SigmoidCache]:
    """Logistic sigmoid ``1 / (1 + exp(-x))``, x: any shape; out has the shape of x.

    Returns ``(out, SigmoidCache(out))``: the derivative is expressed through the output,
    ``sigma'(x) = sigma(x) (1 - sigma(x))``.
    """
    check_tensor("x", x)
    out = torch.sigmoid(x)  # stable for large |x|, unlike the literal formula
    return out, SigmoidCache(out)


def sigmoid_backward(dout: torch.Tensor, cache: SigmoidCache) -> torch.Tensor:
    """Gradient of the sigmoid: ``dout * s * (1 - s)`` with ``s`` the forward output.
    dout: shape of x (any shape); returns dx, shape of x."""
    s = cache.out
    check_dout(dout, s.shape, "sigmoid", like=s)
    return dout * s * (1 - s)


def tanh_forward(x: torch.Tensor) -> tuple[torch.Tensor, TanhCache]:
    """Hyperbolic tangent, x: any shape; out has the shape of x.
    Returns ``(out, TanhCache(out))`` since ``tanh' = 1 - tanh^2``."""
    check_tensor("x", x)
    out = torch.tanh(x)
    return out, TanhCache(out)


def tanh_backward(dout: torch.Tensor, cache: TanhCache) -> torch.Tensor:
    """Gradient of tanh: ``dout * (1 - t^2)`` with ``t`` the forward output.
    dout: shape of x (any shape); returns dx, shape of x."""
    t = cache.out
    check_dout(dout, t.shape, "tanh", like=t)
    return dout * (1 - t * t)


def relu_derivative(x: torch.Tensor) -> torch.Tensor:
    """d relu / dx: 1 where ``x > 0``, else 0 (0 at ``x == 0``, as torch). Same shape as ``x``."""
    check_tensor("x", x)
    return gates.relu_backward(torch.ones_like(x), x)


def leaky_relu_derivative(x: torch.Tensor, *, negative_slope: float = 0.01) -> torch.Tensor:
    """d leaky_relu / dx: 1 where ``x > 0``, else ``negative_slope``. x: any shape; the result has its shape."""
    check_tensor("x", x)
    return torch.where(x > 0, torch.ones_like(x), torch.full_like(x, float(negative_slope)))


def sigmoid_derivative(x: torch.Tensor) -> torch.Tensor:
    """d sigmoid / dx ``= s (1 - s)``; at most 1/4 (at ``x = 0``), about ``exp(-|x|)`` far out.
    x: any shape; the result has its shape."""
    check_tensor("x", x)
    s = torch.sigmoid(x)
    return s * (1 - s)


def tanh_derivative(x: torch.Tensor) -> torch.Tensor:
    """d tanh / dx ``= 1 - tanh(x)^2``; at most 1 (at ``x = 0``), about ``4 exp(-2|x|)`` far out.
    x: any shape; the result has its shape."""
    check_tensor("x", x)
    t = torch.tanh(x)
    return 1 - t * t
