"""Chapter 1 worked examples: the hand backprop agrees with the graph, torch and finite differences."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib import chain_rule as cr
from course_lib.autodiff import topological_order
from course_lib.gradcheck import numerical_derivative

pytestmark = pytest.mark.ch1

small = st.floats(min_value=-2, max_value=2, allow_nan=False)
NAMES = ("x1", "x2", "w", "y1", "y2")


def test_sum_times_graph_values():
    f = cr.sum_times_graph(1.0, 3.0, -2.0)
    f.backward()
    nodes = {node.label: node for node in topological_order(f)}
    assert nodes["q"].data == 4.0 and nodes["f"].data == -8.0
    assert (nodes["x"].grad, nodes["y"].grad, nodes["z"].grad, nodes["q"].grad) == (-2.0, -2.0, 4.0, -2.0)


@settings(max_examples=40, deadline=None)
@given(x1=small, x2=small, w=small, y1=small, y2=small)
def test_gate_graph_hand_backprop_matches_graph_and_torch(x1, x2, w, y1, y2):
    args = (x1, x2, w, y1, y2)
    hand = cr.gate_graph_backward(*args)
    graph = cr.gate_graph(*args)
    graph.backward()
    grads = {n.label: n.grad for n in topological_order(graph)}
    ts = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in args]
    m = torch.where(ts[3] >= ts[4], ts[3], ts[4])  # ties to y1, like the max gate
    f = 1 / torch.exp(-(ts[0] + ts[1]) * ts[2] + m)
    f.backward()
    assert hand.f == pytest.approx(graph.data, rel=1e-12)
    assert hand.f == pytest.approx(float(f.detach()), rel=1e-12)
    for name, t in zip(NAMES, ts):
        assert hand.grads[name] == pytest.approx(grads[name], rel=1e-12, abs=1e-15)
        assert hand.grads[name] == pytest.approx(float(t.grad), rel=1e-10, abs=1e-15)


def test_gate_graph_matches_finite_differences_away_from_ties():
    args = (1.0, 2.0, -1.0, 0.5, -3.0)
    hand = cr.gate_graph_backward(*args)
    f = lambda x1, x2, w, y1, y2: 1 / math.exp(-(x1 + x2) * w + max(y1, y2))  # noqa: E731
    num = numerical_derivative(f, args)
    assert [hand.grads[n] for n in NAMES] == pytest.approx(list(num), rel=1e-6, abs=1e-9)


def test_gate_graph_backward_on_tensors():
    gen = torch.Generator().manual_seed(0)
    args = [torch.randn(4, 3, generator=gen, dtype=torch.float64) for _ in NAMES]
    hand = cr.gate_graph_backward(*args)
    for i in range(4):
        one = cr.gate_graph_backward(*[float(a[i, 0]) for a in args])
        for name in NAMES:
            assert float(hand.grads[name][i, 0]) == pytest.approx(one.grads[name], rel=1e-12, abs=1e-15)


FANOUT = ("x", "y", "z", "s")


def _torch_fanout(args):
    """f = (x y + max(y, z)) / (1 + exp(s)) by torch's autograd (ties to y, like the max gate)."""
    x, y, z, s = args
    return (x * y + torch.where(y >= z, y, z)) / (1 + torch.exp(s))


@settings(max_examples=40, deadline=None)
@given(x=small, y=small, z=small, s=small)
def test_fanout_graph_matches_torch_autograd(x, y, z, s):
    hand = cr.fanout_graph_backward(x, y, z, s)
    ts = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (x, y, z, s)]
    f = _torch_fanout(ts)
    f.backward()
    assert hand.f == pytest.approx(float(f.detach()), rel=1e-12)
    for name, t in zip(FANOUT, ts):
        assert hand.grads[name] == pytest.approx(float(t.grad), rel=1e-10, abs=1e-15)


def test_fanout_graph_sums_the_two_paths_of_y_and_sends_ties_to_y():
    # x = 3, y = 2, z = -1, s = 0: f = (6 + 2) / 2 = 4; df/dy = (x + 1) / 2 = 2 (both paths), df/dz = 0.
    hand = cr.fanout_graph_backward(3.0, 2.0, -1.0, 0.0)
    assert hand.f == 4.0
    assert {k: hand.grads[k] for k in FANOUT} == {"x": 1.0, "y": 2.0, "z": 0.0, "s": -2.0}
    tie = cr.fanout_graph_backward(3.0, 2.0, 2.0, 0.0)
    assert (tie.grads["y"], tie.grads["z"]) == (2.0, 0.0)


def test_fanout_graph_on_tensors_matches_torch_autograd(device):
    gen = torch.Generator().manual_seed(1)
    args = [torch.randn(3, 5, generator=gen, dtype=torch.float64).to(device) for _ in FANOUT]
    args[2][:, ::2] = args[1][:, ::2]  # ties y == z
    hand = cr.fanout_graph_backward(*args)
    leaves = [a.clone().requires_grad_(True) for a in args]
    grads = torch.autograd.grad(_torch_fanout(leaves).sum(), leaves)
    for name, want in zip(FANOUT, grads):
        assert hand.grads[name].device == args[0].device
        torch.testing.assert_close(hand.grads[name], want, rtol=1e-12, atol=1e-15)
