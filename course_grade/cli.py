"""``course-grade``: collect, autograde in sandboxes in parallel, write feedback, export.

Usage (from the course directory, the one with ``nbgrader_config.py``)::

    course-grade ch1_backprop                          # everything in submitted/
    course-grade ch1_backprop --collect ~/Downloads/submissions.zip --workers 8
    course-grade ch1_backprop --student alice --student bob --force
    course-grade ch1_backprop --scheduler tcp://grader-head:8786   # a Dask cluster

Each submission runs in its own bubblewrap sandbox on a Dask worker; this
process is the only one that writes the gradebook.  A second run skips every
student whose submission (and the assignment's tests and limits) did not
change; ``--force`` grades again.  Ctrl-C stops after the current write: what
was recorded stays, and the next run carries on.  See ``GRADING.md``.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import resource
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from .sandbox import Limits, SandboxError, SandboxSpec, check_bwrap, course_lib_dirs, parse_size

EXIT_OK, EXIT_FAILED, EXIT_SETUP, EXIT_INTERRUPTED = 0, 1, 2, 130
FLAG_WORDS = {"limit": "limit hit", "died": "kernel died", "tampering": "tampering", "unreadable": "unreadable",
              "repaired": "repaired", "restored": "monkeypatch undone", "processes": "processes killed"}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="course-grade",
        description="Grade an nbgrader assignment: collect -> autograde (parallel, sandboxed) -> feedback -> export.",
        epilog="Limits can also be set in nbgrader_config.py, e.g. c.CourseGrade.memory = '4G'. See GRADING.md.")
    p.add_argument("assignment", help="the assignment's name, e.g. ch1_backprop")
    p.add_argument("--course-dir", default=".", help="the course directory (with nbgrader_config.py); default: here")
    p.add_argument("--collect", metavar="PATH", help="first collect submissions from PATH: a folder with one "
                   "sub-folder per student, or a zip downloaded from an LMS (or a folder of zips)")
    p.add_argument("--collect-regexp", metavar="REGEXP", help="for zips: FileNameCollectorPlugin.named_regexp "
                   "(default: nbgrader_config.py's, else Canvas-style '<student>_..._<notebook>.ipynb')")
    p.add_argument("--workers", "-j", type=int, default=None, help="parallel sandboxes on this machine (default: CPUs)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="a Dask scheduler (tcp://host:8786) whose workers grade")
    p.add_argument("--force", action="store_true", help="grade again even if the submission has not changed")
    p.add_argument("--student", action="append", default=[], metavar="ID", help="only this student (repeatable)")
    p.add_argument("--db-url", help="the gradebook (default: nbgrader_config.py's), e.g. postgresql://host/db")
    p.add_argument("--cell-timeout", type=float, help="seconds per cell (default: Execute.timeout, else 120)")
    p.add_argument("--notebook-timeout", type=float, help="seconds per notebook (default 900)")
    p.add_argument("--memory", help="address space per process, e.g. 4G (default 4G)")
    p.add_argument("--cpu-time", type=int, help="CPU seconds per process (default: the notebook timeout)")
    p.add_argument("--processes", type=int, help="processes and threads per sandbox (default 64)")
    p.add_argument("--file-size", help="largest file a submission may write, e.g. 64M")
    p.add_argument("--read-only", action="append", default=[], metavar="PATH",
                   help="a host path the notebooks may read (e.g. a data set), repeatable")
    p.add_argument("--output-dir", help="where state, logs and exports go (default: grading/<assignment>)")
    p.add_argument("--no-feedback", action="store_true", help="do not generate HTML feedback")
    p.add_argument("--no-export", action="store_true", help="do not write grades.csv / grades.json")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (also when not on a terminal)")
    return p


def _limits(args, app) -> Limits:
    cfg = app.config.get("CourseGrade", {})
    execute_timeout = app.config.get("Execute", {}).get("timeout") or app.config.get("ExecutePreprocessor", {}).get("timeout")

    def pick(name, arg, default):
        return arg if arg is not None else cfg.get(name, default)

    notebook_timeout = float(pick("notebook_timeout", args.notebook_timeout, 900))
    return Limits(
        cell_timeout=float(pick("cell_timeout", args.cell_timeout, execute_timeout or 120)),
        notebook_timeout=notebook_timeout,
        memory=parse_size(pick("memory", args.memory, "4G")),
        cpu_time=int(pick("cpu_time", args.cpu_time, notebook_timeout)),
        processes=int(pick("processes", args.processes, 64)),
        file_size=parse_size(pick("file_size", args.file_size, "64M")),
    )


class Interrupts:
    """Ctrl-C is deferred while a student's results are written, then stops the run."""

    def __init__(self) -> None:
        self.depth = 0
        self.requested = False

    def handler(self, signum, frame) -> None:
        if self.depth:
            self.requested = True
            return
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def critical(self):
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
        if self.requested and not self.depth:
            raise KeyboardInterrupt


