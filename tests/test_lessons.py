"""Do the reference solutions pass every step's checks, and do the exercises say what is missing?

Each step runs as a subprocess (`python imageGen.py N`) with the real SDK against a server on
loopback, with a key of its own; its checks read that key's rows in the request log.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from course.build import check_build
from course.lesson.solutions import strip_solutions
from course.lesson.checks import StepRun, evaluate
from course.errors import CourseError
from course.lesson.lessons import all_lessons, find_lesson
from course.offline.requestlog import read_log
from tests.conftest import REPO

pytestmark = pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")


def copy_lesson(folder: Path, tmp: Path) -> Path:
    shutil.copytree(REPO / folder / "assets", tmp / "assets")
    for script in (REPO / folder).glob("*.py"):
        shutil.copy(script, tmp / script.name)
    return tmp


def run_step(server, workdir: Path, script: str, number: int) -> StepRun:
    key = f"sk-lesson-{uuid.uuid4().hex[:16]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY=key, PYTHONPATH=str(REPO))
    started = time.time()
    done = subprocess.run([sys.executable, script, str(number)], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=60)
    return StepRun(number, done.stdout, done.stderr, done.returncode, read_log(server.data_dir, key=key), workdir,
                   started, source=(workdir / script).read_text(encoding="utf-8"))


LESSON_STEPS = [(lesson.number, step["number"]) for lesson in all_lessons() for step in lesson.steps]


@pytest.mark.parametrize("lesson_number,step", LESSON_STEPS, ids=[f"lesson{l}-step{s}" for l, s in LESSON_STEPS])
def test_solution_step_passes_its_checks(server, tmp_path, lesson_number: int, step: int) -> None:
    """Does the reference solution pass every check of this step?"""
    lesson = find_lesson(lesson_number)
    workdir = copy_lesson(Path("solutions"), tmp_path)
    run = run_step(server, workdir, lesson.script, step)
    result = evaluate(lesson.step(step), run)
    assert result.passed, f"{result.render()}\n--- stdout\n{run.stdout}\n--- stderr\n{run.stderr}"
    assert result.checks, "every step has checks"


def test_lesson1_outputs(server, tmp_path) -> None:
    """Do lesson 1's steps print what the lesson says they print?"""
    workdir = copy_lesson(Path("solutions"), tmp_path)
    assert run_step(server, workdir, "imageGen.py", 1).stdout == ""
    assert run_step(server, workdir, "imageGen.py", 2).stdout.startswith("ImagesResponse(created=")
    assert run_step(server, workdir, "imageGen.py", 3).stdout.startswith(server.root_url + "/private/")
    four = run_step(server, workdir, "imageGen.py", 4)
    assert "'255x255' is not one of ['256x256', '512x512', '1024x1024', '1024x1792', '1792x1024'] - 'size'" in four.stdout


@pytest.mark.parametrize("lesson_number,step", LESSON_STEPS, ids=[f"lesson{l}-step{s}" for l, s in LESSON_STEPS])
def test_exercise_step_says_it_is_not_written(server, tmp_path, lesson_number: int, step: int) -> None:
    """Does an untouched exercise step say it is not written yet, and exit non-zero?"""
    lesson = find_lesson(lesson_number)
    workdir = copy_lesson(Path("exercises"), tmp_path)
    run = run_step(server, workdir, lesson.script, step)
    assert run.exit_code == 3
    assert f"step {step} is not written yet" in run.stderr or "is not written yet" in run.stderr
    assert not evaluate(lesson.step(step), run).passed


def test_listing_and_unknown_steps(tmp_path) -> None:
    """Does a script with no step list its steps, and an unknown step give one clear line?"""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_API_KEY": "x"}
    listing = subprocess.run([sys.executable, "imageGen.py"], cwd=REPO / "exercises", env=env, capture_output=True,
                             text=True, timeout=60)
    assert listing.returncode == 0
    assert "imageGen.py has 5 steps" in listing.stdout and "  4  Ask for an invalid size and read the error" in listing.stdout
    unknown = subprocess.run([sys.executable, "imageGen.py", "9"], cwd=REPO / "exercises", env=env,
                             capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == "imageGen.py: there is no step '9'; the steps are 1 to 5 (python imageGen.py lists them)."


def test_exercises_match_their_solutions() -> None:
    """Are exercises/ and the locked questions exactly what `course build` makes from solutions/?"""
    assert check_build() == []


def test_strip_solutions_replaces_each_block_with_todo() -> None:
    """Does each solution block become one todo() line at its indentation, and bad markers fail clearly?"""
    source = "def f():\n    x = 1\n    # BEGIN SOLUTION\n    y = 2\n    # END SOLUTION\n    return x\n"
    assert strip_solutions(source) == (
        "def f():\n    x = 1\n    todo()  # your code here: see the lesson page for this step\n    return x\n")
    with pytest.raises(CourseError, match="never closed"):
        strip_solutions("# BEGIN SOLUTION\nx = 1\n")
    with pytest.raises(CourseError, match="line 1: END SOLUTION without"):
        strip_solutions("# END SOLUTION\n")


def test_drift_is_detected(tmp_path) -> None:
    """Does a changed exercise count as drift?"""
    repo = tmp_path / "repo"
    for name in ("solutions", "exercises"):
        shutil.copytree(REPO / name, repo / name, ignore=shutil.ignore_patterns("*.webp", "paper_boat.png"))
    shutil.copytree(REPO / "course" / "content" / "assessments", repo / "course" / "content" / "assessments")
    assert check_build(repo) == []
    (repo / "exercises" / "imageGen.py").write_text("print('changed by hand')\n")
    assert check_build(repo) == ["exercises/imageGen.py"]
