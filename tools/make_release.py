"""Write the student-facing course into a folder, and check that nothing of the instructor's leaks.

    python tools/make_release.py DEST          (what `make release DEST=...` runs)

The repository holds the solutions and hidden tests (``solutions/``), the grader
(``course_grade/``), its cheat submissions (``tests/grading_cases/``) and nbgrader's
course settings; none of them may reach students.  The release is built from an
allow-list, not by deleting from a copy:

- ``book/``, ``_config.yml``, ``_toc.yml`` (the textbook's sources) and, when ``_build/html``
  exists, the built site under the same path;
- ``assignments/`` (the notebooks nbgrader released: no solution, no hidden test);
- ``course_lib/`` whole, ``course_lib.grading`` included: the visible test cells import it,
  and the reference library is readable by design;
- ``requirements.txt``, ``pyproject.toml`` without the grader (its package and its
  ``course-grade`` command), ``Makefile.student`` as ``Makefile`` and ``README.student.md``
  as ``README.md``.

After copying, :func:`scan_release` reads every file of the release and the command fails
(exit status 1, each finding printed) if one carries an nbgrader solution or hidden-test
marker, a line of a solution or hidden-test region that the released notebook does not
contain, a line of a cheat submission, or the name of an instructor's file.
"""
from __future__ import annotations

import argparse
import html
import json
import re
import runpy
import shutil
import sys
import tomllib
from pathlib import Path

__all__ = ["RELEASED", "build_release", "scan_release", "secret_lines", "main"]

ROOT = Path(__file__).resolve().parents[1]

# (path in the repository, path in the release); a folder is copied whole, minus IGNORED.
RELEASED = (
    ("book", "book"),
    ("assignments", "assignments"),
    ("course_lib", "course_lib"),
    ("_config.yml", "_config.yml"),
    ("_toc.yml", "_toc.yml"),
    ("requirements.txt", "requirements.txt"),
    ("Makefile.student", "Makefile"),
    ("README.student.md", "README.md"),
)
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".ipynb_checkpoints", "_build", ".jupyter_cache")
SITE = Path("_build") / "html"

# Names that only instructors' files carry; none may appear anywhere in the release.
INSTRUCTOR_NAMES = frozenset({"solutions", "course_grade", "grading_cases", "GRADING.md", "gradebook.db", "nbgrader_config.py",
                              "submitted", "autograded", "feedback", ".git", "tests", "benchmarks", ".ci"})
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
MIN_SECRET_LENGTH = 30  # shorter lines (``return out``, ``x = x.double()``) are too common to mean anything


def _normalise(line: str) -> str:
    return " ".join(line.split())


