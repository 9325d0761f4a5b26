"""Every assignment of ``solutions/`` through the real nbgrader commands.

The assignments are found on disk (``solutions/<a>/<a>.ipynb``), so a new one
adds no code here.  For each, a temporary course directory gets the
repository's ``nbgrader_config.py`` and ``solutions/<a>``; there the test runs
``generate_assignment``, puts every submission into ``submitted/``, grades them
all in one ``autograde`` call, then runs ``generate_feedback`` and ``export``.
The repository's own gradebook and folders are never touched.

The submissions of every assignment:

* ``reference``: the release with the solution code filled in: full marks;
* ``blank``: the untouched release: 0, and autograde does not crash;
* ``raises``: the first function of the first answer cell raises
  ``RuntimeError``: 0 in exactly the test cells that call it, directly or
  through another of the student's functions, full marks elsewhere;
* ``noisy``: correct, but every function warns and writes to stderr (and is
  wrapped in a decorator): full marks;
* one per case of ``tests/grading_cases/<a>.py``: the reference solution with
  some answer cells replaced, ``CASES = {name: {"replace": {grade_id: source},
  "zero": [test cell grade_ids], "message": text}}``: the listed test cells
  score 0 and their failure says ``message``, every other test cell full marks.
  A case may also give ``"partial": {test cell grade_id: points}``: cells that
  score exactly those points (the sub-checks of :class:`course_lib.grading.Checks`
  that the case fails) and print ``message`` in their report.

Written answers are graded by hand: their cells (``grade`` and ``solution`` in
nbgrader's metadata, usually Markdown) count towards the 100 points of an
assignment, and autograde leaves them for the instructor.  Every student but
``blank`` writes the model answers in.  For each assignment that has written
answers, a copy of the graded course then goes through the instructor's flow:
scores and comments entered by hand for ``reference`` and ``noisy`` (the
formgrader's writes, ``course_grade.gradebook.grade_by_hand``), a late
submission autograded (the others are skipped) and ``reference`` graded again
with ``--force``, then ``generate_feedback --force`` and ``export``: no grade by
hand is lost, and the feedback pages and ``grades.csv`` include them.
"""
from __future__ import annotations

import ast
import copy
import csv
import functools
import html
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import nbformat
import pytest

pytestmark = pytest.mark.grading

REPO = Path(__file__).resolve().parents[1]
CASES_DIR = Path(__file__).resolve().parent / "grading_cases"
BIN = Path(sys.executable).parent  # the environment that runs the tests also runs nbgrader and its kernels
ASSIGNMENTS = sorted(p.name for p in (REPO / "solutions").iterdir() if (p / f"{p.name}.ipynb").is_file())

SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
RAISED = "broken on purpose"
GENERIC = ("reference", "blank", "raises", "noisy")

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


# ---------------------------------------------------------------- the assignments and their cases

def _chapter(assignment: str) -> list:
    """The chapter marker of an assignment named ``chN_...``."""
    match = re.match(r"ch(\d+)_", assignment)
    return [getattr(pytest.mark, f"ch{match.group(1)}")] if match else []


def cases(assignment: str) -> dict[str, dict]:
    """The ``CASES`` of ``tests/grading_cases/<assignment>.py`` ({} when there is no such file)."""
    path = CASES_DIR / f"{assignment}.py"
    if not path.is_file():
        return {}
    spec = importlib.util.spec_from_file_location(f"grading_cases.{assignment}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CASES


def students(assignment: str) -> list[str]:
    return list(GENERIC) + list(cases(assignment))


def pytest_generate_tests(metafunc):
    """Each test runs once per assignment (and once per submission where it takes ``student``); the tests
    of grading by hand run for the assignments that have written answers."""
    if "hand_graded" in metafunc.fixturenames:
        metafunc.parametrize("assignment", [pytest.param(a, marks=_chapter(a), id=a) for a in ASSIGNMENTS
                                            if manual_cells(source_notebook(a))])
    elif "student" in metafunc.fixturenames:
        metafunc.parametrize(("assignment", "student"), [
            pytest.param(a, s, marks=_chapter(a), id=f"{a}-{s}") for a in ASSIGNMENTS for s in students(a)])
    elif "assignment" in metafunc.fixturenames:
        metafunc.parametrize("assignment", [pytest.param(a, marks=_chapter(a), id=a) for a in ASSIGNMENTS])


# ---------------------------------------------------------------- reading notebooks

def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {}) if cell.cell_type == "code" else {}


