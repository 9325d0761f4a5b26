"""Schematic figures of the book, drawn by code: a filter spanning the input's depth, the
backward pass of a convolution, a layered computational graph, im2col's columns and a
residual merge.

Where a schematic shows a computed fact (which inputs an output gradient reaches, which
pixels land in which column), the fact comes from ``course_lib.functional``, not from
coordinates typed in here: the drawing changes if the library does.  Every function
draws on a given matplotlib ``Axes`` (or a new figure), gives it a title, and returns it;
schematics have no data axes, so the axes frame is switched off.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import FancyBboxPatch, Rectangle

from course_lib.functional import conv2d_backward, conv2d_forward, im2col

__all__ = [
    "conv_backward_reach",
    "draw_conv_backward",
    "draw_filter_volume",
    "draw_im2col_windows",
    "draw_layer_graph",
    "draw_residual_block",
]

_WINDOW_COLOURS = ["tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:brown",
                   "tab:pink", "tab:olive", "tab:cyan"]


def _axes(ax, size=(6, 4)):
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


def _check_size(name: str, value, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return value


def _box(ax, x, y, w, h, text, *, colour="white", fontsize=9):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02", facecolor=colour,
                                edgecolor="black", linewidth=1.2))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=fontsize)


def _arrow(ax, start, end, *, colour="black", text=None, offset=(0.0, 0.12), style="-|>", rad=0.0):
    ax.annotate("", xy=end, xytext=start,
                arrowprops=dict(arrowstyle=style, color=colour, lw=1.3,
                                connectionstyle=f"arc3,rad={rad}"))
    if text:
        ax.text((start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1], text,
                ha="center", va="center", fontsize=8, color=colour)


def draw_filter_volume(ax=None, *, height: int = 6, width: int = 6, depth: int = 3, kernel: int = 3,
                       position: tuple[int, int] = (1, 2), title: str | None = None):
    """One output value of a convolution layer and the ``kernel x kernel x depth`` block of
    the input it reads: the filter spans every input map.

    The ``depth`` input maps are drawn as stacked ``height x width`` grids, each shifted up
    and right (an oblique view); the same window, at ``position`` (row, column of its top
    left pixel), is outlined on every map.  On the right, the output map of size
    ``(height - kernel + 1) x (width - kernel + 1)`` with the one value they produce filled.
    """
    for name, value in (("height", height), ("width", width), ("depth", depth), ("kernel", kernel)):
        _check_size(name, value)
    if kernel > min(height, width):
        raise ValueError(f"kernel {kernel} is larger than the {height}x{width} input")
    row, col = position
    if not (0 <= row <= height - kernel and 0 <= col <= width - kernel):
        raise ValueError(f"position {position} puts the {kernel}x{kernel} window outside the "
                         f"{height}x{width} input")
    ax = _axes(ax, (8, 4.2))
    shift = 0.9                                   # offset between stacked maps
    for d in reversed(range(depth)):              # back maps first, front map last
        x0, y0 = d * shift, d * shift
        ax.add_patch(Rectangle((x0, y0), width, height, facecolor="#e8eef7", edgecolor="grey"))
        for i in range(1, width):
            ax.plot([x0 + i, x0 + i], [y0, y0 + height], color="grey", lw=0.4)
        for j in range(1, height):
            ax.plot([x0, x0 + width], [y0 + j, y0 + j], color="grey", lw=0.4)
        ax.add_patch(Rectangle((x0 + col, y0 + height - row - kernel), kernel, kernel,
                               facecolor="tab:orange", alpha=0.45, edgecolor="tab:red", lw=1.8,
                               label="filter window" if d == 0 else None))
        ax.text(x0 + width + 0.1, y0 + 0.2, f"map {d + 1}", fontsize=8, color="dimgrey")
    out_h, out_w = height - kernel + 1, width - kernel + 1
    ox = width + depth * shift + 2.5
    oy = (height - out_h) / 2 + (depth - 1) * shift / 2
    ax.add_patch(Rectangle((ox, oy), out_w, out_h, facecolor="white", edgecolor="grey"))
    for i in range(1, out_w):
        ax.plot([ox + i, ox + i], [oy, oy + out_h], color="grey", lw=0.4)
    for j in range(1, out_h):
        ax.plot([ox, ox + out_w], [oy + j, oy + j], color="grey", lw=0.4)
    ax.add_patch(Rectangle((ox + col, oy + out_h - row - 1), 1, 1, facecolor="tab:red",
                           edgecolor="black", label="output value"))
    front = (depth - 1) * shift
    _arrow(ax, (front + col + kernel, front + height - row - kernel / 2),
           (ox + col, oy + out_h - row - 0.5), colour="tab:red",
           text=f"{kernel}x{kernel}x{depth} weights", offset=(0, 0.45))
    ax.text(front + width / 2, -0.8, f"input: {depth} maps of {height}x{width}", ha="center", fontsize=9)
    ax.text(ox + out_w / 2, oy - 0.8, f"output map {out_h}x{out_w}", ha="center", fontsize=9)
    ax.set_xlim(-0.5, ox + out_w + 0.8)
    ax.set_ylim(-1.5, height + depth * shift + 0.5)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    ax.set_title(title or "One output value reads a window through all input maps")
    return ax


def conv_backward_reach(input_size: int, kernel: int, output: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Which input pixels receive gradient in a convolution's backward pass (stride 1, no padding).

    Computed with ``conv2d_backward`` and an all-ones kernel, so the answer is the
    library's, not a formula typed here.

    Returns:
        reach: (input_size, input_size) 0/1, the pixels that the gradient of the single
            output ``output`` (row, column) reaches: that output's window.
        count: (input_size, input_size) integers, how many output gradients reach each
            pixel when every output has one.
    """
    _check_size("input_size", input_size)
    _check_size("kernel", kernel)
    if kernel > input_size:
        raise ValueError(f"kernel {kernel} is larger than the input {input_size}")
    n_out = input_size - kernel + 1
    if not all(0 <= o < n_out for o in output):
        raise ValueError(f"output {output} is outside the {n_out}x{n_out} output map")
    x = torch.zeros(1, 1, input_size, input_size, dtype=torch.float64)
    w = torch.ones(1, 1, kernel, kernel, dtype=torch.float64)
    _, cache = conv2d_forward(x, w)
    one_hot = torch.zeros(1, 1, n_out, n_out, dtype=torch.float64)
    one_hot[0, 0, output[0], output[1]] = 1.0
    reach = conv2d_backward(one_hot, cache)[0][0, 0]
    count = conv2d_backward(torch.ones_like(one_hot), cache)[0][0, 0]
    return reach.round().to(torch.int64), count.round().to(torch.int64)


