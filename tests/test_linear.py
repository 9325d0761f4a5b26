"""course_lib.functional (fully connected layers, ReLU, softmax loss) against torch."""
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib import functional as cf
from course_lib import nn as ca

pytestmark = pytest.mark.ch1



@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 5), dims=st.lists(st.integers(1, 4), min_size=1, max_size=3), m=st.integers(1, 6),
       dtype=st.sampled_from([torch.float32, torch.float64]), seed=st.integers(0, 10_000))
def test_affine_forward_backward_match_torch(device, n, dims, m, dtype, seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, *dims, generator=gen, dtype=dtype).to(device)
    d = x[0].numel()
    w = torch.randn(d, m, generator=gen, dtype=dtype).to(device)
    b = torch.randn(m, generator=gen, dtype=dtype).to(device)
    dout = torch.randn(n, m, generator=gen, dtype=dtype).to(device)
    out, cache = cf.affine_forward(x, w, b)
    dx, dw, db = cf.affine_backward(dout, cache)
    xt, wt, bt = (t.clone().requires_grad_(True) for t in (x, w, b))
    ref = F.linear(xt.reshape(n, -1), wt.T, bt)
    ref.backward(dout)
    tol = {"rtol": 1e-4, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 1e-10, "atol": 1e-12}
    torch.testing.assert_close(out, ref.detach(), **tol)
    for got, want in ((dx, xt.grad), (dw, wt.grad), (db, bt.grad)):
        assert got.shape == want.shape and got.device == want.device
        torch.testing.assert_close(got, want, **tol)


def test_relu_pair(device):
    x = torch.tensor([[-1.0, 0.0, 2.0]], dtype=torch.float64, device=device)
    out, cache = cf.relu_forward(x)
    assert out.tolist() == [[0.0, 0.0, 2.0]]
    assert cf.relu_backward(torch.ones_like(x), cache).tolist() == [[0.0, 0.0, 1.0]]


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 6), c=st.integers(2, 7), scale=st.sampled_from([1.0, 50.0, 1000.0]),
       seed=st.integers(0, 10_000))
def test_softmax_loss_matches_cross_entropy(device, n, c, scale, seed):
    gen = torch.Generator().manual_seed(seed)
    scores = (torch.randn(n, c, generator=gen, dtype=torch.float64) * scale).to(device)
    y = torch.randint(0, c, (n,), generator=gen).to(device)
    loss, dscores = cf.softmax_loss(scores, y)
    st_ = scores.clone().requires_grad_(True)
    ref = F.cross_entropy(st_, y)
    ref.backward()
    assert torch.isfinite(loss)
    torch.testing.assert_close(loss, ref.detach(), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(dscores, st_.grad, rtol=1e-10, atol=1e-12)


def test_two_layer_net_gradients_match_autograd(device):
    gen = torch.Generator().manual_seed(3)
    X = torch.randn(6, 5, generator=gen, dtype=torch.float64).to(device)
    y = torch.randint(0, 3, (6,), generator=gen).to(device)
    params = {name: torch.randn(shape, generator=gen, dtype=torch.float64)
              for name, shape in (("W1", (5, 4)), ("b1", (4,)), ("W2", (4, 3)), ("b2", (3,)))}
    params = {k: v.to(device) for k, v in params.items()}
    loss, grads = cf.two_layer_net_loss(X, y, params)
    leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    ref = F.cross_entropy(torch.relu(X @ leaves["W1"] + leaves["b1"]) @ leaves["W2"] + leaves["b2"], y)
    ref.backward()
    torch.testing.assert_close(loss, ref.detach())
    for k in params:
        torch.testing.assert_close(grads[k], leaves[k].grad)


def test_autograd_bridge_passes_gradcheck():
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(3, 2, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(5, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w, b: ca.relu(ca.affine(x, w, b)), (x, w, b))


def test_linear_module_trains():
    torch.manual_seed(0)
    X = torch.randn(64, 2)
    y = (X[:, 0] * X[:, 1] > 0).long()
    net = torch.nn.Sequential(ca.Linear(2, 16), ca.ReLU(), ca.Linear(16, 2))
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    first = None
    for _ in range(200):
        loss = F.cross_entropy(net(X), y)
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss) < 0.5 * first


def test_clear_errors_for_bad_inputs():
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError, match=r"3 features.*\(3, M\)"):
        cf.affine_forward(x, torch.zeros(4, 2), torch.zeros(2))
    with pytest.raises(TypeError, match="dtype"):
        cf.affine_forward(x, torch.zeros(3, 2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64))
    with pytest.raises(ValueError, match="b has shape"):
        cf.affine_forward(x, torch.zeros(3, 2), torch.zeros(5))
    with pytest.raises(TypeError, match="torch.Tensor"):
        cf.affine_forward([[1.0]], torch.zeros(1, 1), torch.zeros(1))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        cf.softmax_loss(torch.zeros(2, 3), torch.tensor([0, 3]))
    with pytest.raises(TypeError, match="integer"):
        cf.softmax_loss(torch.zeros(2, 3), torch.tensor([0.0, 1.0]))
