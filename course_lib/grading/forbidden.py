"""What an exercise forbids a student's code to call, named by topic.

A hidden test passes ``forbidden=forbidden("autograd", "pooling")`` to
:func:`~course_lib.grading.guard.call_student`; :data:`TOPICS` lists every
topic.  ``"course_lib"`` is the whole reference library, discovered from the
package (:func:`course_lib_functions`); the others are the torch (and numpy)
operations that do one kind of exercise, under every name torch gives them.
The older names (``pooling_ops()``, ``autograd_entry_points()``, ...) remain as
aliases of one topic each, because the notebooks call them.
"""
from __future__ import annotations

import functools
import importlib
import inspect
import sys
from typing import Any, Callable, Sequence

import numpy as np
import torch

from .guard import _python_code

__all__ = [
    "TOPICS",
    "forbidden",
    "course_lib_functions",
    "reference_modules",
    "module_functions",
    "public_functions",
    "autograd_entry_points",
    "convolution_ops",
    "padding_ops",
    "sliding_window_ops",
    "pooling_ops",
    "normalization_ops",
    "dropout_ops",
    "concat_ops",
]


def _autograd() -> tuple[Callable, ...]:
    """The ways to let torch differentiate for the student, in reverse and in forward mode.

    ``torch.autograd.grad`` and ``torch.autograd.backward`` (which
    ``Tensor.backward`` calls); ``torch.func``'s transforms (``grad``,
    ``grad_and_value``, ``vjp``, ``jvp``, ``jacrev``, ``jacfwd``, ``hessian``,
    ``linearize``); the public functions of ``torch.autograd.functional``
    (``jacobian``, ``hessian``, ``vjp``, ``jvp``, ``hvp``, ``vhp``) and of
    ``torch.autograd.forward_ad`` (``make_dual``, ``unpack_dual`` and the dual
    levels that ``with dual_level():`` enters).  All are Python functions, so
    :func:`~course_lib.grading.guard.forbid_calls` recognises them however
    they are reached, and names the first one the student's code called.
    """
    import torch.autograd.forward_ad
    import torch.autograd.functional
    import torch.func

    transforms = _existing((torch.func, ("grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd", "hessian",
                                         "linearize")))
    return tuple(dict.fromkeys([torch.autograd.grad, torch.autograd.backward, torch.Tensor.backward, *transforms,
                                *public_functions(torch.autograd.functional, torch.autograd.forward_ad)]))


def _convolution() -> tuple[Callable, ...]:
    """Torch (and numpy) operations that compute a convolution or its im2col / col2im, for ``forbidden=``.

    ``torch.nn.functional.conv1d/2d/3d`` (which are ``torch.conv1d/2d/3d``,
    and which ``torch.nn.Conv2d`` and friends call), the transposed
    convolutions, ``torch.convolution`` and the private and backend-specific
    entry points under it, its backward (which ``torch.nn.grad.conv2d_input``
    and ``conv2d_weight`` call), ``torch.nn.functional.unfold``/``fold`` and the
    ``im2col``/``col2im`` operations under them, and
    ``numpy.convolve``/``correlate``; ``scipy.signal``'s and
    ``scipy.ndimage``'s convolutions too when scipy has been imported (it is
    not a course requirement).  Any alias counts: see :func:`torch_op_name`.
    """
    nnf = torch.nn.functional
    ops: list[Callable] = [nnf.conv1d, nnf.conv2d, nnf.conv3d, nnf.conv_transpose1d, nnf.conv_transpose2d,
                           nnf.conv_transpose3d, torch.convolution, nnf.unfold, nnf.fold, np.convolve, np.correlate]
    # Lower-level entry points; some are private or backend-specific, so only those this torch has.
    for owner, names in ((torch, ("_convolution", "_convolution_mode", "conv_tbc", "cudnn_convolution",
                                  "cudnn_convolution_transpose", "miopen_convolution", "mkldnn_convolution")),
                         (torch._C._nn, ("im2col", "col2im")),
                         (torch.ops.aten, ("convolution_backward",))):
        for name in names:
            op = getattr(owner, name, None)
            if op is not None:
                ops.append(op)
    for module_name, names in (("scipy.signal", ("convolve", "correlate", "convolve2d", "correlate2d",
                                                 "fftconvolve", "oaconvolve")),
                               ("scipy.ndimage", ("convolve", "correlate"))):
        module = sys.modules.get(module_name)
        ops += [getattr(module, name) for name in names if module is not None and hasattr(module, name)]
    return tuple(ops)


def _padding() -> tuple[Callable, ...]:
    """Operations that zero-pad a tensor in one call, for ``forbidden=`` in a padding exercise.

    ``torch.nn.functional.pad`` (which ``torch.nn.ZeroPad2d`` and friends call),
    the ``constant_pad_nd`` operation under it, and ``numpy.pad``.
    """
    return (torch.nn.functional.pad, torch._C._nn.pad, torch.constant_pad_nd, np.pad)


