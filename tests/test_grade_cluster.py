"""``course-grade --scheduler`` on a real Dask cluster of separate processes, and what survives a fault.

A ``dask scheduler`` and two ``dask worker`` processes are started as on
separate machines: bound to 127.0.0.1 on free ports, the workers in an empty
directory of their own (no course, no gradebook), one of them with another
Python environment whose ``course_lib`` is a second checkout's copy.  A few
Assignment 1 submissions (built as in ``test_grader_hostile``: correct ones
and partly wrong ones) are graded

* by a local run and by the cluster: the same grades, cell by cell; each
  sandbox bound the ``course_lib`` its worker's kernel imports;
* while one worker is killed with SIGKILL: every submission is graded and
  recorded exactly once, and the summary says what happened;
* while the scheduler is stopped: the run ends without half-written
  students; after a restart, the next run grades only what was not done.

Every process is torn down in a ``finally``; every wait is bounded.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from test_grader_hostile import (
    ASSIGNMENT,
    NOTEBOOK,
    REPO,
    USES,
    dumps,
    env,
    fill,
    gradebook_cells,
    make_course,
    points,
    solution_code,
)

pytestmark = pytest.mark.grading

WRONG_RELU = "def relu_forward(x):\n    return x, x\n\n\ndef relu_backward(dout, cache):\n    return dout\n"
WRONG_MUL = "def mul_backward(dout, x, y):\n    return dout * x, dout * y\n"
SHOW_LIB = "\n\nimport course_lib as _lib\nprint('course_lib imported from', _lib.__file__)\n"
STUDENTS = ("good_a", "good_b", "wrong_relu", "wrong_mul")
WAIT = 45  # seconds any one thing may take before the test gives up on it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, what: str, timeout: float = WAIT, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


class Cluster:
    """A scheduler and workers, each its own process group, started and stopped by the test."""

    def __init__(self, root: Path, port: int | None = None):
        self.root = root
        self.port = port or free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.scheduler: subprocess.Popen | None = None
        self.workers: dict[str, subprocess.Popen] = {}
        self.logs: list[Path] = []

    def _start(self, name: str, argv: list[str], cwd: Path, extra_env: dict[str, str]) -> subprocess.Popen:
        log = self.root / f"{name}.log"
        self.logs.append(log)
        e = dict(env(), DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION="1.0", **extra_env)
        with open(log, "ab") as out:
            return subprocess.Popen(argv, cwd=cwd, env=e, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def start_scheduler(self) -> None:
        self.scheduler = self._start("scheduler", [
            sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(self.port),
            "--no-dashboard", "--no-show"], self.root, {})
        wait_for(self._listening, f"the scheduler on port {self.port}")

    def _listening(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
            return True
        return False

    def start_worker(self, name: str, python: str = sys.executable) -> subprocess.Popen:
        home = self.root / f"machine-{name}"  # nothing of the course there
        home.mkdir(exist_ok=True)
        proc = self._start(f"worker-{name}", [
            python, "-m", "distributed.cli.dask_worker", self.address, "--name", name, "--nthreads", "1",
            "--no-nanny", "--memory-limit", "0", "--host", "127.0.0.1", "--no-dashboard",
            "--local-directory", str(home)], home, {})
        self.workers[name] = proc
        return proc

    def wait_for_workers(self, n: int) -> None:
        from distributed import Client

        with Client(self.address, timeout=WAIT) as client:
            client.wait_for_workers(n, timeout=WAIT)

    def close(self) -> None:
        for proc in self.workers.values():
            stop(proc)
        stop(self.scheduler)

    def log_text(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.logs if p.exists())


def stop(proc: subprocess.Popen | None) -> None:
    """SIGKILL a process group started by this test and reap it."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)


def second_checkout(root: Path) -> tuple[Path, Path]:
    """Another machine's layout: a course directory with its own copy of course_lib, and a Python
    environment (another path) that imports that copy and the shared packages. (python, copy)"""
    checkout = root / "elsewhere" / "course"
    shutil.copytree(REPO / "course_lib", checkout / "course_lib", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "solutions" / ASSIGNMENT, checkout / "solutions" / ASSIGNMENT)  # must stay unseen
    venv = root / "elsewhere" / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=WAIT)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    (site / "elsewhere.pth").write_text(f"{checkout}\n{sysconfig.get_path('purelib')}\n")
    return venv / "bin" / "python", checkout / "course_lib"


def grade(course: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "course_grade", ASSIGNMENT, "--no-progress", "--cell-timeout", "30",
                           *args], cwd=course, env=env(), capture_output=True, text=True, timeout=timeout)


