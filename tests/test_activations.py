"""course_lib activations (leaky ReLU, sigmoid, tanh, derivatives) against torch."""
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib import functional as cf
from course_lib import nn as ca
from course_lib.functional import activations, linear

from conftest import tolerances

try:  # tests/ may or may not be a package
    from .strategies import LAYOUTS, make_tensor, seeds
except ImportError:
    from strategies import LAYOUTS, make_tensor, seeds

pytestmark = pytest.mark.ch3

shapes = st.lists(st.integers(1, 5), min_size=1, max_size=4)



def reference(fn, x, dout):
    leaf = x.detach().clone().requires_grad_(True)
    out = fn(leaf)
    out.backward(dout)
    return out.detach(), leaf.grad


CASES = {
    "leaky_relu": (lambda x: cf.leaky_relu_forward(x, negative_slope=0.1), cf.leaky_relu_backward,
                   lambda x: F.leaky_relu(x, 0.1)),
    "sigmoid": (cf.sigmoid_forward, cf.sigmoid_backward, torch.sigmoid),
    "tanh": (cf.tanh_forward, cf.tanh_backward, torch.tanh),
    "relu": (cf.relu_forward, cf.relu_backward, torch.relu),
}


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=25, deadline=None)
@given(shape=shapes, dtype=st.sampled_from([torch.float32, torch.float64]), layout=st.sampled_from(LAYOUTS),
       seed=seeds, scale=st.sampled_from([1.0, 10.0]))
def test_activation_pairs_match_torch(device, name, shape, dtype, layout, seed, scale):
    forward, backward, torch_fn = CASES[name]
    x = make_tensor(shape, dtype=dtype, device=device, seed=seed, layout=layout).mul_(scale)  # keeps the layout
    dout = make_tensor(shape, dtype=dtype, device=device, seed=seed + 1)
    out, cache = forward(x)
    dx = backward(dout, cache)
    want_out, want_dx = reference(torch_fn, x, dout)
    assert out.device == x.device and out.dtype == dtype and dx.shape == x.shape
    torch.testing.assert_close(out, want_out, **tolerances(dtype))
    torch.testing.assert_close(dx, want_dx, **tolerances(dtype))


def test_derivatives_match_autograd_and_show_saturation(device):
    x = torch.linspace(-12, 12, 241, dtype=torch.float64, device=device)
    for derivative, fn in ((cf.sigmoid_derivative, torch.sigmoid), (cf.tanh_derivative, torch.tanh),
                           (cf.relu_derivative, torch.relu),
                           (lambda t: cf.leaky_relu_derivative(t, negative_slope=0.2), lambda t: F.leaky_relu(t, 0.2))):
        leaf = x.clone().requires_grad_(True)
        (want,) = torch.autograd.grad(fn(leaf).sum(), leaf)
        torch.testing.assert_close(derivative(x), want)
    zero = torch.zeros(1, dtype=torch.float64, device=device)
    assert cf.sigmoid_derivative(zero).item() == pytest.approx(0.25)   # the sigmoid's largest slope
    assert cf.tanh_derivative(zero).item() == pytest.approx(1.0)
    assert float(cf.sigmoid_derivative(x).max()) <= 0.25
    far = torch.tensor([-10.0, 10.0], dtype=torch.float64, device=device)
    assert float(cf.sigmoid_derivative(far).max()) < 1e-4       # saturated: the gradient vanishes
    assert float(cf.tanh_derivative(far).max()) < 1e-8
    assert cf.relu_derivative(far).tolist() == [0.0, 1.0]       # ReLU: slope exactly 1 for any positive input


def test_relu_is_reused_from_chapter_one():
    assert activations.relu_forward is linear.relu_forward
    assert activations.relu_backward is linear.relu_backward


def test_bridge_passes_gradcheck(device):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, generator=gen, dtype=torch.float64).to(device).requires_grad_(True)
    for fn in (ca.sigmoid, ca.tanh, lambda t: ca.leaky_relu(t, 0.3)):
        assert torch.autograd.gradcheck(fn, (x,))


def test_clear_errors():
    with pytest.raises(TypeError, match="torch.Tensor"):
        cf.sigmoid_forward([1.0, 2.0])
    with pytest.raises(TypeError, match="floating-point"):
        cf.tanh_forward(torch.tensor([1, 2]))
    _, cache = cf.leaky_relu_forward(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"dout has shape \(3, 2\)"):
        cf.leaky_relu_backward(torch.zeros(3, 2), cache)
