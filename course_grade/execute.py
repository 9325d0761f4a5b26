"""nbgrader's ``Execute`` preprocessor with the kernel in a sandbox, and every limit explained.

:class:`SandboxedExecute` runs a notebook the way ``nbgrader autograde`` does
(every code cell in order, errors recorded as outputs, the run goes on after
an error) with these differences:

* the kernel runs in a :class:`~course_grade.sandbox.Sandbox`;
* a cell that runs past its time is interrupted; if it cannot be interrupted,
  or the kernel dies (``os._exit``, a segfault, a CPU limit), the kernel is
  restarted, the non-test cells before it are run again to restore the
  student's definitions, and grading goes on with the next cell; the cell
  itself gets an error output that names the limit and the cell;
* processes a cell leaves behind are killed when it ends;
* output beyond the limits is dropped (with a note) instead of filling memory;
* around every graded test cell the in-kernel guard restores what the
  notebook monkeypatched and checks that the test ran to its last line.

Everything that happened is recorded in :attr:`SandboxedExecute.events`, a
list of plain dicts the grader turns into the student's report.
"""
from __future__ import annotations

import ast
import asyncio
import copy
import errno
import json
import os
import secrets
import subprocess
import time
from pathlib import Path
from typing import Any

from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import Execute
from traitlets import Any as AnyTrait

from .sandbox import (
    Limits,
    Sandbox,
    SandboxedKernelManager,
    SandboxSpec,
    core_pids,
    describe_exit,
    format_size,
    kill_strays,
    kill_tree,
)

TIMEOUT_MARKER = "CourseGradeCellTimeout"
GUARD_SOURCE = Path(__file__).with_name("guard.py")


def error_output(ename: str, evalue: str) -> NotebookNode:
    """An error output as a kernel would send it (the traceback is the message itself)."""
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def cell_name(cell: NotebookNode, index: int) -> str:
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return grade_id or f"#{index + 1}"


def is_test_cell(cell: NotebookNode) -> bool:
    """An autograded test cell: graded code that is not the student's answer."""
    return cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell)


