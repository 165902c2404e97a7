"""The warm runner behind `course try`: the SDK imported once, a fresh process for every try.

`import openai` alone takes most of a second, and `course try N` paid it on every run. The warm runner
is a background process, one per user, per Python and per copy of the course, that has imported the
SDK, the course and what `course try` shows its results with (rich, Pillow) once. It listens on a Unix
socket in a folder only its user can enter. `course try` sends it its arguments, folder, environment
and its standard streams themselves (the file descriptors, over the socket); the runner forks a fresh
process that runs the command there as if it had been started in the terminal, and the step runs in
a fork of that exactly as `python imageGen.py N` would (`course.scripts.run_as_main`): its own
`__main__`, `sys.argv`, folder, environment and output, nothing carried over from an earlier try. Its
output is unbuffered (as `python -u`) and read as it comes, so that `course try` shows it live.

- Started on first use: that try runs the usual way, and starts the runner as it ends.
- Restarted when the installed packages or the course itself change: each request carries a
  fingerprint (the Python, the `PYTHON*` settings, the folders on `sys.path`, the course's files);
  a runner with another answers "stale" and stops, and a new one starts.
- Stopped after `IDLE` seconds without a request (`COURSE_WARM_IDLE` sets another), and by `course stop`.
- Bypassed (the try runs as before) where it cannot be exact: a folder holding a module named like one
  the runner has imported (an `openai.py` of the learner's), no `fork` or no passing of descriptors,
  or `COURSE_WARM=0`.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any, Callable

IDLE = 20 * 60  # seconds without a request before the runner stops
inside = False  # True in a process the runner forked for a command: it runs the command itself
pending: Path | None = None  # a runner to start when this command is done (none answered it)
HEADER_LIMIT = 4 * 1024 * 1024
PACKAGE = Path(__file__).resolve().parents[1]  # the `course` package
BYPASS = "COURSE_WARM"


# -- where it lives, and whether it is the right one -------------------------------------------------

def _key() -> str:
    from ..paths import user_dir

    text = "\0".join([os.path.realpath(sys.executable), str(PACKAGE), str(user_dir().expanduser().resolve())])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _private_dir(path: Path) -> Path | None:
    """`path`, made (0700) if missing, if it is a real folder of this user that nobody else may enter."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(path)
    except OSError:
        return None
    import stat

    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        return None
    return path


def socket_path() -> Path | None:
    """The runner's socket: in the course's state folder, or in a private folder under the temporary
    folder when that path would be too long for a Unix socket. None when neither is safe."""
    from ..paths import user_dir

    key = _key()
    folder = _private_dir(user_dir() / "warm")
    if folder is not None and len(str(folder / f"{key}.sock")) < 100:
        return folder / f"{key}.sock"
    import tempfile

    folder = _private_dir(Path(tempfile.gettempdir()) / f"course-warm-{os.getuid()}")
    return folder / f"{key}.sock" if folder is not None else None


