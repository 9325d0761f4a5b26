"""The bridge from forward/backward pairs to ``torch.autograd``.

:func:`function_from_pair` wraps a CS231n-style pair once into a
``torch.autograd.Function``: the same code then trains real networks and is
checked by ``torch.autograd.gradcheck``.
"""
from __future__ import annotations

from typing import Callable

import torch

from . import functional as F

__all__ = ["function_from_pair", "affine", "relu", "Linear", "ReLU"]


def function_from_pair(forward: Callable, backward: Callable, name: str) -> type[torch.autograd.Function]:
    """Make a ``torch.autograd.Function`` from ``forward(*args) -> (out, cache)``
    and ``backward(dout, cache) -> grad or tuple of grads``.

    The backward must return one gradient per leading tensor argument; the
    remaining arguments (strides, flags, ...) get ``None``.
    """

    def fn_forward(ctx, *args):
        out, cache = forward(*args)
        ctx.cache = cache
        ctx.n_args = len(args)
        return out

    def fn_backward(ctx, dout):
        grads = backward(dout.contiguous(), ctx.cache)
        if not isinstance(grads, tuple):
            grads = (grads,)
        return grads + (None,) * (ctx.n_args - len(grads))

    return type(name, (torch.autograd.Function,), {
        "forward": staticmethod(fn_forward),
        "backward": staticmethod(fn_backward),
        "__doc__": f"autograd Function built from {forward.__name__} / {backward.__name__}.",
    })


AffineFunction = function_from_pair(F.affine_forward, F.affine_backward, "AffineFunction")
ReLUFunction = function_from_pair(F.relu_forward, F.relu_backward, "ReLUFunction")


