"""Figures the chapters share.  matplotlib is imported only when a figure is drawn."""
from __future__ import annotations

from collections import defaultdict

from ..autodiff import Value, topological_order

__all__ = ["draw_graph", "plot_gradient_norms"]


def draw_graph(root: Value, ax=None, *, title: str | None = None, show_grad: bool = True):
    """Draw the computational graph that ends in ``root``, inputs on the left.

    Each node shows its label, gate, value and (if ``show_grad``) gradient;
    each edge shows the local derivative d(child)/d(parent).
    Returns the matplotlib Axes.
    """
    import matplotlib.pyplot as plt

    order = topological_order(root)
    children: dict[int, list[Value]] = defaultdict(list)
    for node in order:
        for parent in node.parents:
            children[id(parent)].append(node)
    # Columns: a gate sits right of all its inputs; an input sits just left of its first use.
    column: dict[int, int] = {}
    for node in order:
        column[id(node)] = 1 + max((column[id(p)] for p in node.parents), default=-1)
    for node in order:
        if not node.parents and children[id(node)]:
            column[id(node)] = min(column[id(c)] for c in children[id(node)]) - 1
    # Rows: inputs numbered in depth-first order from the output, gates at the mean of their inputs.
    row: dict[int, float] = {}
    stack, seen, next_row = [root], set(), 0
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if not node.parents:
            row[id(node)] = next_row
            next_row += 1
        stack.extend(reversed(node.parents))
    for node in order:
        if node.parents:
            row[id(node)] = sum(row[id(p)] for p in node.parents) / len(node.parents)
    pos = {id(node): (column[id(node)] * 2.4, -row[id(node)] * 1.3) for node in order}

    if ax is None:
        n_cols = 1 + max(column.values())
        _, ax = plt.subplots(figsize=(2.0 + 2.0 * n_cols, 1.2 + 0.95 * max(next_row, 1)))
    boxes = {}
    for node in order:
        x, y = pos[id(node)]
        is_constant = not node.parents and node.label == f"{node.data:g}"
        if is_constant:
            text, face = f"const {node.data:.4g}", "#eeeeee"
        else:
            gate = f" [{node.op}]" if node.op else ""
            text = f"{node.label or '?'}{gate}\nvalue {node.data:.4g}"
            if show_grad:
                text += f"\ngrad {node.grad:.4g}"
            face = "#dbe9f6" if not node.parents else "#fdf1d6"
        boxes[id(node)] = ax.text(x, y, text, ha="center", va="center", fontsize=9, family="monospace", zorder=3,
                                  bbox={"boxstyle": "round,pad=0.35", "facecolor": face, "edgecolor": "0.3"})
    for node in order:
        for parent, local in zip(node.parents, node.local_grads):
            ax.annotate("", xy=(0.0, 0.5), xycoords=boxes[id(node)], xytext=(1.0, 0.5),
                        textcoords=boxes[id(parent)],
                        arrowprops={"arrowstyle": "->", "color": "0.35", "lw": 1.2, "shrinkA": 4, "shrinkB": 4})
            (x0, y0), (x1, y1) = pos[id(parent)], pos[id(node)]
            ax.text(0.4 * x0 + 0.6 * x1, 0.4 * y0 + 0.6 * y1 + 0.1, f"{local:.3g}", fontsize=8, color="tab:red",
                    ha="center", va="bottom", zorder=4,
                    bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})
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
