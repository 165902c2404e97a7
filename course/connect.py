"""The one line a learner's script needs: `import course.auto` (or `course.connect()`).

With no `OPENAI_API_KEY`, it finds this user's running offline Images API or
starts one in the background, then points the real `openai` SDK at it through
`OPENAI_BASE_URL` / `OPENAI_API_KEY` (and the 0.x SDK's `OPENAI_API_BASE`).
With a key, it leaves the SDK pointed at OpenAI, unless the lesson's model has
been retired there; `COURSE_LIVE=1` (or `live=True`) forces the real service.

Standard library only, and no work beyond a file read and one loopback round
trip when a server is already running: this runs at the top of every step.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .paths import offline_data_dir, server_dir

DEFAULT_PORT = 8765
IDLE_TIMEOUT = 2 * 3600
RETIRED = {"dall-e-2": "2026-05-12", "dall-e-3": "2026-05-12", "gpt-image-1": "2026-10-23"}
LESSON_MODEL = "dall-e-2"
OPENAI_HOSTS = ("api.openai.com",)


@dataclass
class Connection:
    mode: str  # "offline" or "live"
    base_url: str | None
    started: bool = False
    reason: str = ""


def _say(message: str, quiet: bool) -> None:
    if not quiet:
        print(f"course: {message}", file=sys.stderr, flush=True)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def connect(*, model: str = LESSON_MODEL, live: bool | None = None, quiet: bool = False) -> Connection:
    """Point the `openai` SDK at the right Images API for `model`; see the module docstring."""
    base = os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_BASE")
    if base and not any(host in base for host in OPENAI_HOSTS):
        # Someone (the grader, a notebook, the learner) already chose a server: respect it.
        os.environ.setdefault("OPENAI_BASE_URL", base)
        os.environ.setdefault("OPENAI_API_BASE", base)
        _patch_loaded_sdk(base)
        return Connection("offline", base, reason="OPENAI_BASE_URL was already set")
    key = os.environ.get("OPENAI_API_KEY")
    force_live = _truthy(os.environ.get("COURSE_LIVE")) if live is None else live
    if force_live or (key and model not in RETIRED):
        return Connection("live", base, reason="live use forced" if force_live else "OPENAI_API_KEY is set")
    url, started = ensure_server()
    os.environ["OPENAI_BASE_URL"] = url
    os.environ["OPENAI_API_BASE"] = url
    if not key:
        os.environ["OPENAI_API_KEY"] = "sk-offline-" + _user()
        how = "started it in the background" if started else "already running"
        _say(f"no OPENAI_API_KEY set, so this uses the offline Images API at {url} ({how}).", quiet)
        reason = "no OPENAI_API_KEY"
    else:
        _say(
            f"{model} was retired by OpenAI on {RETIRED[model]}, so this uses the offline Images API at {url} "
            "even though OPENAI_API_KEY is set (COURSE_LIVE=1 calls OpenAI anyway).",
            quiet,
        )
        reason = f"{model} is retired"
    _patch_loaded_sdk(url)
    return Connection("offline", url, started=started, reason=reason)


def _user() -> str:
    try:
        import getpass

        return getpass.getuser()
    except Exception:
        return "learner"


def _patch_loaded_sdk(url: str) -> None:
    """An `openai` 0.x imported before this line read OPENAI_API_BASE already; tell it too."""
    sdk = sys.modules.get("openai")
    if sdk is not None and hasattr(sdk, "api_base"):
        sdk.api_base = url  # type: ignore[attr-defined]
        sdk.api_key = os.environ.get("OPENAI_API_KEY")  # type: ignore[attr-defined]


# --- the shared background server ------------------------------------------------------


def _read_state(path: Path) -> dict | None:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        return state if isinstance(state, dict) and "pid" in state and "port" in state else None
    except (OSError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def probe(host: str, port: int, timeout: float = 10.0) -> int | None:
    """The pid the offline API at host:port reports, or None if nothing answers as one."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(b"GET /__course__/health HTTP/1.1\r\nHost: course\r\nConnection: close\r\n\r\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
    except OSError:
        return None
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        return None
    try:
        return int(json.loads(body)["pid"])
    except (ValueError, KeyError, TypeError):
        return None


