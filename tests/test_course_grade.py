"""``course_grade`` stays apart from the library it grades: it imports neither torch nor ``course_lib``.

The grader runs on machines and in processes (the instructor's shell, Dask
workers, ``nbgrader generate_feedback`` loading ``nbgrader_config.py``) where
loading torch costs seconds and memory for nothing.  Only the code sent into
the student's kernel (the guard) touches ``course_lib``, and the sandbox binds
the ``course_lib`` that kernel's Python imports, found by asking that Python.
The end-to-end behaviour of ``course-grade`` is checked in ``test_grader_hostile.py``.
"""
from __future__ import annotations

import copy
import csv
import json
import os
import shutil
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


# ---------------------------------------------------------------- written answers graded by hand

def _tiny_source() -> nbformat.NotebookNode:
    """An assignment with one function, its test and one written answer graded by hand (5 + 5 points)."""
    def meta(grade_id: str, *, grade=False, solution=False, locked=False, points=None) -> dict:
        nbgrader = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
                    "solution": solution, "task": False}
        return {"nbgrader": nbgrader if points is None else {**nbgrader, "points": points}}

    return nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import math", metadata=meta("imports", locked=True)),
        nbformat.v4.new_code_cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
                                  metadata=meta("double", solution=True)),
        nbformat.v4.new_code_cell("assert double(3) == 6, 'double(3) should be 6'",
                                  metadata=meta("test_double", grade=True, locked=True, points=5)),
        nbformat.v4.new_markdown_cell("### Why double? (5 points, graded by hand)"),
        nbformat.v4.new_markdown_cell("### BEGIN SOLUTION\nA model answer.\n### END SOLUTION",
                                      metadata=meta("why", grade=True, solution=True, points=5)),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})


def _cli(course: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-m", *args], cwd=course, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, f"`{' '.join(args)}` failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _page(course: Path, student: str) -> dict:
    """The feedback page: its grading summary (test cell -> (points, result, message)) and its visible text."""
    import html
    import re

    text = (course / "feedback" / student / "tiny" / "tiny.html").read_text()
    rows = re.findall(r"<tr>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*</tr>", text, re.S)
    summary = {html.unescape(row[0]): tuple(html.unescape(c).strip() for c in row[1:]) for row in rows}
    return {"summary": summary, "text": html.unescape(re.sub(r"<[^>]+>", "", text))}


@pytest.fixture(scope="module")
def hand_graded_course(tmp_path_factory) -> dict:
    """``course-grade``, then grades by hand, then a re-grade of one student, feedback again, export again."""
    from nbgrader.api import Gradebook

    from course_grade.gradebook import grade_by_hand

    course = tmp_path_factory.mktemp("hand") / "course"
    (course / "solutions" / "tiny").mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", course / "nbgrader_config.py")
    nbformat.write(_tiny_source(), course / "solutions" / "tiny" / "tiny.ipynb")
    _cli(course, "nbgrader", "generate_assignment", "tiny", "--force")
    release = nbformat.read(course / "assignments" / "tiny" / "tiny.ipynb", as_version=4)
    for student, code in (("alice", "def double(x):\n    return x + x"), ("bob", "def double(x):\n    return x")):
        nb = copy.deepcopy(release)
        nb.cells[1].source = code
        nb.cells[4].source = f"{student}'s answer: doubling is what the exercise asks."
        (course / "submitted" / student / "tiny").mkdir(parents=True)
        nbformat.write(nb, course / "submitted" / student / "tiny" / "tiny.ipynb")

    grading = ("course_grade", "tiny", "--workers", "1", "--no-progress")
    _cli(course, *grading)
    out = course / "grading" / "tiny"
    first = {"state": json.loads((out / "state" / "alice.json").read_text()),
             "log": (out / "logs" / "alice.log").read_text(), "page": _page(course, "alice"),
             "json": json.loads((out / "grades.json").read_text())}

    db = f"sqlite:///{course / 'gradebook.db'}"
    entered = {"alice": (4.0, "Right, and say why it matters."), "bob": (1.0, "Only half an argument.")}
    with Gradebook(db) as gb:
        for student, (score, comment) in entered.items():
            grade_by_hand(gb, "tiny", "tiny", student, "why", score, comment)
        with pytest.raises(ValueError, match=r"score 6 .* outside 0 \.\. 5"):
            grade_by_hand(gb, "tiny", "tiny", "bob", "why", 6)

    _cli(course, *grading, "--force", "--student", "alice")      # alice is graded again
    _cli(course, "nbgrader", "generate_feedback", "tiny", "--force")  # bob's page shows the grade by hand
    _cli(course, *grading, "--no-feedback")                          # skips both, exports again
    with Gradebook(db) as gb:
        kept = {s: (gb.find_grade("why", "tiny", "tiny", s).manual_score,
                    gb.find_comment("why", "tiny", "tiny", s).manual_comment) for s in entered}
    with open(out / "grades.csv", newline="") as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    return {"first": first, "entered": entered, "kept": kept, "rows": rows,
            "json": json.loads((out / "grades.json").read_text()),
            "pages": {s: _page(course, s) for s in entered}}


def test_course_grade_leaves_written_answers_to_the_instructor(hand_graded_course: dict):
    first = hand_graded_course["first"]
    why = first["state"]["cells"]["why"]
    assert (why["passed"], why["needs_manual_grade"], why["message"]) == (None, True, "to be graded by hand")
    assert first["state"]["cells"]["test_double"]["passed"] is True
    assert "hand why:" in first["log"] and "FAIL why" not in first["log"]
    assert first["page"]["summary"]["why"] == ("/ 5", "to be graded by hand", ""), first["page"]["summary"]
    alice = next(s for s in first["json"]["students"] if s["student_id"] == "alice")
    assert alice["cells"]["why"]["message"] == "to be graded by hand" and alice["needs_manual_grade"]


def test_course_grade_keeps_grades_by_hand_when_grading_again(hand_graded_course: dict):
    assert hand_graded_course["kept"] == hand_graded_course["entered"]


def test_course_grade_exports_grades_by_hand(hand_graded_course: dict):
    rows, entered = hand_graded_course["rows"], hand_graded_course["entered"]
    assert (float(rows["alice"]["why"]), float(rows["alice"]["score"])) == (4.0, 5.0 + 4.0)
    assert (float(rows["bob"]["why"]), float(rows["bob"]["score"])) == (1.0, 0.0 + 1.0)
    students = {s["student_id"]: s for s in hand_graded_course["json"]["students"]}
    for student, (score, comment) in entered.items():
        why = students[student]["cells"]["why"]
        assert (why["score"], why["comment"], why["message"], why["passed"]) == (score, comment, "graded by hand", None)


def test_feedback_shows_grades_and_comments_by_hand(hand_graded_course: dict):
    """alice's page written by ``course-grade`` when it graded her again, bob's by ``nbgrader generate_feedback``."""
    for student, (score, comment) in hand_graded_course["entered"].items():
        page = hand_graded_course["pages"][student]
        assert page["summary"]["why"] == (f"{score:g} / 5", "graded by hand", comment), page["summary"]
        assert f"Written response (Score: {score} / 5.0)" in page["text"] and f"Comments: {comment}" in page["text"]
