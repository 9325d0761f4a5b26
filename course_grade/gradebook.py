"""The run's one gradebook connection, and results written a group at a time.

nbgrader's preprocessors open a new :class:`~nbgrader.api.Gradebook` each time
they run (``SaveAutoGrades``, ``OverwriteCells``, ``GetGrades``, ...): a new
database engine, a check of every table, and ``SaveAutoGrades`` commits once
per cell.  On SQLite each commit is a synchronous write to disk.  That made
the instructor's process, the only gradebook writer, the bottleneck of a
cluster (see ``GRADING.md``, Benchmark).

:class:`GradebookWriter` keeps one ``Gradebook`` open for the whole run and
lends it to nbgrader's preprocessors (:meth:`GradebookWriter.lent`: their
``Gradebook(...)`` returns the open one, and their ``with`` does not close
it).  :meth:`GradebookWriter.transaction` turns the commits made inside it
into nothing and commits once at the end, or rolls everything back: a group
of students is written all or nothing.  The caller writes files only after
the commit.  Still one writer: everything runs in the ``course-grade``
process.
"""
from __future__ import annotations

import contextlib
import importlib
from typing import Any, Iterator

import jsonschema
from nbgrader.api import Gradebook

__all__ = ["GradebookWriter", "NBGRADER_GRADEBOOK_USERS", "grade_by_hand"]

# nbgrader's modules that open a Gradebook of their own (by the name ``Gradebook`` they import).
NBGRADER_GRADEBOOK_USERS = (
    "nbgrader.preprocessors.saveautogrades", "nbgrader.preprocessors.overwritecells",
    "nbgrader.preprocessors.getgrades", "nbgrader.preprocessors.latesubmissions",
    "nbgrader.preprocessors.overwritekernelspec", "nbgrader.preprocessors.savecells",
)


def grade_by_hand(gb: Gradebook, assignment: str, notebook: str, student: str, cell: str,
                  score: float | None, comment: str | None = None, extra_credit: float | None = None) -> None:
    """Enter a score (and a comment) for one graded cell of a submission, as the formgrader does.

    The formgrader's handlers (nbgrader 0.9.6, ``server_extensions/formgrader/apihandlers.py``) set
    ``Grade.manual_score`` and ``Grade.extra_credit``, mark the grade as needing manual grading only
    when it has neither a manual nor an automatic score, and set ``Comment.manual_comment``; this
    writes the same rows, for grading written answers from a script (e.g. scores in a spreadsheet).
    ``score=None`` clears the manual score (the automatic one counts again).  A manual score takes
    precedence over the autograder's, and ``autograde`` (nbgrader's or ``course-grade``'s) never
    overwrites it.  ``comment`` is for answer cells only (cells with ``solution`` in their metadata).
    """
    grade = gb.find_grade(cell, notebook, assignment, student)
    if score is not None and not 0 <= float(score) <= float(grade.max_score):
        raise ValueError(f"grade_by_hand: score {score} for cell '{cell}' of {student}'s {assignment}/{notebook} "
                         f"is outside 0 .. {grade.max_score:g}, the cell's points")
    grade.manual_score = None if score is None else float(score)
    grade.extra_credit = None if extra_credit is None else float(extra_credit)
    grade.needs_manual_grade = grade.manual_score is None and grade.auto_score is None
    gb.db.commit()
    if comment is not None:
        gb.find_comment(cell, notebook, assignment, student).manual_comment = comment
        gb.db.commit()


class _Lent:
    """The open gradebook, as nbgrader's code receives it: ``with`` and ``close()`` leave it open.

    ``find_grade`` and ``find_comment`` (called once per cell by ``SaveAutoGrades``
    and ``GetGrades``, a six-table join each) are answered from one query per
    submitted notebook: the same rows, the same objects of the session.
    """

    def __init__(self, gradebook: Gradebook, rows: dict):
        self._gradebook = gradebook
        self._rows = rows  # (kind, notebook, assignment, student) -> {cell name: Grade or Comment}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gradebook, name)

    def _of_notebook(self, kind, notebook: str, assignment: str, student: str) -> dict:
        from nbgrader.api import Assignment, BaseCell, Notebook, SubmittedAssignment, SubmittedNotebook

        key = (kind.__name__, notebook, assignment, student)
        if key not in self._rows:
            query = (self._gradebook.db.query(kind, BaseCell.name)
                     .join(BaseCell, BaseCell.id == kind.cell_id)
                     .join(SubmittedNotebook, SubmittedNotebook.id == kind.notebook_id)
                     .join(Notebook, Notebook.id == SubmittedNotebook.notebook_id)
                     .join(SubmittedAssignment, SubmittedAssignment.id == SubmittedNotebook.assignment_id)
                     .join(Assignment, Assignment.id == SubmittedAssignment.assignment_id)
                     .filter(Notebook.name == notebook, Assignment.name == assignment,
                             SubmittedAssignment.student_id == student))
            self._rows[key] = {name: row for row, name in query.all()}
        return self._rows[key]

    def find_grade(self, grade_cell: str, notebook: str, assignment: str, student: str):
        from nbgrader.api import Grade

        found = self._of_notebook(Grade, notebook, assignment, student).get(grade_cell)
        return found if found is not None else self._gradebook.find_grade(grade_cell, notebook, assignment, student)

    def find_comment(self, solution_cell: str, notebook: str, assignment: str, student: str):
        from nbgrader.api import Comment

        found = self._of_notebook(Comment, notebook, assignment, student).get(solution_cell)
        return (found if found is not None
                else self._gradebook.find_comment(solution_cell, notebook, assignment, student))

    def __enter__(self) -> "_Lent":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def close(self) -> None:
        return None


