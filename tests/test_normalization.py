"""course_lib normalization layers (batch norm, layer norm, LRN, LCN) against torch."""
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib import functional as cf
from course_lib import nn as ca
from course_lib.filters import gaussian_kernel

from conftest import tolerances

try:  # tests/ may or may not be a package
    from .strategies import LAYOUTS, make_tensor, seeds
except ImportError:
    from strategies import LAYOUTS, make_tensor, seeds

pytestmark = pytest.mark.ch3

float_dtypes = st.sampled_from([torch.float32, torch.float64])
layouts = st.sampled_from(LAYOUTS)



def torch_reference(fn, tensors, dout):
    """Output and gradients of ``fn(*tensors)`` under torch autograd.

    The reference runs on contiguous copies: course_lib is what is tested on odd
    layouts, and torch's CPU batch-norm backward (evaluation mode) returns wrong
    gradients for inputs whose strides read both as contiguous and as
    channels-last, e.g. shape (1, 2, 1, 2) with strides (4, 1, 2, 2).
    """
    leaves = [t.detach().contiguous().requires_grad_(True) for t in tensors]
    out = fn(*leaves)
    out.backward(dout)
    return out.detach(), [t.grad for t in leaves]


# ----------------------------------------------------------------------------- batch normalization

bn_shapes = st.one_of(
    st.tuples(st.integers(2, 6), st.integers(1, 5)),                                       # (N, D)
    st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.integers(1, 4)),  # (N, C, H, W)
).filter(lambda s: s[0] * (s[2] * s[3] if len(s) == 4 else 1) > 1)  # training needs 2+ values per channel


@settings(max_examples=40, deadline=None)
@given(shape=bn_shapes, dtype=float_dtypes, layout=layouts, seed=seeds, training=st.booleans(),
       momentum=st.sampled_from([0.1, 0.5, 1.0]))
def test_batchnorm_matches_torch_including_running_stats(device, shape, dtype, layout, seed, training, momentum):
    c = shape[1]
    x = make_tensor(shape, dtype=dtype, device=device, seed=seed, layout=layout).mul_(3).add_(1)
    gamma = make_tensor((c,), dtype=dtype, device=device, seed=seed + 1)
    beta = make_tensor((c,), dtype=dtype, device=device, seed=seed + 2)
    running_mean = make_tensor((c,), dtype=dtype, device=device, seed=seed + 3)
    running_var = make_tensor((c,), dtype=dtype, device=device, seed=seed + 4).abs_().add_(0.5)
    dout = make_tensor(shape, dtype=dtype, device=device, seed=seed + 5)
    torch_mean, torch_var = running_mean.clone(), running_var.clone()

    out, cache = cf.batchnorm_forward(x, gamma, beta, running_mean=running_mean, running_var=running_var,
                                      training=training, momentum=momentum, eps=1e-5)
    dx, dgamma, dbeta = cf.batchnorm_backward(dout, cache)
    want, grads = torch_reference(
        lambda x_, g_, b_: F.batch_norm(x_, torch_mean, torch_var, g_, b_, training=training, momentum=momentum,
                                        eps=1e-5), (x, gamma, beta), dout)
    tol = tolerances(dtype)
    assert out.device == x.device and out.dtype == dtype
    torch.testing.assert_close(out, want, **tol)
    torch.testing.assert_close(running_mean, torch_mean, **tol)
    torch.testing.assert_close(running_var, torch_var, **tol)
    for got, ref in zip((dx, dgamma, dbeta), grads):
        torch.testing.assert_close(got, ref, **tol)


def test_batchnorm_variance_conventions(device):
    x = torch.tensor([[1.0], [2.0], [3.0], [6.0]], dtype=torch.float64, device=device)  # mean 3, biased var 3.5
    mean, var = torch.zeros(1, dtype=torch.float64, device=device), torch.ones(1, dtype=torch.float64, device=device)
    out, _ = cf.batchnorm_forward(x, torch.ones_like(mean), torch.zeros_like(mean), running_mean=mean,
                                  running_var=var, training=True, momentum=1.0, eps=0.0)
    torch.testing.assert_close(out, (x - 3) / 3.5 ** 0.5)          # normalised with the biased variance
    assert mean.item() == pytest.approx(3.0)
    assert var.item() == pytest.approx(3.5 * 4 / 3)                 # running estimate: unbiased
    out, _ = cf.batchnorm_forward(x, torch.ones_like(mean), torch.zeros_like(mean), running_mean=mean,
                                  running_var=var, training=False, eps=0.0)
    torch.testing.assert_close(out, (x - 3) / (3.5 * 4 / 3) ** 0.5)  # evaluation: the running statistics


