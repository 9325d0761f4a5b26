"""Reading a submitted notebook whatever state it is in, and putting its graded cells back in order.

:func:`read_submission` turns a file into a notebook or raises :class:`Unreadable`
with a sentence for the student (empty file, not JSON, not a notebook).
:func:`find_notebook` finds the notebook when the student renamed it.
:func:`rebuild` lays the student's cells onto the released notebook's structure:
every cell the release marks for nbgrader (answers, tests, locked cells) appears
once, in the release's order, with the release's metadata; a deleted test comes
back; cells the student added stay after the cell they followed.  Each repair
is returned as a note that names the cell.
"""
from __future__ import annotations

import copy
import json
import re
import uuid
import warnings
from pathlib import Path

import nbformat
from nbformat import NotebookNode

MAX_NOTEBOOK_BYTES = 50 * 2**20

_NBGRADER_KEYS = ("grade", "solution", "locked", "task", "points", "grade_id", "schema_version")


class Unreadable(Exception):
    """The submission cannot be graded at all; ``str(exc)`` says why, for the student."""


def _salvage_cells(obj: dict) -> list[NotebookNode]:
    cells = []
    for raw in obj.get("cells", []):
        if not isinstance(raw, dict) or raw.get("cell_type") not in ("code", "markdown", "raw"):
            continue
        source = raw.get("source", "")
        if isinstance(source, list):
            source = "".join(s for s in source if isinstance(s, str))
        if not isinstance(source, str):
            continue
        metadata = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
        if raw["cell_type"] == "code":
            cell = nbformat.v4.new_code_cell(source, metadata=metadata)
        elif raw["cell_type"] == "markdown":
            cell = nbformat.v4.new_markdown_cell(source, metadata=metadata)
        else:
            cell = nbformat.v4.new_raw_cell(source, metadata=metadata)
        cells.append(cell)
    return cells


def read_submission(path: Path) -> tuple[NotebookNode, list[str]]:
    """The notebook at ``path`` and notes on what had to be repaired to read it."""
    name = path.name
    data = path.read_bytes()
    if not data.strip():
        raise Unreadable(f"the file {name} is empty ({len(data)} bytes)")
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise Unreadable(f"the file {name} is {len(data) / 2**20:.0f} MiB, more than the "
                         f"{MAX_NOTEBOOK_BYTES // 2**20} MiB a notebook may have")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"the file {name} is not UTF-8 text (invalid byte at position {exc.start})") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Unreadable(f"the file {name} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
                         f"it was probably edited outside Jupyter or saved incompletely") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("cells", obj.get("worksheets")), list):
        raise Unreadable(f"the file {name} is JSON but not a Jupyter notebook (it has no list of cells)")
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. duplicate cell ids: rebuild() gives every cell a fresh one
            nb = nbformat.reads(text, as_version=4)
            nbformat.validate(nb)
    except Exception as exc:  # nbformat raises several kinds for damaged notebooks
        cells = _salvage_cells(obj)
        if not cells:
            raise Unreadable(f"the file {name} is not a valid notebook ({str(exc).splitlines()[0][:200]})") from None
        nb = nbformat.v4.new_notebook(cells=cells, metadata=obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {})
        notes.append(f"{name} did not follow the notebook format ({str(exc).splitlines()[0][:160]}); "
                     f"its {len(cells)} readable cells were graded")
    return nb, notes


def grade_ids(nb: NotebookNode | dict) -> set[str]:
    """The nbgrader grade ids in the cells' metadata (of a notebook, or of its raw JSON)."""
    ids = set()
    cells = nb.get("cells") if isinstance(nb, dict) else None
    for cell in cells if isinstance(cells, list) else []:
        meta = cell.get("metadata", {}).get("nbgrader", {}) if isinstance(cell, dict) else None
        if isinstance(meta, dict) and isinstance(meta.get("grade_id"), str):
            ids.add(meta["grade_id"])
    return ids


def _file_grade_ids(path: Path) -> set[str]:
    """:func:`grade_ids` of a notebook file, without validating it (empty if it is not JSON at all)."""
    try:
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            return set()
        return grade_ids(json.loads(path.read_bytes()))
    except (OSError, ValueError):
        return set()


def find_notebook(folder: Path, name: str, release: NotebookNode, taken: set[str]) -> tuple[Path | None, list[str]]:
    """The file in ``folder`` to grade as notebook ``name``: ``name.ipynb``, or the renamed copy.

    A renamed notebook is recognised by the grade ids of its cells; of several
    candidates the one sharing most ids with the release wins.
    """
    exact = folder / f"{name}.ipynb"
    if exact.is_symlink():
        return None, [f"{name}.ipynb is a symbolic link, not a notebook; it was ignored"]
    if exact.is_file():
        return exact, []
    wanted = grade_ids(release)
    candidates = []
    for path in sorted(folder.rglob("*.ipynb")):
        if path.name in taken or ".ipynb_checkpoints" in path.parts or path.is_symlink() or not path.is_file():
            continue
        shared = len(_file_grade_ids(path) & wanted)
        candidates.append((shared, path))
    if not candidates:
        return None, []
    candidates.sort(key=lambda item: (-item[0], str(item[1])))
    shared, path = candidates[0]
    if shared == 0 and len(candidates) > 1:
        return None, [f"{name}.ipynb was not submitted; the other notebooks "
                      f"({', '.join(p.name for _, p in candidates[:5])}) are not copies of it"]
    rel = path.relative_to(folder)
    return path, [f"the notebook was submitted as '{rel}' instead of '{name}.ipynb'; it was graded as {name}.ipynb"]


