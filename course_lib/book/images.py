"""Photographs and panels of pictures for the book's pages.

* :func:`grey_photo`: one of scikit-image's sample photographs (they ship with the
  package: nothing is downloaded) as a grey image with values in [0, 1].
* :func:`show_matrices`: small matrices side by side, every value written in its cell.
* :func:`show_images`: images in a grid, each with its title and pixel axes.

The figures are drawn with ``pyplot`` so that a notebook shows them (the pages
call ``plt.show()``); matplotlib and scikit-image are imported only when used.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

__all__ = ["PHOTOS", "grey_photo", "show_matrices", "show_images"]

#: The colour or grey photographs of ``skimage.data`` that :func:`grey_photo` accepts.
PHOTOS = ("astronaut", "camera", "chelsea", "coffee", "moon", "page", "rocket")


def grey_photo(name: str, factor: int = 1) -> torch.Tensor:
    """A scikit-image photograph as a float64 grey image in [0, 1], shrunk by ``factor``.

    Colour photographs become grey by luminance (``skimage.color.rgb2gray``); grey
    ones are divided by 255.  Shrinking averages ``factor x factor`` blocks; the
    rows and columns left over at the bottom and right (fewer than ``factor``) are
    dropped, so every pixel is the mean of real pixels.

    Args:
        name: one of :data:`PHOTOS`.
        factor: block size of the shrinking, a positive integer (1 keeps the size).
    Returns:
        (H // factor, W // factor) float64 tensor on the CPU.
    """
    if name not in PHOTOS:
        raise ValueError(f"unknown photograph {name!r}; choose one of {list(PHOTOS)}")
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
        raise ValueError(f"factor must be a positive integer, got {factor!r}")
    from skimage import data
    from skimage.color import rgb2gray
    from skimage.transform import downscale_local_mean

    image = getattr(data, name)()
    grey = rgb2gray(image) if image.ndim == 3 else image.astype(np.float64) / 255.0
    height, width = (grey.shape[0] // factor) * factor, (grey.shape[1] // factor) * factor
    if height == 0 or width == 0:
        raise ValueError(f"factor {factor} is larger than the photograph {name!r} of shape {grey.shape}")
    return torch.from_numpy(downscale_local_mean(grey[:height, :width], (factor, factor)))


def _panel_sizes(panels: Sequence, what: str) -> list[tuple[int, int]]:
    if not panels:
        raise ValueError(f"{what} needs at least one (picture, title) panel")
    shapes = []
    for number, panel in enumerate(panels):
        shape = np.shape(panel[0])
        if len(shape) < 2:
            raise ValueError(f"{what}: panel {number} ({panel[1]!r}) must be 2-d (H, W), got shape {shape}")
        shapes.append(shape[:2])
    return shapes


def show_matrices(panels, title: str, height: float = 2.8, fmt: str = "{:g}", fontsize: float = 9):
    """Draw (matrix, title) pairs side by side with their values written in.

    Cells are square.  The tallest matrix fills the figure's height and each panel
    gets a width in proportion to its columns, so that no matrix is squeezed; the
    colours are those of :func:`course_lib.book.animations.draw_matrix` (red
    positive, blue negative, white zero).

    Args:
        panels: (matrix, title) pairs; a matrix is an (H, W) tensor or array.
        title: the figure's title.
        height: figure height in inches; the tallest matrix fills it.
        fmt: format of the numbers, e.g. ``"{:.2f}"``.
        fontsize: size of the numbers.
    Returns:
        The matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    from .animations import draw_matrix

    shapes = _panel_sizes(panels, "show_matrices")
    cell = (height - 1.1) / max(rows for rows, _ in shapes)          # inches per cell
    widths = [columns * cell + 0.9 for _, columns in shapes]
    fig, axes = plt.subplots(1, len(panels), figsize=(sum(widths), height),
                             gridspec_kw={"width_ratios": widths})
    for ax, (matrix, name) in zip(np.atleast_1d(axes), panels):
        draw_matrix(ax, matrix, title=name, fmt=fmt, fontsize=fontsize)
        ax.set_xlabel("column")
        ax.set_ylabel("row")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_images(panels, title: str, width: float = 3.2, cmap: str = "gray", columns: int | None = None):
    """Draw (image, title) or (image, title, imshow options) panels in a grid.

    Without options each image gets its own grey scale, from its minimum to its maximum.

    Args:
        panels: (image, title[, options]) tuples; an image is (H, W) or (H, W, 3).
        title: the figure's title.
        width: inches per panel.
        cmap: colour map of single-channel images.
        columns: panels per row (all in one row by default).
    Returns:
        The matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    _panel_sizes(panels, "show_images")
    columns = columns or len(panels)
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, width * rows + 0.4), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_axis_off()
    for ax, (image, name, *options) in zip(axes.flat, panels):
        ax.imshow(np.asarray(image), **{"cmap": cmap, **(options[0] if options else {})})
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("column (pixel)")
        ax.set_ylabel("row (pixel)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
