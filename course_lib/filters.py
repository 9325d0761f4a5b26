"""Convolution as signal processing: 1-D and 2-D convolution and correlation of
one signal (or image) with one kernel, and the classic kernels.

Conventions follow ``scipy.signal.convolve`` / ``scipy.signal.correlate``
exactly.  For a signal ``x`` of length ``n`` and a kernel ``k`` of length ``m``:

* **convolution** flips the kernel: ``(x * k)[t] = sum_i x[i] k[t - i]``;
  **correlation** does not: ``(x ⋆ k)[t] = sum_i x[i + t] conj(k[i])``, which is
  convolution with the flipped kernel.  Deep-learning "convolution" layers
  compute correlations; for a learned kernel the flip makes no difference.
* ``mode="full"`` (a *wide* convolution): every overlap, ``n + m - 1`` outputs;
  ``mode="valid"`` (*narrow*): only where the kernel lies wholly inside the
  signal, ``n - m + 1`` outputs (if the kernel is the longer one the two swap
  roles: ``m - n + 1`` outputs); ``mode="same"``: ``n`` outputs, the centre of
  the full result (for an even ``m`` the extra output comes from the start).

In 2-D the rules apply to rows and columns separately.

Inputs may be torch tensors or numpy arrays (or nested lists); the result is of
the kind of the first argument (numpy for lists), with the promoted dtype of the
two (integer inputs give integer outputs), on the device of a tensor input.
The kernels are returned as torch tensors; call ``.numpy()`` for numpy.
"""
from __future__ import annotations

import math

import numpy as np
import torch

__all__ = [
    "convolve1d",
    "correlate1d",
    "convolve2d",
    "correlate2d",
    "box_kernel",
    "gaussian_kernel",
    "sobel_kernels",
    "prewitt_kernels",
    "laplacian_kernel",
    "difference_kernel",
    "decay_kernel",
]

_MODES = ("full", "same", "valid")


def _as_tensor(name: str, a, device) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        return a
    try:
        return torch.from_numpy(np.array(a, order="C")).to(device)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"{name} must be a torch.Tensor or a numpy array, got {type(a).__name__}: {err}") from None


def _prepare(x, k, ndim: int, mode: str):
    """Validate, convert to tensors of one dtype and device; remember to return numpy or not."""
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    return_numpy = not isinstance(x, torch.Tensor)
    device = x.device if isinstance(x, torch.Tensor) else (k.device if isinstance(k, torch.Tensor) else None)
    xt, kt = _as_tensor("the signal", x, device), _as_tensor("the kernel", k, device)
    if xt.device != kt.device:
        raise ValueError(f"the signal is on {xt.device} but the kernel is on {kt.device}; move them to one device")
    for name, t in (("signal", xt), ("kernel", kt)):
        if t.dim() != ndim:
            raise ValueError(f"the {name} must be {ndim}-d, got shape {tuple(t.shape)}")
        if t.numel() == 0:
            raise ValueError(f"the {name} is empty (shape {tuple(t.shape)})")
        if t.dtype == torch.bool:
            raise TypeError(f"the {name} has dtype bool; convert it to a number type")
    dtype = torch.result_type(xt, kt)
    xt, kt = xt.to(dtype), kt.to(dtype)
    if mode == "valid":
        if not (all(a >= b for a, b in zip(xt.shape, kt.shape)) or all(b >= a for a, b in zip(xt.shape, kt.shape))):
            raise ValueError(f"mode='valid' needs the signal {tuple(xt.shape)} to be at least as large as the kernel "
                             f"{tuple(kt.shape)} in every dimension, or the other way round")
    return xt, kt, return_numpy


def _output_window(n: int, m: int, mode: str) -> tuple[int, int]:
    """(start, length) of the mode's output inside the full output of length n + m - 1."""
    full = n + m - 1
    length = {"full": full, "same": n, "valid": abs(n - m) + 1}[mode]
    return (full - length) // 2, length


