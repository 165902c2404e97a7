"""The weaker boxes (no namespaces): what a step may touch, as Landlock rules, and what it left in the machine's
shared scratch folders and System V IPC, removed after it (there is no private /tmp or IPC namespace to drop)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .job import Job
from .landlock import Rules
from .mounts import SYSTEM_FOLDERS, python_paths

SHARED_SCRATCH = ("/tmp", "/var/tmp", "/dev/shm")
_IPC_TABLES = (("shm", "shmctl"), ("msg", "msgctl"), ("sem", "semctl"))


def step_rules(job: Job) -> Rules:
    """What a step of the weaker box may touch, as Landlock rules: read the system folders, Python and the course's
    public copy (its `course_root`); read and write its own copy, its scratch folder and a few devices; connect to
    its own channel's port only. The checkout (its keys, checks and solutions), other copies and the grader's
    folders are none of these."""
    readable = [*SYSTEM_FOLDERS, *python_paths(), job.confinement.course_root]
    inside = os.path.realpath(job.confinement.checkout) + os.sep
    prefixes = tuple(os.path.realpath(p) + os.sep for p in (sys.prefix, sys.base_prefix))
    for entry in sys.path:  # site-packages and the like, but never the checkout (unless it holds the venv)
        real = os.path.realpath(entry) if entry else ""
        if real and os.path.isdir(real) and (not (real + os.sep).startswith(inside) or (real + os.sep).startswith(prefixes)):
            readable.append(real)
    # Not /tmp, /var/tmp or /dev/shm: every step's files would be beneath them. Its own TMPDIR is its scratch folder.
    writable = [job.work, *([job.scratch] if job.scratch else []), "/dev/null", "/dev/zero", "/dev/urandom",
                "/dev/random", "/dev/tty"]
    return Rules(read=readable, write=writable, connect_port=job.connect_port or None)


def remove_files_of(uid: int) -> int:
    """Remove what `uid` left in the machine's shared scratch folders and System V IPC (the weaker boxes have no
    private /tmp or IPC namespace): nothing of one learner's step waits there for the next learner's step of the
    same slot. Returns how many were removed."""
    removed = 0
    for folder in SHARED_SCRATCH:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_uid != uid:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
                removed += 1
            except OSError:
                continue
    return removed + _remove_ipc_of(uid)


def _remove_ipc_of(uid: int) -> int:
    """Remove `uid`'s System V segments, queues and semaphore sets. Only their owner (or CAP_SYS_ADMIN, which the
    weaker box lacks) may, so a forked child becomes `uid` to do it."""
    found = _ipc_of(uid)
    if not found:
        return 0
    # A new process (not a fork of this threaded one) that becomes `uid` and removes them.
    subprocess.run([sys.executable, "-I", "-c", _REMOVE_IPC, *(f"{call}:{ident}" for call, ident in found)],
                   user=uid, group=uid, extra_groups=[], stdin=subprocess.DEVNULL, capture_output=True, timeout=30,
                   env={"PATH": "/usr/bin:/bin"}, cwd="/")
    return len(found) - len(_ipc_of(uid))


_REMOVE_IPC = """
import ctypes, sys
libc = ctypes.CDLL(None)
for item in sys.argv[1:]:
    call, ident = item.split(":")
    getattr(libc, call)(*((int(ident), 0, 0, None) if call == "semctl" else (int(ident), 0, None)))
"""


def _ipc_of(uid: int) -> list[tuple[str, int]]:
    """(the call that removes it, its id) for every System V IPC object `uid` owns."""
    found = []
    for table, call in _IPC_TABLES:
        try:
            lines = Path(f"/proc/sysvipc/{table}").read_text().splitlines()
        except OSError:
            continue
        if not lines:
            continue
        columns = lines[0].split()  # key, shmid (msqid, semid), perms, ... uid ...
        ident_column = next((c for c in columns if c.endswith("id") and c not in ("uid", "gid", "cuid", "cgid")), "")
        if "uid" not in columns or not ident_column:
            continue
        for line in lines[1:]:
            values = line.split()
            try:
                if int(values[columns.index("uid")]) != uid:
                    continue
                ident = int(values[columns.index(ident_column)])
            except (ValueError, IndexError):
                continue
            found.append((call, ident))
    return found