def affine(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Differentiable fully connected layer: x (N, D), w (D, M), b (M,) -> (N, M)."""
    return AffineFunction.apply(x, w, b)


def relu(x: torch.Tensor) -> torch.Tensor:
    """Differentiable ReLU, any shape."""
    return ReLUFunction.apply(x)


class Linear(torch.nn.Module):
    """Fully connected module on :func:`affine`; weights (in_features, out_features).

    Initialised like ``torch.nn.Linear``: uniform in ``[-1/sqrt(in), 1/sqrt(in)]``.
    """

    def __init__(self, in_features: int, out_features: int, *, device=None, dtype=None):
        super().__init__()
        bound = in_features ** -0.5
        kw = {"device": device, "dtype": dtype}
        self.weight = torch.nn.Parameter(torch.empty(in_features, out_features, **kw).uniform_(-bound, bound))
        self.bias = torch.nn.Parameter(torch.empty(out_features, **kw).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return affine(x, self.weight, self.bias)


class ReLU(torch.nn.Module):
    """Module form of :func:`relu`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return relu(x)


# --------------------------------------------------------------------------- convolution

def _conv2d_pair_forward(x, w, b, stride, pad, dilation, groups):
    return F.conv2d_forward(x, w, b, stride=stride, pad=pad, dilation=dilation, groups=groups)


def _conv_transpose2d_pair_forward(x, w, b, stride, pad, output_padding, dilation, groups):
    return F.conv_transpose2d_forward(x, w, b, stride=stride, pad=pad, output_padding=output_padding,
                                      dilation=dilation, groups=groups)


Conv2dFunction = function_from_pair(_conv2d_pair_forward, F.conv2d_backward, "Conv2dFunction")
ConvTranspose2dFunction = function_from_pair(_conv_transpose2d_pair_forward, F.conv_transpose2d_backward,
                                             "ConvTranspose2dFunction")


def conv2d(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None, stride=1, pad=0, dilation=1,
           groups: int = 1) -> torch.Tensor:
    """Differentiable 2-D convolution on :func:`course_lib.functional.conv2d_forward`.

    x (N, C, H, W), w (F, C/groups, KH, KW), b (F,) or None -> (N, F, OH, OW);
    stride, pad, dilation: int or (height, width) pair.
    """
    return Conv2dFunction.apply(x, w, b, stride, pad, dilation, groups)


def conv_transpose2d(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None, stride=1, pad=0,
                     output_padding=0, dilation=1, groups: int = 1) -> torch.Tensor:
    """Differentiable transposed convolution on :func:`course_lib.functional.conv_transpose2d_forward`.

    x (N, C_in, H, W), w (C_in, C_out/groups, KH, KW), b (C_out,) or None -> (N, C_out, OH, OW).
    """
    return ConvTranspose2dFunction.apply(x, w, b, stride, pad, output_padding, dilation, groups)


def _kernel_pair(kernel_size) -> tuple[int, int]:
    return (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)


def _init_uniform(weight: torch.nn.Parameter, bias: torch.nn.Parameter | None, fan_in: int) -> None:
    # torch's default, kaiming_uniform_(a=sqrt(5)), reduces to U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    bound = fan_in ** -0.5 if fan_in > 0 else 0.0
    with torch.no_grad():
        weight.uniform_(-bound, bound)
        if bias is not None:
            bias.uniform_(-bound, bound)


class Conv2d(torch.nn.Module):
    """Convolution module on :func:`conv2d`, with torch's argument names and weight layout.

    ``weight``: (out_channels, in_channels/groups, KH, KW); ``bias``: (out_channels,) or None.
    Initialised like ``torch.nn.Conv2d``: weights and biases uniform in
    ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]``, ``fan_in = in_channels/groups * KH * KW``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, *, device=None, dtype=None):
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups={groups} must divide in_channels={in_channels} and out_channels={out_channels}")
        kh, kw = _kernel_pair(kernel_size)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, (kh, kw)
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        kw_ = {"device": device, "dtype": dtype}
        self.weight = torch.nn.Parameter(torch.empty(out_channels, in_channels // groups, kh, kw, **kw_))
        self.bias = torch.nn.Parameter(torch.empty(out_channels, **kw_)) if bias else None
        _init_uniform(self.weight, self.bias, in_channels // groups * kh * kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, groups={self.groups}, bias={self.bias is not None}")


class ConvTranspose2d(torch.nn.Module):
    """Transposed-convolution module on :func:`conv_transpose2d`, with torch's names and layout.

    ``weight``: (in_channels, out_channels/groups, KH, KW); ``bias``: (out_channels,) or None.
    Initialised like ``torch.nn.ConvTranspose2d``: uniform in ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]``
    where, as torch computes it from the weight's second dimension,
    ``fan_in = out_channels/groups * KH * KW``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, *, device=None, dtype=None):
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups={groups} must divide in_channels={in_channels} and out_channels={out_channels}")
        kh, kw = _kernel_pair(kernel_size)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, (kh, kw)
        self.stride, self.padding, self.output_padding = stride, padding, output_padding
        self.dilation, self.groups = dilation, groups
        kw_ = {"device": device, "dtype": dtype}
        self.weight = torch.nn.Parameter(torch.empty(in_channels, out_channels // groups, kh, kw, **kw_))
        self.bias = torch.nn.Parameter(torch.empty(out_channels, **kw_)) if bias else None
        _init_uniform(self.weight, self.bias, out_channels // groups * kh * kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                self.dilation, self.groups)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, output_padding={self.output_padding}, dilation={self.dilation}, "
                f"groups={self.groups}, bias={self.bias is not None}")


__all__ += ["Conv2dFunction", "ConvTranspose2dFunction", "conv2d", "conv_transpose2d", "Conv2d", "ConvTranspose2d"]


# --------------------------------------------------------------------------- Chapter 3: functional layers
# Function.apply takes positional arguments only, so each keyword-only forward
# gets a positional adapter; the backward is the library's own.

def _leaky_relu_pair_forward(x, negative_slope):
    return F.leaky_relu_forward(x, negative_slope=negative_slope)


def _max_pool2d_pair_forward(x, kernel_size, stride, padding):
    return F.max_pool2d_forward(x, kernel_size=kernel_size, stride=stride, padding=padding)


def _avg_pool2d_pair_forward(x, kernel_size, stride, padding, count_include_pad):
    return F.avg_pool2d_forward(x, kernel_size=kernel_size, stride=stride, padding=padding,
                                count_include_pad=count_include_pad)


def _lp_pool2d_pair_forward(x, kernel_size, stride, p):
    return F.lp_pool2d_forward(x, kernel_size=kernel_size, stride=stride, p=p)


def _maxout_pair_forward(x, group_size):
    return F.maxout_forward(x, group_size=group_size)


def _l2_pool_channels_pair_forward(x, group_size):
    return F.l2_pool_channels_forward(x, group_size=group_size)


def _batchnorm_pair_forward(x, gamma, beta, running_mean, running_var, training, momentum, eps):
    return F.batchnorm_forward(x, gamma, beta, running_mean=running_mean, running_var=running_var,
                               training=training, momentum=momentum, eps=eps)


def _layernorm_pair_forward(x, gamma, beta, eps):
    return F.layernorm_forward(x, gamma, beta, eps=eps)


def _lrn_pair_forward(x, size, alpha, beta, k, alpha_per_size):
    return F.local_response_norm_forward(x, size=size, alpha=alpha, beta=beta, k=k, alpha_per_size=alpha_per_size)


def _dropout_pair_forward(x, p_keep, training, generator):
    return F.dropout_forward(x, p_keep=p_keep, training=training, generator=generator)


def _upsample_pair_forward(x, scale_factor, mode):
    return F.upsample_forward(x, scale_factor=scale_factor, mode=mode)


LeakyReLUFunction = function_from_pair(_leaky_relu_pair_forward, F.leaky_relu_backward, "LeakyReLUFunction")
SigmoidFunction = function_from_pair(F.sigmoid_forward, F.sigmoid_backward, "SigmoidFunction")
TanhFunction = function_from_pair(F.tanh_forward, F.tanh_backward, "TanhFunction")
MaxPool2dFunction = function_from_pair(_max_pool2d_pair_forward, F.max_pool2d_backward, "MaxPool2dFunction")
AvgPool2dFunction = function_from_pair(_avg_pool2d_pair_forward, F.avg_pool2d_backward, "AvgPool2dFunction")
LpPool2dFunction = function_from_pair(_lp_pool2d_pair_forward, F.lp_pool2d_backward, "LpPool2dFunction")
MaxoutFunction = function_from_pair(_maxout_pair_forward, F.maxout_backward, "MaxoutFunction")
L2PoolChannelsFunction = function_from_pair(_l2_pool_channels_pair_forward, F.l2_pool_channels_backward,
                                            "L2PoolChannelsFunction")
BatchNormFunction = function_from_pair(_batchnorm_pair_forward, F.batchnorm_backward, "BatchNormFunction")
LayerNormFunction = function_from_pair(_layernorm_pair_forward, F.layernorm_backward, "LayerNormFunction")
LocalResponseNormFunction = function_from_pair(_lrn_pair_forward, F.local_response_norm_backward,
                                               "LocalResponseNormFunction")
DropoutFunction = function_from_pair(_dropout_pair_forward, F.dropout_backward, "DropoutFunction")
UpsampleFunction = function_from_pair(_upsample_pair_forward, F.upsample_backward, "UpsampleFunction")


def leaky_relu(x: torch.Tensor, negative_slope: float = 0.01) -> torch.Tensor:
    """Differentiable leaky ReLU, any shape."""
    return LeakyReLUFunction.apply(x, negative_slope)


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    """Differentiable logistic sigmoid, any shape."""
    return SigmoidFunction.apply(x)


def tanh(x: torch.Tensor) -> torch.Tensor:
    """Differentiable tanh, any shape."""
    return TanhFunction.apply(x)


def max_pool2d(x: torch.Tensor, kernel_size, stride=None, padding=0) -> torch.Tensor:
    """Differentiable max pooling: x (N, C, H, W) -> (N, C, H_out, W_out); stride defaults to the kernel.

    The gradient goes to the first maximum of each window (row-major order).
    """
    return MaxPool2dFunction.apply(x, kernel_size, stride, padding)


def avg_pool2d(x: torch.Tensor, kernel_size, stride=None, padding=0, count_include_pad: bool = True) -> torch.Tensor:
    """Differentiable average pooling: x (N, C, H, W) -> (N, C, H_out, W_out), torch's ``count_include_pad``."""
    return AvgPool2dFunction.apply(x, kernel_size, stride, padding, count_include_pad)


def lp_pool2d(x: torch.Tensor, kernel_size, stride=None, p: float = 2.0) -> torch.Tensor:
    """Differentiable Lp pooling ``(sum x^p)^(1/p)`` (L2 for p = 2), no padding: (N, C, H, W) -> (N, C, H_out, W_out)."""
    return LpPool2dFunction.apply(x, kernel_size, stride, p)


def maxout(x: torch.Tensor, group_size: int) -> torch.Tensor:
    """Differentiable maxout: max over groups of ``group_size`` channels, (N, C, *) -> (N, C // group_size, *)."""
    return MaxoutFunction.apply(x, group_size)


def l2_pool_channels(x: torch.Tensor, group_size: int) -> torch.Tensor:
    """Differentiable L2 pooling across channel groups, (N, C, *) -> (N, C // group_size, *)."""
    return L2PoolChannelsFunction.apply(x, group_size)


def batch_norm(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, running_mean: torch.Tensor | None = None,
               running_var: torch.Tensor | None = None, training: bool = True, momentum: float = 0.1,
               eps: float = 1e-5) -> torch.Tensor:
    """Differentiable batch norm (N, C, *) with per-channel ``gamma``, ``beta`` (C,).

    In training the running statistics, if given, are updated in place.
    """
    return BatchNormFunction.apply(x, gamma, beta, running_mean, running_var, training, momentum, eps)


def layer_norm(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Differentiable layer norm over the trailing ``gamma.shape`` dimensions of ``x``."""
    return LayerNormFunction.apply(x, gamma, beta, eps)


def local_response_norm(x: torch.Tensor, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0,
                        alpha_per_size: bool = True) -> torch.Tensor:
    """Differentiable LRN across channels of (N, C, *); ``alpha_per_size=True`` is torch's convention."""
    return LocalResponseNormFunction.apply(x, size, alpha, beta, k, alpha_per_size)


def dropout(x: torch.Tensor, p_keep: float = 0.5, training: bool = True,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """Differentiable inverted dropout (``p_keep`` = probability to keep), identity when not training."""
    return DropoutFunction.apply(x, p_keep, training, generator)


def upsample(x: torch.Tensor, scale_factor, mode: str = "nearest") -> torch.Tensor:
    """Differentiable upsampling of (N, C, H, W), ``"nearest"`` (integer factors) or ``"bilinear"``."""
    return UpsampleFunction.apply(x, scale_factor, mode)


class MaxPool2d(torch.nn.Module):
    """Module form of :func:`max_pool2d`; ``MaxPool2d(3, 2)`` is AlexNet's overlapping pooling."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return max_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(torch.nn.Module):
    """Module form of :func:`avg_pool2d`."""

    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad: bool = True):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.count_include_pad = count_include_pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.count_include_pad)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"count_include_pad={self.count_include_pad}")


class Maxout(torch.nn.Module):
    """Module form of :func:`maxout`: (N, G * group_size, *) -> (N, G, *)."""

    def __init__(self, group_size: int):
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return maxout(x, self.group_size)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}"


class BatchNorm(torch.nn.Module):
    """Batch normalization on :func:`batch_norm` for (N, C) features or (N, C, H, W) images.

    Learned ``weight`` (gamma, ones) and ``bias`` (beta, zeros) of shape (C,);
    buffers ``running_mean`` (zeros) and ``running_var`` (ones), updated in
    training mode and used in evaluation mode (``module.eval()``), saved in
    the ``state_dict``.
    """

    def __init__(self, num_features: int, *, momentum: float = 0.1, eps: float = 1e-5, device=None, dtype=None):
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.num_features, self.momentum, self.eps = num_features, momentum, eps
        self.weight = torch.nn.Parameter(torch.ones(num_features, **kw))
        self.bias = torch.nn.Parameter(torch.zeros(num_features, **kw))
        self.register_buffer("running_mean", torch.zeros(num_features, **kw))
        self.register_buffer("running_var", torch.ones(num_features, **kw))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return batch_norm(x, self.weight, self.bias, self.running_mean, self.running_var, self.training,
                          self.momentum, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_features}, momentum={self.momentum}, eps={self.eps}"


class LocalResponseNorm(torch.nn.Module):
    """Module form of :func:`local_response_norm`; defaults are AlexNet's (n=5, alpha=1e-4, beta=0.75, k=2)."""

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0,
                 alpha_per_size: bool = True):
        super().__init__()
        self.size, self.alpha, self.beta, self.k, self.alpha_per_size = size, alpha, beta, k, alpha_per_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return local_response_norm(x, self.size, self.alpha, self.beta, self.k, self.alpha_per_size)

    def extra_repr(self) -> str:
        return (f"size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}, "
                f"alpha_per_size={self.alpha_per_size}")


class Dropout(torch.nn.Module):
    """Module form of :func:`dropout`: drops in training mode, identity after ``module.eval()``.

    ``p_keep`` is the probability to keep a unit (torch's ``nn.Dropout(p)`` takes ``p = 1 - p_keep``).
    An optional ``generator`` (on the device of the inputs) makes the masks reproducible.
    """

    def __init__(self, p_keep: float = 0.5, *, generator: torch.Generator | None = None):
        super().__init__()
        if not 0.0 < p_keep <= 1.0:
            raise ValueError(f"p_keep (the probability to keep a unit) must lie in (0, 1], got {p_keep!r}")
        self.p_keep, self.generator = p_keep, generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p_keep, self.training, self.generator)

    def extra_repr(self) -> str:
        return f"p_keep={self.p_keep}"


class Upsample(torch.nn.Module):
    """Module form of :func:`upsample`."""

    def __init__(self, scale_factor, mode: str = "nearest"):
        super().__init__()
        self.scale_factor, self.mode = scale_factor, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upsample(x, self.scale_factor, self.mode)

    def extra_repr(self) -> str:
        return f"scale_factor={self.scale_factor}, mode={self.mode!r}"


__all__ += [
    "LeakyReLUFunction", "SigmoidFunction", "TanhFunction", "MaxPool2dFunction", "AvgPool2dFunction",
    "LpPool2dFunction", "MaxoutFunction", "L2PoolChannelsFunction", "BatchNormFunction", "LayerNormFunction",
    "LocalResponseNormFunction", "DropoutFunction", "UpsampleFunction",
    "leaky_relu", "sigmoid", "tanh", "max_pool2d", "avg_pool2d", "lp_pool2d", "maxout", "l2_pool_channels",
    "batch_norm", "layer_norm", "local_response_norm", "dropout", "upsample",
    "MaxPool2d", "AvgPool2d", "Maxout", "BatchNorm", "LocalResponseNorm", "Dropout", "Upsample",
]