def _sliding_windows() -> tuple[Callable, ...]:
    """Operations that return every window of a tensor at once, for ``forbidden=`` in an im2col exercise.

    ``Tensor.unfold``, ``torch.as_strided`` / ``Tensor.as_strided``,
    ``torch.nn.functional.unfold``, and numpy's ``sliding_window_view`` and
    ``as_strided``.  (Views are recognised only where the student's code
    calls them, never inside torch's own indexing.)
    """
    tricks = np.lib.stride_tricks
    return (torch.Tensor.unfold, torch.as_strided, torch.Tensor.as_strided, torch.nn.functional.unfold,
            tricks.sliding_window_view, tricks.as_strided)


def _shown_as(func: Callable, name: str) -> Callable:
    """A stand-in for the Python function ``func`` that :func:`forbid_calls` names ``name``.

    It is recognised by ``func``'s code object (through ``__wrapped__``), so
    calling ``func`` is what gets caught; only the message changes.  For
    torch's ``F.max_pool2d``: the object under that name is a dispatcher whose
    code all the ``boolean_dispatch`` functions share (``max_pool1d``,
    ``adaptive_max_pool2d``, ...), and the work is done by the private
    ``F._max_pool2d``, which a student never wrote and should not read about.
    """
    @functools.wraps(func)
    def stand_in(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    module, _, qualname = name.rpartition(".")
    stand_in.__module__, stand_in.__qualname__, stand_in.__name__ = module, qualname, qualname
    return stand_in


def _existing(*places: tuple[Any, Sequence[str]]) -> list[Callable]:
    """The attributes ``names`` of each ``owner`` that this torch has (private and backend ones vary)."""
    return [getattr(owner, name) for owner, names in places for name in names if hasattr(owner, name)]


def _pooling() -> tuple[Callable, ...]:
    """Torch operations that pool (or un-pool) windows, forward or backward, for ``forbidden=``.

    Max pooling in 1, 2 and 3 dimensions under every name:
    ``torch.nn.functional.max_pool2d`` (which ``torch.nn.MaxPool2d`` calls,
    named so in messages), ``max_pool2d_with_indices``, ``torch.max_pool2d``,
    the adaptive and fractional variants, ``max_unpool2d`` (which routes
    gradients to the arg-max: max pooling's backward); average pooling
    (``F.avg_pool2d``, which is ``torch._C._nn.avg_pool2d``, adaptive
    versions); ``F.lp_pool2d``; and the backward operations
    ``torch.ops.aten.max_pool2d_with_indices_backward`` / ``avg_pool2d_backward``.
    Average pooling is also a convolution with a constant kernel: an exercise
    adds the ``convolution`` topic for that.
    """
    nnf = torch.nn.functional
    ops: list[Callable] = []
    for public in ("max_pool1d", "max_pool2d", "max_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d",
                   "adaptive_max_pool3d", "fractional_max_pool2d", "fractional_max_pool3d"):
        private = getattr(nnf, "_" + public, None)  # what the boolean_dispatch under the public name calls
        if private is not None and _python_code(private) is not None:
            ops.append(_shown_as(private, f"torch.nn.functional.{public}"))
    ops += _existing(
        (nnf, ("max_pool1d_with_indices", "max_pool2d_with_indices", "max_pool3d_with_indices",
               "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d_with_indices",
               "adaptive_max_pool3d_with_indices", "fractional_max_pool2d_with_indices",
               "fractional_max_pool3d_with_indices", "max_unpool1d", "max_unpool2d", "max_unpool3d",
               "avg_pool1d", "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
               "adaptive_avg_pool3d", "lp_pool1d", "lp_pool2d", "lp_pool3d")),
        (torch, ("max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_with_indices", "avg_pool1d",
                 "adaptive_avg_pool1d", "adaptive_max_pool1d", "mkldnn_max_pool2d", "quantized_max_pool2d")),
        (torch._C._nn, ("max_pool2d_with_indices", "max_pool3d_with_indices", "avg_pool2d", "avg_pool3d",
                        "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool2d", "adaptive_max_pool3d",
                        "fractional_max_pool2d", "fractional_max_pool3d", "max_unpool2d", "max_unpool3d")),
        (torch.ops.aten, ("max_pool2d_with_indices_backward", "max_pool2d_backward", "avg_pool2d_backward",
                          "adaptive_max_pool2d_backward", "_adaptive_avg_pool2d_backward")),
    )
    return tuple(dict.fromkeys(ops))


def _normalization() -> tuple[Callable, ...]:
    """Torch operations that normalise activations, forward or backward, for ``forbidden=`` in a batch norm exercise.

    ``torch.nn.functional.batch_norm`` (which ``torch.nn.BatchNorm1d/2d/3d``
    call), ``torch.batch_norm`` and the native, cuDNN, MIOpen and statistics
    kernels under it, their backward operations, and the other
    normalisations that compute a batch norm after a transpose:
    ``instance_norm``, ``layer_norm``, ``group_norm`` and ``rms_norm``.
    Plain reductions (``mean``, ``var``, ``var_mean``) stay allowed.
    """
    nnf = torch.nn.functional
    ops = _existing(
        (nnf, ("batch_norm", "instance_norm", "layer_norm", "group_norm", "rms_norm")),
        (torch, ("batch_norm", "native_batch_norm", "_native_batch_norm_legit",
                 "_native_batch_norm_legit_no_training", "_batch_norm_impl_index", "cudnn_batch_norm",
                 "miopen_batch_norm", "batch_norm_elemt", "batch_norm_stats", "batch_norm_gather_stats",
                 "batch_norm_gather_stats_with_counts", "batch_norm_update_stats", "batch_norm_backward_elemt",
                 "batch_norm_backward_reduce", "instance_norm", "layer_norm", "native_layer_norm", "group_norm",
                 "native_group_norm", "rms_norm", "_fused_rms_norm")),
        (torch.ops.aten, ("native_batch_norm_backward", "batch_norm_backward", "cudnn_batch_norm_backward",
                          "miopen_batch_norm_backward", "native_layer_norm_backward", "native_group_norm_backward")),
    )
    return tuple(dict.fromkeys(ops))


def _dropout() -> tuple[Callable, ...]:
    """Torch operations that apply dropout, for ``forbidden=`` in a dropout exercise.

    ``torch.nn.functional.dropout`` (which ``torch.nn.Dropout`` calls; note it
    takes the probability to *drop*), ``dropout1d/2d/3d``, the alpha dropouts,
    and the operations under them (``torch.dropout``, ``torch.native_dropout``
    and its backward, ``torch.feature_dropout``, ...).  Drawing random numbers
    (``torch.rand``, ``torch.bernoulli``) stays allowed.
    """
    nnf = torch.nn.functional
    ops = _existing(
        (nnf, ("dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout")),
        (torch, ("dropout", "dropout_", "native_dropout", "feature_dropout", "feature_dropout_", "alpha_dropout",
                 "alpha_dropout_", "feature_alpha_dropout", "feature_alpha_dropout_")),
        (torch.ops.aten, ("native_dropout_backward",)),
    )
    return tuple(dict.fromkeys(ops))


def _concatenation() -> tuple[Callable, ...]:
    """Operations that join tensors in one call, for ``forbidden=`` in a concatenation exercise.

    ``torch.cat`` (also ``torch.concat``, ``torch.concatenate`` and
    ``torch.ops.aten.cat``), ``torch.stack`` and its relatives ``hstack``,
    ``vstack``, ``dstack``, ``column_stack``, ``row_stack``, and numpy's
    ``stack``, ``hstack``, ``vstack``, ``dstack``, ``column_stack``, ``block``
    and ``append``.  (``numpy.concatenate`` itself is compiled code that
    neither hook sees; it is reached from torch tensors only through a copy to
    the CPU.)
    """
    ops = _existing(
        (torch, ("cat", "concat", "concatenate", "stack", "_stack", "hstack", "vstack", "dstack", "column_stack",
                 "row_stack")),
    )
    ops += [func for func in _existing((np, ("stack", "hstack", "vstack", "dstack", "column_stack", "block",
                                             "append")))
            if _python_code(func) is not None]
    return tuple(dict.fromkeys(ops))


def module_functions(*modules: Any) -> tuple[Callable, ...]:
    """Every function defined in ``modules``, private ones and methods of their classes included.

    For forbidding a whole reference module: ``public_functions`` lists only
    its ``__all__``, but a helper such as ``course_lib.functional.conv._pad``
    would do an exercise as well.  Functions imported into a module from
    elsewhere, and code that Python generates (a NamedTuple's ``__new__``),
    are left out, so constructing a course_lib NamedTuple is allowed.
    """
    found: dict[Any, Callable] = {}

    def add(obj: Any, filename: str) -> None:
        if isinstance(obj, (staticmethod, classmethod)):
            obj = obj.__func__
        if isinstance(obj, property):
            for accessor in (obj.fget, obj.fset, obj.fdel):
                if accessor is not None:
                    add(accessor, filename)
            return
        code = _python_code(obj) if callable(obj) else None
        if code is not None and code.co_filename == filename and code not in found:
            found[code] = obj

    for module in modules:
        filename = getattr(module, "__file__", None)
        if not filename:
            continue
        for obj in vars(module).values():
            if inspect.isclass(obj) and obj.__module__ == module.__name__:
                for member in vars(obj).values():
                    add(member, filename)
            else:
                add(obj, filename)
    return tuple(found.values())


#: Packages and modules of course_lib that are not the reference: the book's presentation
#: helpers, these grading helpers and the device choice, which students are meant to call
#: (``get_device``).
NOT_REFERENCE = ("book", "grading", "device")


def reference_modules() -> list[str]:
    """The names of every module of course_lib that computes what an exercise could ask for.

    Found on disk with ``pkgutil``, so a package added later (``course_lib.models``,
    ``course_lib.data``) is reference without a change here; the packages in
    :data:`NOT_REFERENCE` are pruned before anything of them is imported.
    Only packages are imported while walking (to find their modules), never
    the modules themselves.
    """
    import pkgutil

    import course_lib

    names: list[str] = []
    for info in pkgutil.iter_modules(course_lib.__path__, "course_lib."):
        if info.name.rpartition(".")[2] in NOT_REFERENCE:
            continue
        names.append(info.name)
        if info.ispkg:
            package = importlib.import_module(info.name)
            names += [sub.name for sub in pkgutil.walk_packages(package.__path__, f"{info.name}.")]
    return sorted(names)


def course_lib_functions() -> tuple[Callable, ...]:
    """Every function of the reference library, for ``forbidden=`` in any exercise.

    :func:`module_functions` of every module :func:`reference_modules` finds:
    the reference versions of every layer and model, their private helpers
    (``im2col``, the pooling windows) and the autograd wrappers.
    """
    return module_functions(*(importlib.import_module(name) for name in reference_modules()))


def public_functions(*modules: Any) -> tuple[Callable, ...]:
    """Every function listed in the ``__all__`` of ``modules`` (classes left out), for ``forbidden=``.

    Example: ``forbidden=public_functions(course_lib.gates) + autograd_entry_points()``.
    """
    found: list[Callable] = []
    for module in modules:
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name, None)
            if callable(obj) and not inspect.isclass(obj) and obj not in found:
                found.append(obj)
    return tuple(found)


