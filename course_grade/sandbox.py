"""A bubblewrap sandbox for one Jupyter kernel, and the kernel manager that starts it.

The notebook never enters the sandbox: the grader (nbclient, outside) sends the
cells one at a time to a kernel that runs inside.  The kernel sees

* the Python installation and the course's virtual environment, read-only;
* the ``course_lib`` package the kernel imports, read-only (and nothing else of
  the course: not ``solutions/``, not the gradebook, not other submissions);
* the grader's :mod:`~course_grade._launcher` script, read-only (the rest of
  ``course_grade`` stays outside; the guard is sent to the kernel as source);
* ``/usr`` and a few files of ``/etc``, read-only;
* a private ``/tmp`` and home directory (size-limited tmpfs), with the
  assignment's data files bound read-only into the working directory;
* one host directory with the kernel's connection file and ZeroMQ sockets
  (``ipc`` transport: the kernel has no network at all, not even the host's
  loopback, because the sandbox has its own network namespace);

and runs as an unprivileged user id of its own (a fresh one per sandbox when
the grader runs as root), in its own PID, IPC, UTS and network namespaces,
with resource limits set by :mod:`course_grade._launcher`: address space
(memory), CPU time, number of processes, file size, open files, no core dumps.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager

LAUNCHER = Path(__file__).resolve().with_name("_launcher.py")

# Files of /etc a Python kernel reads (dynamic linker, time zone, fonts for matplotlib).
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "fonts", "alternatives", "mime.types")


def parse_size(text: str | int | float) -> int:
    """``"4G"``, ``"512M"``, ``"64k"`` or a number of bytes -> bytes."""
    if isinstance(text, (int, float)):
        return int(text)
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    factor = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}.get(text[-1:], 1)
    number = text[:-1] if text[-1:] in "KMGT" else text
    return int(float(number) * factor)


def format_size(n: int) -> str:
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= factor:
            value = n / factor
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"


@dataclasses.dataclass
class Limits:
    """What one submission may use.  Every field is reported by name when hit."""

    cell_timeout: float = 120.0         # wall-clock seconds per cell
    notebook_timeout: float = 900.0     # wall-clock seconds for the whole notebook
    memory: int = 4 * 2**30             # address space of each process (RLIMIT_AS), bytes
    cpu_time: int = 900                 # CPU seconds of each process (RLIMIT_CPU)
    processes: int = 64                 # processes and threads of the sandbox's user (RLIMIT_NPROC)
    file_size: int = 64 * 2**20         # largest file it may write (RLIMIT_FSIZE), bytes
    open_files: int = 256               # RLIMIT_NOFILE
    tmp_size: int = 256 * 2**20         # size of each private tmpfs (/tmp and home), bytes
    output_per_cell: int = 1 * 2**20    # bytes of output kept per cell; the rest is dropped
    output_total: int = 8 * 2**20       # bytes of output kept per notebook
    max_restarts: int = 3               # kernel restarts after a crash or an unstoppable cell

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Limits":
        return cls(**{k: v for k, v in data.items() if k in {f.name for f in dataclasses.fields(cls)}})

    def describe(self) -> str:
        return (f"{self.cell_timeout:g} s per cell, {self.notebook_timeout:g} s per notebook, "
                f"memory {format_size(self.memory)}, CPU {self.cpu_time} s, {self.processes} processes, "
                f"files up to {format_size(self.file_size)}")


@dataclasses.dataclass
class SandboxSpec:
    """Where things are, as seen by the worker that starts the sandbox."""

    python: str = sys.executable
    read_only: tuple[str, ...] = ()       # extra host paths the kernel may read (e.g. a data set)
    bwrap: str = "bwrap"
    env: dict[str, str] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SandboxSpec":
        data = dict(data)
        data["read_only"] = tuple(data.get("read_only", ()))
        return cls(**data)


class SandboxError(RuntimeError):
    """The sandbox cannot be set up on this machine (the message says why and what to install)."""


def check_bwrap(bwrap: str = "bwrap") -> str:
    """The path of bubblewrap, or :class:`SandboxError` with installation advice."""
    path = shutil.which(bwrap)
    if path is None:
        raise SandboxError(f"bubblewrap ({bwrap!r}) is not installed: `apt-get install bubblewrap` "
                           f"(Debian/Ubuntu) or `dnf install bubblewrap`; course-grade runs every "
                           f"submission inside it")
    return path


def _python_roots(python: str) -> list[str]:
    """Directories a Python installation needs: the environment and the base installation."""
    real = Path(python).resolve()
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        roots = {sys.prefix, sys.base_prefix, str(real.parent.parent)}
    else:
        roots = {str(Path(python).absolute().parent.parent), str(real.parent.parent)}
    return sorted(_minimal_cover(roots))


def _minimal_cover(paths) -> set[str]:
    """Drop paths that lie inside another one of the set."""
    paths = sorted({os.path.normpath(p) for p in paths if p and os.path.exists(p)})
    kept: list[str] = []
    for p in paths:
        if not any(p == k or p.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(p)
    return set(kept)


def kernel_env(spec: SandboxSpec, home: str = "/home/student") -> dict[str, str]:
    """The environment the sandboxed kernel starts with (bwrap clears everything else)."""
    env = {
        "HOME": home, "USER": "student", "LOGNAME": "student", "PATH": f"{Path(spec.python).parent}:/usr/bin:/bin",
        "LANG": "C.UTF-8", "TMPDIR": "/tmp", "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
        "MALLOC_ARENA_MAX": "2", "COURSE_GRADER": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    env.update(spec.env)
    return env


_FIND_COURSE_LIB = ("import importlib.util, json\n"
                    "spec = importlib.util.find_spec('course_lib')\n"
                    "print(json.dumps(None if spec is None else list(spec.submodule_search_locations or [])))\n")


@functools.lru_cache(maxsize=8)
def _course_lib_dirs(python: str, env: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    with tempfile.TemporaryDirectory(prefix="course-lib-probe-") as empty:
        proc = subprocess.run([python, "-c", _FIND_COURSE_LIB], cwd=empty, env=dict(env, HOME=empty),
                              capture_output=True, text=True, timeout=120)
    lines = proc.stdout.strip().splitlines()
    found = json.loads(lines[-1]) if proc.returncode == 0 and lines else None
    if not found:
        detail = proc.stderr.strip().splitlines()[-1:] if proc.returncode else ["importlib finds no course_lib"]
        raise SandboxError(f"the kernel's Python ({python}) cannot import course_lib ({' '.join(detail)}); "
                           f"install the course into that environment (`pip install -e .` in the course "
                           f"repository)")
    return tuple(str(Path(d).resolve()) for d in found)


def course_lib_dirs(spec: SandboxSpec) -> list[str]:
    """The directories of the ``course_lib`` package the sandboxed kernel will import.

    Asked of the kernel's own Python (``spec.python``) with the kernel's
    environment, in an empty working directory: the grader's own import path
    (e.g. a ``PYTHONPATH`` pointing at another checkout) does not count.  The
    grader itself never imports ``course_lib``.
    """
    return list(_course_lib_dirs(spec.python, tuple(sorted(kernel_env(spec).items()))))


def _parents(path: str) -> list[str]:
    parts = Path(path).parts
    return [str(Path(*parts[: i + 1])) for i in range(1, len(parts) - 1)]


class Sandbox:
    """One sandbox: a host directory for the kernel's sockets and the bwrap command line."""

    def __init__(self, limits: Limits, spec: SandboxSpec | None = None,
                 files: dict[str, bytes] | None = None, workdir_name: str = "work"):
        self.limits = limits
        self.spec = spec or SandboxSpec()
        self.bwrap = check_bwrap(self.spec.bwrap)
        self.privileged = os.geteuid() == 0
        # A fresh unprivileged uid per sandbox (as root): process limits and signals never
        # mix two submissions, and no file outside belongs to it.
        self.uid = 200_000 + secrets.randbelow(1_000_000_000) if self.privileged else None
        remove_stale_sandboxes()
        self.host_dir = tempfile.mkdtemp(prefix="course-grade-")
        with open(os.path.join(self.host_dir, "owner"), "w") as f:
            f.write(str(os.getpid()))
        self.ipc_dir = os.path.join(self.host_dir, "ipc")
        self.files_dir = os.path.join(self.host_dir, "files")
        os.mkdir(self.ipc_dir, 0o700)
        os.mkdir(self.files_dir, 0o755)
        if self.uid is not None:
            os.chown(self.ipc_dir, self.uid, self.uid)
        self.status_file = os.path.join(self.ipc_dir, "kernel-status.json")
        self.home = "/home/student"
        self.workdir = f"{self.home}/{workdir_name}"
        self.data_files: list[str] = []
        for rel, data in (files or {}).items():
            rel = os.path.normpath(rel)
            if rel.startswith("..") or os.path.isabs(rel):
                continue
            target = os.path.join(self.files_dir, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as f:
                f.write(data)
            os.chmod(target, 0o644)
            self.data_files.append(rel)

    # ------------------------------------------------------------------ command line

    def command(self, kernel_argv: list[str]) -> list[str]:
        lim = self.limits
        args = [self.bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
                "--unshare-cgroup-try", "--die-with-parent", "--hostname", "grader",
                "--clearenv"]
        if self.privileged:
            # Root outside: keep only what the launcher needs to switch to the sandbox's uid.
            args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        else:
            args += ["--unshare-user", "--uid", "1000", "--gid", "1000"]
        # private, size-limited writable places
        args += ["--perms", "1777", "--size", str(lim.tmp_size), "--tmpfs", "/tmp"]
        args += ["--perms", "0755", "--dir", "/home"]
        args += ["--perms", "1777", "--size", str(lim.tmp_size), "--tmpfs", self.home]
        args += ["--perms", "1777", "--dir", self.workdir]
        # the system, read-only
        for top in ("/usr",):
            args += ["--ro-bind", top, top]
        for link in ("/bin", "/lib", "/lib32", "/lib64", "/sbin", "/libx32"):
            if os.path.islink(link):
                args += ["--symlink", os.readlink(link), link]
            elif os.path.isdir(link):
                args += ["--ro-bind", link, link]
        args += ["--perms", "0755", "--dir", "/etc"]
        for name in ETC_FILES:
            path = os.path.join("/etc", name)
            if os.path.exists(path):
                args += ["--ro-bind", path, path]
        args += ["--proc", "/proc", "--dev", "/dev",
                 "--perms", "1777", "--size", str(lim.tmp_size), "--tmpfs", "/dev/shm"]
        # Python, the course library, the launcher (this file only), extra read-only paths, the socket directory
        binds = (_python_roots(self.spec.python) + course_lib_dirs(self.spec) + [str(LAUNCHER)]
                 + list(self.spec.read_only))
        made: set[str] = {"/tmp", "/home", "/etc", "/usr", self.home}
        for path in sorted(_minimal_cover(binds)):
            for parent in _parents(path):
                if parent not in made and not os.path.islink(parent):
                    args += ["--perms", "0755", "--dir", parent]
                    made.add(parent)
            args += ["--ro-bind", path, path]
        for parent in _parents(self.ipc_dir):
            if parent not in made:
                args += ["--perms", "0755", "--dir", parent]
                made.add(parent)
        args += ["--bind", self.ipc_dir, self.ipc_dir]
        for rel in self.data_files:
            args += ["--ro-bind", os.path.join(self.files_dir, rel), f"{self.workdir}/{rel}"]
        env = kernel_env(self.spec, self.home)
        for key, value in env.items():
            args += ["--setenv", key, value]
        args += ["--chdir", self.workdir]
        launch = {
            "uid": self.uid, "gid": self.uid,
            "rlimits": {"RLIMIT_AS": int(lim.memory), "RLIMIT_NPROC": int(lim.processes),
                        "RLIMIT_FSIZE": int(lim.file_size), "RLIMIT_NOFILE": int(lim.open_files),
                        "RLIMIT_CORE": 0},
            "cpu_seconds": int(lim.cpu_time),
            "status": self.status_file,
            "argv": kernel_argv,
        }
        return args + ["--", self.spec.python, "-I", "-S", str(LAUNCHER), json.dumps(launch)]

    # ------------------------------------------------------------------ after the fact

    def kernel_status(self) -> dict[str, int] | None:
        """``{"exit_code": n}`` or ``{"signal": n}`` of the last kernel, once it has ended."""
        try:
            with open(self.status_file) as f:
                data = json.load(f)
            os.remove(self.status_file)
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def grant(self, path: str) -> None:
        """Let the sandbox's user read ``path`` (the connection file, written by the grader)."""
        if self.uid is not None:
            os.chown(path, self.uid, self.uid)
        os.chmod(path, 0o400)

    def cleanup(self) -> None:
        shutil.rmtree(self.host_dir, ignore_errors=True)


def remove_stale_sandboxes() -> None:
    """Delete sandbox directories whose worker died without cleaning up (e.g. a run stopped with Ctrl-C)."""
    base = tempfile.gettempdir()
    try:
        names = [n for n in os.listdir(base) if n.startswith("course-grade-")]
    except OSError:
        return
    for name in names:
        path = os.path.join(base, name)
        try:
            with open(os.path.join(path, "owner")) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            continue  # being created, or not ours
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass


def describe_exit(status: dict[str, int] | None, limits: Limits) -> str:
    """Why a kernel ended, in words."""
    if not status:
        return "the kernel died"
    if "signal" in status:
        sig = status["signal"]
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        reasons = {
            "SIGSEGV": "a segmentation fault (SIGSEGV)",
            "SIGBUS": "a bus error (SIGBUS)",
            "SIGABRT": "an abort (SIGABRT), often native code running out of memory",
            "SIGXCPU": f"the CPU time limit of {limits.cpu_time} s (SIGXCPU)",
            "SIGKILL": "SIGKILL (killed, e.g. for running out of memory or CPU time)",
            "SIGXFSZ": f"the file size limit of {format_size(limits.file_size)} (SIGXFSZ)",
            "SIGFPE": "a floating-point exception (SIGFPE)",
            "SIGILL": "an illegal instruction (SIGILL)",
        }
        return f"the kernel was killed by {reasons.get(name, name)}"
    code = status.get("exit_code")
    return f"the kernel exited with status {code} (sys.exit, os._exit or a crash)"


def process_tree(root_pid: int) -> list[Any]:
    """``psutil.Process`` objects of ``root_pid``'s descendants (not the root)."""
    import psutil

    try:
        return psutil.Process(root_pid).children(recursive=True)
    except psutil.Error:
        return []


def core_pids(bwrap_pid: int) -> set[int]:
    """The processes a sandbox starts with: ``bwrap -> bwrap (PID 1 inside) -> launcher -> kernel``.

    Taken once, right after the kernel is up and before any cell runs, so
    nothing the submission starts can pass for one of them.
    """
    import psutil

    keep = {bwrap_pid}
    try:
        frontier = [psutil.Process(bwrap_pid)]
        for _ in range(3):
            frontier = [c for p in frontier for c in p.children()]
            keep.update(p.pid for p in frontier)
    except psutil.Error:
        pass
    return keep


def kill_strays(bwrap_pid: int, keep: set[int]) -> set[int]:
    """Kill every process of a sandbox except ``keep`` (its :func:`core_pids`); return their pids.

    Anything else (a child of the kernel, or an orphan adopted by PID 1) was
    started by the submission and must not outlive the cell that started it.
    Zombies are left for the kernel to collect (they are dead already).
    """
    import psutil

    strays = set()
    for p in process_tree(bwrap_pid):
        try:
            if p.pid in keep or p.status() == psutil.STATUS_ZOMBIE:
                continue
            p.kill()
            strays.add(p.pid)
        except psutil.Error:
            pass
    return strays


def kill_tree(pid: int) -> None:
    """SIGKILL a process and all its descendants."""
    import psutil

    procs = process_tree(pid)
    try:
        procs.append(psutil.Process(pid))
    except psutil.Error:
        pass
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass


class SandboxedKernelManager(AsyncKernelManager):
    """An ipykernel started inside a :class:`Sandbox`, reached over ``ipc`` sockets.

    Interrupts are sent as messages (``interrupt_mode = "message"``): a signal
    to the process group would hit bubblewrap, not the kernel.
    """

    sandbox: Sandbox | None = None

    def __init__(self, sandbox: Sandbox, **kwargs):
        kwargs.setdefault("kernel_name", "python3")
        super().__init__(transport="ipc", ip=os.path.join(sandbox.ipc_dir, "kernel"),
                         connection_file=os.path.join(sandbox.ipc_dir, "connection.json"), **kwargs)
        self.sandbox = sandbox
        self.kernel_spec.interrupt_mode = "message"

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        assert self.sandbox is not None
        self.sandbox.grant(self.connection_file)
        kernel = [self.sandbox.spec.python, "-m", "ipykernel_launcher", "-f", self.connection_file]
        kernel += list(extra_arguments or [])
        return self.sandbox.command(kernel)

    @property
    def bwrap_pid(self) -> int | None:
        provisioner = getattr(self, "provisioner", None)
        process = getattr(provisioner, "process", None)
        return getattr(process, "pid", None)
