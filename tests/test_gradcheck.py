"""course_lib.gradcheck: the numerical checker agrees with autograd, and catches wrong gradients."""
import math

import pytest
import torch

from course_lib import gradcheck as gc

pytestmark = pytest.mark.ch1


def test_relative_error_basics():
    assert gc.relative_error(1.0, 1.0) == 0.0
    assert gc.relative_error(0.0, 0.0) == 0.0
    assert gc.relative_error(1.0, 3.0) == pytest.approx(0.5)
    assert gc.relative_error(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.2])) == pytest.approx(0.2 / 4.2)
    with pytest.raises(ValueError, match="shapes differ"):
        gc.relative_error(torch.zeros(2), torch.zeros(3))


def test_numerical_derivative_of_scalar_function():
    f = lambda x, y: x**2 * y + math.sin(y)  # noqa: E731
    dx, dy = gc.numerical_derivative(f, (1.5, -0.5))
    assert dx == pytest.approx(2 * 1.5 * -0.5, rel=1e-7)
    assert dy == pytest.approx(1.5**2 + math.cos(-0.5), rel=1e-7)


def test_numerical_gradient_matches_autograd():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    f = lambda t: (t.sin() * t).sum()  # noqa: E731
    num = gc.numerical_gradient(f, x.clone())
    t = x.clone().requires_grad_(True)
    f(t).backward()
    assert gc.relative_error(num, t.grad) < 1e-8


def test_numerical_gradient_array_with_upstream_gradient():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, generator=gen, dtype=torch.float64)
    w = torch.randn(3, 5, generator=gen, dtype=torch.float64)
    dout = torch.randn(2, 5, generator=gen, dtype=torch.float64)
    num = gc.numerical_gradient_array(lambda t: torch.tanh(t @ w), x, dout)
    t = x.clone().requires_grad_(True)
    torch.tanh(t @ w).backward(dout)
    assert gc.relative_error(num, t.grad) < 1e-8
    # x is restored exactly after probing
    assert torch.equal(x, torch.randn(2, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64))


def test_checker_detects_a_wrong_gradient():
    x = torch.linspace(-1, 1, 7, dtype=torch.float64)
    num = gc.numerical_gradient(lambda t: (t**3).sum(), x.clone())
    wrong = 2 * x**2  # should be 3 x**2
    assert gc.relative_error(wrong, num) > 1e-2


def test_checker_errors_are_clear():
    with pytest.raises(TypeError, match="floating-point"):
        gc.numerical_gradient(lambda t: t.sum(), torch.arange(3))
    with pytest.raises(ValueError, match="pass dout"):
        gc.numerical_gradient(lambda t: t * 2, torch.zeros(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="dout has shape"):
        gc.numerical_gradient_array(lambda t: t * 2, torch.zeros(3, dtype=torch.float64), torch.zeros(4))


def test_torch_gradcheck_wrapper_casts_to_float64():
    x = torch.randn(3, 2)  # float32 on purpose: the wrapper makes float64 copies
    assert gc.torch_gradcheck(lambda t: (t.exp() * t).sum(), x)
    assert x.dtype == torch.float32 and not x.requires_grad
