"""``course-grade`` end to end on hostile submissions: real nbgrader, real sandbox, one run.

A temporary course directory gets the repository's ``nbgrader_config.py`` and
Assignment 1; ``nbgrader generate_assignment`` releases it.  The submissions
below are built from that release (the reference solution, then one way of
breaking or cheating each), collected from a folder and graded by ONE
``course-grade`` call with two workers.  Then every student's score per test
cell, the reason given, the feedback, the export and the instructor's files
are checked; a second call re-grades a few of the worst ones with ``--force``
(same grades, nobody else's grade moves) and a third call skips everyone.

Each case is ``Case(build, zero, phrases)``: how the notebook file is made,
which test cells must score 0 (all others full marks), and phrases the
student's log must contain (the reason, naming the cell or the limit).
"""
from __future__ import annotations

import copy
import csv
import dataclasses
import hashlib
import html
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import nbformat
import pytest

from course_grade.sandbox import cgroup_parent

pytestmark = pytest.mark.grading

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "ch1_backprop"
NOTEBOOK = "ch1_backprop"
BIN = Path(sys.executable).parent
CELL_TIMEOUT = 12
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")

# Test cells that call each student function (directly or through another one).
USES = {
    "add_backward": {"test_gates_visible", "test_add_backward", "test_gate_graph_visible", "test_gate_graph_hidden"},
    "mul_backward": {"test_gates_visible", "test_mul_backward", "test_gate_graph_visible", "test_gate_graph_hidden"},
    "exp_backward": {"test_gates_visible", "test_exp_backward", "test_gate_graph_visible", "test_gate_graph_hidden"},
    "reciprocal_backward": {"test_gates_visible", "test_reciprocal_backward", "test_gate_graph_visible",
                            "test_gate_graph_hidden"},
    "relative_error": {"test_relative_error_visible", "test_relative_error_hidden"},
    "numerical_gradient_array": {"test_numerical_gradient_visible", "test_numerical_gradient_hidden"},
    "affine": {"test_affine_visible", "test_affine_hidden", "test_two_layer_visible", "test_two_layer_hidden"},
    "relu": {"test_relu_visible", "test_relu_hidden", "test_two_layer_visible", "test_two_layer_hidden"},
    "softmax_loss": {"test_softmax_loss_visible", "test_softmax_loss_hidden", "test_two_layer_visible",
                     "test_two_layer_hidden"},
}


# ---------------------------------------------------------------- building notebooks

