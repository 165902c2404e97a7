"""The full box's root, as data: a list of mount records (as nsjail's mount points), applied by one function.

The root holds only the system folders and Python (read-only), the `course` package without its lessons, checks
and questions (read-only), a private /tmp, a few devices, the step's own copy (its one writable place) and its
channel's socket; for a guide's code test also a /proc of its own PID namespace (`mount_proc`), the /dev links into
it, and `python` beside `python3`."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .kernel import MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_REMOUNT, mount

if TYPE_CHECKING:
    from .job import Job

REPO = Path(__file__).resolve().parent.parent.parent
SYSTEM_FOLDERS = ("/usr", "/bin", "/lib", "/lib64", "/lib32", "/etc", "/sbin")
DEVICES = ("null", "zero", "urandom", "random")
SECRETS = ("lessons", "assessments")  # of course/content: checks (hidden ones too) and questions stay out
PYTHON_LINKS = "/run/course-python"  # a guide's code test's `python` and `python3`, where the grader's Python lacks one
PROC = "/proc"  # a guide's code test sees the processes of its own PID namespace there, and nothing of the machine's
CODIO_HOME = "/home/codio"  # a guide's code test finds its copy where Codio keeps it, in /home/codio/workspace


@dataclass(frozen=True)
class Mount:
    """One entry of the box's root, at `target` (a path inside the box; "/" is the root itself): a fresh tmpfs
    (`options`: its size and mode), a bind of the machine's own `source` (left out where the machine has none),
    an empty folder, or a link to `source`. Read-only unless `writable`; a read-only bind is nosuid too, a writable
    one where `nosuid`."""

    target: str
    kind: str = "bind"  # "bind", "tmpfs", "folder" or "link"
    source: str = ""
    writable: bool = False
    nosuid: bool = False
    options: str = ""

    @classmethod
    def bind(cls, path: str, *, writable: bool = False, nosuid: bool = False) -> Mount:
        return cls(path, "bind", path, writable, nosuid)

    @classmethod
    def tmpfs(cls, target: str, options: str, *, writable: bool = True) -> Mount:
        return cls(target, "tmpfs", writable=writable, options=options)

    @classmethod
    def folder(cls, target: str) -> Mount:
        return cls(target, "folder", writable=True)


def python_paths() -> list[str]:
    paths = {sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(sys.executable))}
    return sorted(p for p in paths if p and p != "/")


PROC_LINKS = tuple(Mount(f"/dev/{name}", "link", f"/proc/self/fd{path}")
                   for name, path in (("fd", ""), ("stdin", "/0"), ("stdout", "/1"), ("stderr", "/2")))


def python_links() -> list[Mount]:
    """Links named `python` and `python3` in PYTHON_LINKS, to the grader's own interpreter, for the names its folder
    (which a guide's command finds first on PATH, `environment.command_path`) does not hold. A virtual environment's
    folder holds both, and must: Python finds the environment's packages only when started from its folder."""
    folder = os.path.dirname(sys.executable)
    return [Mount(f"{PYTHON_LINKS}/{name}", "link", os.path.realpath(sys.executable))
            for name in ("python", "python3") if not os.path.exists(os.path.join(folder, name))]


def box_mounts(job: Job) -> list[Mount]:
    """The root of `job`'s box, in the order it is built."""
    hidden = REPO / "course" / "content"
    return [
        Mount.tmpfs("/", "size=64m,mode=755"),
        # The private /tmp first: a repository, a venv or a work copy that lives under /tmp is bound on top of it.
        Mount.tmpfs("/tmp", "size=16m,mode=1777"),
        *(Mount.bind(path) for path in (*SYSTEM_FOLDERS, *python_paths(), str(REPO / "course"))),
        *(Mount.tmpfs(str(hidden / secret), "size=4k", writable=False) for secret in SECRETS if (hidden / secret).is_dir()),
        *(Mount.bind(f"/dev/{device}", writable=True) for device in DEVICES),
        Mount.bind(job.work, writable=True),
        # A guide's command: Codio's HOME, and its copy where Codio has the workspace.
        *((Mount.tmpfs(CODIO_HOME, "size=16m,mode=1777"),
           Mount(CODIO_HOME + "/workspace", "bind", job.work, writable=True)) if job.command else ()),
        Mount.folder("/run"),
        # A guide's command: where its own /proc goes once it is in its PID namespace (`mount_proc`), the links into
        # it that shells and runtimes expect (bash's `<(...)` is a /dev/fd path), and `python` beside `python3`.
        *((Mount.folder(PROC), *python_links(), *PROC_LINKS) if job.command else ()),
        *((Mount.bind(job.python),) if job.command and job.python else ()),  # its Python (`command_python`)
        Mount.bind(job.uds, writable=True, nosuid=True),  # connectable, not read-only
    ]


def apply_mounts(mounts: list[Mount], root: str) -> None:
    """Build the box's root in `root` from `mounts`, in this process's own mount namespace (nothing is seen
    outside it)."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    for entry in mounts:
        target = root if entry.target == "/" else root + entry.target
        if entry.kind == "tmpfs":
            if not os.path.isdir(target):
                os.makedirs(target, exist_ok=True)
            mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | (0 if entry.writable else MS_RDONLY), entry.options)
        elif entry.kind == "folder":
            os.makedirs(target, exist_ok=True)
        elif entry.kind == "link":
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.symlink(entry.source, target)
        else:
            _bind(entry, target)


def _bind(entry: Mount, target: str) -> None:
    path = entry.source
    if not os.path.exists(path):
        return
    if os.path.islink(path):  # /bin -> usr/bin on merged-/usr systems: keep it a link
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.lexists(target):
            os.symlink(os.readlink(path), target)
        return
    if os.path.isdir(path):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
    mount(path, target, None, MS_BIND | MS_REC)
    if not entry.writable:
        mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_REC)
    elif entry.nosuid:
        mount(None, target, None, MS_BIND | MS_REMOUNT | MS_NOSUID)


def mount_proc(path: str = PROC) -> None:
    """Mount /proc for a process already in its step's PID namespace (and its chroot): it shows that namespace's
    processes only, and of those only the step's own uid's (`hidepid=2`: not pid 1, root's), and, where the kernel
    can (Linux 5.8), nothing but the processes (`subset=pid`: not the machine's /proc/sys, its keys, its devices).
    A JDK finds its libraries through /proc/self/exe, and reads its limits in /proc/self."""
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    try:
        mount("proc", path, "proc", flags, "hidepid=2,subset=pid")
    except OSError:
        mount("proc", path, "proc", flags, "hidepid=2")
