"""Offline data sets of the course; nothing here ever downloads.

Submodules, imported on first use (``import course_lib.data`` stays light):

* :mod:`course_lib.data.images`: scikit-learn's digits as image tensors, and MNIST / CIFAR-10
  from a local folder when present (Chapter 4);
* :mod:`course_lib.data.text`: sentence corpora (Chapter 5).
"""
from __future__ import annotations

import importlib

__all__ = ["images", "text"]


def __getattr__(name: str):
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
