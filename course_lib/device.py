"""Choosing the device once: CUDA where present, else the CPU.

Every operation in ``course_lib`` runs on the device of its inputs; only code
that *creates* tensors from nothing (data sets, random test cases, models)
asks :func:`get_device`.  Set ``COURSE_DEVICE=cpu`` (or ``cuda:1``, ...) in
the environment to override the choice.
"""
from __future__ import annotations

import functools
import os

import torch

__all__ = ["get_device", "available_devices"]


@functools.lru_cache(maxsize=None)
def get_device() -> torch.device:
    """The device for new tensors: ``$COURSE_DEVICE`` if set, else CUDA if available, else CPU."""
    forced = os.environ.get("COURSE_DEVICE")
    if forced:
        device = torch.device(forced)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"COURSE_DEVICE={forced!r} but CUDA is not available on this machine")
        return device
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def available_devices() -> list[torch.device]:
    """Every device tests should run on: always the CPU, plus CUDA when present."""
    devices = [torch.device("cpu")]
    if torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    return devices