def _start_dask(args, workers: int):
    import dask
    from distributed import Client, LocalCluster

    # Each task is one whole submission: a worker takes one at a time (so none waits behind a long one;
    # no work stealing needed), no statistical profiling, a slower system monitor. The CPU goes to grading.
    dask.config.set({"distributed.worker.profile.enabled": False,
                     "distributed.scheduler.worker-saturation": 1.0,
                     "distributed.scheduler.work-stealing": False,
                     "distributed.admin.system-monitor.interval": "2s"})
    if args.scheduler:
        return Client(args.scheduler, timeout="60s"), None
    # The workers ignore the terminal's Ctrl-C (inherited SIG_IGN): this process stops them in order.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               memory_limit=0, silence_logs=logging.ERROR)
        client = Client(cluster)
    finally:
        signal.signal(signal.SIGINT, previous)
    return client, cluster


def _summary(rows: list[dict[str, Any]], max_score: float) -> str:
    if not rows:
        return "nothing was graded in this run"
    width = max(7, max(len(r["student"]) for r in rows))
    out = [f"{'student':<{width}}  {'score':>13}  {'status':<8}  notes", "-" * (width + 60)]
    for r in sorted(rows, key=lambda r: r["student"]):
        score = "" if r.get("score") is None else f"{r['score']:g} / {r.get('max_score', max_score):g}"
        out.append(f"{r['student']:<{width}}  {score:>13}  {r['status']:<8}  {r.get('note', '')}")
    return "\n".join(out)


def _note(report: dict[str, Any]) -> str:
    events = [e["message"] for e in report.get("events", []) if e.get("kind") in ("limit", "died", "tampering")]
    text = events[0] if events else (report.get("notes") or [""])[0]
    flags = [FLAG_WORDS.get(f, f) for f in report.get("flags", [])]
    text = (f"[{', '.join(flags)}] " if flags else "") + text
    return text if len(text) <= 110 else text[:107] + "..."


def _open_course(args) -> tuple[Any, Any]:
    """The course and its nbgrader application; :class:`SetupFailed` when it cannot be graded here."""
    from .pipeline import Course, GradingSetupError, load_app

    course_dir = Path(args.course_dir).resolve()
    try:
        check_bwrap()
        app = load_app(course_dir, args.db_url)
        limits = _limits(args, app)
        spec = SandboxSpec(read_only=tuple(str(Path(p).resolve()) for p in args.read_only))
        course_lib_dirs(spec)  # the kernel's Python must find course_lib: say so now, not once per student
        course = Course(course_dir, args.assignment, limits, spec, db_url=args.db_url, app=app,
                        grading_dir=Path(args.output_dir).resolve() if args.output_dir else None)
    except (SandboxError, GradingSetupError) as exc:
        raise SetupFailed(str(exc)) from None
    return course, app


