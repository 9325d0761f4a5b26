"""course_lib.filters (convolution and correlation of one signal with one kernel,
classic kernels) against scipy.signal and the slides' worked examples."""
import numpy as np
import pytest
import scipy.signal
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib import filters as cs

pytestmark = [pytest.mark.ch2, pytest.mark.usefixtures("one_torch_thread")]

MODES = ["full", "same", "valid"]



def random_array(shape, seed, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def fits(a_shape, b_shape):
    """scipy's condition for mode='valid': one array at least as large as the other in every dimension."""
    return all(a >= b for a, b in zip(a_shape, b_shape)) or all(b >= a for a, b in zip(a_shape, b_shape))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 20), m=st.integers(1, 20), mode=st.sampled_from(MODES), seed=st.integers(0, 10_000))
def test_1d_matches_scipy(n, m, mode, seed):
    x, k = random_array(n, seed), random_array(m, seed + 1)
    got = cs.convolve1d(x, k, mode)
    assert isinstance(got, np.ndarray) and got.dtype == np.float64
    np.testing.assert_allclose(got, scipy.signal.convolve(x, k, mode), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cs.correlate1d(x, k, mode), scipy.signal.correlate(x, k, mode), rtol=1e-12,
                               atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(shape=st.tuples(st.integers(1, 10), st.integers(1, 10)), kshape=st.tuples(st.integers(1, 6), st.integers(1, 6)),
       mode=st.sampled_from(MODES), seed=st.integers(0, 10_000))
def test_2d_matches_scipy(shape, kshape, mode, seed):
    """Non-square images and kernels, even kernel sizes ('same' then takes the extra output from the start)."""
    x, k = random_array(shape, seed), random_array(kshape, seed + 1)
    if mode == "valid" and not fits(shape, kshape):
        for ours, theirs in ((cs.convolve2d, scipy.signal.convolve), (cs.correlate2d, scipy.signal.correlate)):
            with pytest.raises(ValueError):
                theirs(x, k, mode)
            with pytest.raises(ValueError, match="at least as large"):
                ours(x, k, mode)
        return
    for ours, theirs, theirs2d in ((cs.convolve2d, scipy.signal.convolve, scipy.signal.convolve2d),
                                   (cs.correlate2d, scipy.signal.correlate, scipy.signal.correlate2d)):
        got = ours(x, k, mode)
        np.testing.assert_allclose(got, theirs(x, k, mode), rtol=1e-12, atol=1e-12)
        if theirs2d is scipy.signal.correlate2d and mode == "same" and (kshape[0] % 2 == 0 or kshape[1] % 2 == 0):
            continue  # scipy's correlate2d centres 'same' one pixel later than scipy.signal.correlate here
        np.testing.assert_allclose(got, theirs2d(x, k, mode), rtol=1e-12, atol=1e-12)


def test_even_kernel_same_mode_follows_scipy_correlate():
    """For an even kernel, 'same' has to drop one more output on one side; scipy.signal.correlate
    (which we follow) keeps the convolution's choice, so correlation stays convolution with the
    rotated kernel; scipy.signal.correlate2d drops the other side."""
    x, k = np.array([[2.0, 7.0]]), np.array([[3.0, 5.0, 11.0, 13.0]])
    full = scipy.signal.correlate(x, k, "full")                       # [[26, 113, 87, 41, 21]]
    np.testing.assert_array_equal(cs.correlate2d(x, k, "same"), full[:, 1:3])
    np.testing.assert_array_equal(cs.correlate2d(x, k, "same"), scipy.signal.correlate(x, k, "same"))
    np.testing.assert_array_equal(scipy.signal.correlate2d(x, k, "same"), full[:, 2:4])


@settings(max_examples=25, deadline=None)
@given(shape=st.tuples(st.integers(2, 9), st.integers(2, 9)), kshape=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       mode=st.sampled_from(MODES), seed=st.integers(0, 10_000), dtype=st.sampled_from([torch.float32, torch.float64]))
def test_torch_inputs_stay_on_their_device(device, shape, kshape, mode, seed, dtype):
    x, k = random_array(shape, seed), random_array(kshape, seed + 1)
    if mode == "valid" and not fits(shape, kshape):
        return
    xt = torch.from_numpy(x).to(device=device, dtype=dtype).T.contiguous().T      # non-contiguous input
    kt = torch.from_numpy(k).to(device=device, dtype=dtype)
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-12}
    for ours, theirs in ((cs.convolve2d, scipy.signal.convolve), (cs.correlate2d, scipy.signal.correlate)):
        got = ours(xt, kt, mode)
        assert isinstance(got, torch.Tensor) and got.device == xt.device and got.dtype == dtype
        np.testing.assert_allclose(got.cpu().numpy(), theirs(x, k, mode), **tol)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 12), m=st.integers(1, 12), mode=st.sampled_from(MODES), seed=st.integers(0, 10_000))
