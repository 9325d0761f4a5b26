"""course_lib.functional.text (sentence convolutions, max-over-time, k-max pooling, folding)
against torch's conv1d, a sort-based k-max reference and torch.autograd.gradcheck."""
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib import functional as cf
from course_lib import grading
from course_lib.nn import function_from_pair

pytestmark = pytest.mark.ch5

DEVICES = [pytest.param(d, id=str(d)) for d in grading.test_devices()]
dtypes = st.sampled_from([torch.float32, torch.float64])


def tol(dtype):
    return {"rtol": 1e-5, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 1e-10, "atol": 1e-10}


def randn(*shape, seed, dtype=torch.float64, device="cpu"):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype=dtype, device=device)


def torch_text_conv(x, w, b, pad):
    """The same layer with torch's channels-first conv1d."""
    return F.conv1d(x.transpose(1, 2), w.transpose(1, 2), b, padding=pad).transpose(1, 2)


def torch_rowwise_conv(x, w, b, pad):
    """Row-wise convolution as torch's grouped conv1d: one group per row d, channels (d, c)."""
    n, length, c, d = x.shape
    f, _, width, _ = w.shape
    xt = x.permute(0, 3, 2, 1).reshape(n, d * c, length)               # channel d * C + c
    wt = w.permute(3, 0, 1, 2).reshape(d * f, c, width)                # output channel d * F + f
    out = F.conv1d(xt, wt, None if b is None else b.t().reshape(-1), padding=pad, groups=d)
    return out.reshape(n, d, f, -1).permute(0, 3, 2, 1)


def sort_kmax(x, k):
    """Reference k-max: sort the (value, -position) pairs, keep k, restore position order (loops, CPU)."""
    n, length = x.shape[:2]
    flat = x.movedim(1, -1).reshape(-1, length).cpu().tolist()
    rows = []
    for row in flat:
        best = sorted(range(length), key=lambda t: (-row[t], t))[:k]
        rows.append([row[t] for t in sorted(best)])
    return torch.tensor(rows, dtype=x.dtype).reshape(*x.movedim(1, -1).shape[:-1], k).movedim(-1, 1)


# ----------------------------------------------------------------------------- convolution

@pytest.mark.parametrize("device", DEVICES)
@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 3), length=st.integers(1, 9), e=st.integers(1, 5), f=st.integers(1, 4),
       width=st.integers(1, 5), mode=st.sampled_from(["narrow", "wide", "int"]), bias=st.booleans(),
       dtype=dtypes, seed=st.integers(0, 2**31 - 1), naive=st.booleans())
