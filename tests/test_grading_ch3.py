"""Assignment 3 (pooling, batch norm, dropout, concatenation) through the real nbgrader commands.

Like ``test_grading_ch2.py`` (and with the helpers of ``test_grading_pipeline.py``),
a temporary course directory gets the repository's ``nbgrader_config.py`` and
``solutions/ch3_layers``; the test generates the release, puts six submissions
into ``submitted/``, grades them all in one ``autograde`` call, then runs
``generate_feedback`` and ``export``.

The submissions:

* ``reference``: the release with the solution code filled in: full marks;
* ``blank``: the untouched release: 0, and autograde does not crash;
* ``calls_max_pool2d``: ``max_pool_forward`` returns ``torch.nn.functional.max_pool2d``'s
  result: exactly Part 1a's 14 points lost, with a message that names the call;
* ``broken_bn_backward``: ``batchnorm_backward`` treats the batch statistics as
  constants in training (the evaluation formula in both modes): exactly Part 3b's
  17 points lost, everything else scores;
* ``other_cheats``: ``avg_pool_forward`` is a convolution with a constant kernel,
  ``avg_pool_backward`` calls course_lib, ``max_pool_backward`` lets autograd
  differentiate the student's own forward, ``batchnorm_forward`` calls
  ``F.batch_norm``, ``dropout_forward`` runs a ``torch.nn.Dropout`` module and
  ``concat_forward`` calls ``torch.cat``: 0 in exactly those functions' cells;
* ``warns``: correct, but every function warns and prints to stderr: full marks.
"""
from __future__ import annotations

import ast
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

pytestmark = [pytest.mark.grading, pytest.mark.ch3]

ASSIGNMENT = "ch3_layers"
NOTEBOOK = "ch3_layers"
SOURCE = REPO / "solutions" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
RELEASE = REPO / "assignments" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
SECONDS_PER_CALL = 10  # the hidden tests' per-call time limit
FUNCTIONS = ("max_pool_forward", "max_pool_backward", "avg_pool_forward", "avg_pool_backward", "batchnorm_forward",
             "batchnorm_backward", "dropout_forward", "dropout_backward", "concat_forward", "concat_backward")
POINTS = {  # function: points of its visible and hidden tests together (the table in the notebook)
    "max_pool_forward": 14, "max_pool_backward": 16, "avg_pool_forward": 7, "avg_pool_backward": 8,
    "batchnorm_forward": 18, "batchnorm_backward": 17, "dropout_forward": 8, "dropout_backward": 4,
    "concat_forward": 4, "concat_backward": 4,
}

# ---------------------------------------------------------------- the submissions

CALLS_MAX_POOL2D = {
    "max_pool_forward": '''

import torch.nn.functional as F


def max_pool_forward(x, kernel, stride):
    return F.max_pool2d(x, kernel, stride), (x, kernel, stride)
''',
}

BROKEN_BN_BACKWARD = {
    "batchnorm_backward": '''

def batchnorm_backward(dout, cache):
    """Forgets that, in training, the mean and the variance depend on x."""
    x, gamma, beta, bn_param = cache
    dims = (0,) + tuple(range(2, x.dim()))
    shape = (1, x.shape[1]) + (1,) * (x.dim() - 2)
    if bn_param["mode"] == "train":
        mean, var = x.mean(dim=dims), x.var(dim=dims, unbiased=False)
    else:
        mean, var = bn_param["running_mean"], bn_param["running_var"]
    inv_std = 1.0 / torch.sqrt(var.reshape(shape) + bn_param["eps"])
    x_hat = (x - mean.reshape(shape)) * inv_std
    return dout * gamma.reshape(shape) * inv_std, (dout * x_hat).sum(dim=dims), dout.sum(dim=dims)
''',
}