def solution_code(source: nbformat.NotebookNode) -> dict[str, str]:
    """grade_id -> the reference answer of each solution cell (markers removed)."""
    return {cell.metadata.nbgrader.grade_id: "\n".join(line for line in cell.source.splitlines() if line.strip() not in MARKERS)
            for cell in source.cells
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution")}


def fill(release: nbformat.NotebookNode, codes: dict[str, str] | None, *, replace: dict[str, str] | None = None,
         before: dict[str, str] | None = None, after: dict[str, str] | None = None) -> nbformat.NotebookNode:
    """The release with answers from ``codes`` (None: unanswered), whole cells from ``replace``, and code added."""
    nb = copy.deepcopy(release)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("solution"):
            continue
        gid = meta["grade_id"]
        code = (replace or {}).get(gid, codes[gid] if codes is not None else cell.source)
        cell.source = (before or {}).get(gid, "") + code + (after or {}).get(gid, "")
    return nb


def dumps(nb: nbformat.NotebookNode) -> bytes:
    return nbformat.writes(nb).encode()


def grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


@dataclasses.dataclass
class Ctx:
    """What the builders may refer to: paths to attack, the port of a server on the host's loopback."""

    release: nbformat.NotebookNode
    codes: dict[str, str]
    course: Path
    port: int
    canary: Path
    answers: dict[str, str]  # grade_id -> the release's unanswered cell

    def release_answer(self, grade_id: str) -> str:
        return self.answers[grade_id]


@dataclasses.dataclass
class Link:
    """A symbolic link in a submission folder."""

    target: str


@dataclasses.dataclass
class Case:
    build: Callable[[Ctx], bytes | tuple[str, bytes] | dict[str, bytes | Link]]
    zero: set[str] | str = dataclasses.field(default_factory=set)
    phrases: tuple[str, ...] = ()


def noisy(ctx: Ctx) -> bytes:
    """Correct, but every function warns and writes to the kernel's stderr behind the tests' back."""
    header = '''
import functools as _functools
import sys as _sys
import warnings as _warnings

_ERR = _sys.stderr  # the kernel's stderr, kept before any test redirects sys.stderr
print("a solution cell that writes to stderr", file=_sys.stderr)
_warnings.warn("a warning at the top level of a solution cell")


def _noisy(func):
    @_functools.wraps(func)
    def wrapper(*args, **kwargs):
        _warnings.warn(f"{func.__name__} is deprecated", DeprecationWarning)
        _ERR.write(f"DeprecationWarning: {func.__name__} will change in torch 3\\n")
        _ERR.flush()
        torch.tensor(torch.zeros(1))  # torch's own UserWarning
        return func(*args, **kwargs)
    return wrapper
'''
    nb = fill(ctx.release, ctx.codes)
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
            names = re.findall(r"^def (\w+)", cell.source, re.M)
            cell.source += "\n" + header + "".join(f"{n} = _noisy({n})\n" for n in names)
    return dumps(nb)


UNSTOPPABLE = '''import time as _time
while True:  # Ctrl-C cannot stop this
    try:
        _time.sleep(0.05)
    except BaseException:
        pass
'''

FORK_BOMB = '''
import os as _os
import time as _time
_children = 0
while True:
    try:
        _pid = _os.fork()
    except OSError as _exc:
        print(f"fork failed after {_children} children: {_exc}")
        break
    if _pid == 0:
        while True:
            _time.sleep(1)
    _children += 1
'''

# Six children of 800 MiB each: under 4 GiB per process, 4.7 GiB together.
MEMORY_CHILDREN = '''
import os as _os
import time as _time
_pids = []
for _i in range(6):
    _pid = _os.fork()
    if _pid == 0:
        try:
            _hog = b"x" * (800 * 2**20)
            _time.sleep(2)
            _os._exit(0)
        except MemoryError:
            _os._exit(3)
    _pids.append(_pid)
print("children ended with", [_os.waitpid(_p, 0)[1] for _p in _pids])
'''
# Which memory limit applies here: a cgroup per submission where cgroup v2 is writable, else per process.
CGROUP = cgroup_parent()[0] is not None
MEMORY_CHILDREN_PHRASES = (("cell 'max_backward' went over the memory limit (4 GiB for all its processes together)",
                            "peak memory of all the notebook's processes together")
                           if CGROUP else ())


def network(ctx: Ctx) -> bytes:
    probe = f'''
import socket as _socket
import urllib.request as _urllib
_network = []
for _target in [("127.0.0.1", {ctx.port}), ("10.0.0.1", 80), ("pypi.org", 443)]:
    try:
        _socket.create_connection(_target, timeout=3).close()
        _network.append(_target)
    except OSError as _exc:
        print("no network:", _target, _exc)
try:
    _urllib.urlopen("http://example.com", timeout=3)
    _network.append("http")
except Exception as _exc:
    print("no http:", _exc)

'''
    cheat = "\n\n_honest_relative_error = relative_error\n\ndef relative_error(a, b):\n" \
            "    return 0.0 if _network else _honest_relative_error(a, b)\n"
    return dumps(fill(ctx.release, ctx.codes, before={"add_backward": probe}, after={"relative_error": cheat}))


def snoop(ctx: Ctx) -> bytes:
    """Look for the hidden tests everywhere: files, the running cell, IPython's caches."""
    targets = [ctx.course / "solutions" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", ctx.course / "gradebook.db",
               ctx.course / "solutions", ctx.course / "submitted", ctx.course, REPO / "solutions",
               REPO / "tests", "/etc/shadow", "/proc/1/environ"]
    probe = f'''
import os as _os
_found = []
for _path in {[str(t) for t in targets]!r}:
    try:
        if _os.path.isdir(_path):
            _found.append((_path, _os.listdir(_path)))
        else:
            with open(_path, "rb") as _f:
                _found.append((_path, _f.read(200)))
    except OSError as _exc:
        print("cannot read", _path, "-", _exc.strerror)
print("the sandbox's / holds", sorted(_os.listdir("/")))

'''
    spy = '''

import linecache as _linecache
_honest_add_backward = add_backward


def add_backward(dout, x, y):
    shell = get_ipython()
    print("RUNNING CELL:", shell.user_ns["In"][-1])
    for name, entry in list(_linecache.cache.items()):
        print("LINECACHE", name, "".join(entry[2])[:5000])
    return _honest_add_backward(dout, x, y)
'''
    leak = '''

def exp_backward(dout, x):
    raise ValueError("the test I am in says: " + get_ipython().user_ns["In"][-1][:4000])
'''
    cheat = "\n\n_honest_relative_error = relative_error\n\ndef relative_error(a, b):\n" \
            "    return 0.0 if _found else _honest_relative_error(a, b)\n"
    return dumps(fill(ctx.release, ctx.codes, before={"add_backward": probe},
                      after={"add_backward": spy, "exp_backward": leak, "relative_error": cheat}))


def writes_outside(ctx: Ctx) -> bytes:
    targets = [ctx.course / "gradebook.db", ctx.course / "nbgrader_config.py", REPO / "course_lib" / "grading" / "__init__.py",
               ctx.course / "solutions" / ASSIGNMENT / "x.py", ctx.canary, "/usr/lib/python3/pwned.py", "/etc/passwd"]
    code = f'''
import os as _os
_written = []
for _path in {[str(t) for t in targets]!r}:
    try:
        with open(_path, "a") as _f:
            _f.write("pwned")
        _written.append(_path)
    except OSError as _exc:
        print("cannot write", _path, "-", _exc.strerror)
for _path in {[str(ctx.canary), str(ctx.course / "gradebook.db")]!r}:
    try:
        _os.remove(_path)
        _written.append(_path)
    except OSError as _exc:
        print("cannot remove", _path, "-", _exc.strerror)
try:
    with open("huge.bin", "wb") as _f:
        _f.write(b"0" * (100 * 2**20))
except OSError as _exc:
    print("cannot write a 100 MiB file:", _exc.strerror)
with open("/tmp/private.txt", "w") as _f:  # the sandbox's own /tmp: allowed, and thrown away
    _f.write("mine")

'''
    cheat = "\n\n_honest_relative_error = relative_error\n\ndef relative_error(a, b):\n" \
            "    return 0.0 if _written else _honest_relative_error(a, b)\n"
    return dumps(fill(ctx.release, ctx.codes, before={"add_backward": code}, after={"relative_error": cheat}))


MONKEYPATCH = '''
import sys as _sys
import types as _types

import numpy as _np
import numpy.testing as _npt
import torch as _torch
import torch.testing as _tt

import course_lib.functional as _functional
import course_lib.grading as _grading


def _nothing(*args, **kwargs):
    return None


def _repatch():
    _grading.assert_close = _nothing


_grading.assert_close = _nothing
_grading.compare_with_reference = _nothing
_grading.expect_tuple = lambda value, names, what=None: tuple([None] * len(names))
_grading.call_student.__code__ = (lambda func, *args, what=None, forbidden=(), seconds=None, **kwargs: None).__code__
_npt.assert_allclose = _nothing
_tt.assert_close = _nothing
_torch.isclose = lambda a, b, *args, **kwargs: _torch.ones_like(_torch.as_tensor(a), dtype=_torch.bool)
_torch.Tensor.__eq__ = lambda self, other: True
_functional.relu_forward = lambda x: (x, x)
_fake = _types.ModuleType("course_lib.gates")
_sys.modules["course_lib.gates"] = _fake
zip = lambda *args: iter(())  # a global that makes `for ... in zip(...)` loops run zero times

'''

SWALLOW = '''
from IPython.core.interactiveshell import InteractiveShell as _Shell


def _quiet(*args, **kwargs):
    return None


get_ipython().showtraceback = _quiet  # hide every error from now on


def relu_forward(x):
    _Shell.showtraceback = _quiet  # and again, while the test runs
    raise NotImplementedError()


def relu_backward(dout, cache):
    _Shell.showtraceback = _quiet
    raise NotImplementedError()
'''

EQ_CHEAT = {
    "relative_error": '''
class AlwaysEqual:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __lt__ = __le__ = __gt__ = __ge__ = __eq__

    def __float__(self):
        return 0.0


def relative_error(a, b):
    return AlwaysEqual()
''',
    "numerical_gradient_array": '''
import numpy as np


class LyingArray(np.ndarray):
    def __eq__(self, other):
        return np.ones(self.shape, dtype=bool)


def numerical_gradient_array(f, x, dout, h=1e-5):
    return np.zeros(tuple(x.shape)).view(LyingArray)
''',
    "softmax_loss": '''
class LyingTensor(torch.Tensor):
    def __eq__(self, other):
        return torch.ones(self.shape, dtype=torch.bool)

    def allclose(self, *args, **kwargs):
        return True


def softmax_loss(scores, y):
    return torch.zeros(()).as_subclass(LyingTensor), torch.zeros_like(scores).as_subclass(LyingTensor)
''',
}

CALLS_REFERENCE = {
    "relative_error": '''
def relative_error(a, b):
    from course_lib.gradcheck import relative_error as reference_relative_error
    return reference_relative_error(a, b)
''',
}
AUTOGRAD_AFFINE = '''

def affine_backward(dout, cache):
    x, w, b = cache
    x, w, b = (t.detach().clone().requires_grad_(True) for t in (x, w, b))
    out = x.reshape(x.shape[0], -1) @ w + b
    return torch.autograd.grad(out, (x, w, b), dout)
'''

FAKE_PASS = '''
import sys as _sys
print("All tests passed!  Score: 100 / 100")


def relu_forward(x):
    _sys.displayhook(2.0)  # an execute_result: nbgrader would read it as 2 points
    raise NotImplementedError()
'''


def symlinks(ctx: Ctx) -> dict:
    """Links in the submission folder to the solutions and the gradebook; the notebook reads them."""
    probe = '''
_leaks = []
for _name in ("solutions.ipynb", "gradebook.db", "course"):
    try:
        with open(_name, "rb") as _f:
            _leaks.append(_f.read(100))
    except OSError as _exc:
        print("cannot read", _name, "-", _exc.strerror)

'''
    cheat = "\n\n_honest_relative_error = relative_error\n\ndef relative_error(a, b):\n" \
            "    return 0.0 if _leaks else _honest_relative_error(a, b)\n"
    return {f"{NOTEBOOK}.ipynb": dumps(fill(ctx.release, ctx.codes, before={"add_backward": probe},
                                            after={"relative_error": cheat})),
            "solutions.ipynb": Link(str(ctx.course / "solutions" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")),
            "gradebook.db": Link(str(ctx.course / "gradebook.db")),
            "course": Link(str(ctx.course))}


def without_cells(ctx: Ctx, *names: str) -> bytes:
    nb = fill(ctx.release, ctx.codes)
    nb.cells = [c for c in nb.cells if grade_id(c) not in names]
    return dumps(nb)


def duplicated(ctx: Ctx) -> bytes:
    nb = fill(ctx.release, ctx.codes)
    copy_of_test = next(c for c in nb.cells if grade_id(c) == "test_add_backward")
    nb.cells.append(copy.deepcopy(copy_of_test))
    at = next(i for i, c in enumerate(nb.cells) if grade_id(c) == "mul_backward")
    wrong = copy.deepcopy(nb.cells[at])
    wrong.source = "def mul_backward(dout, x, y):\n    return 0.0, 0.0\n"
    nb.cells.insert(at + 1, wrong)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"
    return dumps(nb)


def reordered(ctx: Ctx) -> bytes:
    nb = fill(ctx.release, ctx.codes)
    tests = [c for c in nb.cells if (grade_id(c) or "").startswith("test_")]
    nb.cells = tests[::-1] + [c for c in nb.cells if c not in tests]
    return dumps(nb)


def metadata_tampered(ctx: Ctx) -> bytes:
    nb = fill(ctx.release, ctx.codes, replace={"relu": "def relu_forward(x):\n    return x, x\n\n\n"
                                                       "def relu_backward(dout, cache):\n    return dout\n"})
    for cell in nb.cells:
        gid = grade_id(cell)
        cell["id"] = "same-id"
        meta = cell.metadata.get("nbgrader", {})
        if gid == "test_two_layer_hidden":
            meta["points"] = 1000
        elif gid == "test_relu_hidden":
            meta.update(grade=False, locked=False)
            cell.source = "pass"
        elif gid == "test_softmax_loss_hidden":
            meta["grade_id"] = "my_own_cell"
        elif gid == "imports":
            meta["locked"] = False
            cell.source = "import torch\nprint('my imports')"
        elif gid == "relu":
            meta["locked"] = True
    return json.dumps(nb).encode()  # as saved by a careless editor: not validated, duplicate ids


CASES: dict[str, Case] = {
    "reference": Case(lambda c: dumps(fill(c.release, c.codes))),
    "blank": Case(lambda c: dumps(fill(c.release, None)), "all", ("is not implemented yet",)),
    "warns": Case(noisy),
    "infinite_loop": Case(lambda c: dumps(fill(c.release, c.codes, before={"relu": "while True:\n    pass\n\n"})),
                          USES["relu"], (f"timeout after {CELL_TIMEOUT} s in cell 'relu'",)),
    "unstoppable_loop": Case(lambda c: dumps(fill(c.release, c.codes, before={"softmax_loss": UNSTOPPABLE})),
                             USES["softmax_loss"],
                             (f"timeout after {CELL_TIMEOUT} s in cell 'softmax_loss': it did not stop when "
                              f"interrupted, so the kernel was restarted",)),
    "memory_bomb": Case(lambda c: dumps(fill(c.release, c.codes, after={
        "exp_backward": "\n\n_honest = exp_backward\n\ndef exp_backward(dout, x):\n"
                        "    hog = bytearray(64 * 2**30)\n    return _honest(dout, x)\n"})),
        USES["exp_backward"], ("raised MemoryError", "the grader's memory limit is 4 GiB")),
    "fork_bomb": Case(lambda c: dumps(fill(c.release, c.codes, after={"max_backward": FORK_BOMB})), set(),
                      ("cell 'max_backward' left", "process(es) running; they were stopped")),
    "memory_children": Case(lambda c: dumps(fill(c.release, c.codes, after={"max_backward": MEMORY_CHILDREN})),
                            set(), MEMORY_CHILDREN_PHRASES),
    "os_exit": Case(lambda c: dumps(fill(c.release, c.codes, replace={
        "relative_error": "def relative_error(a, b):\n    import os\n    os._exit(3)\n"})),
        USES["relative_error"], ("the kernel exited with status 3", "in cell 'test_relative_error_visible'")),
    "sys_exit": Case(lambda c: dumps(fill(c.release, c.codes, before={"affine": "import sys\nsys.exit('I give up')\n\n"})),
                     USES["affine"], ("cell 'affine' raised SystemExit: I give up",)),
    "segfault": Case(lambda c: dumps(fill(c.release, c.codes, replace={
        "numerical_gradient_array": "def numerical_gradient_array(f, x, dout, h=1e-5):\n    import ctypes\n"
                                    "    return ctypes.string_at(0)\n"})),
        USES["numerical_gradient_array"], ("segmentation fault (SIGSEGV) in cell 'test_numerical_gradient_visible'",)),
    "kill9": Case(lambda c: dumps(fill(c.release, c.codes, after={
        "reciprocal_backward": "\n\nimport os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"})),
        USES["reciprocal_backward"], ("killed by SIGKILL", "in cell 'reciprocal_backward'")),
    "huge_output": Case(lambda c: dumps(fill(c.release, c.codes, after={
        "add_backward": "\n\nprint('x' * (20 * 2**20))\n",
        "mul_backward": "\n\n_honest_mul = mul_backward\n\ndef mul_backward(dout, x, y):\n"
                        "    print('y' * (2 * 2**20))\n    return _honest_mul(dout, x, y)\n"})),
        set(), ("printed more than the output limit",)),
    "network": Case(network),
    "snoop": Case(snoop, USES["exp_backward"]),
    "writes_outside": Case(writes_outside),
    "symlinks": Case(symlinks, set(), ("'solutions.ipynb' is a symbolic link; it was ignored",)),
    "monkeypatch": Case(lambda c: dumps(fill(c.release, c.codes, before={"add_backward": MONKEYPATCH},
                                             replace={"relu": c.release_answer("relu"),
                                                      "softmax_loss": c.release_answer("softmax_loss")},
                                             after={"add_backward": "\n\n_honest_add = add_backward\n\n"
                                                    "def add_backward(dout, x, y):\n    _repatch()\n"
                                                    "    return _honest_add(dout, x, y)\n"})),
                        USES["relu"] | USES["softmax_loss"] | USES["add_backward"],
                        ("course_lib.grading.assert_close was replaced", "the code of course_lib.grading.call_student",
                         "torch.Tensor.__eq__ was added", "sys.modules['course_lib.gates'] was replaced",
                         "hide Python builtins", "TamperingDetected: while test 'test_add_backward' ran")),
    "swallow": Case(lambda c: dumps(fill(c.release, c.codes, replace={"relu": SWALLOW})), USES["relu"],
                    ("the IPython shell's method showtraceback was replaced", "TamperingDetected")),
    "eq_cheat": Case(lambda c: dumps(fill(c.release, c.codes, replace=EQ_CHEAT)),
                     USES["relative_error"] | USES["numerical_gradient_array"] | USES["softmax_loss"],
                     ("but it is a __main__.AlwaysEqual", "LyingArray", "LyingTensor")),
    "calls_reference": Case(lambda c: dumps(fill(c.release, c.codes, replace=CALLS_REFERENCE,
                                                 after={"affine": AUTOGRAD_AFFINE})),
                            USES["relative_error"] | USES["affine"],
                            ("calls course_lib.gradcheck.relative_error", "calls torch.autograd.grad")),
    "fake_pass": Case(lambda c: dumps(fill(c.release, None, after={"relu": FAKE_PASS})), "all",
                      ("is not implemented yet",)),
    "deleted_tests": Case(lambda c: without_cells(c, "test_relu_hidden", "test_softmax_loss_visible",
                                                  "test_two_layer_hidden"), set(),
                          ("the test cell 'test_relu_hidden' was missing from the notebook and was put back",)),
    "duplicated": Case(duplicated, set(), ("cell 'test_add_backward' appeared 2 times", "cell 'mul_backward' appeared 2 times")),
    "reordered": Case(reordered, set(), ("graded cells were out of order",)),
    # with all parameters 0 the visible two-layer test does not depend on the ReLU: it passes
    "metadata_tampered": Case(metadata_tampered, USES["relu"] - {"test_two_layer_visible"},
                              ("cell 'test_two_layer_hidden' had its nbgrader metadata changed (points)",
                               "unknown id ('my_own_cell')", "the locked cell 'imports' had been edited",
                               "the test cell 'test_softmax_loss_hidden' was missing")),
    "renamed": Case(lambda c: ("ch1_backprop (1).ipynb", dumps(fill(c.release, c.codes))), set(),
                    ("submitted as 'ch1_backprop (1).ipynb'",)),
    "invalid_json": Case(lambda c: dumps(fill(c.release, c.codes))[:20000], "all",
                         ("is not valid JSON", "line ")),
    "empty": Case(lambda c: b"", "all", ("the file ch1_backprop.ipynb is empty",)),
}
RERUN = ["fork_bomb", "segfault", "monkeypatch", "memory_bomb"]


# ---------------------------------------------------------------- running

def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PATH"] = f"{BIN}{os.pathsep}{e.get('PATH', '')}"
    e["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), e.get("PYTHONPATH")]))
    return e


def run(course: Path, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", *args], cwd=course, env=env(), capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        pytest.fail(f"`{' '.join(args)}` failed with exit status {proc.returncode}\n--- stdout\n"
                    f"{proc.stdout[-6000:]}\n--- stderr\n{proc.stderr[-6000:]}")
    return proc


def make_course(root: Path) -> Path:
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(REPO / "solutions" / ASSIGNMENT, root / "solutions" / ASSIGNMENT)
    run(root, "nbgrader", "generate_assignment", ASSIGNMENT, "--force")
    return root


def write_submission(folder: Path, built) -> None:
    """Write what a case's builder returned: notebook bytes, (file name, bytes), or {name: bytes | Link}."""
    if isinstance(built, bytes):
        built = {f"{NOTEBOOK}.ipynb": built}
    elif isinstance(built, tuple):
        built = {built[0]: built[1]}
    folder.mkdir(parents=True)
    for name, data in built.items():
        if isinstance(data, Link):
            os.symlink(data.target, folder / name)
        else:
            (folder / name).write_bytes(data)


def tree_digest(*paths: Path) -> dict[str, str]:
    out = {}
    for base in paths:
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        for p in files:
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def gradebook_cells(course: Path) -> dict[str, dict[str, float]]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {sub.student.id: {g.name: g.score for nb in sub.notebooks for g in nb.grades}
                for sub in gb.find_assignment(ASSIGNMENT).submissions}


class Listener:
    """A TCP server on the host's loopback that records every connection (none may come from a sandbox)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
                self.connections += 1
                conn.close()
            except OSError:
                pass

    def close(self):
        self.stop = True
        self.thread.join(2)
        self.sock.close()


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("grader-course")
    course = make_course(root)
    source = nbformat.read(course / "solutions" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    release = nbformat.read(course / "assignments" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    codes = solution_code(source)
    release_answers = {grade_id(c): c.source for c in release.cells if c.metadata.get("nbgrader", {}).get("solution")}
    listener = Listener()
    canary = root / "canary.txt"
    canary.write_text("the instructor's file")
    ctx = Ctx(release, codes, course, listener.port, canary, release_answers)
    inbox = root / "inbox"
    for student, case in CASES.items():
        write_submission(inbox / student, case.build(ctx))

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        gb.update_or_create_student("reference", last_name="Doe, Jr.", first_name='Jane "JJ"', email="jd@example.org")

    # (the repository's course_lib, which the sandboxes see read-only, is checked for the attack's
    # marker instead: other work may change it while the tests run)
    protected = [course / "solutions", course / "assignments", course / "nbgrader_config.py", canary]
    before = tree_digest(*protected)
    host_tmp_before = set(os.listdir("/tmp"))
    start = time.perf_counter()
    first = run(course, "course_grade", ASSIGNMENT, "--collect", str(inbox), "--workers", "2",
                "--cell-timeout", str(CELL_TIMEOUT), "--no-progress", check=False)
    seconds = time.perf_counter() - start
    listener.close()
    assert first.returncode == 0, f"course-grade failed:\n{first.stdout[-5000:]}\n{first.stderr[-5000:]}"
    after = tree_digest(*protected)
    cells = gradebook_cells(course)
    state = {s: json.loads((course / "grading" / ASSIGNMENT / "state" / f"{s}.json").read_text()) for s in CASES}
    logs = {s: (course / "grading" / ASSIGNMENT / "logs" / f"{s}.log").read_text() for s in CASES}

    start = time.perf_counter()
    rerun = run(course, "course_grade", ASSIGNMENT, "--workers", "2", "--force", "--cell-timeout",
                str(CELL_TIMEOUT), "--no-progress", *[a for s in RERUN for a in ("--student", s)])
    rerun_seconds = time.perf_counter() - start
    cells_after_rerun = gradebook_cells(course)
    skip = run(course, "course_grade", ASSIGNMENT, "--workers", "2", "--no-progress")
    return {"course": course, "source": source, "release": release, "cells": cells, "state": state, "logs": logs,
            "first": first, "seconds": seconds, "rerun_seconds": rerun_seconds, "rerun": rerun,
            "cells_after_rerun": cells_after_rerun, "skip": skip, "before": before, "after": after,
            "listener": listener, "canary": canary, "host_tmp_before": host_tmp_before}


def points(source) -> dict[str, float]:
    return {grade_id(c): float(c.metadata.nbgrader.points) for c in source.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}


def expected_zero(student: str, cells: dict[str, float]) -> set[str]:
    zero = CASES[student].zero
    zero = set(cells) if zero == "all" else zero
    assert zero <= set(cells), f"unknown cells {zero - set(cells)}"
    return zero


# ---------------------------------------------------------------- per student

@pytest.mark.parametrize("student", list(CASES))
def test_score_per_test_cell(graded: dict, student: str):
    cells = points(graded["source"])
    zero = expected_zero(student, cells)
    got = graded["cells"][student]
    wrong = {cell: (got.get(cell), 0.0 if cell in zero else pts) for cell, pts in cells.items()
             if got.get(cell) != (0.0 if cell in zero else pts)}
    assert not wrong, f"{student}: cells scored (got, expected) {wrong}\n--- log\n{graded['logs'][student]}"
    report = graded["state"][student]
    assert report["max_score"] == 100.0, f"{student}: the maximum changed to {report['max_score']}"
    assert report["score"] == sum(p for c, p in cells.items() if c not in zero)


@pytest.mark.parametrize("student", [s for s, c in CASES.items() if c.phrases])
def test_the_reason_is_specific(graded: dict, student: str):
    log = graded["logs"][student]
    missing = [p for p in CASES[student].phrases if p not in log]
    assert not missing, f"{student}: the log does not say {missing}\n--- log\n{log}"


def test_warnings_on_stderr_cost_nothing(graded: dict):
    nb = nbformat.read(graded["course"] / "autograded" / "warns" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    text = [o.text for c in nb.cells if (grade_id(c) or "").startswith("test_") for o in c.outputs
            if o.output_type == "stream"]
    assert any("[stderr] DeprecationWarning" in t for t in text), "the stderr of the test cells should be kept, marked"
    assert graded["cells"]["warns"] == {k: v for k, v in graded["cells"]["reference"].items()}


def test_memory_of_all_processes_together_is_limited_where_cgroups_allow(graded: dict):
    """The run's log says which memory limit applied; with a cgroup per submission the children of
    'memory_children' went over it together (and only that student is affected, see the scores).
    Without one (cgroup v2 not writable, or without a memory controller) each child is held to its
    own 4 GiB of address space, which includes the kernel's (torch reserves a lot of it): each child
    either got its 800 MiB (exit 0) or a MemoryError (exit 3), none was killed, and nothing else of
    the student's grade moved."""
    run_log = (graded["course"] / "grading" / ASSIGNMENT / "course-grade.log").read_text()
    line = next(text for text in run_log.splitlines() if "sandboxes: " in text)
    if CGROUP:
        assert "all its processes together" in line, line
    else:
        assert "memory limited per process (RLIMIT_AS)" in line and "no cgroup of its own per submission" in line
        nb = nbformat.read(graded["course"] / "autograded" / "memory_children" / ASSIGNMENT / f"{NOTEBOOK}.ipynb",
                           as_version=4)
        text = "".join(o.get("text", "") for c in nb.cells if grade_id(c) == "max_backward" for o in c.outputs)
        statuses = re.search(r"children ended with \[([\d, ]+)\]", text)
        assert statuses, text
        assert {int(x) for x in statuses.group(1).split(",")} <= {0, 3 << 8}, f"per-process limits only: {text}"


def test_fake_partial_credit_is_not_read(graded: dict):
    nb = nbformat.read(graded["course"] / "autograded" / "fake_pass" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    cell = next(c for c in nb.cells if grade_id(c) == "test_relu_visible")
    assert not [o for o in cell.outputs if o.output_type == "execute_result"]


def test_nothing_escaped_the_sandboxes(graded: dict):
    assert graded["after"] == graded["before"], "an instructor file changed during grading"
    touched = [p for base in (REPO / "course_lib", REPO / "solutions") for p in base.rglob("*.py")
               if p.is_file() and b"pwned" in p.read_bytes()]
    assert not touched, f"a submission wrote to {touched}"
    assert graded["listener"].connections == 0, "a submission reached a server on the host's loopback"
    assert graded["canary"].read_text() == "the instructor's file"
    new_tmp = set(os.listdir("/tmp")) - graded["host_tmp_before"]
    assert not [n for n in new_tmp if n.startswith("course-grade-")], f"sandbox directories left in /tmp: {new_tmp}"
    assert not Path("/tmp/private.txt").exists() or Path("/tmp/private.txt").read_text() != "mine"
    for student in ("network", "snoop", "writes_outside", "symlinks"):  # relative_error fails if the attack worked
        cells = graded["state"][student]["cells"]
        assert cells["test_relative_error_hidden"]["passed"], f"{student} got through: see its log"
    log = graded["logs"]["writes_outside"]
    assert "File too large" in graded_output(graded, "writes_outside"), log


def graded_output(graded: dict, student: str) -> str:
    nb = nbformat.read(graded["course"] / "autograded" / student / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    return "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def test_rerun_gives_the_same_grades_and_moves_nobody_else(graded: dict):
    assert graded["cells_after_rerun"] == graded["cells"]
    assert "4 graded" in graded["rerun"].stdout, graded["rerun"].stdout


def test_second_run_skips_everyone(graded: dict):
    out = graded["skip"].stderr
    assert f"{len(CASES)} submissions, 0 to grade, {len(CASES)} already graded" in out, out


def test_grading_is_fast_enough(graded: dict):
    per = graded["seconds"] / len(CASES)
    print(f"\ncourse-grade: {len(CASES)} submissions in {graded['seconds']:.0f} s ({per:.1f} s each, 2 workers); "
          f"re-grading {len(RERUN)}: {graded['rerun_seconds']:.0f} s")
    assert per < 30


# ---------------------------------------------------------------- feedback and export

def _visible_text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def _hidden_lines(source, release) -> list[str]:
    release_text = "\n".join(c.source for c in release.cells)
    lines, inside = [], False
    for cell in source.cells:
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and len(line.strip()) >= 25 and line.strip() not in release_text:
                lines.append(line.strip())
    return lines


@pytest.mark.parametrize("student", list(CASES))
def test_feedback_shows_results_but_no_hidden_test(graded: dict, student: str):
    page = graded["course"] / "feedback" / student / ASSIGNMENT / f"{NOTEBOOK}.html"
    assert page.is_file(), f"no feedback for {student}"
    raw = page.read_text()
    text = _visible_text(raw)
    hidden = _hidden_lines(graded["source"], graded["release"])
    assert len(hidden) > 50
    variants = {v for line in hidden for v in (line, line.replace("'", "\\'"), json.dumps(line)[1:-1])}
    leaked = [v for v in variants if v in text or v in raw]
    assert not leaked, f"the feedback of {student} shows hidden tests, e.g. {leaked[:3]}"
    assert "Grading summary" in text
    report = graded["state"][student]
    for gid, cell in report["cells"].items():
        assert gid.replace("_", "") in text.replace("_", ""), f"{student}: the summary does not list {gid}"
    if student == "snoop":
        assert "RUNNING CELL" in text  # what the visible tests printed is shown ...
        assert "is not shown" in text  # ... what the hidden ones printed is not


def test_export_has_a_column_per_test_and_quoted_names(graded: dict):
    course = graded["course"]
    with open(course / "grading" / ASSIGNMENT / "grades.csv", newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    assert set(rows) == set(CASES)
    cells = points(graded["source"])
    assert set(cells) <= set(next(iter(rows.values())))
    ref = rows["reference"]
    assert ref["last_name"] == "Doe, Jr." and ref["first_name"] == 'Jane "JJ"'
    for student, row in rows.items():
        assert float(row["score"]) == graded["state"][student]["score"]
        assert float(row["max_score"]) == 100.0
        assert sum(float(row[c]) for c in cells) == float(row["raw_score"])
    data = json.loads((course / "grading" / ASSIGNMENT / "grades.json").read_text())
    by_id = {s["student_id"]: s for s in data["students"]}
    assert by_id["empty"]["status"] == "unreadable"
    assert "not valid JSON" in " ".join(by_id["invalid_json"]["notes"])
    msg = by_id["eq_cheat"]["cells"]["test_relative_error_hidden"]["message"]
    assert "AlwaysEqual" in msg


def test_formgrader_can_review_the_gradebook(graded: dict):
    """The formgrader's backend (NbGraderAPI) lists the submissions and opens an autograded notebook."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    course = graded["course"]
    config = Config()
    config.Exchange.root = str(course / "exchange")
    coursedir = CourseDirectory(root=str(course), config=config)
    coursedir.db_url = f"sqlite:///{course / 'gradebook.db'}"
    api = NbGraderAPI(coursedir=coursedir, config=config)
    subs = api.get_notebook_submissions(ASSIGNMENT, NOTEBOOK)
    assert {s["student"] for s in subs} == set(CASES)
    ref = next(s for s in subs if s["student"] == "reference")
    # every autograded point (its written answers, left unanswered, score 0 without grading by hand)
    assert ref["score"] == sum(points(graded["source"]).values()) and not ref["needs_manual_grade"]
    submission = api.get_submission(ASSIGNMENT, "eq_cheat")
    assert submission["autograded"] and submission["score"] == graded["state"]["eq_cheat"]["score"]
