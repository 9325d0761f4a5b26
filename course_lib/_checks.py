"""Input validation shared by the library: errors that name the problem.

One rule each, used by every layer:

* :func:`check_tensor`: a tensor of the expected rank (and floating dtype);
* :func:`check_same`: two tensors on one dtype and device;
* :func:`check_dout`: the upstream gradient has the layer's output shape;
* :func:`pair`: an int or an ``(height, width)`` pair of ints, each at least a minimum.

``torch`` is imported inside the functions so that :mod:`course_lib.shapes`,
which only needs :func:`pair`, stays free of it.
"""
from __future__ import annotations

__all__ = ["check_tensor", "check_same", "check_dout", "check_int", "pair"]


def check_tensor(name: str, x, ndim: int | tuple[int, ...] | None = None, *, floating: bool = True) -> None:
    """Raise a clear TypeError/ValueError unless ``x`` (any shape) is a tensor of the expected rank."""
    import torch

    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if floating and not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if x.dim() not in allowed:
            want = " or ".join(f"{d}-d" for d in allowed)
            raise ValueError(f"{name} must be {want}, got shape {tuple(x.shape)}")


def check_same(name_a: str, a, name_b: str, b) -> None:
    """Raise unless the tensors ``a`` and ``b`` (any shapes) share dtype and device."""
    if a.dtype != b.dtype:
        raise TypeError(f"{name_a} has dtype {a.dtype} but {name_b} has dtype {b.dtype}; convert one of them")
    if a.device != b.device:
        raise ValueError(f"{name_a} is on {a.device} but {name_b} is on {b.device}; move them to one device")


def check_dout(dout, expected_shape, what: str, like=None) -> None:
    """Raise unless the upstream gradient ``dout`` (the layer's output shape) is a floating tensor
    of shape ``expected_shape``, on the dtype and device of the tensor ``like`` (any shape) when given.

    ``what`` names the layer in the message, e.g. ``"max pooling"``.
    """
    check_tensor("dout", dout)
    if like is not None:
        check_same("dout", dout, "the layer's input", like)
    if tuple(dout.shape) != tuple(expected_shape):
        raise ValueError(f"dout has shape {tuple(dout.shape)} but the {what} output has shape "
                         f"{tuple(expected_shape)}")


def check_int(name: str, value, minimum: int) -> int:
    """``value`` if it is an int (not a bool) of at least ``minimum``; else TypeError/ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def pair(name: str, value, minimum: int) -> tuple[int, int]:
    """``k`` or ``(kh, kw)`` -> ``(kh, kw)``: ints (not bools), each at least ``minimum``.

    A wrong type is a TypeError, a wrong length or a too small value a ValueError; both name ``name``.
    """
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair (height, width), got {value!r}")
        return check_int(f"{name}[0]", value[0], minimum), check_int(f"{name}[1]", value[1], minimum)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int or a pair of ints (height, width), got {type(value).__name__} "
                        f"{value!r}")
    v = check_int(name, value, minimum)
    return v, v
