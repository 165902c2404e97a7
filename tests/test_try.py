"""Does `course try` run a learner's step, save and preview its images, judge it, and remember the outcome?"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from course.lesson.checks import StepRun
from course.lesson.lessons import find_lesson
from course.lesson.progress import lesson_progress, record_step
from course.terminal.trying import preview
from tests.conftest import REPO


def learner_folder(tmp_path: Path, source: str = "exercises") -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    shutil.copy(REPO / source / "imageGen.py", folder / "imageGen.py")
    shutil.copytree(REPO / source / "assets", folder / "assets")
    return folder


def course(folder: Path, server, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(PYTHONPATH=str(REPO), OPENAI_BASE_URL=server.base_url, COURSE_OFFLINE_DATA_DIR=str(server.data_dir))
    return subprocess.run([sys.executable, "-m", "course", *args], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=120)


def test_unwritten_step_fails_and_is_recorded(server, tmp_path) -> None:
    """Does trying an unwritten exercise step say so, fail, and show up as failed in progress?"""
    folder = learner_folder(tmp_path)
    result = course(folder, server, "try", "3")
    assert result.returncode == 1
    assert "step 3 is not written yet" in result.stdout
    assert "step 3 (Print only the image URL): failed" in result.stdout
    progress = json.loads(course(folder, server, "progress", "--json").stdout)
    statuses = {s["step"]: s["status"] for s in progress[0]["steps"]}
    assert statuses == {1: "not tried", 2: "not tried", 3: "failed", 4: "not tried", 5: "not tried"}


def test_solved_step_passes_saves_its_image_and_is_recorded(server, tmp_path) -> None:
    """Does a written step pass, save the image it got under images/, and count as passed?"""
    folder = learner_folder(tmp_path, "solutions")
    result = course(folder, server, "try", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "step 3 (Print only the image URL): passed" in result.stdout
    saved = folder / "images" / "lesson1-step3-1.png"
    assert saved.read_bytes().startswith(b"\x89PNG")
    assert f"image saved: {saved}" in result.stdout
    table = course(folder, server, "progress").stdout
    assert "step 3" in table and "passed" in table and "1/5 steps passed" in table


def test_hand_typed_url_fails_step3(server, tmp_path) -> None:
    """Does printing a URL that this run was not given fail step 3, even though a real URL is printed?"""
    folder = learner_folder(tmp_path, "solutions")
    url = server.client().images.generate(prompt="a cat", size="256x256").data[0].url
    script = folder / "imageGen.py"
    script.write_text(script.read_text().replace("    image_url = response.data[0].url\n",
                                                 f"    image_url = {url!r}\n"))
    result = course(folder, server, "try", "3")
    assert result.returncode == 1
    assert "does not show the URL the API issued to this run" in result.stdout


def test_crash_gets_a_hint_in_try(server, tmp_path) -> None:
    """Does a step that fails with a known mistake show its hint under `course try`?"""
    folder = learner_folder(tmp_path, "solutions")
    script = folder / "imageGen.py"
    script.write_text(script.read_text().replace("response.data[0].url", "response['data'][0]['url']"))
    result = course(folder, server, "try", "3")
    assert result.returncode == 1
    assert "hint [subscripted-response]" in result.stdout


def test_missing_script_is_one_clear_line(server, tmp_path) -> None:
    """Without the lesson's script in the folder, is the error one line with a hint?"""
    empty = tmp_path / "empty"
    empty.mkdir()
    result = course(empty, server, "try", "1")
    assert result.returncode == 1
    assert result.stderr.startswith("error: there is no ") and "imageGen.py" in result.stderr
    assert "Traceback" not in result.stderr


def test_preview_draws_half_blocks(tmp_path) -> None:
    """Is a picture previewed as coloured half blocks, two pixel rows per line?"""
    from PIL import Image

    path = tmp_path / "p.png"
    Image.new("RGB", (64, 64), (255, 0, 0)).save(path)
    text = preview(path, width=16)
    assert text is not None
    assert text.plain.count("\n") == 8 and text.plain.count("▀") == 128
    assert "rgb(255,0,0)" in str(text.spans[0].style)
    assert preview(tmp_path / "missing.png") is None


