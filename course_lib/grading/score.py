"""Partial credit inside one hidden test cell: named sub-checks that score on their own.

A hidden test cell worth 20 points used to be all or nothing: one edge case
(a float32 input, a tie in max pooling, a second device) erased the whole
part.  :class:`Checks` splits the cell into named parts::

    _checks = Checks("conv_backward_naive", 20)
    with _checks.part("small inputs, stride 1, no padding", 8):
        ...  # compare_with_reference(...), assert_close(...)
    with _checks.part("stride and padding", 6):
        ...
    with _checks.part("float32 inputs", 3):
        ...
    with _checks.part("every device", 3):
        ...
    _checks.score()

A part that fails (a :class:`GradingError` or any other exception while it
runs) costs its own points only; the cell goes on with the next part.  The
cell's last expression, ``_checks.score()``, is the points earned, which
nbgrader reads as the cell's partial credit; the cell prints one line per part
(passed or failed, and why), so the feedback says what cost the points.  When
every part fails, ``score()`` raises :class:`GradingError` instead, with every
reason: the cell shows as failed and scores 0, as before.

:func:`with_names` grades a function with some of the names it uses bound to
other functions, the reference helpers, so that a bug in an earlier exercise
(``im2col``) does not also cost the points of a later one
(``conv_forward_im2col``); :func:`allow` removes those helpers from a forbidden
set for that check.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from . import guard
from .compare import GradingError
from .guard import OutOfTime, _python_code

__all__ = ["Checks", "allow", "with_names"]


class Checks:
    """The named sub-checks of one hidden test cell, each worth its own points.

    Once a part has run out of time, the time limits of the parts after it
    are at most :attr:`AFTER_TIMEOUT_SECONDS`.

    Args:
        what: the exercise, e.g. ``"conv_backward_naive"``; it heads the report.
        points: the cell's points (its nbgrader metadata); the parts must add up to it.
    """

    AFTER_TIMEOUT_SECONDS = 2.0

    def __init__(self, what: str, points: float):
        if points <= 0:
            raise ValueError(f"Checks({what!r}): points must be positive, got {points}")
        self.what = what
        self.points = float(points)
        self._results: list[tuple[str, float, str | None]] = []  # (name, points, failure or None)
        self._timed_out = False

    @contextlib.contextmanager
    def part(self, name: str, points: float) -> Iterator[None]:
        """One sub-check: the block's failure costs ``points`` and is reported under ``name``."""
        if points <= 0:
            raise ValueError(f"{self.what}: part {name!r} must be worth some points, got {points}")
        if any(name == done for done, _, _ in self._results):
            raise ValueError(f"{self.what}: two parts are called {name!r}")
        failure: str | None = None
        cap = guard._LIMIT_CAP[0]
        if self._timed_out:  # one endless loop costs one full time limit, not one per part
            guard._LIMIT_CAP[0] = self.AFTER_TIMEOUT_SECONDS
        try:
            yield
        except GradingError as exc:
            failure = str(exc)
            self._timed_out = self._timed_out or isinstance(exc, OutOfTime)
        except Exception as exc:  # anything the student's result made the check raise
            failure = f"{type(exc).__name__}: {exc}"
        finally:
            guard._LIMIT_CAP[0] = cap
        self._results.append((name, float(points), failure))

    @property
    def earned(self) -> float:
        """Points of the parts that passed so far."""
        return sum(points for _, points, failure in self._results if failure is None)

    def report(self) -> str:
        """One line per part: passed or failed, its points, and why it failed."""
        lines = [f"{self.what}: {self.earned:g} of {self.points:g} points"]
        for name, points, failure in self._results:
            mark = "passed" if failure is None else "FAILED"
            lines.append(f"  {mark} {name} ({points:g} {'point' if points == 1 else 'points'})"
                         + ("" if failure is None else f": {failure}"))
        return "\n".join(lines)

    def score(self) -> float:
        """The points earned, as the cell's last expression; raises when every part failed.

        Raises:
            ValueError: the parts do not add up to the cell's points (a fault of the test, not the student).
            GradingError: no part passed; the message lists every failure.
        """
        total = sum(points for _, points, _ in self._results)
        if abs(total - self.points) > 1e-9:
            raise ValueError(f"{self.what}: the parts add up to {total:g} points, the cell is worth {self.points:g}")
        failures = [(name, failure) for name, _, failure in self._results if failure is not None]
        if len(failures) == len(self._results):
            if len({failure for _, failure in failures}) == 1:  # one cause (e.g. not implemented yet): say it once
                raise GradingError(failures[0][1])
            raise GradingError("; ".join(f"[{name}] {failure}" for name, failure in failures))
        print(self.report())
        return self.earned


def allow(forbidden: Sequence[Callable], *helpers: Callable) -> tuple[Callable, ...]:
    """``forbidden`` without ``helpers`` (matched like :func:`forbid_calls` does: by code object)."""
    codes = {_python_code(h) for h in helpers} - {None}
    return tuple(f for f in forbidden if f not in helpers and (_python_code(f) is None or _python_code(f) not in codes))


@contextlib.contextmanager
def with_names(func: Callable, **names: Any) -> Iterator[None]:
    """Run the block with names of ``func``'s global namespace bound to other objects, then restore them.

    A student's functions live in the notebook's namespace and find each other
    there by name; ``with with_names(conv_forward_im2col, im2col=reference_im2col):``
    makes the student's ``conv_forward_im2col`` use the reference ``im2col``
    inside the block, so it is graded on its own work.  Names the namespace
    did not have are removed again afterwards.

    Args:
        func: a student's function (its ``__globals__`` is the notebook's namespace).
        names: ``name=object`` to bind while the block runs.
    """
    namespace = getattr(func, "__globals__", None)
    if not isinstance(namespace, dict):
        raise GradingError(f"{getattr(func, '__name__', func)!r} is not a function defined in the notebook")
    missing = object()
    saved = {name: namespace.get(name, missing) for name in names}
    namespace.update(names)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is missing:
                namespace.pop(name, None)
            else:
                namespace[name] = old
