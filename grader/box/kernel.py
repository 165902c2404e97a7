"""The few Linux calls the box makes through libc (mount, unshare, prctl, setns, syscall), with their flags, and
errors said as the kernel said them."""

from __future__ import annotations

import ctypes
import os

CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWPID = 0x00020000, 0x40000000, 0x08000000, 0x04000000, 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REMOUNT = 1, 2, 4, 8, 4096, 32
MS_REC, MS_PRIVATE = 16384, 1 << 18
MNT_DETACH = 2

libc = ctypes.CDLL(None, use_errno=True)


def check(result: int, what: str) -> None:
    """Raise OSError, naming `what` and the kernel's reason, when a libc call returned an error."""
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    check(libc.mount(source.encode() if source else None, target.encode(), fstype.encode() if fstype else None,
                     ctypes.c_ulong(flags), data.encode() if data else None), f"mount {target}")


def mount_tmpfs(path: str, size: str) -> bool:
    """A fresh tmpfs of at most `size` on `path`; False where this process may not mount."""
    try:
        mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=755")
        return True
    except OSError:
        return False


def unmount(path: str) -> None:
    libc.umount2(path.encode(), MNT_DETACH)
