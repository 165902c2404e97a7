"""The box a learner's step runs in. Everything here runs in a freshly forked child, before any
learner code, and ends in either `runpy` (the warm engine) or `execv` of a new interpreter (plain).

With root (the usual grading machine, and CI):
- new mount, network, IPC, UTS and PID namespaces (the PID and network ones made once per worker slot
  by its namespace host, `host`, nothing of a step outliving it); the child `chroot`s into a root holding only the system
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
import signal
import socket
import struct
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent.parent
CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWPID = 0x00020000, 0x40000000, 0x08000000, 0x04000000, 0x20000000
PR_SET_NO_NEW_PRIVS = 38
PR_SET_DUMPABLE = 4
KEYCTL_JOIN_SESSION_KEYRING = 1
KEYCTL_SYSCALL = {"x86_64": 250, "aarch64": 219, "i686": 288, "armv7l": 311}
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_BIND, MS_REMOUNT, MS_REC, MS_PRIVATE = 1, 2, 4, 4096, 32, 16384, 1 << 18
SIOCSIFFLAGS, IFF_UP, IFF_LOOPBACK, IFF_RUNNING = 0x8914, 0x1, 0x8, 0x40
FIRST_UID = 62000
LIMITS = {
    "memory": 2 * 1024**3,  # address space per process: an 8 GB allocation fails, Python with the SDK fits
    "step_memory": 1536 * 1024**2,  # all of a step's processes together (a memory cgroup, where there is one)
    "processes": 64,  # per sandbox uid: a fork bomb stops here
    "file_size": 8 * 1024**2,  # no file (stdout included) grows past 8 MB
    "open_files": 256,
    "cpus": 1.0,  # CPU time a step may use, in CPUs, however many processes it starts (a cpu cgroup)
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
    """Per-slot memory, pids and cpu cgroups (v1 or v2), limiting the whole step, not each process: at most
    1.5 GB, 64 processes and one CPU's time, however many processes or sessions the step starts.
    Returns the cgroup folders made; none where the machine does not let us (limits then per process)."""
    period = 100_000
    quota = int(period * LIMITS["cpus"])
    if (CGROUP_ROOT / "cgroup.controllers").exists():  # v2: one folder holds every controller
        base = CGROUP_ROOT / "course-grader"
        try:
            base.mkdir(exist_ok=True)
            for parent in (CGROUP_ROOT, base):
                try:
                    (parent / "cgroup.subtree_control").write_text("+memory +pids +cpu")
                except OSError:
                    pass
            folder = base / name
            folder.mkdir(exist_ok=True)
            for file, value in (("memory.max", str(LIMITS["step_memory"])), ("pids.max", str(LIMITS["processes"])),
                                ("cpu.max", f"{quota} {period}")):
                try:
                    (folder / file).write_text(value)
                except OSError:
                    continue
            return [str(folder)]
        except OSError:
            return []
    made = []
    for controller, settings in (("memory", {"memory.limit_in_bytes": str(LIMITS["step_memory"])}),
                                 ("pids", {"pids.max": str(LIMITS["processes"])}),
                                 ("cpu", {"cpu.cfs_period_us": str(period), "cpu.cfs_quota_us": str(quota)})):
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
        """Which column of the README's guarantee table holds here."""
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
            _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWNET), "unshare")
            _mount(None, "/", None, MS_REC | MS_PRIVATE)
            with tempfile.TemporaryDirectory() as tmp:
                _mount("tmpfs", tmp, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m")
                unmount(tmp)
            try:
                _check(_libc.unshare(CLONE_NEWPID), "unshare (PID namespace)")
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


CAP_CHOWN, CAP_KILL, CAP_SETGID, CAP_SETUID = 0, 5, 6, 7
SWITCH_UID_CAPS = {"CAP_CHOWN": CAP_CHOWN, "CAP_KILL": CAP_KILL, "CAP_SETGID": CAP_SETGID, "CAP_SETUID": CAP_SETUID}


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


def python_env(course_root: Path = REPO) -> dict[str, str]:
    """A minimal environment for every process a step can look into (the zygote, the plain launcher, the
    offline API): a forked step inherits the zygote's memory, and a step running as the grader's own
    user (no root) can read their /proc files, so nothing of the grader's environment (keys, tokens,
    paths) may be in them. `course_root` is where `course` is imported from (the checkout, or the public
    copy the weaker boxes show their steps)."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/nonexistent",
            "PYTHONPATH": str(course_root), "PYTHONDONTWRITEBYTECODE": "1", "PYTHONIOENCODING": "utf-8"}


SHARED_SCRATCH = ("/tmp", "/var/tmp", "/dev/shm")


def remove_files_of(uid: int) -> int:
    """Remove what `uid` left in the machine's shared scratch folders and System V IPC (the weaker boxes have no
    private /tmp or IPC namespace): nothing of one learner's step waits there for the next learner's step of the
    same slot. Returns how many were removed."""
    import shutil

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


IPC_RMID = 0
_IPC_TABLES = (("shm", "shmctl"), ("msg", "msgctl"), ("sem", "semctl"))


def _remove_ipc_of(uid: int) -> int:
    """Remove `uid`'s System V segments, queues and semaphore sets. Only their owner (or CAP_SYS_ADMIN, which the
    weaker box lacks) may, so a forked child becomes `uid` to do it."""
    import subprocess

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


def guard_grader() -> None:
    """Make this (the grader's) process undumpable: its memory and /proc files (its environment with any
    key or token) are then out of reach of a process of the same user, as a step is without root."""
    if sys.platform.startswith("linux"):
        _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def isolation() -> tuple[bool, str]:
    """(whether the full box can be built here, why not, in a sentence)."""
    found = box()
    return found.full, "" if found.full else found.notes[0].split(": grading with")[0]


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


def _pipe(a: socket.socket, b: socket.socket, done: threading.Barrier | None = None) -> None:
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
        if done is not None:
            try:
                done.wait(timeout=60)  # both directions over: the connection's slot is free again
            except threading.BrokenBarrierError:
                pass
            a.close()


FORWARDED_AT_ONCE = 16  # connections a step may hold open to the API: more are closed at once


def _forward(listener: socket.socket, uds: str) -> None:
    """The step's loopback port, forwarded to its channel; a step holds at most FORWARDED_AT_ONCE connections."""
    slots = threading.BoundedSemaphore(FORWARDED_AT_ONCE)
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            continue
        if not slots.acquire(blocking=False):
            client.close()
            continue
        try:
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(uds)
        except OSError:
            client.close()
            slots.release()
            continue
        done = threading.Barrier(2, action=slots.release)
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pipe, args=(a, b, done), daemon=True).start()


