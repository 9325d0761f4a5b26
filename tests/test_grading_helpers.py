"""course_lib.grading: what the hidden tests rely on, by module (compare, guard, forbidden)."""
import ast
import inspect
import json
import re
import signal
import sys
import time
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib import filters as cl_filters
from course_lib import functional as cf
from course_lib import nn as cl_nn
from course_lib import shapes as cl_shapes
from course_lib.functional import conv as cl_conv
from course_lib.grading import (
    TOPICS,
    GradingError,
    as_strict_tensor,
    assert_close,
    assert_matches,
    autograd_entry_points,
    call_student,
    call_student_and_arguments,
    compare_with_reference,
    concat_ops,
    convolution_ops,
    course_lib_functions,
    dropout_ops,
    expect_dict,
    expect_int,
    expect_raises,
    forbid_calls,
    forbidden,
    module_functions,
    must_call,
    normalization_ops,
    padding_ops,
    pooling_ops,
    reference_modules,
    sliding_window_ops,
    torch_op_name,
)

pytestmark = pytest.mark.ch1

_X = torch.arange(2 * 3 * 5 * 6, dtype=torch.float64).reshape(2, 3, 5, 6) / 10
_W = torch.ones(4, 3, 3, 2, dtype=torch.float64)
_POOLED, _INDICES = F.max_pool2d(_X, 2, return_indices=True)
_BN_MEAN, _BN_INVSTD = _X.mean(dim=(0, 2, 3)), _X.var(dim=(0, 2, 3), unbiased=False).add(1e-5).rsqrt()


# ---------------------------------------------------------------- compare: results, messages, structures

class AlwaysEqual:
    def __eq__(self, other):
        return True

    def __array__(self, dtype=None, copy=None):
        return np.zeros(3)


class LyingTensor(torch.Tensor):
    def __eq__(self, other):
        return torch.ones_like(other, dtype=torch.bool)


def test_assert_close_accepts_correct_results():
    assert_close(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0]), what="f")
    assert_close(np.array([1.0, 2.0]), torch.tensor([1.0, 2.0], dtype=torch.float64), what="f", check_device=False)
    assert_close(3.0, torch.tensor(3.0), what="f")


def test_message_names_index_expected_and_actual():
    want = torch.zeros(2, 3)
    got = want.clone()
    got[1, 2] = 5.0
    with pytest.raises(GradingError) as info:
        assert_close(got, want, what="affine_backward: dx", inputs="x Tensor(2, 3)")
    msg = str(info.value)
    assert "affine_backward: dx" in msg and "(1, 2)" in msg and "expected 0" in msg and "got 5" in msg
    assert "x Tensor(2, 3)" in msg


def test_wrong_shape_is_reported():
    with pytest.raises(GradingError, match=r"wrong shape \(3,\), expected \(2,\)"):
        assert_close(torch.zeros(3), torch.zeros(2), what="f")


@pytest.mark.parametrize("liar", [AlwaysEqual(), LyingTensor(torch.zeros(3)), [0.0, 0.0, 0.0], True, "0"])
def test_objects_that_could_lie_are_refused(liar):
    with pytest.raises(GradingError, match="should be a torch.Tensor|dtype"):
        assert_close(liar, torch.zeros(3), what="f")


def test_nan_is_never_close():
    with pytest.raises(GradingError, match="wrong value"):
        assert_close(torch.tensor([float("nan")]), torch.tensor([1.0]), what="f")


def test_strict_tensor_rejects_bool_tensors():
    with pytest.raises(GradingError, match="dtype"):
        as_strict_tensor(torch.tensor([True]), what="f")


def test_expect_int_accepts_integers_only():
    assert expect_int(3, what="f") == 3 and expect_int(np.int64(4), what="f") == 4
    for bad, shown in [(3.0, "a float 3.0"), (torch.tensor(3), "Tensor()"), (True, "a bool True"), ("3", "a str")]:
        with pytest.raises(GradingError, match=rf"f should return an int, but it returned {re.escape(shown)}"):
            expect_int(bad, what="f")


class _PoolCache(NamedTuple):
    x: torch.Tensor
    kernel: tuple
    stride: int


@pytest.mark.ch3
def test_assert_matches_accepts_equal_structures():
    x = torch.arange(6.0).reshape(2, 3)
    mask = torch.tensor([True, False, True])
    assert_matches((x.clone(), (2, 3), 2), (x, (2, 3), 2), names=("x", "kernel", "stride"), what="cache")
    assert_matches([x.clone(), [2, 3], np.int64(2)], (x, (2, 3), 2), what="cache")        # lists, numpy ints
    assert_matches(_PoolCache(x.clone(), (2, 3), 2), (x, (2, 3), 2), what="cache")         # a NamedTuple
    assert_matches((mask.clone(), 0.5, True), (mask, 0.5, True), what="cache")
    assert_matches(torch.tensor([1.0, 0.0, 1.0]), mask, what="mask")                       # 0 / 1 for a mask
    assert_matches((None, 1, "train"), (None, 1, "train"), what="cache")
    assert_matches({"mode": "eval", "eps": 1e-5, "v": x.clone()}, {"mode": "eval", "eps": 1e-5, "v": x}, what="bn_param")


@pytest.mark.ch3
@pytest.mark.parametrize("actual, expected, message", [
    ((torch.ones(2), (2, 3)), (torch.ones(2), (2, 3), 2),
     r"cache should be a tuple of 3 values \(x, kernel, stride\), but it is a tuple of 2$"),
    ((torch.ones(2), (2, 2), 2), (torch.ones(2), (2, 3), 2), r"cache kernel\[1\] should be the int 3, but it is an int 2$"),
    ((torch.ones(2), (2, 3), 2.0), (torch.ones(2), (2, 3), 2), r"cache stride should be the int 2, but it is a float 2\.0$"),
    ((torch.ones(2), (2, 3), torch.tensor(2)), (torch.ones(2), (2, 3), 2),
     r"cache stride should be the int 2, but it is Tensor\(\) int64 cpu$"),
    ((torch.ones(2), (2, 3), True), (torch.ones(2), (2, 3), 2), r"cache stride should be the int 2, but it is a bool$"),
    ((torch.zeros(2), (2, 3), 2), (torch.ones(2), (2, 3), 2), r"cache x: wrong value at index \(0,\): expected 1, got 0"),
])
def test_assert_matches_names_the_wrong_entry(actual, expected, message):
    with pytest.raises(GradingError, match=message):
        assert_matches(actual, expected, names=("x", "kernel", "stride"), what="cache")


