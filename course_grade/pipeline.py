"""The instructor's side of grading: prepare a submission, record its result, write feedback.

Everything here runs in the one ``course-grade`` process, the only process
that opens the gradebook; workers (:mod:`course_grade.worker`) receive a
self-contained task and return the executed notebooks.

* :meth:`Course.prepare`: read the submission however broken, repair its
  structure against the release (:mod:`course_grade.notebooks`), then
  run nbgrader's own sanitizing preprocessors (``ClearOutput``,
  ``DeduplicateIds``, ``OverwriteKernelspec``, ``OverwriteCells`` (which puts
  the hidden tests back from the gradebook), ``CheckCellMetadata``, or
  whatever ``Autograde.sanitize_preprocessors`` lists).
* :meth:`Course.record`: nbgrader's post-execution preprocessors
  (``Autograde.autograde_preprocessors`` without ``Execute``: ``LimitOutput``,
  ``SaveAutoGrades``, ``AssignLatePenalties``, ...) with
  :class:`NormalizeTestOutputs` before ``SaveAutoGrades``, then the autograded
  notebook, then the student's report.
* :meth:`Course.feedback`: nbgrader's ``GenerateFeedback`` for one student,
  with :mod:`course_grade.feedback`'s preprocessors added.
"""
from __future__ import annotations

import copy
import dataclasses
import datetime
import glob
import hashlib
import json
import os
import re
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode
from nbgrader import utils
from nbgrader.api import MissingEntry
from nbgrader.apps.baseapp import NbGrader
from nbgrader.converters import Autograde, GenerateFeedback
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import ClearHiddenTests, Execute, GetGrades, NbGraderPreprocessor, SaveAutoGrades
from sqlalchemy.exc import SAWarning

from . import feedback as fb
from .execute import error_output
from .gradebook import GradebookWriter
from .notebooks import (
    Unreadable,
    find_notebook,
    from_file_text,
    from_json,
    read_submission,
    rebuild,
    skeleton,
    to_file_text,
    to_json,
)
from .sandbox import Limits, SandboxSpec

STATE_VERSION = 1
MAX_EXTRA_FILES_BYTES = 64 * 2**20


class GradingSetupError(RuntimeError):
    """The course is not ready to grade (the message says what to run)."""


class NormalizeTestOutputs(NbGraderPreprocessor):
    """Outputs of graded cells that must not decide a grade, made harmless before ``SaveAutoGrades``.

    * Text on stderr never costs points: nbgrader gives 0 to a test cell with
      any stderr output, so a correct answer that triggers a deprecation
      warning would lose its points.  It becomes ordinary output (``[stderr]``).
    * Only the test's own last expression can award partial credit: nbgrader
      reads the *first* ``execute_result`` of a test cell as its score, and a
      student's function can produce one (``sys.displayhook(5)``) before the
      test fails.  Other ``execute_result`` outputs become ``display_data``,
      and a cell with an error keeps none.
    """

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not utils.is_grade(cell):
            return cell, resources
        for out in cell.outputs:
            if out.output_type == "stream" and out.name == "stderr":
                out.name = "stdout"
                out.text = "".join(f"[stderr] {line}" for line in out.text.splitlines(keepends=True))
        if utils.is_solution(cell):
            return cell, resources
        results = [i for i, out in enumerate(cell.outputs) if out.output_type == "execute_result"]
        keep = None
        if results and not any(out.output_type == "error" for out in cell.outputs) and _ends_with_expression(cell.source):
            keep = results[-1]
        for i in results:
            if i != keep:
                out = cell.outputs[i]
                out.output_type = "display_data"
                out.pop("execution_count", None)
        return cell, resources


def _ends_with_expression(source: str) -> bool:
    import ast

    try:
        body = ast.parse(source).body
    except SyntaxError:
        return False
    return bool(body) and isinstance(body[-1], ast.Expr)


class _ConfigApp(NbGrader):
    """nbgrader's configuration machinery (jupyter paths, cwd and the course's nbgrader_config.py)."""

    name = "course-grade"
    description = "nbgrader configuration for course-grade"

    def start(self):  # never started; only configured
        pass