@functools.lru_cache(maxsize=None)
def source_notebook(assignment: str, root: Path = REPO) -> nbformat.NotebookNode:
    return nbformat.read(root / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)


@functools.lru_cache(maxsize=None)
def release_notebook(assignment: str, root: Path = REPO) -> nbformat.NotebookNode:
    return nbformat.read(root / "assignments" / assignment / f"{assignment}.ipynb", as_version=4)


def solution_code(source: nbformat.NotebookNode) -> dict[str, str]:
    """grade_id -> code of each answer cell of the source notebook, without the solution markers."""
    return {_nbgrader(cell)["grade_id"]: "\n".join(line for line in cell.source.splitlines()
                                                    if line.strip() not in SOLUTION_MARKERS)
            for cell in source.cells if _nbgrader(cell).get("solution")}


def graded_cells(source: nbformat.NotebookNode) -> dict[str, tuple[float, str]]:
    """grade_id -> (points, source) of every autograder test cell."""
    return {_nbgrader(cell)["grade_id"]: (float(_nbgrader(cell)["points"]), cell.source)
            for cell in source.cells if _nbgrader(cell).get("grade") and not _nbgrader(cell).get("solution")}


def manual_cells(source: nbformat.NotebookNode) -> dict[str, float]:
    """grade_id -> points of every answer graded by hand (a written answer, Markdown or code)."""
    meta = [cell.metadata.get("nbgrader", {}) for cell in source.cells]
    return {m["grade_id"]: float(m["points"]) for m in meta if m.get("grade") and m.get("solution")}


def written_answers(source: nbformat.NotebookNode) -> dict[str, str]:
    """grade_id -> the model answer (without the solution markers) of every answer graded by hand."""
    return {cell.metadata.nbgrader["grade_id"]: "\n".join(line for line in cell.source.splitlines()
                                                           if line.strip() not in SOLUTION_MARKERS)
            for cell in source.cells if cell.metadata.get("nbgrader", {}).get("grade_id") in manual_cells(source)}


def _names(code: str | ast.AST) -> set[str]:
    """Every name a piece of code reads (calls included; strings and comments are not names)."""
    tree = ast.parse(code) if isinstance(code, str) else code
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def _functions(code: str) -> list[ast.FunctionDef]:
    return [node for node in ast.parse(code).body if isinstance(node, ast.FunctionDef)]


# ---------------------------------------------------------------- the submissions

def raising_cell(codes: dict[str, str]) -> tuple[str, str, str]:
    """(grade_id, function, new code): the first answer cell with its first function's body a ``raise``."""
    grade_id, code = next(iter(codes.items()))
    func = _functions(code)[0]
    lines = code.splitlines()
    start = min([func.lineno] + [d.lineno for d in func.decorator_list]) - 1
    stub = [f"def {func.name}({ast.unparse(func.args)}):", f"    raise RuntimeError({RAISED!r})"]
    return grade_id, func.name, "\n".join(lines[:start] + stub + lines[func.end_lineno:])


def cells_that_use(name: str, codes: dict[str, str], tests: dict[str, tuple[float, str]]) -> set[str]:
    """The test cells that call ``name``, or a function of the student's that (through others) calls it."""
    uses = {func.name: _names(func) for code in codes.values() for func in _functions(code)}
    broken = {name}
    while more := {func for func, used in uses.items() if used & broken} - broken:
        broken |= more
    return {grade_id for grade_id, (_, text) in tests.items() if _names(text) & broken}


def _noisy(code: str) -> str:
    wraps = "".join(f"{func.name} = _noisy({func.name})\n" for func in _functions(code))
    return code + NOISY + "\n\n" + wraps


