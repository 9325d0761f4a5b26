"""Comparing a student's results with the reference's, with messages written for the student.

A failure raises :class:`GradingError` (an ``AssertionError``) whose message
names the function, the inputs' shapes, the first wrong index, and the
expected and actual values.  Results must be a real ``torch.Tensor`` /
``numpy.ndarray`` / number: subclasses and objects whose ``__eq__`` always
answers True are refused (:func:`as_strict_tensor`).  :func:`assert_matches`
compares a returned structure, such as a layer's cache, entry by entry;
``expect_tuple`` / ``expect_int`` / ``expect_dict`` check the shape of a
result before it is compared.  One whole hidden test case, calling the student
through the guard, is :func:`course_lib.grading.guard.compare_with_reference`.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch

from ..device import available_devices

__all__ = [
    "GradingError",
    "test_devices",
    "describe",
    "as_strict_tensor",
    "assert_close",
    "dtype_of",
    "expect_dtype",
    "expect_tuple",
    "expect_int",
    "expect_dict",
    "assert_matches",
]


class GradingError(AssertionError):
    """A hidden test failed; the message is written for the student."""


def test_devices() -> list[torch.device]:
    """Devices the hidden tests run on: the CPU, plus the GPU where one is present."""
    return available_devices()


def describe(value: Any) -> str:
    """Short description of an argument for messages: ``Tensor(4, 5) float64 cpu``."""
    if isinstance(value, torch.Tensor):
        return f"Tensor{tuple(value.shape)} {str(value.dtype).replace('torch.', '')} {value.device}"
    if isinstance(value, np.ndarray):
        return f"ndarray{value.shape} {value.dtype}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {describe(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(describe(v) for v in value) + ")"
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value) if len(repr(value)) < 40 else type(value).__name__


_NUMBER_TYPES = (float, int, np.float64, np.float32, np.float16, np.int64, np.int32)


def as_strict_tensor(value: Any, *, what: str) -> torch.Tensor:
    """Convert a returned value to a tensor, refusing anything that could lie.

    Accepts exactly ``torch.Tensor``, ``numpy.ndarray`` (numeric) and plain
    numbers; subclasses, ``bool`` and other objects raise :class:`GradingError`.
    """
    kind = type(value)
    if kind is torch.Tensor:
        if value.dtype == torch.bool or value.is_complex():
            raise GradingError(f"{what} has dtype {value.dtype}; expected real numbers")
        return value.detach()
    if kind is np.ndarray:
        if value.dtype.kind not in "fiu":
            raise GradingError(f"{what} is an array of dtype {value.dtype}; expected real numbers")
        return torch.from_numpy(np.array(value, copy=True))
    if kind in _NUMBER_TYPES:
        return torch.tensor(float(value), dtype=torch.float64)
    raise GradingError(
        f"{what} should be a torch.Tensor (or a number), but it is a "
        f"{kind.__module__}.{kind.__qualname__}"
    )


def dtype_of(value: Any) -> torch.dtype | None:
    """The torch dtype of a returned tensor or numpy array (numpy's float64 is torch.float64); None otherwise."""
    if type(value) is torch.Tensor:
        return value.dtype
    if type(value) is np.ndarray and value.dtype.kind in "fiub":
        return torch.from_numpy(np.empty(0, dtype=value.dtype)).dtype
    return None


def expect_dtype(value: Any, dtype: torch.dtype, *, what: str, hint: str = "") -> None:
    """Raise :class:`GradingError` unless a returned tensor (or numpy array) has ``dtype``.

    Numpy arrays are judged like tensors, everywhere in the hidden tests: an
    array of numpy's float64 has the dtype torch.float64 (they are accepted
    on the CPU; on a GPU :func:`assert_close` asks for a tensor on that device).

    Args:
        value: the student's result.
        dtype: the dtype it must have (usually the input's).
        what: names the result, e.g. ``"zero_pad"``.
        hint: how to keep the dtype, e.g. ``"x.new_zeros(...)"``; appended to the message.
    """
    got = dtype_of(value)
    if got == dtype:
        return
    shown = str(dtype).replace("torch.", "")
    if got is None:
        raise GradingError(f"{what} should return a tensor of dtype {shown}, but it returned {_kind(value)}")
    kind = f"a numpy array of dtype {value.dtype}" if type(value) is np.ndarray else f"dtype {str(got).replace('torch.', '')}"
    advice = f" ({hint})" if hint else ""
    raise GradingError(f"{what} returned {kind}; keep the dtype of the input, {shown}{advice}")


def assert_close(actual: Any, expected: Any, *, what: str, inputs: str = "",
                 rtol: float = 1e-5, atol: float = 1e-7, check_device: bool = True) -> None:
    """Raise :class:`GradingError` unless ``actual`` matches ``expected`` elementwise.

    Args:
        actual: the student's result (tensor, array or number).
        expected: the reference result (tensor or number).
        what: names the result in the message, e.g. ``"affine_backward: dx"``.
        inputs: describes the inputs, e.g. ``"x Tensor(4, 5) float64 cpu"``.
        rtol, atol: ``|actual - expected| <= atol + rtol * |expected|`` must hold everywhere.
        check_device: a tensor result must be on the device of the expected one.
    """
    where = f" (inputs: {inputs})" if inputs else ""
    try:
        got = as_strict_tensor(actual, what=what)
    except GradingError as exc:
        raise GradingError(f"{exc}{where}") from None
    want = torch.as_tensor(expected).detach()
    if got.dim() == 0 and want.numel() == 1:
        want = want.reshape(())
    if tuple(got.shape) != tuple(want.shape):
        raise GradingError(f"{what}: wrong shape {tuple(got.shape)}, expected {tuple(want.shape)}{where}")
    if check_device and type(actual) is torch.Tensor and got.device != want.device:
        raise GradingError(f"{what}: returned a tensor on {got.device}, expected it on {want.device} "
                           f"(compute on the device of the inputs){where}")
    if check_device and type(actual) is np.ndarray and want.device.type != "cpu":
        raise GradingError(f"{what}: returned a numpy array, which lives on the CPU; expected a tensor on "
                           f"{want.device} (compute with torch on the device of the inputs){where}")
    got64 = got.to("cpu", torch.float64)
    want64 = want.to("cpu", torch.float64)
    ok = torch.isclose(got64, want64, rtol=rtol, atol=atol)
    if bool(ok.all()):
        return
    bad = (~ok).nonzero()
    first = tuple(int(i) for i in bad[0])
    index = f" at index {first}" if first else ""
    n_bad, n_all = bad.shape[0], got64.numel()
    max_err = float((got64 - want64).abs().nan_to_num(nan=math.inf).max())
    raise GradingError(
        f"{what}: wrong value{index}: expected {float(want64[first]):.6g}, got {float(got64[first]):.6g} "
        f"({n_bad} of {n_all} elements wrong, largest error {max_err:.3g}){where}"
    )


def _kind(value: Any) -> str:
    """The type of a returned value, for messages (never calls the object's own methods)."""
    kind = type(value)
    if kind is torch.Tensor or kind is np.ndarray:
        return describe(value)
    if kind in (tuple, list):
        return f"a {kind.__name__} of {len(value)}"
    name = f"{kind.__module__}.{kind.__qualname__}" if kind.__module__ != "builtins" else kind.__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def expect_tuple(value: Any, names: Sequence[str], *, what: str) -> tuple:
    """Check that a function returned ``len(names)`` values and return them as a tuple.

    Args:
        value: what the student's function returned.
        names: what each value is, e.g. ``("dx", "dw", "db")``; used in the message.
        what: the function's name.
    """
    if not isinstance(value, (tuple, list)) or len(value) != len(names):
        raise GradingError(f"{what} should return {len(names)} values ({', '.join(names)}), "
                           f"but it returned {_kind(value)}")
    return tuple(value[i] for i in range(len(names)))


def expect_int(value: Any, *, what: str) -> int:
    """Check that a function returned a plain integer (``int`` or a numpy integer, not a float or a tensor)."""
    kind = type(value)
    if kind is int or (isinstance(value, np.integer) and kind.__module__ == "numpy"):
        return int(value)
    shown = f" {value!r}" if kind in (float, bool) else ""
    raise GradingError(f"{what} should return an int, but it returned {_kind(value)}{shown}")



def expect_dict(value: Any, keys: Sequence[str], *, what: str) -> dict:
    """Check that a function returned a dict with exactly ``keys``; return ``{key: value}`` in that order."""
    if not isinstance(value, dict):
        raise GradingError(f"{what} should be a dict with keys {', '.join(keys)}, but it is {_kind(value)}")
    have = [k for k in value.keys()]
    missing = [k for k in keys if k not in have]
    extra = [repr(k) for k in have if k not in keys]
    if missing or extra:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + ([f"unexpected {', '.join(extra)}"] if extra else [])
        raise GradingError(f"{what} should have the keys {', '.join(keys)}: {'; '.join(parts)}")
    return {k: value[k] for k in keys}


def assert_matches(actual: Any, expected: Any, *, what: str, inputs: str = "",
                   names: Sequence[str] | None = None, rtol: float = 1e-5, atol: float = 1e-7) -> None:
    """Compare a returned structure (a layer's cache, say) with the expected one, entry by entry.

    ``expected`` decides what each entry must be: a tensor is compared with
    :func:`assert_close` (a ``bool`` tensor, a mask, must match exactly; the
    student's may be bool or hold 0s and 1s); an ``int`` must be the same
    int (not a float, a bool or a tensor), a ``bool`` the same bool, a
    ``float`` a number close to it, a ``str`` the same string, ``None`` None;
    a tuple or list must be a tuple (a NamedTuple too) or list of as many
    entries, a dict must have the same keys (both compared recursively).

    Args:
        actual: what the student's function returned (or part of it).
        expected: the reference structure.
        what: names the structure in messages, e.g. ``"max_pool_forward: cache"``.
        inputs: description of the inputs for messages.
        names: names of the entries of a tuple ``expected``, e.g. ``("x", "kernel", "stride")``;
            messages then say ``cache kernel`` rather than ``cache[1]``.
        rtol, atol: tolerances for tensors and floats.
    """
    where = f" (inputs: {inputs})" if inputs else ""
    kind = type(actual)
    if isinstance(expected, torch.Tensor):
        if expected.dtype == torch.bool:
            if kind is not torch.Tensor or actual.dtype.is_complex:
                raise GradingError(f"{what} should be a tensor of booleans, but it is {_kind(actual)}{where}")
            if actual.dtype != torch.bool and not bool(((actual == 0) | (actual == 1)).all()):
                raise GradingError(f"{what} should hold booleans (True / False, or 1 / 0), but it holds other "
                                   f"values{where}")
            actual = actual.to(torch.int64)
            expected = expected.to(torch.int64)
            rtol = atol = 0.0
        assert_close(actual, expected, what=what, inputs=inputs, rtol=rtol, atol=atol)
    elif expected is None:
        if actual is not None:
            raise GradingError(f"{what} should be None, but it is {_kind(actual)}{where}")
    elif type(expected) is bool:
        if kind is not bool or actual != expected:
            shown = f" {actual!r}" if kind in (bool, int, float, str) else ""
            raise GradingError(f"{what} should be {expected}, but it is {_kind(actual)}{shown}{where}")
    elif isinstance(expected, (int, np.integer)):
        is_int = kind is int or (isinstance(actual, np.integer) and kind.__module__ == "numpy")
        if not is_int or int(actual) != int(expected):
            shown = f" {actual!r}" if kind in (int, float, str) or is_int else ""
            raise GradingError(f"{what} should be the int {int(expected)}, but it is {_kind(actual)}{shown}{where}")
    elif isinstance(expected, (float, np.floating)):
        if kind not in _NUMBER_TYPES:
            raise GradingError(f"{what} should be a number ({float(expected):g}), but it is {_kind(actual)}{where}")
        assert_close(actual, float(expected), what=what, inputs=inputs, rtol=rtol, atol=atol)
    elif isinstance(expected, str):
        if kind is not str or actual != expected:
            shown = f" {actual!r}" if kind is str else ""
            raise GradingError(f"{what} should be {expected!r}, but it is {_kind(actual)}{shown}{where}")
    elif isinstance(expected, dict):
        got = expect_dict(actual, list(expected.keys()), what=what)
        for key, want in expected.items():
            assert_matches(got[key], want, what=f"{what}[{key!r}]", inputs=inputs, rtol=rtol, atol=atol)
    elif isinstance(expected, (tuple, list)):
        labels = list(names) if names is not None else [f"[{i}]" for i in range(len(expected))]
        if len(labels) != len(expected):
            raise ValueError(f"assert_matches: {len(labels)} names for {len(expected)} entries")
        if not isinstance(actual, (tuple, list)) or len(actual) != len(expected):
            listed = f" ({', '.join(labels)})" if names is not None else ""
            raise GradingError(f"{what} should be a tuple of {len(expected)} values{listed}, but it is "
                               f"{_kind(actual)}{where}")
        for label, got, want in zip(labels, actual, expected):
            assert_matches(got, want, what=f"{what} {label}" if names is not None else f"{what}{label}",
                           inputs=inputs, rtol=rtol, atol=atol)
    else:
        raise TypeError(f"assert_matches: cannot compare with a {type(expected).__name__}")
