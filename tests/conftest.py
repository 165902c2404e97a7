"""Shared fixtures: an isolated user folder for every test, and offline API servers on loopback."""

from __future__ import annotations

pytest_plugins = ["tests.golden_plugin", "tests.full_plugin"]

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

def _beside_the_checkout(path: str) -> bool:
    """Whether `path` lies in a folder beside the checkout (`../shared`, `../data`): a clone has none of them, so no
    test may read one. Hidden folders there (a home's `.cache`, `.local`) and Python's own folders are not that."""
    parent = REPO.parent
    if parent == Path(parent.anchor):  # a checkout at the top of the filesystem: every folder is beside it
        return False
    full = Path(os.path.abspath(path))
    if parent not in full.parents:
        return False
    first = full.relative_to(parent).parts[0]
    if first == REPO.name or first.startswith("."):
        return False
    import tempfile

    own = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, tempfile.gettempdir())}
    own = {root for root in own if root != parent and root not in parent.parents}  # /tmp holding a clone is no excuse
    return not any(root == full or root in full.parents for root in own)


def _no_reading_beside_the_checkout(event: str, args: tuple) -> None:
    if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.fsdecode(args[0])
        if _beside_the_checkout(path):
            raise PermissionError(f"a test opened {path}, outside the checkout: a clone has nothing beside it, so "
                                  "copy what the test needs into the repository (e.g. tests/data/)")


sys.addaudithook(_no_reading_beside_the_checkout)

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
        if b"course.terminal.warm_main" in argv and b"serve" in argv and any(a.startswith(str(under).encode()) for a in argv):
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


GRADING_UID = 62000  # the first uid the grader's slots use: the user a step runs as, when the grader is root


def _others_can_read(python: Path) -> bool:
    from grader.public import reaches

    return Path(python) in reaches(GRADING_UID, [Path(python)]) and Path(os.__file__) in reaches(GRADING_UID, [Path(os.__file__)])


@pytest.fixture(scope="session")
def readable_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Python with the grader's packages that a step's own uid can read and run, as on Gradescope (the system's
    python3 with what setup.sh installs) and in Docker's python images: this venv's, when others can read it,
    else a venv made from the system's Python 3.11+ with the versions the bundle pins. Its `bin` folder is
    returned. Skips where there is neither (not root, or no such Python)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to look at the machine as a step's uid does")
    if _others_can_read(Path(sys.executable)) and _others_can_read(Path(os.path.realpath(sys.executable))):
        return Path(sys.executable).parent
    import hashlib
    import tomllib

    # The grader's own dependencies, as pyproject.toml ranges them: pip picks what that Python may install.
    lock = "\n".join(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]) + "\n"

    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        done = subprocess.run([candidate, "-c", "import sys, venv, ensurepip; assert sys.version_info >= (3, 11)"],
                              capture_output=True) if os.path.exists(candidate) else None
        if done is None or done.returncode != 0:
            continue
        tag = hashlib.sha256((candidate + lock).encode()).hexdigest()[:12]
        venv = Path(f"/tmp/course-readable-python-{tag}")  # kept between sessions on one machine: it takes ~20 s
        if not (venv / "ready").exists():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([candidate, "-m", "venv", str(venv)], check=True)
            (venv / "requirements.lock").write_text(lock)
            subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-r", str(venv / "requirements.lock")],
                           check=True)
            for path in [venv, *venv.rglob("*")]:
                if not path.is_symlink():
                    path.chmod(path.stat().st_mode | 0o444 | (0o111 if path.is_dir() else 0))
            (venv / "ready").write_text("")
        return venv / "bin"
    pytest.skip("no Python 3.11+ here that a step's uid can read (this one lives in a private folder)")


# Docker's default capabilities (and so Gradescope's, Kubernetes' without privileges): root, without CAP_SYS_ADMIN.
DOCKER_CAPABILITIES = ["setpriv", "--bounding-set", "-all,+chown,+dac_override,+fowner,+fsetid,+kill,+setgid,+setuid,"
                       "+setpcap,+net_bind_service,+net_raw,+sys_chroot,+mknod,+audit_write,+setfcap", "--"]

# A container whose seccomp profile does not know Landlock (older Docker engines): its calls answer ENOSYS.
_NO_LANDLOCK = """
import errno, os, sys
import pyseccomp as seccomp
rules = seccomp.SyscallFilter(seccomp.ALLOW)
for name in ("landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self"):
    rules.add_rule(seccomp.ERRNO(errno.ENOSYS), name)
rules.load()
os.execvp(sys.argv[1], sys.argv[1:])
"""


def without_landlock(python: Path | None = None) -> list[str]:
    """A prefix that runs a command where Landlock's calls answer ENOSYS; `python` is a bin folder whose Python
    (with pyseccomp) the command's user may run (default: this one)."""
    return [str(python / "python") if python else sys.executable, "-c", _NO_LANDLOCK]


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A fresh folder under /tmp that every user may enter (as /autograder or a class folder is), removed after:
    pytest's own temp folders are private to root, which would hide everything in them from a step's uid."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="course-test-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def autograder_layout(base: Path, lessons: list[str] | None = None, python: Path | None = None) -> Path:
    """Gradescope's layout under `base/autograder`: the bundle unzipped in source/, and `base/bin/python3` being this
    Python, or the one in the `python` bin folder (what setup.sh would have installed)."""
    import zipfile

    from grader.bundle import make_bundle

    root = base / "autograder"
    root.mkdir()
    root.chmod(0o755)
    with zipfile.ZipFile(make_bundle(base / "autograder.zip", REPO, lessons=lessons)) as archive:
        archive.extractall(root / "source")
    for name in ("setup.sh", "run_autograder"):
        (root / "source" / name).chmod(0o755)
    shims = base / "bin"
    shims.mkdir(exist_ok=True)
    executable = python / "python" if python is not None else Path(sys.executable)
    (shims / "python3").write_text(f'#!/bin/sh\nexec "{executable}" "$@"\n')
    (shims / "python3").chmod(0o755)
    return root


def checkout_copy(base: Path) -> Path:
    """What grading needs of the checkout, copied where every user may enter (as a clone in a container is): the
    grader makes the secrets of the checkout it grades from private when steps run as uids of their own, and this
    checkout must stay as it is."""
    copy = base / "checkout"
    for name in ("course", "grader", "solutions"):
        shutil.copytree(REPO / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", copy / "pyproject.toml")
    for path in [copy, *copy.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return copy