def fingerprint() -> str:
    """What the runner's imports depend on: the Python, its `PYTHON*` settings, the folders on sys.path
    (a folder's time changes when a package is installed into it or removed) and the course's files."""
    parts = [os.path.realpath(sys.executable), sys.version]
    parts += [f"{k}={v}" for k, v in sorted(os.environ.items())
              if k.startswith("PYTHON") and k not in ("PYTHONUNBUFFERED", "PYTHONIOENCODING", "PYTHONDONTWRITEBYTECODE")]
    for entry in sys.path[1:]:
        try:
            parts.append(f"{entry}:{os.stat(entry or '.').st_mtime_ns}")
        except OSError:
            parts.append(f"{entry}:-")
    for folder, dirs, files in os.walk(PACKAGE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith((".py", ".json", ".md")):
                try:
                    parts.append(f"{name}:{os.stat(os.path.join(folder, name)).st_mtime_ns}")
                except OSError:
                    continue
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def usable() -> bool:
    return (os.environ.get(BYPASS, "1") != "0" and hasattr(os, "fork") and hasattr(socket, "send_fds")
            and hasattr(socket, "AF_UNIX"))


# -- the client: `course try` --------------------------------------------------------------------------

def run(argv: list[str]) -> int | None:
    """Run `course ARGV` in the warm runner, with this process's folder, environment and standard streams;
    its exit status, or None when it cannot be run there (the caller runs it itself, then calls
    `start_pending()` to start a runner for the next time when none answered)."""
    global pending
    if inside or not usable():
        return None
    path = socket_path()
    if path is None:
        return None
    conn = _connect(path)
    if conn is None:
        pending = path  # started once this command is done, so that its warm-up does not slow this one
        return None
    try:
        cwd = os.getcwd()
    except OSError:  # a folder removed under the shell: the command says so itself
        conn.close()
        return None
    with conn:
        header = {"argv": argv, "cwd": cwd, "env": dict(os.environ), "fingerprint": fingerprint()}
        try:
            socket.send_fds(conn, [json.dumps(header).encode() + b"\n"], [0, 1, 2])
        except OSError:
            return None
        with conn.makefile("rb") as reader:
            first = _read_reply(reader)
            if first is None or first.get("stale") or "pid" not in first:
                if first is not None and first.get("stale"):
                    _wait_gone(path)
                    pending = path
                return None
            return _wait_for_exit(reader, int(first["pid"]))


def _connect(path: Path) -> socket.socket | None:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(path))
    except OSError:
        conn.close()
        return None
    return conn


def _read_reply(reader: Any) -> dict[str, Any] | None:
    try:
        line = reader.readline(HEADER_LIMIT)
    except OSError:
        return None
    if not line:
        return None
    try:
        reply = json.loads(line)
    except ValueError:
        return None
    return reply if isinstance(reply, dict) else None


