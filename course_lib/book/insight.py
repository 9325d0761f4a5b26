"""Chapter 6's figures: what a network has learned, move probabilities on a Go board, detection boxes.

Every function draws the numbers that :mod:`course_lib.visualize`, :mod:`course_lib.go` or
:mod:`course_lib.detection` computed; none computes anything a test should check.  Each returns
the matplotlib Figure (or Axes) it drew, with a title and labelled axes.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from ..visualize import hinton_data

__all__ = ["plot_image_grid", "plot_hinton", "plot_board", "plot_boxes"]


def _as_image(t: torch.Tensor) -> np.ndarray:
    """(C, H, W) or (H, W) tensor -> array imshow understands (H, W) or (H, W, 3)."""
    a = t.detach().cpu().float().numpy()
    if a.ndim == 3:
        a = a[0] if a.shape[0] == 1 else np.transpose(a, (1, 2, 0))
    return a


def plot_image_grid(images: Sequence[torch.Tensor] | torch.Tensor, *, title: str, labels: Sequence[str] | None = None,
                    columns: int = 8, cmap: str = "gray", vmin: float | None = None, vmax: float | None = None,
                    cell: float = 1.1, colorbar_label: str | None = None):
    """A grid of images ``(C, H, W)`` / ``(H, W)``, one per cell, each with an optional label.

    Pixel axes are hidden (each panel is an image); ``colorbar_label`` adds a shared colour bar
    for single-channel images, naming the unit shown.
    """
    import matplotlib.pyplot as plt

    images = list(images)
    rows = math.ceil(len(images) / columns)
    cols = min(columns, len(images))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * cell + (0.8 if colorbar_label else 0.2), rows * cell + 0.6),
                             squeeze=False)
    shown = None
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= len(images):
            ax.axis("off")
            continue
        shown = ax.imshow(_as_image(images[i]), cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        if labels is not None:
            ax.set_title(labels[i], fontsize=8)
    fig.suptitle(title)
    if colorbar_label and shown is not None:
        fig.colorbar(shown, ax=axes.ravel().tolist(), shrink=0.8, label=colorbar_label)
    else:
        fig.tight_layout()
    return fig


def plot_hinton(weights: torch.Tensor, *, title: str, xlabel: str, ylabel: str, ax=None):
    """Hinton diagram of a matrix ``(R, C)``: a white square for a positive weight, black for a
    negative one, area proportional to the magnitude, on a grey background."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    data = hinton_data(torch.as_tensor(weights))
    side, positive = data.side.cpu().numpy(), data.positive.cpu().numpy()
    if ax is None:
        _, ax = plt.subplots(figsize=(0.32 * side.shape[1] + 1.4, 0.32 * side.shape[0] + 1.0))
    ax.set_facecolor("0.5")
    for (r, c), s in np.ndenumerate(side):
        if s > 0:
            ax.add_patch(Rectangle((c - s / 2, r - s / 2), s, s, facecolor="white" if positive[r, c] else "black",
                                   edgecolor="none"))
    ax.set_xlim(-0.5, side.shape[1] - 0.5)
    ax.set_ylim(side.shape[0] - 0.5, -0.5)
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax


def plot_board(stones: np.ndarray, probabilities: torch.Tensor, *, title: str, ax=None):
    """A Go board: move probabilities ``(S*S,)`` or ``(S, S)`` as a heat map under the stones
    (black and white discs).  Columns are lettered A-T without I, rows numbered from the bottom."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle

    size = stones.shape[0]
    probs = probabilities.detach().cpu().double().reshape(size, size).numpy()
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 5.6))
    heat = ax.imshow(probs, cmap="viridis", extent=(-0.5, size - 0.5, size - 0.5, -0.5))
    plt.colorbar(heat, ax=ax, label="move probability")
    for (r, c), s in np.ndenumerate(stones):
        if s:
            ax.add_patch(Circle((c, r), 0.42, facecolor="black" if s > 0 else "white", edgecolor="black"))
    letters = [ch for ch in "ABCDEFGHJKLMNOPQRST"][:size]
    ax.set_xticks(range(size), letters)
    ax.set_yticks(range(size), [str(size - r) for r in range(size)])
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    ax.set_title(title)
    return ax


def plot_boxes(image: torch.Tensor, boxes: torch.Tensor, *, title: str, labels: Sequence[str] | None = None,
               colours: Sequence[str] | None = None, ax=None):
    """Boxes ``(K, 4)`` xyxy drawn on an image ``(C, H, W)``; axes in pixels."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4))
    ax.imshow(_as_image(image), cmap="gray")
    for i, (x1, y1, x2, y2) in enumerate(boxes.detach().cpu().tolist()):
        colour = colours[i] if colours is not None else "yellow"
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=colour, linewidth=1.5))
        if labels is not None:
            ax.text(x1, y1 - 2, labels[i], color=colour, fontsize=8, va="bottom")
    ax.set_xlabel("x (pixels)")
    ax.set_ylabel("y (pixels)")
    ax.set_title(title)
    return ax
