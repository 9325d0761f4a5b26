"""course_lib.book: presentation helpers for the textbook's pages, and for them only.

The library computes; this package shows.  Its modules turn what the library
computes into tables, figures, animations and interactive explorers, and hold the
small experiments the chapters run to make a point.  The book's pages import
from here instead of defining helpers in their code cells.  Nothing in the
rest of ``course_lib`` (nor the assignments or the grader) imports this package,
so a change here cannot change a reference result or a grade.

Submodules (loaded on first use: ``import course_lib.book`` imports neither
matplotlib nor IPython nor scikit-image):

* :mod:`~course_lib.book.tables`: Markdown tables (``show_table``) and the table of
  a computational graph (``graph_table``).
* :mod:`~course_lib.book.images`: scikit-image's sample photographs in grey
  (``grey_photo``), panels of matrices and of images (``show_matrices``,
  ``show_images``).
* :mod:`~course_lib.book.plots`: figures of computational graphs and of gradient
  sizes through depth.
* :mod:`~course_lib.book.animations`: matrices with their values written in, and
  the sliding-kernel animation of a convolution.
* :mod:`~course_lib.book.widgets`: ipywidgets explorers with a static gallery.
* :mod:`~course_lib.book.depth`: gradient norms layer by layer (Chapters 1 and 3).
* :mod:`~course_lib.book.layer_demos`: the measurements of Chapter 3 (activations,
  pooling and shifts, normalization sets, dropout's thinned networks).
* :mod:`~course_lib.book.networks`: Chapter 4's figures (Inception and residual blocks
  drawn by code, ILSVRC results, training curves).
* :mod:`~course_lib.book.text`: Chapter 5's figures (n-gram windows, filter phrases,
  k-max and folding steps).
* :mod:`~course_lib.book.insight`: Chapter 6's figures (filter grids, Hinton diagrams,
  move probabilities on a Go board, boxes on an image).
* :mod:`~course_lib.book.schematics`: schematic figures drawn by code (a filter through
  the input's depth, a convolution's backward reach, a layered graph, im2col's columns,
  a residual block).
"""
from __future__ import annotations

import importlib

__all__ = ["animations", "depth", "images", "insight", "layer_demos", "networks", "plots", "schematics", "tables",
           "text", "widgets"]


def __getattr__(name: str):
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
