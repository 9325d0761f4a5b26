"""How long one reference solution of each assignment takes to grade (not a test).

For every assignment of ``solutions/``, a temporary course releases it (real
``nbgrader generate_assignment``), submits the release with the solution code
filled in as one student, and grades it twice, timing each:

* ``course-grade <a> --workers 1`` (the instructor's command: sandboxed kernel,
  integrity guard, gradebook, feedback and export);
* stock ``nbgrader autograde <a>`` (no sandbox), for comparison.

It prints the seconds of each, and the autograded score out of the autograded
points (written answers wait for the instructor, so they are not in it).

Usage::

    python benchmarks/bench_reference_grading.py              # every assignment
    python benchmarks/bench_reference_grading.py ch2_conv     # some of them
    python benchmarks/bench_reference_grading.py --json out.json
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
STUDENT = "reference"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _run(course: Path, *args: str) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", *args], cwd=course, env=_env(), capture_output=True, text=True)
    return time.perf_counter() - start, proc


def _meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def reference_submission(course: Path, assignment: str) -> float:
    """Write the reference submission into ``submitted/``; returns the autograded points of the assignment."""
    source = nbformat.read(course / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    release = nbformat.read(course / "assignments" / assignment / f"{assignment}.ipynb", as_version=4)
    markers = ("### BEGIN SOLUTION", "### END SOLUTION")
    codes = {_meta(c)["grade_id"]: "\n".join(line for line in c.source.splitlines() if line.strip() not in markers)
             for c in source.cells if c.cell_type == "code" and _meta(c).get("solution")}
    for cell in release.cells:
        if cell.cell_type == "code" and _meta(cell).get("solution"):
            cell.source = codes[_meta(cell)["grade_id"]]
    folder = course / "submitted" / STUDENT / assignment
    folder.mkdir(parents=True)
    nbformat.write(release, folder / f"{assignment}.ipynb")
    return sum(float(_meta(c)["points"]) for c in source.cells
               if c.cell_type == "code" and _meta(c).get("grade") and not _meta(c).get("solution"))


def autograded_score(course: Path, assignment: str) -> float:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        notebook = gb.find_submission_notebook(assignment, assignment, STUDENT)
        return sum(g.auto_score or 0.0 for g in notebook.grades)


def bench(assignment: str) -> dict:
    course = Path(tempfile.mkdtemp(prefix=f"bench-{assignment}-"))
    try:
        shutil.copy(REPO / "nbgrader_config.py", course / "nbgrader_config.py")
        shutil.copytree(REPO / "solutions" / assignment, course / "solutions" / assignment)
        _, proc = _run(course, "nbgrader", "generate_assignment", assignment, "--force")
        if proc.returncode:
            raise RuntimeError(f"generate_assignment {assignment} failed:\n{proc.stderr[-3000:]}")
        points = reference_submission(course, assignment)
        result = {"autograded_points": points}
        for label, args in (("course-grade", ("course_grade", assignment, "--force", "--no-progress", "--workers", "1")),
                            ("nbgrader autograde", ("nbgrader", "autograde", assignment, "--force"))):
            seconds, proc = _run(course, *args)
            result[label] = {"seconds": round(seconds, 1), "exit_status": proc.returncode,
                             "score": autograded_score(course, assignment)}
        return result
    finally:
        shutil.rmtree(course, ignore_errors=True)


def main() -> int:
    found = sorted(p.name for p in (REPO / "solutions").iterdir() if (p / f"{p.name}.ipynb").is_file())
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*", help=f"default: all ({', '.join(found)})")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    unknown = sorted(set(args.assignments) - set(found))
    if unknown:
        parser.error(f"no such assignment: {', '.join(unknown)} (there are {', '.join(found)})")
    print(f"one reference submission per assignment; {os.cpu_count()} CPUs", flush=True)
    results = {}
    for assignment in args.assignments or found:
        r = results[assignment] = bench(assignment)
        shown = "  ".join(f"{label} {r[label]['seconds']:6.1f} s (score {r[label]['score']:g} of "
                          f"{r['autograded_points']:g}, exit {r[label]['exit_status']})"
                          for label in ("course-grade", "nbgrader autograde"))
        print(f"{assignment:18s} {shown}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