class _Relay:
    """The step's loopback port forwarded to its channel, in the one thread of the namespace's init (a thread
    more would be a process id the step can see): at most FORWARDED_AT_ONCE connections, each relayed both
    ways with its half-closes, a bounded buffer per direction."""

    BUFFER = 1 << 20  # bytes held for a peer that does not read, before the other side is no longer read

    def __init__(self, selector: Any, listener: socket.socket, uds: str) -> None:
        self.selector, self.listener, self.uds = selector, listener, uds
        self.peer: dict[socket.socket, socket.socket] = {}
        self.out: dict[socket.socket, bytearray] = {}  # what is still to be written to a socket
        self.read_done: set[socket.socket] = set()  # sockets whose other end has stopped sending
        listener.setblocking(False)
        selector.register(listener, 1, self)  # selectors.EVENT_READ

    def handle(self, sock: socket.socket, mask: int) -> None:
        if sock is self.listener:
            self._accept()
            return
        if sock not in self.peer:
            return
        try:
            if mask & 2 and self.out[sock]:  # EVENT_WRITE
                self._flush(sock)
            if mask & 1 and sock not in self.read_done:
                data = sock.recv(65536)
                other = self.peer[sock]
                if data:
                    self.out[other] += data
                    self._flush(other)
                else:
                    self.read_done.add(sock)
                    self._flush(other)
        except BlockingIOError:
            pass
        except OSError:
            self._close(sock)
            return
        self._update(sock)

    def _accept(self) -> None:
        try:
            client, _ = self.listener.accept()
        except OSError:
            return
        if len(self.peer) // 2 >= FORWARDED_AT_ONCE:
            client.close()
            return
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.settimeout(5)  # the API's backlog full: the step's connection fails, the relay goes on
            upstream.connect(self.uds)
        except OSError:
            upstream.close()
            client.close()
            return
        for a, b in ((client, upstream), (upstream, client)):
            a.setblocking(False)
            self.peer[a], self.out[a] = b, bytearray()
            self.selector.register(a, 1, self)

    def _flush(self, sock: socket.socket) -> None:
        """Write what waits for `sock`; once its peer has stopped sending and all is written, half-close it."""
        pending = self.out.get(sock)
        if pending is None:  # closed already, with its peer
            return
        if pending:
            try:
                del pending[:sock.send(pending)]
            except BlockingIOError:
                pass
        if not pending and self.peer[sock] in self.read_done:
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def _update(self, sock: socket.socket) -> None:
        for s in (sock, self.peer.get(sock)):
            if s is None or s not in self.peer:
                continue
            other = self.peer[s]
            if s in self.read_done and other in self.read_done and not self.out[s] and not self.out[other]:
                self._close(s)
                return
            events = (1 if s not in self.read_done and len(self.out[other]) < self.BUFFER else 0) | (2 if self.out[s] else 0)
            try:
                if events:
                    self.selector.modify(s, events, self)
                else:
                    self.selector.unregister(s)
            except KeyError:
                if events:
                    self.selector.register(s, events, self)

    def drop_all(self) -> None:
        """Close every relayed connection (the step they belong to has ended); keep listening."""
        for sock in list(self.peer):
            self._close(sock)

    def close_in_child(self) -> None:
        """In a process forked from the relay's: close its copies of the relay's sockets, touching nothing else."""
        for sock in [self.listener, *self.peer]:
            sock.close()

    def _close(self, sock: socket.socket) -> None:
        for s in (sock, self.peer.get(sock)):
            if s is None or s not in self.peer:
                continue
            try:
                self.selector.unregister(s)
            except (KeyError, ValueError):
                pass
            del self.peer[s], self.out[s]
            self.read_done.discard(s)
            s.close()


