"""A small convolutional network for 8x8 digits, written with the forward/backward pairs of this package.

The network of Assignment 3's last part (the reference that its hidden tests compare with)::

    x (N, 1, 8, 8) -> conv 3x3, padding 1, F filters, no bias -> batch norm -> ReLU
      -> 2x2 max pooling, stride 2 -> inverted dropout -> fully connected (F * 4 * 4 -> 10) -> softmax loss

The convolution has no bias: the batch norm right after it subtracts each channel's mean,
so a bias would have a zero gradient (``beta`` does its job).  Parameters are a dict
``{"W1": (F, 1, 3, 3), "gamma": (F,), "beta": (F,), "W2": (F * 16, 10), "b2": (10,)}``; the
batch norm's running estimates and settings live in a separate dict ``bn_state``
(``running_mean``, ``running_var``: (F,), ``momentum``, ``eps``), since they are not learned
by gradient descent.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from .conv import conv2d_backward, conv2d_forward
from .dropout import dropout_backward, dropout_forward
from .linear import affine_backward, affine_forward, relu_backward, relu_forward, softmax_loss
from .normalization import batchnorm_backward, batchnorm_forward
from .pooling import max_pool2d_backward, max_pool2d_forward

__all__ = [
    "SMALL_CONVNET_PARAMS",
    "init_small_convnet",
    "pool_forward",
    "pool_backward",
    "bn_forward",
    "bn_backward",
    "drop_forward",
    "drop_backward",
    "small_convnet_layers",
    "small_convnet_loss",
    "train_small_convnet",
    "small_convnet_accuracy",
]

#: The names of the learned parameters, in the order of the layers.
SMALL_CONVNET_PARAMS = ("W1", "gamma", "beta", "W2", "b2")


def init_small_convnet(filters: int = 8, *, image_size: int = 8, num_classes: int = 10, seed: int = 0,
                       dtype: torch.dtype = torch.float32, device: torch.device | str | None = None,
                       weight_scale: float = 1e-2) -> tuple[dict[str, torch.Tensor], dict]:
    """Random parameters and a fresh batch-norm state for the small convnet.

    ``W1`` is drawn with He's scale ``sqrt(2 / 9)``; ``W2`` with the small scale ``weight_scale``,
    so that the first scores are close to 0 and the first loss close to ``log(num_classes)``.

    Args:
        filters: number of convolution filters ``F``.
        image_size: side of the (square, even) input images in pixels.
        num_classes: number of classes.
        seed: seed of a private ``torch.Generator`` (same seed, same parameters).
        dtype, device: of every tensor.
        weight_scale: standard deviation of ``W2``.
    Returns:
        ``(params, bn_state)``: params ``W1`` (F, 1, 3, 3), ``gamma`` (F,) ones, ``beta`` (F,) zeros,
        ``W2`` (F * (image_size // 2) ** 2, num_classes), ``b2`` (num_classes,) zeros; bn_state
        ``running_mean`` zeros (F,), ``running_var`` ones (F,), ``momentum`` 0.1, ``eps`` 1e-5.
    """
    for name, value in (("filters", filters), ("image_size", image_size), ("num_classes", num_classes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if image_size % 2:
        raise ValueError(f"image_size must be even (2x2 pooling with stride 2), got {image_size}")
    if not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point dtype, got {dtype}")
    gen = torch.Generator().manual_seed(seed)
    features = filters * (image_size // 2) ** 2
    params = {
        "W1": torch.randn(filters, 1, 3, 3, generator=gen, dtype=torch.float64) * math.sqrt(2 / 9),
        "gamma": torch.ones(filters, dtype=torch.float64),
        "beta": torch.zeros(filters, dtype=torch.float64),
        "W2": torch.randn(features, num_classes, generator=gen, dtype=torch.float64) * weight_scale,
        "b2": torch.zeros(num_classes, dtype=torch.float64),
    }
    params = {name: p.to(device=device, dtype=dtype) for name, p in params.items()}
    bn_state = {"running_mean": torch.zeros(filters, dtype=dtype, device=device),
                "running_var": torch.ones(filters, dtype=dtype, device=device), "momentum": 0.1, "eps": 1e-5}
    return params, bn_state


def _check_params(params: dict, bn_state: dict, x: torch.Tensor) -> None:
    missing = [name for name in SMALL_CONVNET_PARAMS if name not in params]
    if missing:
        raise KeyError(f"params is missing {missing}; it needs {list(SMALL_CONVNET_PARAMS)}")
    missing = [name for name in ("running_mean", "running_var", "momentum", "eps") if name not in bn_state]
    if missing:
        raise KeyError(f"bn_state is missing {missing}")
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 1:
        raise ValueError(f"x must be a (N, 1, H, W) tensor of grey images, got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")


# The layers that Assignment 3's network takes from the student, behind one small interface (the
# assignment's setup cell wraps the student's functions the same way); the reference is course_lib's.

def pool_forward(x: torch.Tensor):
    """2x2 max pooling with stride 2. x: (N, C, H, W) -> out (N, C, H // 2, W // 2), cache."""
    return max_pool2d_forward(x, kernel_size=2, stride=2)


def pool_backward(dout: torch.Tensor, cache):
    """dout: (N, C, H // 2, W // 2) -> dx: (N, C, H, W)."""
    return max_pool2d_backward(dout, cache)


def bn_forward(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, bn_state: dict, training: bool):
    """Batch norm with the running estimates and settings of ``bn_state`` (updated in training).
    x: (N, C, H, W); gamma, beta: (C,). Returns out (shape of x), cache."""
    return batchnorm_forward(x, gamma, beta, running_mean=bn_state["running_mean"],
                             running_var=bn_state["running_var"], training=training,
                             momentum=bn_state["momentum"], eps=bn_state["eps"])


def bn_backward(dout: torch.Tensor, cache):
    """dout: shape of x -> (dx, dgamma, dbeta)."""
    return batchnorm_backward(dout, cache)


def drop_forward(x: torch.Tensor, p_keep: float, training: bool, generator: torch.Generator | None):
    """Inverted dropout keeping each unit with probability ``p_keep``. Returns out (shape of x), cache."""
    return dropout_forward(x, p_keep=p_keep, training=training, generator=generator)


def drop_backward(dout: torch.Tensor, cache):
    """dout: shape of x -> dx."""
    return dropout_backward(dout, cache)


def small_convnet_layers() -> dict[str, Callable]:
    """The six layer functions above by name: ``pool_forward``, ``pool_backward``, ``bn_forward``,
    ``bn_backward``, ``drop_forward``, ``drop_backward``."""
    return {f.__name__: f for f in (pool_forward, pool_backward, bn_forward, bn_backward, drop_forward,
                                    drop_backward)}


def small_convnet_loss(params: dict[str, torch.Tensor], bn_state: dict, x: torch.Tensor,
                       y: torch.Tensor | None = None, *, training: bool, p_keep: float = 0.75,
                       generator: torch.Generator | None = None):
    """Scores, or loss and gradients, of the small convnet.

    Args:
        params: ``W1`` (F, 1, 3, 3), ``gamma``, ``beta`` (F,), ``W2`` (F * H * W // 4, 10), ``b2`` (10,)
            (see :func:`init_small_convnet`).
        bn_state: the batch norm's running estimates, updated in place in training.
        x: (N, 1, H, W) images.
        y: (N,) integer labels in ``[0, 10)``, or None to return the scores only.
        training: True uses the batch statistics and drops units; False the running
            estimates and no dropout.
        p_keep: dropout's probability of keeping a unit.
        generator: for dropout's mask (None: torch's global generator).
    Returns:
        ``scores`` (N, 10) when ``y`` is None; else ``(loss, grads)``: the mean cross-entropy
        (0-d tensor, nats) and a dict of gradients with the keys and shapes of ``params``.
    """
    _check_params(params, bn_state, x)
    h1, c_conv = conv2d_forward(x, params["W1"], None, padding=1)
    h2, c_bn = bn_forward(h1, params["gamma"], params["beta"], bn_state, training)
    h3, c_relu = relu_forward(h2)
    h4, c_pool = pool_forward(h3)
    h5, c_drop = drop_forward(h4, p_keep, training, generator)
    scores, c_fc = affine_forward(h5, params["W2"], params["b2"])
    if y is None:
        return scores
    loss, d_scores = softmax_loss(scores, y)
    d5, dW2, db2 = affine_backward(d_scores, c_fc)
    d3 = pool_backward(drop_backward(d5, c_drop), c_pool)
    d1, dgamma, dbeta = bn_backward(relu_backward(d3, c_relu), c_bn)
    dW1 = conv2d_backward(d1, c_conv)[1]
    return loss, {"W1": dW1, "gamma": dgamma, "beta": dbeta, "W2": dW2, "b2": db2}


def train_small_convnet(params: dict[str, torch.Tensor], bn_state: dict, x: torch.Tensor, y: torch.Tensor, *,
                        epochs: int, batch_size: int = 50, learning_rate: float = 0.05, momentum: float = 0.9,
                        p_keep: float = 0.75, seed: int = 0) -> list[float]:
    """Train the small convnet in place with mini-batch SGD with momentum.

    Every epoch visits the examples in a new random order (a ``torch.Generator`` seeded with
    ``seed`` on the CPU, which also draws the dropout masks on x's device when that is the CPU);
    the last batch may be smaller.  Update, per parameter ``p`` with velocity ``v`` (starting at 0)::

        v = momentum * v - learning_rate * dp
        p += v

    Args:
        params: ``W1`` (F, 1, 3, 3), ``gamma``, ``beta`` (F,), ``W2`` (F * H * W // 4, 10), ``b2`` (10,)
            from :func:`init_small_convnet`, updated in place; bn_state likewise.
        x: (N, 1, H, W) images; y: (N,) labels.
        epochs, batch_size: positive ints.
        learning_rate, momentum, p_keep: the settings above.
        seed: seed of the order of the examples and of the dropout masks.
    Returns:
        The loss of every batch, in order (floats, nats).
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if y.shape[:1] != x.shape[:1]:
        raise ValueError(f"x has {x.shape[0]} images but y has shape {tuple(y.shape)}")
    order_gen = torch.Generator().manual_seed(seed)
    mask_gen = torch.Generator(device=x.device).manual_seed(seed + 1)
    velocity = {name: torch.zeros_like(p) for name, p in params.items()}
    losses: list[float] = []
    n = x.shape[0]
    for _ in range(epochs):
        order = torch.randperm(n, generator=order_gen).to(x.device)
        for start in range(0, n, batch_size):
            batch = order[start:start + batch_size]
            loss, grads = small_convnet_loss(params, bn_state, x[batch], y[batch], training=True, p_keep=p_keep,
                                             generator=mask_gen)
            for name, p in params.items():
                velocity[name].mul_(momentum).sub_(learning_rate * grads[name])
                p.add_(velocity[name])
            losses.append(float(loss))
    return losses


def small_convnet_accuracy(params: dict[str, torch.Tensor], bn_state: dict, x: torch.Tensor,
                           y: torch.Tensor) -> float:
    """Share of the images ``x`` (N, 1, H, W) whose largest score (evaluation mode) is the label ``y`` (N,).

    ``params``: ``W1`` (F, 1, 3, 3), ``gamma``, ``beta`` (F,), ``W2`` (F * H * W // 4, 10), ``b2`` (10,).
    """
    scores = small_convnet_loss(params, bn_state, x, training=False)
    return float((scores.argmax(dim=1) == y.to(scores.device)).double().mean())
