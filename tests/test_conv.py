"""course_lib convolution layers (functional, autograd bridge, modules) and
course_lib.shapes, against torch's own convolutions and the slides' numbers."""
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib import functional as cf
from course_lib import nn as ca
from course_lib import shapes

from conftest import tolerances

try:  # tests/ may or may not be a package
    from .strategies import LAYOUTS, conv2d_cases, conv_transpose2d_cases, float_dtypes, make_tensor, seeds
except ImportError:
    from strategies import LAYOUTS, conv2d_cases, conv_transpose2d_cases, float_dtypes, make_tensor, seeds

pytestmark = [pytest.mark.ch2, pytest.mark.usefixtures("one_torch_thread")]

layouts = st.sampled_from(LAYOUTS)




def torch_conv2d_reference(x, w, b, dout, **torch_settings):
    """Forward output and (dx, dw, db) of torch's conv2d + autograd.

    torch gets contiguous copies: the layouts under test are ours to handle, and torch's own
    CPU kernel refuses some of them ("slow_conv2d: grad_weight must be contiguous").
    """
    leaves = [t.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True) if t is not None else None
              for t in (x, w, b)]
    out = F.conv2d(*leaves, **torch_settings)
    out.backward(dout.contiguous())
    return out.detach(), [t.grad if t is not None else None for t in leaves]


def assert_grads_close(got, want, dtype):
    for name, g, r in zip(("dx", "dw", "db"), got, want):
        if r is None:
            assert g is None, f"{name} should be None when there is no bias"
            continue
        assert g.shape == r.shape, f"{name}: shape {tuple(g.shape)}, expected {tuple(r.shape)}"
        assert g.device == r.device and g.dtype == r.dtype, f"{name}: {g.device}/{g.dtype} vs {r.device}/{r.dtype}"
        torch.testing.assert_close(g, r, **tolerances(dtype), msg=lambda m, name=name: f"{name}: {m}")


# --------------------------------------------------------------------------- the test tensors themselves


@pytest.mark.parametrize("layout", LAYOUTS)
def test_make_tensor_layouts(layout):
    t = make_tensor((2, 3, 4, 5), seed=7, layout=layout)
    assert t.is_contiguous() == (layout == "contiguous")
    torch.testing.assert_close(t, make_tensor((2, 3, 4, 5), seed=7), rtol=0, atol=0)   # same values, any layout


# --------------------------------------------------------------------------- against torch


@settings(max_examples=40, deadline=None)
@given(case=conv2d_cases(), dtype=float_dtypes, bias=st.booleans(), seed=seeds,
       x_layout=layouts, w_layout=layouts, dout_layout=layouts)
def test_conv2d_matches_torch(device, case, dtype, bias, seed, x_layout, w_layout, dout_layout):
    x = make_tensor(case.x_shape, dtype=dtype, device=device, seed=seed, layout=x_layout)
    w = make_tensor(case.w_shape, dtype=dtype, device=device, seed=seed + 1, layout=w_layout)
    b = make_tensor((case.f,), dtype=dtype, device=device, seed=seed + 2) if bias else None
    out, cache = cf.conv2d_forward(x, w, b, **case.settings)
    dout = make_tensor(out.shape, dtype=dtype, device=device, seed=seed + 3, layout=dout_layout)
    grads = cf.conv2d_backward(dout, cache)
    ref_out, ref_grads = torch_conv2d_reference(x, w, b, dout, **case.settings)
    assert out.shape == ref_out.shape and out.device == x.device and out.dtype == dtype
    torch.testing.assert_close(out, ref_out, **tolerances(dtype))
    assert_grads_close(grads, ref_grads, dtype)


@settings(max_examples=30, deadline=None)
@given(case=conv2d_cases(max_batch=2, max_channels_per_group=2, max_groups=2, max_kernel=3, max_extra=4),
       bias=st.booleans(), seed=seeds, layout=layouts)
