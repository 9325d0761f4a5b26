"""Slice, merge and upsampling layers as forward/backward pairs.

* **Slice** (split): cut a tensor into pieces along one dimension, e.g. the
  channels into groups, or an image into regions that later layers process
  separately.  Backward puts the pieces' gradients back side by side.
* **Concatenation**: join tensors along one dimension; ``(1, 100)`` and
  ``(1, 100)`` along dim 1 give ``(1, 200)``; RGB ``(N, 3, H, W)`` and depth
  ``(N, 1, H, W)`` give RGBD ``(N, 4, H, W)``.  Inception modules concatenate
  the channels of their branches.  Backward is the split of the gradient.
* **Element-wise merges** of tensors of one shape: sum (ResNet's shortcut),
  difference, product and maximum.
* **Upsampling**: nearest neighbour (integer factors, each pixel copied into a
  block) and bilinear (torch's ``align_corners=False`` convention).  Its
  backward is a downsampling: each input pixel collects the gradients of the
  output pixels it contributed to, weighted like the forward.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import torch

from .._checks import check_same, check_tensor

__all__ = [
    "SplitCache",
    "split_forward",
    "split_backward",
    "ConcatCache",
    "concat_forward",
    "concat_backward",
    "MERGE_OPS",
    "MergeCache",
    "merge_forward",
    "merge_backward",
    "UpsampleCache",
    "upsample_forward",
    "upsample_backward",
]


def _check_dim(dim: int, ndim: int) -> int:
    if isinstance(dim, bool) or not isinstance(dim, int) or not -ndim <= dim < ndim:
        raise ValueError(f"dim must be an int in [{-ndim}, {ndim}), got {dim!r}")
    return dim % ndim


# ----------------------------------------------------------------------------
# Slice and concatenation
# ----------------------------------------------------------------------------

class SplitCache(NamedTuple):
    """What :func:`split_backward` needs: the dimension, the piece sizes and the input shape."""

    dim: int
    sizes: tuple[int, ...]
    x_shape: tuple[int, ...]


def split_forward(x: torch.Tensor, sizes: int | Sequence[int], *, dim: int = 1
                  ) -> tuple[list[torch.Tensor], SplitCache]:
    """Slice ``x`` into consecutive pieces along ``dim``.

    Args:
        x: any shape, e.g. (N, C, H, W); ``dim=1`` splits channels, 2 or 3 rows or columns.
        sizes: a list of piece sizes that add up to ``x.shape[dim]``, or one
            int ``s`` for pieces of ``s`` (the last one may be smaller), as ``torch.split``.
    Returns:
        pieces: list of views of ``x``, and the cache for :func:`split_backward`.
    """
    check_tensor("x", x)
    d = _check_dim(dim, x.dim())
    length = x.shape[d]
    if isinstance(sizes, int) and not isinstance(sizes, bool):
        if sizes < 1:
            raise ValueError(f"a split size must be positive, got {sizes}")
        sizes_ = tuple(min(sizes, length - start) for start in range(0, length, sizes))
    else:
        sizes_ = tuple(sizes)
        if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in sizes_):
            raise ValueError(f"sizes must be non-negative ints, got {sizes!r}")
        if sum(sizes_) != length:
            raise ValueError(f"sizes {list(sizes_)} add up to {sum(sizes_)} but x has {length} entries "
                             f"along dim {dim} (shape {tuple(x.shape)})")
    pieces = list(torch.split(x, list(sizes_), dim=d))
    return pieces, SplitCache(d, sizes_, tuple(x.shape))


def split_backward(douts: Sequence[torch.Tensor | None], cache: SplitCache) -> torch.Tensor:
    """Gradient of the slice: the pieces' gradients concatenated back along ``dim``.

    A ``None`` entry (a piece that was not used) counts as zeros.
    Returns dx: shape of ``x``.
    """
    dim, sizes, x_shape = cache
    if len(douts) != len(sizes):
        raise ValueError(f"got {len(douts)} gradients for {len(sizes)} pieces")
    ref = next((g for g in douts if g is not None), None)
    if ref is None:
        raise ValueError("all piece gradients are None; at least one is needed for dtype and device")
    grads = []
    for i, (g, s) in enumerate(zip(douts, sizes)):
        want = (*x_shape[:dim], s, *x_shape[dim + 1:])
        if g is None:
            g = ref.new_zeros(want)
        elif tuple(g.shape) != want:
            raise ValueError(f"gradient {i} has shape {tuple(g.shape)}, expected {want}")
        grads.append(g)
    return torch.cat(grads, dim=dim)


class ConcatCache(NamedTuple):
    """What :func:`concat_backward` needs: the dimension and each input's size along it."""

    dim: int
    sizes: tuple[int, ...]


