"""Local gradients of the elementary gates of a computational graph.

Every gate has a forward rule and a *local backward* rule.  The backward rule
takes the upstream gradient ``dout`` (the derivative of the loss with respect
to the gate's output) and the gate's inputs, and returns the derivative of the
loss with respect to each input: ``dout`` times the local derivative.  That is
the chain rule, one gate at a time.

The functions work on Python numbers and on ``torch.Tensor`` alike (elementwise,
on the tensors' own device), so the scalar graph of :mod:`course_lib.autodiff`
and the tensor exercises of the assignments share one definition.

Tie rule of the max gate: when ``x == y`` the whole gradient goes to the
*first* input ``x`` (as ``numpy.argmax`` picks the first maximum).  Any split
is a valid subgradient; this one is simple to state and to test.
"""
from __future__ import annotations

import math

import torch

__all__ = [
    "add_backward",
    "mul_backward",
    "max_backward",
    "exp_backward",
    "reciprocal_backward",
    "pow_backward",
    "relu_backward",
    "sigmoid_backward",
    "tanh_backward",
    "exp",
    "sigmoid",
    "tanh",
]


def _is_tensor(x) -> bool:
    return isinstance(x, torch.Tensor)


def exp(x):
    """e**x for a number or a tensor (elementwise)."""
    return torch.exp(x) if _is_tensor(x) else math.exp(x)


def sigmoid(x):
    """Logistic function 1 / (1 + e**-x) for a number or a tensor."""
    if _is_tensor(x):
        return torch.sigmoid(x)
    # Numerically stable on both sides of zero.
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def tanh(x):
    """Hyperbolic tangent for a number or a tensor."""
    return torch.tanh(x) if _is_tensor(x) else math.tanh(x)


def add_backward(dout, x, y):
    """Add gate ``x + y``: both local derivatives are 1, so it copies ``dout``.

    Returns ``(dx, dy)``, each shaped like ``dout``.
    """
    return dout * 1.0, dout * 1.0


def mul_backward(dout, x, y):
    """Multiply gate ``x * y``: each input receives ``dout`` times the *other* input.

    Returns ``(dx, dy) = (dout * y, dout * x)``.
    """
    return dout * y, dout * x


def max_backward(dout, x, y):
    """Max gate ``max(x, y)``: routes ``dout`` to the larger input, 0 to the other.

    Ties (``x == y``) send the gradient to ``x``.  Returns ``(dx, dy)``.
    """
    if _is_tensor(x) or _is_tensor(y) or _is_tensor(dout):
        x_wins = torch.as_tensor(x) >= torch.as_tensor(y)
        zero = torch.zeros_like(torch.as_tensor(dout))
        return torch.where(x_wins, dout, zero), torch.where(x_wins, zero, dout)
    return (dout * 1.0, 0.0) if x >= y else (0.0, dout * 1.0)


def exp_backward(dout, x):
    """Exponential gate ``e**x``: the local derivative is ``e**x`` itself."""
    return dout * exp(x)


def reciprocal_backward(dout, x):
    """Reciprocal gate ``1 / x``: the local derivative is ``-1 / x**2``."""
    return dout * (-1.0 / (x * x))


def pow_backward(dout, x, p):
    """Power gate ``x**p`` for a constant exponent ``p``: local derivative ``p x**(p-1)``."""
    return dout * (p * x ** (p - 1))


def relu_backward(dout, x):
    """ReLU gate ``max(x, 0)``: passes ``dout`` where ``x > 0``, else 0 (0 at ``x == 0``)."""
    if _is_tensor(x):
        return torch.where(x > 0, dout, torch.zeros_like(dout))
    return dout * 1.0 if x > 0 else 0.0


def sigmoid_backward(dout, x):
    """Sigmoid gate: local derivative ``s (1 - s)`` with ``s = sigmoid(x)``."""
    s = sigmoid(x)
    return dout * s * (1 - s)


def tanh_backward(dout, x):
    """Tanh gate: local derivative ``1 - tanh(x)**2``."""
    t = tanh(x)
    return dout * (1 - t * t)
