"""course_lib.grading: what the hidden tests rely on."""
import sys
import warnings

import numpy as np
import pytest
import torch

from course_lib import functional as cf
from course_lib.grading import GradingError, as_strict_tensor, assert_close, call_student, forbid_calls

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