def _nbgrader_meta(cell: NotebookNode) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def rebuild(student: NotebookNode, release: NotebookNode) -> tuple[NotebookNode, list[str]]:
    """The student's notebook with the release's nbgrader cells in the release's order.

    Returns the new notebook and a list of notes, one per repair.
    """
    notes: list[str] = []
    anchors = {}
    order = []
    for cell in release.cells:
        gid = _nbgrader_meta(cell).get("grade_id")
        if gid:
            anchors[gid] = cell
            order.append(gid)

    seen: dict[str, NotebookNode] = {}
    duplicates: dict[str, int] = {}
    extras: dict[str | None, list[NotebookNode]] = {None: []}
    student_order: list[str] = []
    current: str | None = None
    for cell in student.cells:
        meta = _nbgrader_meta(cell)
        gid = meta.get("grade_id") if isinstance(meta.get("grade_id"), str) else None
        if gid in anchors:
            if gid in seen:
                duplicates[gid] = duplicates.get(gid, 1) + 1
                continue
            seen[gid] = cell
            student_order.append(gid)
            current = gid
            extras.setdefault(gid, [])
            continue
        if meta:
            kind = "a test" if meta.get("grade") and not meta.get("solution") else "an nbgrader"
            label = f"'{gid}'" if gid else "no id"
            notes.append(f"a cell carried {kind} cell's metadata with an unknown id ({label}); "
                         f"it was run as an ordinary cell and earns no points")
            cell = copy.deepcopy(cell)
            cell.metadata.pop("nbgrader", None)
        extras.setdefault(current, []).append(cell)

    for gid, count in duplicates.items():
        notes.append(f"cell '{gid}' appeared {count} times; only the first copy was graded")
    ranks = {gid: i for i, gid in enumerate(order)}
    ranked = [ranks[g] for g in student_order]
    if ranked != sorted(ranked):
        moved = [g for i, g in enumerate(student_order) if i and ranks[g] < ranks[student_order[i - 1]]]
        notes.append(f"graded cells were out of order ({', '.join(repr(g) for g in moved[:5])} moved); "
                     f"they were run in the assignment's order")

    cells: list[NotebookNode] = list(extras[None])
    for gid in order:
        template = anchors[gid]
        tmeta = _nbgrader_meta(template)
        mine = seen.get(gid)
        if mine is None:
            if tmeta.get("solution") and not tmeta.get("grade"):
                notes.append(f"the answer cell '{gid}' was not found (deleted, or its nbgrader metadata was changed); "
                             f"code written in other cells still ran")
            elif tmeta.get("grade") or tmeta.get("locked"):
                what = "test cell" if tmeta.get("grade") and not tmeta.get("solution") else "cell"
                notes.append(f"the {what} '{gid}' was missing from the notebook and was put back")
                cells.append(copy.deepcopy(template))
            cells.extend(extras.get(gid, []))
            continue
        cell = copy.deepcopy(template)
        meta = _nbgrader_meta(mine)
        changed = [k for k in _NBGRADER_KEYS if k in tmeta and meta.get(k) != tmeta.get(k)]
        if mine.cell_type != template.cell_type:
            changed.append("cell_type")
        if changed:
            notes.append(f"cell '{gid}' had its nbgrader metadata changed ({', '.join(changed)}); "
                         f"the assignment's metadata was used")
        if tmeta.get("solution") or not (tmeta.get("locked") or tmeta.get("grade")):
            cell.source = mine.source  # the student's answer
        elif mine.source != template.source:
            notes.append(f"the locked cell '{gid}' had been edited; the original was used")
        for key, value in mine.get("metadata", {}).items():
            if key not in ("nbgrader", "deletable", "editable"):
                cell.metadata.setdefault(key, value)
        cells.append(cell)
        cells.extend(extras.get(gid, []))

    used: set[str] = set()
    for cell in cells:
        cid = cell.get("id")
        if not isinstance(cid, str) or not re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", cid) or cid in used:
            cid = uuid.uuid4().hex[:12]
            cell["id"] = cid
        used.add(cid)
        if cell.cell_type == "code":
            cell.setdefault("outputs", [])
            cell.setdefault("execution_count", None)
    nb = nbformat.v4.new_notebook(cells=cells, metadata=copy.deepcopy(release.metadata))
    nb.nbformat, nb.nbformat_minor = 4, max(5, release.get("nbformat_minor", 5))
    return nb, notes


def skeleton(release: NotebookNode, reason: str) -> NotebookNode:
    """The release notebook standing in for an unreadable submission (no cell will run)."""
    nb = copy.deepcopy(release)
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(
        f"**This submission could not be graded:** {reason}.\n\nEvery test scores 0. "
        f"The cells below are the assignment as released."))
    return nb


def to_json(nb: NotebookNode) -> str:
    """A notebook as JSON for a worker or from one (our own data: not validated again)."""
    return json.dumps(nb, ensure_ascii=False)


def from_json(text: str) -> NotebookNode:
    return nbformat.from_dict(json.loads(text))


def from_file_text(text: str) -> NotebookNode:
    """A notebook file written by :func:`to_file_text` (or nbformat), without validating it again."""
    from nbformat.v4.nbjson import JSONReader

    return JSONReader().reads(text)


def to_file_text(nb: NotebookNode) -> str:
    """A notebook as nbformat writes it to disk, without validating it again."""
    from nbformat.v4.nbjson import JSONWriter

    return JSONWriter().writes(nb)
