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
