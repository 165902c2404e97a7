"""A private offline Images API for one grading run: its own request log, and a channel per step.

Start-up never waits on the server's output: the grader binds the listening sockets itself and hands
them to `course serve`, so connections simply queue until the server accepts them, whatever the
environment buffers (a pipe that is never flushed once hid the server's "listening" line from the
grader on every machine without PYTHONUNBUFFERED). The server's own output goes to `server.log`
in the data folder, which is what an error quotes when the server cannot start.

Each step reaches the API through a channel opened for it (see `course.offline.channels`): a Unix
socket bound into its box, or a loopback port of its own where there is no box, reached through a
secret path prefix that only that step is given. The request log names the channel of every request,
so a step's requests are its own whatever key they carry. The server's own port, which any process may
find, answers nothing outside a channel (the real 404).

The server runs under a memory limit (`MEMORY`): its data segment is limited (RLIMIT_DATA), so an
allocation past it fails inside the server, which answers that request with an error and serves the
next; where we are root and cgroups are writable, it also gets a memory cgroup of its own a little
above that, so nothing of it can take the machine's memory either.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from course.errors import CourseError

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60.0  # a cold start imports uvicorn, starlette and Pillow: seconds on a slow disk
CALL_TIMEOUT = 30.0
# The server's data segment (RLIMIT_DATA: its heaps, its threads' stacks, every picture and body it holds).
# Measured (benchmarks/bench_api_memory.py, 8 runs at once): 0.02 GB idle, 0.2 GB for a class of honest
# runs, 1.5 GB for 8 hostile runs spending their whole budgets (0.9 GB of it resident). Past the limit a
# request gets a 500, never the server.
MEMORY = 3 * 1024**3
CGROUP_HEADROOM = 512 * 1024**2  # the cgroup's limit is MEMORY plus this: code, libraries, page cache
CGROUP_ROOT = Path("/sys/fs/cgroup")


class APIFault(Exception):
    """The private API failed (died, stopped answering): a fault of ours, never a learner's."""


def _die_with_parent() -> None:
    """Linux: the server gets SIGTERM if the grader dies (killed halfway), instead of running on orphaned."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _limit_data(limit: int) -> None:
    """In the server's process, before it starts: its data segment at most `limit` bytes."""
    import resource

    try:
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    except (ValueError, OSError):
        pass  # a hard limit already lower: that one holds


def memory_cgroup(name: str, limit: int) -> Path | None:
    """A memory cgroup of its own for the server (v1 or v2, as `sandbox.make_cgroups` makes the steps'), or None
    where this process may not make one (not root, cgroups read-only or absent)."""
    if os.geteuid() != 0:
        return None
    v2 = (CGROUP_ROOT / "cgroup.controllers").exists()
    base = CGROUP_ROOT / "course-grader" if v2 else CGROUP_ROOT / "memory" / "course-grader"
    _remove_abandoned(base)
    folder = base / name
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if v2:
            for parent in (CGROUP_ROOT, base):
                try:
                    (parent / "cgroup.subtree_control").write_text("+memory")
                except OSError:
                    pass
        (folder / ("memory.max" if v2 else "memory.limit_in_bytes")).write_text(str(limit))
        return folder
    except OSError:
        _remove_cgroup(folder)
        return None


def _remove_abandoned(base: Path) -> None:
    """Remove the empty cgroups of servers whose grader was killed before it could (a minute old at least,
    so that one just made, its server not yet in it, stays)."""
    for folder in base.glob("api-*"):
        try:
            if time.time() - folder.stat().st_mtime > 60 and not (folder / "cgroup.procs").read_text().strip():
                folder.rmdir()
        except OSError:
            pass  # in use after all, or already gone


def _remove_cgroup(folder: Path | None) -> None:
    """Remove the server's cgroup once it has stopped (an empty cgroup is removed with rmdir)."""
    if folder is None:
        return
    for _ in range(50):
        try:
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)


def _start_server(limit: int, cgroup: Path | None) -> None:
    """Run in the server's process between fork and exec: die with the grader, within its memory."""
    _die_with_parent()
    _limit_data(limit)
    if cgroup is not None:
        try:
            (cgroup / "cgroup.procs").write_text(str(os.getpid()))
        except OSError:
            pass  # the data limit still holds


@dataclass
class Channel:
    name: str
    kind: str  # "unix" (a socket bound into the step's box) or "tcp" (a loopback port)
    address: str  # the socket's path, or "127.0.0.1:PORT"
    prefix: str = ""  # a TCP channel's secret path prefix ("/c/…"): only its step knows it; "" for Unix

    @property
    def base_url(self) -> str:
        """The URL a step outside a box uses (a box forwards its own loopback port to the socket)."""
        return f"http://{self.address}{self.prefix}/v1"


