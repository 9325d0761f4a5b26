"""Pooling layers as forward/backward pairs: max, average, L2 (Lp), L2 across
channels and maxout.

Spatial pooling slides a ``kh x kw`` window over each channel of
``x: (N, C, H, W)`` with stride ``(sh, sw)`` after padding ``(ph, pw)`` on each
side, and summarises each window by one number.  The output size per spatial
dimension is (floor mode, as torch's default)::

    H_out = floor((H + 2 * ph - kh) / sh) + 1

Windows overlap when the stride is smaller than the kernel (AlexNet's
"overlapping pooling": kernel 3, stride 2).  Like torch, the padding may be at
most half the kernel on each side, so every window touches the input.

Backward, max pooling routes each upstream gradient to the position of the
window's maximum (the arg-max), average pooling spreads it evenly over the
window.  Where windows overlap, an input position collects the gradients of
every window it belongs to.

Implementation: pooling reuses the convolution's window copy.
:func:`_window_columns` pads the input and calls
:func:`~course_lib.functional.conv.im2col`, giving every window as
``(N, C, kh * kw, H_out, W_out)``; a reduction over the window axis is the
pooling.  :func:`_fold_columns` is its adjoint
(:func:`~course_lib.functional.conv.col2im`): it adds per-window gradients
back into an ``(N, C, H, W)`` tensor.  ``*_naive`` versions loop
over output positions and are there to be read, not to be fast.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from .._checks import check_dout, check_tensor, pair
from ..shapes import conv_output_size
from .conv import col2im, im2col

__all__ = [
    "PoolGeometry",
    "pool_geometry",
    "MaxPoolCache",
    "max_pool2d_forward",
    "max_pool2d_backward",
    "max_pool2d_forward_naive",
    "max_pool2d_backward_naive",
    "AvgPoolCache",
    "avg_pool2d_forward",
    "avg_pool2d_backward",
    "avg_pool2d_forward_naive",
    "avg_pool2d_backward_naive",
    "LpPoolCache",
    "lp_pool2d_forward",
    "lp_pool2d_backward",
    "L2PoolChannelsCache",
    "l2_pool_channels_forward",
    "l2_pool_channels_backward",
    "MaxoutCache",
    "maxout_forward",
    "maxout_backward",
]

IntPair = int | tuple[int, int]


# ----------------------------------------------------------------------------
# Window geometry and the two helpers every pooling layer shares
# ----------------------------------------------------------------------------

class PoolGeometry(NamedTuple):
    """Window sizes of a 2-d pooling: every field is an ``(h, w)`` pair."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    in_size: tuple[int, int]
    out_size: tuple[int, int]


def pool_geometry(x: torch.Tensor, *, kernel_size: IntPair, stride: IntPair | None = None,
                  padding: IntPair = 0) -> PoolGeometry:
    """Check pooling options against ``x: (N, C, H, W)`` and compute the output size.

    ``stride`` defaults to ``kernel_size`` (non-overlapping windows), as in torch.
    Raises ValueError for a non-positive kernel or stride, negative padding,
    padding above half the kernel, or a kernel larger than the padded input.
    """
    check_tensor("x", x, 4)
    kernel = pair("kernel_size", kernel_size, 1)
    stride_ = kernel if stride is None else pair("stride", stride, 1)
    pad = pair("padding", padding, 0)
    if pad[0] > kernel[0] // 2 or pad[1] > kernel[1] // 2:
        raise ValueError(f"padding {pad} must be at most half the kernel {kernel} on each side "
                         f"(at most {(kernel[0] // 2, kernel[1] // 2)}), so that every window touches the input")
    h, w = x.shape[2], x.shape[3]
    hp, wp = h + 2 * pad[0], w + 2 * pad[1]
    if kernel[0] > hp or kernel[1] > wp:
        raise ValueError(f"kernel {kernel} is larger than the padded input ({hp}, {wp}) "
                         f"(input {(h, w)} with padding {pad})")
    out = tuple(conv_output_size(n, k, p, st, dim_name=name)
                for n, k, p, st, name in zip((h, w), kernel, pad, stride_, ("height", "width")))
    return PoolGeometry(kernel, stride_, pad, (h, w), out)


