"""Layers of the convolutional sentence models, as forward/backward pairs.

A sentence of ``L`` words becomes a matrix of word vectors, one row per word.
The course stores a batch of sentences **time first**: ``x: (N, L, E)`` holds
``N`` sentences of ``L`` positions, each an ``E``-dimensional embedding.  Every
layer here keeps time on axis 1, so a layer's output is again ``(N, L', ...)``
and the layers stack without transposes.

* :func:`text_conv1d_forward`: ``F`` filters ``w: (F, width, E)`` slide over
  time; each looks at ``width`` consecutive word vectors at once, so a filter
  is a detector of one weighted n-gram (``n = width``), as in Kim (2014)::

      out[n, t, f] = b[f] + sum_{u < width, e < E} w[f, u, e] * xpad[n, t + u, e]

  ``padding`` zeros are added before the first and after the last word.  A
  *narrow* convolution (``padding = 0``) gives ``L - width + 1`` positions and
  needs ``L >= width``; a *wide* one (``padding = width - 1``) gives
  ``L + width - 1`` positions, every one of which sees at least one word, and
  works for sentences of any length (Kalchbrenner et al., 2014, Section 2.1).
* :func:`rowwise_conv1d_forward`: the DCNN's convolution.  Each of the ``D``
  rows (dimensions) of a feature map is convolved on its own with its own row
  of the filter; ``C`` input maps are summed into each of ``F`` output maps::

      out[n, t, f, d] = b[f, d] + sum_{c, u} w[f, c, u, d] * xpad[n, t + u, c, d]

  with ``x: (N, L, C, D)``, ``w: (F, C, width, D)``, ``b: (F, D)``.
* :func:`max_over_time_forward`: the largest value of each feature over the
  positions of a sentence, ``(N, L, *) -> (N, *)``; a ``mask`` leaves out the
  padding of shorter sentences in a batch.
* :func:`kmax_pool1d_forward`: the ``k`` largest values over time of each
  feature, **in their original order**, ``(N, L, *) -> (N, k, *)``
  (Kalchbrenner et al., 2014, Section 3.1); :func:`dynamic_k` gives the DCNN's
  ``k`` for each layer.
* :func:`fold_forward`: folding, the sum of every two adjacent rows of a
  feature map, ``(..., D) -> (..., D / 2)`` (Section 3.4).

Gradients: a convolution's ``dx`` adds each window's gradient back into the
positions it read (the adjoint of the window copy), ``dw`` correlates the
windows with ``dout``; pooling sends each gradient to the position its value
came from (first position on ties); folding copies the gradient of a sum to
both summands.  ``*_naive`` twins loop over positions and are for reading.

References: Y. Kim, "Convolutional Neural Networks for Sentence
Classification", EMNLP 2014; N. Kalchbrenner, E. Grefenstette and P. Blunsom,
"A Convolutional Neural Network for Modelling Sentences", ACL 2014.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from .._checks import check_same, check_tensor

__all__ = [
    "TextConvCache",
    "text_conv1d_forward",
    "text_conv1d_backward",
    "text_conv1d_forward_naive",
    "text_conv1d_backward_naive",
    "RowwiseConvCache",
    "rowwise_conv1d_forward",
    "rowwise_conv1d_backward",
    "MaxOverTimeCache",
    "max_over_time_forward",
    "max_over_time_backward",
    "KMaxCache",
    "kmax_pool1d_forward",
    "kmax_pool1d_backward",
    "kmax_pool1d_forward_naive",
    "dynamic_k",
    "FoldCache",
    "fold_forward",
    "fold_backward",
]


# ----------------------------------------------------------------------------
# Shared helpers: the time padding, the window copy along time and its adjoint
# ----------------------------------------------------------------------------

def _time_padding(padding, width: int) -> int:
    """``"narrow"`` -> 0, ``"wide"`` -> ``width - 1``, a non-negative int -> itself."""
    if padding == "narrow":
        return 0
    if padding == "wide":
        return width - 1
    if isinstance(padding, int) and not isinstance(padding, bool) and padding >= 0:
        return padding
    raise ValueError(f"padding must be 'narrow', 'wide' or a non-negative int, got {padding!r}")


def _pad_time(x: torch.Tensor, pad: int) -> torch.Tensor:
    """``x: (N, L, ...)`` with ``pad`` zero positions before and after: ``(N, L + 2 pad, ...)``."""
    if pad == 0:
        return x
    zeros = x.new_zeros(x.shape[0], pad, *x.shape[2:])
    return torch.cat([zeros, x, zeros], dim=1)


def _out_length(length: int, width: int, pad: int) -> int:
    out = length + 2 * pad - width + 1
    if out < 1:
        raise ValueError(f"a filter of width {width} does not fit a sentence of length {length} with padding {pad} "
                         f"(a narrow convolution needs length >= width; use padding='wide')")
    return out


def _windows(xp: torch.Tensor, width: int) -> torch.Tensor:
    """Every window of ``width`` positions of ``xp: (N, Lp, ...)``: ``(N, L_out, ..., width)`` (a view)."""
    return xp.unfold(1, width, 1)


def _fold_windows(dcols: torch.Tensor, length: int, pad: int) -> torch.Tensor:
    """Adjoint of :func:`_windows` followed by the padding: ``(N, L_out, ..., width) -> (N, length, ...)``.

    Window ``t``'s entry ``u`` was read from padded position ``t + u``; its
    gradient is added there, and the padded positions are then cut off.
    """
    n, l_out, *rest, width = dcols.shape
    dxp = dcols.new_zeros(n, l_out + width - 1, *rest)
    for u in range(width):
        dxp[:, u:u + l_out] += dcols[..., u]
    return dxp[:, pad:pad + length]


def _correlate(x, w, b, padding, width: int, equation: str) -> tuple[torch.Tensor, int]:
    """Forward of both convolutions: the windows of padded ``x`` contracted with ``w`` by ``equation``
    (``"windows,filters->out"`` in einsum notation), plus the bias.  Returns ``(out, pad)``."""
    pad = _time_padding(padding, width)
    _out_length(x.shape[1], width, pad)
    out = torch.einsum(equation, _windows(_pad_time(x, pad), width), w)
    return (out if b is None else out + b), pad


def _correlate_backward(dout, cache, width: int, trailing: tuple[int, ...], equation: str, what: str):
    """Backward of :func:`_correlate`: the same contraction read the two other ways.

    With ``equation = "C,W->O"``: ``dw = einsum("C,O->W", windows, dout)`` and the
    window gradients ``einsum("O,W->C", dout, w)`` are folded back onto ``x``.
    ``dout`` must be ``(N, L_out, *trailing)``.
    """
    x, w, has_bias, pad = cache
    _check_dout(dout, (x.shape[0], _out_length(x.shape[1], width, pad), *trailing), what)
    cols, rest = equation.split(",")
    filt, out = rest.split("->")
    dw = torch.einsum(f"{cols},{out}->{filt}", _windows(_pad_time(x, pad), width), dout)
    dx = _fold_windows(torch.einsum(f"{out},{filt}->{cols}", dout, w), x.shape[1], pad)
    return dx, dw, (dout.sum(dim=(0, 1)) if has_bias else None)


def _check_dout(dout: torch.Tensor, shape, what: str) -> None:
    check_tensor("dout", dout)
    if tuple(dout.shape) != tuple(shape):
        raise ValueError(f"dout has shape {tuple(dout.shape)} but the {what} output had shape {tuple(shape)}")


# ----------------------------------------------------------------------------
# 1-d convolution over a sentence (Kim 2014)
# ----------------------------------------------------------------------------

#: windows (N, L_out, E, width) x filters (F, width, E) -> (N, L_out, F)
_TEXT_EQUATION = "nteu,fue->ntf"


class TextConvCache(NamedTuple):
    """What :func:`text_conv1d_backward` needs: the inputs, whether there was a bias, the time padding."""

    x: torch.Tensor
    w: torch.Tensor
    has_bias: bool
    pad: int


def _check_text_conv(x, w, b) -> None:
    check_tensor("x", x, 3)
    check_tensor("w", w, 3)
    check_same("x", x, "w", w)
    if x.shape[2] != w.shape[2]:
        raise ValueError(f"embedding size mismatch: x {tuple(x.shape)} has E = {x.shape[2]} but w {tuple(w.shape)} "
                         f"has E = {w.shape[2]}; w must be (F, width, E)")
    if w.shape[1] < 1:
        raise ValueError(f"w must have a positive width, got shape {tuple(w.shape)}")
    if b is not None:
        check_tensor("b", b, 1)
        check_same("x", x, "b", b)
        if b.shape[0] != w.shape[0]:
            raise ValueError(f"b has shape {tuple(b.shape)} but w has {w.shape[0]} filters; b must be ({w.shape[0]},)")


def text_conv1d_forward(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None, *,
                        padding: int | str = "narrow") -> tuple[torch.Tensor, TextConvCache]:
    """1-d convolution over time of a batch of sentences: each filter is an n-gram detector.

    Args:
        x: (N, L, E) word vectors (sentence ``n``, position ``t``, embedding ``e``).
        w: (F, width, E) filters; ``w[f, u]`` weighs the ``u``-th word of a window.
        b: (F,) biases or None.
        padding: ``"narrow"`` (0), ``"wide"`` (``width - 1``) or a number of zero
            positions added at each end of every sentence.
    Returns:
        out: (N, L_out, F) with ``L_out = L + 2 * padding - width + 1`` (``L - width + 1``
        narrow, ``L + width - 1`` wide), and a :class:`TextConvCache`.

    Equal to ``torch.nn.functional.conv1d(x.transpose(1, 2), w.transpose(1, 2), b,
    padding=padding).transpose(1, 2)``: torch stores channels first.
    """
    _check_text_conv(x, w, b)
    out, pad = _correlate(x, w, b, padding, w.shape[1], _TEXT_EQUATION)
    return out, TextConvCache(x, w, b is not None, pad)


def text_conv1d_backward(dout: torch.Tensor, cache: TextConvCache
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Gradients of :func:`text_conv1d_forward`.

    Args:
        dout: (N, L_out, F).
        cache: from the forward pass (vectorised or naive).
    Returns:
        dx: (N, L, E), dw: (F, width, E), db: (F,) or None when there was no bias.
    """
    w = cache.w
    return _correlate_backward(dout, cache, w.shape[1], (w.shape[0],), _TEXT_EQUATION, "text convolution")


