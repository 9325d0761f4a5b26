"""Figures and data of Chapter 4 (classic networks): the ILSVRC results, block diagrams of
Inception modules and residual blocks, training curves.  Book only; matplotlib is imported here."""
from __future__ import annotations

from typing import NamedTuple, Sequence

import matplotlib.pyplot as plt
from matplotlib.patches import FancyBboxPatch

__all__ = ["IlsvrcResult", "ILSVRC_WINNERS", "HUMAN_TOP5_ERROR", "plot_ilsvrc", "draw_branches",
           "draw_inception", "draw_residual_blocks", "plot_degradation"]


class IlsvrcResult(NamedTuple):
    """One ILSVRC classification result: top-5 error in percent on the test set; ``depth`` in
    weight layers (None for the pipelines of hand-built features)."""

    year: int
    team: str
    method: str
    top5_error: float
    depth: int | None


#: Winners of the ILSVRC classification task (Russakovsky et al. 2015, Table 8; He et al. 2016
#: for 2015), and VGG, second in 2014.  SuperVision's 16.4 is without extra training data
#: (15.3 with ImageNet Fall 2011 pre-training).
ILSVRC_WINNERS: tuple[IlsvrcResult, ...] = (
    IlsvrcResult(2010, "NEC-UIUC", "SIFT/LBP, coding, pyramid pooling, SVM", 28.2, None),
    IlsvrcResult(2011, "XRCE", "Fisher vectors, linear SVM", 25.8, None),
    IlsvrcResult(2012, "SuperVision", "AlexNet", 16.4, 8),
    IlsvrcResult(2013, "Clarifai", "ZF-style CNN", 11.7, 8),
    IlsvrcResult(2014, "VGG (2nd)", "VGG", 7.3, 19),
    IlsvrcResult(2014, "GoogLeNet", "Inception v1", 6.7, 22),
    IlsvrcResult(2015, "MSRA", "ResNet", 3.57, 152),
)
#: Top-5 error of a trained human annotator on 1,500 test images (Russakovsky et al. 2015).
HUMAN_TOP5_ERROR = 5.1


def plot_ilsvrc(ax=None, results: Sequence[IlsvrcResult] = ILSVRC_WINNERS, human: float = HUMAN_TOP5_ERROR):
    """Bar chart of top-5 error by entry, labelled with the depth, and the human error as a line."""
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.8))
    labels = [f"{r.year}\n{r.team}" for r in results]
    colors = ["0.6" if r.depth is None else "C0" for r in results]
    bars = ax.bar(range(len(results)), [r.top5_error for r in results], color=colors)
    for bar, r in zip(bars, results):
        text = "hand-built" if r.depth is None else f"{r.depth} layers"
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 0.5, f"{r.top5_error:g}%\n{text}",
                ha="center", va="bottom", fontsize=8)
    ax.axhline(human, color="C3", linestyle="--", label=f"human annotator ({human:g}%)")
    ax.set_xticks(range(len(results)), labels, fontsize=8)
    ax.set_ylabel("top-5 error on the test set (%)")
    ax.set_ylim(0, max(r.top5_error for r in results) * 1.3)
    ax.set_title("ILSVRC classification: winning entries 2010-2015")
    ax.legend(loc="upper right")
    return ax


def _box(ax, x, y, w, h, text, color):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02", fc=color, ec="black", lw=0.8))
    ax.text(x, y, text, ha="center", va="center", fontsize=8)


