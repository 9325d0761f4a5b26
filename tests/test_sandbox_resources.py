"""The sandbox's GPUs and per-submission cgroup, checked through its specification.

These run on any machine: a fake list of NVIDIA device nodes and a fake
cgroup folder (plain files where the kernel would have its interface) give
the bubblewrap command line, the launcher's limits and the cgroup's settings
that a GPU machine with a delegated cgroup v2 hierarchy would get.  What this
machine really has is reported by ``memory_mechanism`` and checked in
``test_grader_hostile.py`` (the ``memory_children`` case).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from course_grade.sandbox import Limits, Sandbox, SandboxSpec, cgroup_parent, gpu_devices, memory_mechanism, parse_size

pytestmark = pytest.mark.grading

FAKE_GPU = ("/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm")


def command_of(spec: SandboxSpec, limits: Limits | None = None) -> tuple[list[str], dict, Sandbox]:
    sandbox = Sandbox(limits or Limits(), spec)
    argv = sandbox.command(["python", "-m", "ipykernel_launcher"])
    launch = json.loads(argv[-1])
    return argv, launch, sandbox


def binds(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == flag]


def test_gpu_devices_are_bound_and_memory_moves_from_rlimit_to_the_cgroup(tmp_path):
    cgroups = tmp_path / "cgroup"
    cgroups.mkdir()
    limits = Limits(memory=parse_size("6G"), processes=40)
    argv, launch, sandbox = command_of(SandboxSpec(devices=FAKE_GPU, cgroup=str(cgroups)), limits)
    try:
        assert binds(argv, "--dev-bind") == list(FAKE_GPU)
        for path in ("/usr/local/nvidia", "/proc/driver/nvidia"):
            assert (path in binds(argv, "--ro-bind")) == os.path.exists(path)
        # CUDA reserves far more address space than it uses: no RLIMIT_AS with a GPU
        assert "RLIMIT_AS" not in launch["rlimits"]
        assert launch["rlimits"]["RLIMIT_NPROC"] == 40
        own = Path(sandbox.cgroup)
        assert own.parent == cgroups
        assert (own / "memory.max").read_text() == str(6 * 2**30)
        assert (own / "pids.max").read_text() == "40"
        # bwrap is started from inside the cgroup, so everything in the sandbox is counted there
        assert argv[argv.index("-c") + 2] == str(own / "cgroup.procs")
        assert argv.index("-c") < argv.index(sandbox.bwrap)
        assert sandbox.memory_described() == "6 GiB for all its processes together"
    finally:
        sandbox.cleanup()


def test_without_gpu_or_cgroup_nothing_changes():
    argv, launch, sandbox = command_of(SandboxSpec(devices=(), cgroup=""))
    try:
        assert argv[0] == sandbox.bwrap
        assert not binds(argv, "--dev-bind")
        assert launch["rlimits"]["RLIMIT_AS"] == Limits().memory
        assert sandbox.cgroup is None and sandbox.oom_kills() == 0 and sandbox.peak_memory() is None
        assert sandbox.memory_described() == "4 GiB per process"
    finally:
        sandbox.cleanup()


def test_cgroup_without_gpu_keeps_the_per_process_limit_too(tmp_path):
    argv, launch, sandbox = command_of(SandboxSpec(devices=(), cgroup=str(tmp_path)))
    try:
        assert launch["rlimits"]["RLIMIT_AS"] == Limits().memory
        assert (Path(sandbox.cgroup) / "memory.max").read_text() == str(Limits().memory)
    finally:
        sandbox.cleanup()


def test_peak_memory_and_oom_kills_are_read_from_the_cgroup(tmp_path):
    sandbox = Sandbox(Limits(), SandboxSpec(devices=(), cgroup=str(tmp_path)))
    try:
        own = Path(sandbox.cgroup)
        (own / "memory.peak").write_text("734003200\n")
        (own / "memory.events").write_text("low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 0\n")
        assert sandbox.peak_memory() == 700 * 2**20
        assert sandbox.oom_kills() == 2
    finally:
        sandbox.cleanup()


def test_device_nodes_are_found_by_name(tmp_path):
    for name in ("nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm", "null"):
        (tmp_path / name).write_text("")
    (tmp_path / "nvidia-caps").mkdir()
    (tmp_path / "nvidia-caps" / "nvidia-cap1").write_text("")
    found = gpu_devices(str(tmp_path))
    assert [Path(p).name for p in found] == ["nvidia-cap1", "nvidia-uvm", "nvidia0", "nvidia1", "nvidiactl"]


def test_this_machine_is_described_as_it_is():
    """No GPU here (no /dev/nvidia*); the cgroup v2 answer is whatever this machine allows, in words."""
    parent, why = cgroup_parent()
    text = memory_mechanism()
    assert gpu_devices() == tuple(str(p) for p in sorted(Path("/dev").glob("nvidia*")))
    if parent:
        assert "all its processes together" in text and parent in text
    else:
        assert "per process (RLIMIT_AS)" in text and why in text