def _convolve(x: torch.Tensor, k: torch.Tensor, mode: str) -> torch.Tensor:
    """Convolution of same-rank tensors x and k, any rank, by shift-and-add.

    The full convolution is ``y[t] = sum_i k[i] x[t - i]``: every tap of the
    kernel adds a shifted, scaled copy of the signal.  With x zero-padded by
    ``m - 1`` on both sides, ``y[t] = sum_i k[i] xpad[t + m - 1 - i]``.
    """
    windows = [_output_window(n, m, mode) for n, m in zip(x.shape, k.shape)]
    xpad = x.new_zeros([n + 2 * (m - 1) for n, m in zip(x.shape, k.shape)])
    xpad[tuple(slice(m - 1, m - 1 + n) for n, m in zip(x.shape, k.shape))] = x
    out = x.new_zeros([length for _, length in windows])
    for tap in np.ndindex(*k.shape):
        shifted = tuple(slice(start + m - 1 - i, start + m - 1 - i + length)
                        for (start, length), m, i in zip(windows, k.shape, tap))
        out += k[tap] * xpad[shifted]
    return out


def _finish(out: torch.Tensor, return_numpy: bool):
    return out.cpu().numpy() if return_numpy else out


def convolve1d(signal, kernel, mode: str = "full"):
    """True 1-D convolution (kernel flipped), like ``scipy.signal.convolve``.

    Args:
        signal: (n,) tensor or array.
        kernel: (m,) tensor or array.
        mode: "full" (n + m - 1 outputs), "same" (n) or "valid" (|n - m| + 1).
    Returns:
        (L,) tensor or array, of the kind of ``signal``.
    Example: with the decay kernel ``[1, 1/2, 1/4]`` the output at time t is
    ``x[t] + x[t-1]/2 + x[t-2]/4``, the signal accumulated with delays.
    """
    x, k, as_np = _prepare(signal, kernel, 1, mode)
    return _finish(_convolve(x, k, mode), as_np)


def correlate1d(signal, kernel, mode: str = "full"):
    """1-D cross-correlation (kernel not flipped, complex kernels conjugated),
    like ``scipy.signal.correlate``: ``out[t] = sum_i signal[i + t] conj(kernel[i])``
    (t shifted according to the mode).

    Args and returns as :func:`convolve1d`.
    """
    x, k, as_np = _prepare(signal, kernel, 1, mode)
    return _finish(_convolve(x, k.flip(0).conj().resolve_conj(), mode), as_np)


def convolve2d(image, kernel, mode: str = "full"):
    """True 2-D convolution (kernel rotated by 180 degrees), like
    ``scipy.signal.convolve2d`` with zero boundary (and ``scipy.signal.convolve``).

    Args:
        image: (H, W) tensor or array.
        kernel: (KH, KW) tensor or array.
        mode: "full" ((H + KH - 1, W + KW - 1)), "same" ((H, W)) or "valid"
            ((H - KH + 1, W - KW + 1); the kernel must fit inside the image or
            the image inside the kernel).
    Returns:
        2-D tensor or array, of the kind of ``image``.
    """
    x, k, as_np = _prepare(image, kernel, 2, mode)
    return _finish(_convolve(x, k, mode), as_np)


def correlate2d(image, kernel, mode: str = "full"):
    """2-D cross-correlation (kernel not flipped, complex kernels conjugated),
    like ``scipy.signal.correlate``: what a deep-learning "convolution"
    layer computes.  For ``mode="valid"``:
    ``out[i, j] = sum_{u, v} image[i + u, j + v] * kernel[u, v]``.

    In every mode this is :func:`convolve2d` with the kernel rotated by 180
    degrees.  (``scipy.signal.correlate2d`` agrees except in mode "same" with
    an even kernel size, where it centres its output one pixel later.)

    Args and returns as :func:`convolve2d`.
    """
    x, k, as_np = _prepare(image, kernel, 2, mode)
    return _finish(_convolve(x, k.flip(0, 1).conj().resolve_conj(), mode), as_np)


# --------------------------------------------------------------------------- classic kernels


def _kw(dtype, device) -> dict:
    return {"dtype": dtype if dtype is not None else torch.get_default_dtype(), "device": device}


