"""The integrity guard that runs inside the grading kernel (sent there as source, see ``execute.guard_install_code``).

Before the first cell of a submission runs, :func:`install` takes a snapshot
of everything the hidden tests rely on: ``course_lib`` (every module, class
and function, down to the code objects), ``numpy.testing``, ``torch.testing``,
the attributes of ``torch`` and ``torch.Tensor``, Python's builtins, ``sys``
hooks, and the IPython/ipykernel machinery that reports errors.

Around every graded test cell the grader (outside the sandbox) asks the guard

* **before** the test: put back whatever the notebook replaced (the test then
  runs against the real helpers) and report it; hide the notebook's globals
  that shadow builtins (a global ``zip`` that returns nothing would make a
  test loop zero times) and switch off trace and profile hooks;
* **after** the test: whether the test ran to its last line (a nonce the
  grader appended to the cell), and whether anything was replaced *while* it
  ran, in which case the test's result cannot be trusted.

This is a second line of defence.  The first is the sandbox: nothing a
notebook does reaches other students or the instructor's files.  Code that
runs in the same process as the tests can in principle always interfere
with them; the guard closes the usual ways (monkeypatching, shadowing,
swallowing exceptions) and reports every attempt in the student's log.
"""
from __future__ import annotations

import builtins
import importlib
import json
import pkgutil
import sys
import threading
import types

# Builtins the tests (and the helpers they call) use.
_BUILTIN_NAMES = (
    "abs all any bool callable compile dict enumerate eval exec filter float frozenset getattr globals "
    "hasattr hash id int isinstance issubclass iter len list map max min next object print range repr "
    "reversed round set setattr slice sorted str sum super tuple type vars zip __import__ __build_class__ "
    "AssertionError Exception BaseException TypeError ValueError NotImplementedError StopIteration"
).split()

_THIRD_PARTY = (
    "math", "inspect", "contextlib", "warnings", "io", "signal", "threading", "traceback", "functools",
    "operator", "copy", "numbers", "types", "importlib",
    "numpy", "numpy.testing", "numpy.linalg",
    "torch", "torch.testing", "torch.nn", "torch.nn.functional", "torch.autograd", "torch.autograd.function",
    "torch.overrides", "torch.func", "torch.linalg", "torch.fft",
    "IPython.core.interactiveshell", "IPython.core.displayhook", "IPython.core.displaypub",
    "IPython.core.formatters", "IPython.core.ultratb", "IPython.core.compilerop",
    "ipykernel.kernelbase", "ipykernel.ipkernel", "ipykernel.zmqshell", "ipykernel.iostream",
    "ipykernel.displayhook", "jupyter_client.session",
)
# Modules whose classes are watched too (attributes added to them are removed).
_CLASS_MODULES_PREFIXES = ("course_lib", "IPython.core.", "ipykernel.", "jupyter_client.session")

# (sys.displayhook and sys.excepthook are swapped by IPython around every execution: not watched.)
_SYS_NAMES = ("stdout", "stderr", "stdin", "modules", "meta_path",
              "path_hooks", "settrace", "setprofile", "gettrace", "getprofile", "exc_info", "_getframe",
              "audit", "addaudithook")


def _is_py_function(obj) -> bool:
    return isinstance(obj, types.FunctionType)


class GuardError(Exception):
    """Something the tests rely on could not be checked or put back."""