def _window_columns(x: torch.Tensor, g: PoolGeometry, pad_value: float) -> torch.Tensor:
    """Every pooling window of ``x: (N, C, H, W)`` as ``(N, C, kh * kw, H_out, W_out)``.

    ``x`` is first padded with ``pad_value`` (``-inf`` for max, 0 for sums),
    then :func:`~course_lib.functional.conv.im2col` (the convolution's window
    copy, ``(N, C * kh * kw, H_out * W_out)``) lays the windows out; entry
    ``[n, c, a * kw + b, i, j]`` is padded-input pixel ``(i * sh + a, j * sw + b)``
    of channel ``c``, so the window axis runs in row-major order.
    """
    (kh, kw), (ph, pw) = g.kernel, g.padding
    if ph or pw:
        x = F.pad(x, (pw, pw, ph, ph), value=pad_value)
    n, c = x.shape[:2]
    return im2col(x, g.kernel, g.stride).reshape(n, c, kh * kw, *g.out_size)


def _fold_columns(cols: torch.Tensor, g: PoolGeometry, x_shape: tuple[int, ...]) -> torch.Tensor:
    """Adjoint of :func:`_window_columns`: add ``cols: (N, C, kh * kw, H_out, W_out)`` into ``(N, C, H, W)``.

    Each window entry is added to the input pixel it was read from
    (:func:`~course_lib.functional.conv.col2im`); entries that fell on the
    padding are dropped.
    """
    n, c, k = cols.shape[:3]
    return col2im(cols.reshape(n, c * k, -1), x_shape, g.kernel, g.stride, g.padding)


def _spread(t: torch.Tensor, g: PoolGeometry) -> torch.Tensor:
    """(N, C, H_out, W_out) -> (N, C, kh * kw, H_out, W_out): each value repeated over its window."""
    n, c, ho, wo = t.shape
    return t.unsqueeze(2).expand(n, c, g.kernel[0] * g.kernel[1], ho, wo)


# ----------------------------------------------------------------------------
# Max pooling
# ----------------------------------------------------------------------------

class MaxPoolCache(NamedTuple):
    """What :func:`max_pool2d_backward` needs.

    ``indices: (N, C, H_out, W_out)`` holds, for each window, the flat position
    ``row * W + col`` of its maximum in the (unpadded) input plane, the same
    convention as ``F.max_pool2d(..., return_indices=True)``.
    """

    indices: torch.Tensor
    x_shape: tuple[int, ...]


def _window_argmax_to_input_index(arg: torch.Tensor, g: PoolGeometry, device) -> torch.Tensor:
    """Turn window-local arg-max positions ``a * kw + b`` into flat input indices ``row * W + col``.

    A padded position can only win when every real value of the window is
    ``-inf``; clamping it into the input then gives the window's first real
    pixel, the index torch reports in that case.
    """
    (_, kw), (sh, sw), (ph, pw) = g.kernel, g.stride, g.padding
    (h, w), (ho, wo) = g.in_size, g.out_size
    rows = torch.arange(ho, device=device).view(ho, 1) * sh - ph + torch.div(arg, kw, rounding_mode="floor")
    cols = torch.arange(wo, device=device).view(1, wo) * sw - pw + arg % kw
    return rows.clamp(0, h - 1) * w + cols.clamp(0, w - 1)


