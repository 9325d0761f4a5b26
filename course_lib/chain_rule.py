"""Worked examples of Chapter 1: the chain rule on small graphs, forward and backward.

* :func:`sum_times_graph` builds f = (x + y) z as a graph of :class:`Value`.
* :func:`gate_graph` builds f = 1 / exp(-(x1 + x2) w + max(y1, y2)), a graph
  with add, multiply, max, exp and reciprocal gates, and
  :func:`gate_graph_backward` backpropagates through the same graph by hand,
  one gate rule at a time (numbers or tensors, elementwise).
* :func:`fanout_graph_backward` backpropagates by hand through
  f = (x y + max(y, z)) / (1 + exp(s)), the same five gates in another graph,
  one where the input y feeds two gates (its gradient is the sum of both).

The book works through :func:`gate_graph_backward`; the graded exercise of
Chapter 1 asks for the fan-out graph, and its hidden tests use
:func:`fanout_graph_backward` as the reference.  The book's tables of a graph
and its measurement of gradients through depth are in :mod:`course_lib.book`.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from . import gates
from .autodiff import Value

__all__ = [
    "sum_times_graph",
    "gate_graph",
    "GateGraphResult",
    "gate_graph_forward",
    "gate_graph_backward",
    "fanout_graph_forward",
    "fanout_graph_backward",
]


def sum_times_graph(x: float, y: float, z: float) -> Value:
    """f = (x + y) * z as a graph; the intermediate q = x + y is labelled."""
    xv, yv, zv = Value(x, label="x"), Value(y, label="y"), Value(z, label="z")
    q = xv + yv
    q.label = "q"
    f = q * zv
    f.label = "f"
    return f


def _maximum(a, b):
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return torch.maximum(torch.as_tensor(a), torch.as_tensor(b))
    return max(a, b)


def gate_graph(x1: float, x2: float, w: float, y1: float, y2: float) -> Value:
    """f = 1 / exp(-(x1 + x2) * w + max(y1, y2)) as a labelled graph of Values.

    Intermediates: a = x1 + x2, b = a * w, c = -b, m = max(y1, y2), d = c + m,
    e = exp(d), f = 1 / e.
    """
    inputs = {name: Value(v, label=name) for name, v in zip(("x1", "x2", "w", "y1", "y2"), (x1, x2, w, y1, y2))}
    a = inputs["x1"] + inputs["x2"]
    b = a * inputs["w"]
    c = b * -1.0
    m = inputs["y1"].maximum(inputs["y2"])
    d = c + m
    e = d.exp()
    f = e.reciprocal()
    for node, name in zip((a, b, c, m, d, e, f), "abcmdef"):
        node.label = name
    return f


class GateGraphResult(NamedTuple):
    """Forward values and gradients of :func:`gate_graph_backward`."""

    f: object
    values: dict
    grads: dict


def gate_graph_forward(x1, x2, w, y1, y2) -> dict:
    """Forward pass of the gate graph: every intermediate, keyed a, b, c, m, d, e, f."""
    a = x1 + x2
    b = a * w
    c = -b
    m = _maximum(y1, y2)
    d = c + m
    e = gates.exp(d)
    f = 1.0 / e
    return {"a": a, "b": b, "c": c, "m": m, "d": d, "e": e, "f": f}


def gate_graph_backward(x1, x2, w, y1, y2) -> GateGraphResult:
    """Backpropagate through f = 1 / exp(-(x1 + x2) w + max(y1, y2)) gate by gate.

    Works on numbers or on same-shaped tensors (elementwise).  Returns the
    output ``f``, the forward intermediates and the gradients of ``f`` with
    respect to every intermediate and input (keys ``x1 x2 w y1 y2 a b c m d e``).
    """
    v = gate_graph_forward(x1, x2, w, y1, y2)
    g = {"f": 1.0}
    g["e"] = gates.reciprocal_backward(g["f"], v["e"])
    g["d"] = gates.exp_backward(g["e"], v["d"])
    g["c"], g["m"] = gates.add_backward(g["d"], v["c"], v["m"])
    g["y1"], g["y2"] = gates.max_backward(g["m"], y1, y2)
    g["b"], _ = gates.mul_backward(g["c"], v["b"], -1.0)
    g["a"], g["w"] = gates.mul_backward(g["b"], v["a"], w)
    g["x1"], g["x2"] = gates.add_backward(g["a"], x1, x2)
    return GateGraphResult(v["f"], v, g)


def fanout_graph_forward(x, y, z, s) -> dict:
    """Forward pass of f = (x y + max(y, z)) / (1 + exp(s)): every intermediate, keyed a, m, n, e, d, r, f.

    a = x * y, m = max(y, z), n = a + m, e = exp(s), d = e + 1, r = 1 / d, f = n * r.
    Numbers or same-shaped tensors (elementwise).
    """
    a = x * y
    m = _maximum(y, z)
    n = a + m
    e = gates.exp(s)
    d = e + 1.0
    r = 1.0 / d
    f = n * r
    return {"a": a, "m": m, "n": n, "e": e, "d": d, "r": r, "f": f}


def fanout_graph_backward(x, y, z, s) -> GateGraphResult:
    """Backpropagate through f = (x y + max(y, z)) / (1 + exp(s)) gate by gate.

    ``y`` feeds the multiply gate and the max gate, so its gradient is the sum
    of what the two send back.  Ties ``y == z`` follow the max gate's rule (all
    to ``y``).  Works on numbers or on same-shaped tensors (elementwise).
    Returns the output ``f``, the forward intermediates and the gradients of
    ``f`` with respect to every intermediate and input (keys ``x y z s a m n e d r``).
    """
    v = fanout_graph_forward(x, y, z, s)
    g = {"f": 1.0}
    g["n"], g["r"] = gates.mul_backward(g["f"], v["n"], v["r"])
    g["d"] = gates.reciprocal_backward(g["r"], v["d"])
    g["e"], _ = gates.add_backward(g["d"], v["e"], 1.0)
    g["s"] = gates.exp_backward(g["e"], s)
    g["a"], g["m"] = gates.add_backward(g["n"], v["a"], v["m"])
    dy_max, g["z"] = gates.max_backward(g["m"], y, z)
    g["x"], dy_mul = gates.mul_backward(g["a"], x, y)
    g["y"] = dy_mul + dy_max  # two paths from y to f: their gradients add
    return GateGraphResult(v["f"], v, g)