def _wait_for_exit(reader: Any, pid: int) -> int:
    """Wait for the runner's process to say how the command ended, passing Ctrl-C (and a TERM or HUP sent
    to this process) on to it, as a terminal would have sent it to a command it started itself."""
    def forward(signum: int, _frame: Any) -> None:
        try:
            os.killpg(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        while True:
            reply = _read_reply(reader)
            if reply is None:
                print("course: the warm runner's process for this try ended without a result; run the command again "
                      f"(or with {BYPASS}=0 to run it without the runner).", file=sys.stderr)
                return 70
            if "exit" in reply:
                return int(reply["exit"])
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def _wait_gone(path: Path, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.01)


def start_pending() -> None:
    """Start the runner this command found missing (or stale), now that the command itself is done."""
    global pending
    if pending is not None:
        path, pending = pending, None
        start(path)


def start(path: Path) -> None:
    """Start a runner in the background, for the next try."""
    import subprocess

    from ..paths import user_dir

    log = user_dir() / "warm" / "runner.log"
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        out = open(log, "ab")
    except OSError:
        out = None
    try:
        subprocess.Popen([sys.executable, "-m", "course.terminal.warm_main", "serve", str(path)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=out or subprocess.DEVNULL,
                         cwd=str(PACKAGE.parent), start_new_session=True, close_fds=True)
    except OSError:
        pass
    finally:
        if out is not None:
            out.close()


def stop() -> bool:
    """Stop this user's runner, if one runs; whether one did."""
    path = socket_path()
    if path is None:
        return False
    conn = _connect(path)
    if conn is None:
        return False
    with conn:
        try:
            socket.send_fds(conn, [json.dumps({"stop": True}).encode() + b"\n"], [0, 1, 2])
            with conn.makefile("rb") as reader:
                reply = _read_reply(reader) or {}
        except OSError:
            reply = {}
    pid = reply.get("stopped")
    deadline = time.monotonic() + 5
    while isinstance(pid, int) and time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            break
        time.sleep(0.01)
    return True


# -- the runner -------------------------------------------------------------------------------------------

def warm_up() -> set[str]:
    """Import what every try would otherwise import again; the top-level names now imported."""
    import base64  # noqa: F401
    import sqlite3  # noqa: F401
    import urllib.request  # noqa: F401

    import openai
    import openai.resources.images  # noqa: F401
    from PIL import Image, PngImagePlugin  # noqa: F401
    from rich.console import Console  # noqa: F401
    from rich.style import Style  # noqa: F401
    from rich.text import Text  # noqa: F401

    from .. import connect, steps  # noqa: F401
    import dis  # noqa: F401  (the runner reads whether an earlier step hands anything back)

    from .. import handoffs, hints  # noqa: F401
    from ..lesson import checks, explain, fingerprints, lessons, progress  # noqa: F401
    from ..offline import requestlog  # noqa: F401
    from . import trying  # noqa: F401  (the command itself was imported by whoever called serve)

    client = openai.OpenAI(api_key="sk-warm", base_url="http://127.0.0.1:9/v1")
    _ = client.images  # the SDK imports its resources lazily
    client.close()
    hints.catalogue()
    lessons.all_lessons()
    return {name.split(".")[0] for name in sys.modules}


def serve(path: Path, command: Callable[[list[str]], int]) -> None:
    """Listen at `path` and run `command` (the course CLI's) in a fresh fork for each try sent to it."""
    import fcntl

    lock = os.open(str(path) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + 5  # a stale runner this one replaces may still be stopping
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError:
            if time.monotonic() > deadline:
                return  # another runner for this key is running
            time.sleep(0.05)
    own = fingerprint()
    preloaded = warm_up()
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(16)
    listener.settimeout(float(os.environ.get("COURSE_WARM_IDLE") or IDLE))
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the tries' processes are reaped by the kernel
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                return  # idle
            with conn:
                conn.settimeout(5)
                try:
                    data, fds, _flags, _addr = socket.recv_fds(conn, HEADER_LIMIT, 3)
                    while not data.endswith(b"\n") and len(data) < HEADER_LIMIT:
                        more = conn.recv(HEADER_LIMIT)
                        if not more:
                            break
                        data += more
                    header = json.loads(data)
                except (OSError, ValueError):
                    continue
                try:
                    if header.get("stop"):
                        _gone(path, listener)
                        conn.sendall(json.dumps({"stopped": os.getpid()}).encode() + b"\n")
                        os._exit(0)
                    if header.get("fingerprint") != own or len(fds) != 3:
                        conn.sendall(b'{"stale": true}\n')
                        return
                    pid = os.fork()
                    if pid == 0:
                        listener.close()
                        _session(conn, header, fds, preloaded, command)
                    conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
                except OSError:
                    continue
                finally:
                    for fd in fds:
                        os.close(fd)
    finally:
        _gone(path, listener)


def _gone(path: Path, listener: socket.socket) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    listener.close()


def _session(conn: socket.socket, header: dict[str, Any], fds: list[int], preloaded: set[str],
             command: Callable[[list[str]], int]) -> None:
    """In the forked process: become the command the client would have run, run it, report. Never returns."""
    code = 70
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.setpgid(0, 0)  # the client passes Ctrl-C on to this group: this process and the step
        for number, fd in enumerate(fds):
            os.dup2(fd, number)
        keep = conn.fileno()
        os.closerange(3, keep)  # the runner's lock and the client's copies: only the streams and the reply stay
        os.closerange(keep + 1, _max_fd())
        os.environ.clear()
        os.environ.update(header["env"])
        reopen_std()
        try:
            os.chdir(header["cwd"])
        except OSError as exc:
            print(f"course: the warm runner cannot work in {header['cwd']} ({exc.strerror}); run the command again, "
                  f"or with {BYPASS}=0 to run it without the runner.", file=sys.stderr)
            code = 70
            return
        from . import trying

        global inside
        inside = True
        trying.launcher = lambda folder: forked if not shadowed(folder, preloaded) else None
        sys.argv = ["course", *header["argv"]]
        try:
            code = command(list(header["argv"]))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except KeyboardInterrupt:
            code = 130
        except BaseException:  # noqa: BLE001 - as the command would have printed it
            import traceback

            traceback.print_exc()
            code = 1
    finally:
        from ..scripts import flush_std

        flush_std()
        try:
            conn.sendall(json.dumps({"exit": code}).encode() + b"\n")
        except OSError:
            pass
        os._exit(code & 0xFF)


def _max_fd() -> int:
    import resource

    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return soft if 0 < soft < 1 << 20 else 1 << 16


def reopen_std(unbuffered: bool | None = None) -> None:
    """sys.stdin, sys.stdout and sys.stderr on descriptors 0, 1 and 2, set up as a fresh interpreter sets
    them up under this environment (line-buffered on a terminal, `PYTHONIOENCODING`, `PYTHONUNBUFFERED`),
    or as `python -u` sets them up when `unbuffered`."""
    import io

    wanted = os.environ.get("PYTHONIOENCODING", "")
    encoding, _, errors = wanted.partition(":")
    encoding = encoding or "utf-8"
    if unbuffered is None:
        unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
    streams = []
    for fd, mode in ((0, "r"), (1, "w"), (2, "w")):
        try:
            tty = os.isatty(fd)
            raw = io.FileIO(fd, mode + "b", closefd=False)
            if mode == "r":
                buffered: Any = io.BufferedReader(raw)
            else:  # unbuffered, as the interpreter does it: the text layer writes through to the descriptor
                buffered = raw if unbuffered else io.BufferedWriter(raw)
            streams.append(io.TextIOWrapper(
                buffered, encoding=encoding, errors=errors or ("backslashreplace" if fd == 2 else "strict"),
                line_buffering=(tty or fd == 2) and not unbuffered, write_through=unbuffered and fd != 0))
        except OSError:
            streams.append(None)
    sys.stdin, sys.stdout, sys.stderr = streams  # type: ignore[assignment]
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = streams  # type: ignore[misc]


def shadowed(folder: Path, preloaded: set[str]) -> bool:
    """Whether `folder` holds a module or package named like one the runner has imported (an `openai.py`
    there would be what `python imageGen.py` imports, not the SDK): then the step runs as a new interpreter."""
    try:
        names = {p.stem if p.suffix == ".py" else p.name for p in folder.iterdir()
                 if p.suffix == ".py" or (p / "__init__.py").is_file()}
    except OSError:
        return True
    return bool(names & preloaded)


def forked(script: Path, args: list[str], env: dict[str, str], timeout: float,
           watch: Any = None) -> tuple[str, str, int | None, bool]:
    """Run `script ARGS` in a fork of this process, as `python -u script ARGS` in its folder with `env` would:
    (stdout, stderr, exit status or None when it ran past `timeout` and was killed, whether Ctrl-C
    interrupted it), as `trying.run_script` returns them, giving `watch` (a `trying.Live`) each piece of
    its output as it comes."""
    from ..scripts import flush_std, run_as_main
    from .trying import collect

    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    flush_std()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            os.closerange(3, _max_fd())  # as a new interpreter started with close_fds has none
            os.environ.clear()
            os.environ.update(env)
            os.chdir(script.parent)
            reopen_std(unbuffered=True)  # as `python -u`: what it prints leaves at once, for `course try` to show
            code = run_as_main(script.name, args)
            import atexit

            atexit._run_exitfuncs()
        finally:
            flush_std()
            os._exit(code & 0xFF)
    os.close(out_w)
    os.close(err_w)
    try:
        out, err, unfinished, interrupted = collect((out_r, err_r), timeout, watch)
    finally:
        os.close(out_r)
        os.close(err_r)
    if unfinished:  # past its time (or still going 5 s after Ctrl-C)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    timed_out = unfinished and not interrupted
    _, status = os.waitpid(pid, 0)
    return (out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
            None if timed_out else os.waitstatus_to_exitcode(status), interrupted)
