"""Assignment 2 (convolution) through the real nbgrader commands.

Like ``test_grading_pipeline.py`` (whose helpers this file reuses), a temporary
course directory gets the repository's ``nbgrader_config.py`` and
``solutions/ch2_conv``; the test generates the release, puts six submissions
into ``submitted/``, grades them all in one ``autograde`` call, then runs
``generate_feedback`` and ``export``.

The submissions:

* ``reference``: the release with the solution code filled in: full marks;
* ``blank``: the untouched release: 0, and autograde does not crash;
* ``calls_conv2d``: ``conv_forward_naive`` returns ``torch.nn.functional.conv2d``'s
  result: exactly Part 4's 25 points lost, with a message that names the call;
* ``endless_loop``: ``conv_backward_naive`` never returns: its two cells fail
  with the time-limit message after 10 s each, everything else scores;
* ``other_cheats``: ``zero_pad`` calls ``F.pad``, ``im2col`` uses ``Tensor.unfold``
  (which ``conv_forward_im2col`` then reaches too) and ``conv_backward_naive``
  returns course_lib's reference: 0 in exactly those parts;
* ``warns``: correct, but every function warns and prints to stderr (and is
  wrapped in a decorator, which ``must_call`` must see through): full marks.
"""
from __future__ import annotations

import csv
import shutil
import time
from pathlib import Path

import nbformat
import pytest

from test_grading_pipeline import (
    REPO,
    _comparable,
    _hidden_lines,
    _visible_text,
    graded_cells,
    run_nbgrader,
    solution_code,
    submission,
)

pytestmark = [pytest.mark.grading, pytest.mark.ch2]

ASSIGNMENT = "ch2_conv"
NOTEBOOK = "ch2_conv"
SOURCE = REPO / "solutions" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
RELEASE = REPO / "assignments" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
SECONDS_PER_CALL = 10  # the hidden tests' per-call time limit

# ---------------------------------------------------------------- the submissions

CALLS_CONV2D = {
    "conv_forward_naive": '''

import torch.nn.functional as F


def conv_forward_naive(x, w, b, stride, pad):
    return F.conv2d(x, w, b, stride=stride, padding=pad), (x, w, b, stride, pad)
''',
}

ENDLESS_LOOP = {
    "conv_backward_naive": '''

def conv_backward_naive(dout, cache):
    while True:
        pass
''',
}

OTHER_CHEATS = {
    "zero_pad": '''

def zero_pad(x, pad):
    return torch.nn.functional.pad(x, (pad, pad, pad, pad))
''',
    "conv_backward_naive": '''

def conv_backward_naive(dout, cache):
    from course_lib.functional import ConvCache, conv2d_backward
    x, w, b, stride, pad = cache
    return conv2d_backward(dout, ConvCache(x, w, True, (stride, stride), (pad, pad), (1, 1), 1))
''',
    "im2col": '''

def im2col(x, kernel_size, stride, pad):
    kh, kw = kernel_size
    windows = zero_pad(x, pad).unfold(2, kh, stride).unfold(3, kw, stride)   # (N, C, OH, OW, KH, KW)
    n, c, oh, ow = windows.shape[:4]
    return windows.permute(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, oh * ow)
''',
}


def _part(*names: str) -> set[str]:
    return {f"test_{name}_{kind}" for name in names for kind in ("visible", "hidden")}


STUDENTS = {
    # student: (how to build the submission, test cells expected to score 0, phrases the failures must show)
    "reference": (dict(), set(), ()),
    "blank": (dict(blank=True), "all", ("is not implemented yet",)),
    "calls_conv2d": (dict(extra=CALLS_CONV2D), _part("conv_forward_naive"),
                     ("conv_forward_naive calls torch.nn.functional.conv2d, which does the exercise for you",)),
    "endless_loop": (dict(extra=ENDLESS_LOOP), _part("conv_backward_naive"),
                     (f"conv_backward_naive took longer than {SECONDS_PER_CALL} s",)),
    "other_cheats": (dict(extra=OTHER_CHEATS),
                     _part("zero_pad", "conv_backward_naive", "im2col", "conv_forward_im2col"),
                     ("zero_pad calls torch.nn.functional.pad,",
                      "conv_backward_naive calls course_lib.functional.conv.conv2d_backward,",
                      "im2col calls torch.Tensor.unfold,", "conv_forward_im2col calls torch.Tensor.unfold,")),
    "warns": (dict(noisy=True), set(), ()),
}


# ---------------------------------------------------------------- running nbgrader

@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A temporary course directory with the repository's config and Assignment 2's source, and a fresh release."""
    root = tmp_path_factory.mktemp("course_ch2")
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
    run_nbgrader(course, "autograde", ASSIGNMENT)
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
    return {"source": source, "cells": cells, "export": export, "autograde_seconds": seconds}


# ---------------------------------------------------------------- the source and the release

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
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "_ref_conv."):
        assert marker not in text, f"the release still contains {marker!r}"


def test_points_add_up_to_100():
    source = nbformat.read(SOURCE, as_version=4)
    assert sum(graded_cells(source).values()) == 100


def test_the_notebook_follows_the_course_conventions():
    """One locked import cell; each answer cell defines one function; every student call is timed."""
    import ast

    source = nbformat.read(SOURCE, as_version=4)
    code = [cell for cell in source.cells if cell.cell_type == "code"]
    assert code[0].metadata.nbgrader.grade_id == "imports" and code[0].metadata.nbgrader.locked
    for cell in code:
        meta = cell.metadata.nbgrader
        if meta.get("solution"):
            defined = [node.name for node in ast.parse(cell.source).body if isinstance(node, ast.FunctionDef)]
            assert defined == [meta.grade_id], f"answer cell {meta.grade_id} defines {defined}"
        if meta.get("grade"):
            calls = cell.source.count("call_student(") + cell.source.count("expect_raises(")
            timed = cell.source.count(f"seconds={SECONDS_PER_CALL}")
            assert calls and calls == timed, f"{meta.grade_id}: {calls} student calls, {timed} with seconds="


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


def test_autograde_time(graded: dict):
    # The endless loop costs two time limits; every other submission takes seconds.
    budget = len(STUDENTS) * 30 + 2 * SECONDS_PER_CALL
    print(f"\nautograde: {graded['autograde_seconds']:.1f} s for {len(STUDENTS)} submissions")
    assert graded["autograde_seconds"] < budget


# ---------------------------------------------------------------- feedback

@pytest.mark.parametrize("student", list(STUDENTS))
def test_feedback_exists_without_hidden_tests(course: Path, graded: dict, student: str):
    page = course / "feedback" / student / ASSIGNMENT / f"{NOTEBOOK}.html"
    assert page.is_file(), f"no feedback for {student}"
    text = _visible_text(page.read_text())
    # The search finds code when it is there: a line of a visible test is in every feedback page.
    assert 'what="conv_backward_naive: db (windows apart)")' in text
    release = nbformat.read(RELEASE, as_version=4)
    hidden = _hidden_lines(graded["source"], "\n".join(cell.source for cell in release.cells))
    assert len(hidden) > 40
    leaked = [line for line in hidden if line in text]
    assert not leaked, f"the feedback of {student} shows hidden tests, e.g. {leaked[:3]}"
    if student == "calls_conv2d":
        assert "conv_forward_naive calls torch.nn.functional.conv2d" in text, "the feedback should say why"