def max_pool2d_forward(x: torch.Tensor, *, kernel_size: IntPair, stride: IntPair | None = None,
                       padding: IntPair = 0) -> tuple[torch.Tensor, MaxPoolCache]:
    """2-d max pooling: the largest value of each window.

    Args:
        x: (N, C, H, W) input.
        kernel_size: window ``k`` or ``(kh, kw)``.
        stride: step ``s`` or ``(sh, sw)``; defaults to ``kernel_size``.
        padding: ``p`` or ``(ph, pw)`` on each side, at most half the kernel;
            padded positions hold ``-inf`` and so never win.
    Returns:
        out: (N, C, H_out, W_out), ``H_out = floor((H + 2 ph - kh) / sh) + 1``,
        and a :class:`MaxPoolCache` whose ``indices`` match
        ``F.max_pool2d(..., return_indices=True)``.

    Ties: when several positions of a window hold the maximum, the *first* one
    in row-major window order (top row first, left to right) is the arg-max and
    alone receives the gradient (torch's rule as well).
    """
    g = pool_geometry(x, kernel_size=kernel_size, stride=stride, padding=padding)
    out, arg = _window_columns(x, g, float("-inf")).max(dim=2)  # first maximum on ties
    return out, MaxPoolCache(_window_argmax_to_input_index(arg, g, x.device), tuple(x.shape))


def max_pool2d_backward(dout: torch.Tensor, cache: MaxPoolCache) -> torch.Tensor:
    """Gradient of max pooling: each ``dout`` entry goes to its window's arg-max.

    Args:
        dout: (N, C, H_out, W_out) upstream gradient.
        cache: from :func:`max_pool2d_forward` (or the naive version).
    Returns:
        dx: (N, C, H, W); a position that is the arg-max of several overlapping
        windows receives the sum of their gradients, all others get 0.
    """
    indices, x_shape = cache
    check_dout(dout, indices.shape, "max pooling")
    n, c = x_shape[:2]
    dx = dout.new_zeros(n, c, x_shape[2] * x_shape[3])
    dx.scatter_add_(2, indices.reshape(n, c, -1), dout.reshape(n, c, -1))
    return dx.view(x_shape)


def max_pool2d_forward_naive(x: torch.Tensor, *, kernel_size: IntPair, stride: IntPair | None = None,
                             padding: IntPair = 0) -> tuple[torch.Tensor, MaxPoolCache]:
    """Max pooling with an explicit loop over output positions (for reading).

    Same arguments, result and tie rule as :func:`max_pool2d_forward` (x: (N, C, H, W) ->
    (N, C, H_out, W_out)); each step
    handles all ``N * C`` planes at once.
    """
    g = pool_geometry(x, kernel_size=kernel_size, stride=stride, padding=padding)
    (kh, kw), (sh, sw), (ph, pw) = g.kernel, g.stride, g.padding
    (h, w), (ho, wo) = g.in_size, g.out_size
    n, c = x.shape[:2]
    xp = F.pad(x, (pw, pw, ph, ph), value=float("-inf"))
    out = x.new_empty(n, c, ho, wo)
    indices = torch.empty(n, c, ho, wo, dtype=torch.long, device=x.device)
    for i in range(ho):
        for j in range(wo):
            window = xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw].reshape(n, c, kh * kw)
            best, arg = window.max(dim=-1)  # first maximum in row-major order
            out[:, :, i, j] = best
            row = (i * sh - ph + torch.div(arg, kw, rounding_mode="floor")).clamp(0, h - 1)
            col = (j * sw - pw + arg % kw).clamp(0, w - 1)  # clamps only for all -inf windows
            indices[:, :, i, j] = row * w + col
    return out, MaxPoolCache(indices, tuple(x.shape))


def max_pool2d_backward_naive(dout: torch.Tensor, cache: MaxPoolCache) -> torch.Tensor:
    """Max pooling gradient with a loop over output positions: ``dx[argmax] += dout``.
    dout: (N, C, H_out, W_out); returns dx (N, C, H, W)."""
    indices, x_shape = cache
    check_dout(dout, indices.shape, "max pooling")
    n, c, h, w = x_shape
    dx = dout.new_zeros(n, c, h * w)
    for i in range(indices.shape[2]):
        for j in range(indices.shape[3]):
            dx.scatter_add_(2, indices[:, :, i, j, None], dout[:, :, i, j, None])
    return dx.view(x_shape)


