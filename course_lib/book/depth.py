"""Gradient size through depth: the measurement behind the vanishing and exploding
gradient figures of Chapter 1 (linear layers of several gains) and Chapter 3
(sigmoid, tanh and ReLU networks).

The network is built with plain torch operations and differentiated by
``torch.autograd``: what is measured is a property of deep products of
Jacobians, not of any course_lib layer.  Draw the result with
:func:`course_lib.book.plots.plot_gradient_norms`.
"""
from __future__ import annotations

import torch

__all__ = ["gradient_norms_by_depth"]


def gradient_norms_by_depth(depth: int, gain: float, *, width: int = 32, activation: str | None = None,
                            seed: int = 0, dtype=torch.float64) -> list[float]:
    """Norm of the gradient at the input of every layer of a deep network.

    The network is ``depth`` layers ``h <- act(gain * Q_l h)`` with random
    orthogonal ``Q_l`` (so each linear layer multiplies a vector's length by
    exactly ``gain``).  A random unit upstream gradient enters at the top.

    Args:
        depth: number of layers (>= 1).
        gain: per-layer factor; below 1 the gradient vanishes, above 1 it explodes.
        width: units per layer.
        activation: None (linear), ``"sigmoid"``, ``"tanh"`` or ``"relu"``.
        seed: seed of the random weights, input and upstream gradient.
    Returns:
        ``depth + 1`` floats: entry ``l`` is ``||dL/dh_l||`` where ``h_0`` is the
        input and ``h_depth`` the output (so the last entry is 1).
    """
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    acts = {None: lambda t: t, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}
    if activation not in acts:
        raise ValueError(f"activation must be one of {list(acts)}, got {activation!r}")
    gen = torch.Generator().manual_seed(seed)
    h = torch.randn(width, generator=gen, dtype=dtype).requires_grad_(True)
    hs = [h]
    for _ in range(depth):
        q, _ = torch.linalg.qr(torch.randn(width, width, generator=gen, dtype=dtype))
        hs.append(acts[activation](gain * (q @ hs[-1])))
    for t in hs:
        t.retain_grad()
    upstream = torch.randn(width, generator=gen, dtype=dtype)
    hs[-1].backward(upstream / upstream.norm())
    return [float(t.grad.norm()) for t in hs]
