"""Worked examples of Chapter 1: the chain rule on small graphs, forward and backward.

* :func:`sum_times_graph` builds f = (x + y) z as a graph of :class:`Value`.
* :func:`gate_graph` builds f = 1 / exp(-(x1 + x2) w + max(y1, y2)), a graph
  with add, multiply, max, exp and reciprocal gates, and
  :func:`gate_graph_backward` backpropagates through the same graph by hand,
  one gate rule at a time (numbers or tensors, elementwise).

The graded exercise of Chapter 1 asks for :func:`gate_graph_backward`; the
hidden tests use this module as its reference.  The book's tables of a graph
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
