"""First process inside a grading sandbox: drop privileges, set limits, run the kernel.

This file runs as a script (``python -I -S _launcher.py SPEC``), bound alone
into the sandbox (the rest of ``course_grade`` stays outside): it must work
before anything else is loaded and it uses the standard library only.  ``SPEC`` is a JSON object:

* ``uid``, ``gid``: the unprivileged ids to switch to (``null``: stay, for a
  sandbox that already runs in a user namespace);
* ``rlimits``: ``{"RLIMIT_AS": bytes, ...}``, applied after the switch;
* ``cpu_seconds``: soft CPU limit (SIGXCPU), the hard one is 5 s later;
* ``status``: where to write ``{"exit_code": n}`` or ``{"signal": n}`` when
  the kernel ends, for the grader to explain a dead kernel;
* ``argv``: the kernel's command line.

The kernel is a child of this launcher in a session of its own, so an
interrupt (ipykernel signals its own process group) reaches the kernel and
what it started, not the launcher.
"""
import ctypes
import json
import os
import resource
import signal
import sys


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def main() -> int:
    spec = json.loads(sys.argv[1])
    if spec.get("uid") is not None and os.getuid() == 0:
        os.setgroups([])
        os.setgid(spec["gid"])
        os.setuid(spec["uid"])
    for name, value in spec.get("rlimits", {}).items():
        resource.setrlimit(getattr(resource, name), (value, value))
    cpu = spec.get("cpu_seconds")
    if cpu:
        resource.setrlimit(resource.RLIMIT_CPU, (int(cpu), int(cpu) + 5))
    os.umask(0o077)

    pid = os.fork()
    if pid == 0:
        os.setsid()
        _die_with_parent()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        try:
            os.execv(spec["argv"][0], spec["argv"])
        finally:
            os._exit(127)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except ChildProcessError:
            status = 0
            break
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        result = {"signal": os.WTERMSIG(status)}
    else:
        result = {"exit_code": os.WEXITSTATUS(status)}
    try:
        with open(spec["status"], "w") as f:
            json.dump(result, f)
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