def _networks() -> tuple[Callable, ...]:
    """torchvision's builders of the classic networks (AlexNet, GoogLeNet, Inception v3, ResNet, VGG) and
    everything in their modules (blocks, layers), for the exercises that build those networks."""
    names = ("torchvision.models.alexnet", "torchvision.models.googlenet", "torchvision.models.inception",
             "torchvision.models.resnet", "torchvision.models.vgg")
    found: list[Any] = []
    for name in names:
        try:
            found.append(importlib.import_module(name))
        except ImportError:  # an older torchvision without one of them: nothing to forbid there
            continue
    return module_functions(*found)


#: topic -> the function that lists what it forbids.
TOPICS: dict[str, Callable[[], tuple[Callable, ...]]] = {
    "course_lib": course_lib_functions,
    "autograd": _autograd,
    "convolution": _convolution,
    "padding": _padding,
    "sliding_windows": _sliding_windows,
    "pooling": _pooling,
    "normalization": _normalization,
    "dropout": _dropout,
    "concatenation": _concatenation,
    "networks": _networks,
}


def forbidden(*topics: str) -> tuple[Callable, ...]:
    """Everything the named topics forbid, each function once, for ``forbidden=``.

    Example: ``forbidden("course_lib", "autograd", "pooling")`` for a max pooling backward.
    """
    unknown = [topic for topic in topics if topic not in TOPICS]
    if unknown:
        raise ValueError(f"forbidden: unknown topic {', '.join(map(repr, unknown))}; "
                         f"the topics are {', '.join(TOPICS)}")
    return tuple(dict.fromkeys(func for topic in topics for func in TOPICS[topic]()))


def _alias(name: str, topic: str) -> Callable[[], tuple[Callable, ...]]:
    """A function called ``name`` that returns ``forbidden(topic)`` (the names the notebooks use)."""
    def alias() -> tuple[Callable, ...]:
        return forbidden(topic)

    alias.__name__ = alias.__qualname__ = name
    alias.__doc__ = f"``forbidden({topic!r})``: {TOPICS[topic].__doc__}"
    return alias


autograd_entry_points = _alias("autograd_entry_points", "autograd")
convolution_ops = _alias("convolution_ops", "convolution")
padding_ops = _alias("padding_ops", "padding")
sliding_window_ops = _alias("sliding_window_ops", "sliding_windows")
pooling_ops = _alias("pooling_ops", "pooling")
normalization_ops = _alias("normalization_ops", "normalization")
dropout_ops = _alias("dropout_ops", "dropout")
concat_ops = _alias("concat_ops", "concatenation")