def host(jobs: int, reports: int, run_step: Any) -> None:
    """The slot's namespace host: forked once per slot by `fork_as_init`, pid 1 of the slot's own PID
    namespace, with a network namespace of its own (loopback only). For each job read from `jobs` (a JSON
    line) it forks the step, which `run_step(job)` runs (building the rest of the box: mounts, chroot, IPC
    and UTS namespaces, limits, uid, filter), relays the step's loopback port to the job's channel, reaps
    whatever is orphaned, and writes `{"exit_code": N}` to `reports` when the step ends; `{"kill": true}`
    kills the running step; `{"ready": true}` once it is set up. One thread, so each fork is safe and no
    thread is a process id a step can see.
    Between steps the zygote kills all the step left (`kill_step`), so a step sees only pid 1 and its own.
    Exits when `jobs` is closed. Never returns."""
    import json
    import selectors

    try:
        os.setsid()  # its own session and group (1 and 1, as a step sees them), none of the grader's
        _check(_libc.unshare(CLONE_NEWNET), "unshare (network)")
        _loopback_up()
        selector = selectors.DefaultSelector()
        wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_write)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # an orphan's end wakes the loop, which reaps it
        selector.register(jobs, selectors.EVENT_READ, "jobs")
        selector.register(wake_read, selectors.EVENT_READ, "wake")
        os.write(reports, b'{"ready": true}\n')
    except BaseException as exc:  # noqa: BLE001 - the zygote reports it and grades with a box per step
        os.write(reports, (json.dumps({"error": f"the slot's namespace host could not start: {exc}"}) + "\n").encode())
        os._exit(97)
    relay: _Relay | None = None
    step = 0
    buffered = b""

    def start(job: dict[str, Any]) -> int:
        nonlocal relay
        port, uds = int(job["port"]), str(job["uds"])
        if relay is not None and relay.listener.getsockname()[1] != port:
            relay.drop_all()
            selector.unregister(relay.listener)
            relay.listener.close()
            relay = None
        if relay is None:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", port))
            listener.listen(64)
            relay = _Relay(selector, listener, uds)
        relay.uds = uds
        pid = os.fork()
        if pid == 0:  # the step: none of the host's descriptors, signal handling as a fresh process has
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            relay.close_in_child()
            selector.close()
            for fd in (jobs, reports, wake_read, wake_write):
                os.close(fd)
            run_step({**job, "hosted": True})
            os._exit(97)
        return pid

    while True:
        for key, mask in selector.select(timeout=1.0):
            if key.data == "jobs":
                data = os.read(jobs, 65536)
                if not data:
                    os._exit(0)  # the zygote is gone
                buffered += data
                while b"\n" in buffered:
                    line, buffered = buffered.split(b"\n", 1)
                    message = json.loads(line)
                    if message.get("kill"):
                        for kill in (lambda: os.killpg(step, signal.SIGKILL), lambda: os.kill(step, signal.SIGKILL)):
                            try:
                                if step:
                                    kill()
                            except (ProcessLookupError, PermissionError):
                                pass
                    elif step == 0:
                        try:
                            step = start(message)
                        except OSError as exc:
                            os.write(reports, (json.dumps({"error": f"the step could not be started: {exc}"}) + "\n").encode())
            elif key.data == "wake":
                try:
                    while os.read(wake_read, 512):
                        pass
                except BlockingIOError:
                    pass
            elif key.data is not None:
                key.data.handle(key.fileobj, mask)
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            if pid == 0:
                break
            if pid == step:
                step = 0
                if relay is not None:
                    relay.drop_all()
                os.write(reports, (json.dumps({"exit_code": os.waitstatus_to_exitcode(status)}) + "\n").encode())


