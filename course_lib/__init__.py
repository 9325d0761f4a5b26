"""course_lib: the reference library of the convolutional-networks course.

Importing it has no side effects.  Modules, in dependency order:

* :mod:`course_lib.device`: picking CPU or CUDA once.
* :mod:`course_lib.gates`: local gradients of elementary gates.
* :mod:`course_lib.autodiff`: a scalar computational graph with backpropagation.
* :mod:`course_lib.gradcheck`: numerical gradient checking.
* :mod:`course_lib.filters`: convolution of one image with one kernel, classic kernels.
* :mod:`course_lib.shapes`: output sizes, receptive fields, parameter and multiply-add counts.
* :mod:`course_lib.functional`: tensor layers as forward/backward pairs.
* :mod:`course_lib.autograd`: the pairs as ``torch.autograd.Function`` s and modules.
* :mod:`course_lib.chain_rule`: Chapter 1's worked examples (the reference of its exercise).
* :mod:`course_lib.grading`: support for the hidden tests.

The book's presentation helpers (tables, figures, animations, explorers, chapter
demos) are in :mod:`course_lib.book`, which the library itself never imports.
"""
from .autodiff import Value, vmax
from .device import available_devices, get_device

__version__ = "0.1.0"
__all__ = ["Value", "vmax", "get_device", "available_devices"]
