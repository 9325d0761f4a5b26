"""Bringing submissions into ``submitted/<student>/<assignment>/``.

Two sources are understood:

* a folder with one sub-folder per student (``<student>/<assignment>/*.ipynb``
  or ``<student>/*.ipynb``), e.g. an exchange or a shared drive;
* a zip file downloaded from a learning-management system, or a folder of
  them, collected by nbgrader's own ``zip_collect`` (the archive is copied to
  ``downloaded/<assignment>/archive/``; file names are matched with
  ``FileNameCollectorPlugin.named_regexp``, see :data:`DEFAULT_ZIP_REGEXP`).

A student's folder is replaced only when its content changed, so collecting
again does not make unchanged submissions look new.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

# Canvas-style names: "<student>_<late_>?<numbers>_..._<original name>.ipynb" (the student id
# has no underscore), e.g. "jdoe_late_123_456_ch1_backprop.ipynb".  Override it in
# nbgrader_config.py (c.FileNameCollectorPlugin.named_regexp) or with --collect-regexp.
DEFAULT_ZIP_REGEXP = r".*/(?P<student_id>[^/_]+)_(?:late_|LATE_)?(?:\d+_)*(?P<file_id>[^/]+\.ipynb)$"


class CollectError(RuntimeError):
    pass


def _manifest(folder: Path) -> dict[str, tuple[str, str]]:
    """relative path -> ("file", sha256) or ("link", target); links are never followed."""
    out = {}
    for path in folder.rglob("*"):
        if ".ipynb_checkpoints" in path.parts:
            continue
        rel = str(path.relative_to(folder))
        if path.is_symlink():
            out[rel] = ("link", os.readlink(path))
        elif path.is_file():
            out[rel] = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
    return out


def _same_tree(a: Path, b: Path) -> bool:
    return b.is_dir() and _manifest(a) == _manifest(b)


def collect_folder(source: Path, submitted_root: Path, assignment: str) -> tuple[list[str], list[str]]:
    """Copy ``source/<student>/...`` into ``submitted_root/<student>/<assignment>/``; (changed, unchanged)."""
    changed, unchanged = [], []
    for student_dir in sorted(p for p in source.iterdir() if p.is_dir() and not p.name.startswith(".")):
        inner = student_dir / assignment if (student_dir / assignment).is_dir() else student_dir
        dest = submitted_root / student_dir.name / assignment
        if _same_tree(inner, dest):
            unchanged.append(student_dir.name)
            continue
        tmp = dest.with_name(f".{assignment}.collecting")
        shutil.rmtree(tmp, ignore_errors=True)
        # links are copied as links (and ignored when grading), never followed
        shutil.copytree(inner, tmp, symlinks=True, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
        changed.append(student_dir.name)
    return changed, unchanged


def collect_zip(course_root: Path, assignment: str, source: Path, regexp: str | None, env: dict | None = None) -> str:
    """nbgrader zip_collect for ``source`` (a zip or a folder of zips); returns its log."""
    archive = course_root / "downloaded" / assignment / "archive"
    archive.mkdir(parents=True, exist_ok=True)
    sources = [source] if source.is_file() else sorted(p for p in source.iterdir() if p.is_file())
    for path in sources:
        shutil.copy(path, archive / path.name)
    command = [sys.executable, "-m", "nbgrader", "zip_collect", assignment, "--force"]
    if regexp:
        command.append(f"--FileNameCollectorPlugin.named_regexp={regexp}")
    proc = subprocess.run(command, cwd=course_root, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise CollectError(f"nbgrader zip_collect failed (exit status {proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stderr


def needs_regexp(app) -> bool:
    """True when nbgrader_config.py sets no FileNameCollectorPlugin.named_regexp."""
    return not app.config.get("FileNameCollectorPlugin", {}).get("named_regexp")
