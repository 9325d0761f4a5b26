"""Tensor layers as explicit forward/backward pairs.

Each layer ``name`` has ``name_forward(...) -> (out, cache)`` and
``name_backward(dout, cache) -> gradients``; the cache is a NamedTuple that
says what it stores.  Everything runs on the device of its inputs.

One module per idea, in the order of the course:

* :mod:`.linear`: fully connected layer, ReLU, softmax loss (Chapter 1);
* :mod:`.conv`: convolution and transposed convolution, im2col (Chapter 2);
* :mod:`.activations`, :mod:`.pooling`, :mod:`.normalization`,
  :mod:`.dropout`, :mod:`.merge`: the functional layers of Chapter 3;
* :mod:`.small_convnet`: a small convnet for 8x8 digits made of these pairs (Chapter 3's
  last exercise);
* :mod:`.text`: convolution, max-over-time and k-max pooling, folding over
  sentences (Chapter 5).

Every name a module lists in its ``__all__`` is available here too, e.g.
``course_lib.functional.conv2d_forward``.
"""
from . import activations, conv, dropout, linear, merge, normalization, pooling, small_convnet, text

_MODULES = (linear, conv, activations, pooling, normalization, dropout, merge, small_convnet, text)

__all__ = list(dict.fromkeys(name for module in _MODULES for name in module.__all__))
globals().update({name: getattr(module, name) for module in _MODULES for name in module.__all__})