class Expected(NamedTuple):
    codes: dict[str, str] | None  # answer cell -> code; None: the untouched release
    zero: set[str]                # test cells that score 0
    message: str                  # what each of their failures says
    partial: dict[str, float] = {}  # test cells that score these points (some sub-checks fail)

    def points(self, cell: str, full: float) -> float:
        """What test cell ``cell``, worth ``full``, must score."""
        return 0.0 if cell in self.zero else self.partial.get(cell, full)


def expectations(source: nbformat.NotebookNode, assignment: str) -> dict[str, Expected]:
    """student -> what it submits and how it must score."""
    codes, tests = solution_code(source), graded_cells(source)
    grade_id, name, broken = raising_cell(codes)
    expected = {
        "reference": Expected(codes, set(), ""),
        "blank": Expected(None, set(tests), "is not implemented yet"),
        "raises": Expected({**codes, grade_id: broken}, cells_that_use(name, codes, tests),
                           f"raised RuntimeError: {RAISED}"),
        "noisy": Expected({gid: _noisy(code) for gid, code in codes.items()}, set(), ""),
    }
    for student, case in cases(assignment).items():
        expected[student] = Expected({**codes, **case["replace"]}, set(case["zero"]), case["message"],
                                     dict(case.get("partial", {})))
    return expected


def fill(release: nbformat.NotebookNode, codes: dict[str, str] | None) -> nbformat.NotebookNode:
    """The release with its answer cells replaced by ``codes`` (None: left as released)."""
    nb = copy.deepcopy(release)
    for cell in nb.cells:
        if codes is not None and _nbgrader(cell).get("solution"):
            cell.source = codes[_nbgrader(cell)["grade_id"]]
    return nb


