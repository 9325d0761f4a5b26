"""course_lib inverted dropout: statistics, reproducibility, evaluation mode, gradients."""
import pytest
import torch

from course_lib import functional as cf
from course_lib import nn as ca

pytestmark = pytest.mark.ch3



def seeded(device, seed=0):
    return torch.Generator(device=device).manual_seed(seed)


@pytest.mark.parametrize("p_keep", [0.5, 0.8, 0.2])
def test_keep_fraction_and_mean_are_preserved(device, p_keep):
    x = torch.full((400, 500), 2.0, device=device)  # 200,000 units
    out, cache = cf.dropout_forward(x, p_keep=p_keep, generator=seeded(device))
    kept = out != 0
    # 4 standard deviations of a binomial fraction over 200,000 units is below 0.005
    assert abs(kept.float().mean().item() - p_keep) < 0.005
    assert abs(out.mean().item() - 2.0) < 0.05                      # inverted dropout: E[out] = x
    torch.testing.assert_close(out[kept], torch.full_like(out[kept], 2.0 / p_keep))
    assert out.device == x.device and out.dtype == x.dtype


def test_same_seed_same_mask(device):
    x = torch.randn(64, 32, device=device)
    a, _ = cf.dropout_forward(x, generator=seeded(device, 7))
    b, _ = cf.dropout_forward(x, generator=seeded(device, 7))
    c, _ = cf.dropout_forward(x, generator=seeded(device, 8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_evaluation_and_keep_all_are_identity(device):
    x = torch.randn(5, 6, device=device)
    out, cache = cf.dropout_forward(x, p_keep=0.5, training=False)
    assert out is x
    dout = torch.randn_like(x)
    assert torch.equal(cf.dropout_backward(dout, cache), dout)
    out, _ = cf.dropout_forward(x, p_keep=1.0, generator=seeded(device))
    assert torch.equal(out, x)


def test_backward_uses_the_forward_mask(device):
    x = torch.randn(8, 9, dtype=torch.float64, device=device)
    out, cache = cf.dropout_forward(x, p_keep=0.6, generator=seeded(device, 3))
    dout = torch.randn_like(x)
    dx = cf.dropout_backward(dout, cache)
    torch.testing.assert_close(dx, torch.where(out != 0, dout / 0.6, torch.zeros_like(dout)))
    # same as autograd through the explicit formula
    leaf = x.clone().requires_grad_(True)
    (leaf * cache.mask).backward(dout)
    torch.testing.assert_close(dx, leaf.grad)


def test_bridge_and_module(device):
    x = torch.randn(4, 5, dtype=torch.float64, device=device, requires_grad=True)
    # a fresh generator with the same seed on every call, so gradcheck's repeated forwards see one mask
    assert torch.autograd.gradcheck(lambda t: ca.dropout(t, 0.5, True, seeded(device, 1)), (x,))
    assert torch.autograd.gradcheck(lambda t: ca.dropout(t, 0.5, False), (x,))
    layer = ca.Dropout(0.5, generator=seeded(device, 2))
    y = layer(x)
    assert (y == 0).any() and ((y == 0) | torch.isclose(y, 2 * x)).all()
    layer.eval()
    assert torch.equal(layer(x), x)
    assert "p_keep=0.5" in repr(layer)


def test_clear_errors():
    x = torch.zeros(3)
    for bad in (0.0, -0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"p_keep .* must lie in \(0, 1\]"):
            cf.dropout_forward(x, p_keep=bad)
    with pytest.raises(ValueError, match="p_keep"):
        ca.Dropout(0.0)
    with pytest.raises(TypeError, match="floating-point"):
        cf.dropout_forward(torch.zeros(3, dtype=torch.long))
    _, cache = cf.dropout_forward(x, generator=seeded("cpu"))
    with pytest.raises(ValueError, match=r"dout has shape \(4,\)"):
        cf.dropout_backward(torch.zeros(4), cache)


def test_generator_on_another_device_is_refused():
    # The meta device stands in for "another device" on machines without a GPU.
    with pytest.raises(ValueError, match="generator is on cpu but x is on meta"):
        cf.dropout_forward(torch.zeros(3, device="meta"), generator=torch.Generator())