def running_server(state_file: Path | None = None, timeout: float = 10.0) -> dict | None:
    """The state of this user's live background server, or None (a stale state file counts as none)."""
    state = _read_state(state_file or server_dir() / "state.json")
    if state is None or not _pid_alive(int(state["pid"])):
        return None
    if probe(state.get("host", "127.0.0.1"), int(state["port"]), timeout) != state["pid"]:
        return None
    return state


def ensure_server() -> tuple[str, bool]:
    """(base URL, whether it was started now). One server per user, however many scripts race here."""
    folder = server_dir()
    state_file = folder / "state.json"
    state = running_server(state_file)
    if state is not None:
        return state["url"], False
    folder.mkdir(parents=True, exist_ok=True)
    with _Lock(folder / "lock"):
        state = running_server(state_file)  # someone may have won the race while we waited
        if state is not None:
            return state["url"], False
        return _spawn(folder, state_file), True


def _spawn(folder: Path, state_file: Path) -> str:
    host = "127.0.0.1"
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Connections of a server that just stopped linger in TIME_WAIT; they must not cost us the port.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, DEFAULT_PORT))
    except OSError:  # the default port is taken: any free one will do
        sock.bind((host, 0))
    sock.listen(512)
    port = sock.getsockname()[1]
    url = f"http://{host}:{port}/v1"
    package_root = str(Path(__file__).resolve().parent.parent)
    python = server_python(Path(package_root))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    for name in ("OPENAI_BASE_URL", "OPENAI_API_BASE", "OPENAI_API_KEY"):
        env.pop(name, None)
    data_dir = os.environ.get("COURSE_OFFLINE_DATA_DIR") or str(offline_data_dir())
    with open(folder / "server.log", "ab") as log:
        proc = subprocess.Popen(
            [python, "-m", "course", "serve", "--fd", str(sock.fileno()), "--data-dir", data_dir,
             "--idle-timeout", str(IDLE_TIMEOUT), "--state-file", str(state_file)],
            pass_fds=(sock.fileno(),), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            start_new_session=True, cwd=str(folder), env=env,
        )
    sock.close()
    _wait_until_up(proc, host, port, folder / "server.log")
    write_state_file(state_file, pid=proc.pid, host=host, port=port, url=url, data_dir=data_dir, started=time.time())
    return url


SERVER_PACKAGES = ("uvicorn", "starlette", "PIL", "multipart")


def server_python(package_root: Path) -> str:
    """An interpreter that can run the server: this one, `$COURSE_PYTHON`, or the course's own venv.

    A learner may run the lesson under another environment (the 0.x SDK's, say) with only `course`
    on the path; the server then runs under the interpreter the course was installed with.
    """
    import importlib.util

    missing = [name for name in SERVER_PACKAGES if importlib.util.find_spec(name) is None]
    if not missing:
        return sys.executable
    for candidate in (os.environ.get("COURSE_PYTHON"), package_root / ".venv" / "bin" / "python"):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    from .errors import CourseError

    raise CourseError(
        f"the offline Images API cannot start: this Python ({sys.executable}) lacks {', '.join(missing)}.",
        hint="install the course here (pip install -r requirements.txt), or set COURSE_PYTHON to a Python that has it.",
    )


def _wait_until_up(proc: subprocess.Popen, host: str, port: int, log: Path, timeout: float = 30.0) -> None:
    """Block until the new server answers, so that a server that cannot start says why, not 'Connection refused'."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if probe(host, port, timeout=min(2.0, timeout)) == proc.pid:
            return
        time.sleep(0.02)
    from .errors import CourseError

    try:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
    except OSError:
        tail = []
    if proc.poll() is None:
        proc.kill()
    raise CourseError(
        "the offline Images API did not start" + (f": {tail[-1]}" if tail else "."),
        hint=f"see {log} for the whole story.",
    )


def write_state_file(path: Path, **state: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(state), encoding="utf-8")
    os.replace(tmp, path)


def remove_state_if_ours(path: Path) -> None:
    state = _read_state(path)
    if state is not None and state.get("pid") == os.getpid():
        try:
            path.unlink()
        except OSError:
            pass


class _Lock:
    """An exclusive lock on a file, held across processes (flock), released on exit or death."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = -1

    def __enter__(self) -> "_Lock":
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            import fcntl

            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except ImportError:  # no flock (Windows): the race is only a second server, not a failure
            pass
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)
