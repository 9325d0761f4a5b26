"""Benchmark of ``course-grade`` on 100 generated submissions of Assignment 1 (not a test).

The submissions are built from the real release of ``ch1_backprop``: correct
ones, partly wrong ones (some answers left out or wrong), and hostile ones
(infinite loops, a memory bomb, crashing kernels, monkeypatching, lying
objects, broken notebooks, ...; the builders of ``tests/test_grader_hostile.py``).
The same 100 are graded

1. by ``course-grade`` with 1 worker, then with 2 workers (the whole pipeline:
   sandboxed autograding, feedback, export);
2. by ``course-grade`` with 2 workers, autograding only (``--no-feedback --no-export``);
3. by stock ``nbgrader autograde`` (sequential, unsandboxed), with the same cell timeout.

Submissions that would harm the machine when run *without* a sandbox (fork
bomb, writing into the course, network) are left out of the mix so that step
3 can run at all; the tests cover them.  Usage::

    python benchmarks/bench_grading.py                  # about half an hour on 2 cores
    python benchmarks/bench_grading.py -n 20 --json out.json
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from test_grader_hostile import (  # noqa: E402
    ASSIGNMENT,
    CASES,
    NOTEBOOK,
    Ctx,
    dumps,
    env,
    fill,
    grade_id,
    make_course,
    solution_code,
    write_submission,
)

SAFE_HOSTILE = ["infinite_loop", "unstoppable_loop", "memory_bomb", "os_exit", "sys_exit", "segfault", "kill9",
                "huge_output", "monkeypatch", "swallow", "eq_cheat", "calls_reference", "fake_pass", "snoop",
                "deleted_tests", "duplicated", "reordered", "metadata_tampered", "invalid_json", "empty"]
WRONG = {  # plausible mistakes, one per exercise
    "add_backward": "def add_backward(dout, x, y):\n    return dout, 0.0 * dout\n",
    "mul_backward": "def mul_backward(dout, x, y):\n    return dout * x, dout * y\n",
    "exp_backward": "import math\n\ndef exp_backward(dout, x):\n    return dout\n",
    "relative_error": "def relative_error(a, b):\n    return float((a - b).abs().max()) if hasattr(a, 'abs') else abs(a - b)\n",
    "relu": "def relu_forward(x):\n    return x.clamp(min=0), x\n\n\ndef relu_backward(dout, cache):\n    return dout\n",
}


def build(course: Path, n: int, seed: int = 0) -> dict[str, str]:
    """Write ``n`` submissions into ``submitted/``; returns student -> kind."""
    rng = random.Random(seed)
    source = nbformat.read(course / "solutions" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    release = nbformat.read(course / "assignments" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    codes = solution_code(source)
    answers = {grade_id(c): c.source for c in release.cells if c.metadata.get("nbgrader", {}).get("solution")}
    with socket.socket() as s:  # a closed port: nothing answers
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = Ctx(release, codes, course, port, course / "canary.txt", answers)
    n_hostile = max(1, round(0.15 * n))
    n_wrong = max(1, round(0.25 * n))
    kinds: dict[str, str] = {}
    for i in range(n):
        student = f"s{i:03d}"
        if i < n_hostile:
            kind = SAFE_HOSTILE[i % len(SAFE_HOSTILE)]
            built = CASES[kind].build(ctx)
        elif i < n_hostile + n_wrong:
            broken = rng.sample(sorted(answers), rng.randint(1, 3))
            replace = {gid: (WRONG.get(gid) if rng.random() < 0.5 and gid in WRONG else answers[gid]) for gid in broken}
            kind = "partly wrong: " + ", ".join(broken)
            built = dumps(fill(release, codes, replace=replace))
        else:
            kind = "correct"
            built = dumps(fill(release, codes))
        write_submission(course / "submitted" / student / ASSIGNMENT, built)
        kinds[student] = kind
    return kinds


def timed(command: list[str], course: Path) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=course, env=env(), capture_output=True, text=True)
    return time.perf_counter() - start, proc


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", "--submissions", type=int, default=100)
    p.add_argument("--cell-timeout", type=int, default=20)
    p.add_argument("--skip-stock", action="store_true", help="do not run stock nbgrader autograde")
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--keep", action="store_true", help="keep the temporary course directory")
    args = p.parse_args()

    course = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    try:
        make_course(course)
        kinds = build(course, args.submissions)
        n = len(kinds)
        summary = {k: sum(1 for v in kinds.values() if v.startswith(k)) for k in ("correct", "partly wrong")}
        summary["hostile"] = n - sum(summary.values())
        print(f"{n} submissions of {ASSIGNMENT}: {summary}; cell timeout {args.cell_timeout} s; "
              f"{os.cpu_count()} CPUs", flush=True)
        grade = [sys.executable, "-m", "course_grade", ASSIGNMENT, "--force", "--no-progress",
                 "--cell-timeout", str(args.cell_timeout)]
        runs = [("course-grade, 1 worker (grade + feedback + export)", grade + ["--workers", "1"]),
                ("course-grade, 2 workers (grade + feedback + export)", grade + ["--workers", "2"]),
                ("course-grade, 2 workers, autograde only", grade + ["--workers", "2", "--no-feedback", "--no-export"])]
        if not args.skip_stock:
            runs.append(("stock nbgrader autograde (sequential)",
                         [sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--force",
                          f"--Execute.timeout={args.cell_timeout}"]))
        results = {}
        for label, command in runs:
            seconds, proc = timed(command, course)
            results[label] = {"seconds": round(seconds, 1), "per_submission": round(seconds / n, 2),
                              "exit_status": proc.returncode}
            print(f"{label:55s} {seconds:7.1f} s  {seconds / n:5.2f} s/submission  (exit {proc.returncode})",
                  flush=True)
            if proc.returncode not in (0, 1) and "stock" not in label:
                print(proc.stdout[-3000:], proc.stderr[-3000:])
        one = results[runs[0][0]]["seconds"]
        two = results[runs[1][0]]["seconds"]
        results["speedup_2_over_1_workers"] = round(one / two, 2)
        print(f"\nspeed-up of 2 workers over 1: {one / two:.2f}x")
        if not args.skip_stock:
            stock = results[runs[3][0]]["seconds"]
            results["speedup_over_stock_autograde"] = round(stock / results[runs[2][0]]["seconds"], 2)
            results["speedup_full_pipeline_over_stock_autograde"] = round(stock / two, 2)
            print(f"speed-up over stock nbgrader autograde: {stock / results[runs[2][0]]['seconds']:.2f}x "
                  f"(autograde only), {stock / two:.2f}x (with feedback and export)")
        results["submissions"] = summary
        results["cpus"] = os.cpu_count()
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))
    finally:
        if args.keep:
            print(f"course kept in {course}")
        else:
            shutil.rmtree(course, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
