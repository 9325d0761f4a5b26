"""course_lib slice, concatenation, element-wise merge and upsampling against torch."""
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
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
shapes = st.lists(st.integers(1, 5), min_size=1, max_size=4)



# ----------------------------------------------------------------------------- slice and concatenation

@st.composite
def split_cases(draw):
    shape = draw(shapes)
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    length = shape[dim]
    if draw(st.booleans()):
        sizes = draw(st.integers(1, length + 1))
    else:
        cuts = sorted(draw(st.lists(st.integers(0, length), max_size=3)))
        sizes = [b - a for a, b in zip([0, *cuts], [*cuts, length])]
    return shape, dim, sizes


@settings(max_examples=30, deadline=None)
@given(case=split_cases(), dtype=float_dtypes, layout=layouts, seed=seeds, drop=st.integers(0, 3))
def test_split_matches_torch_and_backward_concatenates(device, case, dtype, layout, seed, drop):
    shape, dim, sizes = case
    x = make_tensor(shape, dtype=dtype, device=device, seed=seed, layout=layout)
    pieces, cache = cf.split_forward(x, sizes, dim=dim)
    want = torch.split(x, sizes, dim=dim)
    assert len(pieces) == len(want)
    for got, ref in zip(pieces, want):
        torch.testing.assert_close(got, ref, rtol=0, atol=0)
    douts = [make_tensor(p.shape, dtype=dtype, device=device, seed=seed + i) for i, p in enumerate(pieces)]
    if len(douts) > 1:
        douts[drop % len(douts)] = None  # an unused piece
    leaf = x.detach().clone().requires_grad_(True)
    used = [(p, g) for p, g in zip(torch.split(leaf, sizes, dim=dim), douts) if g is not None]
    torch.autograd.backward([p for p, _ in used], [g for _, g in used])
    torch.testing.assert_close(cf.split_backward(douts, cache), leaf.grad, rtol=0, atol=0)


@settings(max_examples=30, deadline=None)
@given(shape=shapes, extra=st.lists(st.integers(0, 4), min_size=1, max_size=4), dim_seed=st.integers(0, 100),
       dtype=float_dtypes, seed=seeds)
def test_concat_matches_torch_cat(device, shape, extra, dim_seed, dtype, seed):
    dim = dim_seed % len(shape) - (len(shape) if dim_seed % 2 else 0)  # negative dims too
    inputs = []
    for i, size in enumerate(extra):
        s = list(shape)
        s[dim] = size
        inputs.append(make_tensor(s, dtype=dtype, device=device, seed=seed + i))
    out, cache = cf.concat_forward(inputs, dim=dim)
    torch.testing.assert_close(out, torch.cat(inputs, dim=dim), rtol=0, atol=0)
    leaves = [t.clone().requires_grad_(True) for t in inputs]
    dout = make_tensor(out.shape, dtype=dtype, device=device, seed=seed + 99)
    torch.cat(leaves, dim=dim).backward(dout)
    grads = cf.concat_backward(dout, cache)
    assert len(grads) == len(inputs)
    for got, leaf in zip(grads, leaves):
        torch.testing.assert_close(got, leaf.grad, rtol=0, atol=0)


def test_concat_examples_from_the_chapter(device):
    a, b = torch.randn(1, 100, device=device), torch.randn(1, 100, device=device)
    assert cf.concat_forward([a, b])[0].shape == (1, 200)
    rgb, depth = torch.rand(2, 3, 8, 8, device=device), torch.rand(2, 1, 8, 8, device=device)
    rgbd, cache = cf.concat_forward([rgb, depth], dim=1)
    assert rgbd.shape == (2, 4, 8, 8) and torch.equal(rgbd[:, 3:], depth)
    d_rgb, d_depth = cf.concat_backward(torch.ones_like(rgbd), cache)
    assert d_rgb.shape == rgb.shape and d_depth.shape == depth.shape
    # slicing the channels back recovers the inputs
    pieces, _ = cf.split_forward(rgbd, [3, 1], dim=1)
    assert torch.equal(pieces[0], rgb) and torch.equal(pieces[1], depth)


# ----------------------------------------------------------------------------- element-wise merges

TORCH_MERGES = {
    "sum": lambda ts: sum(ts[1:], ts[0]),
    "diff": lambda ts: ts[0] - ts[1],
    "prod": lambda ts: torch.stack(ts).prod(dim=0),
    "max": lambda ts: torch.stack(ts).amax(dim=0),
}


@pytest.mark.parametrize("op", sorted(TORCH_MERGES))
@settings(max_examples=25, deadline=None)
@given(shape=shapes, n=st.integers(1, 4), dtype=float_dtypes, layout=layouts, seed=seeds)
def test_merges_match_torch_autograd(device, op, shape, n, dtype, layout, seed):
    if op == "diff":
        n = 2
    inputs = [make_tensor(shape, dtype=dtype, device=device, seed=seed + i, layout=layout) for i in range(n)]
    out, cache = cf.merge_forward(inputs, op=op)
    leaves = [t.detach().clone().requires_grad_(True) for t in inputs]
    want = TORCH_MERGES[op](leaves)
    dout = make_tensor(want.shape, dtype=dtype, device=device, seed=seed + 50)
    want.backward(dout)
    torch.testing.assert_close(out, want.detach(), **tolerances(dtype))
    grads = cf.merge_backward(dout, cache)
    assert len(grads) == n
    for got, leaf in zip(grads, leaves):
        torch.testing.assert_close(got, leaf.grad, **tolerances(dtype))