@pytest.mark.ch3
def test_assert_matches_on_masks_flags_and_dicts():
    mask = torch.tensor([True, False, True])
    with pytest.raises(GradingError, match=r"keep: wrong value at index \(1,\): expected 0, got 1"):
        assert_matches(torch.tensor([True, True, True]), mask, what="keep")
    with pytest.raises(GradingError, match="keep should hold booleans"):
        assert_matches(torch.tensor([2.0, 0.0, 2.0]), mask, what="keep")          # a scaled mask is not a mask
    with pytest.raises(GradingError, match="keep should be a tensor of booleans, but it is a list of 3"):
        assert_matches([True, False, True], mask, what="keep")
    with pytest.raises(GradingError, match="keep should be None, but it is Tensor"):
        assert_matches(mask, None, what="keep")
    with pytest.raises(GradingError, match="training should be True, but it is an int 1"):
        assert_matches(1, True, what="training")
    with pytest.raises(GradingError, match=r"p_keep should be a number \(0\.5\), but it is Tensor"):
        assert_matches(torch.tensor(0.5), 0.5, what="p_keep")
    with pytest.raises(GradingError, match="mode should be 'train', but it is a str 'eval'"):
        assert_matches("eval", "train", what="mode")
    with pytest.raises(GradingError, match="missing eps; unexpected 'EPS'"):
        assert_matches({"mode": "train", "EPS": 0.1}, {"mode": "train", "eps": 0.1}, what="bn_param")
    with pytest.raises(GradingError, match=r"bn_param\['eps'\]: wrong value"):
        assert_matches({"mode": "train", "eps": 0.2}, {"mode": "train", "eps": 0.1}, what="bn_param")
    with pytest.raises(TypeError, match="cannot compare with a set"):
        assert_matches({1}, {1}, what="odd")


def test_compare_with_reference_and_the_shape_of_results():
    from course_lib import gates
    from course_lib.functional import AffineCache

    compare_with_reference(gates.mul_backward, gates.mul_backward, torch.ones(2), 2.0, 3.0, outputs=("dx", "dy"))
    with pytest.raises(GradingError, match=r"should return 2 values \(dx, dy\), but it returned a tuple of 1"):
        compare_with_reference(lambda d, x, y: (d,), gates.mul_backward, 1.0, 2.0, 3.0, outputs=("dx", "dy"))
    with pytest.raises(GradingError, match="missing b2; unexpected 'B2'"):
        expect_dict({"W1": 1, "b1": 1, "W2": 1, "B2": 1}, ("W1", "b1", "W2", "b2"), what="grads")
    # A NamedTuple cache reaches the student's function as a copy of the same type.
    cache = AffineCache(torch.ones(2), torch.zeros(2))
    copied = call_student(lambda c: c, cache)
    assert type(copied) is AffineCache and copied.x is not cache.x and torch.equal(copied.x, cache.x)


# ---------------------------------------------------------------- guard: calling the student's code

def test_call_student_swallows_warnings_and_stderr(capfd):
    def noisy(x):
        warnings.warn("deprecated!", DeprecationWarning)
        print("to stderr", file=sys.stderr)
        return x * 2

    out = call_student(noisy, torch.ones(2))
    assert out.tolist() == [2.0, 2.0]
    assert "to stderr" not in capfd.readouterr().err


def test_call_student_gives_copies():
    def mutate(x):
        x.zero_()
        return x

    x = torch.ones(3)
    call_student(mutate, x)
    assert x.tolist() == [1.0, 1.0, 1.0]


def test_call_student_reports_exceptions_and_stubs():
    def broken(x):
        raise ValueError("oops")

    def stub(x):
        raise NotImplementedError()

    with pytest.raises(GradingError, match=r"broken\(Tensor\(2,\).*raised ValueError: oops"):
        call_student(broken, torch.ones(2))
    with pytest.raises(GradingError, match="not implemented yet"):
        call_student(stub, torch.ones(2))
    with pytest.raises(GradingError, match="not a function"):
        call_student(None, what="relu_forward")


def test_time_limit_stops_an_infinite_loop():
    def forever():
        while True:
            pass

    with pytest.raises(GradingError, match="longer than 0.5 s"):
        call_student(forever, seconds=0.5)


def test_time_limit_is_not_swallowed_by_except_exception():
    def stubborn():
        while True:
            try:
                while True:
                    pass
            except Exception:
                pass

    start = time.perf_counter()
    with pytest.raises(GradingError, match="longer than 0.3 s"):
        call_student(stubborn, seconds=0.3)
    assert time.perf_counter() - start < 15  # stopped, not hung (generous: CI machines are loaded)


def _busy_with_torch(x):
    while True:
        x = F.relu(x) + 0   # most of the time is spent inside the guards' torch-function hook


def _busy_with_python(x):
    def step():
        return 1

    while True:
        step()              # most of the time is spent inside the guards' profiler hook


@pytest.mark.parametrize("busy", [_busy_with_torch, _busy_with_python])
def test_time_limit_stops_a_loop_inside_the_guards_and_cleans_up(busy):
    handler = signal.getsignal(signal.SIGALRM)
    start = time.perf_counter()
    with pytest.raises(GradingError, match=f"{busy.__name__} took longer than 0.3 s"):
        call_student(busy, torch.ones(3), seconds=0.3, forbidden=convolution_ops() + (cl_conv.conv2d_forward,))
    assert time.perf_counter() - start < 15  # stopped, not hung (generous: CI machines are loaded)
    assert signal.getsignal(signal.SIGALRM) is handler
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert sys.getprofile() is None and torch._C._len_torch_function_stack() == 0


def test_calls_to_the_reference_are_detected_even_through_an_alias():
    alias = cf.affine_forward

    def cheat(x, w, b):
        return alias(x, w, b)

    x, w, b = torch.ones(2, 3), torch.ones(3, 4), torch.ones(4)
    with pytest.raises(GradingError, match="affine_forward.*does the exercise"):
        call_student(cheat, x, w, b, forbidden=[cf.affine_forward])


