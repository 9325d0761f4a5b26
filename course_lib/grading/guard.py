"""Calling a student's function under guards.

:func:`call_student` gives the function copies of its arguments, swallows
warnings and stderr (nbgrader zeroes a test cell that wrote to stderr, and a
deprecation message must never cost points), stops it after a time limit
(:func:`time_limit`) and fails the test if it called a forbidden function
(:func:`forbid_calls`).  A Python function is recognised by its code object
(a profiler hook), so an alias is caught too; a torch operation by its name
under every alias (:func:`torch_op_name`) in a ``TorchFunctionMode``, also when
a torch module calls it for the student (``torch.nn.Conv2d`` calls
``torch.conv2d``).  :func:`must_call` checks that a function uses another one
(the student's own ``im2col``), :func:`expect_raises` that it rejects bad
arguments, and :func:`call_student_and_arguments` also returns the arguments
as the function left them (batch norm updates its running statistics in place).
"""
from __future__ import annotations

import contextlib
import inspect
import io
import signal
import sys
import threading
import types
import warnings
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
from torch.overrides import TorchFunctionMode

from .compare import GradingError, _kind, assert_close, describe, expect_tuple

__all__ = [
    "OutOfTime",
    "time_limit",
    "torch_op_name",
    "forbid_calls",
    "must_call",
    "call_student",
    "call_student_and_arguments",
    "expect_raises",
    "compare_with_reference",
]


class _OutOfTime(BaseException):
    """Raised by the alarm of :func:`time_limit` inside the student's code.

    Not an ``Exception``, so a loop with ``try: ... except Exception: pass``
    does not swallow it; :func:`time_limit` turns it into a :class:`GradingError`.
    """


#: Code the alarm never interrupts, so that the guards' clean-up always runs:
#: context managers (contextlib, torch's mode stack) and the guards' own
#: generators (``_GUARD_CODES``, filled in below them).  An alarm that arrives
#: there comes back shortly.
_GUARD_FILES = frozenset({contextlib.__file__, torch.overrides.__file__})
_GUARD_CODES: frozenset = frozenset()


class OutOfTime(GradingError):
    """A student's code ran past its time limit (see :func:`time_limit`)."""


#: While set (a positive number of seconds), every time limit is at most this long.  A
#: :class:`~course_lib.grading.score.Checks` sets it for the parts that follow one that ran out
#: of time, so that an endless loop costs one full time limit per cell, not one per part.
_LIMIT_CAP: list[float | None] = [None]


@contextlib.contextmanager
def time_limit(seconds: float | None, what: str):
    """Raise :class:`GradingError` (:class:`OutOfTime`) if the block runs longer than ``seconds`` (main thread, POSIX)."""
    cap = _LIMIT_CAP[0]
    if seconds and isinstance(cap, (int, float)) and cap > 0:
        seconds = min(seconds, cap)
    usable = seconds and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def on_alarm(signum, frame):
        if frame is not None and (frame.f_code in _GUARD_CODES or frame.f_code.co_filename in _GUARD_FILES):
            signal.setitimer(signal.ITIMER_REAL, 0.05)  # try again once the student's code runs
            return
        raise _OutOfTime()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except _OutOfTime:
        raise OutOfTime(f"{what} took longer than {seconds:g} s on a small input; "
                           f"look for an infinite loop or a needlessly slow one") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _python_code(func: Any):
    """The code object of a Python function (through decorators), or None for builtins and torch ops."""
    try:
        return getattr(inspect.unwrap(func), "__code__", None)
    except ValueError:  # a cycle of __wrapped__
        return None


def torch_op_name(func: Any) -> str | None:
    """The name under which torch knows a builtin operation; None for a Python function.

    One operation reaches Python under several objects: ``torch.conv2d`` and
    ``torch.nn.functional.conv2d`` (the same builtin), ``torch.ops.aten.conv2d``
    (an operator packet) and ``torch.ops.aten.conv2d.default`` (one overload of
    it) are all ``"conv2d"``; the method ``Tensor.unfold`` is ``"unfold"``.
    :func:`forbid_calls` compares torch operations by this name.
    """
    if isinstance(func, torch._ops.OpOverload):
        return func.overloadpacket.__name__
    if isinstance(func, (types.FunctionType, types.MethodType)) or _python_code(func) is not None:
        return None
    name = getattr(func, "__name__", None)
    return name if isinstance(name, str) else None


