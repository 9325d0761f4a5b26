"""Fully connected layers, ReLU and the softmax loss, forward and backward.

Shapes: ``N`` examples, ``D`` input features (any trailing dimensions are
flattened: ``x: (N, d1, ..., dk)`` with ``D = d1 * ... * dk``), ``M`` outputs,
``C`` classes.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch

from .. import gates
from .._checks import check_dout, check_same, check_tensor

__all__ = [
    "AffineCache",
    "affine_forward",
    "affine_backward",
    "ReLUCache",
    "relu_forward",
    "relu_backward",
    "softmax_loss",
    "two_layer_net_loss",
]


class AffineCache(NamedTuple):
    """What :func:`affine_backward` needs: the input and the weights."""

    x: torch.Tensor
    w: torch.Tensor


def affine_forward(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, AffineCache]:
    """Fully connected layer ``out = x.reshape(N, D) @ w + b``.

    Args:
        x: (N, d1, ..., dk) input; flattened to (N, D).
        w: (D, M) weights.
        b: (M,) biases.
    Returns:
        out: (N, M), and the cache for :func:`affine_backward`.
    """
    check_tensor("x", x)
    check_tensor("w", w, 2)
    check_tensor("b", b, 1)
    check_same("x", x, "w", w)
    check_same("w", w, "b", b)
    if x.dim() < 1:
        raise ValueError("x must have a batch dimension, got a 0-d tensor")
    n, d = x.shape[0], math.prod(x.shape[1:])
    if w.shape[0] != d:
        raise ValueError(f"x has {d} features per example (shape {tuple(x.shape)}) but w has shape {tuple(w.shape)}; "
                         f"w must be ({d}, M)")
    if b.shape[0] != w.shape[1]:
        raise ValueError(f"b has shape {tuple(b.shape)} but w has {w.shape[1]} outputs")
    out = x.reshape(n, d) @ w + b
    return out, AffineCache(x, w)


def affine_backward(dout: torch.Tensor, cache: AffineCache) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of the fully connected layer.

    Args:
        dout: (N, M) upstream gradient.
        cache: from :func:`affine_forward`.
    Returns:
        dx: (N, d1, ..., dk), dw: (D, M), db: (M,).
    """
    x, w = cache
    n = x.shape[0]
    check_dout(dout, (n, w.shape[1]), "fully connected layer", like=x)
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(n, -1).T @ dout
    db = dout.sum(dim=0)
    return dx, dw, db


class ReLUCache(NamedTuple):
    """What :func:`relu_backward` needs: the input ``x``."""

    x: torch.Tensor


def relu_forward(x: torch.Tensor) -> tuple[torch.Tensor, ReLUCache]:
    """ReLU ``max(x, 0)`` elementwise. x: any shape. Returns ``(out, ReLUCache(x))``, out shaped like x."""
    check_tensor("x", x)
    return x.clamp_min(0), ReLUCache(x)


def relu_backward(dout: torch.Tensor, cache: ReLUCache) -> torch.Tensor:
    """ReLU gradient (the ReLU gate's rule, :func:`course_lib.gates.relu_backward`): ``dout`` where the
    input was positive, else 0.  dout: shape of x (any shape); returns dx, shape of x."""
    check_dout(dout, cache.x.shape, "ReLU", like=cache.x)
    return gates.relu_backward(dout, cache.x)


def softmax_loss(scores: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy of the softmax of ``scores`` and its gradient.

    Args:
        scores: (N, C) class scores (logits).
        y: (N,) integer labels in ``[0, C)``.
    Returns:
        loss: 0-d tensor, ``-mean_i log softmax(scores_i)[y_i]`` (nats).
        dscores: (N, C), ``(softmax(scores) - onehot(y)) / N``.
    """
    check_tensor("scores", scores, 2)
    check_tensor("y", y, 1, floating=False)
    n, c = scores.shape
    if y.shape[0] != n:
        raise ValueError(f"scores has {n} rows but y has {y.shape[0]} labels")
    if y.dtype in (torch.bool,) or y.is_floating_point() or y.is_complex():
        raise TypeError(f"y must hold integer class labels, got dtype {y.dtype}")
    if n and (int(y.min()) < 0 or int(y.max()) >= c):
        raise ValueError(f"labels must lie in [0, {c}), got min {int(y.min())} and max {int(y.max())}")
    y = y.to(scores.device)
    shifted = scores - scores.max(dim=1, keepdim=True).values  # stable: exp never overflows
    log_probs = shifted - shifted.exp().sum(dim=1, keepdim=True).log()
    rows = torch.arange(n, device=scores.device)
    loss = -log_probs[rows, y].mean()
    dscores = log_probs.exp()
    dscores[rows, y] -= 1
    dscores /= n
    return loss, dscores


def two_layer_net_loss(X: torch.Tensor, y: torch.Tensor, params: dict[str, torch.Tensor]
                       ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Loss and gradients of affine -> ReLU -> affine -> softmax loss.

    Args:
        X: (N, D) inputs.
        y: (N,) integer labels in ``[0, C)``.
        params: ``W1`` (D, H), ``b1`` (H,), ``W2`` (H, C), ``b2`` (C,).
    Returns:
        loss (0-d tensor) and a dict of gradients with the same keys and shapes as ``params``.
    """
    missing = {"W1", "b1", "W2", "b2"} - set(params)
    if missing:
        raise KeyError(f"params is missing {sorted(missing)}")
    hidden_pre, cache1 = affine_forward(X, params["W1"], params["b1"])
    hidden, cache_relu = relu_forward(hidden_pre)
    scores, cache2 = affine_forward(hidden, params["W2"], params["b2"])
    loss, dscores = softmax_loss(scores, y)
    dhidden, dW2, db2 = affine_backward(dscores, cache2)
    dhidden_pre = relu_backward(dhidden, cache_relu)
    _, dW1, db1 = affine_backward(dhidden_pre, cache1)
    return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
