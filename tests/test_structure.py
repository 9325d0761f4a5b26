"""The shape of course_lib itself: its import graph, its layering, its pairs and its docstrings.

* The modules of course_lib import each other without a cycle (imports parsed with ``ast``).
* The library never imports the presentation (``course_lib.book``), the hidden-test helpers
  (``course_lib.grading``) or the grader (``course_grade``, today ``course_lib.grader``);
  those may import the library, never the reverse.
* Every ``*_forward`` of ``course_lib.functional`` has its ``*_backward``.
* Every public function of the library documents the shape of each tensor argument: a
  docstring line that names the argument also gives a parenthesised shape starting with
  a dimension (``x: (N, C, H, W)``, ``b (F,)``) or says ``any shape``.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

import course_lib
import course_lib.functional as cf

ROOT = Path(course_lib.__file__).parent
#: not the library: the presentation (course_lib.book), the hidden-test helpers and the grader
#: (they may import the library, not the reverse)
OUTSIDE = ("course_lib.book", "course_lib.grading", "course_grade")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _is_outside(name: str) -> bool:
    return any(name == o or name.startswith(o + ".") for o in OUTSIDE)


LIBRARY = sorted(m for m in MODULES if not _is_outside(m))


def _imports(module: str) -> set[str]:
    """Every module (course_lib's or not) that ``module`` imports anywhere in its source."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:  # `from pkg import mod` imports the module pkg.mod
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return found


GRAPH = {m: {i for i in _imports(m) if i in MODULES and i != m} for m in MODULES}


def test_the_import_graph_has_no_cycle():
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == "open":
                cycle = path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt]
                pytest.fail(f"import cycle: {' -> '.join(cycle)}")
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])


@pytest.mark.parametrize("module", LIBRARY)
def test_the_library_imports_no_presentation_grading_or_grader(module):
    bad = sorted(i for i in _imports(module) if _is_outside(i))
    assert not bad, f"{module} imports {bad}; only course_lib.book/grading/course_grade may import the library"


def test_import_course_lib_stays_light():
    import subprocess
    import sys

    code = "import sys, course_lib; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False", "import course_lib imported torch"


def test_every_forward_has_its_backward():
    forwards = [n for n in cf.__all__ if "_forward" in n]
    assert forwards
    # a naive forward may share the vectorised backward (same cache) or have a naive twin of it
    missing = [n for n in forwards if n.replace("_forward", "_backward") not in cf.__all__
               and n.replace("_forward_naive", "_backward") not in cf.__all__]
    assert not missing, f"forward without backward in course_lib.functional: {missing}"


SHAPE = re.compile(r"\((?:[A-Z0-9*]|\.\.\.)[^)]*\)|any shape|shape of|shaped like")


def _tensor_parameters(fn) -> list[str]:
    return [name for name, p in inspect.signature(fn).parameters.items()
            if "Tensor" in str(p.annotation) and not re.search("Sequence|Callable", str(p.annotation))]


def _public_functions():
    for module in LIBRARY:
        mod = importlib.import_module(module)
        for name in getattr(mod, "__all__", ()):
            obj = getattr(mod, name)
            if inspect.isfunction(obj) and obj.__module__ == module:
                yield pytest.param(obj, id=f"{module}.{name}")


@pytest.mark.parametrize("fn", list(_public_functions()))
def test_docstrings_give_the_shape_of_every_tensor_argument(fn):
    doc = inspect.getdoc(fn) or ""
    assert doc, f"{fn.__module__}.{fn.__name__} has no docstring"
    for name in _tensor_parameters(fn):
        lines = [line for line in doc.splitlines() if re.search(rf"\b{name}\b", line)]
        assert any(SHAPE.search(line) for line in lines), (
            f"{fn.__module__}.{fn.__name__}: the docstring does not give the shape of tensor argument {name!r} "
            f"(a line naming it with a shape such as '(N, C, H, W)' or 'any shape')")
