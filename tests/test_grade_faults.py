"""Is a fault of ours never a learner's result, and does the grader run where instructors run it?

- A box that cannot be built, an engine that dies, an API that stops: the steps are "not graded"
  (never a zero), the run exits non-zero with a clear message, and running it again grades them.
- The environment users have: no PYTHONUNBUFFERED (a laptop, a CI image, Gradescope's container),
  an almost empty environment (`env -i`), a non-root user.
- Gradescope as Gradescope runs it: the bundle's own `run_autograder`, a submission in a folder,
  always a results.json, workers sized from the container, and no CAP_SYS_ADMIN.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from grader.box.job import Confinement, Job

from tests.conftest import DOCKER_CAPABILITIES, autograder_layout, REPO, api_processes, as_nobody

FIXTURES = Path(__file__).with_name("fixtures") / "submissions"
CORRECT = FIXTURES / "correct_everything"


def grader(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600,
           prefix: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    if env is None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
        env["PYTHONPATH"] = str(REPO)
    return subprocess.run([*(prefix or []), sys.executable, "-m", "grader", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=env)


def rows(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as f:
        return {row["learner"]: row for row in csv.DictReader(f)}


# ------------------------------------------------------------------------------- faults of ours


class FakeAPI:
    """Stands in for the private API in unit tests of the runner: a channel, a log with nothing in it."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def open_channel(self, kind: str):  # type: ignore[no-untyped-def]
        from grader.api import Channel

        return Channel("unit", "tcp", "127.0.0.1:9")

    def close_channel(self, channel) -> None:  # type: ignore[no-untyped-def]
        pass

    def alive(self) -> bool:
        return True

    def log_tail(self, lines: int = 1) -> str:
        return ""


class FakeSlot:
    isolate = False
    uid = None
    confinement = Confinement()

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour

    def run(self, job: Job) -> dict:
        if self.behaviour == "raise":
            raise RuntimeError("the zygote went away")
        Path(job.stderr).write_text("the grading sandbox could not be set up: mount /tmp: Operation not permitted\n")
        Path(job.stdout).write_text("")
        return {"exit_code": 97, "timed_out": False}


@pytest.mark.parametrize("behaviour", ["box", "raise"])
def test_a_box_or_engine_failure_is_not_graded_never_a_zero(tmp_path: Path, behaviour: str) -> None:
    """Does a box that cannot be built, or an engine that fails, leave the step 'not graded' with the reason?"""
    from course.lesson.lessons import find_lesson
    from grader.handin import find_work
    from grader.runner import run_step

    shutil.copytree(CORRECT, tmp_path / "ada")
    lesson = find_lesson(1)
    found = find_work(tmp_path / "ada", [lesson]).lessons[1]
    step = lesson.step(1)
    outcome = run_step(found, step, "step1", slot=FakeSlot(behaviour), api=FakeAPI(tmp_path))
    assert not outcome.graded and outcome.points == 0
    assert ("could not be set up" in outcome.fault) if behaviour == "box" else ("zygote went away" in outcome.fault)
    from grader.reports import gradebook_csv, step_lines
    from grader.results import GradingRun, LearnerResult

    assert "Not graded: a problem on the grader's side" in step_lines(outcome)[0][1]
    result = LearnerResult("ada", [outcome])
    assert not result.complete
    row = gradebook_csv(GradingRun([result], ["step1"], [])).splitlines()[1]
    assert row == "ada,,,20,"  # no points written for the step, no total, no percent: nothing to publish yet


