"""The grading pipeline end to end, with the real nbgrader commands.

A temporary course directory gets the repository's ``nbgrader_config.py`` and
``solutions/``; there the test runs ``generate_assignment``, puts six
submissions into ``submitted/``, grades them all in one ``autograde`` call, then
runs ``generate_feedback`` and ``export``.  The repository's own gradebook and
folders are never touched.

The submissions:

* ``reference``: the release with the solution code filled in: full marks;
* ``blank``: the untouched release: 0, and autograde does not crash;
* ``raises_one``: ``mul_backward`` raises: only the cells that use it score 0;
* ``eq_cheat``: two functions return objects that claim to equal anything: 0 there;
* ``calls_reference``: one function returns course_lib's result, one lets
  ``torch.autograd`` do the backward: 0 there (and where they are used);
* ``warns``: correct, but every function warns and prints to stderr: full marks.
"""
from __future__ import annotations

import ast
import csv
import html
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.grading

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "ch1_backprop"
NOTEBOOK = "ch1_backprop"  # the notebook's name without .ipynb
SOURCE = REPO / "solutions" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
RELEASE = REPO / "assignments" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
BIN = Path(sys.executable).parent  # the environment that runs the tests also runs nbgrader and its kernels

MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")

# ---------------------------------------------------------------- the submissions

RAISES_ONE = {
    "mul_backward": '''

def mul_backward(dout, x, y):
    raise ValueError("oops")
''',
}

EQ_CHEAT = {
    "relative_error": '''

class LyingFloat(float):
    """A float that compares equal to (and smaller than) anything."""

    def __eq__(self, other):
        return True

    __le__ = __lt__ = __ge__ = __gt__ = __eq__

    def __ne__(self, other):
        return False

    __hash__ = float.__hash__


def relative_error(a, b):
    return LyingFloat(123.0)
''',
    "numerical_gradient_array": '''

class AlwaysEqual:
    """Claims to equal anything, elementwise or not."""

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def allclose(self, *args, **kwargs):
        return True


def numerical_gradient_array(f, x, dout, h=1e-5):
    return AlwaysEqual()
''',
}

CALLS_REFERENCE = {
    "relative_error": '''

def relative_error(a, b):
    from course_lib.gradcheck import relative_error as reference_relative_error
    return reference_relative_error(a, b)
''',
    "affine": '''

def affine_backward(dout, cache):
    x, w, b = cache
    x, w, b = (t.detach().clone().requires_grad_(True) for t in (x, w, b))
    out = x.reshape(x.shape[0], -1) @ w + b
    return torch.autograd.grad(out, (x, w, b), dout)
''',
}

NOISY = '''

import functools as _functools
import sys as _sys
import warnings as _warnings

print("a solution cell that writes to stderr", file=_sys.stderr)


def _noisy(func):
    @_functools.wraps(func)
    def wrapper(*args, **kwargs):
        _warnings.warn(f"{func.__name__}: a warning from the student's code")
        _warnings.warn(f"{func.__name__} is deprecated", DeprecationWarning)
        print(f"{func.__name__}: debugging output", file=_sys.stderr)
        torch.tensor(torch.zeros(1))  # torch's own UserWarning about copy-constructing a tensor
        return func(*args, **kwargs)
    return wrapper
'''


def solution_code(source: nbformat.NotebookNode) -> dict[str, str]:
    """grade_id -> code of each solution cell of the source notebook, without the markers."""
    codes = {}
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("solution"):
            lines = [line for line in cell.source.splitlines() if line.strip() not in MARKERS]
            codes[meta["grade_id"]] = "\n".join(lines)
    return codes


def defined_functions(code: str) -> list[str]:
    return [node.name for node in ast.parse(code).body if isinstance(node, ast.FunctionDef)]


