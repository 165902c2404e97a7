"""A job: one run of a program in the box. Built in one place (`run.make_job`), read as attributes everywhere,
and turned into one JSON line only where it crosses into another process: the zygote's stdin (which hands the
same line on to its slot's namespace host) or the plain launcher's argument."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CHECKOUT = str(Path(__file__).resolve().parent.parent.parent)


@dataclass(frozen=True)
class Confinement:
    """What a slot's box is on this machine: the same for each of its jobs (as `probe.box()` found it)."""

    isolate: bool = False  # the full box: namespaces, a root of its own built from mounts, chroot
    pid_namespace: bool = False  # the step in a PID namespace (the full box only)
    seccomp: bool = False  # a system call filter loaded before learner code
    landlock: int = 0  # the kernel's Landlock ABI, used by the weaker boxes (0: none)
    uid: int | None = None  # the slot's own uid; None: the step runs as the grader's own user
    cgroups: tuple[str, ...] = ()  # the slot's cgroup folders; none: limits per process only
    course_root: str = CHECKOUT  # where the step imports `course` from: the checkout, or its public copy
    checkout: str = CHECKOUT  # the checkout itself, whose secrets the weaker boxes' Landlock rules leave out


@dataclass(frozen=True)
class Job:
    """One program to run in the box: a lesson's step (`python SCRIPT STEP`) or a guide's command (`sh -c COMMAND`),
    where it works and writes, its environment, its time, its way to the offline API, and the slot's box."""

    work: str  # the step's own copy: its working folder and its only writable place
    root: str  # where the full box builds its root
    stdout: str  # the files its output goes to (the same file twice: output and errors together)
    stderr: str
    env: dict[str, str]
    timeout: float  # seconds of wall time
    confinement: Confinement = field(default_factory=Confinement)
    script: str = ""  # a lesson's step: its script and number ...
    step: int = 0
    command: str = ""  # ... or a shell command (a guide's code test)
    stdin: str = ""  # a file to read as its input; none: /dev/null
    python: str = ""  # in the full box, a command's Python environment (`command_python`), bound read-only
    scratch: str = ""  # without the full box: its own temporary folder (its TMPDIR)
    uds: str = ""  # in the full box: its channel's Unix socket, reached from loopback port `port`
    port: int = 0
    connect_port: int = 0  # in the weaker boxes: its channel's TCP port, the one port Landlock lets it reach

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        box = data["confinement"]
        return cls(**{**data, "confinement": Confinement(**{**box, "cgroups": tuple(box["cgroups"])})})

    @classmethod
    def from_json(cls, line: str | bytes) -> Job:
        return cls.from_dict(json.loads(line))