def concat_forward(inputs: Sequence[torch.Tensor], *, dim: int = 1) -> tuple[torch.Tensor, ConcatCache]:
    """Concatenate tensors along ``dim`` (channels by default).

    Args:
        inputs: tensors of one dtype and device whose shapes agree except along ``dim``.
    Returns:
        out: sizes along ``dim`` added, and the cache for :func:`concat_backward`.
    """
    inputs = list(inputs)
    if not inputs:
        raise ValueError("concat needs at least one input")
    for i, t in enumerate(inputs):
        check_tensor(f"inputs[{i}]", t)
        check_same(f"inputs[{i}]", t, "inputs[0]", inputs[0])
    d = _check_dim(dim, inputs[0].dim())
    first = inputs[0].shape
    for i, t in enumerate(inputs):
        if t.dim() != len(first) or any(a != b for j, (a, b) in enumerate(zip(t.shape, first)) if j != d):
            raise ValueError(f"inputs[{i}] has shape {tuple(t.shape)} but inputs[0] has {tuple(first)}; "
                             f"they may differ only along dim {dim}")
    return torch.cat(inputs, dim=d), ConcatCache(d, tuple(t.shape[d] for t in inputs))


def concat_backward(dout: torch.Tensor, cache: ConcatCache) -> tuple[torch.Tensor, ...]:
    """Gradient of concatenation: ``dout`` (shape of the output) split back into one piece per input (views),
    each shaped like its input."""
    dim, sizes = cache
    check_tensor("dout", dout)
    if dout.dim() <= dim or dout.shape[dim] != sum(sizes):
        raise ValueError(f"dout has shape {tuple(dout.shape)}, expected {sum(sizes)} entries along dim {dim}")
    return tuple(torch.split(dout, list(sizes), dim=dim))


# ----------------------------------------------------------------------------
# Element-wise merges
# ----------------------------------------------------------------------------

MERGE_OPS = ("sum", "diff", "prod", "max")


class MergeCache(NamedTuple):
    """What :func:`merge_backward` needs.

    ``saved`` holds, per operation: nothing for ``sum`` and ``diff``, the
    inputs for ``prod``, and the index of the winning input (shape of the
    output) for ``max``.
    """

    op: str
    n_inputs: int
    saved: tuple[torch.Tensor, ...]


