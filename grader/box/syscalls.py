"""The system calls no step needs, refused (EPERM) by a seccomp filter loaded just before learner code.

A deny-list through libseccomp (the `pyseccomp` binding, ctypes over the system's libseccomp.so.2):
kernel keyrings, ptrace and reading other processes' memory, mounts and new namespaces (`unshare`,
`setns`, and `clone` with a namespace flag), `bpf`, `perf_event_open`, `io_uring`, `userfaultfd`,
kernel modules, `kexec`, `reboot`, swap, `acct`, `syslog`, handles to files by number. Everything
else a Python program with the SDK does (files, sockets to loopback, threads, subprocesses) stays.

Where libseccomp is missing (`available()` says why), steps run without a filter and the grader says
so once per run; the namespaces, the chroot and the uid still hold.
"""

from __future__ import annotations

import errno
from typing import Any

DENIED = (
    "keyctl", "add_key", "request_key",
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount",
    "fspick", "mount_setattr", "unshare", "setns",
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot",
    "swapon", "swapoff", "acct", "syslog", "quotactl", "lookup_dcookie", "open_by_handle_at",
    "name_to_handle_at", "vhangup",
)
# clone flags that would make a new namespace (and the user namespace, which would give back root's powers)
NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000, 0x00000080)


def _binding() -> Any:
    import pyseccomp

    return pyseccomp


def available() -> tuple[bool, str]:
    """(whether a filter can be built here, why not)."""
    try:
        seccomp = _binding()
        seccomp.SyscallFilter(seccomp.ALLOW)
    except Exception as exc:  # noqa: BLE001 - missing module, missing libseccomp.so.2, an old kernel
        return False, f"no system call filter here ({type(exc).__name__}: {exc}); install libseccomp2 and pyseccomp"
    return True, ""


_built: Any = None


def prepare() -> Any:
    """The filter, built but not loaded: build it while the binding and libseccomp can still be found
    (before the box's chroot), load it with `.load()` just before learner code. Built once per process:
    the warm engine's zygote builds it as it warms up, and each forked step only loads it."""
    global _built
    if _built is None:
        _built = _build()
    return _built


def _build() -> Any:
    seccomp = _binding()
    refused = seccomp.ERRNO(errno.EPERM)
    rules = seccomp.SyscallFilter(seccomp.ALLOW)
    for name in DENIED:
        try:
            rules.add_rule(refused, name)
        except Exception:  # noqa: BLE001 - a call this kernel or libseccomp does not have: nothing to refuse
            continue
    for flag in NAMESPACE_FLAGS:
        rules.add_rule(refused, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    try:  # clone3 passes its flags in memory a filter cannot read: say it does not exist, libc falls back to clone
        rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    except Exception:  # noqa: BLE001
        pass
    return rules
