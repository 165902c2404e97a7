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


def serve(
    config: ServerConfig,
    *,
    fd: int | None = None,
    state_file: Path | None = None,
    announce: Callable[[str], None] = print,
) -> None:
    import uvicorn

    from .app import OfflineAPI

    sock = socket.socket(fileno=fd) if fd is not None else bind(config.host, config.port)
    host, port = sock.getsockname()[:2]
    app = OfflineAPI(config)
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_keep_alive=30,
                       server_header=False, date_header=True)
    )
    app.on_idle = lambda: setattr(server, "should_exit", True)
    url = f"http://{host}:{port}/v1"
    if state_file is not None:
        write_state_file(state_file, pid=os.getpid(), host=host, port=port, url=url, data_dir=str(config.data_dir),
                    started=time.time())
    signal.signal(signal.SIGHUP, signal.SIG_IGN) if fd is not None else None
    announce(f"Offline Images API listening on {url}  (set OPENAI_BASE_URL to this; Ctrl+C stops it)")
    announce(f"Request log and images: {config.data_dir}")
    try:
        server.run(sockets=[sock])
    finally:
        if state_file is not None:
            remove_state_if_ours(state_file)
        sys.stdout.flush()
