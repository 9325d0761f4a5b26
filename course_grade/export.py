"""Grades out of the gradebook: one CSV row per student, one column per graded cell, and JSON.

The scores come from the gradebook, so grades changed by hand in the
formgrader are exported as they are.  The messages and flags come from
``course-grade``'s per-student reports when there are any.  The CSV is
written with :mod:`csv` (names with commas or quotes stay in one field); the
JSON file holds the same and each test's message.

Also usable as an nbgrader exporter::

    nbgrader export --exporter=course_grade.export.CellGradesExportPlugin --to grades.csv
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import ExportPlugin


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return int(value) if value == int(value) else round(value, 4)
    return value


def collect_rows(gb: Gradebook, assignment: str, cell_order: dict[str, list[str]] | None = None,
                 reports: dict[str, dict] | None = None, students: list[str] | None = None) -> dict[str, Any]:
    """Everything the export writes, as plain data."""
    a = gb.find_assignment(assignment)
    columns: list[dict[str, Any]] = []
    single = len(a.notebooks) == 1
    for nb in a.notebooks:
        cells = {c.name: c for c in nb.grade_cells}
        by_hand = {c.name for c in nb.solution_cells} & set(cells)  # answers graded by hand (written answers)
        order = [n for n in (cell_order or {}).get(nb.name, []) if n in cells]
        order += sorted(n for n in cells if n not in order)
        for name in order:
            columns.append({"notebook": nb.name, "cell": name, "column": name if single else f"{nb.name}:{name}",
                            "max_score": float(cells[name].max_score), "by_hand": name in by_hand})
    rows = []
    for submission in sorted(a.submissions, key=lambda s: s.student.id):
        student = submission.student
        if students and student.id not in students:
            continue
        report = (reports or {}).get(student.id, {})
        grades, comments = {}, {}
        for nb in submission.notebooks:
            for g in nb.grades:
                grades[(nb.name, g.name)] = g
            for c in nb.comments:
                comments[(nb.name, c.name)] = c
        cells = {}
        for col in columns:
            g = grades.get((col["notebook"], col["cell"]))
            info = report.get("cells", {}).get(col["cell"] if single else f"{col['notebook']}/{col['cell']}", {})
            cells[col["column"]] = {
                "score": None if g is None else g.score, "max_score": col["max_score"],
                "needs_manual_grade": bool(g is not None and g.needs_manual_grade),
                "passed": info.get("passed"), "message": info.get("message", ""),
            }
            if col["by_hand"]:  # from the gradebook, which the formgrader changed after the report was written
                waiting = g is None or (g.needs_manual_grade and g.manual_score is None)
                comment = comments.get((col["notebook"], col["cell"]))
                cells[col["column"]].update(passed=None, comment=comment.comment if comment is not None else None,
                                            message="to be graded by hand" if waiting else "graded by hand")
        penalty = sum(nb.late_submission_penalty or 0.0 for nb in submission.notebooks)
        rows.append({
            "student_id": student.id, "last_name": student.last_name or "", "first_name": student.first_name or "",
            "email": student.email or "", "status": report.get("status", "graded (nbgrader)"),
            "timestamp": submission.timestamp.isoformat() if submission.timestamp else "",
            "cells": cells, "raw_score": submission.score, "late_penalty": penalty,
            "score": max(0.0, submission.score - penalty), "max_score": submission.max_score,
            "needs_manual_grade": bool(submission.needs_manual_grade),
            "flags": report.get("flags", []), "notes": report.get("notes", []),
            "events": [e.get("message", "") for e in report.get("events", [])],
            "submission_hash": report.get("hash", ""), "graded_at": report.get("graded_at", ""),
        })
    return {"assignment": assignment, "max_score": sum(c["max_score"] for c in columns),
            "columns": columns, "students": rows}


def to_csv(data: dict[str, Any]) -> str:
    head = ["student_id", "last_name", "first_name", "email", "status", "timestamp"]
    tail = ["raw_score", "late_penalty", "score", "max_score", "needs_manual_grade", "flags"]
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    writer.writerow(head + [c["column"] for c in data["columns"]] + tail)
    for row in data["students"]:
        writer.writerow([row[k] for k in head]
                        + [_fmt(row["cells"][c["column"]]["score"]) for c in data["columns"]]
                        + [_fmt(row["raw_score"]), _fmt(row["late_penalty"]), _fmt(row["score"]),
                           _fmt(row["max_score"]), row["needs_manual_grade"], ";".join(row["flags"])])
    return out.getvalue()


def export(db_url: str, course_id: str, assignment: str, csv_path: Path, json_path: Path,
           cell_order: dict[str, list[str]] | None = None, reports: dict[str, dict] | None = None) -> dict[str, Any]:
    """Write ``csv_path`` and ``json_path`` for one assignment; return the data."""
    from .pipeline import atomic_write

    with Gradebook(db_url, course_id) as gb:
        data = collect_rows(gb, assignment, cell_order, reports)
    atomic_write(Path(csv_path), to_csv(data))
    atomic_write(Path(json_path), json.dumps(data, indent=1, default=str))
    return data


class CellGradesExportPlugin(ExportPlugin):
    """``nbgrader export`` plugin: per-cell columns, quoted CSV, and a JSON file next to it.

    With several assignments, one file per assignment: ``grades_<assignment>.csv``.
    """

    def export(self, gradebook: Gradebook) -> None:
        dest = Path(self.to or "grades.csv")
        assignments = [str(a) for a in self.assignment] or [a.name for a in gradebook.assignments]
        students = [str(s) for s in self.student] or None
        everything = []
        for name in assignments:
            try:
                everything.append(collect_rows(gradebook, name, students=students))
            except MissingEntry:
                self.log.warning("No assignment %s in the gradebook", name)
        for data in everything:
            path = dest if len(everything) == 1 else dest.with_name(f"{dest.stem}_{data['assignment']}{dest.suffix}")
            path.write_text(to_csv(data))
            path.with_suffix(".json").write_text(json.dumps(data, indent=1, default=str))
            self.log.info("Exported %s to %s", data["assignment"], path)