def _grid(ax, values, *, highlight=None, cmap="Blues", title="", vmax=None):
    values = np.asarray(values)
    n_rows, n_cols = values.shape
    top = vmax or max(1, int(values.max()))
    ax.imshow(values, cmap=cmap, vmin=0, vmax=top)
    for r in range(n_rows):
        for c in range(n_cols):
            ink = "white" if values[r, c] > top / 2 else "black"   # readable on dark cells
            ax.text(c, r, str(int(values[r, c])), ha="center", va="center", fontsize=9, color=ink)
    if highlight is not None:
        r, c = highlight
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="tab:red", lw=2.5))
    ax.set_xticks(range(n_cols))
    ax.set_yticks(range(n_rows))
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    ax.set_title(title, fontsize=10)


def draw_conv_backward(axes=None, *, input_size: int = 5, kernel: int = 3, output: tuple[int, int] = (0, 1)):
    """Three panels for the backward pass of a narrow convolution: the output map with one
    output's gradient marked; the input pixels that this gradient reaches (its window);
    and, with a gradient at every output, how many gradients each input pixel collects
    (the fan-out sum of the input gradient).  Returns the three axes."""
    reach, count = conv_backward_reach(input_size, kernel, output)
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(11, 3.8))
    n_out = input_size - kernel + 1
    marked = torch.zeros(n_out, n_out, dtype=torch.int64)
    marked[output] = 1
    _grid(axes[0], marked, highlight=output, cmap="Reds",
          title=f"output gradient at {tuple(output)}")
    _grid(axes[1], reach, cmap="Reds", title="input pixels it reaches")
    _grid(axes[2], count, cmap="Blues",
          title="output gradients reaching each input pixel")
    axes[0].figure.suptitle(f"Backward pass of a {kernel}x{kernel} convolution on a "
                            f"{input_size}x{input_size} input")
    return axes


