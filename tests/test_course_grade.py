"""``course_grade`` stays apart from the library it grades: it imports neither torch nor ``course_lib``.

The grader runs on machines and in processes (the instructor's shell, Dask
workers, ``nbgrader generate_feedback`` loading ``nbgrader_config.py``) where
loading torch costs seconds and memory for nothing.  Only the code sent into
the student's kernel (the guard) touches ``course_lib``, and the sandbox binds
the ``course_lib`` that kernel's Python imports, found by asking that Python.
The end-to-end behaviour of ``course-grade`` is checked in ``test_grader_hostile.py``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_grade import guard
from course_grade.execute import mentions_out_of_memory
from course_grade.notebooks import find_notebook
from course_grade.sandbox import Limits, Sandbox, SandboxError, SandboxSpec, course_lib_dirs

pytestmark = pytest.mark.grading

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "course_grade"
# every module of the package; __main__ is left out because importing it runs the command
MODULES = ["course_grade"] + sorted(f"course_grade.{p.stem}" for p in PACKAGE.glob("*.py")
                                    if p.stem not in ("__init__", "__main__"))

NO_TORCH_NO_COURSE_LIB = (
    "import sys\n"
    "heavy = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')"
    " or m == 'course_lib' or m.startswith('course_lib.'))\n"
    "assert not heavy, f'loaded: {heavy[:10]}'\n"
)


def fresh_python(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a new interpreter of this environment with this checkout first on the path."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)


def test_every_module_is_listed():
    assert {"course_grade.cli", "course_grade.execute", "course_grade.sandbox", "course_grade.guard",
            "course_grade.pipeline", "course_grade.worker"} <= set(MODULES)


def test_importing_the_grader_loads_neither_torch_nor_course_lib():
    code = f"import {', '.join(MODULES)}\n" + NO_TORCH_NO_COURSE_LIB
    proc = fresh_python(code)
    assert proc.returncode == 0, f"importing {MODULES} loaded the library:\n{proc.stderr[-3000:]}"
    assert proc.stdout == ""
    assert str(REPO / "course_grade") in fresh_python("import course_grade; print(course_grade.__file__)").stdout


def test_nbgrader_config_lists_the_feedback_preprocessors_without_loading_torch():
    code = ("import runpy\nfrom traitlets.config import Config\nc = Config()\n"
            "runpy.run_path('nbgrader_config.py', init_globals={'get_config': lambda: c})\n"
            "print(' '.join(f'{p.__module__}.{p.__name__}' for p in c.GenerateFeedback.preprocessors))\n"
            + NO_TORCH_NO_COURSE_LIB)
    proc = fresh_python(code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    listed = proc.stdout.split()
    assert "course_grade.feedback.RedactHiddenTests" in listed
    assert "course_grade.feedback.GradingSummary" in listed
    assert listed.index("course_grade.feedback.RedactHiddenTests") == listed.index(
        "nbgrader.preprocessors.getgrades.GetGrades") + 1


def fake_course_lib(root: Path) -> Path:
    package = root / "elsewhere" / "course_lib"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("MARK = 'elsewhere'\n")
    return package


def test_the_sandbox_binds_the_course_lib_the_kernel_imports(tmp_path: Path):
    """Found by the kernel's Python with the kernel's environment, not by the grader's import path."""
    package = fake_course_lib(tmp_path)
    spec = SandboxSpec(env={"PYTHONPATH": str(package.parent)}, bwrap="true")
    assert course_lib_dirs(spec) == [str(package.resolve())]
    sandbox = Sandbox(Limits(), spec)
    try:
        command = sandbox.command(["kernel"])
    finally:
        sandbox.cleanup()
    binds = {command[i + 1] for i, arg in enumerate(command) if arg == "--ro-bind"}
    assert str(package.resolve()) in binds
    assert str(REPO / "course_lib") not in binds
    assert str(PACKAGE / "_launcher.py") in binds
    assert str(PACKAGE) not in binds


def test_without_course_lib_the_grader_says_what_to_install():
    """A kernel Python that cannot import course_lib (here: the base installation, outside the environment)."""
    python = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert python.is_file(), f"no base interpreter at {python}"
    with pytest.raises(SandboxError, match=r"cannot import course_lib .*pip install -e"):
        course_lib_dirs(SandboxSpec(python=str(python), env={"PYTHONNOUSERSITE": "1"}))


def last_error(monkeypatch, exc: BaseException) -> dict:
    monkeypatch.setattr(sys, "last_value", exc, raising=False)
    monkeypatch.setattr(sys, "last_exc", exc, raising=False)
    return json.loads(guard.memory_error())


def raised(outer: type[BaseException], inner: BaseException, chained: bool) -> BaseException:
    try:
        try:
            raise inner
        except BaseException as exc:
            if chained:
                raise outer(f"f(2, 0) raised {type(exc).__name__}") from exc
            raise outer("f(2, 0) failed") from None
    except BaseException as exc:
        return exc


def test_memory_errors_are_recognised_by_their_type_also_when_wrapped(monkeypatch):
    assert last_error(monkeypatch, MemoryError())["memory"] == "MemoryError"
    assert last_error(monkeypatch, raised(AssertionError, MemoryError(), chained=True))["memory"] == "MemoryError"
    assert last_error(monkeypatch, OSError(12, os.strerror(12)))["memory"] == "OSError"
    group = ExceptionGroup("workers", [ValueError("x"), MemoryError()])
    assert last_error(monkeypatch, group)["memory"] == "MemoryError"
    assert last_error(monkeypatch, raised(AssertionError, ValueError("MemoryError"), chained=True))["memory"] is None
    assert last_error(monkeypatch, raised(AssertionError, MemoryError(), chained=False))["memory"] is None


def test_the_text_fallback_matches_only_out_of_memory_messages():
    torch_cpu = ("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you "
                 "tried to allocate 34359738368 bytes. Error code 12 (Cannot allocate memory)")
    assert mentions_out_of_memory({"ename": "RuntimeError", "evalue": torch_cpu})
    assert mentions_out_of_memory({"ename": "GradingError", "evalue": f"f(x) raised RuntimeError: {torch_cpu}"})
    assert mentions_out_of_memory({"ename": "_ArrayMemoryError", "evalue": "Unable to allocate 64.0 GiB"})
    assert not mentions_out_of_memory({"ename": "ValueError", "evalue": "memory layout must be contiguous"})


def test_a_renamed_notebook_is_found_by_the_grade_ids_in_its_cell_metadata(tmp_path: Path):
    def notebook(*ids: str, text: str = "") -> nbformat.NotebookNode:
        cells = [nbformat.v4.new_code_cell("pass", metadata={"nbgrader": {"grade_id": i, "grade": False}})
                 for i in ids]
        return nbformat.v4.new_notebook(cells=cells + [nbformat.v4.new_markdown_cell(text)])

    release = notebook("a", "b", "c")
    # grade ids quoted in a cell's text are not cells of the assignment
    nbformat.write(notebook(text='{"grade_id": "a", "grade_id": "b", "grade_id": "c"}'), tmp_path / "notes.ipynb")
    nbformat.write(notebook("a", "b"), tmp_path / "my copy.ipynb")
    (tmp_path / "broken.ipynb").write_text('{"cells": [{"metadata": {"nbgrader": {"grade_id": "a"')
    found, notes = find_notebook(tmp_path, "assignment", release, set())
    assert found == tmp_path / "my copy.ipynb", notes