def _display_name(func: Any) -> str:
    """How a forbidden function is named in messages: ``torch.nn.functional.conv2d``, ``torch.Tensor.unfold``."""
    op = torch_op_name(func)
    if op is not None:
        if isinstance(func, (torch._ops.OpOverload, torch._ops.OpOverloadPacket)):
            return f"torch.ops.{str(func).split('.')[0]}.{op}"
        for prefix, owner in (("torch.nn.functional", torch.nn.functional), ("torch", torch),
                              ("torch.Tensor", torch.Tensor), ("torch._C._nn", torch._C._nn)):
            if getattr(owner, op, None) is func:
                return f"{prefix}.{op}"
    return _qualified_name(func)


class _TorchCallDetector(TorchFunctionMode):
    """Records calls of watched torch operations, recognised by object or by :func:`torch_op_name`."""

    def __init__(self, watched: dict[Any, str], by_name: dict[str, str], hits: list[str], depth: list[int]):
        super().__init__()
        self.by_name = by_name
        self.hits = hits
        self.depth = depth  # > 0 while a forbidden Python function runs: its own torch calls are not reported
        self.known: dict[Any, str | None] = dict(watched)  # every callable seen so far -> its forbidden name

    def _lookup(self, func) -> str | None:
        op = torch_op_name(func)
        return self.by_name.get(op) if op is not None else None

    def __torch_function__(self, func, types_, args=(), kwargs=None):
        try:
            name = self.known[func]
        except KeyError:
            name = self.known[func] = self._lookup(func)
        except TypeError:  # an unhashable callable
            name = self._lookup(func)
        if name is not None and self.depth[0] == 0 and name not in self.hits:
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
    too.  Torch operations are recognised by :func:`torch_op_name` in a
    ``TorchFunctionMode``, so ``torch.ops.aten.conv2d`` counts as
    ``torch.conv2d``, and so does a ``torch.nn.Conv2d`` module, which calls
    it.  (Not a ``TorchDispatchMode``, which would also see operations that
    torch calls internally: it slows a student's Python loop down 4-6 times.)
    A profiler that was already installed keeps receiving its events.
    """
    py_codes: dict[Any, str] = {}
    torch_funcs: dict[Any, str] = {}
    by_name: dict[str, str] = {}
    for func in forbidden:
        code = _python_code(func)
        if code is not None:
            py_codes[code] = _qualified_name(func)
            continue
        shown = _display_name(func)
        torch_funcs[func] = shown
        op = torch_op_name(func)
        if op is not None:
            by_name.setdefault(op, shown)
    hits: list[str] = []
    previous = sys.getprofile()
    chained = previous if callable(previous) else None

    # Calls made by a forbidden function (its helpers, the torch operations it uses) are not
    # reported: depth[0] counts the forbidden frames that are running.
    depth = [0]

    def profiler(frame, event, arg):
        if event == "call" or event == "return":
            name = py_codes.get(frame.f_code)
            if name is not None:
                if event == "call":
                    if depth[0] == 0 and name not in hits:
                        hits.append(name)
                    depth[0] += 1
                else:
                    depth[0] = max(depth[0] - 1, 0)
        if chained is not None:
            chained(frame, event, arg)

    sys.setprofile(profiler if py_codes else previous)
    try:
        with _TorchCallDetector(torch_funcs, by_name, hits, depth) if torch_funcs else contextlib.nullcontext():
            yield
    finally:
        tampered = py_codes and sys.getprofile() is not profiler
        sys.setprofile(previous)
    if tampered:
        raise GradingError(f"{what} changed the interpreter's profiler (sys.setprofile); that is not allowed")
    if hits:
        shown = ", ".join(hits[:3]) + (f" (and {len(hits) - 3} more)" if len(hits) > 3 else "")
        raise GradingError(f"{what} calls {shown}, which does the exercise for you; "
                           f"write the computation yourself")


@contextlib.contextmanager
def must_call(required: Iterable[Callable], what: str):
    """Fail the block unless it called each of the Python functions ``required``.

    For exercises that build on an earlier one: ``conv_forward_im2col`` must
    use the student's own ``im2col``.  Works inside and around
    :func:`call_student` (the profilers are chained).  If the block raises,
    that exception is what the caller sees.
    """
    wanted: dict[Any, str] = {}
    for func in required:
        code = _python_code(func)
        if code is None:
            raise TypeError(f"must_call: {func!r} is not a Python function")
        wanted[code] = getattr(func, "__name__", _qualified_name(func))
    seen: set = set()
    previous = sys.getprofile()
    chained = previous if callable(previous) else None

    def profiler(frame, event, arg):
        if event == "call" and frame.f_code in wanted:
            seen.add(frame.f_code)
        if chained is not None:
            chained(frame, event, arg)

    sys.setprofile(profiler)
    try:
        yield
    finally:
        sys.setprofile(previous)
    missing = [name for code, name in wanted.items() if code not in seen]
    if missing:
        raise GradingError(f"{what} should call your {', '.join(missing)} (that is the exercise), but it does not")


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


@contextlib.contextmanager
def _guarded(what: str, forbidden: Sequence[Callable], seconds: float | None):
    """Swallow warnings and stderr, time the block and forbid calls (the guards of :func:`call_student`)."""
    sink = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stderr(sink):
        warnings.simplefilter("ignore")
        with time_limit(seconds, what), forbid_calls(forbidden, what):
            yield


def _with_nested(code: types.CodeType) -> list[types.CodeType]:
    """A code object and those of the functions defined inside it (the guards' profiler hooks)."""
    return [code] + [c for const in code.co_consts if isinstance(const, types.CodeType) for c in _with_nested(const)]


_GUARD_CODES = frozenset(c for guard in (time_limit, forbid_calls, must_call, _guarded)
                         for c in _with_nested(inspect.unwrap(guard).__code__))


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
    with _guarded(what, forbidden, seconds):  # outside the try: a fault of the guards is not the student's
        try:
            return func(*args, **kwargs)
        except GradingError:
            raise
        except NotImplementedError as exc:
            detail = f" ({exc})" if str(exc) else ""
            raise GradingError(f"{what} is not implemented yet{detail}") from None
        except Exception as exc:
            shown = ", ".join(describe(a) for a in args)
            raise GradingError(f"{what}({shown}) raised {type(exc).__name__}: {exc}") from exc


def call_student_and_arguments(func: Callable, *args: Any, what: str | None = None,
                               forbidden: Sequence[Callable] = (), seconds: float | None = 20.0,
                               **kwargs: Any) -> tuple[Any, tuple]:
    """Like :func:`call_student`, and also return the positional arguments as the function left them.

    For functions that update an argument in place, e.g. batch norm's running
    statistics in a ``bn_param`` dict: the student's function receives copies
    (as with :func:`call_student`), and those copies come back after the call,
    whether the function changed their tensors in place or replaced entries
    of a dict or list.

    Returns:
        ``(result, args)``: what the function returned, and the tuple of the
        positional arguments it received.
    """
    what = what or getattr(func, "__name__", "the function")
    if not callable(func):
        raise GradingError(f"{what} is not a function (it is a {type(func).__name__}); did you overwrite it?")
    received: list[tuple] = []

    def keep_arguments(*given: Any, **named: Any) -> Any:
        received.append(given)
        return func(*given, **named)

    result = call_student(keep_arguments, *args, what=what, forbidden=forbidden, seconds=seconds, **kwargs)
    return result, received[0]


def expect_raises(func: Callable, *args: Any, exception: type[BaseException] = ValueError,
                  what: str | None = None, forbidden: Sequence[Callable] = (), seconds: float | None = 20.0,
                  require_message: bool = True, **kwargs: Any) -> BaseException:
    """Call a student's function on arguments it must reject; return the exception it raised.

    The call is guarded like :func:`call_student`.  :class:`GradingError` if the
    function returns instead, raises another kind of exception, or (with
    ``require_message``) raises ``exception`` without a message.
    """
    what = what or getattr(func, "__name__", "the function")
    if not callable(func):
        raise GradingError(f"{what} is not a function (it is a {type(func).__name__}); did you overwrite it?")
    args, kwargs = _copy(args), _copy(kwargs)
    shown = ", ".join([describe(a) for a in args] + [f"{k}={describe(v)}" for k, v in kwargs.items()])
    with _guarded(what, forbidden, seconds):
        try:
            result = func(*args, **kwargs)
        except GradingError:
            raise
        except NotImplementedError as exc:
            if not issubclass(NotImplementedError, exception):
                detail = f" ({exc})" if str(exc) else ""
                raise GradingError(f"{what} is not implemented yet{detail}") from None
            raised = exc
        except exception as exc:
            raised = exc
        except Exception as exc:
            raise GradingError(f"{what}({shown}) should raise {exception.__name__}, but it raised "
                               f"{type(exc).__name__}: {exc}") from None
        else:
            raise GradingError(f"{what}({shown}) should raise {exception.__name__}, but it returned "
                               f"{_kind(result)}")
    if require_message and not str(raised).strip():
        raise GradingError(f"{what}({shown}) raised {type(raised).__name__} without a message; say what is "
                           f"wrong, e.g. raise {exception.__name__}(\"...\")")
    return raised


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