def test_batchnorm_module_tracks_torch_module(device):
    torch.manual_seed(0)
    ours, theirs = ca.BatchNorm(3, device=device), torch.nn.BatchNorm2d(3, device=device)
    with torch.no_grad():
        ours.weight.copy_(torch.tensor([1.0, 2.0, 0.5]))
        theirs.weight.copy_(ours.weight)
    for step in range(3):
        x = make_tensor((4, 3, 5, 5), dtype=torch.float32, device=device, seed=step).mul_(step + 1).add_(step)
        torch.testing.assert_close(ours(x), theirs(x))
    torch.testing.assert_close(ours.running_mean, theirs.running_mean)
    torch.testing.assert_close(ours.running_var, theirs.running_var)
    ours.eval(), theirs.eval()
    x = make_tensor((2, 3, 5, 5), dtype=torch.float32, device=device, seed=9)
    torch.testing.assert_close(ours(x), theirs(x))
    assert set(ours.state_dict()) == set(theirs.state_dict())   # torch's names, num_batches_tracked included
    ours.load_state_dict(theirs.state_dict())


def test_batchnorm_and_layernorm_bridge_pass_gradcheck(device):
    x = make_tensor((4, 3, 2, 2), device=device, seed=1).requires_grad_(True)
    gamma = make_tensor((3,), device=device, seed=2).requires_grad_(True)
    beta = make_tensor((3,), device=device, seed=3).requires_grad_(True)
    mean, var = torch.zeros(3, dtype=torch.float64, device=device), torch.ones(3, dtype=torch.float64, device=device)
    assert torch.autograd.gradcheck(lambda *t: ca.batch_norm(*t, training=True), (x, gamma, beta))
    assert torch.autograd.gradcheck(lambda *t: ca.batch_norm(*t, mean, var, False), (x, gamma, beta))
    x2 = make_tensor((5, 3), device=device, seed=4).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda *t: ca.batch_norm(*t), (x2, gamma, beta))
    assert torch.autograd.gradcheck(ca.layer_norm, (x2, gamma, beta))


# ----------------------------------------------------------------------------- layer normalization

@settings(max_examples=25, deadline=None)
@given(lead=st.lists(st.integers(1, 3), min_size=1, max_size=2),
       norm=st.lists(st.integers(1, 4), min_size=1, max_size=3).filter(lambda s: s != [1] * len(s)),  # 2+ features
       dtype=float_dtypes, seed=seeds)
def test_layernorm_matches_torch(device, lead, norm, dtype, seed):
    shape = (*lead, *norm)
    x = make_tensor(shape, dtype=dtype, device=device, seed=seed).mul_(2).add_(1)
    gamma = make_tensor(norm, dtype=dtype, device=device, seed=seed + 1)
    beta = make_tensor(norm, dtype=dtype, device=device, seed=seed + 2)
    dout = make_tensor(shape, dtype=dtype, device=device, seed=seed + 3)
    out, cache = cf.layernorm_forward(x, gamma, beta)
    want, grads = torch_reference(lambda x_, g_, b_: F.layer_norm(x_, tuple(norm), g_, b_, 1e-5),
                                  (x, gamma, beta), dout)
    tol = tolerances(dtype)
    if dtype == torch.float32:  # with 2-3 features x - mean can be tiny: float32 rounding is amplified by 1/std
        tol = {"rtol": 1e-3, "atol": 2e-4}
    torch.testing.assert_close(out, want, **tol)
    for got, ref in zip(cf.layernorm_backward(dout, cache), grads):
        torch.testing.assert_close(got, ref, **tol)


# ----------------------------------------------------------------------------- local response normalization

@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 8), spatial=st.lists(st.integers(1, 4), min_size=1, max_size=2),
       size=st.integers(1, 7), alpha=st.sampled_from([1e-4, 0.1, 1.0]), beta=st.sampled_from([0.5, 0.75, 1.0]),
       k=st.sampled_from([1.0, 2.0]), dtype=float_dtypes, layout=layouts, seed=seeds)
def test_lrn_matches_torch(device, n, c, spatial, size, alpha, beta, k, dtype, layout, seed):
    shape = (n, c, *spatial)
    x = make_tensor(shape, dtype=dtype, device=device, seed=seed, layout=layout).mul_(3)
    dout = make_tensor(shape, dtype=dtype, device=device, seed=seed + 1)
    out, cache = cf.local_response_norm_forward(x, size=size, alpha=alpha, beta=beta, k=k)
    want, (want_dx,) = torch_reference(lambda t: F.local_response_norm(t, size, alpha, beta, k), (x,), dout)
    torch.testing.assert_close(out, want, **tolerances(dtype))
    torch.testing.assert_close(cf.local_response_norm_backward(dout, cache), want_dx, **tolerances(dtype))


