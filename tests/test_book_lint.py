"""The book's code cells pass ruff's pyflakes rules (F: unused imports and variables,
undefined names, ...) and its import-order rules (I), read as the notebooks they are.

Every ``{code-cell}`` of ``book/**/*.md`` is extracted with jupytext into a notebook,
which ruff lints cell by cell, names defined in an earlier cell counting in later
ones.  A failure names the page, the line of the page and the rule.  The rules are
given here (``--isolated``), so the project's own ruff settings cannot change them.
"""
import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "book").rglob("*.md"))
RUFF = [sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache", "--select", "F,I",
        "--config", "lint.isort.known-first-party = ['course_lib']",
        "--config", "line-length = 88",           # where a long import is wrapped: the width a page shows
        "--output-format", "json", "--exit-zero"]


def _code_cell_lines(page: pathlib.Path, cells) -> dict[int, int]:
    """Notebook cell number (1-based, as ruff counts) -> line of the page just above the cell's code."""
    lines = page.read_text(encoding="utf-8").splitlines()
    fences = [n for n, line in enumerate(lines) if line.startswith("```{code-cell}")]
    found, k = {}, 0
    for number, cell in enumerate(cells, start=1):
        if cell.cell_type != "code":
            continue
        start = fences[k]
        first = cell.source.splitlines()[0] if cell.source else None
        # skip the cell's options (``:tags:`` lines or a ``---`` block) to its first line of code
        offset = next((j for j in range(start + 1, len(lines)) if lines[j] == first), start + 1)
        found[number] = offset            # 0-based index of the first code line == 1-based line above it
        k += 1
    return found


def test_every_page_with_code_is_found():
    import jupytext

    with_code = [p for p in PAGES if any(c.cell_type == "code" for c in jupytext.read(p).cells)]
    assert {p.parent.name for p in with_code} >= {"ch1_backprop", "ch2_conv", "ch3_layers"}


def test_code_cells_pass_ruff_f_and_i(tmp_path):
    import jupytext
    import nbformat

    notebooks, cell_lines = {}, {}
    for page in PAGES:
        notebook = jupytext.read(page)
        if not any(c.cell_type == "code" for c in notebook.cells):
            continue
        target = tmp_path / (page.relative_to(ROOT).with_suffix("").as_posix().replace("/", "__") + ".ipynb")
        nbformat.write(notebook, target)
        notebooks[str(target)] = page.relative_to(ROOT)
        cell_lines[str(target)] = _code_cell_lines(page, notebook.cells)
    assert notebooks, "no code cells found under book/"

    run = subprocess.run(RUFF + sorted(notebooks), capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0 and run.stdout.strip().startswith("["), (
        f"ruff did not run (is it installed? requirements.txt pins it):\n{run.stderr}")
    problems = []
    for found in json.loads(run.stdout):
        page = notebooks[found["filename"]]
        line = cell_lines[found["filename"]][found["cell"]] + found["location"]["row"]
        problems.append(f"{page}:{line}: {found['code']} {found['message']}")
    assert not problems, ("code cells of the book fail ruff (fix with `ruff check --fix` on the "
                          "page converted by jupytext):\n" + "\n".join(problems))


@pytest.mark.parametrize("source, code", [("import os\n", "F401"), ("print(undefined_name)\n", "F821"),
                                          ("import torch\nimport math\nprint(math, torch)\n", "I001")])
def test_the_check_catches_each_kind_of_problem(tmp_path, source, code):
    import nbformat

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    target = tmp_path / "bad.ipynb"
    nbformat.write(notebook, target)
    run = subprocess.run(RUFF + [str(target)], capture_output=True, text=True, cwd=tmp_path)
    assert [found["code"] for found in json.loads(run.stdout)] == [code]
