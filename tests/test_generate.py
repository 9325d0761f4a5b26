"""course_lib.generate: the Gram matrix against a direct computation, the losses against their
definitions, and style transfer / deep dream on tiny images (losses fall, energy grows, seeded)."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib import generate as gen
from course_lib.device import available_devices

pytestmark = pytest.mark.ch6

DEVICES = [pytest.param(d, id=str(d)) for d in available_devices()]


@pytest.mark.parametrize("device", DEVICES)
@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 5), h=st.integers(1, 6), w=st.integers(1, 6),
       seed=st.integers(0, 2**31 - 1), dtype=st.sampled_from([torch.float32, torch.float64]))
def test_gram_matrix_matches_loops_and_einsum(device, n, c, h, w, seed, dtype):
    f = torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    got = gen.gram_matrix(f.to(device, dtype))
    assert got.shape == (n, c, c) and got.dtype == dtype and got.device.type == device.type
    loops = torch.zeros(n, c, c, dtype=torch.float64)
    for b in range(n):
        for i in range(c):
            for j in range(c):
                loops[b, i, j] = sum(f[b, i, y, x] * f[b, j, y, x] for y in range(h) for x in range(w)) / (h * w)
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == torch.float32 else {}
    torch.testing.assert_close(got.cpu().double(), loops, **tol)
    torch.testing.assert_close(got.cpu().double(), torch.einsum("nihw,njhw->nij", f, f) / (h * w), **tol)


def test_losses_against_their_definitions():
    torch.manual_seed(0)
    f1, f2 = torch.randn(1, 3, 4, 5, dtype=torch.float64), torch.randn(1, 6, 2, 2, dtype=torch.float64)
    t1, t2 = torch.randn(1, 3, 3, dtype=torch.float64), torch.randn(1, 6, 6, dtype=torch.float64)
    expected = 2.0 * ((gen.gram_matrix(f1) - t1) ** 2).mean() + 0.5 * ((gen.gram_matrix(f2) - t2) ** 2).mean()
    torch.testing.assert_close(gen.style_loss([f1, f2], [t1, t2], [2.0, 0.5]), expected)
    target = torch.randn_like(f1)
    torch.testing.assert_close(gen.content_loss(f1, target), ((f1 - target) ** 2).mean())
    x = torch.tensor([[[[0.0, 1.0], [3.0, 3.0]]]], dtype=torch.float64)
    # vertical differences 3, 2 (mean of squares 6.5); horizontal 1, 0 (0.5)
    assert gen.total_variation(x).item() == pytest.approx(7.0)
    assert gen.total_variation(torch.ones(2, 3, 5, 5)).item() == 0
    with pytest.raises(ValueError, match="target Gram"):
        gen.style_loss([f1], [t1, t2])
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        gen.gram_matrix(torch.zeros(3, 4))


def test_style_loss_gradient_by_gradcheck():
    torch.manual_seed(2)
    f = torch.randn(1, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    a = torch.randn(1, 3, 3, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: gen.style_loss([t], [a]), (f,))
    assert torch.autograd.gradcheck(gen.total_variation, (f,))


def test_layer_outputs_and_random_net():
    net = gen.random_feature_net(seed=3, widths=(4, 8))
    assert all(not p.requires_grad for p in net.parameters())
    x = torch.rand(1, 3, 16, 16)
    outs = gen.layer_outputs(net, x, [4, 1])
    assert outs[0].shape == (1, 8, 8, 8) and outs[1].shape == (1, 4, 16, 16)
    torch.testing.assert_close(outs[1], net[:2](x))
    same = gen.random_feature_net(seed=3, widths=(4, 8))
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), same.parameters()))
    with pytest.raises(ValueError, match="indices"):
        gen.layer_outputs(net, x, [9])


@pytest.fixture(scope="module")
def tiny_images():
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 24), torch.linspace(0, 1, 24), indexing="ij")
    content = torch.stack([yy, xx, 1 - yy])                                  # a smooth gradient
    stripes = (torch.sin(xx * 25) > 0).float()
    style = torch.stack([stripes, 1 - stripes, 0.5 * torch.ones_like(xx)]) * 0.9 + 0.05 * torch.rand(3, 24, 24, generator=g)
    return content, style


@pytest.mark.parametrize("optimizer,steps", [("adam", 12), ("lbfgs", 6)])
def test_style_transfer_loss_decreases_and_is_seeded(tiny_images, optimizer, steps):
    content, style = tiny_images
    net = gen.random_feature_net(seed=0, widths=(8, 16, 16))
    kwargs = dict(content_layers=(4,), style_layers=(1, 4, 7), steps=steps, optimizer=optimizer, lr=0.05, seed=1)
    result = gen.style_transfer(content, style, net, **kwargs)
    assert result.image.shape == content.shape
    assert 0 <= result.image.min() and result.image.max() <= 1
    assert len(result.losses) == steps and result.losses[-1] < 0.7 * result.losses[0]
    again = gen.style_transfer(content, style, net, **kwargs)
    assert torch.equal(result.image, again.image) and result.losses == again.losses
    texture = gen.style_transfer(content, style, net, init="noise", content_weight=0.0, **kwargs)
    assert texture.losses[-1] < texture.losses[0]


def test_style_transfer_rejects_bad_arguments(tiny_images):
    content, style = tiny_images
    net = gen.random_feature_net(widths=(4,))
    with pytest.raises(ValueError, match="content must be"):
        gen.style_transfer(content[None], style, net)
    with pytest.raises(ValueError, match="optimizer"):
        gen.style_transfer(content, style, net, optimizer="sgd", content_layers=(1,), style_layers=(1,))


def test_deep_dream_grows_the_energy_and_is_seeded(tiny_images):
    content, _ = tiny_images
    net = gen.random_feature_net(seed=0, widths=(8, 16))
    result = gen.deep_dream(content, net, 4, steps=5, octaves=2, octave_scale=1.5, jitter=2, lr=0.01, seed=4)
    assert result.image.shape == content.shape and len(result.objective) == 10
    assert 0 <= result.image.min() and result.image.max() <= 1
    assert result.objective[4] > result.objective[0] and result.objective[9] > result.objective[5]
    assert not torch.equal(result.image, content)
    again = gen.deep_dream(content, net, 4, steps=5, octaves=2, octave_scale=1.5, jitter=2, lr=0.01, seed=4)
    assert torch.equal(result.image, again.image)
    one = gen.deep_dream(content, net, 4, steps=3, octaves=1, channels=[2], jitter=0)
    assert one.objective[-1] > one.objective[0]
    with pytest.raises(ValueError, match="octave_scale"):
        gen.deep_dream(content, net, 4, octave_scale=1.0)