def submission(release: nbformat.NotebookNode, codes: dict[str, str] | None,
               extra: dict[str, str] | None = None, noisy: bool = False) -> nbformat.NotebookNode:
    """The release with its solution cells filled from ``codes`` (None: left blank), plus ``extra`` code."""
    nb = nbformat.from_dict(release)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if not (cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution")):
            continue
        code = codes[grade_id] if codes is not None else cell.source
        code += (extra or {}).get(grade_id, "")
        if noisy:
            wraps = "".join(f"{name} = _noisy({name})\n" for name in defined_functions(code))
            code += NOISY + "\n\n" + wraps
        cell.source = code
    return nb


# ---------------------------------------------------------------- expected results

def graded_cells(source: nbformat.NotebookNode) -> dict[str, float]:
    """grade_id -> points of every autograder test cell."""
    return {cell.metadata.nbgrader.grade_id: float(cell.metadata.nbgrader.points)
            for cell in source.cells
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade")}


GATES_USED_BY_GRAPH = {"test_gate_graph_visible", "test_gate_graph_hidden"}
STUDENTS = {
    # student: (how to build the submission, test cells expected to score 0, phrases the failures must show)
    "reference": (dict(), set(), ()),
    "blank": (dict(blank=True), "all", ("is not implemented yet",)),
    "raises_one": (dict(extra=RAISES_ONE), {"test_gates_visible", "test_mul_backward"} | GATES_USED_BY_GRAPH,
                   ("raised ValueError: oops",)),
    "eq_cheat": (dict(extra=EQ_CHEAT),
                 {"test_relative_error_visible", "test_relative_error_hidden",
                  "test_numerical_gradient_visible", "test_numerical_gradient_hidden"},
                 ("should be a torch.Tensor (or a number), but it is a __main__.LyingFloat",
                  "should be a torch.Tensor (or a number), but it is a __main__.AlwaysEqual")),
    "calls_reference": (dict(extra=CALLS_REFERENCE),
                        {"test_relative_error_visible", "test_relative_error_hidden",
                         "test_affine_visible", "test_affine_hidden",
                         "test_two_layer_visible", "test_two_layer_hidden"},
                        ("calls course_lib.gradcheck.relative_error", "calls torch.autograd.grad")),
    "warns": (dict(noisy=True), set(), ()),
}


# ---------------------------------------------------------------- running nbgrader

def run_nbgrader(course: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run ``nbgrader *args`` in ``course`` with this environment's bin first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    # The kernel imports the course_lib of this checkout, and no user configuration leaks in.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["JUPYTER_CONFIG_DIR"] = str(course / ".jupyter-config")
    env["IPYTHONDIR"] = str(course / ".ipython")
    executable = BIN / "nbgrader"
    command = [str(executable)] if executable.exists() else [sys.executable, "-m", "nbgrader"]
    proc = subprocess.run(command + list(args), cwd=course, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f"`nbgrader {' '.join(args)}` failed with exit status {proc.returncode}\n"
                    f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-8000:]}")
    return proc


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A temporary course directory with the repository's config and sources, and a fresh release."""
    root = tmp_path_factory.mktemp("course")
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(REPO / "solutions" / ASSIGNMENT, root / "solutions" / ASSIGNMENT)
    run_nbgrader(root, "generate_assignment", ASSIGNMENT, "--force")
    return root


@pytest.fixture(scope="module")
def graded(course: Path) -> dict:
    """Submit every test student, autograde them in one call, generate feedback and export the grades."""
    source = nbformat.read(course / "solutions" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    release = nbformat.read(course / "assignments" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    codes = solution_code(source)
    for student, (build, _, _) in STUDENTS.items():
        nb = submission(release, None if build.get("blank") else codes, build.get("extra"), build.get("noisy", False))
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{NOTEBOOK}.ipynb")

    start = time.perf_counter()
    autograde = run_nbgrader(course, "autograde", ASSIGNMENT)
    seconds = time.perf_counter() - start
    run_nbgrader(course, "generate_feedback", ASSIGNMENT)
    run_nbgrader(course, "export")

    from nbgrader.api import Gradebook

    cells: dict[str, dict[str, tuple[float, float]]] = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in STUDENTS:
            submitted = gb.find_submission_notebook(NOTEBOOK, ASSIGNMENT, student)
            cells[student] = {grade.name: (grade.score, grade.max_score) for grade in submitted.grades}
    with open(course / "grades.csv", newline="") as f:
        export = {row["student_id"]: row for row in csv.DictReader(f)}
    return {"source": source, "cells": cells, "export": export, "autograde_seconds": seconds,
            "autograde_log": autograde.stderr}


# ---------------------------------------------------------------- the release

def _comparable(nb: nbformat.NotebookNode) -> list[tuple]:
    return [(cell.get("id"), cell.cell_type, cell.source, cell.metadata) for cell in nb.cells]


def test_source_and_release_notebooks_have_no_outputs():
    for path in (SOURCE, RELEASE):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, (
                    f"{path.relative_to(REPO)}: cell {cell.get('id')} has outputs; strip them before committing")


def test_release_matches_a_fresh_generate_assignment(course: Path):
    fresh_dir = course / "assignments" / ASSIGNMENT
    committed_dir = REPO / "assignments" / ASSIGNMENT
    hint = ("assignments/ is out of date with solutions/: run `make assignments` "
            f"(nbgrader generate_assignment {ASSIGNMENT} --force) and commit the result")
    fresh_files = sorted(p.relative_to(fresh_dir).as_posix() for p in fresh_dir.rglob("*") if p.is_file())
    committed_files = sorted(p.relative_to(committed_dir).as_posix() for p in committed_dir.rglob("*") if p.is_file())
    assert committed_files == fresh_files, f"{hint}: files differ"
    for name in fresh_files:
        if not name.endswith(".ipynb"):
            assert (fresh_dir / name).read_bytes() == (committed_dir / name).read_bytes(), f"{hint}: {name} differs"
            continue
        fresh = nbformat.read(fresh_dir / name, as_version=4)
        committed = nbformat.read(committed_dir / name, as_version=4)
        assert committed.metadata == fresh.metadata, f"{hint}: notebook metadata of {name} differs"
        fresh_cells, committed_cells = _comparable(fresh), _comparable(committed)
        assert len(committed_cells) == len(fresh_cells), f"{hint}: {name} has a different number of cells"
        for i, (want, got) in enumerate(zip(fresh_cells, committed_cells)):
            assert got == want, f"{hint}: cell {i} ({want[0]}) of {name} differs"


def test_release_hides_solutions_and_hidden_tests():
    text = RELEASE.read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "_reference."):
        assert marker not in text, f"the release still contains {marker!r}"


def test_points_add_up_to_100():
    source = nbformat.read(SOURCE, as_version=4)
    assert sum(graded_cells(source).values()) == 100


# ---------------------------------------------------------------- grading

def _expected_zero(student: str, cells: dict[str, float]) -> set[str]:
    zero = STUDENTS[student][1]
    zero = set(cells) if zero == "all" else zero
    assert zero <= set(cells), f"unknown test cells {sorted(zero - set(cells))}: update STUDENTS"
    return zero


@pytest.mark.parametrize("student", list(STUDENTS))
def test_scores_per_cell(graded: dict, student: str):
    cells = graded_cells(graded["source"])
    zero = _expected_zero(student, cells)
    got = graded["cells"][student]
    for cell, points in cells.items():
        score, max_score = got[cell]
        assert max_score == points
        want = 0.0 if cell in zero else points
        assert score == want, f"{student}: {cell} scored {score} of {points}, expected {want}"


@pytest.mark.parametrize("student", list(STUDENTS))
def test_exported_totals(graded: dict, student: str):
    cells = graded_cells(graded["source"])
    zero = _expected_zero(student, cells)
    row = graded["export"][student]
    assert float(row["max_score"]) == 100.0
    assert float(row["score"]) == sum(points for cell, points in cells.items() if cell not in zero)


@pytest.mark.parametrize("student", [s for s, (_, _, phrases) in STUDENTS.items() if phrases])
def test_failures_say_what_is_wrong(course: Path, graded: dict, student: str):
    nb = nbformat.read(course / "autograded" / student / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    errors = [f"{out.ename}: {out.evalue}" for cell in nb.cells if cell.cell_type == "code"
              for out in cell.outputs if out.output_type == "error"]
    assert errors, f"{student}: no test failed"
    assert all(e.startswith("GradingError: ") for e in errors), (
        f"{student}: a test failed with something other than a GradingError: {errors}")
    text = "\n".join(errors)
    for phrase in STUDENTS[student][2]:
        assert phrase in text, f"{student}: no failure message says {phrase!r}; messages:\n{text}"


def test_autograde_time_per_submission(graded: dict):
    per_submission = graded["autograde_seconds"] / len(STUDENTS)
    print(f"\nautograde: {graded['autograde_seconds']:.1f} s for {len(STUDENTS)} submissions, "
          f"{per_submission:.1f} s each")
    assert per_submission < 60, f"grading one submission takes {per_submission:.0f} s"


# ---------------------------------------------------------------- feedback

def _visible_text(html_text: str) -> str:
    """The text a reader of the HTML sees (tags dropped, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", "", html_text))


def _hidden_lines(source: nbformat.NotebookNode, release_text: str) -> list[str]:
    """Distinctive lines from inside the hidden-test regions (none of them appears in the release)."""
    lines, inside = [], False
    for cell in source.cells:
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and len(line.strip()) >= 25 and line.strip() not in release_text:
                lines.append(line.strip())
    return lines


@pytest.mark.parametrize("student", list(STUDENTS))
def test_feedback_exists_without_hidden_tests(course: Path, graded: dict, student: str):
    page = course / "feedback" / student / ASSIGNMENT / f"{NOTEBOOK}.html"
    assert page.is_file(), f"no feedback for {student}"
    text = _visible_text(page.read_text())
    # The search finds code when it is there: a line of a visible test is in every feedback page.
    assert 'assert_close(dx, 2.0, what="add_backward: dx")' in text
    release = nbformat.read(RELEASE, as_version=4)
    hidden = _hidden_lines(graded["source"], "\n".join(cell.source for cell in release.cells))
    assert len(hidden) > 50
    leaked = [line for line in hidden if line in text]
    assert not leaked, f"the feedback of {student} shows hidden tests, e.g. {leaked[:3]}"
    if student == "raises_one":
        assert "mul_backward(2, 3, -4) raised ValueError: oops" in text, "the feedback should show the failure message"


# ---------------------------------------------------------------- helpers the hidden tests rely on

def _backward_through_tensor(x):
    x = x.clone().requires_grad_(True)
    (x * x).sum().backward()
    return x.grad


def _backward_through_autograd_backward(x):
    import torch
    x = x.clone().requires_grad_(True)
    torch.autograd.backward((x * x).sum())
    return x.grad


def _backward_through_autograd_grad(x):
    import torch
    x = x.clone().requires_grad_(True)
    return torch.autograd.grad((x * x).sum(), x)[0]


def _backward_through_func_grad(x):
    import torch
    return torch.func.grad(lambda t: (t * t).sum())(x)


@pytest.mark.parametrize("student", [_backward_through_tensor, _backward_through_autograd_backward,
                                     _backward_through_autograd_grad, _backward_through_func_grad])
def test_every_way_into_autograd_is_detected(student):
    import torch
    from course_lib.grading import GradingError, autograd_entry_points, call_student

    with pytest.raises(GradingError, match=r"calls torch\.(autograd|_tensor)"):
        call_student(student, torch.ones(3), forbidden=autograd_entry_points())


def test_compare_with_reference_and_the_shape_of_results():
    import torch
    from course_lib import gates
    from course_lib.functional import AffineCache
    from course_lib.grading import GradingError, call_student, compare_with_reference, expect_dict

    compare_with_reference(gates.mul_backward, gates.mul_backward, torch.ones(2), 2.0, 3.0, outputs=("dx", "dy"))
    with pytest.raises(GradingError, match=r"should return 2 values \(dx, dy\), but it returned a tuple of 1"):
        compare_with_reference(lambda d, x, y: (d,), gates.mul_backward, 1.0, 2.0, 3.0, outputs=("dx", "dy"))
    with pytest.raises(GradingError, match="missing b2; unexpected 'B2'"):
        expect_dict({"W1": 1, "b1": 1, "W2": 1, "B2": 1}, ("W1", "b1", "W2", "b2"), what="grads")
    # A NamedTuple cache reaches the student's function as a copy of the same type.
    cache = AffineCache(torch.ones(2), torch.zeros(2))
    copied = call_student(lambda c: c, cache)
    assert type(copied) is AffineCache and copied.x is not cache.x and torch.equal(copied.x, cache.x)
