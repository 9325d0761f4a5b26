"""Hypothesis strategies shared by the tests: seeded random tensors in several
memory layouts (including non-contiguous ones) and convolution settings that
always give a non-empty output.  ``case.settings`` uses torch's option names, so it
is passed unchanged to course_lib and to ``torch.nn.functional``."""
from __future__ import annotations

from typing import NamedTuple

import torch
from hypothesis import assume
from hypothesis import strategies as st

__all__ = [
    "seeds",
    "float_dtypes",
    "LAYOUTS",
    "make_tensor",
    "tensors",
    "noncontiguous_tensors",
    "ConvCase",
    "conv2d_cases",
    "ConvTransposeCase",
    "conv_transpose2d_cases",
]

seeds = st.integers(0, 2**31 - 1)
float_dtypes = st.sampled_from([torch.float32, torch.float64])

#: memory layouts :func:`make_tensor` can produce; all but "contiguous" are
#: non-contiguous whenever the tensor has two or more elements along some dimension.
LAYOUTS = ("contiguous", "strided", "transposed", "channels_last")


def make_tensor(shape, *, dtype=torch.float64, device="cpu", seed: int = 0, layout: str = "contiguous") -> torch.Tensor:
    """Standard-normal tensor of ``shape`` with the given memory layout.

    Values come from a CPU generator seeded with ``seed`` and so do not depend
    on the device or the layout:

    * ``"contiguous"``: the ordinary row-major layout;
    * ``"strided"``: every other element of a tensor twice as long along the
      first dimension of size > 1 (a step-2 slice with an offset);
    * ``"transposed"``: the transpose of a tensor whose two largest dimensions
      were stored swapped;
    * ``"channels_last"``: for 4-d tensors, torch's NHWC memory format (other
      ranks: like "transposed").
    """
    shape = tuple(shape)
    gen = torch.Generator().manual_seed(seed)
    values = torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype)
    if layout == "contiguous" or values.numel() <= 1:
        return values.to(device)
    if layout == "channels_last" and len(shape) == 4:
        return values.to(device).contiguous(memory_format=torch.channels_last)
    if layout == "strided":
        dim = next((i for i, s in enumerate(shape) if s > 1), 0)
        big_shape = list(shape)
        big_shape[dim] = 2 * shape[dim] + 1
        fill = float("nan") if dtype.is_floating_point else 0  # NaN shows up if the gaps are ever read
        big = torch.full(big_shape, fill, dtype=dtype, device=device)
        index = [slice(None)] * len(shape)
        index[dim] = slice(1, None, 2)
        view = big[tuple(index)]
        view.copy_(values)
        return view
    if layout in ("transposed", "channels_last"):
        if len(shape) < 2:
            return make_tensor(shape, dtype=dtype, device=device, seed=seed, layout="strided")
        a, b = sorted(range(len(shape)), key=lambda i: shape[i])[-2:]
        return values.transpose(a, b).contiguous().to(device).transpose(a, b)
    raise ValueError(f"unknown layout {layout!r}; choose from {LAYOUTS}")


@st.composite
def tensors(draw, shape, *, dtype=torch.float64, device="cpu", layouts=LAYOUTS) -> torch.Tensor:
    """A seeded standard-normal tensor of ``shape`` in one of ``layouts``."""
    return make_tensor(shape, dtype=dtype, device=device, seed=draw(seeds), layout=draw(st.sampled_from(layouts)))


def noncontiguous_tensors(shape, *, dtype=torch.float64, device="cpu"):
    """Like :func:`tensors` but never in the contiguous layout."""
    return tensors(shape, dtype=dtype, device=device, layouts=LAYOUTS[1:])


class ConvCase(NamedTuple):
    """Shapes and settings of one 2-D convolution: x (n, c, h, w), weights (f, c/groups, kh, kw)."""

    n: int
    c: int
    f: int
    h: int
    w: int
    kh: int
    kw: int
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int

    @property
    def x_shape(self) -> tuple[int, int, int, int]:
        return (self.n, self.c, self.h, self.w)

    @property
    def w_shape(self) -> tuple[int, int, int, int]:
        return (self.f, self.c // self.groups, self.kh, self.kw)

    @property
    def settings(self) -> dict:
        return {"stride": self.stride, "padding": self.padding, "dilation": self.dilation, "groups": self.groups}



def _pairs(lo: int, hi: int):
    return st.tuples(st.integers(lo, hi), st.integers(lo, hi))


@st.composite
def conv2d_cases(draw, *, max_batch=3, max_channels_per_group=3, max_groups=3, max_kernel=4, max_stride=3,
                 max_padding=2, max_dilation=2, max_extra=6) -> ConvCase:
    """Convolution settings with a non-empty output; height and width, kernel
    height and width, and the (height, width) pairs are drawn independently."""
    groups = draw(st.integers(1, max_groups))
    c = groups * draw(st.integers(1, max_channels_per_group))
    f = groups * draw(st.integers(1, max_channels_per_group))
    kh, kw = draw(_pairs(1, max_kernel))
    stride, padding, dilation = draw(_pairs(1, max_stride)), draw(_pairs(0, max_padding)), draw(_pairs(1, max_dilation))
    # smallest input the dilated kernel fits in once padded
    min_h = max(1, dilation[0] * (kh - 1) + 1 - 2 * padding[0])
    min_w = max(1, dilation[1] * (kw - 1) + 1 - 2 * padding[1])
    h = draw(st.integers(min_h, min_h + max_extra))
    w = draw(st.integers(min_w, min_w + max_extra))
    n = draw(st.integers(1, max_batch))
    return ConvCase(n, c, f, h, w, kh, kw, stride, padding, dilation, groups)


class ConvTransposeCase(NamedTuple):
    """One transposed convolution: x (n, c_in, h, w), weights (c_in, c_out/groups, kh, kw)."""

    n: int
    c_in: int
    c_out: int
    h: int
    w: int
    kh: int
    kw: int
    stride: tuple[int, int]
    padding: tuple[int, int]
    output_padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int

    @property
    def x_shape(self) -> tuple[int, int, int, int]:
        return (self.n, self.c_in, self.h, self.w)

    @property
    def w_shape(self) -> tuple[int, int, int, int]:
        return (self.c_in, self.c_out // self.groups, self.kh, self.kw)

    @property
    def settings(self) -> dict:
        return {"stride": self.stride, "padding": self.padding, "output_padding": self.output_padding,
                "dilation": self.dilation, "groups": self.groups}



@st.composite
def conv_transpose2d_cases(draw, *, max_batch=3, max_channels_per_group=3, max_groups=3, max_kernel=4,
                           max_stride=3, max_padding=2, max_dilation=2, max_size=6) -> ConvTransposeCase:
    """Transposed-convolution settings with a non-empty output and a valid output_padding."""
    groups = draw(st.integers(1, max_groups))
    c_in = groups * draw(st.integers(1, max_channels_per_group))
    c_out = groups * draw(st.integers(1, max_channels_per_group))
    kh, kw = draw(_pairs(1, max_kernel))
    stride, padding, dilation = draw(_pairs(1, max_stride)), draw(_pairs(0, max_padding)), draw(_pairs(1, max_dilation))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    h, w = draw(_pairs(1, max_size))
    for size, k, p, s, d, op in zip((h, w), (kh, kw), padding, stride, dilation, output_padding):
        assume((size - 1) * s - 2 * p + d * (k - 1) + op + 1 > 0)
    n = draw(st.integers(1, max_batch))
    return ConvTransposeCase(n, c_in, c_out, h, w, kh, kw, stride, padding, output_padding, dilation, groups)