def test_calls_to_torch_ops_are_detected():
    def uses_autograd(x):
        x = x.clone().requires_grad_(True)
        (x**2).sum().backward()
        return x.grad

    def uses_grad(x):
        x = x.clone().requires_grad_(True)
        return torch.autograd.grad((x**2).sum(), x)[0]

    def uses_linear(x):
        return torch.nn.functional.linear(x, torch.ones(2, 2))

    for fn in (uses_autograd, uses_grad):
        with pytest.raises(GradingError, match="does the exercise"):
            call_student(fn, torch.ones(2), forbidden=[torch.autograd.grad, torch.Tensor.backward])
    with pytest.raises(GradingError, match="linear"):
        call_student(uses_linear, torch.ones(2), forbidden=[torch.nn.functional.linear])


def test_honest_code_passes_the_guard():
    def honest(x):
        return torch.relu(x) * 2

    assert call_student(honest, torch.ones(2), forbidden=[cf.affine_forward, torch.autograd.grad]).tolist() == [2.0, 2.0]


def test_disabling_the_profiler_is_caught():
    def sneaky(x):
        sys.setprofile(None)
        return x

    with pytest.raises(GradingError, match="profiler"):
        with forbid_calls([cf.affine_forward], "sneaky"):
            sneaky(torch.ones(1))


def test_torch_op_name_is_the_same_under_every_alias():
    assert torch_op_name(F.conv2d) == torch_op_name(torch.conv2d) == "conv2d"
    assert torch_op_name(torch._C._VariableFunctions.conv2d) == "conv2d"
    assert torch_op_name(torch.ops.aten.conv2d) == torch_op_name(torch.ops.aten.conv2d.default) == "conv2d"
    assert torch_op_name(torch.Tensor.unfold) == torch_op_name(torch.ops.aten.unfold) == "unfold"
    assert torch_op_name(F.unfold) is None and torch_op_name(F.pad) is None  # Python functions: by code object


def test_only_the_students_own_calls_are_reported():
    """The reference's helpers and the torch operations it uses are not listed, only what the student called."""
    def cheat(x, w):
        out, cache = cl_conv.conv2d_forward(x, w, None)
        return cl_conv.conv2d_backward(out, cache)

    forbidden = module_functions(cl_shapes, cl_conv) + sliding_window_ops()
    with pytest.raises(GradingError) as info:
        call_student(cheat, _X, _W, forbidden=forbidden)
    assert str(info.value).startswith("cheat calls course_lib.functional.conv.conv2d_forward, "
                                      "course_lib.functional.conv.conv2d_backward, which does the exercise")


def _student_im2col(x):
    return x.reshape(x.shape[0], -1)


def _uses_im2col(x):
    return _student_im2col(x) * 2


def _skips_im2col(x):
    return x.reshape(x.shape[0], -1) * 2


def test_must_call_sees_calls_inside_call_student():
    with must_call([_student_im2col], "conv_forward_im2col"):
        call_student(_uses_im2col, _X, forbidden=convolution_ops() + (cl_conv.im2col,))
    with pytest.raises(GradingError, match="conv_forward_im2col should call your _student_im2col"):
        with must_call([_student_im2col], "conv_forward_im2col"):
            call_student(_skips_im2col, _X, forbidden=convolution_ops())
    # The guard inside still works, and the profilers are restored afterwards.
    with pytest.raises(GradingError, match="calls torch.nn.functional.conv2d"):
        with must_call([_student_im2col], "conv_forward_im2col"):
            call_student(lambda x: _student_im2col(F.conv2d(x, _W)), _X, forbidden=convolution_ops())
    assert sys.getprofile() is None


def test_expect_raises_wants_the_right_exception_with_a_message():
    def strict(n):
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        return n

    def silent(n):
        raise ValueError

    def wrong_kind(n):
        return [][n]

    def stub(n):
        raise NotImplementedError()

    assert "got -1" in str(expect_raises(strict, -1))
    with pytest.raises(GradingError, match=r"strict\(2\) should raise ValueError, but it returned an int"):
        expect_raises(strict, 2)
    with pytest.raises(GradingError, match="without a message"):
        expect_raises(silent, -1)
    with pytest.raises(GradingError, match="should raise ValueError, but it raised IndexError"):
        expect_raises(wrong_kind, 5)
    with pytest.raises(GradingError, match="not implemented yet"):
        expect_raises(stub, -1)


@pytest.mark.ch3
def test_call_student_and_arguments_returns_what_the_function_did_to_its_arguments():
    def update(x, params):
        params["running_mean"] = params["running_mean"] + 1     # a new tensor in the dict
        params["running_var"].mul_(2)                           # a tensor changed in place
        x.zero_()
        return "done"

    x = torch.ones(2)
    params = {"running_mean": torch.zeros(2), "running_var": torch.ones(2)}
    result, (x_after, params_after) = call_student_and_arguments(update, x, params)
    assert result == "done"
    assert params_after["running_mean"].tolist() == [1.0, 1.0] and params_after["running_var"].tolist() == [2.0, 2.0]
    assert x_after.tolist() == [0.0, 0.0]
    # The caller's own arguments are untouched.
    assert params["running_mean"].tolist() == [0.0, 0.0] and params["running_var"].tolist() == [1.0, 1.0]
    assert x.tolist() == [1.0, 1.0]


@pytest.mark.ch3
def test_call_student_and_arguments_keeps_the_guards_and_the_messages():
    def batchnorm_forward(x, params):
        raise KeyError("mode")

    def stub(x, params):
        raise NotImplementedError()

    def uses_batch_norm(x, params):
        return F.batch_norm(x, None, None, training=True)

    with pytest.raises(GradingError, match=r"^batchnorm_forward\(Tensor\(2, 3, 5, 6\) float64 cpu, \{\}\) raised "
                                           r"KeyError: 'mode'"):
        call_student_and_arguments(batchnorm_forward, _X, {})
    with pytest.raises(GradingError, match=r"^stub is not implemented yet"):
        call_student_and_arguments(stub, _X, {})
    with pytest.raises(GradingError, match=r"^uses_batch_norm calls torch\.nn\.functional\.batch_norm, which"):
        call_student_and_arguments(uses_batch_norm, _X, {}, forbidden=normalization_ops())
    with pytest.raises(GradingError, match="longer than 0.3 s"):
        call_student_and_arguments(_busy_with_python, _X, seconds=0.3)
    with pytest.raises(GradingError, match="batchnorm_forward is not a function"):
        call_student_and_arguments(None, _X, what="batchnorm_forward")


# ---------------------------------------------------------------- forbidden: the catalogue by topic, the reference found on disk