def load_app(course_dir: Path, db_url: str | None = None) -> _ConfigApp:
    cwd = os.getcwd()
    os.chdir(course_dir)
    try:
        app = _ConfigApp()
        app.log.setLevel("ERROR")
        app.initialize([], root=str(course_dir))
    finally:
        os.chdir(cwd)
    if db_url:
        app.coursedir.db_url = db_url
    return app


def submission_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """(regular files, symbolic links) under ``folder``; links are never followed.

    A link in a submission could point at the solutions or the gradebook, which
    this process (often root) could read: its target is never read or copied.
    """
    files, links = [], []
    for path in sorted(folder.rglob("*")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        if path.is_symlink():
            links.append(path)
        elif path.is_file():
            files.append(path)
    return files, links


def sha256_dir(folder: Path) -> str:
    h = hashlib.sha256()
    files, links = submission_files(folder)
    for path in files:
        h.update(str(path.relative_to(folder)).encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    for path in links:
        h.update(f"{path.relative_to(folder)}\0->{os.readlink(path)}\0".encode())
    return h.hexdigest()


def atomic_write(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise


@dataclasses.dataclass
class Prepared:
    """A submission ready to run: the task for a worker, or the result at once when nothing can run."""

    student: str
    hash: str
    task: dict[str, Any] | None
    notes: list[str]
    notebooks: dict[str, NotebookNode]          # name -> sanitized notebook (or skeleton)
    unreadable: dict[str, str]                  # name -> why it cannot run
    extra_files: dict[str, bytes]
    timestamp: Any


class Course:
    """One assignment of one course, as ``course-grade`` sees it."""

    def __init__(self, course_dir: Path, assignment: str, limits: Limits, sandbox: SandboxSpec | None = None,
                 db_url: str | None = None, grading_dir: Path | None = None, app: NbGrader | None = None,
                 shared_gradebook: bool = True):
        self.root = Path(course_dir).resolve()
        self.assignment = assignment
        self.limits = limits
        self.sandbox = sandbox or SandboxSpec()
        self.app = app or load_app(self.root, db_url)
        self.coursedir: CourseDirectory = self.app.coursedir
        self.db_url = self.coursedir.db_url
        self.writer = GradebookWriter(self.db_url, self.coursedir.course_id, shared=shared_gradebook)
        self.grading_dir = Path(grading_dir) if grading_dir else self.root / "grading" / assignment
        self.state_dir = self.grading_dir / "state"
        self.log_dir = self.grading_dir / "logs"
        self._load_assignment()

    # ------------------------------------------------------------------ the assignment

    def _path(self, step: str, student: str = ".") -> Path:
        return Path(self.coursedir.format_path(step, student, self.assignment))

    def _load_assignment(self) -> None:
        try:
            with self.writer.open() as gb:
                assignment = gb.find_assignment(self.assignment)
                self.notebook_names = [nb.name for nb in assignment.notebooks]
                digest = hashlib.sha256()
                self.max_scores: dict[str, dict[str, float]] = {}
                for nb in assignment.notebooks:
                    self.max_scores[nb.name] = {c.name: float(c.max_score) for c in nb.grade_cells}
                    for cell in sorted(nb.source_cells, key=lambda c: c.name):
                        digest.update(f"{nb.name}/{cell.name}/{cell.checksum}/{cell.locked}\0".encode())
                    for cell in sorted(nb.grade_cells, key=lambda c: c.name):
                        digest.update(f"{nb.name}/{cell.name}/{cell.max_score}\0".encode())
        except MissingEntry:
            raise GradingSetupError(
                f"the assignment '{self.assignment}' is not in the gradebook ({self.db_url}); "
                f"run `nbgrader generate_assignment {self.assignment}` in {self.root} first") from None
        if not self.notebook_names:
            raise GradingSetupError(f"the assignment '{self.assignment}' has no notebooks in the gradebook; "
                                    f"run `nbgrader generate_assignment {self.assignment} --force`")
        release_dir = self._path(self.coursedir.release_directory)
        self.release: dict[str, NotebookNode] = {}
        for name in self.notebook_names:
            path = release_dir / f"{name}.ipynb"
            if not path.is_file():
                raise GradingSetupError(f"the released notebook {path} is missing; run "
                                        f"`nbgrader generate_assignment {self.assignment} --force`")
            self.release[name] = nbformat.read(path, as_version=4)
        source_dir = self._path(self.coursedir.source_directory)
        self.source_files: dict[str, bytes] = {}
        if source_dir.is_dir():
            for filename in utils.find_all_files(str(source_dir), self.coursedir.ignore + ["*.ipynb"]):
                self.source_files[os.path.relpath(filename, source_dir)] = Path(filename).read_bytes()
        for rel in sorted(self.source_files):
            digest.update(rel.encode() + hashlib.sha256(self.source_files[rel]).digest())
        digest.update(f"state-{STATE_VERSION}".encode())
        self.key = digest.hexdigest()
        self.max_score = sum(sum(cells.values()) for cells in self.max_scores.values())

    def students(self) -> list[str]:
        """Students with a folder in ``submitted/`` for this assignment."""
        pattern = self.coursedir.format_path(self.coursedir.submitted_directory, "*", self.assignment)
        found = []
        template = self.coursedir.format_path(self.coursedir.submitted_directory, "(?P<student_id>[^/]+)",
                                              self.assignment, escape=True)
        for path in sorted(glob.glob(pattern)):
            m = re.fullmatch(template, path)
            if m and os.path.isdir(path):
                found.append(m.group("student_id"))
        exclude = set(filter(None, (self.coursedir.student_id_exclude or "").split(",")))
        return [s for s in found if s not in exclude]

    def submission_dir(self, student: str) -> Path:
        return self._path(self.coursedir.submitted_directory, student)

    def submission_hash(self, student: str) -> str:
        return hashlib.sha256((sha256_dir(self.submission_dir(student)) + self.key).encode()).hexdigest()

    # ------------------------------------------------------------------ state (resumability)

    def state_path(self, student: str) -> Path:
        return self.state_dir / f"{student}.json"

    def load_state(self, student: str) -> dict | None:
        try:
            return json.loads(self.state_path(student).read_text())
        except (OSError, ValueError):
            return None

    def is_current(self, student: str, digest: str) -> bool:
        """Graded before from exactly this submission, with these tests and limits, and the results are still there."""
        state = self.load_state(student)
        if not state or state.get("hash") != digest or state.get("status") not in ("graded", "unreadable"):
            return False
        autograded = self._path(self.coursedir.autograded_directory, student)
        if not all((autograded / f"{name}.ipynb").is_file() for name in self.notebook_names):
            return False
        try:
            with self.writer.open() as gb:
                gb.find_submission(self.assignment, student)
        except MissingEntry:
            return False
        return True

    # ------------------------------------------------------------------ prepare (before the worker)

    def _resources(self, student: str, notebook: str) -> dict[str, Any]:
        return {"unique_key": notebook, "output_files_dir": f"{notebook}_files",
                "nbgrader": {"student": student, "assignment": self.assignment, "notebook": notebook,
                             "db_url": self.db_url},
                "metadata": {"path": str(self._path(self.coursedir.autograded_directory, student))}}

    def _run(self, classes, nb: NotebookNode, resources: dict) -> NotebookNode:
        with self.writer.lent():
            for cls in classes:
                pp = cls(parent=self.app) if isinstance(cls, type) else cls
                nb, resources = pp(nb, resources)
        return nb

    def prepare(self, student: str, digest: str | None = None) -> Prepared:
        folder = self.submission_dir(student)
        digest = digest or self.submission_hash(student)
        notes: list[str] = []
        notebooks: dict[str, NotebookNode] = {}
        unreadable: dict[str, str] = {}
        taken = {f"{n}.ipynb" for n in self.notebook_names}
        sanitize = Autograde(coursedir=self.coursedir, parent=self.app).sanitize_preprocessors
        for name in self.notebook_names:
            path, found_notes = find_notebook(folder, name, self.release[name], taken)
            notes += found_notes
            reason = None
            if path is None:
                reason = f"{name}.ipynb was not submitted"
            else:
                taken.add(path.name)
                try:
                    nb, read_notes = read_submission(path)
                    notes += read_notes
                    nb, repair_notes = rebuild(nb, self.release[name])
                    notes += repair_notes
                except Unreadable as exc:
                    reason = str(exc)
            if reason is None:
                try:
                    nb = self._run(sanitize, nb, self._resources(student, name))
                except Exception as exc:
                    reason = f"the notebook's structure could not be checked ({type(exc).__name__}: {exc})"
            if reason is not None:
                unreadable[name] = reason
                notes.append(f"{name}: {reason}; every test of it scores 0")
                nb = self._run(sanitize, skeleton(self.release[name], reason), self._resources(student, name))
            notebooks[name] = nb

        extra_files: dict[str, bytes] = {}
        total = 0
        files, links = submission_files(folder)
        for path in links:
            notes.append(f"'{path.relative_to(folder)}' is a symbolic link; it was ignored")
        for path in files:
            rel = str(path.relative_to(folder))
            if path.suffix == ".ipynb" or rel == "timestamp.txt" or ".ipynb_checkpoints" in path.parts:
                continue
            size = path.stat().st_size
            if total + size > MAX_EXTRA_FILES_BYTES:
                notes.append(f"the file '{rel}' was not given to the notebook: the submission's files exceed "
                             f"{MAX_EXTRA_FILES_BYTES // 2**20} MiB")
                continue
            total += size
            extra_files[rel] = path.read_bytes()
        files = {**extra_files, **self.source_files}
        timestamp = self.coursedir.get_existing_timestamp(str(folder))
        runnable = [n for n in self.notebook_names if n not in unreadable]
        task = None
        if runnable:
            task = {
                "student": student, "assignment": self.assignment,
                "notebooks": [{"name": n, "json": to_json(notebooks[n])} for n in runnable],
                "files": files, "limits": self.limits.to_dict(), "sandbox": self.sandbox.to_dict(),
            }
        return Prepared(student, digest, task, notes, notebooks, unreadable, extra_files, timestamp)

    # ------------------------------------------------------------------ record (after the worker)

    def record(self, prepared: Prepared, result: dict[str, Any] | None) -> dict[str, Any]:
        """Write one student's result: gradebook, autograded notebooks, report. Returns the report."""
        outcome = self.record_group([(prepared, result)])[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def record_group(self, items: list[tuple[Prepared, dict[str, Any] | None]]) -> list[dict[str, Any] | Exception]:
        """Write several students' results in one gradebook transaction; a report or the error, per student.

        All of the group is committed or none of it.  When the group fails,
        each student is written again in a transaction of its own, so one bad
        result costs only its own student (reported, nothing of it written).
        The autograded notebooks are written after the commit.
        """
        outcomes: list[dict[str, Any] | Exception | None] = [None] * len(items)
        runnable = []
        for i, (_, result) in enumerate(items):
            if result is not None and result.get("error"):
                outcomes[i] = RuntimeError(result["error"])
            else:
                runnable.append(i)

        def stage(indices: list[int]) -> dict[int, tuple]:
            with self.writer.transaction():
                return {i: self._stage(*items[i]) for i in indices}

        try:
            staged = stage(runnable) if runnable else {}
        except Exception:
            staged = {}
            for i in runnable:
                try:
                    staged.update(stage([i]))
                except Exception as exc:
                    outcomes[i] = exc
        for i, (executed, report) in sorted(staged.items()):
            try:
                self._write_autograded(items[i][0], executed)
                outcomes[i] = report
            except Exception as exc:
                outcomes[i] = exc
        return outcomes  # type: ignore[return-value]

    def _stage(self, prepared: Prepared, result: dict[str, Any] | None) -> tuple[dict[str, NotebookNode], dict]:
        """The gradebook rows of one student (inside the caller's transaction) and the scored notebooks."""
        student = prepared.student
        executed: dict[str, NotebookNode] = {}
        events: list[dict] = []
        if result is not None:
            events = result.get("events", [])
            for item in result.get("notebooks", []):
                executed[item["name"]] = from_json(item["json"])
        for name, reason in prepared.unreadable.items():
            nb = copy.deepcopy(prepared.notebooks[name])
            for cell in nb.cells:
                if cell.cell_type == "code":
                    cell.outputs = []
                    if utils.is_grade(cell):
                        cell.outputs.append(error_output("NotGraded", f"your notebook could not be graded: {reason}"))
            executed[name] = nb
        missing = [n for n in self.notebook_names if n not in executed]
        if missing:
            raise RuntimeError(f"the result of {student} lacks the notebook(s) {', '.join(missing)}")

        post = [cls for cls in Autograde(coursedir=self.coursedir, parent=self.app).autograde_preprocessors
                if not (isinstance(cls, type) and issubclass(cls, Execute))]
        at = next((i for i, cls in enumerate(post) if cls is SaveAutoGrades), 0)
        post.insert(at, NormalizeTestOutputs)
        student_notes = list(prepared.notes) + [e["message"] for e in events
                                                if e.get("kind") not in ("guard",)]
        with self.writer.open() as gb, warnings.catch_warnings():
            warnings.simplefilter("ignore", SAWarning)  # nbgrader's own, harmless, when a submission is created
            gb.update_or_create_student(student)
            if prepared.timestamp:
                gb.update_or_create_submission(self.assignment, student, timestamp=prepared.timestamp)
            else:
                gb.update_or_create_submission(self.assignment, student)
        for name in self.notebook_names:
            nb = executed[name]
            nb.metadata["course_grade"] = {"notes": student_notes, "graded_at": _now()}
            executed[name] = self._run(post, nb, self._resources(student, name))
        return executed, self._report(student, executed, events, prepared, result)

    def _write_autograded(self, prepared: Prepared, executed: dict[str, NotebookNode]) -> None:
        autograded = self._path(self.coursedir.autograded_directory, prepared.student)
        for name in self.notebook_names:
            atomic_write(autograded / f"{name}.ipynb", to_file_text(executed[name]))
        files = {**prepared.extra_files, **self.source_files}
        for rel, data in files.items():
            atomic_write(autograded / rel, data)
        ts = self.submission_dir(prepared.student) / "timestamp.txt"
        if ts.is_file() and not ts.is_symlink():
            shutil.copy(ts, autograded / "timestamp.txt")

    def _report(self, student: str, executed: dict[str, NotebookNode], events: list[dict],
                prepared: Prepared, result: dict | None) -> dict[str, Any]:
        cells: dict[str, dict[str, Any]] = {}
        with self.writer.open() as gb:
            submission = gb.find_submission(self.assignment, student)
            score, max_score = submission.score, submission.max_score
            penalty = submission.late_submission_penalty
            for name in self.notebook_names:
                nb_sub = gb.find_submission_notebook(name, self.assignment, student)
                grades = {g.name: g for g in nb_sub.grades}
                for cell in executed[name].cells:
                    gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                    if gid not in grades or not utils.is_grade(cell):
                        continue
                    grade = grades[gid]
                    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
                    message = f"{errors[-1].get('ename')}: {errors[-1].get('evalue')}" if errors else ""
                    key = gid if len(self.notebook_names) == 1 else f"{name}/{gid}"
                    passed = not errors and grade.score == grade.max_score
                    if utils.is_solution(cell):  # an answer graded by hand: neither passed nor failed
                        passed = None
                        message = ("to be graded by hand" if grade.needs_manual_grade and grade.manual_score is None
                                   else "graded by hand")
                    cells[key] = {"score": grade.score, "max_score": grade.max_score, "passed": passed,
                                  "needs_manual_grade": grade.needs_manual_grade,
                                  "message": message[:2000]}
        flags = sorted({e["kind"] for e in events if e.get("kind") in ("limit", "died", "tampering", "restored",
                                                                         "processes", "shadowed", "threads")})
        if prepared.unreadable:
            flags.append("unreadable")
        if prepared.notes:
            flags.append("repaired")
        return {
            "version": STATE_VERSION, "student": student, "assignment": self.assignment,
            "hash": prepared.hash, "status": "unreadable" if len(prepared.unreadable) == len(self.notebook_names) else "graded",
            "score": score, "max_score": max_score, "late_penalty": penalty or 0.0,
            "cells": cells, "notes": list(prepared.notes), "events": events, "flags": flags,
            "seconds": (result or {}).get("seconds"), "worker": (result or {}).get("worker"),
            "restarts": (result or {}).get("restarts", 0), "graded_at": _now(),
        }

    def save_state(self, report: dict[str, Any]) -> None:
        atomic_write(self.state_path(report["student"]), json.dumps(report, indent=1, default=str))

    def write_log(self, report: dict[str, Any], extra: str = "") -> Path:
        lines = [f"student: {report['student']}", f"assignment: {report['assignment']}",
                 f"graded at: {report['graded_at']} on {report.get('worker') or 'this machine'}"
                 + (f" in {report['seconds']:.1f} s" if report.get("seconds") else ""),
                 f"score: {report['score']:g} / {report['max_score']:g}"
                 + (f" (late penalty {report['late_penalty']:g})" if report.get("late_penalty") else ""),
                 f"submission hash: {report['hash']}", ""]
        lines.append("tests:")
        for gid, cell in report["cells"].items():
            status = "hand" if cell["passed"] is None else ("pass" if cell["passed"] else "FAIL")
            lines.append(f"  {status} {gid}: {cell['score'] if cell['score'] is not None else '-'} / "
                         f"{cell['max_score']:g}" + (f"  {cell['message']}" if cell["message"] else ""))
        if report["notes"]:
            lines += ["", "notebook repairs:"] + [f"  - {n}" for n in report["notes"]]
        if report["events"]:
            lines += ["", "during execution:"] + [f"  - [{e['kind']}] {e['message']}" for e in report["events"]]
        if extra:
            lines += ["", extra]
        path = self.log_dir / f"{report['student']}.log"
        atomic_write(path, "\n".join(lines) + "\n")
        return path

    # ------------------------------------------------------------------ feedback

    def feedback_job(self, student: str) -> dict[str, Any]:
        """What a worker needs to render one student's feedback (see :meth:`feedback_settings` for the rest).

        ``GetGrades`` (the only step that reads the gradebook) runs here; the
        rest of ``GenerateFeedback.preprocessors`` and the HTML export run on
        a worker, so feedback scales with the workers like grading does.
        """
        autograded = self._path(self.coursedir.autograded_directory, student)
        notebooks = []
        for name in self.notebook_names:
            nb = from_file_text((autograded / f"{name}.ipynb").read_text())
            resources = self._resources(student, name)
            with self.writer.lent():
                nb, resources = GetGrades(parent=self.app)(nb, resources)
            with self.writer.open() as gb:
                waiting = {g.name for g in gb.find_submission_notebook(name, self.assignment, student).grades
                           if g.needs_manual_grade and g.manual_score is None}
            for cell in nb.cells:  # answers still to be graded by hand: the summary says so instead of "0"
                meta = cell.get("metadata", {}).get("nbgrader", {})
                if meta.get("solution") and meta.get("grade") and meta.get("grade_id") in waiting:
                    cell.metadata.setdefault("course_grade", {})["needs_manual_grade"] = True
            notebooks.append({"name": name, "json": to_json(nb), "nbgrader": resources["nbgrader"]})
        return {"student": student, "notebooks": notebooks}

    def feedback_settings(self) -> dict[str, Any]:
        """The same for every student (sent to the workers once): configuration and preprocessors."""
        configured = GenerateFeedback(coursedir=self.coursedir, parent=self.app).preprocessors
        chain = feedback_preprocessors(list(configured))
        return {"config": self.app.config, "preprocessors": [p for p in chain if p is not GetGrades]}

    def write_feedback(self, student: str, pages: dict[str, str]) -> None:
        """Write the rendered pages, and the other files of the submission, as ``GenerateFeedback`` does."""
        source = self._path(self.coursedir.autograded_directory, student)
        dest = self._path(self.coursedir.feedback_directory, student)
        for filename in utils.find_all_files(str(source), self.coursedir.ignore + ["*.ipynb"]):
            atomic_write(dest / os.path.relpath(filename, source), Path(filename).read_bytes())
        for name, page in pages.items():
            atomic_write(dest / f"{name}.html", page)

    def feedback(self, student: str) -> None:
        """Feedback for one student in this process (``course-grade`` renders it on the workers)."""
        from .worker import render_feedback

        self.write_feedback(student, render_feedback(self.feedback_job(student), self.feedback_settings()))


def feedback_preprocessors(configured: list) -> list:
    """``configured`` with the redaction and the summary added after ``GetGrades`` (once)."""
    names = {getattr(p, "__name__", type(p).__name__) for p in configured}
    mine = [p for p in (fb.RedactHiddenTests, fb.GradingSummary) if p.__name__ not in names]
    if not mine:
        return configured
    out = []
    for p in configured:
        if p is ClearHiddenTests or getattr(p, "__name__", "") == "ClearHiddenTests":
            out += mine
            mine = []
        out.append(p)
        if p is GetGrades:
            out += mine
            mine = []
    return mine + out


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
