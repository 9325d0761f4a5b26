"""How fast the instructor's process records results: the single gradebook writer (not a test).

A temporary course releases Assignment 1 (real nbgrader) into SQLite and into
a throwaway PostgreSQL server (Unix socket in a temporary directory only); one
correct submission is prepared.  Then a stream of synthetic results (that
notebook with made-up outcomes per test cell: no execution, no sandbox) is
recorded exactly as ``course-grade`` does for each student: gradebook and
autograded notebook (``Course.record_group``), the feedback job's gradebook
read (``Course.feedback_job``), the log and the state file.

* **before**: nbgrader's own way, as ``course-grade`` did until now: every
  preprocessor opens the gradebook anew and ``SaveAutoGrades`` commits per cell,
  one student at a time;
* **after**: one gradebook open for the run, results written ``--group`` per
  transaction (``course_grade.gradebook.GradebookWriter``).

Usage::

    python benchmarks/bench_gradebook.py                 # 10,000 results after; --before-n of them before
    python benchmarks/bench_gradebook.py -n 500 --json out.json
    python benchmarks/bench_gradebook.py --no-postgres   # SQLite only (--no-sqlite: PostgreSQL only)

"before" runs on the first ``--before-n`` results only (default 500): it is
slow, and its rate does not change along the stream.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from test_gradebook_writer import open_course, released_course, synthetic_result  # noqa: E402


@contextlib.contextmanager
def postgres_server():
    """A throwaway PostgreSQL cluster on a Unix socket; yields a function that creates a database's URL."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise SystemExit("PostgreSQL is not installed (apt-get install postgresql), or use --no-postgres")
    bin_dir = found[-1].parent
    base = Path(tempfile.mkdtemp(prefix="pg-bench-"))
    data, sock = base / "data", base / "socket"
    data.mkdir()
    sock.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for path in (base, data, sock):
            os.chown(path, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = "54331"

    def pg(*args: str) -> None:
        subprocess.run(prefix + list(args), check=True, capture_output=True, text=True, timeout=120)

    pg(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
    # durable commits, as a real gradebook server has them (fsync on)
    pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-l", str(base / "server.log"), "-o",
       f"-k {sock} -c listen_addresses='' -p {port}", "start")

    def create(name: str) -> str:
        pg(str(bin_dir / "createdb"), "-h", str(sock), "-p", port, "-U", "postgres", name)
        return f"postgresql://postgres@/{name}?host={sock}&port={port}"

    try:
        yield create
    finally:
        subprocess.run(prefix + [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=120)
        shutil.rmtree(base, ignore_errors=True)


def record_stream(course, template, n: int, group: int, seed: int) -> dict:
    """Record ``n`` synthetic results, ``group`` per transaction; seconds, CPU seconds, rate."""
    rng = random.Random(seed)
    made = [synthetic_result(template, f"student{i:05d}", rng) for i in range(n)]
    failed = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for start in range(0, n, group):
        chunk = made[start:start + group]
        for (prepared, _, _), outcome in zip(chunk, course.record_group([(p, r) for p, r, _ in chunk])):
            if isinstance(outcome, BaseException):
                failed += 1
                continue
            course.feedback_job(prepared.student)
            course.write_log(outcome)
            course.save_state(outcome)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"n": n, "group": group, "seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
            "per_second": round(n / wall, 1), "cpu_ms_per_submission": round(1000 * cpu / n, 1), "failed": failed}


def prepare_cost(course, k: int = 20) -> float:
    """CPU milliseconds of ``Course.prepare`` per submission (also the instructor's, before the workers)."""
    cpu = time.process_time()
    for _ in range(k):
        course.prepare("template")
    return round(1000 * (time.process_time() - cpu) / k, 1)


def bench(root: Path, label: str, db_url: str | None, args) -> dict:
    out: dict = {"database": label}
    for mode, shared, n, group in (("before", False, min(args.before_n, args.n), 1),
                                   ("after", True, args.n, args.group)):
        course_dir = root / f"{label}-{mode}"
        course_dir.mkdir()
        url = db_url(f"gradebook_{mode}") if callable(db_url) else None
        released_course(course_dir, url)
        course = open_course(course_dir, url, shared=shared)
        template = course.prepare("template")
        out[mode] = record_stream(course, template, n, group, args.seed)
        out[mode]["prepare_cpu_ms"] = prepare_cost(course)
        course.writer.close()
        print(f"{label:10s} {mode:6s} {json.dumps(out[mode])}", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-n", type=int, default=10_000, help="synthetic results recorded after (default 10000)")
    p.add_argument("--before-n", type=int, default=500, help="of them, recorded the old way (default 500)")
    p.add_argument("--group", type=int, default=50, help="results per transaction (course-grade's GROUP: 50)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-postgres", action="store_true", help="SQLite only")
    p.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    p.add_argument("--json", help="also write the results to this file")
    args = p.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-gradebook-") as tmp:
        root = Path(tmp)
        if not args.no_sqlite:
            results.append(bench(root, "sqlite", None, args))
        if not args.no_postgres:
            with postgres_server() as create:
                results.append(bench(root, "postgresql", create, args))
    print(f"\n{'gradebook':<11} {'mode':<7} {'results':>7} {'group':>5} {'seconds':>8} {'per s':>7} "
          f"{'CPU ms each':>11} {'prepare CPU ms':>14}")
    for r in results:
        for mode in ("before", "after"):
            m = r[mode]
            print(f"{r['database']:<11} {mode:<7} {m['n']:>7} {m['group']:>5} {m['seconds']:>8} {m['per_second']:>7} "
                  f"{m['cpu_ms_per_submission']:>11} {m['prepare_cpu_ms']:>14}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
