"""Numerical gradient checking with centred differences.

The centred difference ``(f(x + h) - f(x - h)) / 2h`` has an error of order
``h**2`` (a one-sided difference only ``h``).  Compare an analytic gradient
with the numerical one through the *relative* error
``|a - n| / max(|a| + |n|, tiny)``: around 1e-7 or below in float64 means the
gradient is right; 1e-2 or above means it is wrong.

For tensor functions the checker takes a random upstream gradient ``dout``
and differentiates the scalar ``sum(f(x) * dout)``, which is exactly what a
layer's backward pass must return.  For float64 checks of a whole
``torch.autograd.Function`` use :func:`torch_gradcheck`, a thin wrapper over
:func:`torch.autograd.gradcheck`.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

__all__ = [
    "relative_error",
    "numerical_derivative",
    "numerical_gradient",
    "numerical_gradient_array",
    "torch_gradcheck",
]


def relative_error(analytic, numeric, tiny: float = 1e-12) -> float:
    """Largest elementwise ``|a - n| / max(|a| + |n|, tiny)``, as a Python float.

    Args:
        analytic, numeric: numbers or tensors of the same shape.
        tiny: floor of the denominator, so two zeros give error 0 rather than 0/0.
    """
    a = torch.as_tensor(analytic, dtype=torch.float64)
    n = torch.as_tensor(numeric, dtype=torch.float64, device=a.device)
    if a.shape != n.shape:
        raise ValueError(f"relative_error: shapes differ, analytic {tuple(a.shape)} vs numeric {tuple(n.shape)}")
    if a.numel() == 0:
        return 0.0
    err = (a - n).abs() / (a.abs() + n.abs()).clamp_min(tiny)
    return float(err.max())


def numerical_derivative(f: Callable[..., float], args: Sequence[float], h: float = 1e-6) -> tuple[float, ...]:
    """Partial derivatives of a scalar function of scalars by centred differences.

    Args:
        f: a function of ``len(args)`` numbers returning a number.
        args: the point at which to differentiate.
        h: the step.
    Returns:
        ``(df/dargs[0], df/dargs[1], ...)``.
    """
    args = [float(a) for a in args]
    grads = []
    for i in range(len(args)):
        plus, minus = list(args), list(args)
        plus[i] += h
        minus[i] -= h
        grads.append((float(f(*plus)) - float(f(*minus))) / (2 * h))
    return tuple(grads)


def numerical_gradient(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, h: float = 1e-5) -> torch.Tensor:
    """Gradient of a scalar-valued ``f`` at tensor ``x`` by centred differences.

    Args:
        f: maps ``x`` (any shape) to a scalar (a number or a 0-d / 1-element tensor).
        x: the point; perturbed in place one element at a time and restored.
        h: the step.
    Returns:
        A tensor shaped like ``x`` (same dtype and device).
    """
    return numerical_gradient_array(f, x, None, h)


def numerical_gradient_array(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                             dout: torch.Tensor | None, h: float = 1e-5) -> torch.Tensor:
    """Gradient of ``sum(f(x) * dout)`` with respect to ``x`` by centred differences.

    This is what a layer's backward must return for upstream gradient ``dout``.

    Args:
        f: maps ``x`` to a tensor shaped like ``dout`` (or to a scalar when ``dout`` is None).
        x: the point, any shape; perturbed in place one element at a time and restored.
        dout: upstream gradient, shaped like ``f(x)``; None means the scalar case.
        h: the step.
    Returns:
        A tensor shaped like ``x``.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"numerical_gradient_array needs a torch.Tensor x, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"numerical gradients need a floating-point x, got {x.dtype}")

    def scalar(value) -> float:
        value = torch.as_tensor(value)
        if dout is None:
            if value.numel() != 1:
                raise ValueError(f"f returned shape {tuple(value.shape)}; pass dout for a non-scalar f")
            return float(value.reshape(()))
        if value.shape != dout.shape:
            raise ValueError(f"f returned shape {tuple(value.shape)} but dout has shape {tuple(dout.shape)}")
        return float((value.to(torch.float64) * dout.to(torch.float64)).sum())

    grad = torch.zeros_like(x)
    flat, gflat = x.view(-1), grad.view(-1)
    with torch.no_grad():
        for i in range(flat.numel()):
            old = flat[i].item()
            flat[i] = old + h
            plus = scalar(f(x))
            flat[i] = old - h
            minus = scalar(f(x))
            flat[i] = old
            gflat[i] = (plus - minus) / (2 * h)
    return grad


def torch_gradcheck(fn: Callable[..., torch.Tensor], *inputs: torch.Tensor, **kwargs) -> bool:
    """``torch.autograd.gradcheck`` on float64 copies of ``inputs`` (tensors of any shape) that require grad.

    Floating-point tensor inputs are cloned, cast to float64 and marked
    ``requires_grad``; everything else is passed as is.  Raises
    ``torch.autograd.gradcheck.GradcheckError`` with torch's own message on failure.
    """
    prepared = []
    for t in inputs:
        if isinstance(t, torch.Tensor) and t.is_floating_point():
            t = t.detach().to(torch.float64).clone().requires_grad_(True)
        prepared.append(t)
    return torch.autograd.gradcheck(fn, tuple(prepared), **kwargs)
