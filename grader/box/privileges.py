"""What a step may no longer do once it runs: the uid it becomes, the capabilities and keys it leaves behind, and
the grader's own process kept out of reach of a step of the same user."""

from __future__ import annotations

import ctypes
import os
import platform
import sys

from .kernel import libc

FIRST_UID = 62000  # the slots' own uids start here
PR_SET_NO_NEW_PRIVS = 38
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
KEYCTL_JOIN_SESSION_KEYRING = 1
KEYCTL_SYSCALL = {"x86_64": 250, "aarch64": 219, "i686": 288, "armv7l": 311}


def guard_grader() -> None:
    """Make this (the grader's) process undumpable: its memory and /proc files (its environment with any
    key or token) are then out of reach of a process of the same user, as a step is without root."""
    if sys.platform.startswith("linux"):
        undumpable()


def undumpable() -> None:
    """No other process of this user may read this one's memory, descriptors or environment through /proc."""
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def no_new_privs() -> None:
    """No setuid program can give this process (or its children) privileges back."""
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def join_fresh_keyring() -> None:
    """A new anonymous session keyring for this process: the grader's (and other steps') keys out of reach."""
    number = KEYCTL_SYSCALL.get(platform.machine())
    if number is not None:
        libc.syscall(number, KEYCTL_JOIN_SESSION_KEYRING, None)  # a kernel without keys refuses: nothing to share


def drop_bounding_set() -> None:
    """No capability can come back through an executable's file capabilities (no_new_privs already says so; this
    holds where it could not be set). Needs CAP_SETPCAP, which containers keep; without it, nothing changes."""
    for capability in range(64):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0 and ctypes.get_errno() == 22:  # EINVAL: no such cap
            break


def become_uid(uid: int) -> None:
    """From root to the slot's own user, no groups: every capability is gone, and cannot come back."""
    drop_bounding_set()
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise OSError(f"the step still runs as uid {os.geteuid()}, not {uid}")
