"""nbgrader configuration of the course.

nbgrader's source notebooks (solutions and hidden tests, for instructors) live in
``solutions/``, the release notebooks given to students in ``assignments/``.
Run nbgrader from the directory of this file, with the course's environment
first on PATH (the kernel that grades is the ``python`` found there):

    nbgrader generate_assignment ch1_backprop --force      # solutions/ -> assignments/ (make assignments: all)
    nbgrader autograde ch1_backprop                        # submitted/<student>/ch1_backprop/
    nbgrader generate_feedback ch1_backprop                # feedback/<student>/ch1_backprop/
    nbgrader export                                        # grades.csv

The feedback shown to students hides the hidden tests twice over: their source
(``ClearHiddenTests``) and the tracebacks of failed test cells, which would quote
the failing lines (``ShortTestTracebacks``).  A failed test still shows its
message, written for the student by ``course_lib.grading``.
"""
import os

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import ClearHiddenTests, GetGrades, NbGraderPreprocessor

c = get_config()  # noqa: F821  (provided by traitlets when it loads this file)

ROOT = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.root = ROOT
c.CourseDirectory.course_id = "cnn-course"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(ROOT, "gradebook.db")

# generate_assignment registers an assignment in the gradebook the first time it
# runs, so a fresh clone needs no `nbgrader db assignment add`.
c.GenerateAssignment.create_assignment = True

# Each notebook runs in a fresh kernel; a cell that runs longer than this is
# interrupted and scores 0 (the hidden tests also time each student call).
c.ExecutePreprocessor.timeout = 120
c.Execute.timeout = 120


class ShortTestTracebacks(NbGraderPreprocessor):
    """In feedback, shorten the traceback of a failed test cell to its last line.

    IPython's traceback quotes the lines around the failing one, which in a test
    cell are hidden tests; the last line (``GradingError: <message>``) is what the
    student needs.
    """

    def preprocess_cell(self, cell, resources, cell_index):
        nbgrader = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and nbgrader.get("grade") and not nbgrader.get("solution"):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources


c.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor, ClearHiddenTests, ShortTestTracebacks]


# ---------------------------------------------------------------------------- course-grade
# `course-grade <assignment>` (the course_grade package, see GRADING.md) grades in parallel
# bubblewrap sandboxes.  Its feedback has two more preprocessors; listed here, they make
# `nbgrader generate_feedback` (e.g. after grading by hand in the formgrader) write the
# same pages: a summary of every test at the top, and the hidden tests kept out of the
# outputs as well as the source (a submission can print the running test's code).
# course_grade imports neither torch nor course_lib, so loading this file stays light.
from course_grade.feedback import GradingSummary, RedactHiddenTests  # noqa: E402

_after_grades = c.GenerateFeedback.preprocessors.index(GetGrades) + 1
c.GenerateFeedback.preprocessors[_after_grades:_after_grades] = [RedactHiddenTests, GradingSummary]

# Limits and workers of course-grade (its command-line options override these):
# c.CourseGrade.workers = 8                # parallel sandboxes on this machine
# c.CourseGrade.cell_timeout = 120         # default: Execute.timeout above
# c.CourseGrade.notebook_timeout = 900
# c.CourseGrade.memory = "4G"              # address space per process in the sandbox
# c.CourseGrade.cpu_time = 900
# c.CourseGrade.processes = 64
# c.CourseGrade.file_size = "64M"
