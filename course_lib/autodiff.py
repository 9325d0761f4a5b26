"""A scalar computational graph with reverse-mode automatic differentiation.

Each :class:`Value` holds a number (``data``), the derivative of the final
output with respect to it (``grad``), the values it was computed from
(``parents``) and the *local* derivative of itself with respect to each parent
(``local_grads``), computed by the gate rules of :mod:`course_lib.gates`
during the forward pass.

:meth:`Value.backward` visits the graph in reverse topological order and
applies the chain rule: every parent receives ``local_grad * grad`` and, when a
value is used more than once (fan-out), the contributions add up.

The sort is iterative, so a chain of tens of thousands of nodes works, and the
order is deterministic (parents are kept in a tuple, in argument order).

Example::

    >>> x, y, z = Value(-2.0, label="x"), Value(5.0, label="y"), Value(-4.0, label="z")
    >>> f = (x + y) * z
    >>> f.backward()
    >>> f.data, x.grad, y.grad, z.grad
    (-12.0, -4.0, -4.0, 3.0)
"""
from __future__ import annotations

import math
import numbers

from . import gates

__all__ = ["Value", "vmax", "topological_order"]


def _check_operand(other, op: str) -> "Value":
    if isinstance(other, Value):
        return other
    if isinstance(other, numbers.Real) and not isinstance(other, bool):
        return Value(other, label=f"{float(other):g}")
    raise TypeError(
        f"unsupported operand for {op}: Value and {type(other).__name__} "
        f"(a Value combines with int, float or another Value)"
    )


class Value:
    """A scalar node of a computational graph.

    Args:
        data: the number this node holds (int or float; stored as float).
        parents: the nodes this one was computed from (internal).
        local_grads: d(self)/d(parent) for each parent (internal).
        op: name of the gate that produced the node, e.g. ``"*"`` (for display).
        label: a human-readable name, e.g. ``"x"`` (for display).
    """

    __slots__ = ("data", "grad", "parents", "local_grads", "op", "label")

    def __init__(self, data, parents: tuple = (), local_grads: tuple = (), op: str = "", label: str = ""):
        if isinstance(data, Value):
            raise TypeError("Value(data) needs a number, got another Value; use the Value itself")
        if not isinstance(data, numbers.Real) or isinstance(data, bool):
            raise TypeError(f"Value(data) needs an int or float, got {type(data).__name__}")
        self.data = float(data)
        self.grad = 0.0
        self.parents = tuple(parents)
        self.local_grads = tuple(local_grads)
        self.op = op
        self.label = label

    def __repr__(self) -> str:
        name = f"{self.label}=" if self.label else ""
        return f"Value({name}{self.data:.6g}, grad={self.grad:.6g})"

    # -- binary gates -------------------------------------------------------
    def __add__(self, other) -> "Value":
        other = _check_operand(other, "+")
        dx, dy = gates.add_backward(1.0, self.data, other.data)
        return Value(self.data + other.data, (self, other), (dx, dy), "+")

    def __mul__(self, other) -> "Value":
        other = _check_operand(other, "*")
        dx, dy = gates.mul_backward(1.0, self.data, other.data)
        return Value(self.data * other.data, (self, other), (dx, dy), "*")

    def __pow__(self, exponent) -> "Value":
        if isinstance(exponent, Value) or not isinstance(exponent, numbers.Real) or isinstance(exponent, bool):
            raise TypeError(
                f"Value ** p needs a constant int or float exponent, got {type(exponent).__name__}"
            )
        if self.data == 0 and exponent < 1:
            raise ZeroDivisionError(f"0 ** {exponent} has no derivative at 0")
        local = gates.pow_backward(1.0, self.data, exponent)
        return Value(self.data**exponent, (self,), (local,), f"**{exponent:g}")

    def maximum(self, other) -> "Value":
        """max(self, other); the gradient goes to the larger input (ties: to ``self``)."""
        other = _check_operand(other, "max")
        dx, dy = gates.max_backward(1.0, self.data, other.data)
        return Value(max(self.data, other.data), (self, other), (dx, dy), "max")

    # -- derived binary gates: one line each ---------------------------------
    def __neg__(self) -> "Value":
        return self * -1

    def __sub__(self, other) -> "Value":
        return self + (-_check_operand(other, "-"))

    def __truediv__(self, other) -> "Value":
        return self * _check_operand(other, "/").reciprocal()

    def __radd__(self, other) -> "Value":
        return _check_operand(other, "+") + self

    def __rmul__(self, other) -> "Value":
        return _check_operand(other, "*") * self

    def __rsub__(self, other) -> "Value":
        return _check_operand(other, "-") - self

    def __rtruediv__(self, other) -> "Value":
        return _check_operand(other, "/") / self

    # -- unary gates --------------------------------------------------------
    def reciprocal(self) -> "Value":
        """1 / self; local derivative -1 / self**2."""
        if self.data == 0:
            raise ZeroDivisionError("reciprocal of a Value holding 0")
        return Value(1.0 / self.data, (self,), (gates.reciprocal_backward(1.0, self.data),), "1/x")

    def exp(self) -> "Value":
        """e**self; local derivative e**self."""
        return Value(math.exp(self.data), (self,), (gates.exp_backward(1.0, self.data),), "exp")

    def log(self) -> "Value":
        """Natural logarithm; local derivative 1 / self."""
        if self.data <= 0:
            raise ValueError(f"log of a non-positive Value ({self.data})")
        return Value(math.log(self.data), (self,), (1.0 / self.data,), "log")

    def relu(self) -> "Value":
        """max(self, 0); local derivative 1 where self > 0, else 0."""
        return Value(max(self.data, 0.0), (self,), (gates.relu_backward(1.0, self.data),), "relu")

    def sigmoid(self) -> "Value":
        """1 / (1 + e**-self); local derivative s (1 - s)."""
        return Value(gates.sigmoid(self.data), (self,), (gates.sigmoid_backward(1.0, self.data),), "sigmoid")

    def tanh(self) -> "Value":
        """tanh(self); local derivative 1 - tanh**2."""
        return Value(math.tanh(self.data), (self,), (gates.tanh_backward(1.0, self.data),), "tanh")

    # -- reverse mode -------------------------------------------------------
    def backward(self, grad: float = 1.0) -> None:
        """Fill ``grad`` of every node upstream of this one with d(self)/d(node).

        Gradients of the whole graph are reset first, so calling ``backward``
        twice gives the same result (it does not accumulate across calls).
        """
        order = topological_order(self)
        for node in order:
            node.grad = 0.0
        self.grad = float(grad)
        for node in reversed(order):
            for parent, local in zip(node.parents, node.local_grads):
                parent.grad += local * node.grad


def vmax(a, b) -> Value:
    """The max gate as a function: ``vmax(a, b)`` equals ``Value(a).maximum(b)``."""
    return _check_operand(a, "max").maximum(b)


def topological_order(root: Value) -> list[Value]:
    """All nodes that ``root`` depends on, each after its parents (``root`` last).

    Iterative depth-first search with an explicit stack: no recursion limit,
    and the order depends only on the graph (parents are visited in argument order).
    """
    order: list[Value] = []
    visited: set[int] = set()
    stack: list[tuple[Value, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for parent in reversed(node.parents):
            if id(parent) not in visited:
                stack.append((parent, False))
    return order