def _collect(args, course, app) -> None:
    """``--collect``: copy new submissions from a folder or an LMS zip into ``submitted/``."""
    from . import collect as collect_mod

    source = Path(args.collect).resolve()
    try:
        if source.is_file() or (source.is_dir() and any(p.suffix in (".zip", ".gz") for p in source.iterdir())):
            regexp = args.collect_regexp or (collect_mod.DEFAULT_ZIP_REGEXP if collect_mod.needs_regexp(app) else None)
            collect_mod.collect_zip(course.root, args.assignment, source, regexp)
            print(f"collected {source.name} with nbgrader zip_collect", file=sys.stderr)
        elif source.is_dir():
            changed, same = collect_mod.collect_folder(
                source, course.root / course.coursedir.submitted_directory, args.assignment)
            print(f"collected {len(changed)} new or changed submissions ({len(same)} unchanged) from {source}",
                  file=sys.stderr)
        else:
            raise collect_mod.CollectError(f"{source} does not exist")
    except collect_mod.CollectError as exc:
        raise SetupFailed(str(exc)) from None


def _select(args, course) -> tuple[list[str], dict[str, str], list[str], list[str]]:
    """Every student, the digest of each submission, those to grade, those already graded and unchanged."""
    students = course.students()
    if args.student:
        unknown = [s for s in args.student if s not in students]
        if unknown:
            raise SetupFailed(f"no submission of {args.assignment} from {', '.join(unknown)} "
                              f"in {course.submission_dir('<student>')}")
        students = [s for s in students if s in args.student]
    digests = {student: course.submission_hash(student) for student in students}
    skipped = [s for s in students if not args.force and course.is_current(s, digests[s])]
    todo = [s for s in students if s not in skipped]
    return students, digests, todo, skipped


class SetupFailed(Exception):
    """The run cannot start (exit status 2); the message is for the instructor."""