# ----------------------------------------------------------------------------
# Average pooling
# ----------------------------------------------------------------------------

class AvgPoolCache(NamedTuple):
    """What :func:`avg_pool2d_backward` needs: the geometry and the divisor.

    ``divisor`` is ``kh * kw`` (an int) when padding counts, else a tensor
    ``(1, 1, H_out, W_out)`` with the number of real input pixels per window.
    """

    geometry: PoolGeometry
    divisor: int | torch.Tensor
    x_shape: tuple[int, ...]


def _avg_divisor(x: torch.Tensor, g: PoolGeometry, count_include_pad: bool) -> int | torch.Tensor:
    if count_include_pad or g.padding == (0, 0):
        return g.kernel[0] * g.kernel[1]
    ones = x.new_ones(1, 1, *g.in_size)
    return _window_columns(ones, g, 0.0).sum(dim=2)


def avg_pool2d_forward(x: torch.Tensor, *, kernel_size: IntPair, stride: IntPair | None = None,
                       padding: IntPair = 0, count_include_pad: bool = True
                       ) -> tuple[torch.Tensor, AvgPoolCache]:
    """2-d average pooling: the mean of each window.

    Args:
        x: (N, C, H, W) input.
        kernel_size, stride, padding: as :func:`max_pool2d_forward`; padding is zeros.
        count_include_pad: torch's semantics.  True: divide every window sum by
            ``kh * kw`` (padded zeros count as pixels).  False: divide by the
            number of real input pixels in the window (smaller at the border).
    Returns:
        out: (N, C, H_out, W_out), and the cache for :func:`avg_pool2d_backward`.
    """
    g = pool_geometry(x, kernel_size=kernel_size, stride=stride, padding=padding)
    divisor = _avg_divisor(x, g, count_include_pad)
    out = _window_columns(x, g, 0.0).sum(dim=2) / divisor
    return out, AvgPoolCache(g, divisor, tuple(x.shape))


def avg_pool2d_backward(dout: torch.Tensor, cache: AvgPoolCache) -> torch.Tensor:
    """Gradient of average pooling: each window spreads ``dout / divisor`` over its pixels.

    Args:
        dout: (N, C, H_out, W_out).
        cache: from :func:`avg_pool2d_forward` (or the naive version).
    Returns:
        dx: (N, C, H, W).
    """
    g, divisor, x_shape = cache
    check_dout(dout, (*x_shape[:2], *g.out_size), "average pooling")
    return _fold_columns(_spread(dout / divisor, g), g, x_shape)


def avg_pool2d_forward_naive(x: torch.Tensor, *, kernel_size: IntPair, stride: IntPair | None = None,
                             padding: IntPair = 0, count_include_pad: bool = True
                             ) -> tuple[torch.Tensor, AvgPoolCache]:
    """Average pooling with an explicit loop over output positions (for reading).

    Same arguments and result as :func:`avg_pool2d_forward`: x (N, C, H, W) -> (N, C, H_out, W_out).
    """
    g = pool_geometry(x, kernel_size=kernel_size, stride=stride, padding=padding)
    (kh, kw), (sh, sw), (ph, pw) = g.kernel, g.stride, g.padding
    (h, w), (ho, wo) = g.in_size, g.out_size
    xp = F.pad(x, (pw, pw, ph, ph))
    out = x.new_empty(*x.shape[:2], ho, wo)
    divisor = x.new_empty(1, 1, ho, wo)
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw].sum(dim=(-2, -1))
            if count_include_pad:
                divisor[..., i, j] = kh * kw
            else:  # real pixels: the window clipped to the unpadded input
                rows = min(i * sh - ph + kh, h) - max(i * sh - ph, 0)
                cols = min(j * sw - pw + kw, w) - max(j * sw - pw, 0)
                divisor[..., i, j] = rows * cols
    return out / divisor, AvgPoolCache(g, divisor, tuple(x.shape))


