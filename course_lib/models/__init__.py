"""Network architectures of the course, behind one registry.

Each family lives in its own module of this package (``lenet``, ``alexnet``, ``vgg``,
``inception``, ``resnet``, ``text``, ``alphago``, ...) and registers its builders with
:func:`register_model`.  The registry discovers the modules of the package itself, so a
new family adds one file and nothing else::

    >>> from course_lib.models import list_models, get_model
    >>> net = get_model("lenet5", num_classes=10)

Every builder returns a ``torch.nn.Module`` with random weights: nothing is downloaded.
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Callable

__all__ = ["register_model", "list_models", "get_model"]

_REGISTRY: dict[str, Callable] = {}
_LOADED = False


def register_model(name: str | None = None) -> Callable[[Callable], Callable]:
    """Decorator: register ``builder(**kwargs) -> nn.Module`` under ``name``
    (default: the builder's own name).  Registering a name twice is an error."""

    def decorate(builder: Callable) -> Callable:
        key = name or builder.__name__
        if key in _REGISTRY and _REGISTRY[key] is not builder:
            raise ValueError(f"model name {key!r} is registered twice "
                             f"({_REGISTRY[key].__module__} and {builder.__module__})")
        _REGISTRY[key] = builder
        return builder

    return decorate


def _load_families() -> None:
    """Import every module of this package once, so that each registers its builders."""
    global _LOADED
    if not _LOADED:
        for info in pkgutil.iter_modules(__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{__name__}.{info.name}")
        _LOADED = True


def list_models() -> list[str]:
    """The registered model names, sorted."""
    _load_families()
    return sorted(_REGISTRY)


def get_model(name: str, **kwargs) -> "torch.nn.Module":  # noqa: F821 (torch loads with the families)
    """Build the registered model ``name`` with random weights; ``kwargs`` go to its builder."""
    _load_families()
    try:
        builder = _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no model named {name!r}; registered models: {', '.join(sorted(_REGISTRY))}") from None
    return builder(**kwargs)