class GradingRun:
    """One run over the students to grade, in four steps per student.

    1. :meth:`prepare` (this process): read and repair the submission, restore the hidden tests;
    2. a Dask worker runs it in a sandbox (:func:`~course_grade.worker.run_task`), then
       :meth:`recorded` (this process) writes the grades;
    3. a worker renders the HTML feedback (:meth:`submit_feedback`);
    4. :meth:`completed` (this process): feedback, log and state written, the student is done.

    Writes in this process are shielded from Ctrl-C (:class:`Interrupts`).
    """

    def __init__(self, args, course, app, todo: list[str], digests: dict[str, str], log) -> None:
        from tqdm import tqdm

        self.args, self.course, self.app, self.todo, self.digests, self.log = args, course, app, todo, digests, log
        self.rows: list[dict[str, Any]] = []
        self.counts = {"ok": 0, "flagged": 0, "failed": 0}
        self.interrupts = Interrupts()
        self.bar = tqdm(total=len(todo), unit="student", desc=args.assignment, dynamic_ncols=True,
                        disable=args.no_progress or None, file=sys.stderr)
        self.client = self.cluster = self.pending = None
        self.jobs: dict[str, tuple] = {}
        self.settings: list = []  # the feedback settings, sent to the workers once
        self.interrupted = False

    # ---------------------------------------------------------------- bookkeeping

    def count(self, status: str) -> None:
        self.counts[status] += 1
        self.bar.update(1)
        self.bar.set_postfix(ok=self.counts["ok"], flagged=self.counts["flagged"], failed=self.counts["failed"],
                             remaining=self.not_reached, refresh=False)

    @property
    def not_reached(self) -> int:
        return len(self.todo) - sum(self.counts.values())

    def failed(self, student: str, exc: BaseException) -> None:
        text = f"{type(exc).__name__}: {exc}"
        self.course.log_dir.mkdir(parents=True, exist_ok=True)
        (self.course.log_dir / f"{student}.log").write_text(
            f"student: {student}\ngrading FAILED (no grade recorded; run again):\n"
            f"{''.join(traceback.format_exception(exc))}\n")
        self.rows.append({"student": student, "score": None, "status": "failed", "note": text[:110]})
        self.log(f"{student}: FAILED {text}")
        self.count("failed")

    # ---------------------------------------------------------------- the four steps

    def prepare(self, student: str) -> None:
        """Step 1: prepare the submission, then send it to a worker (or record at once what cannot run)."""
        try:
            prepared = self.course.prepare(student, self.digests[student])
        except Exception as exc:
            self.failed(student, exc)
            return
        if prepared.task is None:  # nothing can run: recorded at once
            report = self.recorded(prepared, None)
            if report is not None:
                self.submit_feedback(report)
            return
        from .worker import run_task

        future = self.client.submit(run_task, prepared.task, pure=False,
                                    key=f"grade-{self.args.assignment}-{student}-{prepared.hash[:10]}")
        self.jobs[future.key] = ("grade", prepared)
        self.pending.add(future)

    def recorded(self, prepared, result):
        """Step 2 (this process): write the grades; returns the report, or None when it failed."""
        with self.interrupts.critical():
            try:
                if isinstance(result, BaseException):
                    raise RuntimeError(f"the worker failed: {type(result).__name__}: {result}")
                return self.course.record(prepared, result)
            except Exception as exc:
                self.failed(prepared.student, exc)
                return None

    def submit_feedback(self, report) -> None:
        """Step 3 (a worker): render the HTML feedback."""
        if self.args.no_feedback:
            self.completed(report, None)
            return
        from .worker import render_feedback

        try:
            job = self.course.feedback_job(report["student"])
            if not self.settings:
                self.settings.append(self.client.scatter([self.course.feedback_settings()], broadcast=True)[0])
        except Exception as exc:
            self.completed(report, exc)
            return
        future = self.client.submit(render_feedback, job, self.settings[0], pure=False, priority=1,
                                    key=f"feedback-{self.args.assignment}-{report['student']}-{report['hash'][:10]}")
        self.jobs[future.key] = ("feedback", report)
        self.pending.add(future)

    def completed(self, report, pages) -> None:
        """Step 4 (this process): feedback written, then the log and the state that marks the student done."""
        student = report["student"]
        with self.interrupts.critical():
            try:
                extra = ""
                if isinstance(pages, BaseException):
                    report["flags"].append("no-feedback")
                    extra = f"feedback could not be generated: {type(pages).__name__}: {pages}"
                    self.log(f"{student}: {extra}")
                elif pages is not None:
                    self.course.write_feedback(student, pages)
                self.course.write_log(report, extra)
                self.course.save_state(report)
            except Exception as exc:
                self.failed(student, exc)
                return
            serious = {"limit", "died", "tampering", "unreadable", "no-feedback"} & set(report["flags"])
            status = "flagged" if serious else "ok"
            self.rows.append({"student": student, "score": report["score"], "max_score": report["max_score"],
                              "status": status, "note": _note(report)})
            self.log(f"{student}: {report['score']:g}/{report['max_score']:g} {status} {_note(report)}")
            self.count(status)

    def handle(self, future, result) -> None:
        """A worker finished step 2's grading or step 3's feedback: go on with the next step."""
        kind, payload = self.jobs.pop(future.key)
        if future.status == "error":  # as_completed gives (type, exception, traceback) then
            result = result[1] if isinstance(result, tuple) and len(result) == 3 else RuntimeError(str(result))
        if kind == "grade":
            report = self.recorded(payload, result)
            if report is not None:
                self.submit_feedback(report)
        else:
            self.completed(payload, result)

    # ---------------------------------------------------------------- the run

    def run(self) -> None:
        """Grade every student of ``todo``; Ctrl-C (or SIGTERM) stops after the current write."""
        previous_int = signal.signal(signal.SIGINT, self.interrupts.handler)
        previous_term = signal.signal(signal.SIGTERM, self.interrupts.handler)  # `kill` stops as cleanly as Ctrl-C
        try:
            if self.todo:
                self._stream()
        except KeyboardInterrupt:
            self.interrupted = True
        finally:
            self.bar.close()
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            self._stop_dask()
            signal.signal(signal.SIGINT, previous_int)
            signal.signal(signal.SIGTERM, previous_term)

    def _stream(self) -> None:
        """Send the students to the workers one by one, handling every result as soon as it is ready."""
        from distributed import as_completed

        workers = self.args.workers or self.app.config.get("CourseGrade", {}).get("workers") or os.cpu_count() or 1
        self.client, self.cluster = _start_dask(self.args, int(workers))
        self.log(f"dask: {self.client.scheduler.address if self.client.scheduler else self.args.scheduler}, "
                 f"{len(self.client.scheduler_info().get('workers', {}))} workers")
        self.pending = as_completed(with_results=True, raise_errors=False)
        for student in self.todo:
            self.prepare(student)
            if self.pending.has_ready():
                for future, result in self.pending.next_batch(block=False):
                    self.handle(future, result)
        for future, result in self.pending:
            self.handle(future, result)

    def _stop_dask(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.close(timeout=10)
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close(timeout=20)


def _export(args, course, students: list[str]) -> None:
    """grades.csv and grades.json of every student of the assignment, one column per test cell."""
    from .export import export

    reports = {s: r for s in students if (r := course.load_state(s))}
    order = {name: [c.metadata.nbgrader.grade_id for c in nb.cells
                    if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
             for name, nb in course.release.items()}
    export(course.db_url, course.coursedir.course_id, args.assignment, course.grading_dir / "grades.csv",
           course.grading_dir / "grades.json", order, reports)
    print(f"grades: {course.grading_dir / 'grades.csv'} and grades.json")


def _report(run: GradingRun, course, skipped: list[str], elapsed: float, log) -> None:
    """The summary table and totals on stdout, the totals in the run's log."""
    counts = run.counts
    print(_summary(run.rows, course.max_score))
    graded = counts["ok"] + counts["flagged"]
    print(f"\n{graded} graded ({counts['flagged']} flagged), {counts['failed']} failed, {len(skipped)} skipped, "
          f"{run.not_reached} not reached, in {elapsed:.1f} s"
          + (f" ({elapsed / max(1, sum(counts.values())):.1f} s per submission)" if counts else ""))
    print(f"logs: {course.log_dir}")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    log(f"done: {graded} graded, {counts['failed']} failed, {len(skipped)} skipped in {elapsed:.1f} s"
        + (" (interrupted)" if run.interrupted else "")
        + f"; this process used {usage.ru_utime + usage.ru_stime:.1f} s of CPU")


def main(argv: list[str] | None = None) -> int:
    """``course-grade``: set up, collect, select, grade, report, export; the exit status."""
    args = build_parser().parse_args(argv)
    try:
        course, app = _open_course(args)
    except SetupFailed as exc:
        print(f"course-grade: {exc}", file=sys.stderr)
        return EXIT_SETUP
    if os.geteuid() != 0:
        print("course-grade: note: not running as root, so every sandbox runs as your user in a user namespace; "
              "the process limit then counts per sandbox only where the kernel supports it (see GRADING.md)",
              file=sys.stderr)
    course.grading_dir.mkdir(parents=True, exist_ok=True)
    with open(course.grading_dir / "course-grade.log", "a") as run_log:
        def log(message: str) -> None:
            run_log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")
            run_log.flush()

        log(f"run: {' '.join(sys.argv)}; limits: {course.limits.describe()}")
        try:
            if args.collect:
                _collect(args, course, app)
            students, digests, todo, skipped = _select(args, course)
        except SetupFailed as exc:
            print(f"course-grade: {exc}", file=sys.stderr)
            return EXIT_SETUP
        print(f"{args.assignment}: {len(students)} submissions, {len(todo)} to grade, "
              f"{len(skipped)} already graded (unchanged; --force to grade again)", file=sys.stderr)
        log(f"{len(students)} submissions, {len(todo)} to grade, {len(skipped)} skipped")

        run = GradingRun(args, course, app, todo, digests, log)
        started = time.perf_counter()
        run.run()
        _report(run, course, skipped, time.perf_counter() - started, log)
        if not args.no_export and not run.interrupted:
            _export(args, course, students)
    if run.interrupted:
        print("interrupted: everything graded so far is recorded; run the same command again to continue",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_FAILED if run.counts["failed"] else EXIT_OK


def entry_point() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
