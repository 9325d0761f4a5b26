"""What a worker does with one submission: run its notebooks in sandboxes, return them.

:func:`run_task` is what ``course-grade`` submits to Dask.  It needs no access
to the course directory or the gradebook: the task carries the prepared
notebooks (with the hidden tests restored), the assignment's data files and
the limits, so a worker on another machine needs only the course's Python
environment and bubblewrap.  It returns plain data (the executed notebooks as
JSON, what happened, timings) for the single writer to record.
"""
from __future__ import annotations

import os
import socket
import time
import traceback
from typing import Any

from .execute import SandboxedExecute
from .notebooks import from_json, to_json
from .sandbox import Limits, SandboxSpec


def run_task(task: dict[str, Any]) -> dict[str, Any]:
    """Execute every notebook of one submission; never raises (errors are returned)."""
    started = time.perf_counter()
    limits = Limits.from_dict(task["limits"])
    spec = SandboxSpec.from_dict(task.get("sandbox", {}))
    result: dict[str, Any] = {"student": task["student"], "notebooks": [], "events": [], "restarts": 0,
                              "worker": f"{socket.gethostname()}:{os.getpid()}", "error": None}
    try:
        for item in task["notebooks"]:
            nb = from_json(item["json"])
            executor = SandboxedExecute(limits=limits, sandbox_spec=spec, files=task.get("files", {}),
                                        workdir_name=task["assignment"])
            try:
                nb, _ = executor.preprocess(nb, {"metadata": {"path": "."}})
            finally:
                result["events"] += [dict(e, notebook=item["name"]) for e in executor.events]
                result["restarts"] += executor.restarts
            result["notebooks"].append({"name": item["name"], "json": to_json(nb),
                                        "cells": executor.cell_reports})
    except Exception as exc:
        result["error"] = (f"grading {task['student']} failed on {result['worker']}: {type(exc).__name__}: {exc}\n"
                           + traceback.format_exc(limit=8))
    result["seconds"] = time.perf_counter() - started
    return result


def render_feedback(job: dict[str, Any], settings: dict[str, Any]) -> dict[str, str]:
    """The HTML feedback pages of one student: ``{notebook name: html}``.

    The same export as nbgrader's ``GenerateFeedback`` (its ``feedback``
    template and the configured preprocessors after ``GetGrades``, which the
    instructor's process has already run), without touching any file.
    ``job`` is :meth:`Course.feedback_job`, ``settings`` :meth:`Course.feedback_settings`.
    """
    import nbgrader.converters
    from nbconvert.exporters import HTMLExporter
    from traitlets.config import Config

    base = os.path.dirname(os.path.abspath(nbgrader.converters.__file__))
    config = Config(settings["config"])
    config.Exporter.default_preprocessors = []
    if "template_name" not in config.HTMLExporter:
        config.HTMLExporter.template_name = "feedback"
    if "extra_template_basedirs" not in config.HTMLExporter:
        config.HTMLExporter.extra_template_basedirs = [
            os.path.join(base, "..", "server_extensions", "formgrader", "templates")]
    config.HTMLExporter.extra_template_paths = [
        os.path.join(base, "..", "server_extensions", "formgrader", "static", "node_modules", "bootstrap", "dist", "css")]
    exporter = HTMLExporter(config=config)
    for preprocessor in settings["preprocessors"]:
        exporter.register_preprocessor(preprocessor, enabled=True)
    pages = {}
    for item in job["notebooks"]:
        nb = from_json(item["json"])
        resources = {"nbgrader": dict(item["nbgrader"]), "unique_key": item["name"],
                     "output_files_dir": f"{item['name']}_files"}
        body, _ = exporter.from_notebook_node(nb, resources)
        pages[item["name"]] = body
    return pages
