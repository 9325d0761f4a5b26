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
* :mod:`course_lib.data`: offline data sets (digits; MNIST/CIFAR-10 when present locally).
* :mod:`course_lib.models`: the networks of the course behind one registry (``get_model``).
* :mod:`course_lib.train`: a seeded training loop, accuracy and confusion matrices.
* :mod:`course_lib.summary`: per-layer shapes, parameters, multiply-adds and receptive fields.
* :mod:`course_lib.chain_rule`: Chapter 1's worked examples.
* :mod:`course_lib.plots`: shared figures.
* :mod:`course_lib.animations`: animations and annotated matrices for the book (matplotlib, imported lazily).
* :mod:`course_lib.layer_demos`: measurements and figures of Chapter 3 (activations, pooling shifts, dropout ensembles).
* :mod:`course_lib.widgets`: ipywidgets explorers with a static gallery for the book (imported lazily).
* :mod:`course_lib.grading`: support for the hidden tests.
"""
from .autodiff import Value, vmax
from .device import available_devices, get_device

__version__ = "0.1.0"
__all__ = ["Value", "vmax", "get_device", "available_devices"]