class _CheckedSchemas:
    """``jsonschema`` as nbgrader's ``CheckCellMetadata`` uses it (``validate``), without checking
    nbgrader's own schema again for every cell: the validator is built once per schema."""

    ValidationError = jsonschema.ValidationError
    _validators: dict[int, tuple[dict, Any]] = {}

    @classmethod
    def validate(cls, instance: Any, schema: dict) -> None:
        kept = cls._validators.get(id(schema))
        if kept is None or kept[0] is not schema:
            validator_class = jsonschema.validators.validator_for(schema)
            validator_class.check_schema(schema)
            kept = cls._validators[id(schema)] = (schema, validator_class(schema))
        error = jsonschema.exceptions.best_match(kept[1].iter_errors(instance))
        if error is not None:
            raise error


def _no_commit() -> None:
    """``Session.commit`` inside :meth:`GradebookWriter.transaction`."""


class GradebookWriter:
    """One open gradebook for a run; ``shared=False`` is nbgrader's own way (a connection per use, a
    commit per cell), kept to measure the difference (``benchmarks/bench_gradebook.py``)."""

    def __init__(self, db_url: str, course_id: str, shared: bool = True):
        self.db_url, self.course_id, self.shared = db_url, course_id, shared
        self._gradebook: Gradebook | None = None
        self.commits = 0
        self.in_transaction = False
        self._rows: dict = {}  # what _Lent looked up, valid until the transaction or read ends

    @property
    def gradebook(self) -> Gradebook:
        if self._gradebook is None:
            self._gradebook = Gradebook(self.db_url, self.course_id)
            self._add_indexes(self._gradebook)
        return self._gradebook

    @staticmethod
    def _add_indexes(gradebook: Gradebook) -> None:
        """Indexes nbgrader's schema lacks, for the lookups of one student's grades and comments.

        ``grade`` and ``comment`` are unique on ``(cell_id, notebook_id)`` only,
        so every query by submitted notebook (a submission's score, its grades)
        scanned the whole table: recording got slower with every student (0.4
        results per second at 3,000 students on SQLite).  Only indexes are
        added (``IF NOT EXISTS``): no table or row changes, nbgrader and the
        formgrader work as before.
        """
        from sqlalchemy import text

        with gradebook.engine.begin() as connection:
            for table in ("grade", "comment"):
                connection.execute(text(f"CREATE INDEX IF NOT EXISTS ix_course_grade_{table}_notebook "
                                        f"ON {table} (notebook_id)"))

    @contextlib.contextmanager
    def open(self) -> Iterator[Gradebook]:
        """The gradebook for a read or a write outside nbgrader's preprocessors."""
        if not self.shared:
            with Gradebook(self.db_url, self.course_id) as gb:
                yield gb
            return
        try:
            yield _Lent(self.gradebook, self._rows)  # type: ignore[misc]
        finally:
            self._end_read()

    def _end_read(self) -> None:
        """Outside a transaction, a read leaves nothing open (no lock held, the next read sees new commits)."""
        if not self.in_transaction and self._gradebook is not None:
            self._gradebook.db.rollback()
            self._rows.clear()

    @contextlib.contextmanager
    def lent(self) -> Iterator[None]:
        """While inside, nbgrader's preprocessors use the open gradebook instead of opening their own."""
        if not self.shared:
            yield
            return
        modules = [importlib.import_module(name) for name in NBGRADER_GRADEBOOK_USERS]
        saved = [m.Gradebook for m in modules]
        lent = _Lent(self.gradebook, self._rows)
        for m in modules:
            m.Gradebook = lambda *args, **kwargs: lent
        schema_check = importlib.import_module("nbgrader.nbgraderformat.common")
        saved_jsonschema = schema_check.jsonschema
        schema_check.jsonschema = _CheckedSchemas
        try:
            yield
        finally:
            for m, original in zip(modules, saved):
                m.Gradebook = original
            schema_check.jsonschema = saved_jsonschema
            self._end_read()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything written inside is committed once at the end, or not at all (then the error is raised).

        nbgrader's methods commit as they go; inside, their ``commit()`` does
        nothing (the session flushes before each query, so the rows are visible
        to this session's reads, e.g. a submission's score) and the one real
        commit happens here.
        """
        if not self.shared:
            yield
            return
        session = self.gradebook.db
        session.rollback()  # start from the database as it is
        self._rows.clear()
        rolled_back = []

        def rollback() -> None:  # nbgrader rolls back before it raises; never go on after that
            rolled_back.append(True)
            type(session).rollback(session)

        # attributes of this scoped session only; the session flushes by itself before every query
        session.commit, session.rollback = _no_commit, rollback
        self.in_transaction = True
        try:
            yield
            if rolled_back:
                raise RuntimeError("a write of this group was rolled back by nbgrader; the group is not committed")
        except BaseException:
            del session.commit, session.rollback
            self.in_transaction = False
            self._rows.clear()
            session.rollback()
            raise
        del session.commit, session.rollback
        self.in_transaction = False
        self._rows.clear()
        try:
            session.commit()
        except BaseException:
            session.rollback()
            raise
        self.commits += 1

    def close(self) -> None:
        if self._gradebook is not None:
            self._gradebook.close()
            self._gradebook = None
