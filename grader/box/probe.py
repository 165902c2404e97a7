"""What the box can be on this machine (`box()`): the full box of namespaces, or a weaker one, and what is
missing, in words. Found once per process, by a child that tries what the box will do."""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .kernel import CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, MS_NODEV, MS_NOSUID, MS_PRIVATE, MS_REC, check, libc, mount, unmount

CAP_CHOWN, CAP_KILL, CAP_SETGID, CAP_SETUID = 0, 5, 6, 7
SWITCH_UID_CAPS = {"CAP_CHOWN": CAP_CHOWN, "CAP_KILL": CAP_KILL, "CAP_SETGID": CAP_SETGID, "CAP_SETUID": CAP_SETUID}


@dataclass(frozen=True)
class Box:
    """What the grading box can be on this machine, and what is missing, in words."""

    full: bool  # namespaces, chroot and mounts (root with CAP_SYS_ADMIN, on Linux)
    pid_namespace: bool
    seccomp: bool
    notes: tuple[str, ...]
    own_uid: bool = False  # steps run as a uid of their own per slot (root, with the capabilities to switch)
    landlock: int = 0  # the kernel's Landlock ABI, used by the weaker boxes (0: none)

    @property
    def kind(self) -> str:
        """Which column of the guarantee table (docs/instructors/the-box.md) holds here."""
        return "full" if self.full else "root" if self.own_uid else "user"


_BOX: Box | None = None


def _probe_namespaces() -> tuple[str, str]:
    """In a child: (why the box cannot be built, why there is no PID namespace); "" where it can."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # try what `enter` and the runner will do: namespaces, a tmpfs mount, a PID namespace
        os.close(read)
        box = pid_ns = ""
        try:
            check(libc.unshare(CLONE_NEWNS | CLONE_NEWNET), "unshare")
            mount(None, "/", None, MS_REC | MS_PRIVATE)
            with tempfile.TemporaryDirectory() as tmp:
                mount("tmpfs", tmp, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m")
                unmount(tmp)
            try:
                check(libc.unshare(CLONE_NEWPID), "unshare (PID namespace)")
            except OSError as exc:
                pid_ns = str(exc) or "refused"
        except BaseException as exc:  # noqa: BLE001 - any failure means: no box here
            box = str(exc) or "refused"
        os.write(write, f"{box}\n{pid_ns}".encode()[:2000])
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        box, _, pid_ns = f.read().decode(errors="replace").partition("\n")
    os.waitpid(pid, 0)
    return box, pid_ns


def missing_capabilities(wanted: dict[str, int] = SWITCH_UID_CAPS) -> list[str]:
    """Which of `wanted` this process's effective capabilities lack (as /proc/self/status says)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                effective = int(line.split()[1], 16)
                return [name for name, bit in wanted.items() if not effective >> bit & 1]
    except (OSError, ValueError):
        pass
    return list(wanted)


def box() -> Box:
    """What the box can be here (found once per process: a child tries it)."""
    global _BOX
    if _BOX is not None:
        return _BOX
    from .landlock import abi
    from .syscalls import available

    notes: list[str] = []
    own_uid = False
    if not sys.platform.startswith("linux"):
        why, pid_ns = "the grading box needs Linux", "no Linux"
    elif os.geteuid() != 0:
        why, pid_ns = "the grading box needs root", "no root"
    else:
        why, pid_ns = _probe_namespaces()
        if why:
            why = f"this machine does not let the grader build its box ({why}); a container needs CAP_SYS_ADMIN for it"
        lacking = missing_capabilities()
        own_uid = not lacking
        if why and lacking:
            why += f", and without {', '.join(lacking)} steps cannot even run as a user of their own"
    full = not why
    landlock = abi() if sys.platform.startswith("linux") and not full else 0
    if why:
        has = ["a uid of its own per slot" if own_uid else "", "Landlock" if landlock else "",
               "limits, a process group and a fresh copy per step"]
        notes.append(f"{why}: grading with the weaker box ({', '.join(h for h in has if h)})")
        if not landlock and sys.platform.startswith("linux"):
            notes.append("no Landlock in this kernel (Linux 5.13 or newer with Landlock enabled): "
                         + ("file permissions alone keep a step from what its uid may not read" if own_uid else
                            "a step can read whatever your user can"))
    elif pid_ns:
        notes.append(f"no PID namespace here ({pid_ns}): steps can see the machine's other processes")
    filtering, missing = available()
    if not filtering and sys.platform.startswith("linux"):
        notes.append(missing)
    _BOX = Box(full, full and not pid_ns, filtering, tuple(notes), own_uid=full or own_uid, landlock=landlock)
    return _BOX


def isolation() -> tuple[bool, str]:
    """(whether the full box can be built here, why not, in a sentence)."""
    found = box()
    return found.full, "" if found.full else found.notes[0].split(": grading with")[0]


def can_isolate() -> bool:
    return isolation()[0]