OTHER_CHEATS = {
    "avg_pool_forward": '''

def avg_pool_forward(x, kernel, stride):
    channels = x.shape[1]
    kh, kw = kernel
    w = x.new_full((channels, 1, kh, kw), 1.0 / (kh * kw))
    return torch.nn.functional.conv2d(x, w, stride=stride, groups=channels), (x, kernel, stride)
''',
    "avg_pool_backward": '''

def avg_pool_backward(dout, cache):
    from course_lib.functional import avg_pool2d_backward, avg_pool2d_forward
    x, kernel, stride = cache
    _, reference_cache = avg_pool2d_forward(x, kernel_size=kernel, stride=stride)
    return avg_pool2d_backward(dout, reference_cache)
''',
    "max_pool_backward": '''

def max_pool_backward(dout, cache):
    x, kernel, stride = cache
    x = x.detach().clone().requires_grad_(True)
    out, _ = max_pool_forward(x, kernel, stride)
    out.backward(dout)
    return x.grad
''',
    "batchnorm_forward": '''

def batchnorm_forward(x, gamma, beta, bn_param):
    out = torch.nn.functional.batch_norm(x, bn_param["running_mean"], bn_param["running_var"], gamma, beta,
                                         training=bn_param["mode"] == "train", momentum=bn_param["momentum"],
                                         eps=bn_param["eps"])
    return out, (x, gamma, beta, bn_param)
''',
    "dropout_forward": '''

def dropout_forward(x, p_keep, training, generator):
    layer = torch.nn.Dropout(1 - p_keep)
    layer.train(training)
    out = layer(x)
    return out, ((out != 0) if training else None, p_keep, training)
''',
    "concat_forward": '''

def concat_forward(xs, dim):
    d = dim % xs[0].dim()
    return torch.cat(xs, dim=d), (d, tuple(x.shape[d] for x in xs))
''',
}


def _part(*names: str) -> set[str]:
    return {f"test_{name}_{kind}" for name in names for kind in ("visible", "hidden")}


STUDENTS = {
    # student: (how to build the submission, test cells expected to score 0, phrases the failures must show)
    "reference": (dict(), set(), ()),
    "blank": (dict(blank=True), "all", ("is not implemented yet",)),
    "calls_max_pool2d": (dict(extra=CALLS_MAX_POOL2D), _part("max_pool_forward"),
                         ("max_pool_forward calls torch.nn.functional.max_pool2d, which does the exercise for you",)),
    "broken_bn_backward": (dict(extra=BROKEN_BN_BACKWARD), _part("batchnorm_backward"),
                           ("batchnorm_backward: dx (training, dout = 1): wrong value",
                            "batchnorm_backward (train mode): dx: wrong value")),
    "other_cheats": (dict(extra=OTHER_CHEATS),
                     _part("avg_pool_forward", "avg_pool_backward", "max_pool_backward", "batchnorm_forward",
                           "dropout_forward", "concat_forward"),
                     ("avg_pool_forward calls torch.nn.functional.conv2d,",
                      "avg_pool_backward calls course_lib.functional.pooling.avg_pool2d_forward, "
                      "course_lib.functional.pooling.avg_pool2d_backward,",
                      "max_pool_backward calls torch._tensor.Tensor.backward,",
                      "batchnorm_forward calls torch.nn.functional.batch_norm,",
                      "dropout_forward calls torch.nn.functional.dropout,",
                      "concat_forward calls torch.cat,")),
    "warns": (dict(noisy=True), set(), ()),
}


# ---------------------------------------------------------------- running nbgrader

