"""The gradebook writer: results written a group per transaction, each exactly once, never half.

A temporary course releases Assignment 1 (real nbgrader); one real
submission is prepared by :meth:`Course.prepare`, and a stream of synthetic
results (the prepared notebook with made-up outcomes per test cell, no
execution) is recorded by :meth:`Course.record_group`.  A failure in the
middle of a group (once: retried; always: reported) leaves the gradebook and
the autograded folder as if that student had not been recorded, and every
other student exactly once, with the scores its result implies.
"""
from __future__ import annotations

import copy
import dataclasses
import random
from pathlib import Path

import nbformat
import pytest
from nbformat import NotebookNode
from test_grader_hostile import ASSIGNMENT, NOTEBOOK, dumps, fill, make_course, solution_code

pytestmark = pytest.mark.grading


def error_output(ename: str, evalue: str) -> dict:
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": [f"{ename}: {evalue}"]}


def synthetic_result(prepared, student: str, rng: random.Random, fail: float = 0.3):
    """(a copy of ``prepared`` for ``student``, a worker's result for it): each test cell fails with
    probability ``fail``; also the expected score per test cell."""
    from course_grade.notebooks import from_json, to_json

    mine = dataclasses.replace(prepared, student=student, hash=f"{student}-{prepared.hash[:16]}",
                               notebooks=copy.deepcopy(prepared.notebooks))
    notebooks, expected = [], {}
    for item in prepared.task["notebooks"]:
        nb: NotebookNode = from_json(item["json"])
        for cell in nb.cells:  # written answers, left as released: 0 until the instructor grades them by hand
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") and meta.get("solution"):
                expected[meta["grade_id"]] = 0.0
        for count, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
            cell.execution_count = count + 1
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") and not meta.get("solution"):
                failed = rng.random() < fail
                cell.outputs = [nbformat.from_dict(error_output("AssertionError", "synthetic failure"))] if failed else []
                expected[meta["grade_id"]] = 0.0 if failed else float(meta["points"])
        notebooks.append({"name": item["name"], "json": to_json(nb)})
    result = {"student": student, "notebooks": notebooks, "events": [], "restarts": 0, "worker": "synthetic",
              "error": None, "seconds": 0.0}
    return mine, result, expected


def released_course(root: Path, db_url: str | None = None) -> Path:
    """A course with Assignment 1 released and one correct submission, ``template``."""
    if db_url:
        import shutil

        from test_grader_hostile import run

        repo = Path(__file__).resolve().parents[1]
        shutil.copy(repo / "nbgrader_config.py", root / "nbgrader_config.py")
        shutil.copytree(repo / "solutions" / ASSIGNMENT, root / "solutions" / ASSIGNMENT)
        run(root, "nbgrader", "generate_assignment", ASSIGNMENT, "--force", f"--db={db_url}")
    else:
        make_course(root)
    source = nbformat.read(root / "solutions" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    release = nbformat.read(root / "assignments" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    folder = root / "submitted" / "template" / ASSIGNMENT
    folder.mkdir(parents=True)
    (folder / f"{NOTEBOOK}.ipynb").write_bytes(dumps(fill(release, solution_code(source))))
    return root


def open_course(root: Path, db_url: str | None = None, shared: bool = True):
    from course_grade.pipeline import Course
    from course_grade.sandbox import Limits

    return Course(root, ASSIGNMENT, Limits(), db_url=db_url, shared_gradebook=shared)


@pytest.fixture(scope="module")
def course_root(tmp_path_factory) -> Path:
    return released_course(tmp_path_factory.mktemp("writer-course"))


def gradebook_scores(course) -> dict[str, dict[str, float]]:
    with course.writer.open() as gb:
        return {sub.student.id: {g.name: g.score for nb in sub.notebooks for g in nb.grades}
                for sub in gb.find_assignment(ASSIGNMENT).submissions}


def test_a_group_is_recorded_once_each_and_a_failure_midway_costs_only_its_student(course_root, monkeypatch):
    course = open_course(course_root)
    template = course.prepare("template")
    rng = random.Random(0)
    stream = [synthetic_result(template, f"s{i:02d}", rng) for i in range(12)]
    flaky, broken = "s04", "s07"
    attempts = {flaky: 0, broken: 0}
    stage = type(course)._stage

    def failing_stage(self, prepared, result):
        out = stage(self, prepared, result)  # its rows are flushed into the transaction: then it fails
        if prepared.student in attempts:
            attempts[prepared.student] += 1
            if prepared.student == broken or attempts[prepared.student] == 1:
                raise RuntimeError(f"disk full while recording {prepared.student}")
        return out

    monkeypatch.setattr(type(course), "_stage", failing_stage)
    commits = course.writer.commits
    outcomes = course.record_group([(p, r) for p, r, _ in stream])
    monkeypatch.undo()

    # the group stops at the flaky one (rolled back whole), then each student is tried on its own
    assert attempts == {flaky: 2, broken: 1}
    by_student = {p.student: o for (p, _, _), o in zip(stream, outcomes)}
    assert isinstance(by_student[broken], RuntimeError) and "disk full" in str(by_student[broken])
    scores = gradebook_scores(course)
    assert broken not in scores, "nothing of the failed student may be written"
    assert not (course_root / "autograded" / broken).exists()
    for prepared, _, expected in stream:
        if prepared.student == broken:
            continue
        report = by_student[prepared.student]
        assert isinstance(report, dict), report
        assert scores[prepared.student] == expected
        assert {k: c["score"] for k, c in report["cells"].items()} == expected
        assert (course_root / "autograded" / prepared.student / ASSIGNMENT / f"{NOTEBOOK}.ipynb").is_file()
    with course.writer.open() as gb:
        students = [s.student.id for s in gb.find_assignment(ASSIGNMENT).submissions]
    assert sorted(students) == sorted(set(students)), "nobody recorded twice"
    assert course.writer.commits - commits == len(stream) - 1, "one failed group, then one commit per student"

    # Recording the same results again (a re-run) updates; it never duplicates.
    again = course.record_group([(p, r) for p, r, _ in stream if p.student != broken])
    assert all(isinstance(o, dict) for o in again)
    assert gradebook_scores(course) == scores
    course.writer.close()


def test_one_group_one_commit_and_a_worker_error_is_reported_not_written(course_root):
    course = open_course(course_root)
    template = course.prepare("template")
    rng = random.Random(1)
    stream = [synthetic_result(template, f"g{i:02d}", rng) for i in range(5)]
    stream[2][1]["error"] = "grading g02 failed on a worker: OSError"
    commits = course.writer.commits
    outcomes = course.record_group([(p, r) for p, r, _ in stream])
    assert course.writer.commits - commits == 1
    assert isinstance(outcomes[2], RuntimeError) and "failed on a worker" in str(outcomes[2])
    scores = gradebook_scores(course)
    assert "g02" not in scores
    assert all(scores[p.student] == e for p, _, e in stream if p.student != "g02")
    course.writer.close()


def test_nbgraders_own_way_gives_the_same_grades(course_root):
    """shared=False (a gradebook per use, a commit per cell: what the benchmark calls 'before')."""
    course = open_course(course_root, shared=False)
    template = course.prepare("template")
    rng = random.Random(2)
    stream = [synthetic_result(template, f"n{i:02d}", rng) for i in range(3)]
    outcomes = course.record_group([(p, r) for p, r, _ in stream])
    assert all(isinstance(o, dict) for o in outcomes)
    scores = gradebook_scores(course)
    assert all(scores[p.student] == e for p, _, e in stream)