def with_sentinel(source: str, name: str, nonce: str, label: str) -> str | None:
    """``source`` rewritten to set ``name = nonce`` only if it ran to the end without an exception.

    The cell becomes one statement, ``name = (exec(compile(source), globals()), nonce)[1]``:
    the same code in the same namespace, but IPython runs it as a whole, so a
    notebook that makes IPython swallow exceptions statement by statement still
    cannot set the nonce.  A cell whose last statement is an expression keeps it
    as the cell's last statement (its value is displayed; nbgrader reads it as
    partial credit), with the nonce assigned just before it.  Returns None for
    source that is not plain Python (e.g. IPython magics): it is sent unchanged.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    if not tree.body:
        return None
    last = tree.body[-1]
    if isinstance(last, ast.Expr):
        lines = source.splitlines()
        segment = ast.get_source_segment(source, last)
        if segment is None:
            return None
        head = "\n".join(lines[: last.lineno - 1] + [lines[last.lineno - 1][: last.col_offset]])
        after = "\n".join([lines[last.end_lineno - 1][last.end_col_offset:]] + lines[last.end_lineno:])
        if any(line.strip() and not line.strip().startswith("#") for line in after.splitlines()):
            return None
        temp = f"{name}_value"
        return f"{head}{temp} = ({segment})\n{name} = {nonce!r}\n{temp}\n"
    return f"{name} = (exec(compile({source!r}, {label!r}, 'exec'), globals()), {nonce!r})[1]\n"


# How an out-of-memory error reads when nothing else shows it: the C library's text for
# ENOMEM, and torch's CPU allocator, which raises a plain RuntimeError with this message.
_OUT_OF_MEMORY_TEXT = (os.strerror(errno.ENOMEM), "can't allocate memory")


def mentions_out_of_memory(output: NotebookNode) -> bool:
    """Fallback of :meth:`SandboxedExecute._explain_memory`: the error output's text names ENOMEM.

    Used only when the exception itself does not show it (see the guard's
    ``memory_error``): torch reports a failed CPU allocation as a ``RuntimeError``
    (``DefaultCPUAllocator: can't allocate memory ... Error code 12``).
    """
    if output.get("ename", "").endswith("MemoryError"):
        return True
    text = f"{output.get('ename', '')}: {output.get('evalue', '')}"
    return any(marker in text for marker in _OUT_OF_MEMORY_TEXT)


def guard_install_code(token: str) -> str:
    """Kernel code that loads :mod:`course_grade.guard` from its source and installs it under ``token``.

    The sandbox holds the Python environment and ``course_lib``, not the grader:
    the guard (standard library only, plus the ``course_lib`` it protects) is
    sent as source and runs in a namespace of its own, which the kernel keeps
    only through the builtin ``token``.  Its result, the snapshot's summary, is
    left in ``_course_grade_guard`` for the caller to read and delete.
    """
    source = GUARD_SOURCE.read_text()
    return (f"_course_grade_guard = {{'__name__': '_course_grade_guard'}}\n"
            f"exec(compile({source!r}, '<course-grade guard>', 'exec'), _course_grade_guard)\n"
            f"_course_grade_guard = _course_grade_guard['install']({token!r})\n")


class SandboxedExecute(Execute):
    """Execute a notebook in a sandboxed kernel (see the module docstring)."""

    sandbox_spec = AnyTrait(None, allow_none=True)
    limits = AnyTrait(None, allow_none=True)
    files = AnyTrait(None, allow_none=True)

    def __init__(self, limits: Limits | None = None, sandbox_spec: SandboxSpec | None = None,
                 files: dict[str, bytes] | None = None, workdir_name: str = "work", **kwargs):
        super().__init__(**kwargs)
        self.limits = limits or Limits()
        self.sandbox_spec = sandbox_spec or SandboxSpec()
        self.files = files or {}
        self.workdir_name = workdir_name
        self.events: list[dict[str, Any]] = []
        self.cell_reports: dict[int, dict[str, Any]] = {}
        self.restarts = 0
        self.sandbox: Sandbox | None = None

    # ------------------------------------------------------------------ entry point

    def preprocess(self, nb: NotebookNode, resources: Any = None, km=None):
        from nbclient import NotebookClient

        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self.timeout = int(max(1, self.limits.cell_timeout))
        self.interrupt_on_timeout = True
        self.raise_on_iopub_timeout = True
        self.allow_errors = True
        self.error_on_timeout = {"ename": TIMEOUT_MARKER, "evalue": "", "traceback": []}
        self.extra_arguments = ["--HistoryManager.hist_file=:memory:", "--InteractiveShell.colors=NoColor"]
        self.record_timing = False
        run_sync(self._run_notebook)()
        return self.nb, self.resources

    def event(self, kind: str, message: str, **data: Any) -> None:
        self.events.append({"kind": kind, "message": message, **data})

    async def _run_notebook(self) -> None:
        self.sandbox = Sandbox(self.limits, self.sandbox_spec, self.files, self.workdir_name)
        self.total_output = 0
        start = time.monotonic()
        self.deadline = start + self.limits.notebook_timeout
        self.poisoned: set[int] = set()
        self.gave_up: str | None = None
        self.reported: set[str] = set()
        try:
            await self._start_kernel()
            for index, cell in enumerate(self.nb.cells):
                if cell.cell_type != "code" or not cell.source.strip():
                    continue
                if self.gave_up:
                    self._not_run(cell, index, self.gave_up)
                    continue
                remaining = self.deadline - time.monotonic()
                if remaining <= 1:
                    self.gave_up = (f"not run: the notebook reached its total time limit of "
                                    f"{self.limits.notebook_timeout:g} s before this cell")
                    self.event("limit", f"total time limit of {self.limits.notebook_timeout:g} s reached "
                                        f"before cell '{cell_name(cell, index)}'", limit="notebook_timeout")
                    self._not_run(cell, index, self.gave_up)
                    continue
                await self._run_cell(cell, index, remaining)
        finally:
            await self._stop_kernel()
            self.sandbox.cleanup()
            self.elapsed = time.monotonic() - start

    # ------------------------------------------------------------------ kernel life cycle

    async def _start_kernel(self) -> None:
        assert self.sandbox is not None
        self.km = SandboxedKernelManager(self.sandbox)
        # The kernel's own stdout/stderr (not the cells' output, which comes over ZeroMQ) are discarded:
        # a submission writing to file descriptor 2 must not flood the grader's terminal.
        await self.km.start_kernel(extra_arguments=list(self.extra_arguments),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.kc = self.km.client()
        self.kc.start_channels()
        try:
            await self.kc.wait_for_ready(timeout=self.startup_timeout)
        except RuntimeError as exc:
            status = self.sandbox.kernel_status()
            raise RuntimeError(f"the sandboxed kernel did not start: {exc} ({describe_exit(status, self.limits)})") from None
        self.kc.allow_stdin = False
        self.core = core_pids(self.km.bwrap_pid)
        info = await self._request(self.kc.kernel_info(), 30)
        if info is not None and "language_info" in info["content"]:
            self.nb.metadata["language_info"] = info["content"]["language_info"]
        self.guard_token = "_" + secrets.token_hex(12)
        code = guard_install_code(self.guard_token)
        reply = await self._silent(code, {"summary": "_course_grade_guard"}, 60)
        await self._silent("del _course_grade_guard", {}, 10)
        if reply is None or reply["content"].get("status") != "ok":
            detail = reply["content"].get("evalue", "") if reply else "no reply"
            raise RuntimeError(f"the grading guard could not be installed in the kernel: {detail}")

    async def _stop_kernel(self) -> None:
        km, kc = getattr(self, "km", None), getattr(self, "kc", None)
        pid = km.bwrap_pid if km is not None else None
        if kc is not None:
            try:
                kc.stop_channels()
            except Exception:
                pass
        if km is not None:
            try:
                if await km.is_alive():
                    await km.shutdown_kernel(now=True)
            except Exception:
                pass
            if pid:
                kill_tree(pid)
            try:
                await km.cleanup_resources()
            except Exception:
                pass
        self.km = None
        self.kc = None

    async def _restart(self, index: int) -> bool:
        """Start a fresh kernel and re-run the student's (non-test) cells before ``index``."""
        await self._stop_kernel()
        if self.restarts >= self.limits.max_restarts:
            self.gave_up = (f"not run: the kernel had to be restarted {self.restarts} times, "
                            f"the most the grader allows")
            return False
        self.restarts += 1
        try:
            await self._start_kernel()
        except Exception as exc:
            self.gave_up = f"not run: the kernel could not be restarted ({exc})"
            return False
        for j in range(index):
            cell = self.nb.cells[j]
            if (cell.cell_type != "code" or not cell.source.strip() or j in self.poisoned
                    or is_test_cell(cell)):
                continue
            scratch = copy.deepcopy(cell)
            remaining = self.deadline - time.monotonic()
            if remaining <= 1:
                self.gave_up = "not run: the notebook reached its total time limit while restarting the kernel"
                return False
            self.timeout = int(max(1, min(self.limits.cell_timeout, remaining)))
            try:
                await self.async_execute_cell(scratch, j, store_history=True)
            except (DeadKernelError, CellTimeoutError):
                self.nb.cells[j] = cell
                await self._stop_kernel()
                self.gave_up = (f"not run: the kernel failed again while re-running cell "
                                f"'{cell_name(cell, j)}' after a restart")
                return False
            self.nb.cells[j] = cell
        return True

    async def _request(self, msg_id: str, timeout: float) -> dict | None:
        """Wait for the shell reply to ``msg_id``; None if the kernel died or did not answer."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                msg = await self.kc.shell_channel.get_msg(timeout=1)
            except Exception:
                if not await self.km.is_alive():
                    return None
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg
        return None

    async def _silent(self, code: str, expressions: dict[str, str], timeout: float) -> dict | None:
        msg_id = self.kc.execute(code, silent=True, store_history=False, user_expressions=expressions,
                                 allow_stdin=False)
        return await self._request(msg_id, timeout)

    async def _guard(self, call: str) -> dict | None:
        reply = await self._silent("", {"r": f"{self.guard_token}.{call}"}, 30)
        if reply is None:
            return None
        result = reply["content"].get("user_expressions", {}).get("r", {})
        if result.get("status") != "ok":
            return {"error": f"{result.get('ename', 'no answer')}: {result.get('evalue', '')}"}
        try:
            return json.loads(ast.literal_eval(result["data"]["text/plain"]))
        except (KeyError, ValueError, SyntaxError):
            return {"error": "unreadable answer from the guard"}

    # ------------------------------------------------------------------ one cell

    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content", {})
        size = len(content.get("text", "")) + sum(len(str(v)) for v in content.get("data", {}).values())
        size += len(content.get("evalue", "")) + sum(len(line) for line in content.get("traceback", []))
        self.cell_output += size
        self.total_output += size
        if (self.cell_output > self.limits.output_per_cell or self.total_output > self.limits.output_total) \
                and msg["msg_type"] != "error":
            self.dropped_output += size
            return None
        return super().output(outs, msg, display_id, cell_index)

    def _not_run(self, cell: NotebookNode, index: int, reason: str) -> None:
        cell.outputs = [error_output("NotRun", reason)]
        self.cell_reports[index] = {"name": cell_name(cell, index), "status": "not-run", "message": reason}

    async def _run_cell(self, cell: NotebookNode, index: int, remaining: float) -> None:
        """Run one code cell with its checks: guard before a test, limits explained, strays stopped, guard after."""
        name = cell_name(cell, index)
        test = is_test_cell(cell)
        report: dict[str, Any] = {"name": name, "status": "ok", "message": ""}
        self.cell_reports[index] = report
        self.cell_output = 0
        self.dropped_output = 0
        self.timeout = int(max(1, min(self.limits.cell_timeout, remaining)))
        limit_text = (f"the notebook's total time limit of {self.limits.notebook_timeout:g} s"
                      if remaining < self.limits.cell_timeout else f"{self.limits.cell_timeout:g} s")
        source, sentinel, nonce = cell.source, None, None
        if test:
            prepared = await self._before_test(cell, index, report)
            if prepared is None:
                return
            source, sentinel, nonce = prepared
        if not await self._execute(cell, index, report, limit_text, source):
            return
        self._explain_interrupt(cell, report, limit_text)
        self._note_dropped_output(cell, name)
        await self._explain_memory(cell, name)
        await self._stop_strays(name)
        if test and not await self._after_test(cell, index, report, sentinel, nonce):
            return
        self._record_error(cell, report, test)

    async def _before_test(self, cell: NotebookNode, index: int,
                           report: dict) -> tuple[str, str | None, str | None] | None:
        """Ask the guard to restore the snapshot before a test; None if the test must not run.

        Otherwise the source to run (the test with its sentinel, see :func:`with_sentinel`),
        the sentinel's name and its nonce (both None for a test sent unchanged).
        """
        name = report["name"]
        before = await self._guard(f"before({name!r})")
        if before is None:
            await self._died(cell, index, report, while_="preparing the test")
            return None
        if "error" in before:
            message = (f"the grader could not check the notebook before test '{name}' ({before['error']}): "
                       f"the notebook removed or broke the grader's checks, so the test was not run")
            cell.outputs = [error_output("TamperingDetected", message)]
            report.update(status="tampering", message=message)
            self.event("tampering", message, cell=name)
            return None
        self._report_once(before.get("restored", []), "", name, "restored",
                          lambda items: f"before test '{name}' the grader undid what the notebook had changed: "
                                        + "; ".join(items), items=True)
        self._report_once(before.get("shadowed", []), "shadow:", name, "shadowed",
                          lambda items: f"the notebook's globals {', '.join(items)} hide Python builtins; "
                                        f"they were hidden while the tests ran (first: '{name}')")
        self._report_once(before.get("threads", []), "thread:", name, "threads",
                          lambda items: f"threads started by the notebook were running during test '{name}': "
                                        f"{', '.join(items)}")
        sentinel, nonce = "_" + secrets.token_hex(8), secrets.token_hex(16)
        patched = with_sentinel(cell.source, sentinel, nonce, f"<test cell {name}>")
        return (cell.source, None, None) if patched is None else (patched, sentinel, nonce)

    def _report_once(self, found: list[str], prefix: str, name: str, kind: str, describe, items: bool = False) -> None:
        """An event for the items of ``found`` not reported before in this notebook."""
        new = [item for item in found if f"{prefix}{item}" not in self.reported]
        if new:
            self.reported.update(f"{prefix}{item}" for item in new)
            extra = {"items": new} if items else {}
            self.event(kind, describe(new), cell=name, **extra)

    async def _execute(self, cell: NotebookNode, index: int, report: dict, limit_text: str, source: str) -> bool:
        """Run ``source`` as the cell (which keeps its own source); False if the kernel died or was restarted."""
        original = cell.source
        cell.source = source
        started = time.monotonic()
        try:
            await self.async_execute_cell(cell, index, store_history=True)
        except DeadKernelError:
            cell.source = original
            await self._died(cell, index, report)
            return False
        except CellTimeoutError:
            cell.source = original
            message = (f"timeout after {limit_text} in cell '{report['name']}': it did not stop when interrupted, "
                       f"so the kernel was restarted")
            cell.outputs = [o for o in cell.outputs if o.output_type != "error"]
            cell.outputs.append(error_output("TimeoutError", message))
            report.update(status="timeout", message=message)
            self.event("limit", message, cell=report["name"], limit="cell_timeout")
            self.poisoned.add(index)
            await self._restart(index + 1)
            return False
        finally:
            cell.source = original
            report["seconds"] = round(time.monotonic() - started, 3)
        return True

    def _explain_interrupt(self, cell: NotebookNode, report: dict, limit_text: str) -> None:
        """A cell interrupted at its time limit: the interrupt's traceback becomes a message naming the limit."""
        if not any(o.output_type == "error" and o.get("ename") == TIMEOUT_MARKER for o in cell.outputs):
            return
        name = report["name"]
        message = f"timeout after {limit_text} in cell '{name}' (the cell was interrupted; the cells after it still ran)"
        cell.outputs = [o for o in cell.outputs
                        if not (o.output_type == "error" and o.get("ename") in (TIMEOUT_MARKER, "KeyboardInterrupt"))]
        cell.outputs.append(error_output("TimeoutError", message))
        report.update(status="timeout", message=message)
        self.event("limit", message, cell=name, limit="cell_timeout")

    def _note_dropped_output(self, cell: NotebookNode, name: str) -> None:
        """Say in the cell's output, and in the log, how much output the limits dropped."""
        if not self.dropped_output:
            return
        note = (f"[course-grade] output truncated: this cell printed more than the limit "
                f"({format_size(self.limits.output_per_cell)} per cell, {format_size(self.limits.output_total)} "
                f"per notebook); {format_size(self.dropped_output)} were dropped\n")
        cell.outputs.append(NotebookNode(output_type="stream", name="stdout", text=note))
        if self.cell_output > self.limits.output_per_cell:
            self.event("limit", f"cell '{name}' printed more than the output limit of "
                                f"{format_size(self.limits.output_per_cell)}; {format_size(self.dropped_output)} "
                                f"dropped", cell=name, limit="output")
        elif "output_total" not in self.reported:
            self.reported.add("output_total")
            self.event("limit", f"the notebook printed more than {format_size(self.limits.output_total)} in all; "
                                f"output from cell '{name}' on was dropped", cell=name, limit="output")

    async def _explain_memory(self, cell: NotebookNode, name: str) -> None:
        """An error caused by the memory limit names the limit.

        The guard inspects the exception itself (a ``MemoryError`` or an
        ``OSError`` with ``ENOMEM`` anywhere in its chain, so also when a
        grading helper re-raised it).  Only when the guard cannot tell (torch's
        CPU allocator raises a plain ``RuntimeError`` whose only sign is its
        message, or the guard did not answer) is the error text matched:
        :func:`mentions_out_of_memory`.
        """
        errors = [o for o in cell.outputs if o.output_type == "error" and o.get("ename") != "TimeoutError"]
        if not errors:
            return
        out = errors[-1]
        answer = await self._guard("memory_error()")
        if not (answer or {}).get("memory") and not mentions_out_of_memory(out):
            return
        out.evalue = f"{out.evalue} (the grader's memory limit is {format_size(self.limits.memory)})"
        out.traceback = [f"{out.ename}: {out.evalue}"]
        self.event("limit", f"cell '{name}' ran out of memory (limit {format_size(self.limits.memory)})",
                   cell=name, limit="memory")

    async def _stop_strays(self, name: str) -> None:
        """Kill the processes the cell left running (and let the kernel collect them)."""
        pid = self.km.bwrap_pid if self.km is not None else None
        if not pid:
            return
        strays = kill_strays(pid, self.core)
        if strays:
            await asyncio.sleep(0.05)
            strays |= kill_strays(pid, self.core)  # any started while the first ones were being stopped
            await asyncio.sleep(0.05)
            await self._guard("reap()")  # the killed children are the kernel's zombies until collected
            self.event("processes", f"cell '{name}' left {len(strays)} process(es) running; they were stopped",
                       cell=name, limit="processes")

    async def _after_test(self, cell: NotebookNode, index: int, report: dict, sentinel: str | None,
                          nonce: str | None) -> bool:
        """Ask the guard whether the test ran to its end untouched; False if the kernel died meanwhile."""
        name = report["name"]
        after = await self._guard(f"after({name!r}, {sentinel!r}, {nonce!r})")
        if after is None:
            await self._died(cell, index, report, while_="checking the test")
            return False
        errors = any(o.output_type == "error" for o in cell.outputs)
        if after.get("changed"):
            message = (f"while test '{name}' ran, the notebook changed what the test relies on ("
                       + "; ".join(after["changed"][:5]) + "); the test's result cannot be trusted")
        elif sentinel is not None and after.get("completed") is False and not errors:
            message = (f"test '{name}' did not run to its end, but no error was reported: "
                       f"the notebook interfered with how IPython reports errors")
        elif after.get("error"):
            message = (f"the grader could not check the notebook after test '{name}' ({after['error']}); "
                       f"the test's result cannot be trusted")
        else:
            return True
        cell.outputs.append(error_output("TamperingDetected", message))
        self.event("tampering", message, cell=name)
        return True

    def _record_error(self, cell: NotebookNode, report: dict, test: bool) -> None:
        """The cell's last error becomes its report; an error in a student's cell is logged too."""
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if errors and report["status"] == "ok":
            report.update(status="error", message=f"{errors[-1].get('ename', '')}: {errors[-1].get('evalue', '')}")
            if not test:
                text = report["message"] if len(report["message"]) <= 300 else report["message"][:297] + "..."
                self.event("cell-error", f"cell '{report['name']}' raised {text}", cell=report["name"])

    async def _died(self, cell: NotebookNode, index: int, report: dict, while_: str = "") -> None:
        status = self.sandbox.kernel_status() if self.sandbox else None
        cause = describe_exit(status, self.limits)
        name = cell_name(cell, index)
        when = f" while {while_}" if while_ else ""
        message = f"{cause} in cell '{name}'{when}"
        self.poisoned.add(index)
        restarted = await self._restart(index + 1)
        message += ("; the kernel was restarted and your earlier cells re-run, so the cells after it were still graded"
                    if restarted else "")
        cell.outputs = [o for o in cell.outputs if o.output_type != "error"]
        cell.outputs.append(error_output("KernelDied", message))
        limit = "cpu_time" if status and status.get("signal") == 24 else "kernel"
        report.update(status="died", message=message)
        self.event("limit" if limit == "cpu_time" else "died", message, cell=name, limit=limit, exit=status)