def draw_layer_graph(layers=("affine 1", "ReLU", "affine 2", "softmax loss"), ax=None, *, title: str | None = None):
    """A layered computational graph: the input, one box per layer, the loss.  Forward
    arrows (black, above) carry the values x_i -> y_i; backward arrows (red, below) carry
    the upstream gradients; under each layer, the cache the forward pass keeps for it."""
    layers = list(layers)
    if not layers:
        raise ValueError("layers must name at least one layer")
    ax = _axes(ax, (2.4 * (len(layers) + 1), 3.4))
    step, w, h = 2.4, 1.6, 0.9
    _box(ax, 0, 1.0, w * 0.6, h, "input\nx", colour="#eeeeee")
    for i, name in enumerate(layers, start=1):
        x0 = i * step
        _box(ax, x0, 1.0, w, h, f"layer {i}\n{name}", colour="#dce8f5")
        _box(ax, x0 + 0.15, -0.45, w - 0.3, 0.55, f"cache {i}", colour="#fff3cd", fontsize=8)
        ax.plot([x0 + w / 2, x0 + w / 2], [0.1, 1.0], color="goldenrod", lw=1, ls=":")
        left = (i - 1) * step + (w * 0.6 if i == 1 else w)
        _arrow(ax, (left, 1.7), (x0, 1.7), text=f"x{i}", offset=(0, 0.2))
        _arrow(ax, (x0, 1.2), (left, 1.2), colour="tab:red", text=f"Δx{i}", offset=(0, -0.2))
    end = len(layers) * step + w
    ax.text(end + 0.15, 1.45, "L", fontsize=14, va="center")
    ax.text(end / 2, 2.55, "forward: values, input to loss", ha="center", fontsize=9)
    ax.text(end / 2, -0.85, "backward: gradients, loss to input (red); caches kept in between",
            ha="center", fontsize=9, color="tab:red")
    ax.set_xlim(-0.3, end + 0.6)
    ax.set_ylim(-1.1, 2.8)
    ax.set_axis_off()
    ax.set_title(title or "A layered network as a computational graph")
    return ax


