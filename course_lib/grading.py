"""Support for the hidden tests of the graded notebooks.

A hidden test computes the reference answer with ``course_lib``, calls the
student's function through :func:`call_student`, and compares with
:func:`assert_close`.  Failures raise :class:`GradingError` (an
``AssertionError``) whose message names the function, the inputs' shapes, the
first wrong index, and the expected and actual values, so the student's
feedback says what to fix.

Safeguards:

* results must be a real ``torch.Tensor`` / ``numpy.ndarray`` / number:
  subclasses and objects whose ``__eq__`` always answers True are refused;
* the student's function gets copies of the inputs, so it cannot change the
  reference's inputs, and is timed (:class:`GradingError` after the budget);
* warnings and stderr printed while the student's code runs are swallowed, so
  a deprecation message never costs points (nbgrader zeroes a test cell that
  wrote to stderr);
* :func:`forbid_calls` detects calls to the reference implementation or to
  the torch operation an exercise is about.
"""
from __future__ import annotations

import contextlib
import inspect
import io
import math
import signal
import sys
import threading
import warnings
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
from torch.overrides import TorchFunctionMode

from .device import available_devices

__all__ = [
    "GradingError",
    "as_strict_tensor",
    "assert_close",
    "call_student",
    "forbid_calls",
    "time_limit",
    "describe",
    "test_devices",
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
    got = as_strict_tensor(actual, what=what)
    want = torch.as_tensor(expected).detach()
    if got.dim() == 0 and want.numel() == 1:
        want = want.reshape(())
    if tuple(got.shape) != tuple(want.shape):
        raise GradingError(f"{what}: wrong shape {tuple(got.shape)}, expected {tuple(want.shape)}{where}")
    if check_device and type(actual) is torch.Tensor and got.device != want.device:
        raise GradingError(f"{what}: returned a tensor on {got.device}, expected it on {want.device} "
                           f"(compute on the device of the inputs){where}")
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


@contextlib.contextmanager
def time_limit(seconds: float | None, what: str):
    """Raise :class:`GradingError` if the block runs longer than ``seconds`` (main thread, POSIX)."""
    usable = seconds and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def on_alarm(signum, frame):
        raise GradingError(f"{what} took longer than {seconds:g} s on a small input; "
                           f"look for an infinite loop or a needlessly slow one")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class _TorchCallDetector(TorchFunctionMode):
    def __init__(self, watched: dict[Any, str], hits: list[str]):
        super().__init__()
        self.watched = watched
        self.hits = hits

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = self.watched.get(func)
        if name is not None and name not in self.hits:
            self.hits.append(name)
        return func(*args, **(kwargs or {}))


def _qualified_name(func: Callable) -> str:
    module = getattr(func, "__module__", None) or ""
    name = getattr(func, "__qualname__", None) or getattr(func, "__name__", repr(func))
    return f"{module}.{name}" if module else name


@contextlib.contextmanager
def forbid_calls(forbidden: Iterable[Callable], what: str):
    """Fail the block if it called any of ``forbidden`` (directly or through an alias).

    Python functions are recognised by their code object (a profiler hook),
    so ``from course_lib.functional import affine_forward as f`` is caught
    too; torch operations are recognised through a ``TorchFunctionMode``.
    """
    py_codes: dict[Any, str] = {}
    torch_funcs: dict[Any, str] = {}
    for func in forbidden:
        code = getattr(inspect.unwrap(func), "__code__", None)
        if code is not None:
            py_codes[code] = _qualified_name(func)
        else:
            torch_funcs[func] = _qualified_name(func)
    hits: list[str] = []

    def profiler(frame, event, arg):
        if event == "call":
            name = py_codes.get(frame.f_code)
            if name is not None and name not in hits:
                hits.append(name)

    previous = sys.getprofile()
    sys.setprofile(profiler if py_codes else previous)
    try:
        with _TorchCallDetector(torch_funcs, hits):
            yield
    finally:
        tampered = py_codes and sys.getprofile() is not profiler
        sys.setprofile(previous)
    if tampered:
        raise GradingError(f"{what} changed the interpreter's profiler (sys.setprofile); that is not allowed")
    if hits:
        raise GradingError(f"{what} calls {', '.join(hits)}, which does the exercise for you; "
                           f"write the computation yourself")


def _copy(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(_copy(v) for v in value)
    return value


def call_student(func: Callable, *args: Any, what: str | None = None,
                 forbidden: Sequence[Callable] = (), seconds: float | None = 20.0, **kwargs: Any) -> Any:
    """Call a student's function safely and return its result.

    The function receives copies of the arguments; warnings and stderr are
    swallowed; it must finish within ``seconds``; calling any of ``forbidden``
    fails the test.  An exception in the student's code becomes a
    :class:`GradingError` that names the function and the inputs.
    """
    what = what or getattr(func, "__name__", "the function")
    if not callable(func):
        raise GradingError(f"{what} is not a function (it is a {type(func).__name__}); did you overwrite it?")
    args, kwargs = _copy(args), _copy(kwargs)
    sink = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(sink):
            warnings.simplefilter("ignore")
            with time_limit(seconds, what), forbid_calls(forbidden, what):
                return func(*args, **kwargs)
    except GradingError:
        raise
    except NotImplementedError as exc:
        raise GradingError(f"{what} is not implemented yet ({exc or 'NotImplementedError'})") from None
    except Exception as exc:
        shown = ", ".join(describe(a) for a in args)
        raise GradingError(f"{what}({shown}) raised {type(exc).__name__}: {exc}") from exc