def test_text_conv1d_matches_torch(device, n, length, e, f, width, mode, bias, dtype, seed, naive):
    pad = {"narrow": 0, "wide": width - 1, "int": width // 2}[mode]
    padding = pad if mode == "int" else mode
    x = randn(n, length, e, seed=seed, dtype=dtype, device=device)
    w = randn(f, width, e, seed=seed + 1, dtype=dtype, device=device)
    b = randn(f, seed=seed + 2, dtype=dtype, device=device) if bias else None
    forward = cf.text_conv1d_forward_naive if naive else cf.text_conv1d_forward
    backward = cf.text_conv1d_backward_naive if naive else cf.text_conv1d_backward
    if length + 2 * pad < width:
        with pytest.raises(ValueError, match="does not fit"):
            forward(x, w, b, padding=padding)
        return
    out, cache = forward(x, w, b, padding=padding)
    assert out.shape == (n, length + 2 * pad - width + 1, f) and out.device == x.device
    torch.testing.assert_close(out, torch_text_conv(x, w, b, pad), **tol(dtype))
    xr, wr = x.clone().requires_grad_(), w.clone().requires_grad_()
    br = b.clone().requires_grad_() if bias else None
    dout = randn(*out.shape, seed=seed + 3, dtype=dtype, device=device)
    torch_text_conv(xr, wr, br, pad).backward(dout)
    dx, dw, db = backward(dout, cache)
    torch.testing.assert_close(dx, xr.grad, **tol(dtype))
    torch.testing.assert_close(dw, wr.grad, **tol(dtype))
    if bias:
        torch.testing.assert_close(db, br.grad, **tol(dtype))
    else:
        assert db is None


def test_text_conv1d_wide_and_narrow_lengths():
    x, w = torch.randn(2, 6, 4), torch.randn(3, 4, 4)
    assert cf.text_conv1d_forward(x, w, padding="narrow")[0].shape == (2, 3, 3)
    assert cf.text_conv1d_forward(x, w, padding="wide")[0].shape == (2, 9, 3)
    # a wide convolution accepts a sentence shorter than the filter, a narrow one refuses it
    assert cf.text_conv1d_forward(torch.randn(1, 2, 4), w, padding="wide")[0].shape == (1, 5, 3)
    with pytest.raises(ValueError, match="does not fit"):
        cf.text_conv1d_forward(torch.randn(1, 2, 4), w)


@pytest.mark.parametrize("bad, match", [
    (lambda: cf.text_conv1d_forward(torch.randn(2, 5, 4), torch.randn(3, 2, 5)), "embedding size"),
    (lambda: cf.text_conv1d_forward(torch.randn(2, 5), torch.randn(3, 2, 5)), "x must be 3-d"),
    (lambda: cf.text_conv1d_forward(torch.randn(2, 5, 4), torch.randn(3, 2, 4), torch.randn(2)), "b has shape"),
    (lambda: cf.text_conv1d_forward(torch.randn(2, 5, 4), torch.randn(3, 2, 4), padding="same"), "padding"),
    (lambda: cf.rowwise_conv1d_forward(torch.randn(2, 5, 1, 4), torch.randn(3, 1, 2, 3)), "w has shape"),
    (lambda: cf.rowwise_conv1d_forward(torch.randn(2, 5, 1, 4), torch.randn(3, 1, 2, 4), torch.randn(3)), "b"),
])
def test_bad_convolution_arguments_are_named(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        bad()


@pytest.mark.parametrize("device", DEVICES)
@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 3), length=st.integers(1, 8), c=st.integers(1, 3), d=st.integers(1, 4),
       f=st.integers(1, 3), width=st.integers(1, 4), wide=st.booleans(), bias=st.booleans(), dtype=dtypes,
       seed=st.integers(0, 2**31 - 1))
def test_rowwise_conv1d_matches_grouped_torch_conv(device, n, length, c, d, f, width, wide, bias, dtype, seed):
    pad = width - 1 if wide else 0
    if length + 2 * pad < width:
        length = width
    x = randn(n, length, c, d, seed=seed, dtype=dtype, device=device)
    w = randn(f, c, width, d, seed=seed + 1, dtype=dtype, device=device)
    b = randn(f, d, seed=seed + 2, dtype=dtype, device=device) if bias else None
    out, cache = cf.rowwise_conv1d_forward(x, w, b, padding="wide" if wide else "narrow")
    assert out.shape == (n, length + 2 * pad - width + 1, f, d)
    torch.testing.assert_close(out, torch_rowwise_conv(x, w, b, pad), **tol(dtype))
    xr, wr = x.clone().requires_grad_(), w.clone().requires_grad_()
    br = b.clone().requires_grad_() if bias else None
    dout = randn(*out.shape, seed=seed + 3, dtype=dtype, device=device)
    torch_rowwise_conv(xr, wr, br, pad).backward(dout)
    dx, dw, db = cf.rowwise_conv1d_backward(dout, cache)
    torch.testing.assert_close(dx, xr.grad, **tol(dtype))
    torch.testing.assert_close(dw, wr.grad, **tol(dtype))
    if bias:
        torch.testing.assert_close(db, br.grad, **tol(dtype))


def test_rowwise_convolution_never_mixes_rows():
    x = torch.zeros(1, 5, 1, 3, dtype=torch.float64)
    x[0, 2, 0, 1] = 1.0                      # one word, one row
    w = torch.ones(2, 1, 3, 3, dtype=torch.float64)
    out, _ = cf.rowwise_conv1d_forward(x, w)
    assert out[..., 0].abs().sum() == 0 and out[..., 2].abs().sum() == 0
    assert out[0, :, 0, 1].tolist() == [0, 0, 1, 1, 1, 0, 0]


# ----------------------------------------------------------------------------- pooling

@pytest.mark.parametrize("device", DEVICES)
@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 3), length=st.integers(1, 10), feat=st.sampled_from([(), (2,), (3, 2)]),
       k=st.integers(1, 10), integers=st.booleans(), dtype=dtypes, seed=st.integers(0, 2**31 - 1),
       naive=st.booleans())