def avg_pool2d_backward_naive(dout: torch.Tensor, cache: AvgPoolCache) -> torch.Tensor:
    """Average pooling gradient with a loop over output positions: every pixel of a window gets ``dout / divisor``.
    dout: (N, C, H_out, W_out); returns dx (N, C, H, W)."""
    g, divisor, x_shape = cache
    check_dout(dout, (*x_shape[:2], *g.out_size), "average pooling")
    (kh, kw), (sh, sw), (ph, pw) = g.kernel, g.stride, g.padding
    (h, w), (ho, wo) = g.in_size, g.out_size
    share = dout / divisor
    dxp = dout.new_zeros(*x_shape[:2], h + 2 * ph, w + 2 * pw)
    for i in range(ho):
        for j in range(wo):
            dxp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += share[:, :, i, j, None, None]
    return dxp[:, :, ph:ph + h, pw:pw + w]


# ----------------------------------------------------------------------------
# L2 (Lp) pooling over space
# ----------------------------------------------------------------------------

class LpPoolCache(NamedTuple):
    """What :func:`lp_pool2d_backward` needs: input, output, geometry and ``p``."""

    x: torch.Tensor
    out: torch.Tensor
    geometry: PoolGeometry
    p: float


def lp_pool2d_forward(x: torch.Tensor, *, kernel_size: IntPair, stride: IntPair | None = None,
                      p: float = 2.0) -> tuple[torch.Tensor, LpPoolCache]:
    """Power-average pooling ``(sum_window x^p)^(1/p)``; ``p = 2`` is L2 pooling.

    Torch's ``F.lp_pool2d`` semantics: no padding, ``stride`` defaults to the
    kernel, and ``x^p`` is the plain power (so for odd ``p`` negative inputs
    count negatively; for ``p = 2`` the output is the Euclidean norm of the
    window).  ``p = 1`` gives sum pooling; large ``p`` approaches max pooling
    of ``|x|``.

    Args:
        x: (N, C, H, W).
        kernel_size, stride: as :func:`max_pool2d_forward`.
        p: positive power.
    Returns:
        out: (N, C, H_out, W_out) and the cache for :func:`lp_pool2d_backward`.
    """
    p = float(p)
    if not p > 0:
        raise ValueError(f"p must be positive, got {p}")
    g = pool_geometry(x, kernel_size=kernel_size, stride=stride, padding=0)
    out = _window_columns(x, g, 0.0).pow(p).sum(dim=2).pow(1.0 / p)
    return out, LpPoolCache(x, out, g, p)


def lp_pool2d_backward(dout: torch.Tensor, cache: LpPoolCache) -> torch.Tensor:
    """Gradient of Lp pooling: ``d out / d x_i = x_i^(p-1) * out^(1-p)`` within each window.

    For ``p = 2`` that is ``x_i / out``: each pixel gets a share proportional
    to its value.  A window whose output is 0 passes gradient 0 (the
    subgradient; the formula itself is 0/0 there).
    dout: (N, C, H_out, W_out).  Returns dx: (N, C, H, W).
    """
    x, out, g, p = cache
    check_dout(dout, out.shape, "Lp pooling")
    scale = torch.where(out != 0, dout * out.pow(1.0 - p), torch.zeros_like(dout))
    cols = _window_columns(x, g, 0.0).pow(p - 1.0) * _spread(scale, g)
    return _fold_columns(cols, g, tuple(x.shape))


# ----------------------------------------------------------------------------
# Pooling across channels: L2 over channel groups, and maxout
# ----------------------------------------------------------------------------