# Each way of letting torch (or numpy) do the exercise, and the name the message must give.
CONVOLUTION_CHEATS = {
    "F.conv2d": (lambda: F.conv2d(_X, _W), "torch.nn.functional.conv2d"),
    "torch.conv2d": (lambda: torch.conv2d(_X, _W), "conv2d"),
    "_VariableFunctions.conv2d": (lambda: torch._C._VariableFunctions.conv2d(_X, _W), "conv2d"),
    "torch.ops.aten.conv2d": (lambda: torch.ops.aten.conv2d(_X, _W), "conv2d"),
    "torch.ops.aten.conv2d.default": (lambda: torch.ops.aten.conv2d.default(_X, _W), "conv2d"),
    "F.conv2d padding='same'": (lambda: F.conv2d(_X, _W, padding="same"), "conv2d"),
    "nn.Conv2d": (lambda: torch.nn.Conv2d(3, 4, (3, 2), dtype=torch.float64)(_X), "conv2d"),
    "torch.convolution": (lambda: torch.convolution(_X, _W, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1),
                          "torch.convolution"),
    "F.conv_transpose2d": (lambda: F.conv_transpose2d(_X, _W.transpose(0, 1)), "conv_transpose2d"),
    "nn.grad.conv2d_input": (lambda: torch.nn.grad.conv2d_input(_X.shape, _W, torch.ones(2, 4, 3, 5).double()),
                             "convolution_backward"),
    "F.unfold": (lambda: F.unfold(_X, (3, 2)), "torch.nn.functional.unfold"),
    "F.fold": (lambda: F.fold(torch.ones(1, 4, 4), (3, 3), 2), "torch.nn.functional.fold"),
    "torch._C._nn.im2col": (lambda: torch._C._nn.im2col(_X, (3, 2), (1, 1), (0, 0), (1, 1)), "im2col"),
    "np.convolve": (lambda: np.convolve(np.ones(5), np.ones(3)), "numpy.convolve"),
}


PADDING_CHEATS = {
    "F.pad": (lambda: F.pad(_X, (1, 1, 1, 1)), "torch.nn.functional.pad"),
    "nn.ZeroPad2d": (lambda: torch.nn.ZeroPad2d(1)(_X), "torch.nn.functional.pad"),
    "torch.constant_pad_nd": (lambda: torch.constant_pad_nd(_X, (1, 1, 1, 1)), "constant_pad_nd"),
    "np.pad": (lambda: np.pad(_X.numpy(), 1), "numpy.pad"),
}


WINDOW_CHEATS = {
    "Tensor.unfold": (lambda: _X.unfold(2, 3, 1).unfold(3, 2, 1), "torch.Tensor.unfold"),
    "torch.ops.aten.unfold": (lambda: torch.ops.aten.unfold(_X, 2, 3, 1), "unfold"),
    "Tensor.as_strided": (lambda: _X.as_strided((2, 2), (1, 1)), "as_strided"),
    "torch.as_strided": (lambda: torch.as_strided(_X, (2, 2), (1, 1)), "as_strided"),
    "sliding_window_view": (lambda: np.lib.stride_tricks.sliding_window_view(_X.numpy(), (3, 2), axis=(2, 3)),
                            "sliding_window_view"),
    "F.unfold": (lambda: F.unfold(_X, (3, 2)), "torch.nn.functional.unfold"),
}


@pytest.mark.parametrize("ops, cheat", [(convolution_ops, name) for name in CONVOLUTION_CHEATS]
                         + [(padding_ops, name) for name in PADDING_CHEATS]
                         + [(sliding_window_ops, name) for name in WINDOW_CHEATS])
def test_every_way_to_let_torch_do_the_exercise_is_detected(ops, cheat):
    run, shown = {**CONVOLUTION_CHEATS, **PADDING_CHEATS, **WINDOW_CHEATS}[cheat]
    with pytest.raises(GradingError, match=rf"student calls \S*{shown}[^ ]*(, \S+)?, which does the exercise for you"):
        call_student(run, what="student", forbidden=ops())


def _honest_conv(x, w, b, stride, pad):
    """A convolution written with the operations the exercises allow: zeros, slicing, products, sums."""
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    oh, ow = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    xp = x.new_zeros(n, c, h + 2 * pad, wd + 2 * pad)
    xp[:, :, pad:pad + h, pad:pad + wd] = x
    cols = x.new_empty(n, c * kh * kw, oh * ow)
    for i in range(oh):
        for j in range(ow):
            window = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            cols[:, :, i * ow + j] = window.reshape(n, -1)
    out = torch.einsum("fk,nkp->nfp", w.reshape(f, -1), cols) + b.view(1, f, 1)
    single = torch.tensordot(xp[:, :, :kh, :kw], w, dims=([1, 2, 3], [1, 2, 3])) + b   # the first output pixel
    assert torch.allclose(single, out[:, :, 0])
    return (w.reshape(f, -1) @ cols + b.reshape(1, f, 1)).reshape(n, f, oh, ow)


def test_honest_code_passes_all_the_convolution_guards():
    b = torch.arange(4, dtype=torch.float64)
    forbidden = (module_functions(cl_shapes, cl_conv, cl_filters, cl_nn.functional, cl_nn.modules) + convolution_ops() + padding_ops()
                 + sliding_window_ops() + autograd_entry_points())
    got = call_student(_honest_conv, _X, _W, b, 2, 1, forbidden=forbidden)
    want, _ = cl_conv.conv2d_forward(_X, _W, b, stride=2, padding=1)
    assert_close(got, want, what="honest convolution")