def test_integers_and_complex_match_scipy(n, m, mode, seed):
    rng = np.random.default_rng(seed)
    x, k = rng.integers(-5, 6, n), rng.integers(-5, 6, m)
    got = cs.convolve1d(x, k, mode)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, scipy.signal.convolve(x, k, mode))
    np.testing.assert_array_equal(cs.correlate1d(x, k, mode), scipy.signal.correlate(x, k, mode))
    xc, kc = x + 1j * rng.integers(-5, 6, n), k - 2j * rng.integers(-5, 6, m)
    np.testing.assert_allclose(cs.correlate1d(xc, kc, mode), scipy.signal.correlate(xc, kc, mode), atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(shape=st.tuples(st.integers(1, 8), st.integers(1, 8)), kshape=st.tuples(st.integers(1, 5), st.integers(1, 5)),
       mode=st.sampled_from(["full", "same"]), seed=st.integers(0, 10_000))
def test_convolution_is_correlation_with_the_rotated_kernel(shape, kshape, mode, seed):
    x, k = torch.from_numpy(random_array(shape, seed)), torch.from_numpy(random_array(kshape, seed + 1))
    torch.testing.assert_close(cs.convolve2d(x, k, mode), cs.correlate2d(x, k.flip(0, 1), mode))
    if mode == "full":  # convolution commutes; correlation does not in general
        torch.testing.assert_close(cs.convolve2d(x, k, mode), cs.convolve2d(k, x, mode))


def test_output_lengths_narrow_wide_same():
    x, k = np.ones(10), np.ones(3)
    assert [len(cs.convolve1d(x, k, mode)) for mode in ("valid", "full", "same")] == [10 - 3 + 1, 10 + 3 - 1, 10]


def test_slides_2d_example_true_convolution():
    """The 5x5 image convolved with the 3x3 kernel of the slides (flipped kernel, narrow)."""
    image = np.array([[1, 1, 1, 1, 1], [-1, 0, -3, 0, 1], [2, 1, 1, -1, 0], [0, -1, 1, 2, 1], [1, 2, 1, 1, 1]])
    kernel = np.array([[1, 0, 0], [0, 0, 0], [0, 0, -1]])
    expected = [[0, -2, -1], [2, 2, 4], [-1, 0, 0]]
    np.testing.assert_array_equal(cs.convolve2d(image, kernel, "valid"), expected)
    # correlation with the same kernel is a different answer; with the rotated kernel it is the same
    assert cs.correlate2d(image, kernel, "valid").tolist() != expected
    np.testing.assert_array_equal(cs.correlate2d(image, kernel[::-1, ::-1], "valid"), expected)


def test_slides_box_filter_on_10x10_image():
    """A 3x3 box filter (1/9 each) correlated with the 10x10 image of a bright square."""
    image = np.zeros((10, 10))
    image[2:7, 3:8] = 90
    image[5, 4] = 0
    image[8, 2] = 90
    h = cs.correlate2d(image, cs.box_kernel(3, dtype=torch.float64).numpy(), "valid")
    expected = [[0, 10, 20, 30, 30, 30, 20, 10],
                [0, 20, 40, 60, 60, 60, 40, 20],
                [0, 30, 60, 90, 90, 90, 60, 30],
                [0, 30, 50, 80, 80, 90, 60, 30],
                [0, 30, 50, 80, 80, 90, 60, 30],
                [0, 20, 30, 50, 50, 60, 40, 20],
                [10, 20, 30, 30, 30, 30, 20, 10],
                [10, 10, 10, 0, 0, 0, 0, 0]]
    np.testing.assert_allclose(h, expected, atol=1e-9)


def test_decay_kernel_delayed_accumulation():
    k = cs.decay_kernel(3, 0.5, dtype=torch.float64)
    assert k.tolist() == [1.0, 0.5, 0.25]
    x = torch.tensor([4.0, 8.0, 0.0, 2.0, 6.0], dtype=torch.float64)
    y = cs.convolve1d(x, k, "full")[:len(x)]               # y_t = x_t + x_{t-1}/2 + x_{t-2}/4
    expected = [x[t] + (x[t - 1] / 2 if t >= 1 else 0) + (x[t - 2] / 4 if t >= 2 else 0) for t in range(len(x))]
    torch.testing.assert_close(y, torch.stack([torch.as_tensor(e, dtype=torch.float64) for e in expected]))
    assert cs.decay_kernel(4, 1 / 3).tolist() == pytest.approx([1, 1 / 3, 1 / 9, 1 / 27])


def test_difference_kernel_detects_change():
    assert cs.difference_kernel().tolist() == [-1.0, 0.0, 1.0]
    step = torch.tensor([0.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    # correlation gives x[t+1] - x[t-1]: non-zero only around the step
    assert cs.correlate1d(step, cs.difference_kernel(), "valid").tolist() == [0.0, 1.0, 1.0, 0.0]


def test_smoothing_kernels(device):
    box = cs.box_kernel(3, device=device)
    assert box.shape == (3, 3) and box.device.type == torch.device(device).type
    torch.testing.assert_close(box.sum(), torch.tensor(1.0, device=device))
    assert cs.box_kernel((2, 5)).shape == (2, 5)
    for size in (5, 6):
        g = cs.gaussian_kernel(size, 1.2, dtype=torch.float64, device=device)
        assert g.shape == (size, size)
        torch.testing.assert_close(g.sum(), torch.tensor(1.0, dtype=torch.float64, device=device))
        torch.testing.assert_close(g, g.T)
        torch.testing.assert_close(g, g.flip(0, 1))
        assert g.max() == g[(size - 1) // 2, (size - 1) // 2]
    # constant images stay constant inside (a smoothing filter sums to 1)
    flat = torch.full((8, 9), 3.0, dtype=torch.float64, device=device)
    torch.testing.assert_close(cs.convolve2d(flat, cs.gaussian_kernel(5, 1.0, dtype=torch.float64, device=device),
                                             "valid"), torch.full((4, 5), 3.0, dtype=torch.float64, device=device))


@pytest.mark.parametrize("kernels", [cs.sobel_kernels, cs.prewitt_kernels])
def test_edge_detectors(kernels):
    gx, gy = kernels(dtype=torch.float64)
    assert gx.sum() == 0 and gy.sum() == 0
    torch.testing.assert_close(gy, gx.T)
    vertical_edge = torch.zeros(6, 6, dtype=torch.float64)
    vertical_edge[:, 3:] = 1.0
    rx, ry = cs.correlate2d(vertical_edge, gx, "valid"), cs.correlate2d(vertical_edge, gy, "valid")
    assert (rx[:, 1:3] > 0).all() and (rx[:, [0, 3]] == 0).all()   # responds only at the edge, positive: dark to bright
    assert (ry == 0).all()


def test_laplacian():
    lap = cs.laplacian_kernel(dtype=torch.float64)
    assert lap.tolist() == [[0, 1, 0], [1, -4, 1], [0, 1, 0]]
    assert cs.laplacian_kernel(diagonal=True).sum() == 0
    i, j = torch.meshgrid(torch.arange(7.0), torch.arange(6.0), indexing="ij")
    ramp = (2 * i - 3 * j + 1).double()
    assert cs.convolve2d(ramp, lap, "valid").abs().max() == 0     # zero on linear ramps
    spot = torch.zeros(5, 5, dtype=torch.float64)
    spot[2, 2] = 1.0
    assert cs.convolve2d(spot, lap, "same")[2, 2] == -4


def test_errors():
    with pytest.raises(ValueError, match="mode must be one of"):
        cs.convolve2d(np.ones((3, 3)), np.ones((2, 2)), "wide")
    with pytest.raises(ValueError, match="must be 2-d"):
        cs.convolve2d(np.ones(3), np.ones((2, 2)))
    with pytest.raises(ValueError, match="must be 1-d"):
        cs.correlate1d(np.ones((3, 3)), np.ones(2))
    with pytest.raises(ValueError, match="empty"):
        cs.convolve1d(np.ones(0), np.ones(2))
    with pytest.raises(ValueError, match=r"\(2, 5\) to be at least as large as the kernel \(3, 3\)"):
        cs.convolve2d(np.ones((2, 5)), np.ones((3, 3)), "valid")
    with pytest.raises(ValueError, match="sigma must be > 0"):
        cs.gaussian_kernel(5, 0.0)
    with pytest.raises(ValueError, match="meta"):
        cs.convolve2d(torch.ones(3, 3), torch.ones(2, 2, device="meta"))


def test_meta_device_shapes():
    out = cs.correlate2d(torch.empty(30, 40, device="meta"), torch.empty(4, 5, device="meta"), "same")
    assert out.shape == (30, 40) and out.device.type == "meta"
