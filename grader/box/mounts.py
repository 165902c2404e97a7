"""The full box's root, as data: a list of mount records (as nsjail's mount points), applied by one function.

The root holds only the system folders and Python (read-only), the `course` package without its lessons, checks
and questions (read-only), a private /tmp, a few devices, the step's own copy (its one writable place) and its
channel's socket."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .kernel import MS_BIND, MS_NODEV, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_REMOUNT, mount

if TYPE_CHECKING:
    from .job import Job

REPO = Path(__file__).resolve().parent.parent.parent
SYSTEM_FOLDERS = ("/usr", "/bin", "/lib", "/lib64", "/lib32", "/etc", "/sbin")
DEVICES = ("null", "zero", "urandom", "random")
SECRETS = ("lessons", "assessments")  # of course/content: checks (hidden ones too) and questions stay out
CODIO_HOME = "/home/codio"  # a guide's code test finds its copy where Codio keeps it, in /home/codio/workspace


@dataclass(frozen=True)
class Mount:
    """One entry of the box's root, at `target` (a path inside the box; "/" is the root itself): a fresh tmpfs
    (`options`: its size and mode), a bind of the machine's own `source` (left out where the machine has none),
    or an empty folder. Read-only unless `writable`; a read-only bind is nosuid too, a writable one where `nosuid`."""

    target: str
    kind: str = "bind"  # "bind", "tmpfs" or "folder"
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