def _cell_sources(notebook: Path) -> list[tuple[dict, str]]:
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return [(cell, "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]) for cell in cells]


def _regions(source: str, begin: str, end: str) -> list[str]:
    """Lines strictly between each ``begin`` marker line and the next ``end`` marker line."""
    inside, lines = False, []
    for line in source.splitlines():
        if line.strip() == begin:
            inside = True
        elif line.strip() == end:
            inside = False
        elif inside:
            lines.append(line)
    return lines


def _is_secret(line: str, released: set[str]) -> bool:
    text = _normalise(line)
    return len(text) > MIN_SECRET_LENGTH and text not in released and not text.startswith(("import ", "from "))


def secret_lines(root: Path = ROOT) -> dict[str, str]:
    """Every line a student must not see, mapped to where it comes from.

    Per assignment: the lines of its solution regions (a solution cell without markers
    counts whole) and of its hidden-test regions, and the lines of its cheat submissions
    in ``tests/grading_cases/``; each kept only if longer than MIN_SECRET_LENGTH, not an
    import, absent from the assignment's released notebook (which legitimately repeats
    signatures, docstrings and visible tests) and absent from ``course_lib`` (the reference
    library is published and readable by design: a solution may share a line with it, such
    as ``dx = (dout @ w.T).reshape(x.shape)``; using it as one's own is what the academic
    honesty rule of the student README forbids).
    """
    library = {_normalise(line) for path in (root / "course_lib").rglob("*.py") for line in path.read_text(encoding="utf-8").splitlines()}
    secrets: dict[str, str] = {}
    for source in sorted((root / "solutions").glob("*/*.ipynb")):
        name = source.parent.name
        release = root / "assignments" / name / source.name
        if not release.is_file():
            raise FileNotFoundError(f"{source.relative_to(root)} has no released notebook "
                                    f"{release.relative_to(root)}: run `make assignments`")
        released = library | {_normalise(line) for _, text in _cell_sources(release) for line in text.splitlines()}
        lines: list[tuple[str, str]] = []
        for cell, text in _cell_sources(source):
            grader = cell.get("metadata", {}).get("nbgrader", {})
            if grader.get("solution") and MARKERS[0] not in text:
                lines += [(line, "solution") for line in text.splitlines()]
            lines += [(line, "solution") for line in _regions(text, MARKERS[0], MARKERS[1])]
            lines += [(line, "hidden test") for line in _regions(text, MARKERS[2], MARKERS[3])]
        cases = root / "tests" / "grading_cases" / f"{name}.py"
        if cases.is_file():
            for case, spec in runpy.run_path(str(cases))["CASES"].items():
                lines += [(line, f"cheat {case!r}") for code in spec.get("replace", {}).values() for line in code.splitlines()]
        for line, kind in lines:
            if _is_secret(line, released):
                secrets.setdefault(_normalise(line), f"{name}: {kind}")
    return secrets


def _texts(path: Path) -> list[str]:
    """The text of a released file as a reader sees it: cells and outputs of a notebook,
    an HTML page without its tags; [] for a binary file."""
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return []
    if "\x00" in raw:
        return []
    texts = [raw]
    if path.suffix == ".ipynb":
        for cell, text in _cell_sources(path):
            texts.append(text)
            for output in cell.get("outputs", []):
                for value in [output.get("text", "")] + list(output.get("data", {}).values()) + output.get("traceback", []):
                    texts.append("".join(value) if isinstance(value, list) else str(value))
    elif path.suffix in {".html", ".htm", ".xml", ".svg"}:
        texts.append(html.unescape(re.sub(r"<[^>]+>", "", raw)))
    return texts


def scan_release(dest: Path, root: Path = ROOT) -> list[str]:
    """Findings (one line each, naming the file) of instructor material in the release at ``dest``; [] when clean."""
    secrets = secret_lines(root)
    findings = []
    for path in sorted(dest.rglob("*")):
        relative = path.relative_to(dest)
        named = INSTRUCTOR_NAMES.intersection(relative.parts)
        if named:
            findings.append(f"{relative}: instructor's file name {sorted(named)[0]!r}")
        if not path.is_file():
            continue
        for text in _texts(path):
            findings += [f"{relative}: marker {marker!r}" for marker in MARKERS if marker in text]
            for line in text.splitlines():
                origin = secrets.get(_normalise(line))
                if origin:
                    findings.append(f"{relative}: line of {origin}: {_normalise(line)[:80]!r}")
    return list(dict.fromkeys(findings))


def student_pyproject(text: str) -> str:
    """pyproject.toml without the instructor's grader: no ``course_grade`` package, no
    ``course-grade`` command, no ``grading`` extra (whose comment names the grader)."""
    out, skipping = [], False
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("["):
            skipping = line.strip() in {"[project.scripts]", "[project.optional-dependencies]"}
        if line.startswith("#") and index + 1 < len(lines) and lines[index + 1].strip() == "[project.optional-dependencies]":
            continue
        if skipping:
            continue
        out.append(line.replace(', "course_grade*"', "").replace(', "course_grade"', ""))
    result = "\n".join(out) + "\n"
    parsed = tomllib.loads(result)
    include = parsed.get("tool", {}).get("setuptools", {}).get("packages", {}).get("find", {}).get("include")
    if include != ["course_lib*"] or "course_grade" in result or "scripts" in parsed["project"]:
        raise ValueError("pyproject.toml changed shape: tools/make_release.py cannot remove the grader from it "
                         f"(packages {include!r}); update student_pyproject()")
    return result


def build_release(dest: Path, root: Path = ROOT) -> list[Path]:
    """Copy the student-facing course from ``root`` into ``dest`` (absent or empty); return the files written."""
    dest, root = Path(dest).resolve(), Path(root).resolve()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"release destination {dest} exists and is not an empty folder")
    if dest == root or root in dest.parents and dest.relative_to(root).parts[0] in {name for name, _ in RELEASED}:
        raise ValueError(f"release destination {dest} lies inside a released folder of {root}")
    dest.mkdir(parents=True, exist_ok=True)
    pairs = list(RELEASED) + ([(str(SITE), str(SITE))] if (root / SITE).is_dir() else [])
    for source, target in pairs:
        if (root / source).is_dir():
            shutil.copytree(root / source, dest / target, ignore=None if source == str(SITE) else IGNORED)
        else:
            (dest / target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / source, dest / target)
    (dest / "pyproject.toml").write_text(student_pyproject((root / "pyproject.toml").read_text(encoding="utf-8")), encoding="utf-8")
    return sorted(path for path in dest.rglob("*") if path.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path, help="folder to write the release into (absent or empty)")
    args = parser.parse_args(argv)
    try:
        files = build_release(args.dest)
    except (OSError, ValueError) as exc:
        print(f"make_release: {exc}", file=sys.stderr)
        return 2
    findings = scan_release(args.dest)
    for finding in findings:
        print(f"LEAK {finding}", file=sys.stderr)
    if findings:
        print(f"release in {args.dest} carries instructor material ({len(findings)} findings): do not publish it", file=sys.stderr)
        return 1
    size = sum(path.stat().st_size for path in files)
    print(f"release written to {args.dest}: {len(files)} files, {size / 1e6:.1f} MB, scanned clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