def text_conv1d_forward_naive(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None, *,
                              padding: int | str = "narrow") -> tuple[torch.Tensor, TextConvCache]:
    """:func:`text_conv1d_forward` with a loop over output positions: one n-gram window at a time.

    Args: x: (N, L, E), w: (F, width, E), b: (F,) or None, padding: as there.
    """
    _check_text_conv(x, w, b)
    n, length, _ = x.shape
    f, width, _ = w.shape
    pad = _time_padding(padding, width)
    l_out = _out_length(length, width, pad)
    xp = _pad_time(x, pad)
    out = x.new_zeros(n, l_out, f)
    for t in range(l_out):
        window = xp[:, t:t + width]                             # (N, width, E): one n-gram per sentence
        out[:, t] = (window.unsqueeze(1) * w).sum(dim=(2, 3))   # (N, F)
        if b is not None:
            out[:, t] += b
    return out, TextConvCache(x, w, b is not None, pad)


def text_conv1d_backward_naive(dout: torch.Tensor, cache: TextConvCache
                               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """:func:`text_conv1d_backward` with a loop over output positions.

    Args: dout: (N, L_out, F), cache: from either forward.
    """
    x, w, has_bias, pad = cache
    width = w.shape[1]
    n, length, _ = x.shape
    l_out = _out_length(length, width, pad)
    _check_dout(dout, (n, l_out, w.shape[0]), "text convolution")
    xp = _pad_time(x, pad)
    dxp = torch.zeros_like(xp)
    dw = torch.zeros_like(w)
    for t in range(l_out):
        g = dout[:, t]                                          # (N, F)
        dw += torch.einsum("nf,nue->fue", g, xp[:, t:t + width])
        dxp[:, t:t + width] += torch.einsum("nf,fue->nue", g, w)
    db = dout.sum(dim=(0, 1)) if has_bias else None
    return dxp[:, pad:pad + length], dw, db


# ----------------------------------------------------------------------------
# Row-wise (per-dimension) convolution of the DCNN
# ----------------------------------------------------------------------------

#: windows (N, L_out, C, D, width) x filters (F, C, width, D) -> (N, L_out, F, D): rows d never mix
_ROWWISE_EQUATION = "ntcdu,fcud->ntfd"


class RowwiseConvCache(TextConvCache):
    """What :func:`rowwise_conv1d_backward` needs: the fields of :class:`TextConvCache`, with
    ``x: (N, L, C, D)`` and ``w: (F, C, width, D)``."""


def _check_rowwise(x, w, b) -> None:
    check_tensor("x", x, 4)
    check_tensor("w", w, 4)
    check_same("x", x, "w", w)
    _, _, c, d = x.shape
    if w.shape[1] != c or w.shape[3] != d:
        raise ValueError(f"w has shape {tuple(w.shape)} but x {tuple(x.shape)} has C = {c} maps of D = {d} rows; "
                         f"w must be (F, {c}, width, {d})")
    if w.shape[2] < 1:
        raise ValueError(f"w must have a positive width, got shape {tuple(w.shape)}")
    if b is not None:
        check_tensor("b", b, 2)
        check_same("x", x, "b", b)
        if tuple(b.shape) != (w.shape[0], d):
            raise ValueError(f"b has shape {tuple(b.shape)}; it must be (F, D) = {(w.shape[0], d)}")


def rowwise_conv1d_forward(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None, *,
                           padding: int | str = "wide") -> tuple[torch.Tensor, RowwiseConvCache]:
    """The DCNN's convolution: each row (dimension) ``d`` of the maps is convolved over time on its own.

    Args:
        x: (N, L, C, D) ``C`` feature maps of ``D`` rows each (for the first
            layer ``C = 1`` and ``D`` is the embedding size).
        w: (F, C, width, D): filter ``w[f, c, :, d]`` connects row ``d`` of input
            map ``c`` to row ``d`` of output map ``f``; rows never mix.
        b: (F, D) biases (one per row of each output map, as in the paper) or None.
        padding: ``"wide"`` (the paper's choice, ``width - 1``), ``"narrow"`` or an int.
    Returns:
        out: (N, L_out, F, D) with ``L_out = L + 2 * padding - width + 1``, and a
        :class:`RowwiseConvCache`.
    """
    _check_rowwise(x, w, b)
    out, pad = _correlate(x, w, b, padding, w.shape[2], _ROWWISE_EQUATION)
    return out, RowwiseConvCache(x, w, b is not None, pad)


def rowwise_conv1d_backward(dout: torch.Tensor, cache: RowwiseConvCache
                            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Gradients of :func:`rowwise_conv1d_forward`.

    Args:
        dout: (N, L_out, F, D).
    Returns:
        dx: (N, L, C, D), dw: (F, C, width, D), db: (F, D) or None.
    """
    f, _, width, d = cache.w.shape
    return _correlate_backward(dout, cache, width, (f, d), _ROWWISE_EQUATION, "row-wise convolution")


# ----------------------------------------------------------------------------
# Max-over-time pooling (Collobert et al. 2011; Kim 2014)
# ----------------------------------------------------------------------------

class MaxOverTimeCache(NamedTuple):
    """What :func:`max_over_time_backward` needs: the winning position ``(N, *)`` of each feature."""

    argmax: torch.Tensor
    x_shape: tuple[int, ...]


def _check_mask(mask, x) -> torch.Tensor:
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a torch.Tensor of bools, got {type(mask).__name__}")
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must have dtype torch.bool (True = a real word), got {mask.dtype}")
    if tuple(mask.shape) != tuple(x.shape[:2]):
        raise ValueError(f"mask has shape {tuple(mask.shape)} but x {tuple(x.shape)} needs (N, L) = {tuple(x.shape[:2])}")
    if mask.device != x.device:
        raise ValueError(f"mask is on {mask.device} but x is on {x.device}")
    empty = (~mask.any(dim=1)).nonzero().flatten()
    if empty.numel():
        raise ValueError(f"mask leaves no position for sentence(s) {empty.tolist()}: every sentence needs one")
    return mask


def max_over_time_forward(x: torch.Tensor, mask: torch.Tensor | None = None
                          ) -> tuple[torch.Tensor, MaxOverTimeCache]:
    """The largest value of each feature over the positions of each sentence.

    Args:
        x: (N, L, *) features at each position (e.g. ``(N, L_out, F)`` after a convolution).
        mask: (N, L) bools, True at the positions that belong to the sentence;
            False positions (padding) never win.  None: every position counts.
    Returns:
        out: (N, *), and a :class:`MaxOverTimeCache`.  Ties go to the earliest position.
    """
    check_tensor("x", x)
    if x.dim() < 2 or x.shape[1] < 1:
        raise ValueError(f"x must be (N, L, ...) with L >= 1, got shape {tuple(x.shape)}")
    if mask is not None:
        mask = _check_mask(mask, x).reshape(*mask.shape, *([1] * (x.dim() - 2)))
        x = x.masked_fill(~mask, float("-inf"))
    out, arg = x.max(dim=1)  # first maximum on ties
    return out, MaxOverTimeCache(arg, tuple(x.shape))


def max_over_time_backward(dout: torch.Tensor, cache: MaxOverTimeCache) -> torch.Tensor:
    """Gradient of max-over-time pooling: ``dout[n, ...]`` goes to the winning position. Returns (N, L, *)."""
    arg, x_shape = cache
    _check_dout(dout, arg.shape, "max-over-time")
    dx = dout.new_zeros(x_shape)
    dx.scatter_(1, arg.unsqueeze(1), dout.unsqueeze(1))
    return dx


# ----------------------------------------------------------------------------
# k-max pooling and dynamic k (Kalchbrenner et al. 2014)
# ----------------------------------------------------------------------------

class KMaxCache(NamedTuple):
    """What :func:`kmax_pool1d_backward` needs: ``indices: (N, k, *)``, the increasing positions kept."""

    indices: torch.Tensor
    x_shape: tuple[int, ...]


def _check_k(k, length: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"k must be an int, got {k!r}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if k > length:
        raise ValueError(f"k = {k} is larger than the sequence length {length}: k-max pooling cannot keep "
                         f"more values than there are positions")
    return k


def kmax_pool1d_forward(x: torch.Tensor, k: int) -> tuple[torch.Tensor, KMaxCache]:
    """k-max pooling over time: the ``k`` largest values of each feature, in sentence order.

    Args:
        x: (N, L, *) features; each ``x[n, :, ...]`` is pooled on its own.
        k: how many values to keep, ``1 <= k <= L`` (else ValueError).
    Returns:
        out: (N, k, *) with ``out[n, j, ...] = x[n, indices[n, j, ...], ...]`` where
        ``indices`` lists the positions of the ``k`` largest values in
        increasing order, so the order of the kept features is that of the
        sentence.  Ties: among equal values the earliest positions are kept.
    """
    check_tensor("x", x)
    if x.dim() < 2:
        raise ValueError(f"x must be (N, L, ...), got shape {tuple(x.shape)}")
    k = _check_k(k, x.shape[1])
    # a stable descending sort keeps equal values in position order, so the first k are the earliest ties
    order = torch.sort(x, dim=1, descending=True, stable=True).indices
    indices = order.narrow(1, 0, k).sort(dim=1).values
    return x.gather(1, indices), KMaxCache(indices, tuple(x.shape))


def kmax_pool1d_backward(dout: torch.Tensor, cache: KMaxCache) -> torch.Tensor:
    """Gradient of k-max pooling: each kept value's gradient goes back to its position.

    Args: dout: (N, k, *), cache: from either forward.  Returns dx: (N, L, *).
    """
    indices, x_shape = cache
    _check_dout(dout, indices.shape, "k-max pooling")
    dx = dout.new_zeros(x_shape)
    dx.scatter_(1, indices, dout)
    return dx


def kmax_pool1d_forward_naive(x: torch.Tensor, k: int) -> tuple[torch.Tensor, KMaxCache]:
    """:func:`kmax_pool1d_forward` by ``k`` rounds of "take the maximum, then rule it out".

    Args: x: (N, L, *), k: as there.  Its cache goes to :func:`kmax_pool1d_backward`.

    Each round takes the first maximum of what is left (so ties go to the
    earliest position) and marks it ``-inf``; the chosen positions are then put
    back in sentence order.
    """
    check_tensor("x", x)
    if x.dim() < 2:
        raise ValueError(f"x must be (N, L, ...), got shape {tuple(x.shape)}")
    k = _check_k(k, x.shape[1])
    left = x.detach().clone()
    taken = []
    for _ in range(k):
        arg = left.argmax(dim=1, keepdim=True)       # first maximum of the remaining values
        taken.append(arg)
        left.scatter_(1, arg, float("-inf"))
    indices = torch.cat(taken, dim=1).sort(dim=1).values
    return x.gather(1, indices), KMaxCache(indices, tuple(x.shape))


def dynamic_k(layer: int, num_layers: int, length: int, k_top: int) -> int:
    """The DCNN's pooling parameter of convolutional layer ``layer``: ``max(k_top, ceil((L - l) / L * s))``.

    Args:
        layer: ``l``, 1-based index of the convolutional layer.
        num_layers: ``L``, the number of convolutional layers.
        length: ``s``, the sentence length.
        k_top: the fixed ``k`` of the top layer (``l = L`` always gets ``k_top``).
    Returns:
        ``k_l`` (computed in integers, so ``ceil`` is exact).  Example: ``L = 3``,
        ``s = 18``, ``k_top = 3`` give 12, 6 and 3.
    """
    for name, value in (("layer", layer), ("num_layers", num_layers), ("length", length), ("k_top", k_top)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {value!r}")
    if num_layers < 1 or not 1 <= layer <= num_layers:
        raise ValueError(f"layer must be in 1..num_layers, got layer={layer}, num_layers={num_layers}")
    if length < 1 or k_top < 1:
        raise ValueError(f"length and k_top must be positive, got length={length}, k_top={k_top}")
    return max(k_top, -(-(num_layers - layer) * length // num_layers))


# ----------------------------------------------------------------------------
# Folding (Kalchbrenner et al. 2014)
# ----------------------------------------------------------------------------

class FoldCache(NamedTuple):
    """What :func:`fold_backward` needs: the input shape."""

    x_shape: tuple[int, ...]


def fold_forward(x: torch.Tensor) -> tuple[torch.Tensor, FoldCache]:
    """Folding: add every two adjacent rows (last axis) of a feature map.

    Args:
        x: (..., D) with ``D`` even (e.g. ``(N, L, F, D)``).
    Returns:
        out: (..., D / 2) with ``out[..., i] = x[..., 2 i] + x[..., 2 i + 1]``, and a :class:`FoldCache`.
    Raises ValueError for an odd ``D``: the paper folds rows in pairs.
    """
    check_tensor("x", x)
    if x.dim() < 1 or x.shape[-1] % 2:
        raise ValueError(f"folding needs an even number of rows on the last axis, got shape {tuple(x.shape)}")
    out = x.reshape(*x.shape[:-1], x.shape[-1] // 2, 2).sum(dim=-1)
    return out, FoldCache(tuple(x.shape))


def fold_backward(dout: torch.Tensor, cache: FoldCache) -> torch.Tensor:
    """Gradient of folding: both rows of a pair receive the pair's gradient.

    Args: dout: (..., D / 2), cache: from the forward.  Returns dx: (..., D).
    """
    (x_shape,) = cache
    _check_dout(dout, (*x_shape[:-1], x_shape[-1] // 2), "folding")
    return dout.unsqueeze(-1).expand(*dout.shape, 2).reshape(x_shape)