def test_naive_matches_vectorised(device, case, bias, seed, layout):
    x = make_tensor(case.x_shape, device=device, seed=seed, layout=layout)
    w = make_tensor(case.w_shape, device=device, seed=seed + 1, layout=layout)
    b = make_tensor((case.f,), device=device, seed=seed + 2) if bias else None
    out_naive, cache_naive = cf.conv2d_forward_naive(x, w, b, **case.settings)
    out_fast, cache_fast = cf.conv2d_forward(x, w, b, **case.settings)
    torch.testing.assert_close(out_naive, out_fast, rtol=1e-12, atol=1e-12)
    dout = make_tensor(out_fast.shape, device=device, seed=seed + 3, layout=layout)
    grads_naive = cf.conv2d_backward_naive(dout, cache_naive)
    assert_grads_close(cf.conv2d_backward(dout, cache_fast), grads_naive, torch.float64)
    # the two caches are interchangeable
    assert_grads_close(cf.conv2d_backward(dout, cache_naive), grads_naive, torch.float64)
    assert_grads_close(cf.conv2d_backward_naive(dout, cache_fast), grads_naive, torch.float64)


@settings(max_examples=40, deadline=None)
@given(case=conv_transpose2d_cases(), dtype=float_dtypes, bias=st.booleans(), seed=seeds,
       x_layout=layouts, dout_layout=layouts)
def test_conv_transpose2d_matches_torch(device, case, dtype, bias, seed, x_layout, dout_layout):
    x = make_tensor(case.x_shape, dtype=dtype, device=device, seed=seed, layout=x_layout)
    w = make_tensor(case.w_shape, dtype=dtype, device=device, seed=seed + 1, layout=x_layout)
    b = make_tensor((case.c_out,), dtype=dtype, device=device, seed=seed + 2) if bias else None
    out, cache = cf.conv_transpose2d_forward(x, w, b, **case.settings)
    leaves = [t.detach().clone().requires_grad_(True) if t is not None else None for t in (x, w, b)]
    ref = F.conv_transpose2d(leaves[0], leaves[1], leaves[2], **case.settings)
    assert out.shape == ref.shape, f"output shape {tuple(out.shape)}, torch gives {tuple(ref.shape)}"
    expected_hw = tuple(shapes.conv_transpose_output_size(n, k, p, s, d, op) for n, k, p, s, d, op in zip(
        (case.h, case.w), (case.kh, case.kw), case.padding, case.stride, case.dilation, case.output_padding))
    assert tuple(out.shape[2:]) == expected_hw
    torch.testing.assert_close(out, ref.detach(), **tolerances(dtype))
    dout = make_tensor(out.shape, dtype=dtype, device=device, seed=seed + 3, layout=dout_layout)
    ref.backward(dout)
    grads = cf.conv_transpose2d_backward(dout, cache)
    assert_grads_close(grads, [t.grad if t is not None else None for t in leaves], dtype)


@settings(max_examples=30, deadline=None)
@given(case=conv2d_cases(), seed=seeds, layout=layouts)
def test_im2col_matches_unfold_and_col2im_is_its_adjoint(device, case, seed, layout):
    kernel = (case.kh, case.kw)
    x = make_tensor(case.x_shape, device=device, seed=seed, layout=layout)
    cols = cf.im2col(x, kernel, case.stride, case.padding, case.dilation)
    ref = F.unfold(x, kernel, dilation=case.dilation, padding=case.padding, stride=case.stride)   # (N, C*KH*KW, L)
    torch.testing.assert_close(cols, ref, rtol=0, atol=0)
    # <im2col(x), y> == <x, col2im(y)>: col2im is the transpose of the linear map im2col
    y = make_tensor(cols.shape, device=device, seed=seed + 1, layout=layout)
    back = cf.col2im(y, x.shape, kernel, case.stride, case.padding, case.dilation)
    assert back.shape == x.shape
    torch.testing.assert_close((cols * y).sum(), (x * back).sum(), rtol=1e-10, atol=1e-10)
    ref_fold = F.fold(y, (case.h, case.w), kernel, dilation=case.dilation, padding=case.padding, stride=case.stride)
    torch.testing.assert_close(back, ref_fold, rtol=1e-12, atol=1e-12)


def test_im2col_small_example_by_hand():
    x = torch.arange(9.0).reshape(1, 1, 3, 3)          # 0 1 2 / 3 4 5 / 6 7 8
    cols = cf.im2col(x, 2)                              # one column per 2x2 window
    assert cols.tolist() == [[[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8]]]
    # every pixel is added back once per window it belongs to
    counts = cf.col2im(torch.ones_like(cols), x.shape, 2)
    assert counts.tolist() == [[[[1, 2, 1], [2, 4, 2], [1, 2, 1]]]]


