"""Input validation shared by the layers: errors that name the problem."""
from __future__ import annotations

import torch


def check_tensor(name: str, x, ndim: int | tuple[int, ...] | None = None, *, floating: bool = True) -> None:
    """Raise a clear TypeError/ValueError unless ``x`` is a tensor of the expected rank."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if floating and not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if x.dim() not in allowed:
            want = " or ".join(f"{d}-d" for d in allowed)
            raise ValueError(f"{name} must be {want}, got shape {tuple(x.shape)}")


def check_same(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    """Raise unless two tensors share dtype and device."""
    if a.dtype != b.dtype:
        raise TypeError(f"{name_a} has dtype {a.dtype} but {name_b} has dtype {b.dtype}; convert one of them")
    if a.device != b.device:
        raise ValueError(f"{name_a} is on {a.device} but {name_b} is on {b.device}; move them to one device")
