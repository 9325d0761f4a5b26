"""course_lib: the reference library of the convolutional-networks course.

Importing it has no side effects and is light: the submodules below are imported on
first use (``course_lib.nn`` imports ``course_lib/nn/`` when it is touched, PEP 562), so
``import course_lib`` alone does not import torch.  Modules, in dependency order:

* :mod:`course_lib.device`: picking CPU or CUDA once.
* :mod:`course_lib.gates`: local gradients of elementary gates.
* :mod:`course_lib.autodiff`: a scalar computational graph with backpropagation.
* :mod:`course_lib.gradcheck`: numerical gradient checking.
* :mod:`course_lib.filters`: convolution of one image with one kernel, classic kernels.
* :mod:`course_lib.shapes`: output sizes, receptive fields, parameter and multiply-add counts.
* :mod:`course_lib.functional`: tensor layers as forward/backward pairs.
* :mod:`course_lib.nn`: the pairs as ``torch.autograd.Function`` s, functions and Modules, from one table.
* :mod:`course_lib.chain_rule`: Chapter 1's worked examples (the reference of its exercise).
* :mod:`course_lib.data`: offline data sets (digits; MNIST/CIFAR-10 when present locally; a sentence corpus).
* :mod:`course_lib.models`: the networks of the course behind one registry (``get_model``).
* :mod:`course_lib.train`: a seeded training loop, accuracy and confusion matrices.
* :mod:`course_lib.summary`: per-layer shapes, parameters, multiply-adds and receptive fields.
* :mod:`course_lib.go`: a Go board and the policy network's input planes (Chapter 6).
* :mod:`course_lib.visualize`: what a trained network computes: filters, feature maps, occlusion, saliency.
* :mod:`course_lib.generate`: deep dream and neural style transfer.
* :mod:`course_lib.detection`: IoU, non-maximum suppression, anchors.
* :mod:`course_lib.grading`: support for the hidden tests.

The book's presentation helpers (tables, figures, animations, explorers, chapter
demos) are in :mod:`course_lib.book`, which the library itself never imports.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: names re-exported from a submodule: name -> submodule
_NAMES = {"Value": "autodiff", "vmax": "autodiff", "get_device": "device", "available_devices": "device"}

__all__ = ["Value", "vmax", "get_device", "available_devices"]


def __getattr__(name: str):
    """Import ``course_lib.<name>`` (or the submodule defining ``name``) on first use."""
    if name in _NAMES:
        value = getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
        globals()[name] = value
        return value
    from importlib.util import find_spec  # here, not at the top: `import course_lib` stays about a millisecond

    if not name.startswith("_") and find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f"{__name__}.{name}")   # every submodule, present and future
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    import pkgutil

    submodules = (info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_"))
    return sorted({*globals(), *submodules, *_NAMES})