def _channel_groups(x: torch.Tensor, group_size: int) -> torch.Tensor:
    """View ``x: (N, C, *)`` as ``(N, C // k, k, *)``: group ``g`` is channels ``g*k .. g*k + k - 1``."""
    check_tensor("x", x)
    if x.dim() < 2:
        raise ValueError(f"x must be (N, C, ...) with a channel dimension, got shape {tuple(x.shape)}")
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
        raise ValueError(f"group_size must be a positive int, got {group_size!r}")
    c = x.shape[1]
    if c % group_size:
        raise ValueError(f"x has {c} channels, which do not split into groups of {group_size}")
    return x.reshape(x.shape[0], c // group_size, group_size, *x.shape[2:])


class L2PoolChannelsCache(NamedTuple):
    """What :func:`l2_pool_channels_backward` needs: input, output and group size."""

    x: torch.Tensor
    out: torch.Tensor
    group_size: int


def l2_pool_channels_forward(x: torch.Tensor, *, group_size: int) -> tuple[torch.Tensor, L2PoolChannelsCache]:
    """L2 pooling across feature channels: the Euclidean norm of each group of ``k`` channels.

    Pooling over *separately learned features* rather than over space lets a
    network learn invariances other than translation (e.g. to a rotation, if
    the ``k`` filters of a group learn rotated copies of a pattern).

    Args:
        x: (N, C, *) with ``C`` a multiple of ``group_size``; consecutive
            channels form a group.
        group_size: ``k``, channels per group.
    Returns:
        out: (N, C // k, *), ``out[:, g] = sqrt(sum_{j < k} x[:, g*k + j]^2)``.
    """
    out = _channel_groups(x, group_size).square().sum(dim=2).sqrt()
    return out, L2PoolChannelsCache(x, out, group_size)


def l2_pool_channels_backward(dout: torch.Tensor, cache: L2PoolChannelsCache) -> torch.Tensor:
    """Gradient of channel L2 pooling: ``dx_j = dout_g * x_j / out_g`` (0 where ``out_g = 0``).
    dout: (N, C // group_size, *).  Returns dx: (N, C, *)."""
    x, out, k = cache
    check_dout(dout, out.shape, "channel L2 pooling")
    scale = torch.where(out != 0, dout / torch.where(out != 0, out, torch.ones_like(out)), torch.zeros_like(dout))
    return (_channel_groups(x, k) * scale.unsqueeze(2)).reshape(x.shape)


class MaxoutCache(NamedTuple):
    """What :func:`maxout_backward` needs: the winning piece of each group ``(N, C // k, *)``."""

    argmax: torch.Tensor
    x_shape: tuple[int, ...]
    group_size: int


def maxout_forward(x: torch.Tensor, *, group_size: int) -> tuple[torch.Tensor, MaxoutCache]:
    """Maxout: the maximum over each group of ``k`` consecutive channels (``k`` pieces).

    Args:
        x: (N, C, *) with ``C = G * k``, e.g. ``(N, D)`` after a linear layer or
            ``(N, C, H, W)`` after a convolution.
        group_size: ``k``.
    Returns:
        out: (N, G, *), and the cache for :func:`maxout_backward`.
    Ties go to the first channel of the group that holds the maximum.
    """
    out, arg = _channel_groups(x, group_size).max(dim=2)
    return out, MaxoutCache(arg, tuple(x.shape), group_size)


def maxout_backward(dout: torch.Tensor, cache: MaxoutCache) -> torch.Tensor:
    """Gradient of maxout: ``dout`` goes to the winning channel of each group. Returns (N, C, *)."""
    arg, x_shape, k = cache
    check_dout(dout, arg.shape, "maxout")
    n, groups = arg.shape[:2]
    dx = dout.new_zeros(n, groups, k, *arg.shape[2:])
    dx.scatter_(2, arg.unsqueeze(2), dout.unsqueeze(2))
    return dx.reshape(x_shape)
