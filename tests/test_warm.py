"""Does `course try` through the warm runner behave exactly as it does without it, only faster?

The runner is a real background process (`python -m course.terminal.warm_main serve`), reached over its Unix
socket by the real `course` command; every comparison is with `COURSE_WARM=0`, which runs the step as
a new interpreter (`python imageGen.py N`), as `course try` always did.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest

from tests.conftest import REPO, warm_runners

pytestmark = pytest.mark.slow  # warm runners started and stopped, timed

PROBE = '''\
import os
import sys

import course.auto
from course.steps import run_steps

tries = []


def where():
    with open(f"/proc/{os.getppid()}/cmdline", "rb") as f:
        return "warm" if b"course.terminal.warm" in f.read() else "cold"


def step1():
    """Say where and how this step runs"""
    tries.append(1)
    print("argv", sys.argv, "file", __file__, "path0", sys.path[0], "name", __name__, "tries", len(tries))
    print("cwd", os.getcwd(), "spec", __spec__, "main module", sys.modules["__main__"].__file__)
    print("stdout", sys.stdout.isatty(), sys.stdout.encoding, sys.stdout.line_buffering, "stdin", sys.stdin.isatty())
    print("pid", os.getpid(), "parent", where())
    print("é ü → 🙂 non-ASCII output")


def step2():
    """Raise, as a learner's mistake would"""
    data = {"data": []}
    return data["data"][0].url


def step3():
    """Exit with a status of its own"""
    sys.exit(3)


def step4():
    """Sleep longer than a try may take"""
    import time
    print("sleeping", flush=True)
    time.sleep(60)


if __name__ == "__main__":
    run_steps([step1, step2, step3, step4])
