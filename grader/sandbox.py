"""The box a learner's step runs in. Everything here runs in a freshly forked child, before any
learner code, and ends in either `runpy` (the warm engine) or `execv` of a new interpreter (plain).

With root (the usual grading machine, and CI):
- new mount and network namespaces; the child `chroot`s into a root holding only the system
  folders and Python (read-only), the `course` package without its lessons, checks and questions
  (read-only), a private /tmp, and its own fresh copy of the submission (the one writable place);
- its network namespace has only loopback, where a forwarder reaches the offline API through a Unix
  socket: no other address, loopback services included, can be reached;
- resource limits (memory, processes, file size, CPU, open files) and a uid of its own per worker
  slot, so it can signal none of the grader's processes and a fork bomb stops at the limit.
Without root, only the limits, a process group and the fresh copy apply (see the README).
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import resource
import socket
import struct
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS = 0x00020000, 0x40000000, 0x08000000, 0x04000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_BIND, MS_REMOUNT, MS_REC, MS_PRIVATE = 1, 2, 4, 4096, 32, 16384, 1 << 18
SIOCSIFFLAGS, IFF_UP, IFF_LOOPBACK, IFF_RUNNING = 0x8914, 0x1, 0x8, 0x40
FIRST_UID = 62000
LIMITS = {
    "memory": 2 * 1024**3,  # address space per process: an 8 GB allocation fails, Python with the SDK fits
    "step_memory": 1536 * 1024**2,  # all of a step's processes together (a memory cgroup, where there is one)
    "processes": 64,  # per sandbox uid: a fork bomb stops here
    "file_size": 8 * 1024**2,  # no file (stdout included) grows past 8 MB
    "open_files": 256,
}

_libc = ctypes.CDLL(None, use_errno=True)


CGROUP_ROOT = Path("/sys/fs/cgroup")
PR_SET_CHILD_SUBREAPER = 36
MNT_DETACH = 2


def become_subreaper() -> None:
    """Orphans of a step (a fork bomb's children, say) become our children, so we can reap them."""
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def make_cgroups(name: str) -> list[str]:
    """Per-slot memory and pids cgroups (v1 or v2), limiting the whole step, not each process.
    Returns the cgroup folders made; none where the machine does not let us (limits then per process)."""
    made = []
    for controller, settings in (("memory", {"memory.limit_in_bytes": str(LIMITS["step_memory"])}),
                                 ("pids", {"pids.max": str(LIMITS["processes"])})):
        folder = CGROUP_ROOT / controller / "course-grader" / name
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for file, value in settings.items():
                (folder / file).write_text(value)
            made.append(str(folder))
        except OSError:
            continue
    return made


def cgroup_pids(folders: list[str]) -> set[int]:
    pids: set[int] = set()
    for folder in folders:
        try:
            pids.update(int(x) for x in Path(folder, "cgroup.procs").read_text().split())
        except (OSError, ValueError):
            pass
    return pids


def mount_tmpfs(path: str, size: str) -> bool:
    try:
        _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=755")
        return True
    except OSError:
        return False


def unmount(path: str) -> None:
    _libc.umount2(path.encode(), MNT_DETACH)


_ISOLATION: tuple[bool, str] | None = None


def isolation() -> tuple[bool, str]:
    """(whether the full box can be built here, why not). Root alone is not enough: a container without
    CAP_SYS_ADMIN (Docker's default, Gradescope's) cannot make namespaces or mount, so a child tries."""
    global _ISOLATION
    if _ISOLATION is not None:
        return _ISOLATION
    if not sys.platform.startswith("linux"):
        _ISOLATION = (False, "the grading box needs Linux")
    elif os.geteuid() != 0:
        _ISOLATION = (False, "the grading box needs root")
    else:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # try what `enter` and the runner will do: namespaces, then a tmpfs mount
            os.close(read)
            try:
                _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWNET), "unshare")
                _mount(None, "/", None, MS_REC | MS_PRIVATE)
                with tempfile.TemporaryDirectory() as tmp:
                    _mount("tmpfs", tmp, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m")
                    unmount(tmp)
                os._exit(0)
            except BaseException as exc:  # noqa: BLE001 - any failure means: no box here
                os.write(write, str(exc).encode()[:500])
                os._exit(1)
        os.close(write)
        with os.fdopen(read, "rb") as f:
            why = f.read().decode(errors="replace")
        _, status = os.waitpid(pid, 0)
        ok = os.waitstatus_to_exitcode(status) == 0
        _ISOLATION = (ok, "" if ok else f"this machine does not let the grader build its box ({why or 'unknown'}); "
                      "a container needs CAP_SYS_ADMIN for it")
    return _ISOLATION


def can_isolate() -> bool:
    return isolation()[0]


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(source.encode() if source else None, target.encode(), fstype.encode() if fstype else None,
                       ctypes.c_ulong(flags), data.encode() if data else None), f"mount {target}")