# --------------------------------------------------------------------------- the autograd bridge


GRADCHECK_SETTINGS = [
    {"stride": 1, "padding": 0, "dilation": 1, "groups": 1},
    {"stride": (2, 1), "padding": (1, 2), "dilation": (1, 2), "groups": 2},
    {"stride": 3, "padding": 1, "dilation": 2, "groups": 1},
]


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("conv_settings", GRADCHECK_SETTINGS, ids=lambda s: "-".join(f"{k}{v}" for k, v in s.items()))
def test_conv2d_bridge_gradcheck(device, bias, conv_settings):
    x = make_tensor((2, 4, 7, 6), device=device, seed=1, layout="transposed").requires_grad_(True)
    w = make_tensor((4, 4 // conv_settings["groups"], 3, 2), device=device, seed=2).requires_grad_(True)
    b = make_tensor((4,), device=device, seed=3).requires_grad_(True) if bias else None
    inputs = (x, w, b) if bias else (x, w)
    s = conv_settings

    def f(x, w, b=None):
        return ca.conv2d(x, w, b, s["stride"], s["padding"], s["dilation"], s["groups"])

    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-8)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_conv_transpose2d_bridge_gradcheck(device, bias):
    x = make_tensor((2, 4, 3, 4), device=device, seed=4, layout="strided").requires_grad_(True)
    w = make_tensor((4, 3, 3, 2), device=device, seed=5).requires_grad_(True)
    b = make_tensor((6,), device=device, seed=6).requires_grad_(True) if bias else None

    def f(x, w, b=None):
        return ca.conv_transpose2d(x, w, b, stride=(2, 3), padding=(1, 0), output_padding=(1, 0), dilation=(1, 2),
                                   groups=2)

    assert torch.autograd.gradcheck(f, (x, w, b) if bias else (x, w), eps=1e-6, atol=1e-8)


def test_bridge_without_bias_leaves_no_bias_gradient(device):
    x = torch.randn(1, 2, 5, 5, device=device, requires_grad=True)
    w = torch.randn(3, 2, 3, 3, device=device, requires_grad=True)
    ca.conv2d(x, w, None, 1, 1).sum().backward()
    assert x.grad.shape == x.shape and w.grad.shape == w.shape


@pytest.mark.parametrize("module_kind", ["conv", "transpose"])
@pytest.mark.parametrize("bias", [True, False])
def test_modules_match_torch_modules(device, module_kind, bias):
    torch.manual_seed(0)
    if module_kind == "conv":
        kwargs = {"kernel_size": (3, 2), "stride": 2, "padding": (1, 0), "dilation": (1, 2), "groups": 2, "bias": bias}
        ours = ca.Conv2d(4, 6, device=device, dtype=torch.float64, **kwargs)
        ref = torch.nn.Conv2d(4, 6, device=device, dtype=torch.float64, **kwargs)
    else:
        kwargs = {"kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1, "groups": 2, "bias": bias}
        ours = ca.ConvTranspose2d(4, 6, device=device, dtype=torch.float64, **kwargs)
        ref = torch.nn.ConvTranspose2d(4, 6, device=device, dtype=torch.float64, **kwargs)
    assert [(n, p.shape) for n, p in ours.named_parameters()] == [(n, p.shape) for n, p in ref.named_parameters()]
    with torch.no_grad():
        for p, q in zip(ours.parameters(), ref.parameters()):
            p.copy_(q)
    x = torch.randn(2, 4, 7, 8, device=device, dtype=torch.float64)
    out = ours(x.clone().requires_grad_(True))
    want = ref(x)
    torch.testing.assert_close(out, want)
    out.square().sum().backward()
    want.square().sum().backward()
    for p, q in zip(ours.parameters(), ref.parameters()):
        torch.testing.assert_close(p.grad, q.grad)


@pytest.mark.parametrize("module_kind", ["conv", "transpose"])
def test_module_initialisation_like_torch(module_kind):
    """Uniform in [-1/sqrt(fan_in), 1/sqrt(fan_in)]: the same bound, and a spread that fills it."""
    torch.manual_seed(0)
    cls, ref_cls = (ca.Conv2d, torch.nn.Conv2d) if module_kind == "conv" else (ca.ConvTranspose2d,
                                                                                 torch.nn.ConvTranspose2d)
    ours, ref = cls(64, 32, 3, groups=2), ref_cls(64, 32, 3, groups=2)
    fan_in = ours.weight.shape[1] * 9
    bound = 1 / math.sqrt(fan_in)
    for p, q in ((ours.weight, ref.weight), (ours.bias, ref.bias)):
        assert p.abs().max() <= bound and q.abs().max() <= bound
    # thousands of weights: they fill the interval, with the spread of a uniform (bound / sqrt(3))
    assert ours.weight.abs().max() > 0.99 * bound
    assert abs(ours.weight.std().item() - bound / math.sqrt(3)) < 0.05 * bound


# --------------------------------------------------------------------------- shapes only, on the meta device


@settings(max_examples=40, deadline=None)
@given(case=conv2d_cases(max_batch=64, max_channels_per_group=256, max_kernel=11, max_stride=4, max_padding=5,
                         max_dilation=3, max_extra=300), bias=st.booleans())
def test_meta_device_shapes_match_torch(case, bias):
    x = torch.empty(case.x_shape, device="meta")
    w = torch.empty(case.w_shape, device="meta")
    b = torch.empty(case.f, device="meta") if bias else None
    out, cache = cf.conv2d_forward(x, w, b, **case.settings)
    assert out.device.type == "meta"
    assert out.shape == F.conv2d(x, w, b, **case.settings).shape
    dx, dw, db = cf.conv2d_backward(torch.empty(out.shape, device="meta"), cache)
    assert dx.shape == x.shape and dw.shape == w.shape and (db is None) == (not bias)


@settings(max_examples=25, deadline=None)
@given(case=conv_transpose2d_cases(max_channels_per_group=64, max_size=40))
def test_meta_device_transpose_shapes_match_torch(case):
    x = torch.empty(case.x_shape, device="meta")
    w = torch.empty(case.w_shape, device="meta")
    out, cache = cf.conv_transpose2d_forward(x, w, **case.settings)
    assert out.shape == F.conv_transpose2d(x, w, **case.settings).shape
    dx, dw, _ = cf.conv_transpose2d_backward(torch.empty(out.shape, device="meta"), cache)
    assert dx.shape == x.shape and dw.shape == w.shape


def test_meta_device_naive_forward_shape():
    out, _ = cf.conv2d_forward_naive(torch.empty(1, 3, 6, 5, device="meta"), torch.empty(2, 3, 3, 2, device="meta"),
                                     stride=2, padding=1)
    assert out.shape == (1, 2, 3, 3) and out.device.type == "meta"


# --------------------------------------------------------------------------- errors that say what is wrong


def _x_w(c=4, f=6, cg=4, dtype=torch.float32):
    return torch.zeros(2, c, 8, 8, dtype=dtype), torch.zeros(f, cg, 3, 3, dtype=dtype)


@pytest.mark.parametrize("forward", [cf.conv2d_forward, cf.conv2d_forward_naive], ids=["vectorised", "naive"])
def test_conv2d_errors(forward):
    x, w = _x_w(c=4, cg=3)
    with pytest.raises(ValueError, match=r"x has 4 channels.*w\.shape\[1\] \* groups = 3 \* 1 = 3"):
        forward(x, w)
    x, w = _x_w(c=4, f=6, cg=1)
    with pytest.raises(ValueError, match="groups=3 does not divide the 4 input channels"):
        forward(x, w, groups=3)
    x, w = _x_w(c=4, f=5, cg=2)
    with pytest.raises(ValueError, match="groups=2 does not divide the 5 filters"):
        forward(x, w, groups=2)
    x, w = _x_w()
    with pytest.raises(TypeError, match="dtype"):
        forward(x, w.double())
    with pytest.raises(ValueError, match="meta"):
        forward(x, w.to("meta"))
    with pytest.raises(ValueError, match=r"b has shape \(5,\).*6 filters"):
        forward(x, w, torch.zeros(5))
    with pytest.raises(ValueError, match=r"height: the kernel of size 3 .*does not fit in the input of size 8"):
        forward(x, torch.zeros(6, 4, 3, 1), dilation=(4, 1))
    with pytest.raises(ValueError, match=r"width: the kernel of size 11 does not fit in the input of size 8 padded by 1"
                                         r" on each side \(10\)"):
        forward(x, torch.zeros(6, 4, 1, 11), padding=1)
    with pytest.raises(ValueError, match="must be 4-d"):
        forward(x[0], w)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        forward(x, w, stride=0)
    with pytest.raises(ValueError, match="groups must be a positive int"):
        forward(x, w, groups=0)


def test_conv_backward_errors():
    x, w = _x_w()
    out, cache = cf.conv2d_forward(x, w, padding=1)
    expected = r"dout has shape \(2, 6, 6, 6\) but the convolution output has shape \(2, 6, 8, 8\)"
    with pytest.raises(ValueError, match=expected):
        cf.conv2d_backward(torch.zeros(2, 6, 6, 6), cache)
    with pytest.raises(TypeError, match="dtype"):
        cf.conv2d_backward(out.double(), cache)


def test_conv_transpose2d_errors():
    x = torch.zeros(1, 4, 5, 5)
    with pytest.raises(ValueError, match=r"w\.shape\[0\] must be 4"):
        cf.conv_transpose2d_forward(x, torch.zeros(3, 2, 3, 3))
    with pytest.raises(ValueError, match="output_padding must be smaller than the stride or the dilation"):
        cf.conv_transpose2d_forward(x, torch.zeros(4, 2, 3, 3), stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"height: .* = -1 <= 0"):
        cf.conv_transpose2d_forward(torch.zeros(1, 4, 1, 5), torch.zeros(4, 2, 1, 3), padding=1)
    with pytest.raises(ValueError, match="groups=3 does not divide the 4 input channels"):
        cf.conv_transpose2d_forward(x, torch.zeros(4, 2, 3, 3), groups=3)
    with pytest.raises(ValueError, match=r"b must be \(6,\)"):
        cf.conv_transpose2d_forward(x, torch.zeros(4, 3, 3, 3), torch.zeros(3), groups=2)


# --------------------------------------------------------------------------- course_lib.shapes


@pytest.mark.parametrize("n, kernel, pad, stride, dilation, expected", [
    (7, 3, 0, 1, 1, 5),       # narrow: n - m + 1
    (7, 3, 2, 1, 1, 9),       # wide: n + m - 1
    (7, 3, 1, 1, 1, 7),       # same
    (7, 3, 0, 2, 1, 3),
    (7, 3, 0, 3, 1, 2),       # (7 - 3)/3 + 1 is not an integer: floor
    (7, 3, 0, 1, 2, 3),       # dilated 3x3 spans 5
    (227, 11, 0, 4, 1, 55),   # AlexNet conv1
    (32, 5, 0, 1, 1, 28),
])
def test_conv_output_size(n, kernel, pad, stride, dilation, expected):
    assert shapes.conv_output_size(n, kernel, pad, stride, dilation) == expected


def test_conv_output_size_errors():
    with pytest.raises(ValueError, match="stride does not tile the input exactly"):
        shapes.conv_output_size(7, 3, stride=3, strict=True)
    assert shapes.conv_output_size(7, 3, stride=2, strict=True) == 3
    with pytest.raises(ValueError, match=r"kernel of size 5 does not fit in the input of size 3"):
        shapes.conv_output_size(3, 5)
    with pytest.raises(ValueError, match=r"dilation 3 makes it span 7"):
        shapes.conv_output_size(6, 3, dilation=3)
    with pytest.raises(TypeError, match="kernel must be an int"):
        shapes.conv_output_size(6, 2.5)


def test_slides_shape_chain_39_to_1960_features():
    """39x39x3 -> 37x37x10 (3x3, s1) -> 17x17x20 (5x5, s2) -> 7x7x40 (5x5, s2) -> 1960 features."""
    size, channels = 39, 3
    sizes = []
    for kernel, stride, filters in [(3, 1, 10), (5, 2, 20), (5, 2, 40)]:
        size, channels = shapes.conv_output_size(size, kernel, stride=stride, strict=True), filters
        sizes.append((size, size, channels))
    assert sizes == [(37, 37, 10), (17, 17, 20), (7, 7, 40)]
    assert math.prod(sizes[-1]) == 1960
    # the layers themselves agree (meta device: shapes only)
    x = torch.empty(1, 3, 39, 39, device="meta")
    for (kernel, stride, filters), in_ch in zip([(3, 1, 10), (5, 2, 20), (5, 2, 40)], [3, 10, 20]):
        x, _ = cf.conv2d_forward(x, torch.empty(filters, in_ch, kernel, kernel, device="meta"), stride=stride)
    assert x.flatten(1).shape == (1, 1960)


def test_slides_32x32x3_with_six_5x5_filters():
    out, _ = cf.conv2d_forward(torch.randn(1, 3, 32, 32), torch.randn(6, 3, 5, 5))
    assert out.shape == (1, 6, 28, 28)
    assert shapes.conv_layer_params(3, 6, 5) == 6 * (5 * 5 * 3 + 1)


def test_alexnet_conv1_parameters_and_macs():
    assert shapes.conv_layer_params(3, 96, 11) == 34_944
    assert shapes.conv_layer_macs(3, 96, 11, 227, stride=4) == 105_415_200
    assert sum(p.numel() for p in ca.Conv2d(3, 96, 11, stride=4).parameters()) == 34_944


def test_layer_params_and_macs_other_cases():
    assert shapes.conv_layer_params(3, 100, 10) == 100 * 10 * 10 * 3 + 100   # 100 filters 10x10 on an RGB image
    assert shapes.conv_layer_params(1, 100, 10, bias=False) == 100 * 100       # 100 weights per filter, shared
    assert shapes.conv_layer_params(64, 64, 3, groups=64, bias=False) == 64 * 9  # depthwise
    assert shapes.conv_layer_params(16, 32, (3, 5), groups=4) == 32 * 4 * 15 + 32
    assert shapes.conv_layer_macs(64, 64, 3, (32, 16), padding=1, batch=2) == 2 * 64 * 32 * 16 * 64 * 9
    with pytest.raises(ValueError, match="groups=3 must divide"):
        shapes.conv_layer_params(4, 6, 3, groups=3)


@pytest.mark.parametrize("layers, expected", [
    ([], (1, 1)),
    ([(3, 1)] * 3, (7, 1)),                        # three 3x3 see as much as one 7x7
    ([(3, 1), (2, 2), (3, 1)], (8, 2)),            # conv, 2x2 pool, conv
    ([(3, 1, 1), (3, 1, 2), (3, 1, 4)], (15, 1)),  # dilations 1, 2, 4 grow it exponentially
    ([(11, 4), (3, 2), (5, 1), (3, 2), (3, 1)], (99, 16)),  # AlexNet conv1, pool1, conv2, pool2, conv3
])
def test_receptive_field(layers, expected):
    assert shapes.receptive_field(layers) == expected
    assert shapes.receptive_field(layers).size == expected[0]


def test_receptive_field_pool_after_conv_is_p_plus_k_minus_1():
    for k in range(1, 6):
        for p in range(1, 4):
            assert shapes.receptive_field([(k, 1), (p, 1)]).size == p + k - 1


def test_receptive_field_errors():
    with pytest.raises(ValueError, match=r"layer 1 must be \(kernel, stride\)"):
        shapes.receptive_field([(3, 1), (3,)])


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 50), kernel=st.integers(1, 7), pad=st.integers(0, 3), stride=st.integers(1, 4),
       dilation=st.integers(1, 3))
def test_transposed_output_size_inverts_output_size(n, kernel, pad, stride, dilation):
    """A transposed convolution with output_padding = the pixels the strides skipped restores n."""
    extent = dilation * (kernel - 1) + 1
    if extent > n + 2 * pad:
        with pytest.raises(ValueError):
            shapes.conv_output_size(n, kernel, pad, stride, dilation)
        return
    out = shapes.conv_output_size(n, kernel, pad, stride, dilation)
    skipped = (n + 2 * pad - extent) % stride
    assert shapes.conv_transpose_output_size(out, kernel, pad, stride, dilation, output_padding=skipped) == n
