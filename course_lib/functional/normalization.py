"""Normalization layers: batch normalization, layer normalization, local
response normalization (LRN) and local contrast normalization (LCN).

How they differ:

* **Batch normalization** standardises each *channel* with statistics over the
  mini-batch (and, for images, over all spatial positions), then scales and
  shifts with learned ``gamma``, ``beta``.  Its output for one example depends
  on the other examples of the batch, so training (batch statistics) and
  evaluation (running averages) behave differently.
* **Layer normalization** standardises each *example* over its own features:
  no batch dependence, the same computation in training and evaluation.
* **Local response normalization** (AlexNet) has no learned parameters and no
  mean subtraction: each activation is divided by a power of the energy of the
  same position in ``n`` neighbouring channels, a form of lateral inhibition.
* **Local contrast normalization** subtracts a Gaussian-weighted local mean
  and divides by the local standard deviation, over a spatial neighbourhood
  (and optionally across channels).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from .._checks import check_dout, check_same, check_tensor
from ..filters import gaussian_kernel

__all__ = [
    "BatchNormCache",
    "batchnorm_forward",
    "batchnorm_backward",
    "LayerNormCache",
    "layernorm_forward",
    "layernorm_backward",
    "LocalResponseNormCache",
    "local_response_norm_forward",
    "local_response_norm_backward",
    "local_contrast_norm",
]


def _check_vector(name: str, v, length: int, like: torch.Tensor, what: str) -> None:
    check_tensor(name, v, 1)
    check_same(name, v, "x", like)
    if v.shape[0] != length:
        raise ValueError(f"{name} has shape {tuple(v.shape)} but x has {length} {what}; expected ({length},)")


# ----------------------------------------------------------------------------
# Batch normalization
# ----------------------------------------------------------------------------

class BatchNormCache(NamedTuple):
    """What :func:`batchnorm_backward` needs.

    ``x_hat`` is the normalised input (shape of ``x``), ``inv_std`` the
    per-channel ``1 / sqrt(var + eps)`` shaped to broadcast against ``x``
    (``(1, C, 1, ...)``), ``training`` whether the statistics came from the
    batch (then they depend on ``x`` and the backward accounts for it).
    """

    x_hat: torch.Tensor
    gamma: torch.Tensor
    inv_std: torch.Tensor
    training: bool


def _bn_dims(x: torch.Tensor) -> tuple[int, ...]:
    """Dimensions batch norm averages over: all but the channel dimension 1."""
    return (0, *range(2, x.dim()))


def batchnorm_forward(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, *,
                      running_mean: torch.Tensor | None, running_var: torch.Tensor | None,
                      training: bool, momentum: float = 0.1, eps: float = 1e-5
                      ) -> tuple[torch.Tensor, BatchNormCache]:
    """Batch normalization ``out = gamma * (x - mean) / sqrt(var + eps) + beta`` per channel.

    Args:
        x: (N, D) features, or (N, C, H, W) images (spatial batch norm: one
            mean and variance per channel over all ``N * H * W`` positions);
            any (N, C, *) works.
        gamma, beta: (C,) learned scale and shift (``C = D`` for 2-d input).
        running_mean, running_var: (C,) running estimates, updated **in place**
            in training; may be None in training (no update), required in
            evaluation.
        training: True uses the batch statistics, False the running ones.
        momentum: weight of the new batch in the update
            ``running = (1 - momentum) * running + momentum * batch``.
        eps: added to the variance before the square root.
    Returns:
        out: same shape as ``x``, and the cache for :func:`batchnorm_backward`.

    Variance convention (torch's): the batch is normalised with the *biased*
    variance (divide by ``m``, the number of values per channel), but the
    running variance is updated with the *unbiased* one (divide by ``m - 1``),
    since it estimates the population variance used at evaluation.
    """
    check_tensor("x", x)
    if x.dim() < 2:
        raise ValueError(f"x must be (N, D) or (N, C, H, W), got shape {tuple(x.shape)}")
    c = x.shape[1]
    _check_vector("gamma", gamma, c, x, "channels")
    _check_vector("beta", beta, c, x, "channels")
    for name, stat in (("running_mean", running_mean), ("running_var", running_var)):
        if stat is not None:
            _check_vector(name, stat, c, x, "channels")
        elif not training:
            raise ValueError(f"evaluation mode (training=False) needs {name}, got None")
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must lie in [0, 1], got {momentum}")
    dims = _bn_dims(x)
    bshape = (1, c) + (1,) * (x.dim() - 2)
    if training:
        m = x.numel() // c
        if m < 2:
            raise ValueError(f"batch norm in training needs more than one value per channel, got x of shape "
                             f"{tuple(x.shape)}")
        mean = x.mean(dim=dims)
        var = x.var(dim=dims, correction=0)  # biased: used to normalise
        with torch.no_grad():
            if running_mean is not None:
                running_mean.mul_(1 - momentum).add_(mean, alpha=momentum)
            if running_var is not None:
                running_var.mul_(1 - momentum).add_(var * (m / (m - 1)), alpha=momentum)  # unbiased
    else:
        mean, var = running_mean, running_var
    inv_std = torch.rsqrt(var + eps).reshape(bshape)
    x_hat = (x - mean.reshape(bshape)) * inv_std
    out = gamma.reshape(bshape) * x_hat + beta.reshape(bshape)
    return out, BatchNormCache(x_hat, gamma, inv_std, bool(training))


def batchnorm_backward(dout: torch.Tensor, cache: BatchNormCache
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of batch normalization.

    With ``g = dout * gamma`` and ``m`` values per channel, the compact formula
    (training, sums over the batch and spatial positions of each channel) is::

        dx = inv_std / m * (m * g - sum(g) - x_hat * sum(g * x_hat))

    In evaluation the statistics are constants and ``dx = g * inv_std``.

    Args:
        dout: upstream gradient, shape of ``x``.
        cache: from :func:`batchnorm_forward`.
    Returns:
        dx (shape of ``x``), dgamma (C,), dbeta (C,).
    """
    x_hat, gamma, inv_std, training = cache
    check_dout(dout, x_hat.shape, "batch norm")
    dims = _bn_dims(x_hat)
    bshape = inv_std.shape
    dbeta = dout.sum(dim=dims)
    dgamma = (dout * x_hat).sum(dim=dims)
    g = dout * gamma.reshape(bshape)
    if not training:
        return g * inv_std, dgamma, dbeta
    m = x_hat.numel() // x_hat.shape[1]
    dx = (inv_std / m) * (m * g - g.sum(dim=dims, keepdim=True)
                          - x_hat * (g * x_hat).sum(dim=dims, keepdim=True))
    return dx, dgamma, dbeta


# ----------------------------------------------------------------------------
# Layer normalization
# ----------------------------------------------------------------------------

class LayerNormCache(NamedTuple):
    """What :func:`layernorm_backward` needs: normalised input, ``gamma`` and
    ``1 / sqrt(var + eps)`` per example (shape ``(*leading, 1, ..., 1)``)."""

    x_hat: torch.Tensor
    gamma: torch.Tensor
    inv_std: torch.Tensor


def _ln_dims(x: torch.Tensor, gamma: torch.Tensor) -> tuple[int, ...]:
    return tuple(range(x.dim() - gamma.dim(), x.dim()))


def layernorm_forward(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, *, eps: float = 1e-5
                      ) -> tuple[torch.Tensor, LayerNormCache]:
    """Layer normalization: standardise each example over its trailing dimensions.

    The normalised dimensions are the last ``gamma.dim()`` ones, as in
    ``F.layer_norm(x, gamma.shape, gamma, beta, eps)``: ``gamma`` of shape
    ``(D,)`` normalises ``(N, D)`` rows; ``(C, H, W)`` normalises each image.
    The variance is the biased one, and there are no running statistics.

    Args:
        x: (*leading, *normalized_shape).
        gamma, beta: (*normalized_shape).
    Returns:
        out: shape of ``x``, and the cache for :func:`layernorm_backward`.
    """
    check_tensor("x", x)
    check_tensor("gamma", gamma)
    check_tensor("beta", beta)
    check_same("gamma", gamma, "x", x)
    check_same("beta", beta, "x", x)
    k = gamma.dim()
    if k == 0 or beta.shape != gamma.shape or tuple(x.shape[x.dim() - k:]) != tuple(gamma.shape) or x.dim() <= k:
        raise ValueError(f"gamma and beta must both have the shape of x's trailing dimensions; got x "
                         f"{tuple(x.shape)}, gamma {tuple(gamma.shape)}, beta {tuple(beta.shape)}")
    dims = _ln_dims(x, gamma)
    mean = x.mean(dim=dims, keepdim=True)
    var = x.var(dim=dims, correction=0, keepdim=True)
    inv_std = torch.rsqrt(var + eps)
    x_hat = (x - mean) * inv_std
    return gamma * x_hat + beta, LayerNormCache(x_hat, gamma, inv_std)


def layernorm_backward(dout: torch.Tensor, cache: LayerNormCache
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of layer normalization: the batch norm formula with the roles of
    examples and features exchanged (sums over each example's features).

    dout: shape of ``x``.  Returns dx (shape of ``x``), dgamma and dbeta (shape of ``gamma``).
    """
    x_hat, gamma, inv_std = cache
    check_dout(dout, x_hat.shape, "layer norm")
    dims = _ln_dims(x_hat, gamma)
    lead = tuple(range(x_hat.dim() - gamma.dim()))
    dbeta = dout.sum(dim=lead)
    dgamma = (dout * x_hat).sum(dim=lead)
    g = dout * gamma
    m = gamma.numel()
    dx = (inv_std / m) * (m * g - g.sum(dim=dims, keepdim=True)
                          - x_hat * (g * x_hat).sum(dim=dims, keepdim=True))
    return dx, dgamma, dbeta


# ----------------------------------------------------------------------------
# Local response normalization
# ----------------------------------------------------------------------------

class LocalResponseNormCache(NamedTuple):
    """What :func:`local_response_norm_backward` needs.

    ``base = k + alpha_eff * sum of squares over the channel window`` (shape of
    ``x``), ``alpha_eff`` the coefficient actually used (``alpha / size`` in
    torch's convention).
    """

    x: torch.Tensor
    base: torch.Tensor
    alpha_eff: float
    beta: float
    size: int


def _channel_window_sum(t: torch.Tensor, before: int, after: int) -> torch.Tensor:
    """``s[:, c] = sum_{j = c - before}^{c + after} t[:, j]``, zero outside ``[0, C)``. t: (N, C, *)."""
    zeros = t.new_zeros(t.shape[0], 1, *t.shape[2:])
    padded = torch.cat([zeros.expand(-1, before, *t.shape[2:]), t, zeros.expand(-1, after, *t.shape[2:])], dim=1)
    return padded.unfold(1, before + after + 1, 1).sum(dim=-1)


def local_response_norm_forward(x: torch.Tensor, *, size: int = 5, alpha: float = 1e-4, beta: float = 0.75,
                                k: float = 2.0, alpha_per_size: bool = True
                                ) -> tuple[torch.Tensor, LocalResponseNormCache]:
    """Local response normalization across channels (AlexNet), no learned parameters.

    ::

        out[:, c] = x[:, c] / (k + a * sum_{j in window(c)} x[:, j]^2) ** beta

    with ``window(c) = c - size//2 .. c + (size-1)//2``, clipped to the
    existing channels.  Defaults are AlexNet's ``n = 5, alpha = 1e-4,
    beta = 0.75, k = 2`` (torch's default ``k`` is 1).

    The coefficient ``a`` differs between conventions: torch's
    ``F.local_response_norm`` uses ``a = alpha / size`` (an average of the
    squares), the AlexNet paper ``a = alpha`` (a sum).  ``alpha_per_size=True``
    (default) matches torch exactly; ``alpha_per_size=False`` gives the paper's
    formula, equivalently torch's with ``alpha * size``.

    Args:
        x: (N, C, *), e.g. (N, C, H, W).
        size: ``n``, channels in the window.
    Returns:
        out: shape of ``x``, and the cache for :func:`local_response_norm_backward`.
    """
    check_tensor("x", x)
    if x.dim() < 2:
        raise ValueError(f"x must be (N, C, ...) with a channel dimension, got shape {tuple(x.shape)}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    alpha_eff = float(alpha) / size if alpha_per_size else float(alpha)
    energy = _channel_window_sum(x * x, size // 2, (size - 1) // 2)
    base = k + alpha_eff * energy
    out = x * base.pow(-beta)
    return out, LocalResponseNormCache(x, base, alpha_eff, float(beta), size)


def local_response_norm_backward(dout: torch.Tensor, cache: LocalResponseNormCache) -> torch.Tensor:
    """Gradient of LRN.  With ``b_c`` the base of channel ``c``::

        dx_j = dout_j * b_j^(-beta)
               - 2 a beta x_j * sum_{c : j in window(c)} dout_c x_c b_c^(-beta-1)

    The second sum runs over the *transposed* window ``j - (size-1)//2 .. j + size//2``.
    dout: shape of ``x``, (N, C, *).  Returns dx: shape of ``x``.
    """
    x, base, a, beta, size = cache
    check_dout(dout, x.shape, "local response norm")
    back = _channel_window_sum(dout * x * base.pow(-beta - 1), (size - 1) // 2, size // 2)
    return dout * base.pow(-beta) - 2 * a * beta * x * back


# ----------------------------------------------------------------------------
# Local contrast normalization
# ----------------------------------------------------------------------------

def local_contrast_norm(x: torch.Tensor, kernel_size: int = 9, sigma: float = 2.0, *,
                        across_channels: bool = True, eps: float = 1e-4) -> torch.Tensor:
    """Local contrast normalization (subtractive, then divisive) with a Gaussian window.

    1. Subtractive: ``v = x - m`` with ``m`` the Gaussian-weighted mean of the
       neighbourhood (over space, and over all channels if ``across_channels``:
       the window weights sum to 1 over ``C x kernel_size x kernel_size``).
    2. Divisive: ``y = v / max(c, s)`` with ``s = sqrt(Gaussian-weighted mean of
       v^2)`` the local standard deviation and ``c`` the mean of ``s`` over the
       image (per example, and per channel if not ``across_channels``), so
       that flat regions are not amplified; the denominator is at least ``eps``.

    Near the border the window is cut off and its weights renormalised to sum
    to 1 (zero padding divided by the window mass inside the image).

    Only a forward is given: it is built from differentiable torch operations
    (``F.conv2d`` for the Gaussian blur), so ``torch.autograd`` provides the
    gradient.  Adding a constant to ``x`` or scaling it by a positive factor
    (while ``s`` stays above ``eps``) leaves the output unchanged.

    Args:
        x: (N, C, H, W).
        kernel_size: odd window side in pixels.
        sigma: standard deviation of the Gaussian window, in pixels.
    Returns:
        (N, C, H, W), zero local mean and about unit local contrast.
    """
    check_tensor("x", x, 4)
    n, c, h, w = x.shape
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd int (the window is centred), got {kernel_size!r}")
    window = gaussian_kernel(kernel_size, sigma, dtype=x.dtype, device=x.device)[None, None]
    pad = kernel_size // 2
    mass = F.conv2d(x.new_ones(1, 1, h, w), window, padding=pad)

    def local_mean(t: torch.Tensor) -> torch.Tensor:
        if across_channels:  # one map per example, broadcast over channels
            return F.conv2d(t.mean(dim=1, keepdim=True), window, padding=pad) / mass
        return (F.conv2d(t.reshape(n * c, 1, h, w), window, padding=pad) / mass).reshape(n, c, h, w)

    v = x - local_mean(x)
    s = local_mean(v * v).clamp_min(eps * eps).sqrt()
    c_mean = s.mean(dim=(1, 2, 3) if across_channels else (2, 3), keepdim=True)
    return v / torch.maximum(s, c_mean).clamp_min(eps)
