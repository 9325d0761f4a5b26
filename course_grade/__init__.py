"""Sandboxed, parallel autograding for an nbgrader course: the ``course-grade`` command.

Modules, in the order a submission meets them:

* :mod:`~course_grade.cli`: the command; collects, streams the work to Dask, records, exports.
* :mod:`~course_grade.collect`: submissions from a folder, or from an LMS zip via nbgrader's zip_collect.
* :mod:`~course_grade.notebooks`: reading damaged notebooks; laying them onto the release.
* :mod:`~course_grade.pipeline`: the instructor's side: nbgrader's preprocessors before and after
  execution, the gradebook (one writer), state for resuming, logs, feedback files.
* :mod:`~course_grade.worker`: what a Dask worker does: run a task, render feedback.
* :mod:`~course_grade.execute`: nbgrader's ``Execute`` with a sandboxed kernel, limits explained.
* :mod:`~course_grade.sandbox`: the bubblewrap sandbox and its kernel manager;
  :mod:`~course_grade._launcher` runs first inside it.
* :mod:`~course_grade.guard`: loaded into the kernel; undoes monkeypatching around each test.
* :mod:`~course_grade.feedback`: per-test summary, hidden tests kept out of outputs.
* :mod:`~course_grade.export`: CSV and JSON, one column per test cell.

The grader imports neither torch nor ``course_lib``: only the guard, sent as
source into the student's kernel, touches the library it protects.  Importing
this package loads nothing at all.  The instructor's guide is ``GRADING.md``.
"""
