"""THE table of forward/backward pairs that :mod:`course_lib.nn` turns into autograd Functions,
functional wrappers and Modules, and that the tests turn into parity and gradcheck tests.

One :class:`PairSpec` per layer.  Adding a pair here adds, with no other change:

* ``course_lib.nn.<Title>Function``, a ``torch.autograd.Function`` (:mod:`.functional`);
* ``course_lib.nn.<name>(...)``, its differentiable functional form, whose signature is
  the forward's with every option positional-or-keyword (:mod:`.functional`);
* ``course_lib.nn.<Title>``, a Module, unless the layer has parameters (those
  Modules are written out in :mod:`.modules`, with torch's parameter shapes);
* a comparison with torch (``reference``) and a float64 ``torch.autograd.gradcheck``
  on ``example`` in ``tests/test_nn.py``.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import torch
import torch.nn.functional as TF

from .. import functional as F

__all__ = ["PairSpec", "PAIRS", "pair_spec"]


class PairSpec(NamedTuple):
    """One layer of the table.

    ``name``: the functional name (``"conv2d"``); ``title``: the CamelCase stem of the
    Function and Module names (``"Conv2d"``); ``forward``/``backward``: the library pair;
    ``tensors``: the forward's leading tensor arguments that get a gradient (the backward
    returns one gradient per name, in this order); ``options``: the forward's other
    arguments, in order (passed positionally to ``Function.apply``); ``defaults``: defaults
    of the functional form where the forward has none; ``module``: generate a stateless
    Module; ``reference``: the same computation with torch's own ops, called with the
    functional form's arguments; ``example``: shapes of the tensors (``"positive"`` in
    ``positive`` asks for strictly positive values) and option values for the tests.
    """

    name: str
    title: str
    forward: Callable
    backward: Callable
    tensors: tuple[str, ...]
    options: tuple[str, ...]
    reference: Callable
    example: dict[str, Any]
    defaults: dict[str, Any] = {}
    module: bool = True
    positive: bool = False


def _maxout_reference(x, group_size):
    n, c = x.shape[:2]
    return x.reshape(n, c // group_size, group_size, *x.shape[2:]).amax(dim=2)


def _l2_pool_channels_reference(x, group_size):
    n, c = x.shape[:2]
    return x.pow(2).reshape(n, c // group_size, group_size, *x.shape[2:]).sum(dim=2).sqrt()


def _batch_norm_reference(x, gamma, beta, running_mean=None, running_var=None, training=True, momentum=0.1,
                          eps=1e-5):
    return TF.batch_norm(x, running_mean, running_var, gamma, beta, training, momentum, eps)


def _lrn_reference(x, size=5, alpha=1e-4, beta=0.75, k=2.0, alpha_per_size=True):
    return TF.local_response_norm(x, size, alpha if alpha_per_size else alpha * size, beta, k)


def _upsample_reference(x, scale_factor, mode="nearest"):
    return TF.interpolate(x, scale_factor=scale_factor, mode=mode, **({"align_corners": False}
                                                                      if mode == "bilinear" else {}))


def _dropout_reference(x, p_keep=0.5, training=True, generator=None):
    # the same mask as the library: a Bernoulli draw from the same generator state
    if not training:
        return x
    mask = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) < p_keep
    return x * mask / p_keep


def _text_padding(padding, width):
    return {"narrow": 0, "wide": width - 1}.get(padding, padding)


def _text_conv1d_reference(x, w, b=None, padding="narrow"):
    out = TF.conv1d(x.transpose(1, 2), w.transpose(1, 2), b, padding=_text_padding(padding, w.shape[1]))
    return out.transpose(1, 2)


def _rowwise_conv1d_reference(x, w, b=None, padding="wide"):
    # each (map f, row d) pair is one output channel of a grouped conv1d with D groups
    n, length, c, d = x.shape
    f, _, width, _ = w.shape
    channels_first = x.permute(0, 3, 2, 1).reshape(n, d * c, length)               # (N, D*C, L)
    kernels = w.permute(3, 0, 1, 2).reshape(d * f, c, width)                        # (D*F, C, width)
    out = TF.conv1d(channels_first, kernels, None if b is None else b.T.reshape(-1),
                    padding=_text_padding(padding, width), groups=d)                # (N, D*F, L_out)
    return out.reshape(n, d, f, -1).permute(0, 3, 2, 1)


def _kmax_pool1d_reference(x, k):
    keep = x.topk(k, dim=1).indices.sort(dim=1).values
    return x.gather(1, keep)


def _fold_reference(x):
    return x[..., 0::2] + x[..., 1::2]


PAIRS: tuple[PairSpec, ...] = (
    PairSpec("affine", "Affine", F.affine_forward, F.affine_backward, ("x", "w", "b"), (),
             lambda x, w, b: TF.linear(x.flatten(1), w.T, b),
             {"x": (3, 2, 2), "w": (4, 5), "b": (5,)}, module=False),
    PairSpec("relu", "ReLU", F.relu_forward, F.relu_backward, ("x",), (), TF.relu, {"x": (2, 3, 4)}),
    PairSpec("leaky_relu", "LeakyReLU", F.leaky_relu_forward, F.leaky_relu_backward, ("x",), ("negative_slope",),
             TF.leaky_relu, {"x": (2, 3, 4), "negative_slope": 0.3}),
    PairSpec("sigmoid", "Sigmoid", F.sigmoid_forward, F.sigmoid_backward, ("x",), (), torch.sigmoid,
             {"x": (2, 3, 4)}),
    PairSpec("tanh", "Tanh", F.tanh_forward, F.tanh_backward, ("x",), (), torch.tanh, {"x": (2, 3, 4)}),
    PairSpec("conv2d", "Conv2d", F.conv2d_forward, F.conv2d_backward, ("x", "w", "b"),
             ("stride", "padding", "dilation", "groups"), TF.conv2d,
             {"x": (2, 4, 7, 6), "w": (6, 2, 3, 2), "b": (6,), "stride": (2, 1), "padding": (1, 0),
              "dilation": (1, 2), "groups": 2}, module=False),
    PairSpec("conv_transpose2d", "ConvTranspose2d", F.conv_transpose2d_forward, F.conv_transpose2d_backward,
             ("x", "w", "b"), ("stride", "padding", "output_padding", "dilation", "groups"),
             lambda x, w, b, stride, padding, output_padding, dilation, groups: TF.conv_transpose2d(
                 x, w, b, stride, padding, output_padding, groups, dilation),
             {"x": (2, 4, 4, 3), "w": (4, 3, 3, 2), "b": (6,), "stride": (2, 3), "padding": (1, 0),
              "output_padding": (1, 0), "dilation": (1, 2), "groups": 2}, module=False),
    PairSpec("max_pool2d", "MaxPool2d", F.max_pool2d_forward, F.max_pool2d_backward, ("x",),
             ("kernel_size", "stride", "padding"), TF.max_pool2d,
             {"x": (2, 3, 7, 6), "kernel_size": 3, "stride": 2, "padding": 1}),
    PairSpec("avg_pool2d", "AvgPool2d", F.avg_pool2d_forward, F.avg_pool2d_backward, ("x",),
             ("kernel_size", "stride", "padding", "count_include_pad"), TF.avg_pool2d,
             {"x": (2, 3, 7, 6), "kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False}),
    PairSpec("lp_pool2d", "LpPool2d", F.lp_pool2d_forward, F.lp_pool2d_backward, ("x",),
             ("kernel_size", "stride", "p"),
             lambda x, kernel_size, stride=None, p=2.0: TF.lp_pool2d(x, p, kernel_size, stride),
             {"x": (2, 3, 6, 5), "kernel_size": 2, "stride": 1, "p": 2.0}, positive=True),
    PairSpec("maxout", "Maxout", F.maxout_forward, F.maxout_backward, ("x",), ("group_size",), _maxout_reference,
             {"x": (2, 6, 3, 3), "group_size": 2}),
    PairSpec("l2_pool_channels", "L2PoolChannels", F.l2_pool_channels_forward, F.l2_pool_channels_backward, ("x",),
             ("group_size",), _l2_pool_channels_reference, {"x": (2, 6, 3, 3), "group_size": 3}, positive=True),
    PairSpec("batch_norm", "BatchNorm", F.batchnorm_forward, F.batchnorm_backward, ("x", "gamma", "beta"),
             ("running_mean", "running_var", "training", "momentum", "eps"), _batch_norm_reference,
             {"x": (4, 3, 2, 2), "gamma": (3,), "beta": (3,)},
             defaults={"running_mean": None, "running_var": None, "training": True}, module=False),
    PairSpec("layer_norm", "LayerNorm", F.layernorm_forward, F.layernorm_backward, ("x", "gamma", "beta"), ("eps",),
             lambda x, gamma, beta, eps=1e-5: TF.layer_norm(x, gamma.shape, gamma, beta, eps),
             {"x": (3, 4, 5), "gamma": (4, 5), "beta": (4, 5)}, module=False),
    PairSpec("local_response_norm", "LocalResponseNorm", F.local_response_norm_forward,
             F.local_response_norm_backward, ("x",), ("size", "alpha", "beta", "k", "alpha_per_size"),
             _lrn_reference, {"x": (2, 6, 3, 3), "size": 3, "alpha": 0.5, "beta": 0.75, "k": 1.0}),
    PairSpec("dropout", "Dropout", F.dropout_forward, F.dropout_backward, ("x",), ("p_keep", "training", "generator"),
             _dropout_reference, {"x": (4, 5), "p_keep": 0.6}),
    PairSpec("upsample", "Upsample", F.upsample_forward, F.upsample_backward, ("x",), ("scale_factor", "mode"),
             _upsample_reference, {"x": (2, 3, 3, 4), "scale_factor": 2, "mode": "bilinear"}),
    # Chapter 5: sentences (N, L, E) with time on axis 1
    PairSpec("text_conv1d", "TextConv1d", F.text_conv1d_forward, F.text_conv1d_backward, ("x", "w", "b"), ("padding",),
             _text_conv1d_reference, {"x": (2, 6, 4), "w": (3, 3, 4), "b": (3,), "padding": "wide"}, module=False),
    PairSpec("rowwise_conv1d", "RowwiseConv1d", F.rowwise_conv1d_forward, F.rowwise_conv1d_backward,
             ("x", "w", "b"), ("padding",), _rowwise_conv1d_reference,
             {"x": (2, 5, 2, 4), "w": (3, 2, 3, 4), "b": (3, 4), "padding": "wide"}, module=False),
    PairSpec("max_over_time", "MaxOverTime", F.max_over_time_forward, F.max_over_time_backward, ("x",), ("mask",),
             lambda x, mask=None: x.amax(dim=1), {"x": (3, 5, 4)}, defaults={"mask": None}),
    PairSpec("kmax_pool1d", "KMaxPool1d", F.kmax_pool1d_forward, F.kmax_pool1d_backward, ("x",), ("k",),
             _kmax_pool1d_reference, {"x": (2, 7, 3), "k": 3}),
    PairSpec("fold", "Fold", F.fold_forward, F.fold_backward, ("x",), (), _fold_reference, {"x": (2, 5, 3, 6)}),
)


def pair_spec(name: str) -> PairSpec:
    """The table's entry called ``name`` (``"conv2d"``); KeyError listing the names otherwise."""
    for spec in PAIRS:
        if spec.name == name:
            return spec
    raise KeyError(f"no pair {name!r} in course_lib.nn.pairs.PAIRS; known: {[s.name for s in PAIRS]}")
