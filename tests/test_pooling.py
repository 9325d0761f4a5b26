"""course_lib pooling (max, average, Lp, channel L2, maxout) against torch's pooling and autograd."""
from typing import NamedTuple

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib import functional as cf
from course_lib import nn as ca

from conftest import tolerances

try:  # tests/ may or may not be a package
    from .strategies import LAYOUTS, make_tensor, seeds
except ImportError:
    from strategies import LAYOUTS, make_tensor, seeds

pytestmark = pytest.mark.ch3

float_dtypes = st.sampled_from([torch.float32, torch.float64])
layouts = st.sampled_from(LAYOUTS)



class PoolCase(NamedTuple):
    """x (n, c, h, w) pooled with kernel, stride and padding (h, w) pairs."""

    n: int
    c: int
    h: int
    w: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]

    @property
    def x_shape(self):
        return (self.n, self.c, self.h, self.w)

    def options(self, *, as_int=False):
        """Keyword options; ``as_int`` passes square settings as plain ints where possible."""
        def squash(pair):
            return pair[0] if as_int and pair[0] == pair[1] else pair
        return {"kernel_size": squash(self.kernel), "stride": squash(self.stride), "padding": squash(self.padding)}


@st.composite
def pool_cases(draw, *, max_kernel=4, max_stride=3, max_extra=5, with_padding=True) -> PoolCase:
    kernel = (draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel)))
    stride = (draw(st.integers(1, max_stride)), draw(st.integers(1, max_stride)))
    padding = tuple(draw(st.integers(0, k // 2)) if with_padding else 0 for k in kernel)
    h = draw(st.integers(max(1, kernel[0] - 2 * padding[0]), kernel[0] + max_extra))
    w = draw(st.integers(max(1, kernel[1] - 2 * padding[1]), kernel[1] + max_extra))
    return PoolCase(draw(st.integers(1, 3)), draw(st.integers(1, 3)), h, w, kernel, stride, padding)


def torch_reference(fn, x, dout):
    """Output and input gradient of a torch function under autograd."""
    leaf = x.detach().clone().requires_grad_(True)
    out = fn(leaf)
    out.backward(dout)
    return out.detach(), leaf.grad


# ----------------------------------------------------------------------------- max pooling

@settings(max_examples=40, deadline=None)
@given(case=pool_cases(), dtype=float_dtypes, layout=layouts, seed=seeds, as_int=st.booleans())
def test_max_pool_matches_torch_including_indices(device, case, dtype, layout, seed, as_int):
    x = make_tensor(case.x_shape, dtype=dtype, device=device, seed=seed, layout=layout)
    out, cache = cf.max_pool2d_forward(x, **case.options(as_int=as_int))
    want, want_idx = F.max_pool2d(x, case.kernel, case.stride, case.padding, return_indices=True)
    dout = make_tensor(want.shape, dtype=dtype, device=device, seed=seed + 1)
    _, want_dx = torch_reference(lambda t: F.max_pool2d(t, case.kernel, case.stride, case.padding), x, dout)
    assert out.device == x.device and out.dtype == dtype
    torch.testing.assert_close(out, want, rtol=0, atol=0)
    torch.testing.assert_close(cache.indices, want_idx, rtol=0, atol=0)
    torch.testing.assert_close(cf.max_pool2d_backward(dout, cache), want_dx, **tolerances(dtype))


@settings(max_examples=25, deadline=None)
@given(case=pool_cases(), seed=seeds)
def test_naive_max_pool_equals_vectorised(device, case, seed):
    x = make_tensor(case.x_shape, device=device, seed=seed)
    out, cache = cf.max_pool2d_forward(x, **case.options())
    out_naive, cache_naive = cf.max_pool2d_forward_naive(x, **case.options())
    torch.testing.assert_close(out_naive, out, rtol=0, atol=0)
    torch.testing.assert_close(cache_naive.indices, cache.indices, rtol=0, atol=0)
    dout = make_tensor(out.shape, device=device, seed=seed + 1)
    torch.testing.assert_close(cf.max_pool2d_backward_naive(dout, cache), cf.max_pool2d_backward(dout, cache))


@pytest.mark.parametrize("kernel,stride,padding",
                         [(2, 2, 0), (3, 2, 0), (3, 2, 1), (3, 1, 1), ((2, 3), (1, 2), (1, 1))])
def test_max_pool_ties_go_to_first_maximum_in_row_major_order(device, kernel, stride, padding):
    x = torch.full((2, 3, 7, 6), 1.5, dtype=torch.float64, device=device)
    out, cache = cf.max_pool2d_forward(x, kernel_size=kernel, stride=stride, padding=padding)
    _, want_idx = F.max_pool2d(x, kernel, stride, padding, return_indices=True)
    torch.testing.assert_close(cache.indices, want_idx, rtol=0, atol=0)
    # the first real pixel of each window: its top-left corner, clipped to the input
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    ho, wo = out.shape[2:]
    rows = (torch.arange(ho, device=device) * sh - ph).clamp_min(0)
    cols = (torch.arange(wo, device=device) * sw - pw).clamp_min(0)
    first = (rows[:, None] * 6 + cols[None, :]).expand_as(cache.indices)
    torch.testing.assert_close(cache.indices, first, rtol=0, atol=0)
    # the whole upstream gradient lands on those pixels, and on torch's choice
    dout = torch.ones_like(out)
    dx = cf.max_pool2d_backward(dout, cache)
    _, want_dx = torch_reference(lambda t: F.max_pool2d(t, kernel, stride, padding), x, dout)
    torch.testing.assert_close(dx, want_dx)
    assert float(dx.sum()) == out.numel()
    # all -inf: padding ties with the input, and the index is still the first *real* pixel, as in torch
    x = torch.full((1, 1, 7, 6), float("-inf"), dtype=torch.float64, device=device)
    for forward in (cf.max_pool2d_forward, cf.max_pool2d_forward_naive):
        _, cache = forward(x, kernel_size=kernel, stride=stride, padding=padding)
        torch.testing.assert_close(cache.indices, first[:1, :1], rtol=0, atol=0)
        torch.testing.assert_close(cache.indices, F.max_pool2d(x, kernel, stride, padding, return_indices=True)[1],
                                   rtol=0, atol=0)


def test_overlapping_pooling_alexnet_sizes_and_shared_gradients(device):
    x = make_tensor((1, 2, 55, 55), device=device, seed=3)
    out, _ = cf.max_pool2d_forward(x, kernel_size=3, stride=2)
    assert out.shape == (1, 2, 27, 27)  # AlexNet: 55 -> 27 with kernel 3, stride 2
    # a 5-wide row: windows [0, 3) and [2, 5) share pixel 2; with the maximum there it collects both gradients
    row = torch.tensor([[[[0.0, 1.0, 9.0, 1.0, 0.0]]]], dtype=torch.float64, device=device)
    out, cache = cf.max_pool2d_forward(row, kernel_size=(1, 3), stride=(1, 2))
    assert out.flatten().tolist() == [9.0, 9.0]
    dx = cf.max_pool2d_backward(torch.tensor([[[[1.0, 10.0]]]], dtype=torch.float64, device=device), cache)
    assert dx.flatten().tolist() == [0.0, 0.0, 11.0, 0.0, 0.0]
    # average pooling spreads each window's gradient evenly instead
    _, cache = cf.avg_pool2d_forward(row, kernel_size=(1, 3), stride=(1, 2))
    dx = cf.avg_pool2d_backward(torch.tensor([[[[3.0, 30.0]]]], dtype=torch.float64, device=device), cache)
    assert dx.flatten().tolist() == pytest.approx([1.0, 1.0, 11.0, 10.0, 10.0])


# ----------------------------------------------------------------------------- average and Lp pooling

@settings(max_examples=40, deadline=None)
@given(case=pool_cases(), dtype=float_dtypes, layout=layouts, seed=seeds, count_include_pad=st.booleans())
def test_avg_pool_matches_torch(device, case, dtype, layout, seed, count_include_pad):
    x = make_tensor(case.x_shape, dtype=dtype, device=device, seed=seed, layout=layout)
    out, cache = cf.avg_pool2d_forward(x, **case.options(), count_include_pad=count_include_pad)

    def torch_fn(t):
        return F.avg_pool2d(t, case.kernel, case.stride, case.padding, count_include_pad=count_include_pad)

    dout = make_tensor(out.shape, dtype=dtype, device=device, seed=seed + 1)
    want, want_dx = torch_reference(torch_fn, x, dout)
    assert out.device == x.device and out.dtype == dtype
    torch.testing.assert_close(out, want, **tolerances(dtype))
    torch.testing.assert_close(cf.avg_pool2d_backward(dout, cache), want_dx, **tolerances(dtype))


@settings(max_examples=25, deadline=None)
@given(case=pool_cases(), seed=seeds, count_include_pad=st.booleans())
def test_naive_avg_pool_equals_vectorised(device, case, seed, count_include_pad):
    x = make_tensor(case.x_shape, device=device, seed=seed)
    opts = {**case.options(), "count_include_pad": count_include_pad}
    out, cache = cf.avg_pool2d_forward(x, **opts)
    out_naive, cache_naive = cf.avg_pool2d_forward_naive(x, **opts)
    torch.testing.assert_close(out_naive, out)
    dout = make_tensor(out.shape, device=device, seed=seed + 1)
    torch.testing.assert_close(cf.avg_pool2d_backward_naive(dout, cache_naive), cf.avg_pool2d_backward(dout, cache))


@settings(max_examples=30, deadline=None)
@given(case=pool_cases(with_padding=False), dtype=float_dtypes, seed=seeds, p=st.sampled_from([1.0, 2.0, 3.0]),
       default_stride=st.booleans())
def test_lp_pool_matches_torch(device, case, dtype, seed, p, default_stride):
    # positive inputs so that every power is defined (torch takes the plain power x^p, as does course_lib)
    x = make_tensor(case.x_shape, dtype=dtype, device=device, seed=seed).abs_().add_(0.1)
    stride = None if default_stride else case.stride
    out, cache = cf.lp_pool2d_forward(x, kernel_size=case.kernel, stride=stride, p=p)
    dout = make_tensor(out.shape, dtype=dtype, device=device, seed=seed + 1)
    want, want_dx = torch_reference(lambda t: F.lp_pool2d(t, p, case.kernel, stride), x, dout)
    torch.testing.assert_close(out, want, **tolerances(dtype))
    torch.testing.assert_close(cf.lp_pool2d_backward(dout, cache), want_dx, **tolerances(dtype))


def test_l2_pool_of_signed_input_is_window_norm(device):
    x = make_tensor((2, 3, 6, 6), device=device, seed=5)
    out, cache = cf.lp_pool2d_forward(x, kernel_size=3, stride=2)
    dout = make_tensor(out.shape, device=device, seed=6)
    want, want_dx = torch_reference(lambda t: F.lp_pool2d(t, 2, 3, 2), x, dout)
    torch.testing.assert_close(out, want)
    torch.testing.assert_close(cf.lp_pool2d_backward(dout, cache), want_dx)
    # a window of zeros has output 0 and passes gradient 0 (not NaN)
    _, cache = cf.lp_pool2d_forward(torch.zeros(1, 1, 2, 2, device=device), kernel_size=2)
    assert cf.lp_pool2d_backward(torch.ones(1, 1, 1, 1, device=device), cache).abs().sum() == 0


# ----------------------------------------------------------------------------- pooling across channels

@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 3), groups=st.integers(1, 3), k=st.integers(1, 4),
       spatial=st.lists(st.integers(1, 4), max_size=2), dtype=float_dtypes, seed=seeds)
def test_maxout_and_channel_l2_pooling_match_autograd(device, n, groups, k, spatial, dtype, seed):
    shape = (n, groups * k, *spatial)
    x = make_tensor(shape, dtype=dtype, device=device, seed=seed)
    dout = make_tensor((n, groups, *spatial), dtype=dtype, device=device, seed=seed + 1)

    def grouped(t):
        return t.reshape(n, groups, k, *spatial)

    out, cache = cf.maxout_forward(x, group_size=k)
    want, want_dx = torch_reference(lambda t: grouped(t).amax(dim=2), x, dout)
    torch.testing.assert_close(out, want, rtol=0, atol=0)
    torch.testing.assert_close(cf.maxout_backward(dout, cache), want_dx, **tolerances(dtype))

    out, cache = cf.l2_pool_channels_forward(x, group_size=k)
    want, want_dx = torch_reference(lambda t: torch.linalg.vector_norm(grouped(t), dim=2), x, dout)
    torch.testing.assert_close(out, want, **tolerances(dtype))
    torch.testing.assert_close(cf.l2_pool_channels_backward(dout, cache), want_dx, **tolerances(dtype))


def test_maxout_ties_go_to_first_channel_of_group(device):
    x = torch.ones(2, 6, 3, dtype=torch.float64, device=device)
    out, cache = cf.maxout_forward(x, group_size=3)
    dx = cf.maxout_backward(torch.ones_like(out), cache)
    assert dx[:, [0, 3]].eq(1).all() and dx[:, [1, 2, 4, 5]].eq(0).all()


# ----------------------------------------------------------------------------- bridge and modules

def test_bridge_passes_gradcheck(device):
    x = make_tensor((1, 3, 4, 3), device=device, seed=11).requires_grad_(True)
    positive = (x.detach().abs() + 0.5).requires_grad_(True)
    checks = [
        (lambda t: ca.max_pool2d(t, 3, 2, 1), x),
        (lambda t: ca.max_pool2d(t, (2, 3), (1, 2)), x),
        (lambda t: ca.avg_pool2d(t, 3, 2, 1, False), x),
        (lambda t: ca.avg_pool2d(t, 2), x),
        (lambda t: ca.lp_pool2d(t, 2, 1), positive),
        (lambda t: ca.maxout(t.transpose(1, 2), 2), x),  # a non-contiguous input
        (lambda t: ca.l2_pool_channels(t, 3), positive),
    ]
    for fn, inp in checks:
        assert torch.autograd.gradcheck(fn, (inp,))


def test_modules_match_torch_modules(device):
    x = make_tensor((2, 3, 9, 9), dtype=torch.float32, device=device, seed=2)
    torch.testing.assert_close(ca.MaxPool2d(3, 2)(x), torch.nn.MaxPool2d(3, 2)(x))
    torch.testing.assert_close(ca.AvgPool2d(3, 2, 1, count_include_pad=False)(x),
                               torch.nn.AvgPool2d(3, 2, 1, count_include_pad=False)(x))
    assert ca.Maxout(3)(x).shape == (2, 1, 9, 9)
    leaf = x.clone().requires_grad_(True)
    ca.MaxPool2d(2)(leaf).sum().backward()
    assert leaf.grad.shape == x.shape and float(leaf.grad.sum()) == 2 * 3 * 4 * 4
    assert "kernel_size=3" in repr(ca.MaxPool2d(3, 2))


# ----------------------------------------------------------------------------- errors

def test_clear_errors():
    x = torch.zeros(1, 2, 4, 4)
    with pytest.raises(ValueError, match="must be 4-d"):
        cf.max_pool2d_forward(torch.zeros(2, 4, 4), kernel_size=2)
    with pytest.raises(ValueError, match=r"kernel \(5, 5\) is larger than the padded input \(4, 4\)"):
        cf.max_pool2d_forward(x, kernel_size=5)
    with pytest.raises(ValueError, match=r"kernel \(5, 5\) is larger than the padded input \(4, 4\)"):
        cf.avg_pool2d_forward(torch.zeros(1, 1, 2, 2), kernel_size=5, padding=1)
    with pytest.raises(ValueError, match="at most half the kernel"):
        cf.avg_pool2d_forward(x, kernel_size=2, padding=2)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        cf.max_pool2d_forward(x, kernel_size=2, stride=0)
    with pytest.raises(TypeError, match="pair of ints"):
        cf.max_pool2d_forward(x, kernel_size=2.5)
    with pytest.raises(TypeError, match="floating-point"):
        cf.max_pool2d_forward(torch.zeros(1, 1, 4, 4, dtype=torch.long), kernel_size=2)
    out, cache = cf.max_pool2d_forward(x, kernel_size=2)
    with pytest.raises(ValueError, match=r"dout has shape \(1, 2, 3, 3\)"):
        cf.max_pool2d_backward(torch.zeros(1, 2, 3, 3), cache)
    with pytest.raises(ValueError, match="do not split into groups of 3"):
        cf.maxout_forward(x, group_size=3)
    with pytest.raises(ValueError, match="p must be positive"):
        cf.lp_pool2d_forward(x, kernel_size=2, p=0)