def merge_forward(inputs: Sequence[torch.Tensor], *, op: str = "sum") -> tuple[torch.Tensor, MergeCache]:
    """Element-wise merge of tensors of one shape.

    Args:
        inputs: one or more tensors of equal shape, dtype and device
            (exactly two for ``"diff"``).
        op: ``"sum"`` (x1 + x2 + ...), ``"diff"`` (x1 - x2), ``"prod"``
            (x1 * x2 * ...) or ``"max"`` (element-wise maximum; ties go to the
            earliest input).
    Returns:
        out: shape of the inputs, and the cache for :func:`merge_backward`.
    """
    if op not in MERGE_OPS:
        raise ValueError(f"op must be one of {MERGE_OPS}, got {op!r}")
    inputs = list(inputs)
    if not inputs:
        raise ValueError("merge needs at least one input")
    for i, t in enumerate(inputs):
        check_tensor(f"inputs[{i}]", t)
        check_same(f"inputs[{i}]", t, "inputs[0]", inputs[0])
        if t.shape != inputs[0].shape:
            raise ValueError(f"inputs[{i}] has shape {tuple(t.shape)} but inputs[0] has {tuple(inputs[0].shape)}; "
                             f"element-wise merges need equal shapes")
    n = len(inputs)
    if op == "diff" and n != 2:
        raise ValueError(f'op="diff" takes exactly two inputs (x1 - x2), got {n}')
    if op == "sum":
        return torch.stack(inputs).sum(dim=0), MergeCache(op, n, ())
    if op == "diff":
        return inputs[0] - inputs[1], MergeCache(op, n, ())
    if op == "prod":
        return torch.stack(inputs).prod(dim=0), MergeCache(op, n, tuple(inputs))
    out, winner = torch.stack(inputs).max(dim=0)  # first maximum: the earliest input wins ties
    return out, MergeCache(op, n, (winner,))


def merge_backward(dout: torch.Tensor, cache: MergeCache) -> tuple[torch.Tensor, ...]:
    """Gradients of an element-wise merge, one per input (each of the output's shape).
    dout: shape of the output (that of every input).

    sum: ``dout`` to every input; diff: ``dout`` and ``-dout``; prod: ``dout``
    times the product of the *other* inputs (no division, so zeros are safe);
    max: ``dout`` to the winning input only.
    """
    op, n, saved = cache
    check_tensor("dout", dout)
    if op == "sum":
        return (dout,) * n
    if op == "diff":
        return dout, -dout
    if op == "prod":
        grads = []
        for i in range(n):
            g = dout
            for j, t in enumerate(saved):
                if j != i:
                    g = g * t
            grads.append(g)
        return tuple(grads)
    (winner,) = saved
    if dout.shape != winner.shape:
        raise ValueError(f"dout has shape {tuple(dout.shape)} but the merge output had shape {tuple(winner.shape)}")
    zero = torch.zeros_like(dout)
    return tuple(torch.where(winner == i, dout, zero) for i in range(n))


# ----------------------------------------------------------------------------
# Upsampling
# ----------------------------------------------------------------------------

class UpsampleCache(NamedTuple):
    """What :func:`upsample_backward` needs.

    ``nearest``: ``taps`` is empty and ``scale`` the integer factors.
    ``bilinear``: ``taps`` is ``(i0_h, i1_h, lam_h, i0_w, i1_w, lam_w)``: each
    output row interpolates input rows ``i0_h`` and ``i1_h`` with weights
    ``1 - lam_h`` and ``lam_h`` (same for columns).
    """

    mode: str
    x_shape: tuple[int, ...]
    scale: tuple[float, float]
    taps: tuple[torch.Tensor, ...]


def _linear_taps(in_size: int, out_size: int, scale: float, x: torch.Tensor):
    """Source taps of 1-d linear interpolation, ``align_corners=False``.

    Output pixel ``i`` has centre ``(i + 0.5) / scale`` in input coordinates,
    i.e. source position ``(i + 0.5) / scale - 0.5``, clamped at 0; it mixes the
    two nearest input pixels (the last pixel is repeated at the far edge).
    """
    src = ((torch.arange(out_size, dtype=torch.float64, device=x.device) + 0.5) * (1.0 / scale) - 0.5).clamp_min(0)
    i0 = src.floor().long().clamp_max(in_size - 1)
    i1 = (i0 + 1).clamp_max(in_size - 1)
    lam = (src - i0).to(x.dtype)
    return i0, i1, lam


