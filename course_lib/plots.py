"""Figures the chapters share.  matplotlib is imported only when a figure is drawn."""
from __future__ import annotations

from collections import defaultdict

from .autodiff import Value, topological_order

__all__ = ["draw_graph", "plot_gradient_norms"]


def draw_graph(root: Value, ax=None, *, title: str | None = None, show_grad: bool = True):
    """Draw the computational graph that ends in ``root``, inputs on the left.

    Each node shows its label, gate, value and (if ``show_grad``) gradient;
    each edge shows the local derivative d(child)/d(parent).
    Returns the matplotlib Axes.
    """
    import matplotlib.pyplot as plt

    order = topological_order(root)
    column: dict[int, int] = {}
    for node in order:
        column[id(node)] = 1 + max((column[id(p)] for p in node.parents), default=-1)
    by_column: dict[int, list[Value]] = defaultdict(list)
    for node in order:
        by_column[column[id(node)]].append(node)
    pos = {}
    for col, nodes in by_column.items():
        for row, node in enumerate(nodes):
            pos[id(node)] = (col * 2.2, -(row - (len(nodes) - 1) / 2) * 1.5)

    if ax is None:
        n_cols, n_rows = len(by_column), max(len(v) for v in by_column.values())
        _, ax = plt.subplots(figsize=(2.0 + 1.9 * n_cols, 1.0 + 1.2 * n_rows))
    for node in order:
        for parent, local in zip(node.parents, node.local_grads):
            (x0, y0), (x1, y1) = pos[id(parent)], pos[id(node)]
            ax.annotate("", xy=(x1 - 0.75, y1), xytext=(x0 + 0.75, y0),
                        arrowprops={"arrowstyle": "->", "color": "0.35", "lw": 1.2})
            ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.12, f"{local:.3g}", fontsize=8, color="tab:red",
                    ha="center", va="bottom")
    for node in order:
        x, y = pos[id(node)]
        name = node.label or "?"
        gate = f" [{node.op}]" if node.op else ""
        text = f"{name}{gate}\nvalue {node.data:.4g}"
        if show_grad:
            text += f"\ngrad {node.grad:.4g}"
        face = "#dbe9f6" if not node.parents else "#fdf1d6"
        ax.text(x, y, text, ha="center", va="center", fontsize=9, family="monospace",
                bbox={"boxstyle": "round,pad=0.35", "facecolor": face, "edgecolor": "0.3"})
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 1.1, max(xs) + 1.1)
    ax.set_ylim(min(ys) - 1.0, max(ys) + 1.0)
    ax.set_axis_off()
    ax.set_title(title or "Computational graph (red: local derivative on each edge)")
    return ax


def plot_gradient_norms(norms_by_label: dict[str, list[float]], ax=None, *, title: str | None = None):
    """Semilog plot of gradient norm against layer index, one line per setting.

    Args:
        norms_by_label: label -> list of norms, entry ``l`` for layer ``l`` (0 = input).
    Returns the matplotlib Axes.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4))
    for label, norms in norms_by_label.items():
        ax.semilogy(range(len(norms)), norms, marker="o", markersize=3, label=label)
    ax.set_xlabel("layer index l (0 = input, right = output)")
    ax.set_ylabel("gradient norm ||dL/dh_l|| (log scale)")
    ax.set_title(title or "Gradient size through depth")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return ax
