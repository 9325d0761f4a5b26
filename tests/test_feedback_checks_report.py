"""Feedback keeps the report of a hidden test's sub-checks (``course_lib.grading.Checks``), the only
account of a partial score, and still nothing else the cell printed and no line of a hidden test."""
from __future__ import annotations

import nbformat
import pytest

from course_grade.feedback import REDACTED, RedactHiddenTests

pytestmark = pytest.mark.grading

HIDDEN_LINE = "_case = make_the_hidden_case(seed=1234)"
REPORT = ("conv_forward_im2col: 7 of 9 points\n"
          "  passed stride 1 (2 points)\n"
          "  FAILED calls your im2col and computes from its columns (2 points): it ignores the columns\n")


def _feedback_of(printed: str) -> str:
    """What the feedback shows of a hidden test cell that printed ``printed`` and scored 7 points."""
    cell = nbformat.v4.new_code_cell(f"### BEGIN HIDDEN TESTS\n{HIDDEN_LINE}\n### END HIDDEN TESTS")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=printed),
                    nbformat.v4.new_output("execute_result", data={"text/plain": "7.0"}, execution_count=1)]
    nb, _ = RedactHiddenTests().preprocess(nbformat.v4.new_notebook(cells=[cell]), {})
    return "".join(out.get("text", "") for out in nb.cells[0].outputs)


def test_the_report_of_the_sub_checks_is_kept():
    shown = _feedback_of("my debugging output: tensor([1., 2.])\n" + REPORT + "more of my output\n")
    assert REPORT in shown
    assert "debugging output" not in shown and "more of my output" not in shown


def test_a_report_cannot_carry_hidden_test_lines_out():
    forged = f"x: 1 of 2 points\n  FAILED {HIDDEN_LINE}\n"
    shown = _feedback_of(forged)
    assert HIDDEN_LINE not in shown and REDACTED in shown


def test_a_cell_without_a_report_shows_none_of_its_output():
    shown = _feedback_of("my debugging output\n")
    assert "debugging output" not in shown and "not shown" in shown
