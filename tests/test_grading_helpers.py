"""course_lib.grading: what the hidden tests rely on."""
import re
import signal
import sys
import time
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib import autograd as cl_autograd, filters as cl_filters, functional as cf, shapes as cl_shapes
from course_lib.functional import conv as cl_conv
from course_lib.grading import (
    GradingError,
    as_strict_tensor,
    assert_close,
    autograd_entry_points,
    call_student,
    convolution_ops,
    expect_int,
    expect_raises,
    forbid_calls,
    module_functions,
    must_call,
    padding_ops,
    sliding_window_ops,
    torch_op_name,
)

pytestmark = pytest.mark.ch1


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


# ---------------------------------------------------------------- convolution exercises (Assignment 2)

_X = torch.arange(2 * 3 * 5 * 6, dtype=torch.float64).reshape(2, 3, 5, 6) / 10
_W = torch.ones(4, 3, 3, 2, dtype=torch.float64)


def test_torch_op_name_is_the_same_under_every_alias():
    assert torch_op_name(F.conv2d) == torch_op_name(torch.conv2d) == "conv2d"
    assert torch_op_name(torch._C._VariableFunctions.conv2d) == "conv2d"
    assert torch_op_name(torch.ops.aten.conv2d) == torch_op_name(torch.ops.aten.conv2d.default) == "conv2d"
    assert torch_op_name(torch.Tensor.unfold) == torch_op_name(torch.ops.aten.unfold) == "unfold"
    assert torch_op_name(F.unfold) is None and torch_op_name(F.pad) is None  # Python functions: by code object


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
    forbidden = (module_functions(cl_shapes, cl_conv, cl_filters, cl_autograd) + convolution_ops() + padding_ops()
                 + sliding_window_ops() + autograd_entry_points())
    got = call_student(_honest_conv, _X, _W, b, 2, 1, forbidden=forbidden)
    want, _ = cl_conv.conv2d_forward(_X, _W, b, stride=2, pad=1)
    assert_close(got, want, what="honest convolution")


def test_module_functions_lists_private_helpers_and_methods_but_not_imports():
    found = module_functions(cl_conv, cl_autograd)
    assert cl_conv.conv2d_forward in found and cl_conv._pad in found and cl_conv._im2col in found
    assert cl_autograd.Conv2d.forward in found and cl_autograd.conv2d in found
    assert cl_shapes.conv_output_size not in found            # imported into conv, defined in shapes
    assert torch.tensordot not in found

    def cheat(x):
        return cl_conv._pad(x, (1, 1))

    with pytest.raises(GradingError, match=r"calls course_lib\.functional\.conv\._pad"):
        call_student(cheat, _X, forbidden=found)
    # Building a course_lib NamedTuple is not a call of the reference.
    call_student(lambda x: cl_conv.ConvCache(x, x, True, (1, 1), (0, 0), (1, 1), 1), _X, forbidden=found)


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


def test_expect_int_accepts_integers_only():
    assert expect_int(3, what="f") == 3 and expect_int(np.int64(4), what="f") == 4
    for bad, shown in [(3.0, "a float 3.0"), (torch.tensor(3), "Tensor()"), (True, "a bool True"), ("3", "a str")]:
        with pytest.raises(GradingError, match=rf"f should return an int, but it returned {re.escape(shown)}"):
            expect_int(bad, what="f")


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
    assert time.perf_counter() - start < 2


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
    assert time.perf_counter() - start < 2
    assert signal.getsignal(signal.SIGALRM) is handler
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert sys.getprofile() is None and torch._C._len_torch_function_stack() == 0


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
