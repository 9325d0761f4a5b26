"""The pairs of :data:`~course_lib.nn.pairs.PAIRS` as ``torch.autograd.Function`` s and
differentiable functions.

:func:`function_from_pair` wraps a forward/backward pair once into a
``torch.autograd.Function``: the same code then trains real networks and is checked by
``torch.autograd.gradcheck``.  For every row of the table this module defines

* ``<Title>Function`` (``Conv2dFunction``), whose ``apply`` takes the tensors and then
  the options, all positionally (``Function.apply`` accepts no keywords);
* ``<name>`` (``conv2d``), the functional form: the forward's signature with every option
  positional-or-keyword, e.g. ``conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1)``.

The functional forms are compiled from a two-line template, as ``collections.namedtuple``
builds its classes, so that each has its own signature and code object (``help`` shows
the real arguments, and the graders can forbid each one by name).
"""
from __future__ import annotations

import inspect
from typing import Callable

import torch

from .pairs import PAIRS, PairSpec

__all__ = ["function_from_pair"]


def function_from_pair(forward: Callable, backward: Callable, name: str, *, tensors: tuple[str, ...] = (),
                       options: tuple[str, ...] = ()) -> type[torch.autograd.Function]:
    """Make a ``torch.autograd.Function`` from ``forward(*tensors, **options) -> (out, cache)``
    and ``backward(dout, cache) -> grad or tuple of grads`` (``out``, ``dout``: any shape the pair defines).

    ``apply`` takes the arguments positionally: first the tensors (``tensors`` names them,
    e.g. ``("x", "w", "b")``), then the options in the order of ``options``, which are
    passed to ``forward`` by keyword.  With ``options=()`` every argument goes to
    ``forward`` positionally.  The backward returns one gradient per leading tensor; the
    remaining arguments get ``None``.
    """
    n_tensors = len(tensors)

    def fn_forward(ctx, *args):
        if options:
            out, cache = forward(*args[:n_tensors], **dict(zip(options, args[n_tensors:])))
        else:
            out, cache = forward(*args)
        ctx.cache = cache
        ctx.n_args = len(args)
        return out

    def fn_backward(ctx, dout):
        grads = backward(dout.contiguous(), ctx.cache)
        if not isinstance(grads, tuple):
            grads = (grads,)
        return grads + (None,) * (ctx.n_args - len(grads))

    return type(name, (torch.autograd.Function,), {
        "forward": staticmethod(fn_forward),
        "backward": staticmethod(fn_backward),
        "__doc__": f"autograd Function built from {forward.__name__} / {backward.__name__}.",
        "__module__": __name__,
    })


def _signature(spec: PairSpec) -> inspect.Signature:
    """The forward's signature, every argument positional-or-keyword, with the table's defaults."""
    params = []
    for p in inspect.signature(spec.forward).parameters.values():
        default = spec.defaults.get(p.name, p.default)
        params.append(p.replace(kind=inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default))
    return inspect.Signature(params)


def _functional_form(spec: PairSpec, function: type[torch.autograd.Function]) -> Callable:
    """Compile ``def <name>(<arguments>): return <Function>.apply(<arguments>)``."""
    signature = _signature(spec)
    names = list(signature.parameters)
    if names != [*spec.tensors, *spec.options]:
        raise TypeError(f"PAIRS[{spec.name!r}]: tensors + options {[*spec.tensors, *spec.options]} must list "
                        f"the arguments of {spec.forward.__name__} in order, {names}")
    defaults = {p.name: p.default for p in signature.parameters.values() if p.default is not p.empty}
    arguments = ", ".join(f"{n}=_defaults[{n!r}]" if n in defaults else n for n in names)
    source = f"def {spec.name}({arguments}):\n    return _apply({', '.join(names)})\n"
    namespace = {"_apply": function.apply, "_defaults": defaults}
    exec(compile(source, __file__, "exec"), namespace)  # noqa: S102 - a fixed template, names from the table
    fn = namespace[spec.name]
    fn.__module__, fn.__qualname__ = __name__, spec.name
    fn.__annotations__ = {k: v for k, v in spec.forward.__annotations__.items() if k in names}
    forward_doc = inspect.getdoc(spec.forward) or ""
    fn.__doc__ = (f"Differentiable :func:`~course_lib.functional.{spec.forward.__name__}` "
                  f"(backward: :func:`~course_lib.functional.{spec.backward.__name__}`); returns ``out`` only.\n\n"
                  f"{forward_doc}")
    return fn


for _spec in PAIRS:
    _function = function_from_pair(_spec.forward, _spec.backward, f"{_spec.title}Function",
                                   tensors=_spec.tensors, options=_spec.options)
    globals()[_function.__name__] = _function
    globals()[_spec.name] = _functional_form(_spec, _function)
    __all__ += [_function.__name__, _spec.name]
del _spec, _function
