"""Modules on the functional forms of :mod:`course_lib.nn.functional`.

Layers without parameters are generated from :data:`~course_lib.nn.pairs.PAIRS`: the
Module ``<Title>`` takes the functional form's options as constructor arguments (with
the same defaults), stores them as attributes and passes them on in ``forward``; an
option called ``training`` follows the module's mode (``module.eval()``).

Layers with parameters are written out below, with torch's parameter and buffer
names and shapes (``Linear.weight`` is ``(out_features, in_features)`` as in
``torch.nn.Linear``), so a network built from these modules loads the
``state_dict`` of the same network built from ``torch.nn``.
"""
from __future__ import annotations

import inspect

import torch

from .._checks import pair
from . import functional as nnf
from .pairs import PAIRS, PairSpec, pair_spec

__all__ = ["PairModule", "Linear", "Conv2d", "ConvTranspose2d", "BatchNorm", "BatchNorm1d", "BatchNorm2d",
           "LayerNorm"]


class PairModule(torch.nn.Module):
    """A Module that calls one functional form of :mod:`course_lib.nn.functional`.

    ``forward(x)`` (any shape the layer accepts) passes ``x``, the tensors named in
    :attr:`parameter_names` and the options in :attr:`option_names`, each read from the
    attribute of that name.
    """

    spec: PairSpec
    parameter_names: tuple[str, ...] = ()
    option_names: tuple[str, ...] = ()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the layer to ``x`` (the shape its functional form takes)."""
        fn = getattr(nnf, self.spec.name)
        options = {name: self.training if name == "training" else getattr(self, name) for name in self.option_names}
        return fn(x, *(getattr(self, name) for name in self.parameter_names), **options)

    def extra_repr(self) -> str:
        return ", ".join(f"{name}={getattr(self, name)!r}" for name in self.option_names if name != "training")


def _stateless_module(spec: PairSpec) -> type[PairModule]:
    """``class <Title>(PairModule)`` whose constructor takes the options of ``spec``."""
    params = [p for p in nnf._signature(spec).parameters.values() if p.name in spec.options and p.name != "training"]
    signature = inspect.Signature([inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD), *params])

    def __init__(self, *args, **kwargs):
        torch.nn.Module.__init__(self)
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        for name in self.option_names:
            if name != "training":
                setattr(self, name, bound.arguments[name])

    __init__.__signature__ = signature
    return type(spec.title, (PairModule,), {
        "__init__": __init__, "spec": spec, "option_names": spec.options, "__module__": __name__,
        "__doc__": f"Module form of :func:`course_lib.nn.{spec.name}`; constructor arguments: its options "
                   f"({', '.join(p.name for p in params) or 'none'}).",
    })


_GENERATED = {spec.title: _stateless_module(spec) for spec in PAIRS if spec.module}


class Dropout(_GENERATED["Dropout"]):
    """Module form of :func:`course_lib.nn.dropout`: x (any shape) -> same shape, dropped in training mode,
    the identity after ``module.eval()``.

    ``p_keep`` is the probability to keep a unit (torch's ``nn.Dropout(p)`` has ``p = 1 - p_keep``),
    checked when the module is built; an optional ``generator`` (on the device of the inputs) makes
    the masks reproducible.
    """

    def __init__(self, p_keep: float = 0.5, *, generator: torch.Generator | None = None):
        if isinstance(p_keep, bool) or not isinstance(p_keep, (int, float)) or not 0.0 < p_keep <= 1.0:
            raise ValueError(f"p_keep (the probability to keep a unit) must lie in (0, 1], got {p_keep!r}")
        super().__init__(p_keep, generator=generator)


globals().update({title: cls for title, cls in _GENERATED.items() if title not in globals()})
__all__ += list(_GENERATED)


def _init_uniform(weight: torch.nn.Parameter, bias: torch.nn.Parameter | None, fan_in: int) -> None:
    # torch's default, kaiming_uniform_(a=sqrt(5)), reduces to U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    bound = fan_in ** -0.5 if fan_in > 0 else 0.0
    with torch.no_grad():
        weight.uniform_(-bound, bound)
        if bias is not None:
            bias.uniform_(-bound, bound)


class Linear(PairModule):
    """Fully connected module on :func:`course_lib.nn.affine`: x (N, in_features) -> (N, out_features).

    ``weight``: (out_features, in_features) and ``bias``: (out_features,), as in ``torch.nn.Linear``
    (the functional ``affine`` takes ``w = weight.T``, (in_features, out_features)).  Initialised
    like torch: uniform in ``[-1/sqrt(in_features), 1/sqrt(in_features)]``.
    """

    spec = pair_spec("affine")

    def __init__(self, in_features: int, out_features: int, *, device=None, dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        kw = {"device": device, "dtype": dtype}
        self.weight = torch.nn.Parameter(torch.empty(out_features, in_features, **kw))
        self.bias = torch.nn.Parameter(torch.empty(out_features, **kw))
        _init_uniform(self.weight, self.bias, in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, in_features) -> (N, out_features)."""
        return nnf.affine(x, self.weight.T, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


class Conv2d(PairModule):
    """Convolution module on :func:`course_lib.nn.conv2d`, with torch's argument names and weight layout.

    ``weight``: (out_channels, in_channels/groups, KH, KW); ``bias``: (out_channels,) or None.
    Initialised like ``torch.nn.Conv2d``: weights and biases uniform in
    ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]``, ``fan_in = in_channels/groups * KH * KW``.
    """

    spec = pair_spec("conv2d")
    parameter_names = ("weight", "bias")
    option_names = ("stride", "padding", "dilation", "groups")

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, *, device=None, dtype=None):
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups={groups} must divide in_channels={in_channels} and out_channels={out_channels}")
        kh, kw = pair("kernel_size", kernel_size, 1)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, (kh, kw)
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        kw_ = {"device": device, "dtype": dtype}
        self.weight = torch.nn.Parameter(torch.empty(self._weight_shape(), **kw_))
        self.bias = torch.nn.Parameter(torch.empty(out_channels, **kw_)) if bias else None
        _init_uniform(self.weight, self.bias, self.weight[0].numel())

    def _weight_shape(self) -> tuple[int, ...]:
        return (self.out_channels, self.in_channels // self.groups, *self.kernel_size)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, {super().extra_repr()}, "
                f"bias={self.bias is not None}")


class ConvTranspose2d(Conv2d):
    """Transposed-convolution module on :func:`course_lib.nn.conv_transpose2d`, with torch's names and layout.

    ``weight``: (in_channels, out_channels/groups, KH, KW); ``bias``: (out_channels,) or None.
    Initialised like ``torch.nn.ConvTranspose2d``: uniform in ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]``
    where, as torch computes it from the weight's second dimension,
    ``fan_in = out_channels/groups * KH * KW``.
    """

    spec = pair_spec("conv_transpose2d")
    option_names = ("stride", "padding", "output_padding", "dilation", "groups")

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, *, device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         device=device, dtype=dtype)
        self.output_padding = output_padding

    def _weight_shape(self) -> tuple[int, ...]:
        return (self.in_channels, self.out_channels // self.groups, *self.kernel_size)


class BatchNorm(PairModule):
    """Batch normalization on :func:`course_lib.nn.batch_norm` for x (N, C) or (N, C, *) features.

    Learned ``weight`` (gamma, ones) and ``bias`` (beta, zeros) of shape (C,); buffers
    ``running_mean`` (zeros), ``running_var`` (ones) and ``num_batches_tracked`` (a count),
    as in ``torch.nn.BatchNorm2d``: the running statistics are updated in training mode and
    used in evaluation mode (``module.eval()``), and all of them are in the ``state_dict``.
    """

    spec = pair_spec("batch_norm")
    parameter_names = ("weight", "bias")
    option_names = ("running_mean", "running_var", "training", "momentum", "eps")
    input_dims: tuple[int, ...] = ()

    def __init__(self, num_features: int, *, momentum: float = 0.1, eps: float = 1e-5, device=None, dtype=None):
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.num_features, self.momentum, self.eps = num_features, momentum, eps
        self.weight = torch.nn.Parameter(torch.ones(num_features, **kw))
        self.bias = torch.nn.Parameter(torch.zeros(num_features, **kw))
        self.register_buffer("running_mean", torch.zeros(num_features, **kw))
        self.register_buffer("running_var", torch.ones(num_features, **kw))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, C, *) -> same shape, normalised per channel."""
        if self.input_dims and x.dim() not in self.input_dims:
            raise ValueError(f"{type(self).__name__} expects a {' or '.join(map(str, self.input_dims))}-d input, "
                             f"got shape {tuple(x.shape)}")
        if self.training:
            self.num_batches_tracked += 1
        return super().forward(x)

    def extra_repr(self) -> str:
        return f"{self.num_features}, momentum={self.momentum}, eps={self.eps}"


class BatchNorm1d(BatchNorm):
    """:class:`BatchNorm` for x (N, C) or (N, C, L), like ``torch.nn.BatchNorm1d``."""

    input_dims = (2, 3)


class BatchNorm2d(BatchNorm):
    """:class:`BatchNorm` for images x (N, C, H, W), like ``torch.nn.BatchNorm2d``."""

    input_dims = (4,)


class LayerNorm(PairModule):
    """Layer normalization on :func:`course_lib.nn.layer_norm` over the trailing ``normalized_shape``
    dimensions of x (N, *, *normalized_shape), like ``torch.nn.LayerNorm``: ``weight`` (ones) and
    ``bias`` (zeros) of shape ``normalized_shape``.
    """

    spec = pair_spec("layer_norm")
    parameter_names = ("weight", "bias")
    option_names = ("eps",)

    def __init__(self, normalized_shape, eps: float = 1e-5, *, device=None, dtype=None):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape, self.eps = shape, eps
        kw = {"device": device, "dtype": dtype}
        self.weight = torch.nn.Parameter(torch.ones(shape, **kw))
        self.bias = torch.nn.Parameter(torch.zeros(shape, **kw))

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"