@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A temporary course directory with the repository's config and Assignment 3's source, and a fresh release."""
    root = tmp_path_factory.mktemp("course_ch3")
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
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "_ref_"):
        assert marker not in text, f"the release still contains {marker!r}"


def test_points_add_up_to_100_as_the_notebook_says():
    source = nbformat.read(SOURCE, as_version=4)
    cells = graded_cells(source)
    assert sum(cells.values()) == 100
    assert set(cells) == _part(*FUNCTIONS)
    for name, points in POINTS.items():
        assert cells[f"test_{name}_visible"] + cells[f"test_{name}_hidden"] == points, name
    # The parts' headings and the table of the first cell give the same points.
    text = "\n".join(cell.source for cell in source.cells if cell.cell_type == "markdown")
    for heading in ("Part 1: max pooling (30 points)", "Part 2: average pooling (15 points)",
                    "Part 3: batch normalization (35 points)", "Part 4: inverted dropout (12 points)",
                    "Part 5: concatenation (8 points)", "1a. The forward pass (14 points)",
                    "1b. The backward pass (16 points)", "2a. The forward pass (7 points)",
                    "2b. The backward pass (8 points)", "3a. The forward pass (18 points)",
                    "3b. The backward pass (17 points)", "4a. The forward pass (8 points)",
                    "4b. The backward pass (4 points)", "5a. The forward pass (4 points)",
                    "5b. The backward pass (4 points)"):
        assert heading in text, f"no heading {heading!r}"


def test_the_notebook_follows_the_course_conventions():
    """One locked import cell; each answer cell defines one function; every student call is timed."""
    source = nbformat.read(SOURCE, as_version=4)
    code = [cell for cell in source.cells if cell.cell_type == "code"]
    assert code[0].metadata.nbgrader.grade_id == "imports" and code[0].metadata.nbgrader.locked
    answers = []
    for cell in code:
        meta = cell.metadata.nbgrader
        if meta.get("solution"):
            defined = [node.name for node in ast.parse(cell.source).body if isinstance(node, ast.FunctionDef)]
            assert defined == [meta.grade_id], f"answer cell {meta.grade_id} defines {defined}"
            answers.append(meta.grade_id)
        if meta.get("grade"):
            calls = sum(cell.source.count(f"{helper}(") for helper in
                        ("call_student", "call_student_and_arguments", "expect_raises"))
            timed = cell.source.count(f"seconds={SECONDS_PER_CALL}")
            assert calls and calls == timed, f"{meta.grade_id}: {calls} student calls, {timed} with seconds="
    assert tuple(answers) == FUNCTIONS


def test_every_test_cell_forbids_course_lib_and_the_torch_layer():
    """Each function's test cells forbid the whole reference library, the torch op that does its exercise,
    and, for backward functions, autograd."""
    source = nbformat.read(SOURCE, as_version=4)
    ops = {"max_pool": "pooling_ops()", "avg_pool": "pooling_ops()", "batchnorm": "normalization_ops()",
           "dropout": "dropout_ops()", "concat_forward": "concat_ops()"}
    for cell in source.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if not cell.metadata.get("nbgrader", {}).get("grade"):
            continue
        assert "course_lib_functions()" in cell.source, grade_id
        for prefix, op_list in ops.items():
            if grade_id.startswith(f"test_{prefix}"):
                assert op_list in cell.source, f"{grade_id} does not forbid {op_list}"
        if "_backward_" in grade_id:
            assert "autograd_entry_points()" in cell.source, f"{grade_id} does not forbid autograd"


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
    expected = sum(points for cell, points in cells.items() if cell not in zero)
    assert float(row["score"]) == expected
    print(f"\n{student}: {expected:g} / 100")


def test_the_named_submissions_lose_exactly_their_functions_points(graded: dict):
    totals = {student: float(graded["export"][student]["score"]) for student in STUDENTS}
    assert totals["reference"] == totals["warns"] == 100.0
    assert totals["blank"] == 0.0
    assert totals["calls_max_pool2d"] == 100 - POINTS["max_pool_forward"]
    assert totals["broken_bn_backward"] == 100 - POINTS["batchnorm_backward"]
    cheated = ("avg_pool_forward", "avg_pool_backward", "max_pool_backward", "batchnorm_forward", "dropout_forward",
               "concat_forward")
    assert totals["other_cheats"] == 100 - sum(POINTS[name] for name in cheated)


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
    budget = len(STUDENTS) * 30
    print(f"\nautograde: {graded['autograde_seconds']:.1f} s for {len(STUDENTS)} submissions")
    assert graded["autograde_seconds"] < budget


# ---------------------------------------------------------------- feedback

@pytest.mark.parametrize("student", list(STUDENTS))
def test_feedback_exists_without_hidden_tests(course: Path, graded: dict, student: str):
    page = course / "feedback" / student / ASSIGNMENT / f"{NOTEBOOK}.html"
    assert page.is_file(), f"no feedback for {student}"
    text = _visible_text(page.read_text())
    # The search finds code when it is there: a line of a visible test is in every feedback page.
    assert 'what="concat_backward: dxs[1] (columns 1 and 2)")' in text
    release = nbformat.read(RELEASE, as_version=4)
    hidden = _hidden_lines(graded["source"], "\n".join(cell.source for cell in release.cells))
    assert len(hidden) > 60
    leaked = [line for line in hidden if line in text]
    assert not leaked, f"the feedback of {student} shows hidden tests, e.g. {leaked[:3]}"
    if student == "calls_max_pool2d":
        assert "max_pool_forward calls torch.nn.functional.max_pool2d" in text, "the feedback should say why"