def box_kernel(k, *, dtype=None, device=None) -> torch.Tensor:
    """Box (moving-average) filter: all entries ``1 / (KH * KW)``, summing to 1.

    Args:
        k: size ``k`` (square) or ``(KH, KW)``.
    Returns:
        (KH, KW) tensor.
    """
    kh, kw = (k, k) if isinstance(k, int) else tuple(k)
    if kh < 1 or kw < 1:
        raise ValueError(f"box_kernel size must be positive, got {k!r}")
    return torch.full((kh, kw), 1.0 / (kh * kw), **_kw(dtype, device))


def gaussian_kernel(size: int, sigma: float, *, dtype=None, device=None) -> torch.Tensor:
    """Sampled 2-D Gaussian ``exp(-(u^2 + v^2) / (2 sigma^2))``, normalised to sum to 1.

    Args:
        size: side length in pixels; the centre is at ``(size - 1) / 2``
            (between two pixels when ``size`` is even).
        sigma: standard deviation in pixels (> 0).
    Returns:
        (size, size) tensor.  It is separable: the outer product of a 1-D Gaussian with itself.
    """
    if size < 1:
        raise ValueError(f"gaussian_kernel size must be positive, got {size}")
    if not sigma > 0:
        raise ValueError(f"gaussian_kernel sigma must be > 0, got {sigma}")
    kw = _kw(dtype, device)
    u = torch.arange(size, dtype=torch.float64, device=device) - (size - 1) / 2
    g = torch.exp(-u ** 2 / (2 * sigma ** 2))
    g2 = torch.outer(g, g)
    return (g2 / g2.sum()).to(kw["dtype"])


def sobel_kernels(*, dtype=None, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Sobel edge detectors ``(gx, gy)``, each (3, 3), in correlation form.

    ``correlate2d(image, gx)`` is large where brightness increases to the right
    (a vertical edge), ``correlate2d(image, gy)`` where it increases downwards.
    They are a [-1, 0, 1] difference smoothed by [1, 2, 1] across it.
    """
    kw = _kw(dtype, device)
    gx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], **kw)
    return gx, gx.T.contiguous()


def prewitt_kernels(*, dtype=None, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Prewitt edge detectors ``(gx, gy)``, each (3, 3), in correlation form:
    a [-1, 0, 1] difference averaged over three rows (columns).  See :func:`sobel_kernels`."""
    kw = _kw(dtype, device)
    gx = torch.tensor([[-1.0, 0.0, 1.0]] * 3, **kw)
    return gx, gx.T.contiguous()


def laplacian_kernel(*, diagonal: bool = False, dtype=None, device=None) -> torch.Tensor:
    """Discrete Laplacian (3, 3): ``[[0, 1, 0], [1, -4, 1], [0, 1, 0]]``, the sum of
    second differences along rows and columns; zero on linear ramps, large at
    edges and spots.  With ``diagonal=True``, the 8-neighbour version
    (all ones around -8).  Symmetric, so convolution and correlation agree."""
    kw = _kw(dtype, device)
    if diagonal:
        k = torch.ones(3, 3, **kw)
        k[1, 1] = -8.0
        return k
    return torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], **kw)


def difference_kernel(*, dtype=None, device=None) -> torch.Tensor:
    """The 1-D filter ``[-1, 0, 1]`` (3,): correlating with it gives
    ``x[t+1] - x[t-1]``, a central difference that responds to change."""
    return torch.tensor([-1.0, 0.0, 1.0], **_kw(dtype, device))


def decay_kernel(length: int = 3, rate: float = 0.5, *, dtype=None, device=None) -> torch.Tensor:
    """Weights ``1, rate, rate^2, ...`` (length,), for delayed accumulation.

    With the default ``rate = 1/2`` the kernel is ``[1, 1/2, 1/4, ...]``:
    convolving a signal with it, ``y[t] = x[t] + x[t-1]/2 + x[t-2]/4 + ...``,
    adds to each new value the older values, fading by half per step.
    """
    if length < 1:
        raise ValueError(f"decay_kernel length must be positive, got {length}")
    if not math.isfinite(rate):
        raise ValueError(f"decay_kernel rate must be finite, got {rate}")
    kw = _kw(dtype, device)
    return torch.tensor([rate ** i for i in range(length)], **kw)
