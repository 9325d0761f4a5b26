"""2-D convolution and transposed convolution layers, forward and backward.

Shapes: ``N`` examples, ``C`` input channels, ``F`` filters (output channels),
``H x W`` input size, ``KH x KW`` kernel size, ``OH x OW`` output size.  With
``groups = G`` the channels are split into ``G`` groups; filter ``f`` sees only
the ``C / G`` input channels of its group, so ``w`` is ``(F, C / G, KH, KW)``.

Like every deep-learning library, the layer computes a cross-correlation (the
kernel is not flipped)::

    out[n, f, i, j] = b[f] + sum_{c, u, v} w[f, c, u, v] * xpad[n, g(f)*C/G + c, i*sh + u*dh, j*sw + v*dw]

where ``xpad`` is ``x`` with ``padding`` zeros on each side and the output size is
``floor((H + 2ph - dh(KH - 1) - 1) / sh) + 1`` (see :mod:`course_lib.shapes`).

Two implementations give the same numbers:

* ``conv2d_forward_naive`` / ``conv2d_backward_naive`` loop over output
  positions, one small dot product per position: the definition, for reading.
* ``conv2d_forward`` / ``conv2d_backward`` rewrite the layer as a matrix
  product: :func:`im2col` copies every receptive field into a column, the
  filters become the rows of a matrix, and the backward pass scatters the
  column gradients back with :func:`col2im`.  The columns of the whole batch
  form one matrix per channel group (examples side by side), so each pass is
  one large matrix product that keeps every CPU thread busy, with no Python
  loop over examples.  A stride-1 layer with one group skips the copy: with
  the padded input stored channel-major, (C, N*Hp*Wp), the pixels that tap
  ``(u, v)`` reads for every output position are one slice of columns (a
  view), so the layer is ``KH*KW`` matrix products ``w[:, :, u, v] @ slice``
  added up (:func:`_shifted_forward`); the backward pass reverses each.

The backward pass of a convolution is again a convolution: ``dw`` correlates
the input with the output gradient, and ``dx`` is a full ("wide") convolution
of the output gradient with the kernel — which is exactly what a transposed
convolution computes, so :func:`conv_transpose2d_forward` reuses
:func:`col2im` and its backward reuses :func:`im2col`.

Everything runs on the device and dtype of its inputs (``meta`` tensors too,
for shape-only runs).
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from .._checks import check_dout, check_same, check_tensor, pair
from ..shapes import conv_output_size, conv_transpose_output_size

__all__ = [
    "ConvCache",
    "ConvTransposeCache",
    "im2col",
    "col2im",
    "conv2d_forward",
    "conv2d_backward",
    "conv2d_forward_naive",
    "conv2d_backward_naive",
    "conv_transpose2d_forward",
    "conv_transpose2d_backward",
]

Pair = tuple[int, int]


class ConvCache(NamedTuple):
    """What :func:`conv2d_backward` needs.

    ``x`` (N, C, H, W) and ``w`` (F, C/groups, KH, KW) are the layer's inputs;
    ``has_bias`` says whether a bias was given (its gradient is ``None`` if
    not); ``stride``, ``padding``, ``dilation`` are (height, width) pairs.  The
    vectorised backward recomputes the :func:`im2col` columns rather than
    keeping them: they are KH*KW times the size of ``x``.
    """

    x: torch.Tensor
    w: torch.Tensor
    has_bias: bool
    stride: Pair
    padding: Pair
    dilation: Pair
    groups: int


class ConvTransposeCache(NamedTuple):
    """What :func:`conv_transpose2d_backward` needs: the inputs ``x`` (N, C_in, H, W),
    ``w`` (C_in, C_out/groups, KH, KW), whether there was a bias, and the layer's settings."""

    x: torch.Tensor
    w: torch.Tensor
    has_bias: bool
    stride: Pair
    padding: Pair
    output_padding: Pair
    dilation: Pair
    groups: int


# --------------------------------------------------------------------------- checks


def _check_groups(groups) -> int:
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"groups must be a positive int, got {groups!r}")
    return groups


def _check_inputs(x, w, b) -> None:
    check_tensor("x", x, 4)
    check_tensor("w", w, 4)
    check_same("x", x, "w", w)
    if b is not None:
        check_tensor("b", b, 1)
        check_same("x", x, "b", b)