def _call(control: str, method: str, route: str, body: dict | None = None, timeout: float = CALL_TIMEOUT) -> dict:
    """One HTTP request on the control socket (a Unix socket), answered as JSON."""
    data = json.dumps(body).encode() if body is not None else b""
    head = (f"{method} {route} HTTP/1.1\r\nHost: grader\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n").encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(control)
        s.sendall(head + data)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    raw = b"".join(chunks)
    status_line, _, rest = raw.partition(b"\r\n")
    _, _, payload = rest.partition(b"\r\n\r\n")
    try:
        status = int(status_line.split()[1])
        answer = json.loads(payload) if payload else {}
    except (IndexError, ValueError):
        raise APIFault(f"the offline Images API answered the grader with {raw[:80]!r}") from None
    if status != 200:
        raise APIFault(f"the offline Images API refused {method} {route}: {answer.get('error', status)}")
    return answer


class PrivateAPI:
    """A running `course serve` for one grading run (see `private_api`)."""

    def __init__(self, proc: subprocess.Popen[bytes], data_dir: Path, sockets: Path, base_url: str,
                 memory: int = MEMORY, cgroup: Path | None = None) -> None:
        self.proc = proc
        self.data_dir = data_dir
        self.sockets = sockets  # a folder only the grader can enter: the control socket and the Unix channels
        self.control = str(sockets / "control.sock")
        self.base_url = base_url
        self.memory = memory  # the server's data segment limit, in bytes
        self.cgroup = cgroup  # its memory cgroup, where one could be made

    def log_tail(self, lines: int = 3) -> str:
        try:
            text = (self.data_dir / "server.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return " / ".join(text.strip().splitlines()[-lines:])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def health(self, timeout: float = 5.0) -> bool:
        try:
            return bool(_call(self.control, "GET", "/__course__/health", timeout=timeout).get("ok"))
        except (OSError, APIFault):
            return False

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                break
            try:
                if _call(self.control, "GET", "/__course__/health", timeout=max(1.0, deadline - time.monotonic())).get("ok"):
                    return
            except (OSError, APIFault):
                time.sleep(0.05)
        tail = self.log_tail()
        why = "it stopped" if not self.alive() else f"it did not answer within {timeout:g} s"
        raise CourseError(f"the offline Images API for grading did not start: {why}" + (f" ({tail})" if tail else "."),
                          hint=f"its output is in {self.data_dir / 'server.log'}; `course serve` by hand shows it too.")

    def open_channel(self, kind: str) -> Channel:
        if not self.alive():
            raise APIFault("the offline Images API for grading has stopped" + (f" ({self.log_tail(1)})" if self.log_tail(1) else ""))
        try:
            answer = _call(self.control, "POST", "/__course__/channels", {"name": secrets.token_hex(12), "kind": kind})
        except OSError as exc:
            raise APIFault(f"the offline Images API for grading does not answer ({exc.strerror or exc})") from None
        return Channel(answer["name"], answer["kind"], answer["address"], answer.get("prefix") or "")

    def codio_points(self, name: str) -> list[dict]:
        """What the test run on channel `name` sent to Codio's partial points URLs (taken: asked again, nothing)."""
        try:
            return list(_call(self.control, "GET", f"/__course__/codio-points/{name}").get("sent") or [])
        except OSError as exc:
            raise APIFault(f"the offline Images API for grading does not answer ({exc.strerror or exc})") from None

    def close_channel(self, channel: Channel) -> None:
        try:
            _call(self.control, "DELETE", f"/__course__/channels/{channel.name}")
        except (OSError, APIFault):
            pass  # a server that died is reported by the next open_channel; nothing here to lose


@contextmanager
def private_api(data_dir: Path, memory: int = MEMORY) -> Iterator[PrivateAPI]:
    """Start `course serve` for a grading run, within `memory` bytes of data; stop it at the end (or when
    the grader dies)."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    # Short (a Unix socket path has ~100 characters) and private (0700: no step can reach the control socket).
    sockets = Path(tempfile.mkdtemp(prefix="course-api-"))
    main = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    main.bind(("127.0.0.1", 0))
    main.listen(128)
    control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    control.bind(str(sockets / "control.sock"))
    control.listen(64)
    from .box.environment import python_env

    # A minimal environment: a step without root could read it through /proc, and no setting of the shell's
    # (a key file, a rate limit) may change how the private API answers, and so a grade.
    env = python_env()
    base_url = f"http://127.0.0.1:{main.getsockname()[1]}/v1"
    cgroup = memory_cgroup(f"api-{os.getpid()}-{secrets.token_hex(4)}", memory + CGROUP_HEADROOM)
    try:
        with open(data_dir / "server.log", "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "course", "serve", "--fd", str(main.fileno()), "--control-fd",
                 str(control.fileno()), "--channel-dir", str(sockets), "--data-dir", str(data_dir),
                 # A seed of its own each run: a step cannot draw the picture it should have asked for.
                 "--seed", str(secrets.randbelow(2**31))],
                pass_fds=(main.fileno(), control.fileno()), stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                env=env, cwd=str(data_dir), start_new_session=True,
                preexec_fn=functools.partial(_start_server, memory, cgroup),
            )
    except BaseException:
        _remove_cgroup(cgroup)
        raise
    finally:
        main.close()
        control.close()
    api = PrivateAPI(proc, data_dir, sockets, base_url, memory, cgroup)
    try:
        api.wait_ready()
        yield api
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        shutil.rmtree(sockets, ignore_errors=True)
        _remove_cgroup(cgroup)
