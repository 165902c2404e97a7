"""Running the offline API: in the foreground (`course serve`) or detached (`course.connect`).

A detached server is handed an already-listening socket by the script that
started it, so that script never waits for the server to import: connections
queue in the socket's backlog until the server accepts them.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Callable

from ..connect import remove_state_if_ours, write_state_file
from ..errors import CourseError
from .config import ServerConfig


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise CourseError(
                f"port {port} on {host} is already in use.",
                hint="Stop the program using it, or pick another port with --port (0 picks a free one).",
            ) from None
        raise CourseError(f"cannot listen on {host}:{port}: {exc.strerror}.") from None
    sock.listen(512)
    return sock


def raise_open_files(wanted: int = 65536) -> None:
    """As many open files as this process may have (the soft limit up to the hard one): a class's
    connections must not run a server out of descriptors at a common `ulimit -n 1024`."""
    import resource

    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        pass


def _say(message: str) -> None:
    print(message, flush=True)  # flushed: stdout may be a pipe, and a reader may be waiting for the line


def serve(
    config: ServerConfig,
    *,
    fd: int | None = None,
    control_fd: int | None = None,
    state_file: Path | None = None,
    announce: Callable[[str], None] = _say,
) -> None:
    """Serve until stopped. `fd` is an already-listening socket to serve instead of binding host:port;
    `control_fd` a listening Unix socket for the grader's channel requests (see `channels`)."""
    if config.workers > 1 and (config.rate_limit or config.fail_rate):
        raise CourseError(
            "--rate-limit and --fail-rate count requests in one process, so they need a single worker.",
            hint="drop --workers (a class of learners rarely needs more than one worker for teaching faults).",
        )
    if config.workers > 1 and control_fd is not None:
        raise CourseError("channels (--control-fd) live in one process, so they need a single worker.")
    raise_open_files()
    import uvicorn  # noqa: F401  (imported before forking, so that workers share it)

    from .app import OfflineAPI  # noqa: F401

    sock = socket.socket(fileno=fd) if fd is not None else bind(config.host, config.port)
    control = socket.socket(fileno=control_fd) if control_fd is not None else None
    host, port = sock.getsockname()[:2]
    sockets = [sock]
    if config.uds is not None:  # a Unix socket too: the grader's sandboxes reach the API through it only
        sockets.append(bind_unix(config.uds))
    url = f"http://{host}:{port}/v1"
    if state_file is not None:
        write_state_file(state_file, pid=os.getpid(), host=host, port=port, url=url, data_dir=str(config.data_dir),
                         started=time.time())
    if fd is not None:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    workers = f" with {config.workers} workers" if config.workers > 1 else ""
    announce(f"Offline Images API listening on {url}{workers}  (set OPENAI_BASE_URL to this; Ctrl+C stops it)")
    announce(f"Request log and images: {config.data_dir}")
    from .models import unknown_models_note

    newer = unknown_models_note()  # said once, where the server says where it is
    if newer:
        announce(f"note: {newer}")
    try:
        if config.workers > 1:
            _serve_workers(config, sockets)
        else:
            _run_worker(config, sockets, server_pid=os.getpid(), activity=None, control=control)
    finally:
        if state_file is not None:
            remove_state_if_ours(state_file)
        sys.stdout.flush()


def bind_unix(path: Path) -> socket.socket:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    os.chmod(path, 0o666)  # the sandboxes run as other users
    sock.listen(512)
    return sock


def _run_worker(config: ServerConfig, sockets: list[socket.socket], *, server_pid: int, activity: object,
                control: socket.socket | None = None) -> None:
    import uvicorn

    from .app import OfflineAPI
    from .memory import limit_heaps

    limit_heaps()  # before the first thread: see `memory`
    app = OfflineAPI(config, server_pid=server_pid, activity=activity)
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_keep_alive=30,
                       server_header=False, date_header=True)
    )
    app.services.channels.attach(server)
    app.control_socket = control
    app.on_idle = lambda: setattr(server, "should_exit", True)
    server.run(sockets=sockets)


def _serve_workers(config: ServerConfig, sockets: list[socket.socket]) -> None:
    """Fork `config.workers` processes that accept on the same socket; this one only watches them.

    The health check reports this process's pid, so scripts see one server however many workers it
    has; request activity is shared through a RawValue, so the idle timeout covers all of them.
    """
    from multiprocessing.sharedctypes import RawValue

    activity = RawValue("d", time.monotonic())
    parent = os.getpid()
    children: set[int] = set()
    stopping = False

    def start_one() -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            code = 0
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                _run_worker(config, sockets, server_pid=parent, activity=activity)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        children.add(pid)

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for _ in range(config.workers):
        start_one()
    idle = config.idle_timeout
    try:
        while not stopping:
            time.sleep(0.2)
            for pid in list(children):
                done, _status = os.waitpid(pid, os.WNOHANG)
                if done:
                    children.discard(pid)
                    if not stopping:
                        start_one()  # a worker that died is replaced; the others keep serving
            if idle is not None and time.monotonic() - activity.value > idle:
                break
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in children:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
