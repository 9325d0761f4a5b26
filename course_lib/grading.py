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
  the torch operation an exercise is about; :func:`public_functions` and
  :func:`autograd_entry_points` list what a backward exercise forbids.

A typical hidden test is one call of :func:`compare_with_reference` per case.
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
    "autograd_entry_points",
    "public_functions",
    "expect_tuple",
    "expect_dict",
    "compare_with_reference",
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
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a NamedTuple, e.g. a layer's cache
        return type(value)(*(_copy(v) for v in value))
    if type(value) in (tuple, list):
        return type(value)(_copy(v) for v in value)
    if isinstance(value, (tuple, list)):  # other subclasses: their constructors may differ
        return tuple(_copy(v) for v in value) if isinstance(value, tuple) else [_copy(v) for v in value]
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
        detail = f" ({exc})" if str(exc) else ""
        raise GradingError(f"{what} is not implemented yet{detail}") from None
    except Exception as exc:
        shown = ", ".join(describe(a) for a in args)
        raise GradingError(f"{what}({shown}) raised {type(exc).__name__}: {exc}") from exc


def autograd_entry_points() -> tuple[Callable, ...]:
    """The ways to let torch's autograd compute a gradient, for ``forbidden=``.

    ``Tensor.backward`` goes through ``torch.autograd.backward``;
    ``torch.func.grad`` / ``vjp`` and ``torch.autograd.functional`` go through
    ``torch.autograd.grad``.  All three are Python functions, so
    :func:`forbid_calls` recognises them however they are reached.
    """
    return (torch.autograd.grad, torch.autograd.backward, torch.Tensor.backward)


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


def _kind(value: Any) -> str:
    """The type of a returned value, for messages (never calls the object's own methods)."""
    kind = type(value)
    if kind is torch.Tensor or kind is np.ndarray:
        return describe(value)
    if kind in (tuple, list):
        return f"a {kind.__name__} of {len(value)}"
    return f"a {kind.__module__}.{kind.__qualname__}" if kind.__module__ != "builtins" else f"a {kind.__name__}"


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


def compare_with_reference(student: Callable, reference: Callable, *args: Any,
                           outputs: Sequence[str] | None = None, what: str | None = None,
                           inputs: str | None = None, forbidden: Sequence[Callable] = (),
                           rtol: float = 1e-5, atol: float = 1e-7, seconds: float | None = 20.0) -> Any:
    """Call the student's function and the reference on the same arguments and compare the results.

    Both get their own copies of ``args``.  With ``outputs=None`` the functions
    return one tensor or number; with ``outputs=("dx", "dy")`` they return that
    many values, compared one by one (the message names the wrong one).

    Args:
        student, reference: the two functions.
        args: positional arguments for both.
        outputs: names of the returned values, or None for a single value.
        what: the function's name in messages (default: the student function's ``__name__``).
        inputs: description of the inputs in messages (default: built from ``args``).
        forbidden: functions the student's code must not call (see :func:`forbid_calls`).
        rtol, atol: tolerances of :func:`assert_close`.
        seconds: time limit of the student's call.
    Returns:
        The student's result (a tuple when ``outputs`` is given).
    """
    what = what or getattr(student, "__name__", "the function")
    if inputs is None:
        inputs = ", ".join(describe(a) for a in args)
    expected = reference(*_copy(args))
    actual = call_student(student, *args, what=what, forbidden=forbidden, seconds=seconds)
    if outputs is None:
        assert_close(actual, expected, what=what, inputs=inputs, rtol=rtol, atol=atol)
        return actual
    actual = expect_tuple(actual, outputs, what=what)
    expected = tuple(expected)
    for name, got, want in zip(outputs, actual, expected):
        assert_close(got, want, what=f"{what}: {name}", inputs=inputs, rtol=rtol, atol=atol)
    return actual