def upsample_forward(x: torch.Tensor, *, scale_factor: float | tuple[float, float], mode: str = "nearest"
                     ) -> tuple[torch.Tensor, UpsampleCache]:
    """Upsample images by ``scale_factor``.

    Args:
        x: (N, C, H, W).
        scale_factor: ``s`` or ``(s_h, s_w)``.  ``"nearest"`` needs positive
            integers (each pixel becomes an ``s_h x s_w`` block); ``"bilinear"``
            takes any positive numbers.
        mode: ``"nearest"`` or ``"bilinear"``; the latter matches
            ``F.interpolate(x, scale_factor=..., mode="bilinear", align_corners=False)``.
    Returns:
        out: (N, C, floor(H * s_h), floor(W * s_w)), and the cache for
        :func:`upsample_backward`.
    """
    check_tensor("x", x, 4)
    if isinstance(scale_factor, (tuple, list)):
        if len(scale_factor) != 2:
            raise ValueError(f"scale_factor must be a number or a pair (s_h, s_w), got {scale_factor!r}")
        sh, sw = scale_factor
    else:
        sh = sw = scale_factor
    n, c, h, w = x.shape
    if mode == "nearest":
        if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in (sh, sw)):
            raise ValueError(f'mode="nearest" needs positive integer scale factors, got {scale_factor!r}')
        out = x[:, :, :, None, :, None].expand(n, c, h, sh, w, sw).reshape(n, c, h * sh, w * sw)
        return out, UpsampleCache(mode, tuple(x.shape), (sh, sw), ())
    if mode != "bilinear":
        raise ValueError(f'mode must be "nearest" or "bilinear", got {mode!r}')
    if not all(isinstance(s, (int, float)) and not isinstance(s, bool) and s > 0 for s in (sh, sw)):
        raise ValueError(f"scale factors must be positive numbers, got {scale_factor!r}")
    ho, wo = math.floor(h * sh), math.floor(w * sw)
    if ho < 1 or wo < 1:
        raise ValueError(f"scale_factor {scale_factor!r} turns the input size {(h, w)} into an empty output {(ho, wo)}")
    i0h, i1h, lh = _linear_taps(h, ho, float(sh), x)
    i0w, i1w, lw = _linear_taps(w, wo, float(sw), x)
    lh_col = lh[:, None]
    rows = x.index_select(2, i0h) * (1 - lh_col) + x.index_select(2, i1h) * lh_col
    out = rows.index_select(3, i0w) * (1 - lw) + rows.index_select(3, i1w) * lw
    return out, UpsampleCache(mode, tuple(x.shape), (float(sh), float(sw)), (i0h, i1h, lh, i0w, i1w, lw))


def upsample_backward(dout: torch.Tensor, cache: UpsampleCache) -> torch.Tensor:
    """Gradient of upsampling.

    nearest: each input pixel receives the sum of ``dout`` over its ``s_h x s_w`` block.
    bilinear: each output pixel's gradient is sent back to its (up to) four
    source pixels with the interpolation weights (the transpose of the forward).
    dout: (N, C, H_out, W_out).  Returns dx: (N, C, H, W).
    """
    mode, x_shape, scale, taps = cache
    check_tensor("dout", dout, 4)
    n, c, h, w = x_shape
    if mode == "nearest":
        sh, sw = scale
        if tuple(dout.shape) != (n, c, h * sh, w * sw):
            raise ValueError(f"dout has shape {tuple(dout.shape)}, expected {(n, c, h * sh, w * sw)}")
        return dout.reshape(n, c, h, sh, w, sw).sum(dim=(3, 5))
    i0h, i1h, lh, i0w, i1w, lw = taps
    want = (n, c, i0h.shape[0], i0w.shape[0])
    if tuple(dout.shape) != want:
        raise ValueError(f"dout has shape {tuple(dout.shape)}, expected {want}")
    drows = dout.new_zeros(n, c, want[2], w)
    drows.index_add_(3, i0w, dout * (1 - lw))
    drows.index_add_(3, i1w, dout * lw)
    lh_col = lh[:, None]
    dx = dout.new_zeros(n, c, h, w)
    dx.index_add_(2, i0h, drows * (1 - lh_col))
    dx.index_add_(2, i1h, drows * lh_col)
    return dx
