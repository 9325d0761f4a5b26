"""Feedback preprocessors: a per-test summary at the top, and no trace of the hidden tests.

nbgrader's ``ClearHiddenTests`` removes the hidden tests from the cells'
*source*; :class:`RedactHiddenTests` also keeps them out of the *outputs*:
a submission could print the running test's source (IPython keeps it in
``In`` and ``linecache``) or put it into an exception message.  In cells
that contain hidden tests only the error message and the report of the
test's named sub-checks are kept (``course_lib.grading.Checks``: which parts
passed, which failed and why, the only account of a partial score), and any
line of a hidden test that appears in any output of the notebook is replaced.

:class:`GradingSummary` adds a first cell with every test's points, pass/fail
and message, and what the grader noticed (limits hit, repaired notebook,
restored monkeypatches).  Both run in ``course-grade`` and, once listed in
``nbgrader_config.py``, in ``nbgrader generate_feedback`` too.
"""
from __future__ import annotations

import html
import json
import re
from typing import Any

import nbformat
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer, Unicode

REDACTED = "[hidden test]"


def hidden_regions(source: str, begin: str, end: str) -> list[str]:
    """The lines of ``source`` between the hidden-test delimiters."""
    lines, inside = [], False
    for line in source.splitlines():
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside:
            lines.append(line)
    return lines


def _variants(line: str) -> set[str]:
    """``line`` as it appears in outputs: as is, and escaped inside a printed string literal."""
    backslashed = line.replace("\\", "\\\\")
    return {line, backslashed.replace("'", "\\'"), backslashed.replace('"', '\\"'), json.dumps(line)[1:-1]}


#: The report a hidden test cell prints when some of its sub-checks fail (``Checks.score``): a header
#: "<what>: <earned> of <points> points", then one indented line per part, "passed ..." or "FAILED ...".
CHECKS_REPORT = re.compile(r"^[^\n]+: \d+(?:\.\d+)? of \d+(?:\.\d+)? points\n(?:  (?:passed|FAILED) [^\n]*(?:\n|$))+",
                           re.MULTILINE)


def checks_reports(outputs: list) -> str:
    """The sub-check reports in the stream outputs of one cell, without anything else it printed."""
    return "".join(match.group(0) if match.group(0).endswith("\n") else match.group(0) + "\n"
                   for out in outputs if out.get("output_type") == "stream"
                   for match in CHECKS_REPORT.finditer(out.get("text", "")))


def _texts(output: dict) -> list[tuple[Any, str]]:
    """(container, key) pairs of the text fields of one output."""
    found = []
    if output.get("output_type") == "stream":
        found.append((output, "text"))
    elif output.get("output_type") == "error":
        found.append((output, "evalue"))
        for i in range(len(output.get("traceback", []))):
            found.append((output["traceback"], i))
    for key in output.get("data", {}):
        if key.startswith("text/") or key in ("application/json",):
            found.append((output["data"], key))
    return found


class RedactHiddenTests(NbGraderPreprocessor):
    """Keep hidden tests out of feedback outputs (run before ``ClearHiddenTests``)."""

    begin_test_delimeter = Unicode("BEGIN HIDDEN TESTS").tag(config=True)
    end_test_delimeter = Unicode("END HIDDEN TESTS").tag(config=True)
    min_length = Integer(12, help="hidden-test lines shorter than this are not searched for").tag(config=True)

    def preprocess(self, nb, resources):
        hidden: set[str] = set()
        hidden_cells = set()
        for index, cell in enumerate(nb.cells):
            lines = hidden_regions(cell.source, self.begin_test_delimeter, self.end_test_delimeter)
            if lines:
                hidden_cells.add(index)
            hidden.update(line.strip() for line in lines if len(line.strip()) >= self.min_length)
        hidden.update((self.begin_test_delimeter, self.end_test_delimeter))
        ordered = sorted({v for line in hidden for v in _variants(line)}, key=len, reverse=True)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            if index in hidden_cells:
                reports = checks_reports(cell.outputs)
                kept = [o for o in cell.outputs if o.output_type == "error"]
                for out in kept:
                    out.traceback = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"]
                if reports:
                    kept.insert(0, nbformat.v4.new_output("stream", name="stdout", text=reports))
                if len(kept) != len(cell.outputs):
                    kept.insert(0, nbformat.v4.new_output(
                        "stream", name="stdout", text="(what your code printed during the hidden tests is not shown)\n"))
                cell.outputs = kept
            for out in cell.outputs:
                for container, key in _texts(out):
                    value = container[key]
                    if not isinstance(value, str):
                        continue
                    for line in ordered:
                        if line in value:
                            value = value.replace(line, REDACTED)
                    container[key] = value
        return nb, resources


def _md(text: str) -> str:
    for marker in ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "BEGIN SOLUTION", "END SOLUTION"):
        text = text.replace(marker, REDACTED)
    return html.escape(text).replace("|", "&#124;").replace("\n", " ").replace("`", "&#96;").replace("*", "&#42;").replace("_", "&#95;")


class GradingSummary(NbGraderPreprocessor):
    """A first cell listing every test: points, pass/fail, message; and the grader's notes.

    Answers graded by hand (written answers) are listed too, with their score and the grader's comment,
    or as "to be graded by hand" while the gradebook says they still need it (``course-grade`` marks
    them so in the cell's ``course_grade`` metadata when it writes feedback right after autograding).
    """

    max_message = Integer(400, help="longest message shown per test").tag(config=True)

    def preprocess(self, nb, resources):
        report = nb.metadata.get("course_grade", {})
        rows = []
        total = maximum = 0.0
        for cell in nb.cells:
            if not utils.is_grade(cell):
                continue
            meta = cell.metadata.nbgrader
            points = float(meta.get("points", 0) or 0)
            score = meta.get("score")
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if utils.is_solution(cell):  # an answer graded by hand (a written answer, or code)
                comment = str(meta.get("comment") or "")
                if cell.get("metadata", {}).get("course_grade", {}).get("needs_manual_grade"):
                    score, passed, message = None, "to be graded by hand", ""
                else:
                    passed, message = "graded by hand", comment
            else:
                message = f"{errors[-1].get('ename', '')}: {errors[-1].get('evalue', '')}" if errors else ""
                passed = "passed" if not errors and score == points else ("failed" if errors else "—")
            if len(message) > self.max_message:
                message = message[: self.max_message] + " …"
            total += float(score or 0)
            maximum += points
            shown = "" if score is None else f"{float(score):g}"
            rows.append(f"| {_md(meta.get('grade_id', ''))} | {shown} / {points:g} | {passed} | {_md(message)} |")
        lines = ["## Grading summary", ""]
        if resources.get("nbgrader", {}).get("late_penalty"):
            lines.append(f"Late penalty: {resources['nbgrader']['late_penalty']:g} points.\n")
        lines += ["| test | points | result | message |", "|---|---|---|---|"] + rows
        notes = report.get("notes", [])
        if notes:
            lines += ["", "**What the grader noticed**", ""] + [f"* {_md(n)}" for n in notes]
        cell = nbformat.v4.new_markdown_cell("\n".join(lines))
        cell.metadata["course_grade_summary"] = True
        nb.cells.insert(0, cell)
        return nb, resources
