"""Sandboxed, parallel autograding for an nbgrader course: the ``course-grade`` command.

Modules, in the order a submission meets them:

* :mod:`~course_lib.grader.cli`: the command; collects, streams the work to Dask, records, exports.
* :mod:`~course_lib.grader.collect`: submissions from a folder, or from an LMS zip via nbgrader's zip_collect.
* :mod:`~course_lib.grader.notebooks`: reading damaged notebooks; laying them onto the release.
* :mod:`~course_lib.grader.pipeline`: the instructor's side: nbgrader's preprocessors before and after
  execution, the gradebook (one writer), state for resuming, logs, feedback files.
* :mod:`~course_lib.grader.worker`: what a Dask worker does: run a task, render feedback.
* :mod:`~course_lib.grader.execute`: nbgrader's ``Execute`` with a sandboxed kernel, limits explained.
* :mod:`~course_lib.grader.sandbox`: the bubblewrap sandbox and its kernel manager;
  :mod:`~course_lib.grader._launcher` runs first inside it.
* :mod:`~course_lib.grader.guard`: loaded into the kernel; undoes monkeypatching around each test.
* :mod:`~course_lib.grader.feedback`: per-test summary, hidden tests kept out of outputs.
* :mod:`~course_lib.grader.export`: CSV and JSON, one column per test cell.

Importing this package loads nothing heavy (the kernel imports
:mod:`course_lib.grader.guard` from it).  The instructor's guide is ``GRADING.md``.
"""
