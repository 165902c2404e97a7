"""Ending everything a step left behind (its cgroups, its uid), and reaping what we adopted."""

from __future__ import annotations

import os
import time

from .cgroups import cgroup_pids, pids_counted
from .kernel import libc

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    """Orphans of a step (a fork bomb's children, say) become our children, so we can reap them."""
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def uid_processes(uid: int) -> list[int]:
    """Every process of `uid`, zombies included (a scan of /proc: a few ms on a busy machine)."""
    pids = []
    wanted = str(uid).encode()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fd = os.open(f"/proc/{entry}/status", os.O_RDONLY)
            except OSError:
                continue
            try:
                data = os.read(fd, 4096)
            except OSError:
                continue
            finally:
                os.close(fd)
            at = data.find(b"\nUid:\t")
            if at >= 0 and data[at + 6:].split(b"\t", 1)[0] == wanted:
                pids.append(int(entry))
    return pids


def leftovers(uid: int | None, cgroups: list[str] | tuple[str, ...], ours: tuple[int, ...] = ()) -> bool:
    """Whether anything of a step is left, zombies included: the pids cgroup's count (less `ours`, processes
    of ours that live in the slot's cgroups: the zygote, its namespace host) where there is one, else a scan
    for the uid."""
    counted = pids_counted(cgroups)
    if counted is not None:
        try:
            return int(counted.read_text()) > len(set(ours) & cgroup_pids(cgroups))
        except (OSError, ValueError):
            pass
    return bool(uid is not None and uid_processes(uid))


def kill_step(uid: int | None, cgroups: list[str] | tuple[str, ...], keep: tuple[int, ...] = ()) -> None:
    """Kill everything a step left behind (its cgroup, its uid), reaping what we adopted, until none is left;
    never this process or those in `keep` (the slot's namespace host). The step's processes cannot leave
    its cgroups, so where a pids cgroup counts them (zombies too) its count says when none is left; else
    every process of the uid is looked for."""
    ours = {os.getpid(), *keep}
    counted = pids_counted(cgroups)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        members = cgroup_pids(cgroups)
        inside = len(members & ours)
        members -= ours
        pids = members
        if not members and counted is not None:
            try:
                if int(counted.read_text()) <= inside:
                    return
            except (OSError, ValueError):
                pass
            reap()  # zombies of ours: reap them, then look for them by uid
        if not members or counted is None:
            pids = members | (set(uid_processes(uid)) if uid is not None else set())
            pids -= ours
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, 9)
            except (ProcessLookupError, PermissionError):
                pass
        reap()
        time.sleep(0.002)


def kill_uid(uid: int) -> int:
    """SIGKILL every process running as `uid` (a step's leftovers, however they detached)."""
    killed = 0
    for _ in range(50):
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/status") as f:
                        for line in f:
                            if line.startswith("Uid:"):
                                if int(line.split()[1]) == uid:
                                    pids.append(int(entry))
                                break
                except OSError:
                    continue
        if not pids:
            return killed
        for pid in pids:
            try:
                os.kill(pid, 9)
                killed += 1
            except ProcessLookupError:
                pass
    return killed