def test_max_merge_ties_go_to_first_input_and_prod_handles_zeros(device):
    a = torch.tensor([1.0, 2.0, 3.0], device=device)
    b = torch.tensor([1.0, 5.0, 3.0], device=device)
    out, cache = cf.merge_forward([a, b, a.clone()], op="max")
    ga, gb, gc = cf.merge_backward(torch.ones(3, device=device), cache)
    assert out.tolist() == [1.0, 5.0, 3.0]
    assert ga.tolist() == [1.0, 0.0, 1.0] and gb.tolist() == [0.0, 1.0, 0.0] and gc.tolist() == [0.0, 0.0, 0.0]
    z = torch.tensor([0.0, 2.0], device=device)
    _, cache = cf.merge_forward([z, z.clone(), torch.tensor([3.0, 4.0], device=device)], op="prod")
    grads = cf.merge_backward(torch.ones(2, device=device), cache)
    assert all(torch.isfinite(g).all() for g in grads)
    assert grads[2].tolist() == [0.0, 4.0]


# ----------------------------------------------------------------------------- upsampling

@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(1, 5), w=st.integers(1, 5),
       scale=st.one_of(st.integers(1, 4), st.tuples(st.integers(1, 4), st.integers(1, 4))),
       dtype=float_dtypes, layout=layouts, seed=seeds)
def test_nearest_upsampling_matches_interpolate(device, n, c, h, w, scale, dtype, layout, seed):
    x = make_tensor((n, c, h, w), dtype=dtype, device=device, seed=seed, layout=layout)
    out, cache = cf.upsample_forward(x, scale_factor=scale, mode="nearest")
    leaf = x.detach().clone().requires_grad_(True)
    want = F.interpolate(leaf, scale_factor=scale, mode="nearest")
    dout = make_tensor(want.shape, dtype=dtype, device=device, seed=seed + 1)
    want.backward(dout)
    torch.testing.assert_close(out, want.detach(), rtol=0, atol=0)
    torch.testing.assert_close(cf.upsample_backward(dout, cache), leaf.grad, **tolerances(dtype))


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(1, 6), w=st.integers(1, 6),
       scale=st.one_of(st.integers(1, 4), st.sampled_from([0.5, 1.5, 2.5, 1.75]),
                       st.tuples(st.sampled_from([1, 2, 3, 1.5]), st.sampled_from([1, 2, 0.75, 2.5]))),
       dtype=float_dtypes, layout=layouts, seed=seeds)
def test_bilinear_upsampling_matches_interpolate(device, n, c, h, w, scale, dtype, layout, seed):
    sh, sw = scale if isinstance(scale, tuple) else (scale, scale)
    assume(int(h * sh) >= 1 and int(w * sw) >= 1)
    x = make_tensor((n, c, h, w), dtype=dtype, device=device, seed=seed, layout=layout)
    out, cache = cf.upsample_forward(x, scale_factor=scale, mode="bilinear")
    leaf = x.detach().clone().requires_grad_(True)
    want = F.interpolate(leaf, scale_factor=scale, mode="bilinear", align_corners=False)
    dout = make_tensor(want.shape, dtype=dtype, device=device, seed=seed + 1)
    want.backward(dout)
    assert out.shape == want.shape
    torch.testing.assert_close(out, want.detach(), **tolerances(dtype))
    torch.testing.assert_close(cf.upsample_backward(dout, cache), leaf.grad, **tolerances(dtype))


def test_upsample_bridge_passes_gradcheck(device):
    x = make_tensor((1, 2, 3, 4), device=device, seed=5).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: ca.upsample(t, 2, "bilinear"), (x,))
    assert torch.autograd.gradcheck(lambda t: ca.upsample(t, (2, 3), "nearest"), (x,))
    torch.testing.assert_close(ca.Upsample(2)(x), F.interpolate(x, scale_factor=2))


# ----------------------------------------------------------------------------- errors

def test_clear_errors():
    x = torch.zeros(2, 5, 3, 3)
    with pytest.raises(ValueError, match=r"add up to 4 but x has 5 entries along dim 1"):
        cf.split_forward(x, [2, 2], dim=1)
    with pytest.raises(ValueError, match="dim must be an int"):
        cf.split_forward(x, 2, dim=4)
    with pytest.raises(ValueError, match=r"inputs\[1\] has shape \(2, 5, 4, 3\).*only along dim 1"):
        cf.concat_forward([x, torch.zeros(2, 5, 4, 3)], dim=1)
    with pytest.raises(TypeError, match="dtype"):
        cf.concat_forward([x, x.double()])
    with pytest.raises(ValueError, match="op must be one of"):
        cf.merge_forward([x, x], op="mean")
    with pytest.raises(ValueError, match="exactly two"):
        cf.merge_forward([x, x, x], op="diff")
    with pytest.raises(ValueError, match="equal shapes"):
        cf.merge_forward([x, torch.zeros(2, 5, 3, 1)], op="sum")
    with pytest.raises(ValueError, match="positive integer scale"):
        cf.upsample_forward(x, scale_factor=1.5, mode="nearest")
    with pytest.raises(ValueError, match='"nearest" or "bilinear"'):
        cf.upsample_forward(x, scale_factor=2, mode="bicubic")
    with pytest.raises(ValueError, match="must be 4-d"):
        cf.upsample_forward(torch.zeros(3, 3), scale_factor=2)
    _, cache = cf.upsample_forward(x, scale_factor=2, mode="bilinear")
    with pytest.raises(ValueError, match=r"expected \(2, 5, 6, 6\)"):
        cf.upsample_backward(torch.zeros(2, 5, 6, 5), cache)