def test_preview_shows_in_a_colour_terminal(server, tmp_path) -> None:
    """In a real colour terminal, does `course try` draw the picture (truecolor escapes around ▀)?"""
    folder = learner_folder(tmp_path, "solutions")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(PYTHONPATH=str(REPO), OPENAI_BASE_URL=server.base_url, COURSE_OFFLINE_DATA_DIR=str(server.data_dir),
               TERM="xterm-256color", COLORTERM="truecolor", COLUMNS="100")
    child = pexpect.spawn(sys.executable, ["-m", "course", "try", "1"], cwd=str(folder), env=env, timeout=60,
                          encoding="utf-8")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert "▀" in child.before and "\x1b[38;2;" in child.before


def test_progress_keeps_history(tmp_path) -> None:
    """Does the record count tries and remember a step that once passed?"""
    record_step(tmp_path, 1, 2, True)
    record_step(tmp_path, 1, 2, False, "broke it")
    data = json.loads((tmp_path / ".course" / "progress.json").read_text())
    assert data["lesson1"]["steps"]["2"]["tries"] == 2
    assert data["lesson1"]["steps"]["2"]["ever_passed"] is True
    assert data["lesson1"]["steps"]["2"]["status"] == "failed"
    rows = lesson_progress(tmp_path, [find_lesson(1)])
    assert rows[0].steps[1][2] == "failed" and rows[0].steps[0][2] == "not tried"


def test_questions_in_progress_are_self_checked(tmp_path) -> None:
    """Are answered questions marked correct or wrong from the locked copies, without the keys?"""
    from course.lesson.questions import load_question

    key = load_question(REPO / "solutions" / "assessments" / "multiple-choice-1558564085.json")
    right = sorted(key.correct_ids)
    wrong = [a.id for a in key.answers if a.id not in key.correct_ids][:1]
    (tmp_path / "answers.json").write_text(json.dumps({"multiple-choice-1558564085": right}))
    rows = lesson_progress(tmp_path, [find_lesson(1)])
    assert ("multiple-choice-1558564085", "correct") in rows[0].questions
    (tmp_path / "answers.json").write_text(json.dumps({"multiple-choice-1558564085": wrong}))
    rows = lesson_progress(tmp_path, [find_lesson(1)])
    assert ("multiple-choice-1558564085", "wrong") in rows[0].questions
    assert sum(1 for _, s in rows[0].questions if s == "not answered") == len(rows[0].questions) - 1


def test_damaged_progress_file_is_kept(tmp_path) -> None:
    """Is a damaged progress file reported, not overwritten?"""
    from course.errors import CourseError

    (tmp_path / ".course").mkdir()
    (tmp_path / ".course" / "progress.json").write_text("{not json")
    with pytest.raises(CourseError, match="damaged"):
        record_step(tmp_path, 1, 1, True)
    assert (tmp_path / ".course" / "progress.json").read_text() == "{not json"


def test_step_run_without_log_still_judges_exit() -> None:
    """With the live API (no request log), is a step judged on what can be judged?"""
    from course.lesson.checks import evaluate

    result = evaluate({"number": 1, "checks": [{"kind": "exit"}]}, StepRun(1, "", "", 0))
    assert result.passed


def test_a_step_failing_inside_the_step_it_calls_says_so(server, tmp_path) -> None:
    """Step 5 calls step4(), whose refusal was not caught: step 5 goes on as if step4() had succeeded and is
    judged on its own work; the note says so and is about step 4 (catch it there), never the size hint, in
    `python imageGen.py 5` as in `course try 5`; no SDK frames shown."""
    folder = tmp_path / "work"
    shutil.copytree(REPO / "tests" / "fixtures" / "submissions" / "step4_uncaught_traceback", folder)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(PYTHONPATH=str(REPO), OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="sk-test")
    script = subprocess.run([sys.executable, "imageGen.py", "5"], cwd=folder, env=env, capture_output=True, text=True,
                            timeout=60)
    assert script.returncode == 0, script.stderr
    assert "hint [earlier-step]: Step 5 calls step4(), which stopped with BadRequestError (400)" in script.stderr
    assert "catch the error there" in script.stderr and "Step 5 went on as if step4() had succeeded" in script.stderr
    assert "invalid-size" not in script.stderr
    tried = course(folder, server, "try", "5")
    assert tried.returncode == 0, tried.stdout
    assert "step 5 (Go back to a valid size): passed" in tried.stdout
    assert "hint [earlier-step]: Step 5 calls step4(), which stopped with BadRequestError (400)" in tried.stdout
    assert "invalid-size" not in tried.stdout and "site-packages" not in tried.stdout
    assert 'File "imageGen.py", line' in tried.stdout
