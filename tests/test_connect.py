"""Does the one connect line find or start the learner's offline API, once, and point the SDK at it?"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow  # background servers started, raced and stopped

STEP = """
import course.auto
import os
from openai import OpenAI
client = OpenAI()
response = client.images.generate(prompt="a cat", n=1, size="256x256")
print(os.environ["OPENAI_BASE_URL"])
print(response.data[0].url)
"""


def run(script: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    full.update(COURSE_HOME=str(home), PYTHONPATH=str(REPO), **env)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=full, timeout=60)


def state(home: Path) -> dict:
    return json.loads((home / "server" / "state.json").read_text())


def serve_processes(home: Path) -> list[int]:
    """Pids of offline API servers started for this home (found through /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in cmd and any(str(home).encode() in part for part in cmd):
            pids.append(int(entry.name))
    return pids


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A fresh user folder; every background server started in it is stopped afterwards."""
    folder = tmp_path / "home"
    yield folder
    pids = serve_processes(folder)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10  # wait, so the next test finds the port free
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_no_key_starts_one_server_and_says_so(home: Path) -> None:
    """With no key, does the line start a background server, say so in one stderr line, and make the SDK work?"""
    first = run(STEP, home)
    assert first.returncode == 0, first.stderr
    lines = [line for line in first.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("course: no OPENAI_API_KEY set") and "started" in lines[0]
    base, url = first.stdout.split()
    assert base == state(home)["url"] and url.startswith(base.removesuffix("/v1") + "/private/")
    second = run(STEP, home)
    assert second.returncode == 0 and "already running" in second.stderr
    assert second.stdout.split()[0] == base
    assert len(serve_processes(home)) == 1


def test_racing_scripts_share_one_server(home: Path) -> None:
    """Do scripts starting at the same moment get one server, not several?"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(COURSE_HOME=str(home), PYTHONPATH=str(REPO))
    procs = [subprocess.Popen([sys.executable, "-c", STEP], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(4)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    assert len({o[0].split()[0] for o in outs}) == 1
    assert sum("started it" in o[1] for o in outs) == 1
    assert len(serve_processes(home)) == 1


def test_stale_state_file_is_replaced(home: Path) -> None:
    """Is a state file left by a killed server detected and replaced by a working server?"""
    assert run(STEP, home).returncode == 0
    old = state(home)
    os.kill(old["pid"], signal.SIGKILL)
    time.sleep(0.2)
    again = run(STEP, home)
    assert again.returncode == 0, again.stderr
    assert "started it" in again.stderr
    assert state(home)["pid"] != old["pid"]


def test_state_file_naming_a_dead_pid(home: Path) -> None:
    """Does a state file naming a dead process and a closed port count as no server?"""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (home / "server").mkdir(parents=True)
    (home / "server" / "state.json").write_text(json.dumps(
        {"pid": dead.pid, "host": "127.0.0.1", "port": 9, "url": "http://127.0.0.1:9/v1"}))
    result = run(STEP, home)
    assert result.returncode == 0, result.stderr
    assert state(home)["pid"] != dead.pid


def test_default_port_taken_uses_a_free_one(home: Path) -> None:
    """When 8765 is busy, does the server go to a free port?"""
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # despite TIME_WAIT from earlier tests
    try:
        blocker.bind(("127.0.0.1", 8765))
        blocker.listen(1)
    except OSError:
        pass  # something else holds it already: the point stands
    try:
        result = run(STEP, home)
        assert result.returncode == 0, result.stderr
        assert state(home)["port"] != 8765
    finally:
        blocker.close()


def test_key_with_retired_model_stays_offline(home: Path) -> None:
    """With a key set, does the lesson's retired model still go offline, explained in one line?"""
    result = run(STEP, home, OPENAI_API_KEY="sk-my-real-key-0000000000")
    assert result.returncode == 0, result.stderr
    assert "dall-e-2 was retired by OpenAI on 2026-05-12" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_key_with_current_model_or_forced_live_stays_live(home: Path) -> None:
    """With a key and a current model, or COURSE_LIVE=1, is the SDK left pointed at OpenAI?"""
    script = ("import course, os; c = course.connect(model=%r); "
              "print(c.mode, os.environ.get('OPENAI_BASE_URL'))")
    current = run(script % "gpt-image-2", home, OPENAI_API_KEY="sk-my-real-key-0000000000")
    assert current.stdout.split() == ["live", "None"] and current.stderr == ""
    forced = run(script % "dall-e-2", home, OPENAI_API_KEY="sk-my-real-key-0000000000", COURSE_LIVE="1")
    assert forced.stdout.split() == ["live", "None"]
    assert not (home / "server" / "state.json").exists()


def test_a_chosen_base_url_is_respected(home: Path, server) -> None:
    """When OPENAI_BASE_URL already names a server (as the grader does), is it used as given?"""
    result = run(STEP, home, OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="sk-grader-run-1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == server.base_url and result.stderr == ""
    assert not (home / "server" / "state.json").exists()
    from course.offline.requestlog import read_log

    assert read_log(server.data_dir)[0].key == "sk-grader-run-1"


def test_idle_server_stops_itself(tmp_path: Path) -> None:
    """Does a server with --idle-timeout exit on its own and remove its state file?"""
    state_file = tmp_path / "state.json"
    env = {**os.environ, "COURSE_HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "course", "serve", "--port", "0", "--data-dir", str(tmp_path / "d"),
         "--idle-timeout", "0.5", "--state-file", str(state_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    try:
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()
    assert not state_file.exists()


def test_default_idle_timeout_outlives_the_urls() -> None:
    """Is the background server's idle time longer than a URL's hour?"""
    from course.connect import IDLE_TIMEOUT
    from course.offline.urls import LIFETIME

    assert IDLE_TIMEOUT > LIFETIME


def test_python_without_the_server_packages(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """When this Python cannot run the server, is another one used, or a clear error given?"""
    import importlib.util

    from course.connect import server_python
    from course.errors import CourseError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a))
    monkeypatch.delenv("COURSE_PYTHON", raising=False)
    with pytest.raises(CourseError) as info:
        server_python(tmp_path)
    assert "lacks uvicorn" in str(info.value) and "COURSE_PYTHON" in str(info.value)
    monkeypatch.setenv("COURSE_PYTHON", sys.executable)
    assert server_python(tmp_path) == sys.executable


def test_a_server_that_dies_at_start_says_why(tmp_path: Path) -> None:
    """If the new server exits at once, does the error quote its log instead of 'Connection refused'?"""
    from course.connect import _wait_until_up
    from course.errors import CourseError

    log = tmp_path / "server.log"
    log.write_text("Traceback (most recent call last):\nModuleNotFoundError: No module named 'uvicorn'\n")
    dead = subprocess.Popen([sys.executable, "-c", "raise SystemExit(1)"])
    with pytest.raises(CourseError) as info:
        _wait_until_up(dead, "127.0.0.1", 9, log, timeout=5)
    assert "did not start: ModuleNotFoundError: No module named 'uvicorn'" in str(info.value)


@pytest.mark.slow
def test_default_port_is_reused_right_after_a_stop(home: Path) -> None:
    """After a server on 8765 stops, does the next one get 8765 again despite lingering TIME_WAIT?"""
    with socket.socket() as probe_sock:
        if probe_sock.connect_ex(("127.0.0.1", 8765)) == 0:
            pytest.skip("something else listens on 8765")
    assert run(STEP, home).returncode == 0
    first = state(home)
    if first["port"] != 8765:
        pytest.skip("8765 was taken when the test started")
    os.kill(first["pid"], signal.SIGTERM)
    deadline = time.monotonic() + 10
    while (home / "server" / "state.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    again = run(STEP, home)
    assert again.returncode == 0, again.stderr
    assert state(home)["port"] == 8765
