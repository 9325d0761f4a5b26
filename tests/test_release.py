"""The student release (`make release DEST=...`, tools/make_release.py): what it holds, and
that its leak scan finds solutions, hidden tests, cheats and instructor files planted in it."""
import filecmp
import html
import importlib.util
import json
import shutil
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("make_release", ROOT / "tools" / "make_release.py")
make_release = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_release)

STUDENT_TOP_LEVEL = {"README.md", "Makefile", "_config.yml", "_toc.yml", "requirements.txt", "pyproject.toml",
                     "book", "assignments", "course_lib"}


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    dest = tmp_path_factory.mktemp("release") / "course"
    make_release.build_release(dest)
    return dest


def _files(folder: Path) -> set[Path]:
    return {path.relative_to(folder) for path in folder.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"}


def _same_tree(left: Path, right: Path) -> None:
    assert _files(left) == _files(right)
    different = [str(path) for path in _files(left) if not filecmp.cmp(left / path, right / path, shallow=False)]
    assert different == [], f"files differ between {left} and {right}"


def test_release_holds_the_student_course_and_nothing_else(release):
    site = {"_build"} if (ROOT / make_release.SITE).is_dir() else set()
    assert {path.name for path in release.iterdir()} == STUDENT_TOP_LEVEL | site
    _same_tree(release / "assignments", ROOT / "assignments")
    _same_tree(release / "course_lib", ROOT / "course_lib")
    _same_tree(release / "book", ROOT / "book")
    assert (release / "course_lib" / "grading" / "__init__.py").is_file(), "the visible test cells import course_lib.grading"
    assert (release / "README.md").read_text() == (ROOT / "README.student.md").read_text()
    assert (release / "Makefile").read_text() == (ROOT / "Makefile.student").read_text()


def test_release_scans_clean(release):
    assert make_release.scan_release(release) == []


def test_secret_lines_cover_every_assignment():
    secrets = make_release.secret_lines()
    for notebook in (ROOT / "solutions").glob("*/*.ipynb"):
        name = notebook.parent.name
        kinds = {origin.split(": ")[1].split(" ")[0] for origin in secrets.values() if origin.startswith(f"{name}: ")}
        assert {"solution", "hidden"} <= kinds, f"{name}: no secret lines of kind {({'solution', 'hidden'} - kinds)}"


def _secret(kind: str) -> str:
    return next(line for line, origin in sorted(make_release.secret_lines().items()) if f": {kind}" in origin)


def _plant_solution_cell(release: Path) -> Path:
    """Append to a released notebook a solution cell of its source notebook, markers and all."""
    notebook = release / "assignments" / "ch3_layers" / "ch3_layers.ipynb"
    source = json.loads((ROOT / "solutions" / "ch3_layers" / "ch3_layers.ipynb").read_text())
    planted = json.loads(notebook.read_text())
    planted["cells"].append(next(cell for cell in source["cells"] if "### BEGIN SOLUTION" in "".join(cell["source"])))
    notebook.write_text(json.dumps(planted, indent=1))
    return notebook


def _plant_hidden_test_in_site(release: Path) -> Path:
    """A hidden-test line in a built page, split into highlighted tokens as Pygments writes it."""
    page = release / "_build" / "html" / "leak.html"
    page.parent.mkdir(parents=True, exist_ok=True)   # the release holds _build/html once the book is built
    tokens = "".join(f'<span class="n">{html.escape(word)}</span> ' for word in _secret("hidden test").split())
    page.write_text(f"<html><body><pre>{tokens}</pre></body></html>")
    return page


def _plant_solution_line(release: Path) -> Path:
    page = release / "book" / "ch1_backprop" / "index.md"
    page.write_text(page.read_text() + "\n```python\n    " + _secret("solution") + "\n```\n")
    return page


def _plant_cheat(release: Path) -> Path:
    module = release / "course_lib" / "shortcut.py"
    module.write_text(_secret("cheat") + "\n")
    return module


def _plant_instructor_file(release: Path) -> Path:
    shutil.copy(ROOT / "nbgrader_config.py", release / "nbgrader_config.py")
    return release / "nbgrader_config.py"


@pytest.mark.parametrize("plant, expect", [
    (_plant_solution_cell, "marker '### BEGIN SOLUTION'"),
    (_plant_hidden_test_in_site, "hidden test"),
    (_plant_solution_line, "solution"),
    (_plant_cheat, "cheat"),
    (_plant_instructor_file, "instructor's file name 'nbgrader_config.py'"),
], ids=["solution-cell", "hidden-test-in-site", "solution-line-in-book", "cheat-in-library", "instructor-file"])
def test_scan_finds_what_is_planted(release, tmp_path, plant, expect):
    copy = tmp_path / "course"
    shutil.copytree(release, copy)
    planted = plant(copy).relative_to(copy)
    findings = make_release.scan_release(copy)
    assert any(finding.startswith(f"{planted}: ") and expect in finding for finding in findings), findings
    assert all(finding.startswith(f"{planted}: ") for finding in findings), findings


def test_release_copies_the_built_site_and_refuses_a_used_folder(tmp_path):
    root = tmp_path / "repo"
    for name, _ in make_release.RELEASED + (("pyproject.toml", None), ("solutions", None)):
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, root / name)
    (root / "tests").mkdir()
    shutil.copytree(ROOT / "tests" / "grading_cases", root / "tests" / "grading_cases")
    (root / make_release.SITE).mkdir(parents=True)
    (root / make_release.SITE / "index.html").write_text("<html><body>The course</body></html>")
    dest = tmp_path / "out"
    files = make_release.build_release(dest, root)
    assert dest / make_release.SITE / "index.html" in files
    assert make_release.scan_release(dest, root) == []
    with pytest.raises(FileExistsError, match="not an empty folder"):
        make_release.build_release(dest, root)
    with pytest.raises(ValueError, match="inside a released folder"):
        make_release.build_release(root / "assignments" / "release", root)


def test_student_pyproject_drops_the_grader():
    text = make_release.student_pyproject((ROOT / "pyproject.toml").read_text())
    parsed = tomllib.loads(text)
    assert "course_grade" not in text and "scripts" not in parsed["project"]
    assert parsed["tool"]["setuptools"]["packages"]["find"]["include"] == ["course_lib*"]
    assert parsed["project"]["dependencies"] == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    with pytest.raises(ValueError, match="changed shape"):
        make_release.student_pyproject(text.replace('["course_lib*"]', '["course_lib*", "course_grade.*"]'))