# Each way of letting torch (or numpy) do a layer exercise, and the name the message must give.
POOLING_CHEATS = {
    "F.max_pool2d": (lambda: F.max_pool2d(_X, 2), "torch.nn.functional.max_pool2d"),
    "F.max_pool2d return_indices": (lambda: F.max_pool2d(_X, 2, return_indices=True),
                                    "torch.nn.functional.max_pool2d_with_indices"),
    "nn.MaxPool2d": (lambda: torch.nn.MaxPool2d(3, 2)(_X), "torch.nn.functional.max_pool2d"),
    "torch.max_pool2d": (lambda: torch.max_pool2d(_X, 2), "torch.max_pool2d"),
    "torch.ops.aten.max_pool2d": (lambda: torch.ops.aten.max_pool2d(_X, [2, 2]), "max_pool2d"),
    "_C._nn.max_pool2d_with_indices": (lambda: torch._C._nn.max_pool2d_with_indices(_X, 2), "max_pool2d_with_indices"),
    "F.max_pool1d": (lambda: F.max_pool1d(_X[0], 2), "torch.nn.functional.max_pool1d"),
    "F.adaptive_max_pool2d": (lambda: F.adaptive_max_pool2d(_X, 2), "torch.nn.functional.adaptive_max_pool2d"),
    "F.max_unpool2d": (lambda: F.max_unpool2d(_POOLED, _INDICES, 2), "torch.nn.functional.max_unpool2d"),
    "aten.max_pool2d_with_indices_backward": (
        lambda: torch.ops.aten.max_pool2d_with_indices_backward(torch.ones_like(_POOLED), _X, [2, 2], [2, 2], [0, 0],
                                                                [1, 1], False, _INDICES),
        "max_pool2d_with_indices_backward"),
    "F.avg_pool2d": (lambda: F.avg_pool2d(_X, 2), "torch.nn.functional.avg_pool2d"),
    "nn.AvgPool2d": (lambda: torch.nn.AvgPool2d((3, 2), 1)(_X), "torch.nn.functional.avg_pool2d"),
    "F.adaptive_avg_pool2d": (lambda: F.adaptive_avg_pool2d(_X, 1), "adaptive_avg_pool2d"),
    "aten.avg_pool2d_backward": (
        lambda: torch.ops.aten.avg_pool2d_backward(torch.ones_like(_POOLED), _X, [2, 2], [2, 2], [0, 0], False, True,
                                                   None),
        "avg_pool2d_backward"),
    "F.lp_pool2d": (lambda: F.lp_pool2d(_X, 2, 2), "torch.nn.functional.lp_pool2d"),
}


NORMALIZATION_CHEATS = {
    "F.batch_norm": (lambda: F.batch_norm(_X, None, None, training=True), "torch.nn.functional.batch_norm"),
    "nn.BatchNorm2d": (lambda: torch.nn.BatchNorm2d(3, dtype=torch.float64)(_X), "torch.nn.functional.batch_norm"),
    "nn.BatchNorm1d": (lambda: torch.nn.BatchNorm1d(6, dtype=torch.float64)(_X[0, 0]), "torch.nn.functional.batch_norm"),
    "torch.batch_norm": (lambda: torch.batch_norm(_X, None, None, None, None, True, 0.1, 1e-5, False),
                         "torch.batch_norm"),
    "torch.native_batch_norm": (lambda: torch.native_batch_norm(_X, None, None, None, None, True, 0.1, 1e-5),
                                "native_batch_norm"),
    "aten.native_batch_norm_backward": (
        lambda: torch.ops.aten.native_batch_norm_backward(torch.ones_like(_X), _X, None, None, None, _BN_MEAN,
                                                          _BN_INVSTD, True, 1e-5, [True, False, False]),
        "native_batch_norm_backward"),
    "F.layer_norm": (lambda: F.layer_norm(_X.transpose(0, 1).reshape(3, -1), (60,)), "torch.nn.functional.layer_norm"),
    "F.instance_norm": (lambda: F.instance_norm(_X), "torch.nn.functional.instance_norm"),
    "F.group_norm": (lambda: F.group_norm(_X, 3), "torch.nn.functional.group_norm"),
}


DROPOUT_CHEATS = {
    "F.dropout": (lambda: F.dropout(_X, 0.5), "torch.nn.functional.dropout"),
    "nn.Dropout": (lambda: torch.nn.Dropout(0.5)(_X), "torch.nn.functional.dropout"),
    "torch.dropout": (lambda: torch.dropout(_X, 0.5, True), "torch.dropout"),
    "torch.native_dropout": (lambda: torch.native_dropout(_X, 0.5, True), "native_dropout"),
    "F.dropout2d": (lambda: F.dropout2d(_X, 0.5), "torch.nn.functional.dropout2d"),
    "F.alpha_dropout": (lambda: F.alpha_dropout(_X, 0.5, True), "torch.nn.functional.alpha_dropout"),
}


CONCAT_CHEATS = {
    "torch.cat": (lambda: torch.cat([_X, _X], 1), "torch.cat"),
    "torch.concat": (lambda: torch.concat([_X, _X], 1), "torch.concat"),
    "torch.concatenate": (lambda: torch.concatenate([_X, _X], 1), "torch.concatenate"),
    "torch.ops.aten.cat": (lambda: torch.ops.aten.cat([_X, _X], 1), "cat"),
    "torch.stack": (lambda: torch.stack([_X, _X]), "torch.stack"),
    "torch.hstack": (lambda: torch.hstack([_X, _X]), "torch.hstack"),
    "torch.vstack": (lambda: torch.vstack([_X, _X]), "torch.vstack"),
    "torch.dstack": (lambda: torch.dstack([_X, _X]), "torch.dstack"),
    "torch.column_stack": (lambda: torch.column_stack([_X[0, 0], _X[0, 0]]), "torch.column_stack"),
    "np.stack": (lambda: np.stack([_X.numpy(), _X.numpy()]), "numpy.stack"),
    "np.hstack": (lambda: np.hstack([_X.numpy(), _X.numpy()]), "numpy.hstack"),
    "np.block": (lambda: np.block([_X.numpy(), _X.numpy()]), "numpy.block"),
}


LAYER_CHEATS = {"pooling": (pooling_ops, POOLING_CHEATS), "normalization": (normalization_ops, NORMALIZATION_CHEATS),
                "dropout": (dropout_ops, DROPOUT_CHEATS), "concat": (concat_ops, CONCAT_CHEATS)}


@pytest.mark.ch3
@pytest.mark.parametrize("kind, cheat", [(kind, name) for kind, (_, cheats) in LAYER_CHEATS.items() for name in cheats])
def test_every_way_to_let_torch_do_a_layer_exercise_is_detected(kind, cheat):
    ops, cheats = LAYER_CHEATS[kind]
    run, shown = cheats[cheat]
    with pytest.raises(GradingError, match=rf"student calls \S*{re.escape(shown)}[^ ]*(, \S+)?, which does the "
                                           rf"exercise for you"):
        call_student(run, what="student", forbidden=ops())