def _bind(path: str, root: str, *, writable: bool = False) -> None:
    if not os.path.exists(path):
        return
    target = root + path
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
    _mount(path, target, None, MS_BIND | MS_REC)
    if not writable:
        _mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_REC)


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", IFF_UP | IFF_LOOPBACK | IFF_RUNNING))


def _pipe(a: socket.socket, b: socket.socket) -> None:
    try:
        while data := a.recv(65536):
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _forward(listener: socket.socket, uds: str) -> None:
    while True:
        try:
            client, _ = listener.accept()
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(uds)
        except OSError:
            continue
        threading.Thread(target=_pipe, args=(client, upstream), daemon=True).start()
        threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()


def _python_paths() -> list[str]:
    paths = {sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(sys.executable))}
    return sorted(p for p in paths if p and p != "/")


def enter(job: dict[str, Any]) -> None:
    """Put this (forked, not yet exec'd) process into the box described by `job`. Never returns on failure:
    a box that cannot be built must not run learner code, so the child exits with status 97."""
    try:
        os.setsid()
        work = job["work"]
        for folder in job.get("cgroups", []):  # before anything else, so every process of the step is in it
            Path(folder, "cgroup.procs").write_text(str(os.getpid()))
        if job.get("isolate"):
            _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS), "unshare")
            _mount(None, "/", None, MS_REC | MS_PRIVATE)
            root = job["root"]
            _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=755")
            # The private /tmp first: a repository, a venv or a work copy that lives under /tmp is bound on top of it.
            os.makedirs(root + "/tmp", exist_ok=True)
            _mount("tmpfs", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=1777")
            for path in ["/usr", "/bin", "/lib", "/lib64", "/lib32", "/etc", "/sbin", *_python_paths(),
                         str(REPO / "course")]:
                _bind(path, root)
            hidden = REPO / "course" / "content"
            for secret in ("lessons", "assessments"):  # checks (hidden ones too) and questions stay out
                if (hidden / secret).is_dir():
                    _mount("tmpfs", root + str(hidden / secret), "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k")
            for dev in ("null", "zero", "urandom", "random"):
                _bind(f"/dev/{dev}", root, writable=True)
            _bind(work, root, writable=True)
            os.makedirs(root + "/run", exist_ok=True)
            _bind(job["uds"], root)
            _mount(None, root + job["uds"], None, MS_BIND | MS_REMOUNT | MS_NOSUID)  # connectable, not read-only
            os.chroot(root)
            _loopback_up()
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", int(job["port"])))
            listener.listen(64)
            threading.Thread(target=_forward, args=(listener, job["uds"]), daemon=True).start()
        os.chdir(work)
        cpu = int(job.get("timeout", 30)) + 2
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
        resource.setrlimit(resource.RLIMIT_AS, (LIMITS["memory"], LIMITS["memory"]))
        resource.setrlimit(resource.RLIMIT_FSIZE, (LIMITS["file_size"], LIMITS["file_size"]))
        resource.setrlimit(resource.RLIMIT_NOFILE, (LIMITS["open_files"], LIMITS["open_files"]))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if job.get("uid") is not None and os.geteuid() == 0:
            uid = int(job["uid"])
            if not job.get("cgroups"):  # no pids cgroup here: fall back to the per-uid process limit
                resource.setrlimit(resource.RLIMIT_NPROC, (LIMITS["processes"], LIMITS["processes"]))
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        os.environ.clear()
        os.environ.update(job["env"])
    except BaseException as exc:  # noqa: BLE001 - the reason goes to the step's stderr, then out
        try:
            os.write(2, f"the grading sandbox could not be set up: {exc}\n".encode())
        finally:
            os._exit(97)


def uid_processes(uid: int) -> list[int]:
    """Every process of `uid`, zombies included."""
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
    return pids


def kill_step(uid: int | None, cgroups: list[str]) -> None:
    """Kill everything a step left behind (its cgroup, its uid), reaping what we adopted, until none is left."""
    import time

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        pids = cgroup_pids(cgroups) | (set(uid_processes(uid)) if uid is not None else set())
        pids.discard(os.getpid())
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