def _conv_settings(x, w, b, stride, padding, dilation, groups):
    """Validate a convolution's arguments; return (stride, padding, dilation, groups, (OH, OW))."""
    _check_inputs(x, w, b)
    stride, padding, dilation = pair("stride", stride, 1), pair("padding", padding, 0), pair("dilation", dilation, 1)
    groups = _check_groups(groups)
    _, c, h, wd = x.shape
    f, c_per_group, kh, kw = w.shape
    if c % groups:
        raise ValueError(f"groups={groups} does not divide the {c} input channels of x (shape {tuple(x.shape)})")
    if f % groups:
        raise ValueError(f"groups={groups} does not divide the {f} filters of w (shape {tuple(w.shape)})")
    if c_per_group * groups != c:
        raise ValueError(f"channel mismatch: x has {c} channels (shape {tuple(x.shape)}) but w "
                         f"(shape {tuple(w.shape)}) expects w.shape[1] * groups = {c_per_group} * {groups} = "
                         f"{c_per_group * groups}")
    if b is not None and b.shape[0] != f:
        raise ValueError(f"b has shape {tuple(b.shape)} but w has {f} filters; b must be ({f},)")
    out_hw = tuple(conv_output_size(n, k, p, s, d, dim_name=name)
                   for n, k, p, s, d, name in zip((h, wd), (kh, kw), padding, stride, dilation, ("height", "width")))
    return stride, padding, dilation, groups, out_hw


# --------------------------------------------------------------------------- im2col / col2im


def _pad(x: torch.Tensor, padding: Pair) -> torch.Tensor:
    """x (N, C, H, W) with ``padding`` zeros on each side of H and W."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    n, c, h, w = x.shape
    xp = x.new_zeros(n, c, h + 2 * ph, w + 2 * pw)
    xp[:, :, ph:ph + h, pw:pw + w] = x
    return xp


def _windows(x: torch.Tensor, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair, out_hw: Pair) -> torch.Tensor:
    """All receptive fields of the padded ``x`` as a view (N, C, OH, OW, KH, KW), no copy."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, stride, dilation, out_hw
    xp = _pad(x, padding)
    # window (i, j), tap (u, v) is padded pixel (i*sh + u*dh, j*sw + v*dw): stepping i moves sh rows,
    # stepping u moves dh rows, so the windows are one strided view of the same memory
    s_n, s_c, s_h, s_w = xp.stride()
    return xp.as_strided((xp.shape[0], xp.shape[1], oh, ow, kh, kw),
                         (s_n, s_c, sh * s_h, sw * s_w, dh * s_h, dw * s_w), xp.storage_offset())


def _im2col(x, kernel, stride, padding, dilation, out_hw) -> torch.Tensor:
    """(N, C*KH*KW, OH*OW): rows (c, u, v) match w.reshape(F, C*KH*KW); columns are output pixels."""
    n, c = x.shape[:2]
    (kh, kw), (oh, ow) = kernel, out_hw
    return _windows(x, kernel, stride, padding, dilation, out_hw).permute(0, 1, 4, 5, 2, 3).reshape(
        n, c * kh * kw, oh * ow)


def _group_columns(xp: torch.Tensor, groups: int, kernel: Pair, stride: Pair, dilation: Pair,
                   out_hw: Pair) -> torch.Tensor:
    """The columns of the whole batch, one matrix per channel group: (G, C/G*KH*KW, N*OH*OW).

    Rows (c, u, v) within a group match ``w.reshape(G, F/G, C/G*KH*KW)``; columns run over
    examples and output pixels, so one matrix product per group covers the whole batch
    (a product large enough for every thread of the CPU, and no Python loop over examples).
    """
    n, (oh, ow) = xp.shape[0], out_hw
    # (N, G, C/G, OH, OW, KH, KW)
    win = _windows(xp, kernel, stride, (0, 0), dilation, out_hw).unflatten(1, (groups, -1))
    return win.permute(1, 2, 5, 6, 0, 3, 4).reshape(groups, -1, n * oh * ow)