@pytest.mark.ch3
def test_the_boolean_dispatch_of_max_pool2d_is_named_by_its_public_name():
    """``F.max_pool2d`` is a dispatcher whose code every boolean_dispatch function shares: the message must
    say max_pool2d (not ``boolean_dispatch.<locals>.fn`` or the private ``_max_pool2d``), and the other
    dispatchers must not be reported under that name."""
    with pytest.raises(GradingError) as info:
        call_student(lambda: torch.nn.MaxPool2d(2)(_X), what="student", forbidden=pooling_ops())
    assert str(info.value).startswith("student calls torch.nn.functional.max_pool2d, which")
    with pytest.raises(GradingError) as info:
        call_student(lambda: F.adaptive_max_pool1d(_X[0], 2), what="student", forbidden=pooling_ops())
    assert "adaptive_max_pool1d" in str(info.value) and "max_pool2d" not in str(info.value)
    assert all("boolean_dispatch" not in getattr(op, "__qualname__", "") for op in pooling_ops())


def _honest_max_pool(x, kernel, stride):
    n, c, h, w = x.shape
    kh, kw = kernel
    oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
    out = x.new_zeros(n, c, oh, ow)
    dx = torch.zeros_like(x)
    for i in range(oh):
        for j in range(ow):
            window = x[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw].reshape(n, c, -1)
            best, arg = window.max(dim=2)
            out[:, :, i, j] = best
            hot = torch.zeros_like(window).scatter_(2, arg[..., None], 1.0)
            dx[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw] += hot.reshape(n, c, kh, kw)
    return out, dx


def _honest_batchnorm(x, gamma, beta, bn_param):
    dims = (0,) + tuple(range(2, x.dim()))
    shape = (1, x.shape[1]) + (1,) * (x.dim() - 2)
    m = x.numel() // x.shape[1]
    var, mean = torch.var_mean(x, dim=dims, unbiased=False)
    bn_param["running_mean"] = 0.9 * bn_param["running_mean"] + 0.1 * mean
    bn_param["running_var"].mul_(0.9).add_(0.1 * var * m / (m - 1))
    x_hat = (x - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + 1e-5)
    return gamma.reshape(shape) * x_hat + beta.reshape(shape)


def _honest_dropout_and_concat(x, generator):
    keep = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) < 0.5
    dropped = x * keep / 0.5
    out = x.new_empty(x.shape[0], 2 * x.shape[1], *x.shape[2:])
    out.narrow(1, 0, x.shape[1]).copy_(dropped)
    out[:, x.shape[1]:] = x
    return out, torch.split(out, [x.shape[1], x.shape[1]], dim=1)