class _Guard:
    def __init__(self) -> None:
        self.modules: dict[str, types.ModuleType] = {}
        self.module_dicts: dict[str, dict] = {}
        self.strict_modules: set[str] = set()  # attributes added to these are removed
        self.classes: dict[type, dict] = {}
        self.functions: dict[types.FunctionType, tuple] = {}
        self.builtins: dict[str, object] = {}
        self.sys_attrs: dict[str, object] = {}
        self.sys_lists: dict[str, list] = {}
        self.instances: list[tuple[str, object, dict]] = []
        self.ns_baseline: dict[str, object] = {}
        self.threads: set[int] = set()
        self.hidden: dict[str, object] = {}
        self.user_ns: dict | None = None

    # ---------------------------------------------------------------- snapshot

    def _add_module(self, name: str, strict: bool) -> None:
        module = sys.modules.get(name)
        if module is None:
            try:
                module = importlib.import_module(name)
            except Exception:  # an optional module that is not there: nothing to protect
                return
        self.modules[name] = module
        contents = dict(vars(module))
        self.module_dicts[name] = contents
        if strict:
            self.strict_modules.add(name)
        for value in contents.values():
            self._add_function(value)
            if isinstance(value, type) and getattr(value, "__module__", "").startswith(_CLASS_MODULES_PREFIXES):
                self._add_class(value)

    def _add_class(self, cls: type) -> None:
        if cls in self.classes:
            return
        self.classes[cls] = dict(vars(cls))
        for value in vars(cls).values():
            func = getattr(value, "__func__", value)  # staticmethod / classmethod
            self._add_function(func)

    def _add_function(self, func) -> None:
        if _is_py_function(func) and func not in self.functions:
            self.functions[func] = (func.__code__, func.__defaults__, func.__kwdefaults__)

    def install(self) -> str:
        # torch._dynamo rewrites torch's own functions when it is first imported (torch.manual_seed becomes a
        # wrapper), and importing torchvision imports it: a test that imports torchvision would look like
        # tampering.  Importing it before the snapshot lets torch finish changing itself first.
        try:
            import torch._dynamo  # noqa: F401
        except Exception:  # an older or partial torch: nothing it could rewrite
            pass
        import course_lib

        # every module of the library; a package's __main__ is a program (importing it runs it), not a module
        names = ["course_lib"] + sorted(m.name for m in pkgutil.walk_packages(course_lib.__path__, "course_lib.")
                                        if m.name.rpartition(".")[2] != "__main__")
        for name in names:
            self._add_module(name, strict=True)
        for name in _THIRD_PARTY:
            self._add_module(name, strict=False)
        import torch

        self._add_class(torch.Tensor)
        self.builtins = {name: builtins.__dict__[name] for name in _BUILTIN_NAMES if name in builtins.__dict__}
        self.sys_attrs = {name: getattr(sys, name) for name in _SYS_NAMES if hasattr(sys, name)}
        self.sys_lists = {"meta_path": list(sys.meta_path), "path_hooks": list(sys.path_hooks)}
        try:
            shell = get_ipython()  # noqa: F821  (defined inside IPython)
        except NameError:
            shell = None
        if shell is not None:
            self.user_ns = shell.user_ns
            kernel = getattr(shell, "kernel", None)
            for label, obj in (("the IPython shell", shell), ("the kernel", kernel),
                               ("the kernel's session", getattr(kernel, "session", None)),
                               ("the display hook", getattr(shell, "displayhook", None)),
                               ("the display publisher", getattr(shell, "display_pub", None)),
                               ("the display formatter", getattr(shell, "display_formatter", None))):
                if obj is not None:
                    self.instances.append((label, obj, {k: v for k, v in vars(obj).items()
                                                        if _shadows_method(obj, k)}))
                    for cls in type(obj).__mro__:
                        if cls is not object and cls.__module__.startswith(_CLASS_MODULES_PREFIXES):
                            self._add_class(cls)
            # IPython's own globals that shadow builtins (exit, quit, open): not the student's
            self.ns_baseline = {k: v for k, v in self.user_ns.items() if k in builtins.__dict__}
        self.threads = {t.ident for t in threading.enumerate()}
        return f"{len(self.modules)} modules, {len(self.classes)} classes, {len(self.functions)} functions"

    # ---------------------------------------------------------------- check and restore

    def _restore(self) -> list[str]:
        """Undo every change to the snapshot; return what was changed, in words.

        Raises :class:`GuardError` when something could not be checked or put back.
        """
        found: list[str] = []
        errors: list[str] = []
        try:
            for name, module in self.modules.items():
                if sys.modules.get(name) is not module:
                    found.append(f"sys.modules[{name!r}] was replaced")
                    sys.modules[name] = module
                current = vars(module)
                saved = self.module_dicts[name]
                for key, value in saved.items():
                    if key not in current:
                        found.append(f"{name}.{key} was deleted")
                        setattr(module, key, value)
                    elif current[key] is not value:
                        if name in self.strict_modules or _is_py_function(value) or callable(value):
                            found.append(f"{name}.{key} was replaced")
                            setattr(module, key, value)
                if name in self.strict_modules:
                    for key in [k for k in current if k not in saved]:
                        if isinstance(current[key], types.ModuleType):
                            continue  # a submodule imported later
                        found.append(f"{name}.{key} was added")
                        delattr(module, key)
        except Exception as exc:  # a notebook can make almost anything raise
            errors.append(f"{type(exc).__name__}: {exc}")
        try:
            for cls, saved in self.classes.items():
                current = dict(vars(cls))
                for key, value in saved.items():
                    if current.get(key, _MISSING) is not value:
                        found.append(f"{_qualname(cls)}.{key} was {'replaced' if key in current else 'deleted'}")
                        try:
                            setattr(cls, key, value)
                        except (TypeError, AttributeError):
                            pass
                for key in [k for k in current if k not in saved]:
                    found.append(f"{_qualname(cls)}.{key} was added")
                    try:
                        delattr(cls, key)
                    except (TypeError, AttributeError):
                        pass
        except Exception as exc:  # a notebook can make almost anything raise
            errors.append(f"{type(exc).__name__}: {exc}")
        try:
            for func, (code, defaults, kwdefaults) in self.functions.items():
                if func.__code__ is not code or func.__defaults__ is not defaults or func.__kwdefaults__ is not kwdefaults:
                    found.append(f"the code of {func.__module__}.{func.__qualname__} was changed")
                    func.__code__, func.__defaults__, func.__kwdefaults__ = code, defaults, kwdefaults
        except Exception as exc:  # a notebook can make almost anything raise
            errors.append(f"{type(exc).__name__}: {exc}")
        try:
            for name, value in self.builtins.items():
                if builtins.__dict__.get(name, _MISSING) is not value:
                    found.append(f"the builtin {name} was replaced")
                    builtins.__dict__[name] = value
        except Exception as exc:  # a notebook can make almost anything raise
            errors.append(f"{type(exc).__name__}: {exc}")
        try:
            for name, value in self.sys_attrs.items():
                if getattr(sys, name, _MISSING) is not value:
                    found.append(f"sys.{name} was replaced")
                    setattr(sys, name, value)
        except Exception as exc:  # a notebook can make almost anything raise
            errors.append(f"{type(exc).__name__}: {exc}")
        try:
            for name, saved in self.sys_lists.items():
                current = getattr(sys, name)
                if current != saved:
                    found.append(f"sys.{name} was changed")
                    current[:] = saved
        except Exception as exc:  # a notebook can make almost anything raise
            errors.append(f"{type(exc).__name__}: {exc}")
        try:
            for label, obj, baseline in self.instances:
                for key in [k for k in list(vars(obj)) if _shadows_method(obj, k)]:
                    if key in baseline and vars(obj)[key] is baseline[key]:
                        continue
                    found.append(f"{label}'s method {key} was replaced")
                    if key in baseline:
                        setattr(obj, key, baseline[key])
                    else:
                        try:
                            delattr(obj, key)
                        except AttributeError:
                            pass
                for key, value in baseline.items():
                    if key not in vars(obj):
                        found.append(f"{label}'s method {key} was changed")
                        setattr(obj, key, value)
        except Exception as exc:  # a notebook can make almost anything raise
            errors.append(f"{type(exc).__name__}: {exc}")
        try:
            if sys.gettrace() is not None:
                found.append("a trace function was set (sys.settrace)")
                sys.settrace(None)
        except Exception as exc:  # a notebook can make almost anything raise
            errors.append(f"{type(exc).__name__}: {exc}")
        try:
            if sys.getprofile() is not None:
                found.append("a profile function was set (sys.setprofile)")
                sys.setprofile(None)
        except Exception as exc:  # a notebook can make almost anything raise
            errors.append(f"{type(exc).__name__}: {exc}")
        try:
            if getattr(threading, "_trace_hook", None) is not None or getattr(threading, "_profile_hook", None) is not None:
                found.append("a thread trace or profile hook was set")
                threading.settrace(None)
                threading.setprofile(None)
        except Exception as exc:  # a notebook can make almost anything raise
            errors.append(f"{type(exc).__name__}: {exc}")
        try:
            if self.user_ns is not None and self.user_ns.get("__builtins__", builtins) not in (builtins, vars(builtins)):
                found.append("__builtins__ of the notebook was replaced")
                self.user_ns["__builtins__"] = builtins
        except Exception as exc:  # a notebook can make almost anything raise
            errors.append(f"{type(exc).__name__}: {exc}")
        if errors:
            raise GuardError("; ".join(errors[:3]))
        return found

    def before(self, cell: str) -> str:
        try:
            restored = self._restore()
        except GuardError as exc:
            return json.dumps({"error": f"could not restore the snapshot: {exc}"})
        shadowed = []
        if self.user_ns is not None:
            for name in list(self.user_ns):
                if (name in builtins.__dict__ and not name.startswith("_")
                        and self.user_ns[name] is not builtins.__dict__[name]
                        and self.user_ns[name] is not self.ns_baseline.get(name, _MISSING)
                        and not _from_ipython(self.user_ns[name])):
                    self.hidden[name] = self.user_ns.pop(name)
                    shadowed.append(name)
        threads = sorted(t.name for t in threading.enumerate()
                         if t.ident not in self.threads and t.is_alive() and _started_by_notebook(t))
        return json.dumps({"restored": restored, "shadowed": shadowed, "threads": threads})

    def after(self, cell: str, sentinel: str | None = None, nonce: str | None = None) -> str:
        completed = None
        if sentinel is not None and self.user_ns is not None:
            completed = self.user_ns.pop(sentinel, None) == nonce
        try:
            changed = self._restore()
        except GuardError as exc:
            return json.dumps({"completed": completed, "error": f"could not check the snapshot: {exc}"})
        if self.user_ns is not None:
            for name, value in self.hidden.items():
                self.user_ns.setdefault(name, value)
        self.hidden.clear()
        return json.dumps({"completed": completed, "changed": changed})