def answer(nb: nbformat.NotebookNode, answers: dict[str, str]) -> nbformat.NotebookNode:
    """``nb`` with the answers graded by hand written in (every student but ``blank`` writes them)."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    return nb


# ---------------------------------------------------------------- running nbgrader

def run_nbgrader(course: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run ``nbgrader *args`` in ``course`` with this environment's bin first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    # The kernel imports the course_lib of this checkout, and no user configuration leaks in.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["JUPYTER_CONFIG_DIR"] = str(course / ".jupyter-config")
    env["IPYTHONDIR"] = str(course / ".ipython")
    env.setdefault("OMP_NUM_THREADS", "1")  # the hidden tests' inputs are small: threads would only contend
    executable = BIN / "nbgrader"
    command = [str(executable)] if executable.exists() else [sys.executable, "-m", "nbgrader"]
    proc = subprocess.run(command + list(args), cwd=course, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f"`nbgrader {' '.join(args)}` failed with exit status {proc.returncode}\n"
                    f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-8000:]}")
    return proc


def _visible_text(html_text: str) -> str:
    """The text a reader of the HTML sees (tags dropped, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", "", html_text))


class Graded(NamedTuple):
    course: Path
    expected: dict[str, Expected]
    scores: dict[str, dict[str, tuple[float, float]]]  # student -> test cell -> (score, max score)
    errors: dict[str, dict[str, list[str]]]             # student -> test cell -> "Name: message" of its errors
    printed: dict[str, dict[str, str]]                  # student -> test cell -> what it printed
    feedback: dict[str, str]                            # student -> visible text of the feedback page
    export: list[dict[str, str]]                        # the rows of grades.csv
    seconds: float                                      # the autograde call


def grade(assignment: str, course: Path) -> Graded:
    """Generate the release, submit every student, autograde them in one call, write feedback, export."""
    shutil.copy(REPO / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(REPO / "solutions" / assignment, course / "solutions" / assignment)
    run_nbgrader(course, "generate_assignment", assignment, "--force")
    source, release = source_notebook(assignment, course), release_notebook(assignment, course)
    expected = expectations(source, assignment)
    written = written_answers(source)
    for student, plan in expected.items():
        folder = course / "submitted" / student / assignment
        folder.mkdir(parents=True)
        submission = fill(release, plan.codes) if plan.codes is None else answer(fill(release, plan.codes), written)
        nbformat.write(submission, folder / f"{assignment}.ipynb")

    start = time.perf_counter()
    run_nbgrader(course, "autograde", assignment)
    seconds = time.perf_counter() - start
    run_nbgrader(course, "generate_feedback", assignment)
    run_nbgrader(course, "export")

    from nbgrader.api import Gradebook

    tests = graded_cells(source)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        scores = {student: {grade.name: (grade.score, grade.max_score)
                            for grade in gb.find_submission_notebook(assignment, assignment, student).grades
                            if grade.name in tests}
                  for student in expected}
    errors, printed, feedback = {}, {}, {}
    for student in expected:
        graded = nbformat.read(course / "autograded" / student / assignment / f"{assignment}.ipynb", as_version=4)
        test_cells = [cell for cell in graded.cells if _nbgrader(cell).get("grade_id") in tests]
        errors[student] = {_nbgrader(cell)["grade_id"]: [f"{out.ename}: {out.evalue}" for out in cell.outputs
                                                         if out.output_type == "error"]
                           for cell in test_cells}
        printed[student] = {_nbgrader(cell)["grade_id"]: "".join(out.get("text", "") for out in cell.outputs
                                                                 if out.output_type == "stream")
                            for cell in test_cells}
        page = course / "feedback" / student / assignment / f"{assignment}.html"
        feedback[student] = _visible_text(page.read_text()) if page.is_file() else ""
    with open(course / "grades.csv", newline="") as f:
        export = list(csv.DictReader(f))
    print(f"\n{assignment}: autograde {seconds:.1f} s for {len(expected)} submissions")
    return Graded(course, expected, scores, errors, printed, feedback, export, seconds)


@pytest.fixture(scope="session")
def _graded_courses() -> dict[str, Graded]:
    return {}


@pytest.fixture
def graded(assignment: str, _graded_courses: dict[str, Graded], tmp_path_factory) -> Graded:
    """The graded course of ``assignment``, built once per session whatever order the tests run in."""
    if assignment not in _graded_courses:
        _graded_courses[assignment] = grade(assignment, tmp_path_factory.mktemp(f"course_{assignment}"))
    return _graded_courses[assignment]


# ---------------------------------------------------------------- the source, the release and the cases

def test_source_and_release_have_no_outputs(assignment: str):
    for nb, where in ((source_notebook(assignment), "solutions"), (release_notebook(assignment), "assignments")):
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, (
                    f"{where}/{assignment}: cell {cell.get('id')} has outputs; strip them before committing")


def test_release_hides_solutions_and_hidden_tests(assignment: str):
    text = (REPO / "assignments" / assignment / f"{assignment}.ipynb").read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text, f"assignments/{assignment} still contains {marker!r}"


def test_points_add_up_to_100_and_imports_come_first(assignment: str):
    source = source_notebook(assignment)
    auto = sum(points for points, _ in graded_cells(source).values())
    manual = sum(manual_cells(source).values())
    assert auto + manual == 100, f"{assignment}: {auto:g} autograded + {manual:g} written points"
    first = next(cell for cell in source.cells if cell.cell_type == "code")
    assert _nbgrader(first).get("grade_id") == "imports" and _nbgrader(first).get("locked"), (
        f"{assignment}: the first code cell should be the locked 'imports' cell")




def test_answer_cells_define_their_functions_and_every_call_is_timed(assignment: str):
    """An answer cell defines the function its grade_id names (or ``<grade_id>_forward`` / ``_backward``),
    and no test cell calls the student's code without a time limit."""
    source = source_notebook(assignment)
    for grade_id, code in solution_code(source).items():
        defined = [func.name for func in _functions(code)]
        assert defined and all(name == grade_id or name.startswith(f"{grade_id}_") for name in defined), (
            f"{assignment}: answer cell {grade_id} defines {defined}")
    # every guarded call has a time limit (the helpers' default, 20 s, or a longer one such as a
    # training run's): none may switch it off
    untimed = sorted(grade_id for grade_id, (_, text) in graded_cells(source).items()
                     if re.search(r"seconds\s*=\s*None", text))
    assert not untimed, f"{assignment}: calls without a time limit (seconds=None) in {untimed}"


def test_cases_name_real_cells(assignment: str):
    source = source_notebook(assignment)
    answers, tests = set(solution_code(source)), set(graded_cells(source))
    for name, case in cases(assignment).items():
        where = f"tests/grading_cases/{assignment}.py: {name}"
        assert name not in GENERIC, f"{where}: the name is taken by a submission every assignment gets"
        assert {"replace", "zero", "message"} <= set(case) <= {"replace", "zero", "message", "partial"}, (
            f"{where}: keys {sorted(case)}")
        assert case["replace"] and set(case["replace"]) <= answers, (
            f"{where}: {sorted(set(case['replace']) - answers)} are not answer cells (those are {sorted(answers)})")
        assert (case["zero"] or case.get("partial")) and set(case["zero"]) <= tests, (
            f"{where}: {sorted(set(case['zero']) - tests)} are not test cells")
        partial = case.get("partial", {})
        assert set(partial) <= tests - set(case["zero"]), f"{where}: partial names {sorted(partial)}"
        full = graded_cells(source)
        assert all(0 < p < full[cell][0] for cell, p in partial.items()), (
            f"{where}: partial scores must lie strictly between 0 and the cell's points")
        assert case["message"].strip(), f"{where}: no message"


def test_the_raising_function_loses_some_cells_not_all(assignment: str):
    source = source_notebook(assignment)
    codes, tests = solution_code(source), graded_cells(source)
    _, name, _ = raising_cell(codes)
    zero = cells_that_use(name, codes, tests)
    assert zero and zero != set(tests), f"{assignment}: {name} is used by {sorted(zero)}"


def _comparable(nb: nbformat.NotebookNode) -> list[tuple]:
    return [(cell.get("id"), cell.cell_type, cell.source, cell.metadata) for cell in nb.cells]


def test_release_matches_a_fresh_generate_assignment(assignment: str, graded: Graded):
    fresh_dir = graded.course / "assignments" / assignment
    committed_dir = REPO / "assignments" / assignment
    hint = ("assignments/ is out of date with solutions/: run `make assignments` "
            f"(nbgrader generate_assignment {assignment} --force) and commit the result")
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


# ---------------------------------------------------------------- grading

def test_scores_per_cell(assignment: str, student: str, graded: Graded):
    points = {grade_id: p for grade_id, (p, _) in graded_cells(source_notebook(assignment)).items()}
    plan = graded.expected[student]
    got = graded.scores[student]
    assert set(got) == set(points)
    wrong = {cell: f"{got[cell][0]:g} of {p:g}" for cell, p in points.items()
             if got[cell] != (plan.points(cell, p), p)}
    assert not wrong, (f"{student}: expected 0 in {sorted(plan.zero)}, {plan.partial} and full marks elsewhere; "
                       f"got {wrong}")


def test_failures_say_what_is_wrong(student: str, graded: Graded):
    """Every failure is a GradingError, and the feedback says the submission's message.

    The submissions every assignment gets say it in each zeroed cell; a case that breaks
    several functions at once may fail some of their cells another way (F.batch_norm itself
    rejects the visible test's eps = 0; a wrong layer makes the network of a later part fail
    its gradient check), so its message must be in one of its zeroed cells' failures or
    partly failed cells' reports.  A partly failed cell raises nothing: its report names
    every part that failed.
    """
    plan, errors, printed = graded.expected[student], graded.errors[student], graded.printed[student]
    others = [e for cell_errors in errors.values() for e in cell_errors if not e.startswith("GradingError: ")]
    assert not others, f"{student}: a test failed with something other than a GradingError: {others}"
    assert all(errors[cell] for cell in plan.zero), f"{student}: a zeroed cell shows no failure"
    for cell in plan.partial:
        assert not errors[cell], f"{student}: {cell} scored partial credit but shows an error {errors[cell]}"
        assert "  FAILED " in printed[cell], f"{student}: {cell} scored partial credit without a report: {printed[cell]!r}"
    saying = [cell for cell in sorted(plan.zero) if any(plan.message in e for e in errors[cell])]
    if student in GENERIC:
        assert saying == sorted(plan.zero), f"{student}: the failures do not say {plan.message!r}: {errors}"
    elif plan.zero or plan.partial:
        saying += [cell for cell in sorted(plan.partial) if plan.message in printed[cell]]
        assert saying, f"{student}: no failure says {plan.message!r}: {errors}, {printed}"
        assert plan.message in graded.feedback[student], f"{student}: the feedback does not say {plan.message!r}"


def test_export_has_one_row_per_student_with_the_total(assignment: str, graded: Graded):
    points = {grade_id: p for grade_id, (p, _) in graded_cells(source_notebook(assignment)).items()}
    rows = {row["student_id"]: row for row in graded.export}
    assert len(graded.export) == len(rows) and set(rows) == set(graded.expected)
    for student, plan in graded.expected.items():
        assert float(rows[student]["max_score"]) == 100.0
        want = sum(plan.points(cell, p) for cell, p in points.items())
        assert float(rows[student]["score"]) == want, f"{student}: exported {rows[student]['score']}, expected {want}"
    totals = ", ".join(f"{row['student_id']} {float(row['score']):g}" for row in graded.export)
    print(f"\n{assignment}: {totals}; autograde {graded.seconds:.1f} s")


# ---------------------------------------------------------------- feedback

def _test_lines(source: nbformat.NotebookNode, hidden: bool) -> list[str]:
    """Distinctive lines of the test cells, from inside (``hidden``) or outside the hidden-test regions."""
    lines, inside = [], False
    for _, text in graded_cells(source).values():
        for line in text.splitlines():
            if "BEGIN HIDDEN TESTS" in line or "END HIDDEN TESTS" in line:
                inside = "BEGIN" in line
            elif inside == hidden and len(line.strip()) >= 25:
                lines.append(line.strip())
    return lines


def test_feedback_shows_no_hidden_tests(assignment: str, student: str, graded: Graded):
    text = graded.feedback[student]
    assert text, f"no feedback for {student}"
    source = source_notebook(assignment)
    released = "\n".join(cell.source for cell in release_notebook(assignment).cells)
    # The search finds code when it is there: the visible tests are on every feedback page.
    visible = _test_lines(source, hidden=False)
    assert visible and visible[0] in text
    hidden = [line for line in _test_lines(source, hidden=True) if line not in released]
    assert hidden, f"{assignment} has no hidden tests"
    leaked = [line for line in hidden if line in text]
    assert not leaked, f"the feedback of {student} shows hidden tests, e.g. {leaked[:3]}"


# ---------------------------------------------------------------- written answers graded by hand
#
# The instructor's flow after autograde: grades and comments entered in the formgrader (here through
# nbgrader's Gradebook API, exactly as the formgrader's handlers write them), then generate_feedback and
# export.  Autograde run again afterwards (a late submission arrives; a submission is re-graded with
# --force) must not lose a grade entered by hand.

LATE = "late"  # a submission that arrives after the grading by hand: written answers, no code
HAND = {  # student -> the score given by hand for a written answer worth `points` (half points)
    "reference": lambda points: round(points * 0.8 * 2) / 2,
    "noisy": lambda points: round(points * 0.4 * 2) / 2,
}


def hand_comment(student: str, index: int) -> str:
    return f"Remark {index + 1} for {student}: a clear argument, but one step needs a sentence more."


class HandGraded(NamedTuple):
    written: dict[str, float]                       # written answer -> points
    autograded: dict[str, dict[str, tuple]]         # student -> cell -> gradebook row, after autograde
    entered: dict[str, dict[str, tuple[float, str]]]  # student -> cell -> (score, comment) entered by hand
    after: dict[str, dict[str, tuple]]              # the same after grading by hand and autograding again
    feedback: dict[str, str]                        # student -> visible text of the final feedback page
    export: dict[str, dict[str, str]]               # student -> row of the final grades.csv
    auto_points: dict[str, float]                   # student -> autograded points (from the first grading)


def _gradebook_written(course: Path, assignment: str, cells, students) -> dict[str, dict[str, tuple]]:
    """student -> written answer -> (auto_score, manual_score, needs_manual_grade, auto_comment,
    manual_comment, score), as the gradebook holds them."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {student: {cell: _written_row(gb, assignment, student, cell) for cell in cells}
                for student in students}


def _written_row(gb, assignment: str, student: str, cell: str) -> tuple:
    grade = gb.find_grade(cell, assignment, assignment, student)
    comment = gb.find_comment(cell, assignment, assignment, student)
    return (grade.auto_score, grade.manual_score, grade.needs_manual_grade, comment.auto_comment,
            comment.manual_comment, grade.score)


@pytest.fixture(scope="session")
def _hand_graded_courses() -> dict[str, HandGraded]:
    return {}


@pytest.fixture
def hand_graded(assignment: str, graded: Graded, _hand_graded_courses: dict[str, HandGraded],
                tmp_path_factory) -> HandGraded:
    """The graded course of ``assignment`` graded by hand too, built once per session."""
    if assignment not in _hand_graded_courses:
        _hand_graded_courses[assignment] = grade_written_answers(assignment, graded, tmp_path_factory)
    return _hand_graded_courses[assignment]


def grade_written_answers(assignment: str, graded: Graded, tmp_path_factory) -> HandGraded:
    """A copy of the graded course, then: grades entered by hand (the formgrader's writes, through nbgrader's
    Gradebook API: ``course_grade.gradebook.grade_by_hand``), a late submission autograded, the reference
    re-graded with ``--force``, feedback generated again, export."""
    from nbgrader.api import Gradebook

    from course_grade.gradebook import grade_by_hand

    source = source_notebook(assignment)
    written = manual_cells(source)
    course = tmp_path_factory.mktemp(f"hand_{assignment}") / "course"
    shutil.copytree(graded.course, course)
    students = list(graded.expected)
    autograded = _gradebook_written(course, assignment, written, students)

    entered: dict[str, dict[str, tuple[float, str]]] = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student, score_of in HAND.items():
            entered[student] = {cell: (score_of(points), hand_comment(student, i))
                                for i, (cell, points) in enumerate(written.items())}
            for cell, (score, comment) in entered[student].items():
                grade_by_hand(gb, assignment, assignment, student, cell, score, comment)

    folder = course / "submitted" / LATE / assignment
    folder.mkdir(parents=True)
    late = answer(release_notebook(assignment, course), written_answers(source))
    nbformat.write(late, folder / f"{assignment}.ipynb")
    plain = run_nbgrader(course, "autograde", assignment)  # grades the late submission, skips the others
    forced = run_nbgrader(course, "autograde", assignment, "--force", "--student", "reference")
    skipped = "Skipping existing assignment"
    assert skipped in plain.stdout + plain.stderr, "a plain autograde re-ran the submissions graded before"
    assert "Removing existing" in forced.stdout + forced.stderr, "autograde --force did not grade again"
    run_nbgrader(course, "generate_feedback", assignment, "--force")
    run_nbgrader(course, "export")

    after = _gradebook_written(course, assignment, written, students + [LATE])
    feedback = {}
    for student in students + [LATE]:
        page = course / "feedback" / student / assignment / f"{assignment}.html"
        feedback[student] = _visible_text(page.read_text()) if page.is_file() else ""
    with open(course / "grades.csv", newline="") as f:
        export = {row["student_id"]: row for row in csv.DictReader(f)}
    tests = graded_cells(source)
    auto_points = {student: sum(plan.points(cell, p) for cell, (p, _) in tests.items())
                   for student, plan in graded.expected.items()}
    return HandGraded(written, autograded, entered, after, feedback, export, auto_points)


def _score_text(score: float, points: float) -> str:
    """How nbgrader's feedback page writes a cell's score (``| float | round(2)``)."""
    return f"Score: {round(float(score), 2)} / {round(float(points), 2)}"


def test_written_answers_wait_for_the_instructor(hand_graded: HandGraded):
    """After autograde, an answered written question needs grading by hand; an unanswered one scores 0."""
    for student, cells in hand_graded.autograded.items():
        for cell, (auto, manual, needs, auto_comment, _, score) in cells.items():
            if student == "blank":  # the release as it was: nbgrader gives 0 and says so
                assert (auto, needs, auto_comment, score) == (0, False, "No response.", 0), (student, cell)
            else:
                assert auto is None and manual is None and needs, (
                    f"{student}: {cell} should wait for grading by hand, got auto_score {auto}, needs {needs}")


def test_grades_by_hand_survive_autograde_run_again(hand_graded: HandGraded):
    """A plain autograde (a late submission) skips graded students; --force grades one again: neither loses
    a score or comment entered by hand (nbgrader keeps ``manual_score``; after --force it asks for a review)."""
    for student, cells in hand_graded.entered.items():
        for cell, (score, comment) in cells.items():
            _, manual, needs, _, manual_comment, total = hand_graded.after[student][cell]
            assert (manual, manual_comment, total) == (score, comment, score), (
                f"{student}: {cell} had {score} and {comment!r} entered by hand, now {manual}, {manual_comment!r}")
            assert needs == (student == "reference"), (
                f"{student}: {cell}: needs_manual_grade {needs} (only the re-graded reference asks for a review)")
    for cell, (auto, manual, needs, *_) in hand_graded.after[LATE].items():
        assert auto is None and manual is None and needs, f"{LATE}: {cell} should wait for grading by hand"


def test_feedback_shows_grades_and_comments_by_hand(hand_graded: HandGraded):
    for student, cells in hand_graded.entered.items():
        page = hand_graded.feedback[student]
        for cell, (score, comment) in cells.items():
            assert _score_text(score, hand_graded.written[cell]) in page, (
                f"{student}: the feedback does not show {cell}'s score {score} of {hand_graded.written[cell]}")
            assert comment in page, f"{student}: the feedback does not show the comment on {cell}"
    assert hand_graded.feedback[LATE], f"no feedback for {LATE}"


def test_export_totals_include_grades_by_hand(hand_graded: HandGraded):
    rows = hand_graded.export
    assert set(rows) == set(hand_graded.auto_points) | {LATE}
    total = hand_graded.auto_points["reference"] + sum(hand_graded.written.values())  # every point of the assignment
    for student, auto in hand_graded.auto_points.items():
        by_hand = sum(score for score, _ in hand_graded.entered.get(student, {}).values())
        assert float(rows[student]["score"]) == auto + by_hand, (
            f"{student}: exported {rows[student]['score']}, expected {auto:g} autograded + {by_hand:g} by hand")
        assert float(rows[student]["max_score"]) == total
    assert float(rows["reference"]["score"]) == total - sum(
        p - score for (score, _), p in zip(hand_graded.entered["reference"].values(), hand_graded.written.values()))


# ---------------------------------------------------------------- the instructor's own grader

def test_course_grade_gives_the_reference_full_marks_unflagged(assignment: str, tmp_path):
    """``course-grade`` (sandbox, integrity guard, gradebook, feedback, export) agrees with nbgrader on the
    reference solution: every autograded cell full marks, written answers waiting, nothing flagged.

    (A test that imports torchvision once looked like tampering: torchvision imports torch._dynamo,
    which replaces torch.manual_seed with a wrapper.)
    """
    import json

    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(REPO / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(REPO / "solutions" / assignment, course / "solutions" / assignment)
    run_nbgrader(course, "generate_assignment", assignment, "--force")
    source, release = source_notebook(assignment, course), release_notebook(assignment, course)
    folder = course / "submitted" / "reference" / assignment
    folder.mkdir(parents=True)
    nbformat.write(fill(release, solution_code(source)), folder / f"{assignment}.ipynb")
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.setdefault("OMP_NUM_THREADS", "1")
    proc = subprocess.run([sys.executable, "-m", "course_grade", assignment, "--workers", "1", "--no-progress"],
                          cwd=course, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"exit status {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    report = json.loads((course / "grading" / assignment / "grades.json").read_text())
    (student,) = report["students"]
    assert student["status"] == "graded", proc.stdout[-3000:]
    points, written = graded_cells(source), manual_cells(source)
    wrong = {cell: (got["score"], got["message"]) for cell, got in student["cells"].items()
             if cell in points and got["score"] != points[cell][0]}
    assert not wrong, f"course-grade: the reference lost points in {wrong}\n{proc.stdout[-2000:]}"
    assert set(student["cells"]) == set(points) | set(written)
    assert all(student["cells"][cell]["message"] == "graded by hand" for cell in written)
    assert "1 graded (0 flagged), 0 failed" in proc.stdout and "tamper" not in proc.stdout, proc.stdout[-3000:]
