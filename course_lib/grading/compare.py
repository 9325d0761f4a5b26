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
  the torch operation an exercise is about; :func:`public_functions`,
  :func:`module_functions`, :func:`autograd_entry_points`,
  :func:`convolution_ops`, :func:`padding_ops`, :func:`sliding_window_ops`,
  :func:`pooling_ops`, :func:`normalization_ops`, :func:`dropout_ops` and
  :func:`concat_ops` list what an exercise forbids, :func:`course_lib_functions`
  the whole reference library.  A torch operation is recognised under any of
  its names (``torch.conv2d`` is ``torch.nn.functional.conv2d`` is
  ``torch.ops.aten.conv2d``), also when a torch module or function calls it
  for the student (``torch.nn.Conv2d`` calls ``torch.conv2d``);
* :func:`must_call` checks that a function uses another one (the student's own
  ``im2col``, say), :func:`expect_raises` that it rejects bad arguments;
* :func:`call_student_and_arguments` also returns the arguments as the
  student's function left them (batch norm updates its running statistics in
  place), and :func:`assert_matches` compares a returned structure, such as a
  layer's cache, entry by entry.

A typical hidden test is one call of :func:`compare_with_reference` per case.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import io
import math
import signal
import sys
import threading
import types
import warnings
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
from torch.overrides import TorchFunctionMode

from ..device import available_devices

__all__ = [
    "GradingError",
    "as_strict_tensor",
    "assert_close",
    "call_student",
    "forbid_calls",
    "torch_op_name",
    "time_limit",
    "describe",
    "test_devices",
    "autograd_entry_points",
    "public_functions",
    "module_functions",
    "convolution_ops",
    "padding_ops",
    "sliding_window_ops",
    "pooling_ops",
    "normalization_ops",
    "dropout_ops",
    "concat_ops",
    "course_lib_functions",
    "call_student_and_arguments",
    "assert_matches",
    "must_call",
    "expect_tuple",
    "expect_dict",
    "expect_int",
    "expect_raises",
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


@contextlib.contextmanager
def time_limit(seconds: float | None, what: str):
    """Raise :class:`GradingError` if the block runs longer than ``seconds`` (main thread, POSIX)."""
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
        raise GradingError(f"{what} took longer than {seconds:g} s on a small input; "
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


def autograd_entry_points() -> tuple[Callable, ...]:
    """The ways to let torch's autograd compute a gradient, for ``forbidden=``.

    ``Tensor.backward`` goes through ``torch.autograd.backward``;
    ``torch.func.grad`` / ``vjp`` and ``torch.autograd.functional`` go through
    ``torch.autograd.grad``.  All three are Python functions, so
    :func:`forbid_calls` recognises them however they are reached.
    """
    return (torch.autograd.grad, torch.autograd.backward, torch.Tensor.backward)


def convolution_ops() -> tuple[Callable, ...]:
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


def padding_ops() -> tuple[Callable, ...]:
    """Operations that zero-pad a tensor in one call, for ``forbidden=`` in a padding exercise.

    ``torch.nn.functional.pad`` (which ``torch.nn.ZeroPad2d`` and friends call),
    the ``constant_pad_nd`` operation under it, and ``numpy.pad``.
    """
    return (torch.nn.functional.pad, torch._C._nn.pad, torch.constant_pad_nd, np.pad)


def sliding_window_ops() -> tuple[Callable, ...]:
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


def pooling_ops() -> tuple[Callable, ...]:
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
    adds :func:`convolution_ops` for that.
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


def normalization_ops() -> tuple[Callable, ...]:
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


def dropout_ops() -> tuple[Callable, ...]:
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


def concat_ops() -> tuple[Callable, ...]:
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


#: The modules of course_lib that compute what an exercise could ask for (``functional``'s
#: submodules are added by :func:`course_lib_functions`); device, plots, animations and
#: grading are left out.
REFERENCE_MODULES = ("gates", "autodiff", "gradcheck", "filters", "shapes", "autograd", "chain_rule")


def course_lib_functions() -> tuple[Callable, ...]:
    """Every function of course_lib's computing modules, for ``forbidden=`` in any exercise.

    :func:`module_functions` of the modules in :data:`REFERENCE_MODULES` and of
    every module of ``course_lib.functional`` (found on disk, so a new layer
    module is covered without a change here): the reference versions of every
    layer, their private helpers (``im2col``, the pooling windows) and the
    autograd wrappers.
    """
    import importlib
    import pkgutil

    from .. import functional

    package = __name__.split(".")[0]
    modules = [importlib.import_module(f"{package}.{name}") for name in REFERENCE_MODULES]
    modules += [importlib.import_module(f"{functional.__name__}.{info.name}")
                for info in sorted(pkgutil.iter_modules(functional.__path__), key=lambda info: info.name)]
    return module_functions(*modules)


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
