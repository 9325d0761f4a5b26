"""Shape arithmetic of convolution layers: output sizes, receptive fields,
parameter and multiply-add counts.

All sizes are numbers of pixels (or samples, in 1-D) along one spatial
dimension; the formulas apply to each dimension separately.  With input size
``n``, kernel size ``k``, zero padding ``p`` on each side, stride ``s`` and
dilation ``d``, a dilated kernel covers ``d * (k - 1) + 1`` pixels and a
convolution produces

    floor((n + 2p - d(k - 1) - 1) / s) + 1

outputs.  With ``d = 1`` this is the familiar ``(N - F + 2P) / S + 1``.
"""
from __future__ import annotations

import math
from typing import Iterable, NamedTuple, Sequence

from ._checks import check_int as _check_int
from ._checks import pair as _pair

__all__ = [
    "conv_output_size",
    "conv_transpose_output_size",
    "ReceptiveField",
    "receptive_field",
    "conv_layer_params",
    "conv_layer_macs",
]


def conv_output_size(n: int, kernel: int, padding: int = 0, stride: int = 1, dilation: int = 1, *,
                     strict: bool = False, dim_name: str = "input") -> int:
    """Output size of a convolution along one dimension.

    Args:
        n: input size (pixels).
        kernel: kernel size ``k``.
        padding: zeros added on *each* side.
        stride: step between windows.
        dilation: spacing between kernel taps (1: adjacent).
        strict: if True, also require that the windows tile the padded input
            exactly, i.e. that ``(n + 2p - d(k - 1) - 1) / s`` is an integer
            (the slides' "must be an integer" rule; with ``strict=False`` the
            last pixels that no window reaches are simply dropped, as in torch).
        dim_name: what the dimension is called in error messages ("height", ...).
    Returns:
        ``floor((n + 2p - d(k - 1) - 1) / s) + 1``.
    Raises:
        ValueError: if the (dilated) kernel is larger than the padded input, or
            (with ``strict``) if the stride does not tile the input exactly.
    """
    _check_int("n", n, 0)
    _check_int("kernel", kernel, 1)
    _check_int("padding", padding, 0)
    _check_int("stride", stride, 1)
    _check_int("dilation", dilation, 1)
    extent = dilation * (kernel - 1) + 1
    padded = n + 2 * padding
    if extent > padded:
        dilated = f" (dilation {dilation} makes it span {extent})" if dilation > 1 else ""
        raise ValueError(f"{dim_name}: the kernel of size {kernel}{dilated} does not fit in the input of size {n} "
                         f"padded by {padding} on each side ({padded}); the output size would be "
                         f"{(padded - extent) // stride + 1} <= 0")
    span = padded - extent
    if strict and span % stride:
        raise ValueError(f"{dim_name}: (n + 2p - d(k-1) - 1) / s = ({n} + 2*{padding} - {dilation}*({kernel}-1) - 1) / "
                         f"{stride} = {span}/{stride} is not an integer; the stride does not tile the input exactly")
    return span // stride + 1