'''


def env_for(server, *, warm: bool = True, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "COURSE_WARM"))}
    env.update(PYTHONPATH=str(REPO), OPENAI_BASE_URL=server.base_url, COURSE_OFFLINE_DATA_DIR=str(server.data_dir))
    if not warm:
        env["COURSE_WARM"] = "0"
    env.update(extra)
    return env


def course(folder: Path, server, *args: str, warm: bool = True, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "course", *args], cwd=folder, env=env_for(server, warm=warm, **extra),
                          capture_output=True, text=True, timeout=120)


def wait_for_runner(home: Path, timeout: float = 60.0) -> int:
    """The pid of the runner under `home` once its socket answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = warm_runners(home)
        sockets = list((home / "warm").glob("*.sock"))
        if pids and sockets:
            return pids[0]
        time.sleep(0.1)
    raise AssertionError(f"no warm runner came up under {home}")


def masked(text: str) -> str:
    return re.sub(r"pid \d+ parent \w+", "pid N parent P", text)


@pytest.fixture
def probe(tmp_path: Path) -> Path:
    folder = tmp_path / "my work"
    folder.mkdir()
    (folder / "imageGen.py").write_text(PROBE, encoding="utf-8")
    return folder


def test_the_second_try_runs_warm_and_says_exactly_what_a_new_interpreter_says(server, probe, isolated_home) -> None:
    """Is the first try run as before (starting the runner), the next ones in a fork of the runner, with
    the same argv, __file__, sys.path[0], __main__, folder, streams and output as `python imageGen.py 1`?"""
    cold = course(probe, server, "try", "1", warm=False)
    assert "parent cold" in cold.stdout, cold.stdout + cold.stderr
    first = course(probe, server, "try", "1")
    assert "parent cold" in first.stdout  # no runner yet: this one runs as before and starts it
    runner = wait_for_runner(isolated_home)
    warm = course(probe, server, "try", "1")
    assert "parent warm" in warm.stdout, warm.stdout + warm.stderr
    assert (masked(warm.stdout), warm.stderr, warm.returncode) == (masked(cold.stdout), cold.stderr, cold.returncode)
    assert f"file {probe / 'imageGen.py'} path0 {probe} name __main__ tries 1" in warm.stdout
    assert "argv ['imageGen.py', '1']" in warm.stdout and "é ü → 🙂" in warm.stdout
    again = course(probe, server, "try", "1")
    assert "tries 1" in again.stdout  # nothing carries over from the earlier try
    pids = [re.search(r"pid (\d+)", r.stdout).group(1) for r in (warm, again)]  # type: ignore[union-attr]
    assert pids[0] != pids[1]
    assert warm_runners(isolated_home) == [runner]


@pytest.mark.parametrize("step", ["2", "3"])
def test_a_failing_step_reads_the_same_warm_and_cold(server, probe, isolated_home, step: str) -> None:
    """A traceback and its hint, or an exit status of the script's own: the same words, the same status."""
    course(probe, server, "try", "1")
    wait_for_runner(isolated_home)
    warm = course(probe, server, "try", step)
    cold = course(probe, server, "try", step, warm=False)
    assert (warm.stdout, warm.stderr, warm.returncode) == (cold.stdout, cold.stderr, cold.returncode)
    assert warm.returncode == 1
    if step == "2":
        assert "IndexError: list index out of range" in warm.stdout
        assert 'File "imageGen.py", line' in warm.stdout and "site-packages" not in warm.stdout


@pytest.mark.slow
def test_unwritten_and_unreadable_scripts_read_the_same(server, tmp_path, isolated_home) -> None:
    """The exercise as handed out (todo() lines), a script with a syntax error and one saved in Latin-1."""
    folder = tmp_path / "work"
    folder.mkdir()
    shutil.copy(REPO / "exercises" / "imageGen.py", folder / "imageGen.py")
    course(folder, server, "try", "1")
    wait_for_runner(isolated_home)
    sources = {
        "exercise": (REPO / "exercises" / "imageGen.py").read_bytes(),
        "syntax error": PROBE.replace('def step2():', 'def step2(:').encode(),
        "latin-1": PROBE.replace("é ü → 🙂", "caf\xe9").encode("latin-1"),
    }
    for name, source in sources.items():
        (folder / "imageGen.py").write_bytes(source)
        for step in ("1", "3"):
            warm = course(folder, server, "try", step)
            cold = course(folder, server, "try", step, warm=False)
            assert (warm.stdout, warm.stderr, warm.returncode) == (cold.stdout, cold.stderr, cold.returncode), name
    assert "SyntaxError" in warm.stdout


def test_a_module_of_the_learners_named_like_the_sdk_is_what_the_step_imports(server, probe, isolated_home) -> None:
    """An `openai.py` beside the script is what `python imageGen.py` imports: the runner steps aside."""
    course(probe, server, "try", "1")
    wait_for_runner(isolated_home)
    (probe / "openai.py").write_text("print('this is my own openai.py')\nOpenAI = None\n")
    (probe / "imageGen.py").write_text(PROBE.replace("import course.auto\n", "import course.auto\nimport openai\n"))
    warm = course(probe, server, "try", "1")
    cold = course(probe, server, "try", "1", warm=False)
    assert "this is my own openai.py" in warm.stdout
    assert (masked(warm.stdout), warm.stderr, warm.returncode) == (masked(cold.stdout), cold.stderr, cold.returncode)


def test_the_runner_is_replaced_when_packages_are_installed(server, probe, isolated_home, tmp_path) -> None:
    """A package installed after the runner started is importable at the next try, by a new runner."""
    packages = tmp_path / "site"
    packages.mkdir()
    paths = f"{REPO}{os.pathsep}{packages}"
    course(probe, server, "try", "1", PYTHONPATH=paths)
    first = wait_for_runner(isolated_home)
    assert "parent warm" in course(probe, server, "try", "1", PYTHONPATH=paths).stdout
    time.sleep(0.05)
    (packages / "freshly_installed").mkdir()
    (packages / "freshly_installed" / "__init__.py").write_text("VERSION = '1.0'\n")
    (probe / "imageGen.py").write_text(PROBE.replace("import course.auto\n",
                                                     "import course.auto\nimport freshly_installed\n"))
    changed = course(probe, server, "try", "1", PYTHONPATH=paths)
    assert "tries 1" in changed.stdout and "Error" not in changed.stdout, changed.stdout + changed.stderr
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and warm_runners(isolated_home) in ([], [first]):
        time.sleep(0.1)
    second = wait_for_runner(isolated_home)
    assert second != first
    later = course(probe, server, "try", "1", PYTHONPATH=paths)
    assert "parent warm" in later.stdout and "Error" not in later.stdout, later.stdout


@pytest.mark.slow
def test_course_stop_and_idleness_stop_the_runner(server, probe, isolated_home) -> None:
    course(probe, server, "try", "1", COURSE_WARM_IDLE="3")
    wait_for_runner(isolated_home)
    deadline = time.monotonic() + 30
    while warm_runners(isolated_home) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert warm_runners(isolated_home) == []  # idle for 3 s: it stopped by itself
    course(probe, server, "try", "1")
    wait_for_runner(isolated_home)
    stopped = course(probe, server, "stop")
    assert "Stopped the warm runner of course try." in stopped.stdout
    assert warm_runners(isolated_home) == []
    assert not list((isolated_home / "warm").glob("*.sock"))


@pytest.mark.slow
def test_a_step_past_its_time_is_stopped_warm_as_cold(server, probe, isolated_home) -> None:
    course(probe, server, "try", "1")
    wait_for_runner(isolated_home)
    warm = course(probe, server, "try", "4", "--timeout", "2")
    cold = course(probe, server, "try", "4", "--timeout", "2", warm=False)
    assert "The step did not finish within 2 s." in warm.stdout
    assert (warm.stdout, warm.returncode) == (cold.stdout, cold.returncode)


@pytest.mark.slow
def test_in_a_terminal_the_warm_try_has_colours_pictures_and_ctrl_c(server, isolated_home, tmp_path) -> None:
    """Through a real pty: the picture preview and colours (the runner writes to the terminal itself), and
    Ctrl-C stops the step as it stops `python imageGen.py 1`."""
    folder = tmp_path / "work"
    folder.mkdir()
    shutil.copy(REPO / "solutions" / "imageGen.py", folder / "imageGen.py")
    (folder / "slow.py").write_text(PROBE)
    env = env_for(server, TERM="xterm-256color", COLORTERM="truecolor")
    course(folder, server, "try", "1")
    wait_for_runner(isolated_home)
    child = pexpect.spawn(sys.executable, ["-m", "course", "try", "1"], cwd=str(folder), env=env, encoding="utf-8",
                          timeout=60, dimensions=(40, 100))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "\x1b[" in child.before and "▀" in child.before  # colours and the half-block preview
    assert "step 1 (Create an image from a prompt): passed" in re.sub(r"\x1b\[[0-9;]*m", "", child.before)
    for mode in ("1", "0"):  # warm, then as a new interpreter: Ctrl-C reads the same
        child = pexpect.spawn(sys.executable, ["-m", "course", "try", "4", "--script", "slow.py", "--lesson", "1"],
                              cwd=str(folder), env={**env, "COURSE_WARM": mode}, encoding="utf-8", timeout=60,
                              dimensions=(40, 100))
        time.sleep(4)  # `course try` shows the step's output when it ends: nothing to wait for on screen
        child.sendintr()
        child.expect(pexpect.EOF)
        child.close()
        plain = re.sub(r"\x1b\[[0-9;]*m", "", child.before)
        assert "sleeping" in plain and "step 4 interrupted" in plain, (mode, plain)
        assert "The step was interrupted (Ctrl-C) before it finished." in plain
        assert "Traceback" not in plain
        assert child.exitstatus == 1


def test_the_runner_is_replaced_when_the_course_itself_changes(server, probe, isolated_home) -> None:
    """An updated course (a file of the package newer than the runner) is what the next try runs with."""
    course(probe, server, "try", "1")
    first = wait_for_runner(isolated_home)
    assert "parent warm" in course(probe, server, "try", "1").stdout
    touched = REPO / "course" / "hints.py"
    before = touched.stat()
    try:
        os.utime(touched, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
        changed = course(probe, server, "try", "1")
        assert "parent cold" in changed.stdout  # the stale runner stood aside and stopped
        second = wait_for_runner(isolated_home)
        assert second != first
        assert "parent warm" in course(probe, server, "try", "1").stdout
    finally:
        os.utime(touched, ns=(before.st_atime_ns, before.st_mtime_ns))