def start_grading(course: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "course_grade", ASSIGNMENT, "--no-progress", "--cell-timeout", "30",
                             *args], cwd=course, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(proc)
        out, err = proc.communicate()
        pytest.fail(f"course-grade did not finish within {timeout} s\n{out[-3000:]}\n{err[-3000:]}")
    return proc.returncode, out, err


def recorded_lines(course: Path) -> dict[str, int]:
    """How many times the run log says each student was recorded."""
    text = (course / "grading" / ASSIGNMENT / "course-grade.log").read_text()
    counts = {s: 0 for s in STUDENTS}
    for student in re.findall(r"^\S+ \S+ (\w+): [\d.]+/[\d.]+ ", text, re.M):
        counts[student] = counts.get(student, 0) + 1
    return counts


def state_files(course: Path) -> set[str]:
    return {p.stem for p in (course / "grading" / ASSIGNMENT / "state").glob("*.json")}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """A released course with the submissions in submitted/, not graded yet."""
    course = make_course(tmp_path_factory.mktemp("cluster-course"))
    source = nbformat.read(course / "solutions" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    release = nbformat.read(course / "assignments" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    codes = solution_code(source)
    built = {"good_a": fill(release, codes, after={"relu": SHOW_LIB}),
             "good_b": fill(release, codes, after={"relu": SHOW_LIB}),
             "wrong_relu": fill(release, codes, replace={"relu": WRONG_RELU + SHOW_LIB}),
             "wrong_mul": fill(release, codes, replace={"mul_backward": WRONG_MUL}, after={"relu": SHOW_LIB})}
    for student, nb in built.items():
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / f"{NOTEBOOK}.ipynb").write_bytes(dumps(nb))
    return course


def copy_course(pristine: Path, dest: Path) -> Path:
    shutil.copytree(pristine, dest, symlinks=True)
    return dest


@pytest.fixture(scope="module")
def local_grades(pristine, tmp_path_factory) -> dict[str, dict[str, float]]:
    course = copy_course(pristine, tmp_path_factory.mktemp("local") / "course")
    proc = grade(course, "--workers", "2", "--no-feedback")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    cells = gradebook_cells(course)
    assert set(cells) == set(STUDENTS)
    autograded = points(nbformat.read(REPO / "solutions" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4))
    for student in ("good_a", "good_b"):  # (written answers wait for the instructor)
        assert all(cells[student][cell] for cell in autograded), f"{student} should have full marks: {cells[student]}"
    for student, function in (("wrong_relu", "relu"), ("wrong_mul", "mul_backward")):
        zero = {cell for cell, score in cells[student].items() if score == 0 and cell in autograded}
        assert zero and zero <= USES[function], f"{student}: only tests of {function} may fail, got {zero}"
    return cells


def autograded_lib(course: Path, student: str) -> str:
    nb = nbformat.read(course / "autograded" / student / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    found = re.search(r"course_lib imported from (\S+)", text)
    assert found, f"{student}'s notebook does not say where course_lib came from"
    return found.group(1)


def test_cluster_grades_like_a_local_run_with_each_workers_course_lib(pristine, local_grades, tmp_path):
    """Two workers, one of them another 'machine' (other paths, other checkout): same grades as a local run,
    and each sandbox shows the course_lib its own worker's kernel imports, none of its checkout's solutions."""
    course = copy_course(pristine, tmp_path / "course")
    python, copy = second_checkout(tmp_path)
    cluster = Cluster(tmp_path)
    try:
        cluster.start_scheduler()
        here = cluster.start_worker("here")
        there = cluster.start_worker("there", python=str(python))
        cluster.wait_for_workers(2)
        proc = grade(course, "--scheduler", cluster.address)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:] + cluster.log_text()
        assert gradebook_cells(course) == local_grades
        run_log = (course / "grading" / ASSIGNMENT / "course-grade.log").read_text()
        assert f"course_lib {copy}" in run_log, run_log  # the other machine answered for itself
        import json

        graded_on = {s: json.loads((course / "grading" / ASSIGNMENT / "state" / f"{s}.json").read_text())["worker"]
                     for s in STUDENTS}
        pids = {int(w.rsplit(":", 1)[1]) for w in graded_on.values()}
        assert pids == {here.pid, there.pid}, f"both workers should have graded: {graded_on}"
        for student, worker in graded_on.items():
            lib = autograded_lib(course, student)
            if int(worker.rsplit(":", 1)[1]) == there.pid:
                assert lib.startswith(str(copy) + "/"), f"{student} on the other machine imported {lib}"
            else:
                assert not lib.startswith(str(copy)), f"{student} on this machine imported {lib}"
    finally:
        cluster.close()


def test_sandbox_binds_the_library_the_kernel_imports_not_the_graders(tmp_path):
    """Two checkouts: the grader's PYTHONPATH names this repository, the kernel's Python imports a copy.
    The bwrap command binds the copy (only the package, not its checkout) and not the grader's."""
    from course_grade.sandbox import Limits, Sandbox, SandboxSpec, course_lib_dirs

    python, copy = second_checkout(tmp_path)
    spec = SandboxSpec(python=str(python))
    assert course_lib_dirs(spec) == [str(copy.resolve())]
    sandbox = Sandbox(Limits(), spec)
    try:
        argv = sandbox.command(["true"])
    finally:
        sandbox.cleanup()
    bound = {argv[i + 1] for i, a in enumerate(argv) if a in ("--ro-bind", "--bind")}
    assert str(copy.resolve()) in bound
    assert str(REPO / "course_lib") not in bound
    assert not any(str(copy.parent) == b or str(copy.parent / "solutions").startswith(b + "/") for b in bound), \
        "the other checkout's solutions must not be visible"
    # Resolved where the kernel runs: an unresolved spec names no Python until a worker resolves it.
    assert SandboxSpec().to_dict()["python"] == ""
    assert SandboxSpec().resolved().python == sys.executable


@contextlib.contextmanager
def on_cluster(pristine: Path, tmp_path: Path, *workers: str):
    """A fresh copy of the course, a scheduler and ``workers``; everything stopped afterwards.
    Yields (course, cluster, started): what the test adds to ``started`` is stopped too."""
    course = copy_course(pristine, tmp_path / "course")
    cluster = Cluster(tmp_path)
    started: list[subprocess.Popen] = []
    try:
        cluster.start_scheduler()
        for name in workers:
            cluster.start_worker(name)
        cluster.wait_for_workers(len(workers))
        yield course, cluster, started
    finally:
        for proc in started:
            stop(proc)
        cluster.close()


def test_a_worker_killed_midway_loses_nothing_and_records_nothing_twice(pristine, local_grades, tmp_path):
    with on_cluster(pristine, tmp_path, "victim", "survivor") as (course, cluster, started):
        victim = cluster.workers["victim"]
        proc = start_grading(course, "--scheduler", cluster.address)
        started.append(proc)

        def sandbox_running():  # kill it while it is grading someone
            with contextlib.suppress(psutil.Error):
                return any(p.name() == "bwrap" for p in psutil.Process(victim.pid).children(recursive=True))
            return False

        wait_for(sandbox_running, "a sandbox on the victim worker", timeout=120)
        time.sleep(2)
        os.killpg(victim.pid, signal.SIGKILL)
        code, out, err = finish(proc)
        assert code == 0, out[-3000:] + err[-3000:] + cluster.log_text()
        assert re.search(r"1 worker lost; [1-9]\d* submissions? re-run on other workers", out), out
        assert gradebook_cells(course) == local_grades
        assert recorded_lines(course) == {s: 1 for s in STUDENTS}
        assert state_files(course) == set(STUDENTS)
        for student in STUDENTS:
            assert (course / "feedback" / student / ASSIGNMENT / f"{NOTEBOOK}.html").is_file()


def test_scheduler_stopped_then_restarted_resumes_where_it_stopped(pristine, local_grades, tmp_path):
    with on_cluster(pristine, tmp_path, "one") as (course, cluster, started):
        proc = start_grading(course, "--scheduler", cluster.address)
        started.append(proc)
        wait_for(lambda: state_files(course), "the first student to be recorded", timeout=120)
        cluster.close()  # the scheduler and its worker go away
        code, out, err = finish(proc, timeout=120)
        done = state_files(course)
        assert code != 0 and done != set(STUDENTS), f"the run cannot have finished: {out[-2000:]}{err[-2000:]}"
        cells = gradebook_cells(course)
        for student in done:  # whoever is marked done is complete: grades and feedback
            assert cells[student] == local_grades[student]
            assert (course / "feedback" / student / ASSIGNMENT / f"{NOTEBOOK}.html").is_file()

        cluster.workers.clear()
        cluster.start_scheduler()  # the same address, a fresh scheduler and worker
        cluster.start_worker("two")
        cluster.wait_for_workers(1)
        again = grade(course, "--scheduler", cluster.address)
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:] + cluster.log_text()
        assert f"{len(STUDENTS) - len(done)} to grade, {len(done)} already graded" in again.stderr
        assert gradebook_cells(course) == local_grades
        assert state_files(course) == set(STUDENTS)