def draw_branches(ax, branches: Sequence[Sequence[tuple[str, str]]], *, top: str, bottom: str, title: str):
    """A module of parallel branches: ``branches[i]`` lists ``(label, color)`` boxes from input to
    output; all branches read ``top`` (the input) and meet in ``bottom``."""
    n = len(branches)
    depth = max(len(b) for b in branches)
    xs = [i - (n - 1) / 2 for i in range(n)]
    y_in, y_out = depth + 1, 0
    _box(ax, 0, y_in, 1.6, 0.5, top, "0.9")
    _box(ax, 0, y_out, 1.6, 0.5, bottom, "0.9")
    for x, branch in zip(xs, branches):
        ys = [y_in - (k + 1) * (y_in - y_out) / (len(branch) + 1) for k in range(len(branch))]
        points = [(0, y_in - 0.25)] + [(x, y) for y in ys] + [(0, y_out + 0.25)]
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            ax.annotate("", (x1, y1 + (0.22 if (x1, y1) != points[-1] else 0)), (x0, y0 - (0.22 if (x0, y0) != points[0] else 0)),
                        arrowprops={"arrowstyle": "->", "lw": 0.8})
        for y, (label, color) in zip(ys, branch):
            _box(ax, x, y, 0.9, 0.42, label, color)
    ax.set_xlim(min(xs) - 0.7, max(xs) + 0.7)
    ax.set_ylim(y_out - 0.6, y_in + 0.6)
    ax.set_title(title, fontsize=10)
    ax.axis("off")
    return ax


def draw_inception(ax, c1: int, c3r: int, c3: int, c5r: int, c5: int, pool_proj: int, *, in_channels: int,
                   title: str = "Inception module"):
    """The four branches of an Inception v1 module, with the channel counts of one row of the table."""
    red, conv, pool = "#cfe2f3", "#f9cb9c", "#d9ead3"
    branches = [[(f"1x1, {c1}", conv)], [(f"1x1, {c3r}", red), (f"3x3, {c3}", conv)],
                [(f"1x1, {c5r}", red), (f"5x5, {c5}", conv)], [("3x3 max pool", pool), (f"1x1, {pool_proj}", red)]]
    return draw_branches(ax, branches, top=f"input, {in_channels} channels",
                         bottom=f"concatenate: {c1 + c3 + c5 + pool_proj} channels", title=title)


def draw_residual_blocks(axes, *, basic_width: int = 64, bottleneck_width: int = 64):
    """Basic block (two 3x3) and bottleneck block (1x1, 3x3, 1x1) with their identity shortcut."""
    out = 4 * bottleneck_width
    specs = [
        (f"basic block ({basic_width} channels)", [f"3x3, {basic_width}", f"3x3, {basic_width}"], basic_width),
        (f"bottleneck block ({out} channels)", [f"1x1, {bottleneck_width}", f"3x3, {bottleneck_width}", f"1x1, {out}"], out),
    ]
    for ax, (title, layers, channels) in zip(axes, specs):
        n = len(layers)
        ys = [n - k for k in range(n)]
        _box(ax, 0, n + 1, 1.4, 0.45, f"x ({channels} ch.)", "0.9")
        for k, (y, label) in enumerate(zip(ys, layers)):
            _box(ax, 0, y, 1.4, 0.45, label + (", BN, ReLU" if k < n - 1 else ", BN"), "#f9cb9c")
            ax.annotate("", (0, y + 0.23), (0, y + 0.77), arrowprops={"arrowstyle": "->", "lw": 0.8})
        _box(ax, 0, 0, 1.4, 0.45, "add, then ReLU", "#d9ead3")
        ax.annotate("", (0, 0.23), (0, 0.77), arrowprops={"arrowstyle": "->", "lw": 0.8})
        ax.annotate("", (0.72, 0), (0.72, n + 1), arrowprops={"arrowstyle": "->", "lw": 1.2, "color": "C3",
                                                              "connectionstyle": "bar,fraction=-0.25"})
        ax.text(1.25, (n + 1) / 2, "identity\nshortcut", color="C3", fontsize=8, ha="left", va="center")
        ax.set_xlim(-1.2, 2.0)
        ax.set_ylim(-0.6, n + 1.6)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    return axes


def plot_degradation(results: dict, axes=None):
    """Training error per epoch of the plain and residual nets of ``degradation.json``."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True)
    for ax, kind in zip(axes, ("plain", "residual")):
        for i, run in enumerate(r for r in results["runs"] if r["kind"] == kind):
            epochs = range(1, len(run["train_error"]) + 1)
            ax.plot(epochs, [100 * e for e in run["train_error"]], color=f"C{i}", label=f"{run['depth']} layers")
        ax.set_title(f"{kind} networks")
        ax.set_xlabel("epoch")
        ax.legend()
    axes[0].set_ylabel("training error (%)")
    return axes