@pytest.mark.ch3
def test_honest_layer_code_passes_every_layer_guard():
    """The operations the exercises allow (reductions, argmax, scatter, rand, narrow, split) trip no guard."""
    forbidden = (course_lib_functions() + pooling_ops() + normalization_ops() + dropout_ops() + concat_ops()
                 + convolution_ops() + sliding_window_ops() + autograd_entry_points())
    out, dx = call_student(_honest_max_pool, _X, (3, 2), 2, forbidden=forbidden)
    want, cache = cf.max_pool2d_forward(_X, kernel_size=(3, 2), stride=2)
    assert_close(out, want, what="max pool")
    assert_close(dx, cf.max_pool2d_backward(torch.ones_like(want), cache), what="max pool backward")

    params = {"running_mean": torch.zeros(3, dtype=torch.float64), "running_var": torch.ones(3, dtype=torch.float64)}
    gamma, beta = torch.arange(3.0, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    out, (_, _, _, after) = call_student_and_arguments(_honest_batchnorm, _X, gamma, beta, params, forbidden=forbidden)
    mean, var = params["running_mean"].clone(), params["running_var"].clone()
    want, _ = cf.batchnorm_forward(_X, gamma, beta, running_mean=mean, running_var=var, training=True)
    assert_close(out, want, what="batch norm")
    assert_close(after["running_mean"], mean, what="running mean")
    assert_close(after["running_var"], var, what="running var")

    out, pieces = call_student(_honest_dropout_and_concat, _X, torch.Generator().manual_seed(1), forbidden=forbidden)
    dropped, _ = cf.dropout_forward(_X, p_keep=0.5, generator=torch.Generator().manual_seed(1))
    assert_close(pieces[0], dropped, what="dropout")
    assert_close(pieces[1], _X, what="concat")


def _squares(t):
    return (t * t).sum()


# Each way of letting torch differentiate, in reverse or forward mode, and the name the message must give.
AUTOGRAD_CHEATS = {
    "Tensor.backward": (lambda x: _squares(x.clone().requires_grad_(True)).backward(),
                        r"torch\._tensor\.Tensor\.backward"),
    "autograd.backward": (lambda x: torch.autograd.backward(_squares(x.clone().requires_grad_(True))),
                          r"torch\.autograd\.backward"),
    "autograd.grad": (lambda x: torch.autograd.grad(_squares(x := x.clone().requires_grad_(True)), x),
                      r"torch\.autograd\.grad"),
    "func.grad": (lambda x: torch.func.grad(_squares)(x), r"torch\.func\.grad"),
    "func.vjp": (lambda x: torch.func.vjp(_squares, x)[1](torch.tensor(1.0)), r"torch\.func\.vjp"),
    "func.jacrev": (lambda x: torch.func.jacrev(_squares)(x), r"torch\.func\.jacrev"),
    "func.jacfwd": (lambda x: torch.func.jacfwd(_squares)(x), r"torch\.func\.jacfwd"),
    "func.jvp": (lambda x: torch.func.jvp(_squares, (x,), (torch.ones_like(x),)), r"torch\.func\.jvp"),
    "autograd.functional.jacobian": (lambda x: torch.autograd.functional.jacobian(_squares, x),
                                     r"torch\.autograd\.functional\.jacobian"),
    "autograd.functional.jvp": (lambda x: torch.autograd.functional.jvp(_squares, x, torch.ones_like(x)),
                                r"torch\.autograd\.functional\.jvp"),
    "forward_ad dual numbers": (lambda x: _forward_mode_by_hand(x), r"torch\.autograd\.forward_ad\.\w+"),
}


def _forward_mode_by_hand(x):
    import torch.autograd.forward_ad as fwad

    with fwad.dual_level():
        dual = fwad.make_dual(x, torch.ones_like(x))
        return fwad.unpack_dual(_squares(dual)).tangent


@pytest.mark.parametrize("cheat", list(AUTOGRAD_CHEATS))
def test_every_way_into_autograd_is_detected_forward_mode_too(cheat):
    run, shown = AUTOGRAD_CHEATS[cheat]
    with pytest.raises(GradingError, match=rf"student calls {shown}(, \S+)*( \(and \d+ more\))?, which does "
                                           rf"the exercise for you"):
        call_student(run, torch.ones(3, dtype=torch.float64), what="student", forbidden=forbidden("autograd"))


def test_forbidden_composes_topics_and_the_old_names_are_its_aliases():
    aliases = {"autograd": autograd_entry_points, "convolution": convolution_ops, "padding": padding_ops,
               "sliding_windows": sliding_window_ops, "pooling": pooling_ops, "normalization": normalization_ops,
               "dropout": dropout_ops, "concatenation": concat_ops, "course_lib": course_lib_functions}
    assert set(aliases) | {"networks"} == set(TOPICS)   # (networks is new: it has no older name)
    for topic, alias in aliases.items():   # max pooling's stand-ins are new objects each time: compare what they wrap
        assert list(map(inspect.unwrap, alias())) == list(map(inspect.unwrap, forbidden(topic))), topic
    both = forbidden("autograd", "convolution", "pooling")
    parts = autograd_entry_points() + convolution_ops() + pooling_ops()
    assert set(map(inspect.unwrap, both)) == set(map(inspect.unwrap, parts))
    assert len(both) == len(set(both))
    assert forbidden() == ()
    with pytest.raises(ValueError, match="unknown topic 'pool'; the topics are course_lib, autograd"):
        forbidden("autograd", "pool")


def test_module_functions_lists_private_helpers_and_methods_but_not_imports():
    found = module_functions(cl_conv, cl_nn.functional, cl_nn.modules)
    assert cl_conv.conv2d_forward in found and cl_conv._pad in found and cl_conv._im2col in found
    assert cl_nn.Conv2d.forward in found and cl_nn.conv2d in found
    assert cl_shapes.conv_output_size not in found            # imported into conv, defined in shapes
    assert torch.tensordot not in found

    def cheat(x):
        return cl_conv._pad(x, (1, 1))

    with pytest.raises(GradingError, match=r"calls course_lib\.functional\.conv\._pad"):
        call_student(cheat, _X, forbidden=found)
    # Building a course_lib NamedTuple is not a call of the reference.
    call_student(lambda x: cl_conv.ConvCache(x, x, True, (1, 1), (0, 0), (1, 1), 1), _X, forbidden=found)


@pytest.mark.ch3
def test_course_lib_functions_covers_every_layer_module():
    from course_lib import nn as cl_autograd_bridge
    from course_lib.functional import dropout as cl_dropout
    from course_lib.functional import merge as cl_merge
    from course_lib.functional import normalization as cl_normalization
    from course_lib.functional import pooling as cl_pooling

    found = course_lib_functions()
    for func in (cl_pooling.max_pool2d_forward, cl_pooling.avg_pool2d_backward, cl_pooling._window_columns,
                 cl_normalization.batchnorm_forward, cl_normalization.batchnorm_backward, cl_dropout.dropout_forward,
                 cl_merge.concat_forward, cl_merge.split_backward, cl_conv.im2col, cl_autograd_bridge.batch_norm,
                 cl_autograd_bridge.BatchNorm.forward, cl_shapes.conv_output_size, cl_conv.col2im,
                 cl_filters.convolve2d):
        assert func in found, func
    assert call_student not in found and torch.cat not in found

    def cheat(x):
        return cl_pooling._window_columns(x, cl_pooling.pool_geometry(x, kernel_size=2), float("-inf")).amax(dim=2)

    with pytest.raises(GradingError, match=r"calls course_lib\.functional\.pooling\.pool_geometry, "
                                           r"course_lib\.functional\.pooling\._window_columns, which"):
        call_student(cheat, _X, forbidden=found)


def test_course_lib_functions_covers_packages_found_on_disk(tmp_path, monkeypatch):
    """The reference is what the package holds: models today, any module added later; never book, grading, device."""
    import course_lib
    from course_lib import device, models

    found = course_lib_functions()
    assert models.get_model in found and models.register_model in found
    assert device.get_device not in found and device.available_devices not in found
    assert call_student not in found and assert_close not in found and forbidden not in found

    # A module and a package that arrive later are covered; a book package and a device module are not.
    (tmp_path / "later_layers.py").write_text("def later_forward(x):\n    return x\n")
    (tmp_path / "later_data").mkdir()
    (tmp_path / "later_data" / "__init__.py").write_text("")
    (tmp_path / "later_data" / "text.py").write_text("def load_sentences():\n    return []\n")
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "__init__.py").write_text("raise RuntimeError('the book package must not be imported')\n")
    monkeypatch.setattr(course_lib, "__path__", [*course_lib.__path__, str(tmp_path)])
    added = ("course_lib.later_layers", "course_lib.later_data", "course_lib.later_data.text")
    try:
        names = reference_modules()
        assert set(added) <= set(names)
        assert not [n for n in names if n.split(".")[1] in ("book", "grading", "device")]
        found = {f.__module__ + "." + f.__qualname__ for f in course_lib_functions()}
        assert {"course_lib.later_layers.later_forward", "course_lib.later_data.text.load_sentences"} <= found
    finally:
        for name in added:
            sys.modules.pop(name, None)


def test_a_submission_calling_a_model_from_the_registry_is_caught():
    from course_lib import models

    def cheat():
        return models.list_models()

    with pytest.raises(GradingError, match=r"calls course_lib\.models\.list_models, which does the exercise"):
        call_student(cheat, what="cheat", forbidden=forbidden("course_lib"))


def test_every_name_the_notebooks_import_is_exported():
    """The hidden tests import from ``course_lib.grading`` itself; the split into modules changes none of that."""
    import course_lib.grading as grading

    imported = set()
    for path in (Path(__file__).resolve().parents[1] / "solutions").rglob("*.ipynb"):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "code":
                tree = ast.parse("".join(cell["source"]))
                imported |= {alias.name for node in ast.walk(tree)
                             if isinstance(node, ast.ImportFrom) and node.module == "course_lib.grading"
                             for alias in node.names}
    modules = [sys.modules[f"course_lib.grading.{name}"] for name in ("compare", "guard", "forbidden", "score", "modules")]
    assert sorted(grading.__all__) == sorted(name for module in modules for name in module.__all__)
    assert imported, "no notebook imports course_lib.grading"
    assert imported <= set(grading.__all__), sorted(imported - set(grading.__all__))
    assert all(callable(getattr(grading, name)) for name in imported)
    # Messages name them as the notebooks import them, whichever module defines them.
    assert {getattr(grading, name).__module__ for name in imported} == {"course_lib.grading"}