def reap() -> str:
    """Collect the exit status of the kernel's dead children (the grader killed them): zombies count as processes."""
    import os

    reaped = 0
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        reaped += 1
    return json.dumps({"reaped": reaped})


def memory_error() -> str:
    """Whether the exception IPython reported last came from running out of memory.

    True when its chain as a traceback shows it (``__cause__``, ``__context__``
    unless suppressed, the members of an exception group) holds a ``MemoryError``
    or an ``OSError`` with ``ENOMEM``: a grading helper that re-raises the
    student's error keeps it as the cause.
    """
    import errno

    last = getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)
    stack, seen = [last], set()
    while stack:
        exc = stack.pop()
        if not isinstance(exc, BaseException) or id(exc) in seen:
            continue
        seen.add(id(exc))
        if isinstance(exc, MemoryError) or (isinstance(exc, OSError) and exc.errno == errno.ENOMEM):
            return json.dumps({"memory": type(exc).__name__})
        context = None if exc.__suppress_context__ else exc.__context__  # as a traceback shows the chain
        stack += [exc.__cause__, context, *getattr(exc, "exceptions", ())]
    return json.dumps({"memory": None})


def _started_by_notebook(thread: threading.Thread) -> bool:
    """A thread whose code the notebook defined (not one of IPython's or ipykernel's own)."""
    target = getattr(thread, "_target", None)
    module = getattr(target, "__module__", None) if target is not None else type(thread).__module__
    return module in (None, "__main__", "builtins") or type(thread).__module__ == "__main__"


class _Missing:
    pass


_MISSING = _Missing()


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _from_ipython(value: object) -> bool:
    """IPython's own objects in the namespace (``exit``, ``quit``, its ``open``)."""
    module = getattr(value, "__module__", None) or type(value).__module__
    return module.startswith(("IPython.", "ipykernel."))


def _shadows_method(obj: object, key: str) -> bool:
    """An instance attribute that hides a method of its class (a monkeypatched method)."""
    attr = getattr(type(obj), key, None)
    return callable(attr) and not isinstance(attr, type) and not _is_traitlet(type(obj), key)


def _is_traitlet(cls: type, key: str) -> bool:
    try:
        import traitlets

        return isinstance(getattr(cls, key, None), traitlets.TraitType)
    except ImportError:
        return False


def install(token: str) -> str:
    """Snapshot, and publish the guard under the builtin name ``token`` (known only to the grader)."""
    guard = _Guard()
    summary = guard.install()
    api = types.SimpleNamespace(before=guard.before, after=guard.after, reap=reap, memory_error=memory_error)
    builtins.__dict__[token] = api
    sys.modules.pop(__name__, None)
    return summary
