"""Landlock: the kernel's unprivileged sandbox, for the boxes built without namespaces.

Any process may restrict itself with Landlock (Linux 5.13 and newer, where the kernel enables it),
without root, once `no_new_privs` is set; the restriction holds for it and every process it starts,
and cannot be lifted. The weaker boxes (no root, or root without CAP_SYS_ADMIN) use it, where the
kernel has it, for what the full box gets from its mount, network and PID namespaces:

- files: read and execute only beneath the system folders, Python and the course's public copy;
  read and write only beneath the step's own copy, `/tmp` and a few devices. Everything else, the
  checkout with its answer keys, checks and solutions, other learners' copies and the grader's
  folders included, is out of reach (kernel ABI 1);
- TCP: connect only to the step's own channel port, bind none (ABI 4, Linux 6.7);
- signals and abstract Unix sockets: only within the step's own processes (ABI 6, Linux 6.12).

`Rules.apply()` returns what held, in words, for the grader's note; a kernel without Landlock
(or a container whose seccomp profile refuses its calls) leaves the box as it was.
"""

from __future__ import annotations

import ctypes
import os
import struct
from dataclasses import dataclass, field

CREATE_RULESET, ADD_RULE, RESTRICT_SELF = 444, 445, 446  # the same number on every architecture
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH, RULE_NET_PORT = 1, 2

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR, MAKE_REG = 1 << 4, 1 << 5, 1 << 6, 1 << 7, 1 << 8
MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
FILE_ONLY = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV  # what a rule on a file (not a folder) may grant
BIND_TCP, CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1

READ = EXECUTE | READ_FILE | READ_DIR
WRITE = (1 << 16) - 1  # everything on files and folders, masked to what the ABI knows

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def abi() -> int:
    """The kernel's Landlock ABI version; 0 where there is none (or a seccomp profile refuses the call)."""
    version = _libc.syscall(CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION))
    return max(0, int(version))


def _fs_rights(version: int) -> int:
    return next(mask for at, mask in sorted(FS_BY_ABI.items(), reverse=True) if version >= at)


@dataclass
class Rules:
    """What a step may touch: folders (or files) to read, to read and write, and the one TCP port it may reach."""

    read: list[str] = field(default_factory=list)
    write: list[str] = field(default_factory=list)
    connect_port: int | None = None  # None: TCP is not restricted

    def apply(self) -> list[str]:
        """Restrict this process (and all it starts) for good. Returns what held, in words; [] where the kernel has
        no Landlock. Needs `no_new_privs` set first. Raises OSError when a rule the kernel knows fails."""
        version = abi()
        if version < 1:
            return []
        fs = _fs_rights(version)
        net = (BIND_TCP | CONNECT_TCP) if version >= 4 and self.connect_port is not None else 0
        scoped = (SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL) if version >= 6 else 0
        attr = struct.pack("=QQQ", fs, net, scoped)
        size = 24 if scoped else 16 if net else 8
        ruleset = _libc.syscall(CREATE_RULESET, ctypes.c_char_p(attr[:size]), ctypes.c_size_t(size), ctypes.c_uint32(0))
        if ruleset < 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"landlock_create_ruleset: {os.strerror(errno)}")
        try:
            for paths, rights in ((self.read, READ & fs), (self.write, WRITE & fs)):
                for path in dict.fromkeys(paths):
                    _add_path(ruleset, path, rights)
            if net and self.connect_port:
                rule = struct.pack("=QQ", CONNECT_TCP, self.connect_port)
                _check(_libc.syscall(ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(RULE_NET_PORT), ctypes.c_char_p(rule),
                                     ctypes.c_uint32(0)), "landlock_add_rule (port)")
            _check(_libc.syscall(RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)), "landlock_restrict_self")
        finally:
            os.close(ruleset)
        held = ["files (Landlock)"]
        if net:
            held.append("TCP to its own channel only (Landlock)")
        if scoped:
            held.append("signals to its own processes only (Landlock)")
        return held


def _add_path(ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # a folder this machine does not have: nothing to grant
    try:
        if not os.path.isdir(path):
            rights &= FILE_ONLY
        rule = struct.pack("=Qi", rights, fd)
        _check(_libc.syscall(ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(RULE_PATH_BENEATH), ctypes.c_char_p(rule),
                             ctypes.c_uint32(0)), f"landlock_add_rule ({path})")
    finally:
        os.close(fd)


def _check(result: int, what: str) -> None:
    if result < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")