def _python_paths() -> list[str]:
    paths = {sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(sys.executable))}
    return sorted(p for p in paths if p and p != "/")


def _join_fresh_keyring() -> None:
    """A new anonymous session keyring for this process: the grader's (and other steps') keys out of reach."""
    import platform

    number = KEYCTL_SYSCALL.get(platform.machine())
    if number is not None:
        _libc.syscall(number, KEYCTL_JOIN_SESSION_KEYRING, None)  # a kernel without keys refuses: nothing to share


def _end_as(code: int) -> None:
    """End this process as a step ended: an exit status (0-255), or a signal (negative). Never returns."""
    if code < 0:
        try:
            signal.signal(-code, signal.SIG_DFL)  # SIGKILL and SIGSTOP have no handler to reset
        except (OSError, ValueError):
            pass
        os.kill(os.getpid(), -code)
    os._exit(code & 0xFF)


def _supervise(pid: int, report: int | None = None) -> None:
    """Wait for the child `pid`, then end as the step ended: as `report` (a pipe the namespace's init writes
    the step's end into) says, else as the child did. Never returns."""
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except ChildProcessError:
            os._exit(97)
        except InterruptedError:
            continue
    if report is not None:
        said = os.read(report, 32).decode(errors="replace").strip()
        if said.lstrip("-").isdigit():
            _end_as(int(said))
    _end_as(os.waitstatus_to_exitcode(status))


def _init(step: int, report: int) -> None:
    """Pid 1 of the step's namespace: reap whatever is orphaned there; when the step ends, write how it ended
    into `report` (no signal can end pid 1 itself) and exit, and the kernel stops all left. Never returns."""
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(97)
        except InterruptedError:
            continue
        if pid == step:
            os.write(report, str(os.waitstatus_to_exitcode(status)).encode())
            os._exit(0)


_OWN_PID_NAMESPACE: int | None = None


def fork_as_init() -> int | None:
    """Fork a child that is pid 1 of a PID namespace of its own, while this (single-threaded, root) process
    stays in its own: the child can then build the step's box and fork the step itself, one process fewer
    than `enter` needs when it starts from an ordinary child. Returns as `os.fork` does; None (nothing
    forked) where the kernel refuses, so the caller forks as usual."""
    global _OWN_PID_NAMESPACE
    if _OWN_PID_NAMESPACE is None:
        try:
            _OWN_PID_NAMESPACE = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
    if _libc.unshare(CLONE_NEWPID) != 0:
        return None
    pid = -1
    try:
        pid = os.fork()
    finally:
        if pid != 0 and _libc.setns(_OWN_PID_NAMESPACE, CLONE_NEWPID) != 0:  # the parent's next children: as before
            errno = ctypes.get_errno()
            raise OSError(errno, f"could not return to the grader's own PID namespace: {os.strerror(errno)}")
    if pid == 0:
        os.close(_OWN_PID_NAMESPACE)
        _OWN_PID_NAMESPACE = None
    return pid


