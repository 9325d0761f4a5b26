"""Inverted dropout as a forward/backward pair.

In training each unit is kept with probability ``p_keep`` and zeroed
otherwise; the kept units are divided by ``p_keep`` so that the *expected*
output equals the input.  At evaluation nothing is dropped and, thanks to that
scaling during training, nothing needs rescaling either: the layer is the
identity.  (The original formulation instead multiplied by ``p_keep`` at test
time; inverted dropout moves that factor into training.)

Note the parameter is the probability to *keep* a unit, as in the dropout
paper (0.5 for hidden layers); ``torch.nn.functional.dropout`` takes the
probability to *drop*, ``p = 1 - p_keep``.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from .._checks import check_dout, check_tensor

__all__ = ["DropoutCache", "dropout_forward", "dropout_backward"]


class DropoutCache(NamedTuple):
    """What :func:`dropout_backward` needs: the scaled mask (0 or ``1 / p_keep``,
    shape of ``x``), or None when the forward was the identity."""

    mask: torch.Tensor | None


def dropout_forward(x: torch.Tensor, *, p_keep: float = 0.5, training: bool = True,
                    generator: torch.Generator | None = None) -> tuple[torch.Tensor, DropoutCache]:
    """Inverted dropout: ``out = x * mask / p_keep`` with ``mask ~ Bernoulli(p_keep)`` per element.

    Args:
        x: any shape.
        p_keep: probability of keeping a unit, in (0, 1]; 1 keeps everything.
        training: False makes the layer the identity (``out`` is ``x`` itself).
        generator: a seeded ``torch.Generator`` on ``x``'s device for a
            reproducible mask (same seed, same mask); None uses torch's global
            generator.
    Returns:
        out: shape of ``x``, and the cache for :func:`dropout_backward`.
    """
    check_tensor("x", x)
    if isinstance(p_keep, bool) or not isinstance(p_keep, (int, float)) or not 0.0 < p_keep <= 1.0:
        raise ValueError(f"p_keep (the probability to keep a unit) must lie in (0, 1], got {p_keep!r}")
    if generator is not None and generator.device.type != x.device.type:
        raise ValueError(f"generator is on {generator.device} but x is on {x.device}; "
                         f"create it with torch.Generator(device=x.device)")
    if not training or p_keep == 1.0:
        return x, DropoutCache(None)
    keep = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) < p_keep
    mask = keep.to(x.dtype) / p_keep
    return x * mask, DropoutCache(mask)


def dropout_backward(dout: torch.Tensor, cache: DropoutCache) -> torch.Tensor:
    """Gradient of inverted dropout: ``dout * mask / p_keep`` (``dout`` itself at evaluation).

    Dropped units get no gradient; kept ones get ``dout / p_keep``.
    dout: shape of ``x`` (any shape).  Returns dx: shape of ``x``.
    """
    mask = cache.mask
    if mask is None:
        check_tensor("dout", dout)
        return dout
    check_dout(dout, mask.shape, "dropout")
    return dout * mask
