"""``course-grade`` with a PostgreSQL gradebook, a zip from an LMS, and a run stopped with Ctrl-C.

A throwaway PostgreSQL cluster (Debian's ``postgresql`` package: ``initdb`` and
``pg_ctl`` run as the ``postgres`` user when the tests run as root) listens on
a Unix socket in a temporary directory only, and is removed afterwards.  The
assignment is released into it with ``nbgrader generate_assignment --db``.
Three submissions arrive in a Canvas-style zip and are collected by
nbgrader's ``zip_collect``.  The first ``course-grade`` run is interrupted
with SIGINT as soon as one student is recorded: it exits with status 130,
what it recorded is complete, nothing is half-written.  The second run grades
only the others.  The formgrader's backend reads the PostgreSQL gradebook.
"""
from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import nbformat
import pytest
from test_grader_hostile import ASSIGNMENT, NOTEBOOK, env, fill, run, solution_code

pytestmark = pytest.mark.grading

PG_BIN = Path("/usr/lib/postgresql")


def pg_tool(name: str) -> str:
    found = sorted(PG_BIN.glob(f"*/bin/{name}"))
    if not found:
        pytest.fail(f"PostgreSQL's {name} is missing: install Debian's postgresql package "
                    f"(`apt-get install postgresql`, which `make system-deps` does)")
    return str(found[-1])


def as_postgres(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a server command as the ``postgres`` user when we are root (initdb refuses root)."""
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--"] + command
    return subprocess.run(command, capture_output=True, text=True, **kwargs)


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    base = Path(tempfile.mkdtemp(prefix="pg-gradebook-"))  # not under pytest's 0700 directory: postgres must enter it
    data, sock = base / "data", base / "socket"
    data.mkdir()
    sock.mkdir()
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for path in (base, data, sock):
            os.chown(path, user.pw_uid, user.pw_gid)
    port = "54329"
    init = as_postgres([pg_tool("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                        "--no-sync"])
    assert init.returncode == 0, init.stderr
    start = as_postgres([pg_tool("pg_ctl"), "-D", str(data), "-w", "-l", str(base / "server.log"), "-o",
                         f"-k {sock} -c listen_addresses='' -p {port} -c fsync=off", "start"])
    assert start.returncode == 0, start.stderr + (base / "server.log").read_text()
    try:
        created = as_postgres([pg_tool("createdb"), "-h", str(sock), "-p", port, "-U", "postgres", "gradebook"])
        assert created.returncode == 0, created.stderr
        yield f"postgresql://postgres@/gradebook?host={sock}&port={port}"
    finally:
        as_postgres([pg_tool("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"])
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def graded(tmp_path_factory, postgres):
    root = tmp_path_factory.mktemp("pg-course")
    shutil.copy(Path(__file__).resolve().parents[1] / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(Path(__file__).resolve().parents[1] / "solutions" / ASSIGNMENT, root / "solutions" / ASSIGNMENT)
    run(root, "nbgrader", "generate_assignment", ASSIGNMENT, "--force", f"--db={postgres}")
    source = nbformat.read(root / "solutions" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    release = nbformat.read(root / "assignments" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    reference = nbformat.writes(fill(release, solution_code(source)))
    archive = root / "canvas-download.zip"
    with zipfile.ZipFile(archive, "w") as z:  # Canvas names: <login>_[late_]<ids>_<file name>
        z.writestr("alice_1234_5678_ch1_backprop.ipynb", reference)
        z.writestr("bob_late_2345_6789_ch1_backprop.ipynb", nbformat.writes(fill(release, None)))
        z.writestr("carol_3456_7890_ch1_backprop.ipynb", reference[: len(reference) // 3])

    args = ["-m", "course_grade", ASSIGNMENT, "--db-url", postgres, "--workers", "1", "--no-progress"]
    first = subprocess.Popen([sys.executable, *args, "--collect", str(archive)], cwd=root, env=env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    state = root / "grading" / ASSIGNMENT / "state"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (state.is_dir() and any(state.glob("*.json"))):
        if first.poll() is not None:
            break
        time.sleep(0.1)
    first.send_signal(signal.SIGINT)
    out, err = first.communicate(timeout=120)
    recorded = sorted(p.stem for p in state.glob("*.json"))
    leftovers = [str(p) for p in root.rglob("*.tmp")]
    second = run(root, *args[1:])
    third = run(root, *args[1:])
    return {"root": root, "db": postgres, "first": (first.returncode, out, err), "recorded": recorded,
            "leftovers": leftovers, "second": second, "third": third}


def test_interrupted_run_keeps_what_it_recorded(graded: dict):
    code, out, err = graded["first"]
    assert code == 130, f"exit status {code}\n{out}\n{err}"
    assert "interrupted: everything graded so far is recorded" in err
    assert graded["recorded"] and len(graded["recorded"]) < 3, graded["recorded"]
    assert not graded["leftovers"], f"half-written files: {graded['leftovers']}"


def test_second_run_grades_only_the_rest(graded: dict):
    err = graded["second"].stderr
    done = len(graded["recorded"])
    assert f"3 submissions, {3 - done} to grade, {done} already graded" in err, err
    assert "3 submissions, 0 to grade, 3 already graded" in graded["third"].stderr


def test_postgres_gradebook_holds_the_grades(graded: dict):
    from nbgrader.api import Gradebook

    with Gradebook(graded["db"]) as gb:
        scores = {s.student.id: s.score for s in gb.find_assignment(ASSIGNMENT).submissions}
    # alice's autograded points: her written answers (10 points), left unanswered, score 0
    assert scores == {"alice": 90.0, "bob": 0.0, "carol": 0.0}
    carol = json.loads((graded["root"] / "grading" / ASSIGNMENT / "state" / "carol.json").read_text())
    assert "not valid JSON" in " ".join(carol["notes"])


def test_formgrader_backend_reads_the_postgres_gradebook(graded: dict):
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    config = Config()
    config.Exchange.root = str(graded["root"] / "exchange")
    coursedir = CourseDirectory(root=str(graded["root"]), config=config)
    coursedir.db_url = graded["db"]
    api = NbGraderAPI(coursedir=coursedir, config=config)
    subs = {s["student"]: s for s in api.get_notebook_submissions(ASSIGNMENT, NOTEBOOK)}
    assert set(subs) == {"alice", "bob", "carol"}
    assert subs["alice"]["score"] == 90.0
    assert (graded["root"] / "feedback" / "alice" / ASSIGNMENT / f"{NOTEBOOK}.html").is_file()