def enter(job: dict[str, Any]) -> bool:
    """Put this (forked, not yet exec'd) process into the box described by `job`, and return in the process
    that runs the step, as the step's uid, under its limits, keyring and syscall filter.

    With the full box, the step runs in a PID namespace where it sees only itself, its children and pid 1
    (root, which it cannot signal), and True is returned (in the step), which may exec. A job marked
    `hosted` comes from the slot's namespace host (`host`), which is that pid 1 and relays the loopback of
    the network namespace it made: this process adds mount, IPC and UTS namespaces. Otherwise this process
    makes them all, and its grandchild is the step: it stays behind to forward the loopback and wait, and
    its child is the namespace's init. Without a box or a PID namespace, False: the loopback forwarder, if
    any, is a thread of the returning process, which must not exec.

    Never returns on failure: a box that cannot be built must not run learner code, so it exits with 97."""
    try:
        os.setsid()
        work = job["work"]
        try:  # a step out of memory is stopped before the zygote it shares its cgroup with (see engine.py)
            Path("/proc/self/oom_score_adj").write_text("1000")
        except OSError:
            pass
        cgroups = job.get("cgroups", [])
        if cgroups and not in_cgroups(cgroups):  # before anything else, so every process of the step is in it
            join_cgroups(os.getpid(), cgroups)  # (a zygote that joined its slot's cgroups forks into them)
        rules = None
        if job.get("seccomp"):  # built before the chroot hides the binding; loaded last, before learner code
            from .syscalls import prepare

            rules = prepare()
        listener = None
        hosted = bool(job.get("hosted"))  # forked by the slot's host: its PID and network namespaces are there
        if job.get("isolate"):
            _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | (0 if hosted else CLONE_NEWNET)), "unshare")
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
            if not hosted:
                _loopback_up()
                listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                listener.bind(("127.0.0.1", int(job["port"])))
                listener.listen(64)
        os.chdir(work)
        in_pid_namespace = hosted
        if listener is not None:  # this process forwards the step's loopback to its channel
            threading.Thread(target=_forward, args=(listener, job["uds"]), daemon=True).start()
        if job.get("isolate") and job.get("pid_namespace", True) and not in_pid_namespace:
            # Only this thread joins the new PID namespace (for its children): the forwarder thread keeps the
            # old one, where it can still start a thread per connection, and this one starts none. Its child
            # is pid 1 there, a small init (root, so the step can signal it no more than any of ours) whose
            # child is the step, in a session of its own.
            report_in, report_out = os.pipe()
            _check(_libc.unshare(CLONE_NEWPID), "unshare (PID namespace)")
            pid = os.fork()
            if pid != 0:
                os.close(report_out)
                _supervise(pid, report_in)
            os.close(report_in)
            if listener is not None:
                listener.close()
            os.setsid()  # pid 1 leads a session inside the namespace, so the step sees its group as 1, not 0
            pid = os.fork()
            if pid != 0:
                _init(pid, report_out)
            os.close(report_out)
            os.setsid()
            in_pid_namespace = True
        _join_fresh_keyring()
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
            _drop_bounding_set()
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)  # from root to a user: every capability is gone, and cannot come back
            if os.getuid() != uid or os.geteuid() != uid:
                raise OSError(f"the step still runs as uid {os.geteuid()}, not {uid}")
        elif not job.get("isolate"):
            # As the grader's own user: another step of that user may not read this one's memory, descriptors or
            # environment through /proc (its channel's address is there).
            _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)  # no setuid program can give privileges back
        if not job.get("isolate"):
            os.umask(0o077)  # what it writes in shared places (/tmp) is its uid's alone
            if job.get("landlock"):
                weak_box_rules(job).apply()
        if rules is not None:
            rules.load()
        os.environ.clear()
        os.environ.update(job["env"])
        return in_pid_namespace
    except BaseException as exc:  # noqa: BLE001 - the reason goes to the step's stderr, then out
        try:
            os.write(2, f"the grading sandbox could not be set up: {exc}\n".encode())
        finally:
            os._exit(97)