def test_kmax_matches_sort_reference(device, n, length, feat, k, integers, dtype, seed, naive):
    x = randn(n, length, *feat, seed=seed, dtype=dtype, device=device)
    if integers:  # small integers: many ties
        x = (x * 1.5).round()
    forward = cf.kmax_pool1d_forward_naive if naive else cf.kmax_pool1d_forward
    if k > length:
        with pytest.raises(ValueError, match=f"k = {k} is larger than the sequence length {length}"):
            forward(x, k)
        return
    out, cache = forward(x, k)
    assert out.shape == (n, k, *feat) and out.device == x.device
    torch.testing.assert_close(out.cpu(), sort_kmax(x, k), rtol=0, atol=0)
    # order preserved: the kept positions increase, and they are the values' positions
    assert bool((cache.indices.diff(dim=1) > 0).all())
    torch.testing.assert_close(x.gather(1, cache.indices), out, rtol=0, atol=0)
    # the backward pass puts each gradient at its position, and is the adjoint of the forward pass
    dout = randn(*out.shape, seed=seed + 1, dtype=dtype, device=device)
    dx = cf.kmax_pool1d_backward(dout, cache)
    torch.testing.assert_close((dx * x).sum(), (dout * out).sum(), **tol(dtype))
    xr = x.clone().requires_grad_()
    xr.gather(1, cache.indices).backward(dout)
    torch.testing.assert_close(dx, xr.grad, rtol=0, atol=0)


def test_kmax_keeps_sentence_order_and_earliest_ties():
    x = torch.tensor([[4.0, 1.0, 7.0, 2.0, 7.0, 5.0]])
    out, cache = cf.kmax_pool1d_forward(x, 3)
    assert out.tolist() == [[7.0, 7.0, 5.0]] and cache.indices.tolist() == [[2, 4, 5]]
    out, cache = cf.kmax_pool1d_forward(torch.tensor([[2.0, 2.0, 2.0, 2.0]]), 2)
    assert cache.indices.tolist() == [[0, 1]]
    out, cache = cf.kmax_pool1d_forward(torch.tensor([[1.0, 3.0, 2.0, 3.0, 3.0]]), 2)
    assert cache.indices.tolist() == [[1, 3]]


@pytest.mark.parametrize("k, err", [(0, ValueError), (6, ValueError), (2.0, TypeError), (True, TypeError)])
def test_kmax_bad_k(k, err):
    with pytest.raises(err, match="k"):
        cf.kmax_pool1d_forward(torch.randn(2, 5, 3), k)


def test_dynamic_k_paper_example_and_errors():
    assert [cf.dynamic_k(layer, 3, 18, 3) for layer in (1, 2, 3)] == [12, 6, 3]
    assert [cf.dynamic_k(layer, 2, 7, 4) for layer in (1, 2)] == [4, 4]        # ceil(3.5) = 4 = k_top
    assert [cf.dynamic_k(layer, 2, 11, 3) for layer in (1, 2)] == [6, 3]       # ceil(5.5) = 6
    for bad in [(0, 3, 18, 3), (4, 3, 18, 3), (1, 3, 0, 3), (1, 3, 18, 0)]:
        with pytest.raises(ValueError):
            cf.dynamic_k(*bad)
    with pytest.raises(TypeError, match="length"):
        cf.dynamic_k(1, 3, 18.0, 3)


@pytest.mark.parametrize("device", DEVICES)
@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 4), length=st.integers(1, 8), feat=st.sampled_from([(), (3,), (2, 2)]),
       use_mask=st.booleans(), integers=st.booleans(), dtype=dtypes, seed=st.integers(0, 2**31 - 1))
