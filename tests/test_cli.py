"""Does `course` speak in one clear line when something is wrong, and print what a user needs?"""

from __future__ import annotations

import os
import time
import socket
import subprocess
import sys

import pytest
from pathlib import Path

from tests.conftest import REPO


def course(*args: str, home: Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COURSE_HOME": str(home), "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "course", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def test_serve_prints_its_base_url(tmp_path: Path) -> None:
    """Does `course serve` print the base URL that OPENAI_BASE_URL takes, and answer there?"""
    import openai

    env = {**os.environ, "COURSE_HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "course", "serve", "--port", "0", "--data-dir",
                             str(tmp_path / "d")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert "Offline Images API listening on http://127.0.0.1:" in line
        base = line.split("listening on ", 1)[1].split()[0]
        assert base.endswith("/v1")
        with openai.OpenAI(base_url=base, api_key="sk-cli", max_retries=0) as client:
            assert client.images.generate(prompt="a cat", size="256x256").data[0].url.startswith(base[:-3])
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


def test_busy_port_is_one_clear_line(tmp_path: Path) -> None:
    """When the port is taken, is the error one line with a hint, and no traceback?"""
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        result = course("serve", "--port", str(port), "--data-dir", str(tmp_path / "d"), home=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: port {port} on 127.0.0.1 is already in use.")
    assert "hint:" in result.stderr and "Traceback" not in result.stderr


def test_missing_and_malformed_keys_files(tmp_path: Path) -> None:
    """Are a missing keys file and a malformed one each named in a clear error?"""
    missing = course("serve", "--keys", str(tmp_path / "nope.txt"), home=tmp_path)
    assert missing.returncode == 1 and "nope.txt: no such file" in missing.stderr
    bad = tmp_path / "keys.txt"
    bad.write_text("sk-one alice\nthis line has three\n")
    malformed = course("serve", "--keys", str(bad), home=tmp_path)
    assert malformed.returncode == 1
    assert "line 2: expected 'KEY LEARNER'" in malformed.stderr and "Traceback" not in malformed.stderr


def test_bad_fail_rate(tmp_path: Path) -> None:
    """Is a fail rate outside 0..1 refused clearly?"""
    result = course("serve", "--fail-rate", "2", home=tmp_path)
    assert result.returncode == 1 and "--fail-rate must be between 0 and 1, got 2.0" in result.stderr


def test_status_and_stop_without_a_server(tmp_path: Path) -> None:
    """With no background server, do status and stop say so plainly?"""
    status = course("status", home=tmp_path)
    assert status.returncode == 1 and "No offline Images API is running" in status.stdout
    stop = course("stop", home=tmp_path)
    assert stop.returncode == 0 and "No offline Images API is running" in stop.stdout


@pytest.mark.slow
def test_demo_then_status_then_stop(tmp_path: Path) -> None:
    """Does the main job run lesson 1's solution through every step offline, saving the images, and leave
    a server that status sees and stop ends?"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(COURSE_HOME=str(tmp_path), PYTHONPATH=str(REPO))
    try:
        demo = subprocess.run([sys.executable, "-m", "course", "demo", "--out", str(tmp_path / "imgs")],
                              capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    finally:
        status = course("status", home=tmp_path)
        course("stop", home=tmp_path)  # never leave the background server running, whatever happened
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "5/5 steps of lesson 1 passed. The images are in " + str(tmp_path / "imgs") in demo.stdout
    saved = sorted(p.name for p in (tmp_path / "imgs").iterdir())
    assert saved == ["lesson1-step1-1.png", "lesson1-step2-1.png", "lesson1-step3-1.png", "lesson1-step5-1.png"]
    assert (tmp_path / "imgs" / "lesson1-step5-1.png").read_bytes().startswith(b"\x89PNG")
    assert "image saved: " + str(tmp_path / "imgs" / "lesson1-step3-1.png") in demo.stdout
    assert status.returncode == 0 and "Offline Images API running" in status.stdout


def test_overview_and_help(tmp_path: Path) -> None:
    """Does plain `course` show the lessons and where to start, and --help every command?"""
    result = course(home=tmp_path)
    assert result.returncode == 0
    assert "lesson 1: Generating Images" in result.stdout and "0/5 steps passed" in result.stdout
    assert "course show 1" in result.stdout
    helped = course("--help", home=tmp_path)
    for command in ("course show", "course try", "course quiz", "course progress", "course serve", "course build"):
        assert command in helped.stdout


def _serve(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "COURSE_HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "course", "serve", "--port", "0", "--data-dir",
                             str(tmp_path / "d"), *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)
    line = proc.stdout.readline()
    return proc, line.split("listening on ", 1)[1].split()[0]


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return out


def test_workers_share_one_socket_and_one_identity(tmp_path: Path) -> None:
    """With --workers 2, do two processes serve, the health check name the parent, and SIGTERM stop all?"""
    import json
    import signal
    import urllib.request

    import openai

    from course.offline.requestlog import read_log

    proc, base = _serve(tmp_path, "--workers", "2")
    try:
        deadline = time.monotonic() + 10
        while len(workers := _children(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(workers) == 2
        health = json.loads(urllib.request.urlopen(base[:-3] + "/__course__/health", timeout=10).read())
        assert health["pid"] == proc.pid
        with openai.OpenAI(base_url=base, api_key="sk-w", max_retries=0) as client:
            for i in range(20):
                client.images.generate(prompt=f"a cat {i}", size="256x256")
        assert len(read_log(tmp_path / "d")) == 20
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        time.sleep(0.2)
        assert all(not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
                   for pid in workers)
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def test_workers_idle_out_together(tmp_path: Path) -> None:
    """Does a multi-worker server stop itself after its idle time?"""
    proc, _ = _serve(tmp_path, "--workers", "2", "--idle-timeout", "1")
    try:
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()
        proc.stdout.close()


def test_teaching_faults_need_one_worker(tmp_path: Path) -> None:
    """Are --rate-limit/--fail-rate with several workers refused clearly, and --workers 0 too?"""
    result = course("serve", "--workers", "2", "--rate-limit", "5", home=tmp_path)
    assert result.returncode == 1 and "need a single worker" in result.stderr
    zero = course("serve", "--workers", "0", home=tmp_path)
    assert zero.returncode == 1 and "--workers must be at least 1, got 0." in zero.stderr


def test_progress_shows_one_lesson_or_all_with_the_quiz_and_grader_words(tmp_path: Path) -> None:
    """`course progress 1` shows lesson 1 alone; `course progress` every lesson and their sum, out of every step
    and question (not tried ones included); steps and questions named as the grader and the quiz name them."""
    import json

    from course.lesson.progress import record_step

    (tmp_path / "answers.json").write_text(json.dumps({"multiple-choice-1640493267": ["e70741b0dc0d07dec02e79ed"]}))
    record_step(tmp_path, 1, 3, passed=True)  # what `course try 3` records
    record_step(tmp_path, 2, 1, passed=False)

    def progress(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "COURSE_HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO), "COLUMNS": "160"}
        return subprocess.run([sys.executable, "-m", "course", "progress", *args], capture_output=True, text=True,
                              env=env, cwd=tmp_path, timeout=60)

    one = progress("1")
    assert one.returncode == 0, one.stderr
    assert "Lesson 1: Generating Images" in one.stdout and "Lesson 2:" not in one.stdout
    lines = [" ".join(line.strip("│ ").split()) for line in one.stdout.splitlines()]
    assert "Lesson 1, question 2: How many images per request │ correct" in lines
    assert "Lesson 1, step 3: Print only the image URL │ passed" in lines
    assert "Lesson 1, question 1: dall-e-2 sizes │ not answered" in lines
    assert "lesson 1: 1/5 steps passed, 1/5 questions right" in one.stdout and "All" not in one.stdout
    by_script = progress("imageGen2.py")
    assert "Lesson 2:" in by_script.stdout and "Lesson 1:" not in by_script.stdout
    assert "lesson 2: 0/7 steps passed, 0/7 questions right" in by_script.stdout
    every = progress()
    assert all(f"Lesson {n}:" in every.stdout for n in (1, 2, 3))
    assert every.stdout.rstrip().endswith("All 3 lessons: 1/17 steps passed, 1/17 questions right")
    as_json = json.loads(progress("1", "--json").stdout)
    assert [row["lesson"] for row in as_json] == [1]
    assert as_json[0]["questions"][1]["label"] == "lesson 1, question 2: How many images per request"
    assert as_json[0]["questions"][1]["title"] == "question 2: How many images per request"  # as before, for scripts
    missing = progress("9")
    assert missing.returncode == 1 and "there is no lesson '9'" in missing.stderr and "Traceback" not in missing.stderr