def _group_major(t: torch.Tensor, groups: int) -> torch.Tensor:
    """(N, C, H, W) -> (G, C/G, N*H*W): channels of each group as rows, examples and pixels as columns."""
    n, c, h, w = t.shape
    return t.reshape(n, groups, c // groups, h * w).permute(1, 2, 0, 3).reshape(groups, c // groups, n * h * w)


def _batch_major(t: torch.Tensor, n: int, hw: Pair) -> torch.Tensor:
    """The inverse of :func:`_group_major`: (G, C/G, N*H*W) -> contiguous (N, C, H, W)."""
    return t.reshape(-1, n, *hw).transpose(0, 1).contiguous()


def _col2im_add(cols: torch.Tensor, xp: torch.Tensor, stride: Pair, dilation: Pair) -> None:
    """Add columns ``cols`` (N, C, KH, KW, OH, OW), any strides, onto the padded image ``xp`` (N, C, Hp, Wp)
    they were copied from."""
    (sh, sw), (dh, dw) = stride, dilation
    kh, kw, oh, ow = cols.shape[2:]
    for u in range(kh):
        for v in range(kw):
            # tap (u, v) of window (i, j) read padded pixel (i*sh + u*dh, j*sw + v*dw): one strided slice per tap
            xp[:, :, u * dh:u * dh + sh * (oh - 1) + 1:sh, v * dw:v * dw + sw * (ow - 1) + 1:sw] += cols[:, :, u, v]


def _group_columns_add(cols: torch.Tensor, xp: torch.Tensor, kernel: Pair, stride: Pair, dilation: Pair,
                       out_hw: Pair) -> None:
    """The adjoint of :func:`_group_columns`: add ``cols`` (G, C/G*KH*KW, N*OH*OW) onto ``xp`` (N, C, Hp, Wp)."""
    n, c = xp.shape[:2]
    groups = cols.shape[0]
    cols6 = cols.reshape(groups, c // groups, *kernel, n, *out_hw).permute(4, 0, 1, 2, 3, 5, 6).flatten(1, 2)
    _col2im_add(cols6, xp, stride, dilation)


def _unpad(xp: torch.Tensor, padding: Pair) -> torch.Tensor:
    """Strip ``padding`` pixels from each side of H and W (a contiguous copy if there are any)."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return xp
    return xp[:, :, ph:xp.shape[2] - ph, pw:xp.shape[3] - pw].contiguous()


def _check_im2col_settings(kernel_size, stride, padding, dilation, hw):
    kernel = pair("kernel_size", kernel_size, 1)
    stride, padding, dilation = pair("stride", stride, 1), pair("padding", padding, 0), pair("dilation", dilation, 1)
    out_hw = tuple(conv_output_size(size, k, p, s, d, dim_name=name)
                   for size, k, p, s, d, name in zip(hw, kernel, padding, stride, dilation, ("height", "width")))
    return kernel, stride, padding, dilation, out_hw


def im2col(x: torch.Tensor, kernel_size, stride=1, padding=0, dilation=1) -> torch.Tensor:
    """Copy every receptive field of ``x`` into a column.

    Args:
        x: (N, C, H, W) input.
        kernel_size, stride, padding, dilation: int or (height, width) pair.
    Returns:
        cols: (N, C*KH*KW, OH*OW).  For example ``n``, column ``i*OW + j`` is
        the receptive field of output pixel ``(i, j)``; its row
        ``(c*KH + u)*KW + v`` holds tap ``(u, v)`` of channel ``c``, the order of
        ``w.reshape(F, -1)``.  So ``w.reshape(F, -1) @ cols`` (N, F, OH*OW) is
        the convolution.  (The layout of ``torch.nn.functional.unfold``.)
    """
    check_tensor("x", x, 4, floating=False)
    kernel, stride, padding, dilation, out_hw = _check_im2col_settings(kernel_size, stride, padding, dilation,
                                                                       x.shape[2:])
    return _im2col(x, kernel, stride, padding, dilation, out_hw)


def col2im(cols: torch.Tensor, x_shape, kernel_size, stride=1, padding=0, dilation=1) -> torch.Tensor:
    """The adjoint of :func:`im2col`: add every column back onto the pixels it was copied from.

    A pixel that lies in several receptive fields receives the sum of their
    entries; this is how the gradient of the columns becomes the gradient of
    the input.  (It is *not* the inverse of :func:`im2col` where windows overlap.)

    Args:
        cols: (N, C*KH*KW, OH*OW), laid out as :func:`im2col` returns.
        x_shape: (N, C, H, W), the shape of the image the columns came from.
        kernel_size, stride, padding, dilation: int or (height, width) pair.
    Returns:
        (N, C, H, W) tensor (padding stripped).
    """
    check_tensor("cols", cols, 3, floating=False)
    if len(x_shape) != 4:
        raise ValueError(f"x_shape must be (N, C, H, W), got {tuple(x_shape)}")
    n, c, h, w = (int(s) for s in x_shape)
    kernel, stride, padding, dilation, out_hw = _check_im2col_settings(kernel_size, stride, padding, dilation, (h, w))
    expected = (n, c * kernel[0] * kernel[1], out_hw[0] * out_hw[1])
    if tuple(cols.shape) != expected:
        raise ValueError(f"cols has shape {tuple(cols.shape)}, but im2col of an image {tuple(x_shape)} with these "
                         f"settings has shape {expected}")
    xp = cols.new_zeros(n, c, h + 2 * padding[0], w + 2 * padding[1])
    _col2im_add(cols.reshape(n, c, *kernel, *out_hw), xp, stride, dilation)
    return _unpad(xp, padding)


def _channel_major(x: torch.Tensor, padding: Pair) -> torch.Tensor:
    """x (N, C, H, W) -> zero-padded, channel-major and contiguous (C, N, H + 2ph, W + 2pw)."""
    n, c, h, w = x.shape
    ph, pw = padding
    xp = x.new_zeros(c, n, h + 2 * ph, w + 2 * pw)
    xp[:, :, ph:ph + h, pw:pw + w] = x.transpose(0, 1)
    return xp


def _tap_offsets(kernel: Pair, dilation: Pair, padded_width: int) -> list[tuple[int, int, int]]:
    """``(u, v, offset)`` per kernel tap: tap (u, v) of the window at flat position ``p`` of a padded
    image row-major (N, Hp, Wp) reads flat position ``p + offset``, ``offset = u*dh*Wp + v*dw``."""
    (kh, kw), (dh, dw) = kernel, dilation
    return [(u, v, u * dh * padded_width + v * dw) for u in range(kh) for v in range(kw)]


def _shifted_forward(x: torch.Tensor, w: torch.Tensor, padding: Pair, dilation: Pair, out_hw: Pair) -> torch.Tensor:
    """Stride 1, one group: ``out = sum over taps (u, v) of w[:, :, u, v] @ (x shifted by the tap)``.

    With the padded input channel-major, (C, N*Hp*Wp), shifting by a tap is a slice of
    columns, a view, so each tap is one matrix product over the whole batch with no
    im2col copy.  The products are computed at every position of the padded grid
    (N, Hp, Wp), of which (N, OH, OW) are the outputs.
    """
    n = x.shape[0]
    f, _, kh, kw = w.shape
    xp = _channel_major(x, padding)
    _, _, hp, wp = xp.shape
    taps = _tap_offsets((kh, kw), dilation, wp)
    span = n * hp * wp - taps[-1][2]              # grid positions whose every tap lies inside the batch
    flat = xp.view(xp.shape[0], -1)
    out = x.new_zeros(f, n * hp * wp)
    for u, v, offset in taps:
        out[:, :span].addmm_(w[:, :, u, v], flat[:, offset:offset + span])
    return out.view(f, n, hp, wp)[:, :, :out_hw[0], :out_hw[1]].transpose(0, 1).contiguous()


def _shifted_backward(dout: torch.Tensor, x: torch.Tensor, w: torch.Tensor, padding: Pair,
                      dilation: Pair) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients of :func:`_shifted_forward`: per tap, ``dw[:, :, u, v] = dout @ shifted(x).T`` and
    ``dout`` times ``w[:, :, u, v].T`` is added back onto the shifted input."""
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    xp = _channel_major(x, padding)
    _, _, hp, wp = xp.shape
    taps = _tap_offsets((kh, kw), dilation, wp)
    span = n * hp * wp - taps[-1][2]
    flat = xp.view(c, -1)
    grid = dout.new_zeros(f, n, hp, wp)           # dout on the padded grid, zero where there is no output
    grid[:, :, :dout.shape[2], :dout.shape[3]] = dout.transpose(0, 1)
    grid = grid.view(f, -1)[:, :span]
    dflat = torch.zeros_like(flat)
    dw = w.new_empty(kh, kw, f, c)
    for u, v, offset in taps:
        torch.mm(grid, flat[:, offset:offset + span].T, out=dw[u, v])
        dflat[:, offset:offset + span].addmm_(w[:, :, u, v].T, grid)
    ph, pw = padding
    dx = dflat.view(c, n, hp, wp)[:, :, ph:ph + h, pw:pw + wd].transpose(0, 1).contiguous()
    return dx, dw.permute(2, 3, 0, 1).contiguous()


# --------------------------------------------------------------------------- convolution, vectorised


def conv2d_forward(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None, *, stride=1, padding=0,
                   dilation=1, groups: int = 1) -> tuple[torch.Tensor, ConvCache]:
    """2-D convolution layer (cross-correlation), vectorised: matrix products over the whole batch
    (one per kernel tap at stride 1 with one group, else one after im2col).

    Args:
        x: (N, C, H, W) input.
        w: (F, C/groups, KH, KW) filters.
        b: (F,) biases, or None.
        stride, padding, dilation: int or (height, width) pair; ``padding`` zeros on each side.
        groups: number of channel groups; must divide C and F.
    Returns:
        out: (N, F, OH, OW) with ``OH = floor((H + 2ph - dh(KH-1) - 1) / sh) + 1``
        (likewise OW), and the cache for :func:`conv2d_backward`.
    """
    stride, padding, dilation, groups, (oh, ow) = _conv_settings(x, w, b, stride, padding, dilation, groups)
    n = x.shape[0]
    f, cg, kh, kw = w.shape
    if stride == (1, 1) and groups == 1:
        out = _shifted_forward(x, w, padding, dilation, (oh, ow))
    else:
        cols = _group_columns(_pad(x, padding), groups, (kh, kw), stride, dilation, (oh, ow))  # (G, C/G*KH*KW, N*OH*OW)
        out = _batch_major(torch.matmul(w.reshape(groups, f // groups, cg * kh * kw), cols), n, (oh, ow))
    if b is not None:
        out += b.view(1, f, 1, 1)
    return out, ConvCache(x, w, b is not None, stride, padding, dilation, groups)


def conv2d_backward(dout: torch.Tensor, cache: ConvCache
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Gradients of the convolution layer, vectorised.

    ``dw`` is the product of the output gradient with the im2col columns (a
    correlation of the input with ``dout``); ``dx`` multiplies ``dout`` by the
    transposed filter matrix and adds the columns back with :func:`col2im` (a
    full convolution of ``dout`` with the kernel).

    Args:
        dout: (N, F, OH, OW) upstream gradient.
        cache: from :func:`conv2d_forward` (or :func:`conv2d_forward_naive`).
    Returns:
        dx: (N, C, H, W), dw: (F, C/groups, KH, KW), db: (F,) or None if there was no bias.
    """
    x, w, has_bias, stride, padding, dilation, groups = cache
    n, c = x.shape[:2]
    f, cg, kh, kw = w.shape
    oh, ow = (conv_output_size(size, k, p, s, d) for size, k, p, s, d in
              zip(x.shape[2:], (kh, kw), padding, stride, dilation))
    check_dout(dout, (n, f, oh, ow), "convolution", like=x)
    db = dout.sum(dim=(0, 2, 3)) if has_bias else None
    if stride == (1, 1) and groups == 1:
        return (*_shifted_backward(dout, x, w, padding, dilation), db)
    xp = _pad(x, padding)
    cols = _group_columns(xp, groups, (kh, kw), stride, dilation, (oh, ow))   # (G, C/G*KH*KW, N*OH*OW)
    dout_mat = _group_major(dout, groups)                                    # (G, F/G, N*OH*OW)
    dw = torch.matmul(dout_mat, cols.transpose(1, 2))                        # (G, F/G, C/G*KH*KW)
    dcols = torch.matmul(w.reshape(groups, f // groups, cg * kh * kw).transpose(1, 2), dout_mat)
    dxp = torch.zeros_like(xp, memory_format=torch.contiguous_format)        # gradient of the padded input
    _group_columns_add(dcols, dxp, (kh, kw), stride, dilation, (oh, ow))
    return _unpad(dxp, padding), dw.reshape(w.shape), db


# --------------------------------------------------------------------------- convolution, naive loops


def conv2d_forward_naive(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None, *, stride=1, padding=0,
                         dilation=1, groups: int = 1) -> tuple[torch.Tensor, ConvCache]:
    """2-D convolution layer by its definition: a loop over output positions.

    Same arguments, result and cache as :func:`conv2d_forward` (x: (N, C, H, W), w: (F, C/groups, KH, KW),
    b: (F,) or None); slow, for reading.
    """
    (sh, sw), padding, (dh, dw), groups, (oh, ow) = _conv_settings(x, w, b, stride, padding, dilation, groups)
    n = x.shape[0]
    f, cg, kh, kw = w.shape
    fg = f // groups
    xp = _pad(x, padding)
    out = x.new_zeros(n, f, oh, ow)
    for i in range(oh):
        for j in range(ow):
            # the receptive field of output pixel (i, j): (N, C, KH, KW)
            field = xp[:, :, i * sh:i * sh + dh * (kh - 1) + 1:dh, j * sw:j * sw + dw * (kw - 1) + 1:dw]
            for g in range(groups):
                x_g = field[:, g * cg:(g + 1) * cg]                      # (N, C/groups, KH, KW)
                w_g = w[g * fg:(g + 1) * fg]                             # (F/groups, C/groups, KH, KW)
                out[:, g * fg:(g + 1) * fg, i, j] = torch.tensordot(x_g, w_g, dims=([1, 2, 3], [1, 2, 3]))
    if b is not None:
        out += b.view(1, f, 1, 1)
    return out, ConvCache(x, w, b is not None, (sh, sw), padding, (dh, dw), groups)


def conv2d_backward_naive(dout: torch.Tensor, cache: ConvCache
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Gradients of the convolution layer with the same loop as :func:`conv2d_forward_naive`.

    Each output pixel ``(i, j)`` was a dot product of its receptive field with
    the filters, so it sends ``dout[:, :, i, j]`` times the filters back to the
    field (into ``dx``) and ``dout[:, :, i, j]`` times the field to the filters
    (into ``dw``); fields that overlap add up.

    Args:
        dout: (N, F, OH, OW) upstream gradient.
        cache: from :func:`conv2d_forward_naive` (or :func:`conv2d_forward`).
    Returns:
        dx: (N, C, H, W), dw: (F, C/groups, KH, KW), db: (F,) or None.
    """
    x, w, has_bias, (sh, sw), (ph, pw), (dh, dw_), groups = cache
    n, _, h, wd = x.shape
    f, cg, kh, kw = w.shape
    fg = f // groups
    oh, ow = (conv_output_size(size, k, p, s, d) for size, k, p, s, d in
              zip(x.shape[2:], (kh, kw), (ph, pw), (sh, sw), (dh, dw_)))
    check_dout(dout, (n, f, oh, ow), "convolution", like=x)
    xp = _pad(x, (ph, pw))
    dxp = torch.zeros_like(xp)
    dw = torch.zeros_like(w)
    for i in range(oh):
        for j in range(ow):
            rows = slice(i * sh, i * sh + dh * (kh - 1) + 1, dh)
            cols = slice(j * sw, j * sw + dw_ * (kw - 1) + 1, dw_)
            for g in range(groups):
                chans, filters = slice(g * cg, (g + 1) * cg), slice(g * fg, (g + 1) * fg)
                d = dout[:, filters, i, j]                                   # (N, F/groups)
                dw[filters] += torch.tensordot(d, xp[:, chans, rows, cols], dims=([0], [0]))
                dxp[:, chans, rows, cols] += torch.tensordot(d, w[filters], dims=([1], [0]))
    dx = dxp[:, :, ph:ph + h, pw:pw + wd].contiguous()
    db = dout.sum(dim=(0, 2, 3)) if has_bias else None
    return dx, dw, db


# --------------------------------------------------------------------------- transposed convolution


def _conv_transpose_settings(x, w, b, stride, padding, output_padding, dilation, groups):
    _check_inputs(x, w, b)
    stride, padding, dilation = pair("stride", stride, 1), pair("padding", padding, 0), pair("dilation", dilation, 1)
    output_padding = pair("output_padding", output_padding, 0)
    groups = _check_groups(groups)
    _, c_in, h, wd = x.shape
    w_in, c_out_per_group, kh, kw = w.shape
    if c_in % groups:
        raise ValueError(f"groups={groups} does not divide the {c_in} input channels of x (shape {tuple(x.shape)})")
    if w_in != c_in:
        raise ValueError(f"channel mismatch: x has {c_in} channels (shape {tuple(x.shape)}) but w has shape "
                         f"{tuple(w.shape)}; a transposed convolution's w is (C_in, C_out/groups, KH, KW), "
                         f"so w.shape[0] must be {c_in}")
    c_out = c_out_per_group * groups
    if b is not None and b.shape[0] != c_out:
        raise ValueError(f"b has shape {tuple(b.shape)} but the layer has w.shape[1] * groups = {c_out} output "
                         f"channels; b must be ({c_out},)")
    out_hw = tuple(conv_transpose_output_size(n, k, p, s, d, op, dim_name=name) for n, k, p, s, d, op, name in
                   zip((h, wd), (kh, kw), padding, stride, dilation, output_padding, ("height", "width")))
    return stride, padding, output_padding, dilation, groups, out_hw


def conv_transpose2d_forward(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None, *, stride=1, padding=0,
                             output_padding=0, dilation=1, groups: int = 1
                             ) -> tuple[torch.Tensor, ConvTransposeCache]:
    """Transposed ("fractionally strided") convolution: the backward-data pass of
    :func:`conv2d_forward` used as a layer.  Each input pixel scatters a copy of
    the kernel, scaled by its value, onto the output; strided copies spread out.

    Args:
        x: (N, C_in, H, W) input.
        w: (C_in, C_out/groups, KH, KW) filters (torch's layout for transposed convolutions).
        b: (C_out,) biases, or None.
        stride, padding, output_padding, dilation: int or (height, width) pair.  ``padding``
            removes rows/columns from each side of the output; ``output_padding``
            (< max(stride, dilation)) adds them to the bottom/right.
        groups: number of channel groups; must divide C_in.
    Returns:
        out: (N, C_out, OH, OW) with ``OH = (H-1) sh - 2 ph + dh (KH-1) + oph + 1``
        (likewise OW), and the cache for :func:`conv_transpose2d_backward`.
    """
    stride, padding, output_padding, dilation, groups, (oh, ow) = _conv_transpose_settings(
        x, w, b, stride, padding, output_padding, dilation, groups)
    n, c_in, h, wd = x.shape
    _, cog, kh, kw = w.shape
    w_mat = w.reshape(groups, c_in // groups, cog * kh * kw)
    outp = x.new_zeros(n, cog * groups, oh + 2 * padding[0], ow + 2 * padding[1])   # before cropping `padding`
    cols = torch.matmul(w_mat.transpose(1, 2), _group_major(x, groups))   # (G, C_out/G*KH*KW, N*H*W)
    _group_columns_add(cols, outp, (kh, kw), stride, dilation, (h, wd))
    out = _unpad(outp, padding)
    if b is not None:
        out += b.view(1, -1, 1, 1)
    return out, ConvTransposeCache(x, w, b is not None, stride, padding, output_padding, dilation, groups)


def conv_transpose2d_backward(dout: torch.Tensor, cache: ConvTransposeCache
                              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Gradients of the transposed convolution: ``dx`` is an ordinary convolution of
    ``dout`` with ``w`` (im2col and a matrix product), ``dw`` pairs ``x`` with the
    columns of ``dout``.

    Args:
        dout: (N, C_out, OH, OW) upstream gradient.
        cache: from :func:`conv_transpose2d_forward`.
    Returns:
        dx: (N, C_in, H, W), dw: (C_in, C_out/groups, KH, KW), db: (C_out,) or None.
    """
    x, w, has_bias, stride, padding, output_padding, dilation, groups = cache
    n, c_in, h, wd = x.shape
    _, cog, kh, kw = w.shape
    out_hw = tuple(conv_transpose_output_size(size, k, p, s, d, op) for size, k, p, s, d, op in
                   zip((h, wd), (kh, kw), padding, stride, dilation, output_padding))
    check_dout(dout, (n, cog * groups, *out_hw), "transposed convolution", like=x)
    # the columns of dout for a convolution whose output is x's size (H, W)
    cols = _group_columns(_pad(dout, padding), groups, (kh, kw), stride, dilation, (h, wd))
    dx = _batch_major(torch.matmul(w.reshape(groups, c_in // groups, cog * kh * kw), cols), n, (h, wd))
    dw = torch.matmul(_group_major(x, groups), cols.transpose(1, 2))      # (G, C_in/G, C_out/G*KH*KW)
    db = dout.sum(dim=(0, 2, 3)) if has_bias else None
    return dx, dw.reshape(w.shape), db