PR_CAPBSET_DROP = 24


def _drop_bounding_set() -> None:
    """No capability can come back through an executable's file capabilities (no_new_privs already says so; this
    holds where it could not be set). Needs CAP_SETPCAP, which containers keep; without it, nothing changes."""
    for capability in range(64):
        if _libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0 and ctypes.get_errno() == 22:  # EINVAL: no such cap
            break


def weak_box_rules(job: dict[str, Any]) -> Any:
    """What a step of the weaker box may touch, as Landlock rules: read the system folders, Python and the course's
    public copy (`job["course_root"]`); read and write its own copy, its scratch folder and a few devices; connect to its own
    channel's port only. The checkout (its keys, checks and solutions), other copies and the grader's folders are
    none of these."""
    from .landlock import Rules

    readable = ["/usr", "/bin", "/lib", "/lib64", "/lib32", "/sbin", "/etc", *_python_paths(), job["course_root"]]
    inside = os.path.realpath(job.get("checkout") or str(REPO)) + os.sep
    prefixes = tuple(os.path.realpath(p) + os.sep for p in (sys.prefix, sys.base_prefix))
    for entry in sys.path:  # site-packages and the like, but never the checkout (unless it holds the venv)
        real = os.path.realpath(entry) if entry else ""
        if real and os.path.isdir(real) and (not (real + os.sep).startswith(inside) or (real + os.sep).startswith(prefixes)):
            readable.append(real)
    # Not /tmp, /var/tmp or /dev/shm: every step's files would be beneath them. Its own TMPDIR is its scratch folder.
    writable = [job["work"], *([job["scratch"]] if job.get("scratch") else []), "/dev/null", "/dev/zero", "/dev/urandom",
                "/dev/random", "/dev/tty"]
    return Rules(read=readable, write=writable, connect_port=int(job["connect_port"]) if job.get("connect_port") else None)


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


def _pids_counted(cgroups: list[str]) -> Path | None:
    """The pids cgroup's count of its processes, zombies included until they are reaped; None without one."""
    for folder in cgroups:
        counted = Path(folder, "pids.current")
        if counted.exists():
            return counted
    return None


def leftovers(uid: int | None, cgroups: list[str], ours: tuple[int, ...] = ()) -> bool:
    """Whether anything of a step is left, zombies included: the pids cgroup's count (less `ours`, processes
    of ours that live in the slot's cgroups: the zygote, its namespace host) where there is one, else a scan
    for the uid."""
    counted = _pids_counted(cgroups)
    if counted is not None:
        try:
            return int(counted.read_text()) > len(set(ours) & cgroup_pids(cgroups))
        except (OSError, ValueError):
            pass
    return bool(uid is not None and uid_processes(uid))


def kill_step(uid: int | None, cgroups: list[str], keep: tuple[int, ...] = ()) -> None:
    """Kill everything a step left behind (its cgroup, its uid), reaping what we adopted, until none is left;
    never this process or those in `keep` (the slot's namespace host). The step's processes cannot leave
    its cgroups, so where a pids cgroup counts them (zombies too) its count says when none is left; else
    every process of the uid is looked for."""
    import time

    ours = {os.getpid(), *keep}
    counted = _pids_counted(cgroups)
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


def in_cgroups(cgroups: list[str], pid: str = "self") -> bool:
    """Whether process `pid` is in every one of the cgroup folders `cgroups` already (v1 or v2)."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return False
    places = set()
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            places.add((controller, path))
    for folder in cgroups:
        relative = Path(folder).relative_to(CGROUP_ROOT).parts
        v1 = relative and relative[0] in {c for c, _ in places if c}
        controller, path = (relative[0], "/" + "/".join(relative[1:])) if v1 else ("", "/" + "/".join(relative))
        if not any(path == p and (c == controller or (v1 and controller in c.split(","))) for c, p in places):
            return False
    return True


def join_cgroups(pid: int, cgroups: list[str]) -> None:
    """Put process `pid` (and its future children) into the cgroup folders `cgroups`."""
    for folder in cgroups:
        Path(folder, "cgroup.procs").write_text(str(pid))


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