def test_max_over_time_matches_masked_max(device, n, length, feat, use_mask, integers, dtype, seed):
    x = randn(n, length, *feat, seed=seed, dtype=dtype, device=device)
    if integers:
        x = x.round()
    lengths = torch.randint(1, length + 1, (n,), generator=torch.Generator().manual_seed(seed))
    mask = (torch.arange(length) < lengths[:, None]).to(device) if use_mask else None
    out, cache = cf.max_over_time_forward(x, mask)
    assert out.shape == (n, *feat)
    for i in range(n):  # each sentence alone, cut to its length, gives the same maximum
        real = x[i, :lengths[i]] if use_mask else x[i]
        torch.testing.assert_close(out[i], real.max(dim=0).values, rtol=0, atol=0)
    dout = randn(*out.shape, seed=seed + 1, dtype=dtype, device=device)
    dx = cf.max_over_time_backward(dout, cache)
    xr = x.clone().requires_grad_()
    masked = xr if mask is None else xr.masked_fill(~mask.reshape(n, length, *[1] * len(feat)), float("-inf"))
    masked.max(dim=1).values.backward(dout)     # torch also routes to the first maximum
    torch.testing.assert_close(dx, xr.grad, rtol=0, atol=0)
    if use_mask:
        assert dx[~mask].abs().sum() == 0


def test_max_over_time_mask_errors():
    x = torch.randn(2, 4, 3)
    with pytest.raises(TypeError, match="bool"):
        cf.max_over_time_forward(x, torch.ones(2, 4))
    with pytest.raises(ValueError, match=r"mask has shape \(2, 3\)"):
        cf.max_over_time_forward(x, torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"sentence\(s\) \[1\]"):
        cf.max_over_time_forward(x, torch.tensor([[True, False, False, False], [False] * 4]))


# ----------------------------------------------------------------------------- folding

@pytest.mark.parametrize("device", DEVICES)
def test_fold_sums_adjacent_rows(device):
    x = torch.arange(24.0, device=device).reshape(1, 3, 2, 4)
    out, cache = cf.fold_forward(x)
    torch.testing.assert_close(out, x[..., 0::2] + x[..., 1::2])
    assert out.shape == (1, 3, 2, 2)
    dout = torch.randn(out.shape, device=device)
    dx = cf.fold_backward(dout, cache)
    torch.testing.assert_close(dx[..., 0::2], dout)
    torch.testing.assert_close(dx[..., 1::2], dout)
    with pytest.raises(ValueError, match="even number of rows"):
        cf.fold_forward(torch.randn(2, 3, 5))


# ----------------------------------------------------------------------------- gradcheck

def _conv_pair(forward):
    return lambda x, w, b, padding: forward(x, w, b, padding=padding)


GRADCHECK_CASES = {
    "text_conv1d": (_conv_pair(cf.text_conv1d_forward), cf.text_conv1d_backward,
                    lambda g: (torch.randn(2, 5, 3, generator=g), torch.randn(4, 3, 3, generator=g),
                               torch.randn(4, generator=g), "wide")),
    "text_conv1d_narrow_naive": (_conv_pair(cf.text_conv1d_forward_naive), cf.text_conv1d_backward_naive,
                                 lambda g: (torch.randn(2, 6, 3, generator=g), torch.randn(2, 4, 3, generator=g),
                                            torch.randn(2, generator=g), "narrow")),
    "rowwise_conv1d": (_conv_pair(cf.rowwise_conv1d_forward), cf.rowwise_conv1d_backward,
                       lambda g: (torch.randn(2, 4, 2, 4, generator=g), torch.randn(3, 2, 3, 4, generator=g),
                                  torch.randn(3, 4, generator=g), "wide")),
    "max_over_time": (cf.max_over_time_forward, cf.max_over_time_backward,
                      lambda g: (torch.randn(3, 5, 4, generator=g),
                                 torch.arange(5) < torch.tensor([[5], [2], [1]]))),
    "kmax_pool1d": (cf.kmax_pool1d_forward, cf.kmax_pool1d_backward,
                    lambda g: (torch.randn(2, 7, 3, 2, generator=g), 3)),
    "fold": (cf.fold_forward, cf.fold_backward, lambda g: (torch.randn(2, 3, 2, 6, generator=g),)),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", list(GRADCHECK_CASES))
def test_gradcheck(name, device):
    forward, backward, make = GRADCHECK_CASES[name]
    fn = function_from_pair(forward, backward, f"{name}_function")
    args = [a.to(device=device, dtype=torch.float64) if isinstance(a, torch.Tensor) and a.is_floating_point()
            else a.to(device) if isinstance(a, torch.Tensor) else a
            for a in make(torch.Generator().manual_seed(5))]
    args = [a.requires_grad_() if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args]
    assert torch.autograd.gradcheck(fn.apply, tuple(args), eps=1e-6, atol=1e-8)