def test_lrn_alexnet_defaults_and_paper_convention(device):
    x = make_tensor((2, 7, 3, 3), device=device, seed=4).mul_(20)
    out, _ = cf.local_response_norm_forward(x)  # n=5, alpha=1e-4, beta=0.75, k=2
    torch.testing.assert_close(out, F.local_response_norm(x, 5, 1e-4, 0.75, 2.0))
    # the paper sums the squares (alpha not divided by n): torch's formula with alpha * n
    paper, _ = cf.local_response_norm_forward(x, alpha=1e-4, alpha_per_size=False)
    torch.testing.assert_close(paper, F.local_response_norm(x, 5, 5e-4, 0.75, 2.0))
    # written out for channel 3, window channels 1..5, at pixel (0, 0) of example 0
    denom = (2.0 + 1e-4 * (x[0, 1:6, 0, 0] ** 2).sum()) ** 0.75
    assert paper[0, 3, 0, 0].item() == pytest.approx((x[0, 3, 0, 0] / denom).item(), rel=1e-12)
    assert torch.autograd.gradcheck(lambda t: ca.local_response_norm(t, 3, 0.5, 0.75, 1.0),
                                    (x[:1, :5, :2, :2].detach().div(20).requires_grad_(True),))
    torch.testing.assert_close(ca.LocalResponseNorm()(x), out)


# ----------------------------------------------------------------------------- local contrast normalization

@pytest.mark.parametrize("across_channels", [True, False])
def test_local_contrast_norm_properties(device, across_channels):
    x = make_tensor((2, 3, 12, 10), device=device, seed=7)
    y = cf.local_contrast_norm(x, 5, 1.5, across_channels=across_channels)
    assert y.shape == x.shape and y.device == x.device and torch.isfinite(y).all()
    # subtractive and divisive: invariant to brightness (adding a constant) and contrast (positive scaling)
    torch.testing.assert_close(cf.local_contrast_norm(4 * x + 7, 5, 1.5, across_channels=across_channels), y)
    # a flat image has no contrast at all
    flat = cf.local_contrast_norm(torch.full_like(x, 3.0), 5, 1.5, across_channels=across_channels)
    assert flat.abs().max() < 1e-9  # rounding error of the mean, divided by eps
    # about unit contrast: the divisive step scales each neighbourhood to standard deviation ~1
    assert 0.7 < float(y.std()) < 1.3
    window = gaussian_kernel(5, 1.5, dtype=x.dtype, device=device)
    assert window.sum().item() == pytest.approx(1.0) and window[2, 2] == window.max()
    # gradients come from torch autograd through the forward
    small = x[:1, :2, :6, :6].detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: cf.local_contrast_norm(t, 3, 1.0, across_channels=across_channels),
                                    (small,))


# ----------------------------------------------------------------------------- errors

def test_clear_errors():
    x = torch.zeros(4, 3)
    ones, zeros = torch.ones(3), torch.zeros(3)
    with pytest.raises(ValueError, match=r"gamma has shape \(2,\) but x has 3 channels"):
        cf.batchnorm_forward(x, torch.ones(2), zeros, running_mean=None, running_var=None, training=True)
    with pytest.raises(ValueError, match="needs running_mean"):
        cf.batchnorm_forward(x, ones, zeros, running_mean=None, running_var=ones, training=False)
    with pytest.raises(ValueError, match="more than one value per channel"):
        cf.batchnorm_forward(torch.zeros(1, 3), ones, zeros, running_mean=None, running_var=None, training=True)
    with pytest.raises(TypeError, match="dtype"):
        cf.batchnorm_forward(x, ones.double(), zeros, running_mean=None, running_var=None, training=True)
    with pytest.raises(ValueError, match="trailing dimensions"):
        cf.layernorm_forward(x, torch.ones(4), torch.zeros(4))
    with pytest.raises(ValueError, match="size must be a positive int"):
        cf.local_response_norm_forward(torch.zeros(1, 3, 2, 2), size=0)
    with pytest.raises(ValueError, match="odd"):
        cf.local_contrast_norm(torch.zeros(1, 1, 5, 5), 4, 1.0)
    with pytest.raises(ValueError, match="must be 4-d"):
        cf.local_contrast_norm(torch.zeros(5, 5), 3, 1.0)
    _, cache = cf.batchnorm_forward(x, ones, zeros, running_mean=None, running_var=None, training=True)
    with pytest.raises(ValueError, match=r"dout has shape \(3, 4\)"):
        cf.batchnorm_backward(torch.zeros(3, 4), cache)