def conv_transpose_output_size(n: int, kernel: int, padding: int = 0, stride: int = 1, dilation: int = 1,
                               output_padding: int = 0, *, dim_name: str = "input") -> int:
    """Output size of a transposed convolution along one dimension.

    The transposed convolution maps an output of :func:`conv_output_size` back
    to an input size: ``(n - 1) s - 2p + d(k - 1) + output_padding + 1``.
    Because a strided convolution maps several input sizes to the same output
    size, ``output_padding`` (``0 <= output_padding < max(stride, dilation)``)
    picks the larger ones.

    Args:
        n: input size of the transposed convolution (pixels).
        kernel, padding, stride, dilation: as for the convolution it transposes.
        output_padding: extra pixels added on one side (bottom/right) of the output.
        dim_name: what the dimension is called in error messages.
    Raises:
        ValueError: if ``output_padding`` is too large or the output size is <= 0.
    """
    _check_int("n", n, 0)
    _check_int("kernel", kernel, 1)
    _check_int("padding", padding, 0)
    _check_int("stride", stride, 1)
    _check_int("dilation", dilation, 1)
    _check_int("output_padding", output_padding, 0)
    if output_padding >= max(stride, dilation):
        raise ValueError(f"{dim_name}: output_padding must be smaller than the stride or the dilation, got "
                         f"output_padding={output_padding} with stride={stride}, dilation={dilation}")
    size = (n - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1
    if size <= 0:
        raise ValueError(f"{dim_name}: the transposed convolution output size "
                         f"(n-1)s - 2p + d(k-1) + output_padding + 1 = ({n}-1)*{stride} - 2*{padding} + "
                         f"{dilation}*({kernel}-1) + {output_padding} + 1 = {size} <= 0")
    return size


class ReceptiveField(NamedTuple):
    """Receptive field of one unit of a layer, measured in input pixels.

    ``size``: how many input pixels (along one dimension) influence the unit.
    ``jump``: how many input pixels apart two neighbouring units of the layer are
    (the product of the strides so far).
    """

    size: int
    jump: int


def receptive_field(layers: Iterable[Sequence[int]]) -> ReceptiveField:
    """Receptive field of the last of a stack of convolution/pooling layers.

    Each layer is ``(kernel, stride)`` or ``(kernel, stride, dilation)``.  With
    ``r_0 = 1`` and ``j_0 = 1`` (one input pixel), layer ``l`` gives

        r_l = r_{l-1} + d_l (k_l - 1) j_{l-1},    j_l = j_{l-1} s_l.

    Padding does not change the size (it only shifts where windows start).

    Example: three 3x3 stride-1 convolutions see 7x7 pixels, like one 7x7:
    ``receptive_field([(3, 1)] * 3) == ReceptiveField(size=7, jump=1)``.

    Returns:
        :class:`ReceptiveField` ``(size, jump)``; ``(1, 1)`` for no layers.
    """
    size, jump = 1, 1
    for i, layer in enumerate(layers):
        layer = tuple(layer)
        if len(layer) not in (2, 3):
            raise ValueError(f"layer {i} must be (kernel, stride) or (kernel, stride, dilation), got {layer!r}")
        kernel = _check_int(f"layer {i} kernel", layer[0], 1)
        stride = _check_int(f"layer {i} stride", layer[1], 1)
        dilation = _check_int(f"layer {i} dilation", layer[2], 1) if len(layer) == 3 else 1
        size += dilation * (kernel - 1) * jump
        jump *= stride
    return ReceptiveField(size, jump)


def conv_layer_params(in_ch: int, out_ch: int, kernel, bias: bool = True, groups: int = 1) -> int:
    """Number of learnable parameters of a 2-D convolution layer.

    ``out_ch * (in_ch / groups) * kh * kw`` weights plus ``out_ch`` biases.

    Args:
        in_ch, out_ch: input and output channels (both divisible by ``groups``).
        kernel: ``k`` or ``(kh, kw)``.
        bias: whether the layer has one bias per output channel.
        groups: channel groups (``in_ch`` for a depthwise convolution).
    """
    _check_int("in_ch", in_ch, 1)
    _check_int("out_ch", out_ch, 1)
    _check_int("groups", groups, 1)
    kh, kw = _pair("kernel", kernel, 1)
    if in_ch % groups or out_ch % groups:
        raise ValueError(f"groups={groups} must divide both in_ch={in_ch} and out_ch={out_ch}")
    return out_ch * (in_ch // groups) * kh * kw + (out_ch if bias else 0)


def conv_layer_macs(in_ch: int, out_ch: int, kernel, input_size, *, stride=1, padding=0, dilation=1,
                    groups: int = 1, batch: int = 1) -> int:
    """Multiply-adds (MACs) of one forward pass of a 2-D convolution layer.

    Each of the ``out_ch * out_h * out_w`` outputs (per example) is a dot
    product of length ``(in_ch / groups) * kh * kw``; bias additions are not
    counted.  For example AlexNet's first layer (96 filters 11x11x3, stride 4,
    227x227 input) does ``55 * 55 * 96 * 363 = 105,415,200`` MACs.

    Args:
        in_ch, out_ch, kernel, groups: as in :func:`conv_layer_params`.
        input_size: ``n`` or ``(h, w)``, the spatial size of the input.
        stride, padding, dilation: int or ``(h, w)`` pair.
        batch: number of examples.
    """
    _check_int("in_ch", in_ch, 1)
    _check_int("out_ch", out_ch, 1)
    _check_int("groups", groups, 1)
    _check_int("batch", batch, 0)
    if in_ch % groups or out_ch % groups:
        raise ValueError(f"groups={groups} must divide both in_ch={in_ch} and out_ch={out_ch}")
    kernel = _pair("kernel", kernel, 1)
    size = _pair("input_size", input_size, 0)
    stride, padding, dilation = _pair("stride", stride, 1), _pair("padding", padding, 0), _pair("dilation", dilation, 1)
    out = [conv_output_size(size[i], kernel[i], padding[i], stride[i], dilation[i], dim_name=("height", "width")[i])
           for i in range(2)]
    return batch * out_ch * math.prod(out) * (in_ch // groups) * kernel[0] * kernel[1]
