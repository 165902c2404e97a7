"""Shared fixtures: an isolated user folder for every test, and offline API servers on loopback."""

from __future__ import annotations

pytest_plugins = ["tests.golden_plugin"]

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from course.offline.app import OfflineAPI
from course.offline.config import ServerConfig

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"

# Users' machines (laptops, CI images, Gradescope's container) do not export PYTHONUNBUFFERED; a
# development machine that does would hide every handshake through a buffered pipe. Every process the
# tests start runs without it, as users run it.
os.environ.pop("PYTHONUNBUFFERED", None)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the user folder at a temp dir and forget any real key, so tests never touch real state; stop
    the warm runners of `course try` the test started (they would otherwise wait 20 minutes for work)."""
    home = tmp_path_factory.mktemp("course-home")
    monkeypatch.setenv("COURSE_HOME", str(home))
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE", "COURSE_LIVE", "COURSE_OFFLINE_DATA_DIR",
                 "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)
    yield home
    stop_warm_runners(tmp_path_factory.getbasetemp())


def warm_runners(under: Path) -> list[int]:
    """The pids of warm runners whose socket lies under `under`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"course.terminal.warm" in argv and b"serve" in argv and any(a.startswith(str(under).encode()) for a in argv):
            found.append(int(entry.name))
    return found


def stop_warm_runners(under: Path) -> None:
    for pid in warm_runners(under):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def api_processes(out: Path) -> list[int]:
    """The pids of the offline API a grading run into `out` started (its data folder is in its command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"serve" in cmd and str(out).encode() in cmd:
                found.append(int(entry.name))
    return found


class FakeClock:
    """A wall clock that tests move by hand."""

    def __init__(self, start: float | None = None) -> None:
        self.now = float(int(start if start is not None else time.time()))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class RunningServer:
    app: OfflineAPI
    base_url: str
    root_url: str
    clock: FakeClock
    data_dir: Path
    port: int
    clients: list[Any]

    def client(self, **kwargs: Any) -> Any:
        """A real `openai.OpenAI` client for this server (closed when the test ends)."""
        from openai import OpenAI

        kwargs.setdefault("api_key", "sk-test-0123456789abcdef")
        kwargs.setdefault("max_retries", 0)
        client = OpenAI(base_url=self.base_url, **kwargs)
        self.clients.append(client)
        return client


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    """Start offline API servers (uvicorn in a thread, real HTTP on loopback); all stopped at the end."""
    import uvicorn

    running: list[tuple[uvicorn.Server, threading.Thread]] = []
    started: list[RunningServer] = []

    def start(**config: Any) -> RunningServer:
        clock = FakeClock(config.pop("clock_start", None))
        data_dir = config.pop("data_dir", tmp_path / f"data{len(running)}")
        app = OfflineAPI(ServerConfig(data_dir=data_dir, **config), clock=clock)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="on", access_log=False))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("offline API did not start")
            time.sleep(0.01)
        running.append((server, thread))
        root = f"http://127.0.0.1:{port}"
        started.append(RunningServer(app, root + "/v1", root, clock, data_dir, port, []))
        return started[-1]

    yield start
    for each in started:
        for client in each.clients:
            client.close()
    for server, thread in running:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def server(start_server: Callable[..., RunningServer]) -> RunningServer:
    return start_server()


def as_nobody() -> list[str] | None:
    """A prefix that runs a command as an unprivileged user (nobody), when this runs as root; else None.
    Where the checkout's Python lives in a folder only root may enter (a pyenv under /root, say), that
    user is given the one capability of reading files (CAP_DAC_READ_SEARCH) and nothing else of root's."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return None
    plain = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    reader = plain[:-1] + ["--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search", "--"]
    probe = "import subprocess, sys, grader.grade; subprocess.run([sys.executable, '-c', '0'], check=True)"
    for prefix in (plain, reader):
        done = subprocess.run([*prefix, sys.executable, "-c", probe], cwd="/", capture_output=True,
                              env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)})
        if done.returncode == 0:
            return prefix
    return None