@pytest.mark.slow
def test_an_api_that_stops_mid_run_costs_no_one_a_grade(tmp_path: Path) -> None:
    """The grader's API dies halfway: the rest are 'not graded', the run exits non-zero, a re-run finishes."""
    source = (CORRECT / "imageGen.py").read_text(encoding="utf-8").replace(
        '    """Create an image from a prompt."""\n', '    """Create an image from a prompt."""\n    import time\n    time.sleep(0.3)\n')
    for name in ("ada", "bo", "cy", "di", "ed", "flo"):
        (tmp_path / "class" / name).mkdir(parents=True)
        (tmp_path / "class" / name / "imageGen.py").write_text(source, encoding="utf-8")
        shutil.copy(CORRECT / "answers.json", tmp_path / "class" / name / "answers.json")
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.Popen([sys.executable, "-m", "grader", "grade", "class", "--out", "out", "--lesson", "1",
                             "--quiet", "--jobs", "1"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with sqlite3.connect(out / "gradebook.sqlite3") as db:
                if db.execute("SELECT COUNT(*) FROM grades").fetchone()[0] >= 1:
                    break
        except sqlite3.Error:
            pass
        time.sleep(0.05)
    for pid in api_processes(out):
        os.kill(pid, signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 3, stdout + stderr
    assert "could not be fully graded because of a fault in the grader" in stderr
    first = rows(out)
    not_graded = [name for name, row in first.items() if row["total"] == ""]
    # The summary counts honestly: the graded ones as graded, the others apart, and the error is the last word.
    assert f"{6 - len(not_graded)} learner{'' if 6 - len(not_graded) == 1 else 's'} graded, {len(not_graded)} not fully graded" \
        in " ".join(stdout.split()), stdout
    assert stderr.strip().splitlines()[-1].startswith(f"error: {len(not_graded)} of 6 learners could not be fully graded")
    assert not_graded and all(first[n]["step1"] == "" and first[n]["possible"] == "190" for n in not_graded)
    assert all(row["total"] in ("", "190") for row in first.values())  # no zero anywhere
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert sorted(x["learner"] for x in summary["not_graded"]) == sorted(not_graded)
    feedback = (out / not_graded[0] / "feedback.md").read_text(encoding="utf-8")
    assert "not in your work" in feedback
    again = grader("grade", "class", "--out", "out", "--lesson", "1", "--quiet", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert {name: row["total"] for name, row in rows(out).items()} == {n: "190" for n in first}
    with sqlite3.connect(out / "gradebook.sqlite3") as db:
        latest = db.execute("SELECT COUNT(*), COUNT(DISTINCT learner) FROM grades WHERE run_id = "
                            "(SELECT MAX(id) FROM runs)").fetchone()
    assert latest == (6, 6)


# ------------------------------------------------------------------- the environment users have


@pytest.mark.slow
def test_grading_in_a_bare_environment(tmp_path: Path) -> None:
    """`env -i`-like: no PYTHONUNBUFFERED, no PYTHONPATH, just PATH and HOME; relative paths. Once, the
    start-up handshake waited 30 s and nobody was graded."""
    shutil.copytree(CORRECT, tmp_path / "class" / "ada")
    home = tmp_path / "home"
    home.mkdir()
    started = time.monotonic()
    result = grader("grade", "class", "--out", "out", "--lesson", "1", "--quiet", cwd=tmp_path,
                    env={"PATH": "/usr/bin:/bin", "HOME": str(home)})
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert rows(tmp_path / "out")["ada"]["percent"] == "100"
    assert elapsed < 25, f"grading one learner took {elapsed:.0f} s"
    check = grader("check", "class/ada", cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "HOME": str(home)})
    assert check.returncode == 0 and "5/5 steps pass the public checks" in check.stdout, check.stdout + check.stderr


def test_grading_as_a_user_without_root() -> None:
    """As an ordinary user (the weaker box), is the reference solution still graded in full?"""
    prefix = as_nobody()
    if prefix is None:
        pytest.skip("needs root to become another user, and a checkout that user can read")
    work = Path(tempfile.mkdtemp(prefix="grade-as-user-", dir="/tmp"))
    try:
        shutil.copytree(CORRECT, work / "class" / "ada")
        (work / "home").mkdir()
        for path in [work, *work.rglob("*")]:
            os.chown(path, 65534, 65534)
        result = grader("grade", "class", "--out", "out", "--lesson", "1", "--quiet", cwd=work, prefix=prefix,
                        env={"PATH": "/usr/bin:/bin", "HOME": str(work / "home"), "PYTHONPATH": str(REPO)})
        assert result.returncode == 0, result.stdout + result.stderr
        assert "grading with the weaker box" in result.stderr
        assert rows(work / "out")["ada"]["percent"] == "100"
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------------------------- Gradescope


def _autograder(tmp_path: Path, lessons: list[str] | None = None, python: Path | None = None) -> Path:
    """Gradescope's layout: the bundle unzipped in source/, python3 on PATH being this Python (or `python`'s)."""
    return autograder_layout(tmp_path, lessons, python)


def _run_autograder(root: Path, shims: Path, *, prefix: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{shims}:/usr/bin:/bin", "HOME": str(root), "AUTOGRADER_ROOT": str(root)}
    return subprocess.run([*(prefix or []), "bash", str(root / "source" / "run_autograder")], capture_output=True,
                          text=True, timeout=600, env=env, cwd=root)


def test_gradescope_runs_the_bundle_on_a_submission_in_a_folder(tmp_path: Path) -> None:
    """The bundle's run_autograder, a submission whose files sit one folder down: graded in full, the
    maximum the assignment's (lesson 1), the environment Gradescope's."""
    root = _autograder(tmp_path, lessons=["1"])
    shutil.copytree(CORRECT, root / "submission" / "my work")
    result = _run_autograder(root, tmp_path / "bin")
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    assert data["score"] == sum(t["max_score"] for t in data["tests"]) == 190
    assert all(t["name"].startswith(("Lesson 1, step", "Lesson 1, question", "Question")) for t in data["tests"])
    assert "graded my work/imageGen.py as imageGen.py" in data["output"]
    lock = (root / "source" / "requirements.lock").read_text(encoding="utf-8").splitlines()
    requirements = [line for line in lock if not line.startswith(" ")]
    assert requirements and all("==" in line and line.endswith("\\") for line in requirements)  # each with its hashes
    assert any(line.startswith("openai==") for line in requirements) and any("--hash=sha256:" in line for line in lock)
    assert any(line.startswith("soupsieve==") and "python_full_version < '3.11.5'" in line for line in requirements), \
        "Debian's Python 3.11.2 gets a version it can install"
    assert "requirements.lock" in (root / "source" / "setup.sh").read_text() and "3.11" in (root / "source" / "setup.sh").read_text()


def test_gradescope_always_gets_a_results_json(tmp_path: Path) -> None:
    """Grading that cannot start, or a submission that is not there: a zero that says why, never a failed run."""
    root = _autograder(tmp_path)
    shutil.copytree(CORRECT, root / "submission")
    broken = tmp_path / "broken-bin"
    broken.mkdir()
    (broken / "python3").write_text("#!/bin/sh\nexit 1\n")
    (broken / "python3").chmod(0o755)
    result = _run_autograder(root, broken)
    assert result.returncode == 0
    data = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    assert data["score"] == 0 and "could not be graded" in data["output"] and "not in your work" in data["output"]
    target = tmp_path / "results" / "results.json"
    missing = grader("gradescope", str(tmp_path / "no-such-submission"), str(target), cwd=tmp_path)
    assert missing.returncode == 0
    data = json.loads(target.read_text(encoding="utf-8"))
    assert data["score"] == 0 and "no such submission folder" in data["output"]


def test_gradescope_without_cap_sys_admin_falls_back_to_the_weaker_box(open_folder: Path, readable_python: Path) -> None:
    """Docker's default capabilities lack CAP_SYS_ADMIN: grading goes on in the weaker box, steps as a uid of their
    own, and says so."""
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv to drop CAP_SYS_ADMIN")
    root = _autograder(open_folder, lessons=["1"], python=readable_python)
    shutil.copytree(CORRECT, root / "submission")
    result = _run_autograder(root, root.parent / "bin", prefix=DOCKER_CAPABILITIES)
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    assert data["score"] == 190, data["output"]
    assert "CAP_SYS_ADMIN" in data["output"] and "weaker box" in data["output"] and "uid of its own" in data["output"]
    assert (root.stat().st_mode & 0o077) == 0 and ((root / "results").stat().st_mode & 0o077) == 0


def test_gradescope_with_a_python_steps_cannot_read_says_why(open_folder: Path) -> None:
    """Root without CAP_SYS_ADMIN, and a Python in a folder only root may enter (a pyenv under /root): no step runs
    as a learner's failure; results.json says what to change."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv")
    from tests.conftest import _others_can_read

    if _others_can_read(Path(os.path.realpath(sys.executable))):
        pytest.skip("this Python is readable by every user")
    root = _autograder(open_folder, lessons=["1"])
    shutil.copytree(CORRECT, root / "submission")
    result = _run_autograder(root, root.parent / "bin", prefix=DOCKER_CAPABILITIES)
    data = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    assert data["score"] == 0 and "not in your work" in data["output"] and "cannot read" in data["output"], data["output"]
    assert "a Python every user may read" in data["output"]


def _cgroup(tmp_path: Path, **files: str) -> Path:
    root = tmp_path / "cgroup"
    root.mkdir()
    for name, text in files.items():
        (root / name.replace("_", ".")).write_text(text)
    return root


@pytest.mark.parametrize(("files", "workers"), [
    ({"cpu_max": "max 100000", "memory_max": "max"}, None),  # no limits: the CPUs this process may use
    ({"cpu_max": "100000 100000", "memory_max": "max"}, 1),  # one CPU's worth of quota on a big host
    ({"cpu_max": "250000 100000", "memory_max": str(8 * 1024**3)}, 3),
    ({"cpu_max": "400000 100000", "memory_max": str(2 * 1024**3)}, 2),  # memory allows two
    ({"cpu_max": "400000 100000", "memory_max": str(512 * 1024**2)}, 1),
])
def test_workers_are_sized_from_the_container(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict,
                                              workers: int | None) -> None:
    from grader.box import capacity

    root = _cgroup(tmp_path, **files)
    monkeypatch.setattr(capacity, "CGROUP", root)
    monkeypatch.setattr(capacity, "_own_cgroup", lambda: root)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)))
    assert capacity.default_workers() == (64 if workers is None else workers)


def test_bundle_names_the_assignment_and_refuses_a_lesson_that_does_not_exist(tmp_path: Path) -> None:
    made = grader("bundle", "--lesson", "1", "--out", "autograder.zip", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert "Ubuntu 24.04" in made.stdout and "lesson 1, 190 points in all" in made.stdout
    with zipfile.ZipFile(tmp_path / "autograder.zip") as archive:
        assert "--lesson 1" in archive.read("run_autograder").decode()
    both = grader("bundle", "--lesson", "1", "--lesson", "imageGen2.py", "--out", "both.zip", cwd=tmp_path)
    assert both.returncode == 0 and "lesson 1 and lesson 2" in both.stdout, both.stderr
    wrong = grader("bundle", "--lesson", "7", "--out", "x.zip", cwd=tmp_path)
    assert wrong.returncode == 1 and "there is no lesson '7' to grade" in wrong.stderr and not (tmp_path / "x.zip").exists()
