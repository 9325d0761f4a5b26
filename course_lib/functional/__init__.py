"""Tensor layers as explicit forward/backward pairs.

Each layer ``name`` has ``name_forward(...) -> (out, cache)`` and
``name_backward(dout, cache) -> gradients``; the cache is a NamedTuple that
says what it stores.  Everything runs on the device of its inputs.
"""
from .linear import (
    AffineCache,
    affine_backward,
    affine_forward,
    relu_backward,
    relu_forward,
    softmax_loss,
    two_layer_net_loss,
)

__all__ = [
    "AffineCache",
    "affine_forward",
    "affine_backward",
    "relu_forward",
    "relu_backward",
    "softmax_loss",
    "two_layer_net_loss",
]
