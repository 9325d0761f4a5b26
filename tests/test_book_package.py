"""course_lib.book is presentation only: importing it is light, and nothing outside it
(the library, the grader) imports it, so no reference result or grade can depend on it."""
import ast
import pathlib
import subprocess
import sys

import pytest

import course_lib.book

pytestmark = pytest.mark.ch1

ROOT = pathlib.Path(course_lib.book.__file__).resolve().parents[2]


def test_package_import_loads_no_submodule_and_no_plotting():
    code = ("import sys, course_lib.book; "
            "print(sorted(m for m in sys.modules if m.startswith(('course_lib.book.', 'matplotlib', "
            "'IPython', 'ipywidgets', 'skimage'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]" and out.stderr == ""


@pytest.mark.parametrize("name", course_lib.book.__all__)
def test_every_submodule_loads_on_first_use(name):
    module = getattr(course_lib.book, name)
    assert module.__name__ == f"course_lib.book.{name}" and module.__all__
    assert name in dir(course_lib.book)


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'tabels'"):
        course_lib.book.tabels  # noqa: B018


def _imports_of(path: pathlib.Path, package: str) -> list[str]:
    """Absolute names of the modules that the file at ``path`` (in ``package``) imports."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[:len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module
            found += [name] + [f"{name}.{alias.name}" for alias in node.names]
    return found


def test_nothing_outside_the_book_package_imports_it():
    offenders = []
    for top in ("course_lib", "course_grade"):
        for path in sorted((ROOT / top).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if relative.parts[:2] == ("course_lib", "book"):
                continue
            parts = relative.with_suffix("").parts
            package = ".".join(parts if parts[-1] == "__init__" else parts[:-1]).removesuffix(".__init__")
            offenders += [f"{relative}: {name}" for name in _imports_of(path, package)
                          if name == "course_lib.book" or name.startswith("course_lib.book.")]
    assert not offenders, "the library imports the book's helpers:\n" + "\n".join(offenders)