# ---------------------------------------------------------------- score: partial credit

def test_checks_score_each_part_on_its_own(capsys):
    from course_lib.grading import Checks

    checks = Checks("conv_backward_naive", 10)
    with checks.part("small inputs", 6):
        assert_close(torch.ones(2), torch.ones(2), what="conv_backward_naive: dx")
    with checks.part("float32 inputs", 3):
        assert_close(torch.zeros(2), torch.ones(2), what="conv_backward_naive: dw")
    with checks.part("every device", 1):
        raise KeyError("the student's dict had no 'x'")
    assert checks.score() == 6.0
    report = capsys.readouterr().out
    assert report.splitlines()[0] == "conv_backward_naive: 6 of 10 points"
    assert "passed small inputs (6 points)" in report
    assert "FAILED float32 inputs (3 points): conv_backward_naive: dw: wrong value at index (0,)" in report
    assert "FAILED every device (1 point): KeyError" in report


def test_checks_raise_when_every_part_fails_and_name_each_reason_once():
    from course_lib.grading import Checks

    checks = Checks("f", 4)
    for name in ("a", "b"):
        with checks.part(name, 2):
            raise GradingError("f is not implemented yet")
    with pytest.raises(GradingError, match=r"^f is not implemented yet$"):
        checks.score()
    checks = Checks("f", 4)
    with checks.part("a", 2):
        raise GradingError("wrong shape")
    with checks.part("b", 2):
        raise GradingError("wrong dtype")
    with pytest.raises(GradingError, match=r"\[a\] wrong shape; \[b\] wrong dtype"):
        checks.score()


def test_checks_refuse_parts_that_do_not_add_up_and_let_interrupts_through():
    from course_lib.grading import Checks

    checks = Checks("f", 5)
    with checks.part("a", 2):
        pass
    with pytest.raises(ValueError, match="add up to 2 points, the cell is worth 5"):
        checks.score()
    with pytest.raises(ValueError, match="two parts"):
        with checks.part("a", 3):
            pass
    with pytest.raises(KeyboardInterrupt):
        with checks.part("b", 3):
            raise KeyboardInterrupt


def test_with_names_binds_reference_helpers_and_restores_the_namespace():
    from course_lib.grading import allow, with_names

    namespace = {"helper": lambda x: "student's", "__builtins__": __builtins__}
    exec("def outer(x):\n    return helper(x), other(x)\n", namespace)
    outer = namespace["outer"]
    with with_names(outer, helper=cf.im2col, other=abs):
        assert namespace["helper"] is cf.im2col and namespace["other"] is abs
    assert namespace["helper"](0) == "student's" and "other" not in namespace
    banned = forbidden("course_lib")
    allowed = allow(banned, cf.im2col)
    assert cf.im2col in banned and cf.im2col not in allowed and len(allowed) == len(banned) - 1
    with pytest.raises(GradingError, match="not a function defined in the notebook"):
        with with_names(len, helper=abs):
            pass


def test_expect_dtype_treats_numpy_arrays_like_tensors():
    from course_lib.grading import expect_dtype

    expect_dtype(np.zeros(3), torch.float64, what="zero_pad")
    expect_dtype(torch.zeros(3, dtype=torch.float32), torch.float32, what="zero_pad")
    with pytest.raises(GradingError, match=r"zero_pad returned a numpy array of dtype float32; keep the dtype "
                                           r"of the input, float64 \(x.new_zeros\)"):
        expect_dtype(np.zeros(3, dtype=np.float32), torch.float64, what="zero_pad", hint="x.new_zeros")
    with pytest.raises(GradingError, match=r"zero_pad returned dtype float32; keep the dtype of the input, float64"):
        expect_dtype(torch.zeros(3), torch.float64, what="zero_pad")
    with pytest.raises(GradingError, match="should return a tensor of dtype float64, but it returned a list"):
        expect_dtype([0.0], torch.float64, what="zero_pad")


def test_after_a_part_runs_out_of_time_the_next_parts_get_short_limits():
    from course_lib.grading import Checks

    def endless():
        while True:
            pass

    checks = Checks("endless", 3)
    start = time.perf_counter()
    with checks.part("first", 1):
        call_student(endless, seconds=0.5)
    first = time.perf_counter() - start
    Checks.AFTER_TIMEOUT_SECONDS = 0.1
    try:
        for name in ("second", "third"):
            with checks.part(name, 1):
                call_student(endless, seconds=30)
    finally:
        Checks.AFTER_TIMEOUT_SECONDS = 2.0
    assert first >= 0.5 and time.perf_counter() - start < first + 5
    with pytest.raises(GradingError, match=r"took longer than 0.5 s.*took longer than 0.1 s"):
        checks.score()
    call_student(lambda: time.sleep(0.3), seconds=1)  # outside the parts, limits are whole again


def test_the_networks_topic_forbids_torchvisions_builders_and_their_blocks():
    import torchvision

    banned = forbidden("networks")
    assert torchvision.models.vgg11 in banned and torchvision.models.resnet.BasicBlock.forward in banned
    assert torchvision.models.googlenet in banned and torchvision.models.inception_v3 in banned

    def cheat():
        return torchvision.models.vgg11(num_classes=3)

    with pytest.raises(GradingError, match=r"calls torchvision\.models\.vgg\.vgg11"):
        call_student(cheat, what="make_vgg", forbidden=banned)


def test_module_helpers_load_randomize_and_list_shapes():
    from torch import nn

    from course_lib.grading import load_reference_state, parameter_shapes, randomize_batch_norm

    ref = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3))
    randomize_batch_norm(ref, torch.Generator().manual_seed(0))
    bn = ref[1]
    assert not torch.equal(bn.running_var, torch.ones(3)) and bool((bn.running_var >= 0.5).all())
    student = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3))
    load_reference_state(student, ref.state_dict(), what="block")
    assert torch.equal(student[1].running_mean, bn.running_mean)
    assert parameter_shapes(student) == [(3,), (3,), (3,), (3, 2, 3, 3)]
    with pytest.raises(GradingError, match=r"(?s)block: the reference weights do not fit .*Missing key"):
        load_reference_state(nn.Sequential(nn.Conv2d(2, 3, 3)), {}, what="block")