def draw_im2col_windows(axes=None, *, size: int = 4, kernel: int = 3):
    """im2col drawn with colours: each receptive field of a ``size x size`` input is outlined
    in its own colour, and the column of ``im2col`` that holds it is filled with the same
    colour.  The input holds 0, 1, 2, ... row by row, so every column's numbers show
    which pixels it copied.  Returns the two axes."""
    _check_size("size", size)
    _check_size("kernel", kernel)
    if kernel > size:
        raise ValueError(f"kernel {kernel} is larger than the input {size}")
    x = torch.arange(size * size, dtype=torch.float64).reshape(1, 1, size, size)
    cols = im2col(x, kernel)[0]                                   # (kernel^2, L)
    n_out = size - kernel + 1
    if cols.shape[1] > len(_WINDOW_COLOURS):
        raise ValueError(f"{cols.shape[1]} windows: at most {len(_WINDOW_COLOURS)} can be told apart by colour")
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(9, 4.6), gridspec_kw={"width_ratios": [size, cols.shape[1] * 1.2]})
    ax_in, ax_cols = axes
    ax_in.imshow(np.zeros((size, size)), cmap="Greys", vmin=0, vmax=1)
    for r in range(size):
        for c in range(size):
            ax_in.text(c, r, str(int(x[0, 0, r, c])), ha="center", va="center", fontsize=10)
    ax_cols.imshow(np.zeros(tuple(cols.shape)), cmap="Greys", vmin=0, vmax=1, aspect="auto")
    for j in range(cols.shape[1]):
        colour = _WINDOW_COLOURS[j]
        r, c = divmod(j, n_out)
        inset = 0.08 * (j % 3)                                    # keep overlapping outlines apart
        ax_in.add_patch(Rectangle((c - 0.5 + inset, r - 0.5 + inset), kernel - 2 * inset, kernel - 2 * inset,
                                  fill=False, edgecolor=colour, lw=2.2))
        ax_cols.add_patch(Rectangle((j - 0.5, -0.5), 1, cols.shape[0], facecolor=colour, alpha=0.25))
        for t in range(cols.shape[0]):
            ax_cols.text(j, t, str(int(cols[t, j])), ha="center", va="center", fontsize=9)
    ax_in.set_xticks(range(size))
    ax_in.set_yticks(range(size))
    ax_in.set_xlabel("column")
    ax_in.set_ylabel("row")
    ax_in.set_title(f"input {size}x{size}, one outline per window", fontsize=10)
    ax_cols.set_xticks(range(cols.shape[1]))
    ax_cols.set_yticks(range(cols.shape[0]))
    ax_cols.set_xlabel("column = output pixel (row-major)")
    ax_cols.set_ylabel("kernel tap (row-major)")
    ax_cols.set_title(f"im2col: {cols.shape[0]} x {cols.shape[1]}", fontsize=10)
    ax_in.figure.suptitle("im2col copies each window into the column of its colour")
    return axes


def draw_residual_block(ax=None, *, title: str | None = None):
    """A residual block y = relu(x + F(x)): the weight layers of F on the main path, the
    identity shortcut around them, the element-wise sum; the gradient each path carries
    back is written beside it."""
    ax = _axes(ax, (9, 3.6))
    _box(ax, 0, 1.0, 1.0, 0.8, "x", colour="#eeeeee")
    names = ["conv", "BN + ReLU", "conv", "BN"]
    for i, name in enumerate(names):
        _box(ax, 1.6 + 1.55 * i, 1.0, 1.2, 0.8, name, colour="#dce8f5", fontsize=8)
        start = 1.0 if i == 0 else 1.6 + 1.55 * (i - 1) + 1.2
        _arrow(ax, (start, 1.4), (1.6 + 1.55 * i, 1.4))
    plus_x = 1.6 + 1.55 * len(names) + 0.2
    ax.add_patch(plt.Circle((plus_x + 0.3, 1.4), 0.3, facecolor="white", edgecolor="black", lw=1.2))
    ax.text(plus_x + 0.3, 1.4, "+", ha="center", va="center", fontsize=14)
    _arrow(ax, (plus_x - 0.35, 1.4), (plus_x, 1.4), text="F(x)", offset=(0, 0.25))
    _arrow(ax, (0.5, 1.8), (plus_x + 0.3, 1.7), colour="tab:green", rad=-0.25,
           text="identity shortcut: x", offset=(0, 1.05))
    _box(ax, plus_x + 1.0, 1.0, 1.1, 0.8, "ReLU", colour="#dce8f5", fontsize=8)
    _arrow(ax, (plus_x + 0.6, 1.4), (plus_x + 1.0, 1.4))
    _arrow(ax, (plus_x + 2.1, 1.4), (plus_x + 2.6, 1.4), text="y", offset=(0.2, 0.2))
    ax.text((plus_x + 1.0) / 2, 0.55, "gradient back through F: ∂L/∂s · ∂F/∂x (a product that can shrink)",
            ha="center", fontsize=8, color="tab:red")
    ax.text((plus_x + 1.0) / 2, 0.2, "gradient back through the shortcut: ∂L/∂s, unchanged",
            ha="center", fontsize=8, color="tab:green")
    ax.set_xlim(-0.2, plus_x + 3.0)
    ax.set_ylim(0.0, 3.0)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(title or "A residual block: s = x + F(x), y = ReLU(s)")
    return ax
