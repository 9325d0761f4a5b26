"""course_lib.autodiff against torch autograd: every gate, fan-out, reuse, depth."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib.autodiff import Value, topological_order, vmax

pytestmark = pytest.mark.ch1

finite = st.floats(min_value=-3, max_value=3, allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=0.2, max_value=3, allow_nan=False, allow_infinity=False)


def torch_grads(fn, *xs):
    ts = [torch.tensor(float(x), dtype=torch.float64, requires_grad=True) for x in xs]
    out = fn(*ts)
    out.backward()
    return float(out.detach()), [float(t.grad) for t in ts]


def value_grads(fn, *xs):
    vs = [Value(x) for x in xs]
    out = fn(*vs)
    out.backward()
    return out.data, [v.grad for v in vs]


BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "radd": (lambda a, b: 2.5 + a * b, lambda a, b: 2.5 + a * b),
    "rsub": (lambda a, b: 1.5 - a, lambda a, b: 1.5 - a + 0 * b),
    "rmul": (lambda a, b: -3 * a + b, lambda a, b: -3 * a + b),
}
UNARY = {
    "exp": (lambda a: a.exp(), torch.exp),
    "relu": (lambda a: a.relu(), torch.relu),
    "tanh": (lambda a: a.tanh(), torch.tanh),
    "sigmoid": (lambda a: a.sigmoid(), torch.sigmoid),
    "neg": (lambda a: -a, lambda a: -a),
    "square": (lambda a: a**2, lambda a: a**2),
    "cube": (lambda a: a**3, lambda a: a**3),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@settings(max_examples=30, deadline=None)
@given(a=finite, b=finite)
def test_binary_gates_match_torch(name, a, b):
    vfn, tfn = BINARY[name]
    out, grads = value_grads(vfn, a, b)
    t_out, t_grads = torch_grads(tfn, a, b)
    assert out == pytest.approx(t_out, rel=1e-12, abs=1e-12)
    assert grads == pytest.approx(t_grads, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("name", sorted(UNARY))
@settings(max_examples=30, deadline=None)
@given(a=finite.filter(lambda v: abs(v) > 1e-9))
def test_unary_gates_match_torch(name, a):
    vfn, tfn = UNARY[name]
    out, grads = value_grads(vfn, a)
    t_out, t_grads = torch_grads(tfn, a)
    assert out == pytest.approx(t_out, rel=1e-12, abs=1e-12)
    assert grads == pytest.approx(t_grads, rel=1e-12, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(a=finite, b=positive, p=st.sampled_from([-2.0, -1.0, -0.5, 0.5, 1.5, 2.0]))
def test_division_log_and_powers_match_torch(a, b, p):
    out, grads = value_grads(lambda x, y: x / y + y**p + y.log(), a, b)
    t_out, t_grads = torch_grads(lambda x, y: x / y + y**p + y.log(), a, b)
    assert out == pytest.approx(t_out, rel=1e-10)
    assert grads == pytest.approx(t_grads, rel=1e-10, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(a=finite, b=finite)
def test_max_routes_gradient_to_the_larger_input(a, b):
    out, (ga, gb) = value_grads(lambda x, y: x.maximum(y) * 3.0, a, b)
    assert out == 3.0 * max(a, b)
    if a > b:
        assert (ga, gb) == (3.0, 0.0)
    elif b > a:
        assert (ga, gb) == (0.0, 3.0)


def test_max_tie_sends_gradient_to_first_input():
    out, (ga, gb) = value_grads(lambda x, y: vmax(x, y), 2.0, 2.0)
    assert (out, ga, gb) == (2.0, 1.0, 0.0)


def test_worked_example_sum_times():
    x, y, z = Value(-2.0), Value(5.0), Value(-4.0)
    q = x + y
    f = q * z
    f.backward()
    assert (q.data, f.data) == (3.0, -12.0)
    assert (x.grad, y.grad, z.grad, q.grad) == (-4.0, -4.0, 3.0, -4.0)


def test_fan_out_accumulates_gradients():
    # f = x * x + x: the three uses of x add up: 2x + 1.
    out, (g,) = value_grads(lambda x: x * x + x, 3.0)
    assert (out, g) == (12.0, 7.0)
    # a node reused through two paths of different depth
    a = Value(1.5)
    b = a.exp()
    f = b * a + b.tanh() * a
    f.backward()
    t = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
    tb = t.exp()
    (tb * t + tb.tanh() * t).backward()
    assert a.grad == pytest.approx(float(t.grad), rel=1e-12)


def test_same_value_on_both_sides():
    x = Value(4.0)
    f = x * x
    f.backward()
    assert x.grad == 8.0


def test_backward_twice_gives_the_same_gradients():
    x, y = Value(2.0), Value(-1.0)
    f = (x * y + x).exp()
    f.backward()
    first = (x.grad, y.grad)
    f.backward()
    assert (x.grad, y.grad) == first


@settings(max_examples=20, deadline=None)
@given(xs=st.lists(finite, min_size=2, max_size=6), seed=st.integers(0, 2**16))
def test_random_expressions_match_torch(xs, seed):
    """Random graphs of mixed gates, with shared sub-expressions."""
    import random

    rng = random.Random(seed)
    ops = ["add", "mul", "max", "tanh", "sigmoid", "relu", "sub"]
    plan = [(rng.choice(ops), rng.randrange(10**6), rng.randrange(10**6)) for _ in range(12)]

    def build(values, maximum, unary):
        nodes = list(values)
        for op, i, j in plan:
            a, b = nodes[i % len(nodes)], nodes[j % len(nodes)]
            if op == "add":
                nodes.append(a + b)
            elif op == "sub":
                nodes.append(a - b)
            elif op == "mul":
                nodes.append(a * b)
            elif op == "max":
                nodes.append(maximum(a, b))
            else:
                nodes.append(unary(op, a))
        return nodes[-1] + nodes[-2] * nodes[-3]

    v_in = [Value(x) for x in xs]
    v_out = build(v_in, lambda a, b: a.maximum(b), lambda op, a: getattr(a, op)())
    v_out.backward()
    t_in = [torch.tensor(float(x), dtype=torch.float64, requires_grad=True) for x in xs]
    # torch.where(a >= b, a, b) routes a tie to the first input, like our max gate.
    t_out = build(t_in, lambda a, b: torch.where(a >= b, a, b), lambda op, a: getattr(torch, op)(a))
    t_out.backward()
    assert v_out.data == pytest.approx(float(t_out.detach()), rel=1e-9, abs=1e-12)
    for v, t in zip(v_in, t_in):
        tg = 0.0 if t.grad is None else float(t.grad)
        assert v.grad == pytest.approx(tg, rel=1e-9, abs=1e-9)


def test_deep_chain_of_ten_thousand_nodes():
    x = Value(0.5)
    y = x
    for _ in range(10_000):
        y = y * 1.0001 + 0.0
    y.backward()
    assert x.grad == pytest.approx(1.0001**10_000, rel=1e-9)
    assert len(topological_order(y)) > 10_000


def test_topological_order_is_deterministic_and_parents_first():
    x, y = Value(1.0, label="x"), Value(2.0, label="y")
    f = (x * y + y) * x
    order = topological_order(f)
    position = {id(n): i for i, n in enumerate(order)}
    for node in order:
        for parent in node.parents:
            assert position[id(parent)] < position[id(node)]
    assert [n.data for n in order] == [n.data for n in topological_order(f)]


@pytest.mark.parametrize("bad", ["2", None, [1.0], True])
def test_unsupported_operands_raise_clear_type_errors(bad):
    with pytest.raises(TypeError, match="Value"):
        Value(1.0) + bad
    with pytest.raises(TypeError, match="Value"):
        Value(bad)


def test_errors_for_undefined_points():
    with pytest.raises(ZeroDivisionError):
        Value(0.0).reciprocal()
    with pytest.raises(ValueError, match="non-positive"):
        Value(-1.0).log()
    with pytest.raises(TypeError, match="exponent"):
        Value(2.0) ** Value(3.0)


def test_numpy_scalars_are_accepted():
    import numpy as np

    f = Value(np.float32(2.0)) * np.float64(3.0)
    assert f.data == 6.0 and math.isfinite(f.data)
