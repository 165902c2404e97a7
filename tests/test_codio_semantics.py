"""Codio's own rules for assessment fields, each as Codio's documentation states it: fill-in-the-blank answers
compared without letter case, blanks taken from the assessment's token list, and "one time test"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from course.lesson.assessments import judge, load_guide_assessments, read_assessment
from course.lesson.answers import attempts_used
from grader.guide import score_task
from tests.conftest import REPO

FOLDER = REPO / "tests" / "fixtures" / "codio_semantics"


def fixture(task_id: str) -> dict:
    return json.loads((FOLDER / f"{task_id}.json").read_text(encoding="utf-8"))


def quiz(*args: str, cwd: Path, stdin: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    env.update(PYTHONPATH=str(REPO), COLUMNS="100")
    return subprocess.run([sys.executable, "-m", "course", "quiz", *args], cwd=cwd, env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)


# --------------------------------------------------------------------------- fill in the blanks


def test_blank_answers_ignore_letter_case() -> None:
    """Codio, "Fill in the blanks" (https://codio.com/docs/content/authoring/assessments/assessments-fitb/):
    "Codio ensures that the response is case insensitive"."""
    task = read_assessment(fixture("fill-in-the-blanks-3001"), origin="x")
    assert judge(task, ["true", ">", "//", "2026"]).correct
    assert judge(task, ["TRUE", ">", "//", "2026"]).correct
    assert not judge(task, ["yes", ">", "//", "2026"]).correct


def test_blanks_come_from_the_token_list_so_symbols_work_as_written() -> None:
    """Codio saves each blank's answer in the assessment's `tokens.blank` list and marks the patterns in
    `tokens.regexPositions` ("Fill in the Blanks", https://docs.codio.com/instructors/authoring/assessments/fill-in-blanks.html,
    "Regular Expression Support"): `<<<>>>>` is the answer `>`, `<<<//>>>` the text `//`."""
    task = read_assessment(fixture("fill-in-the-blanks-3001"), origin="x")
    assert [b.shown for b in task.blanks] == ["True", ">", "//", "/^[0-9]{4}$/"]
    assert task.text_with_gaps().splitlines()[1] == "In `a [2 ____] b` the blank compares: greater than."
    assert judge(task, ["True", ">", "//", "1999"]).correct
    wrong = judge(task, ["True", "", "anything", "1999"])
    assert not wrong.correct and wrong.points == 2  # `>` is not empty, and `//` is no pattern that matches anything
    assert not judge(task, ["True", ">", "//", "99"]).correct  # the pattern still is one


def test_a_text_with_more_blanks_than_tokens_is_read_from_the_text() -> None:
    data = fixture("fill-in-the-blanks-3001")
    data["source"]["tokens"]["blank"] = ["True"]
    task = read_assessment(data, origin="x")
    assert len(task.blanks) == 4  # the text is read as before: the list does not say what it holds


# --------------------------------------------------------------------------- one time test


def test_one_time_test_allows_one_attempt_whatever_the_count_says() -> None:
    """Codio, "Assessments" (https://docs.codio.com/courses/assessments/): an assessment can "only be answered
    once, giving a true reflection of understanding"; Codio saves this as `"oneTimeTest": true`."""
    task = read_assessment(fixture("fill-in-the-blanks-3002"), origin="x")
    assert task.one_time and task.max_attempts == 1
    assert task.out_of_attempts(1) and task.attempts_left(0) == 1 and task.counted([["x"], ["for"]]) == [["x"]]
    assert read_assessment(fixture("fill-in-the-blanks-3001"), origin="x").max_attempts == 0


def test_the_grader_counts_one_attempt_of_a_one_time_test() -> None:
    task = read_assessment(fixture("fill-in-the-blanks-3002"), origin="x")
    assert score_task(task, ["for"], 1).points == 1
    twice = score_task(task, ["for"], 2)
    assert twice.points == 0 and "more than the 1 attempts allowed" in twice.reason


def test_the_quiz_asks_a_one_time_test_once(tmp_path: Path) -> None:
    assert load_guide_assessments(FOLDER)["fill-in-the-blanks-3002"].max_attempts == 1
    done = quiz("--questions", str(FOLDER), "fill-in-the-blanks-3002", cwd=tmp_path, stdin="while\nfor\n")
    assert done.returncode == 0, done.stderr
    assert attempts_used(tmp_path / "answers.json", "fill-in-the-blanks-3002") == 1
    assert json.loads((tmp_path / "answers.json").read_text(encoding="utf-8"))["fill-in-the-blanks-3002"] == ["while"]
    again = quiz("--questions", str(FOLDER), "fill-in-the-blanks-3002", cwd=tmp_path, stdin="for\n")
    assert again.returncode == 0 and "this question is finished" in again.stdout


def test_the_notebook_takes_one_answer_to_a_one_time_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ipywidgets")
    from course.jupyter import question

    monkeypatch.chdir(tmp_path)
    box = question("fill-in-the-blanks-3002", guide=FOLDER)
    box.fill("while")
    assert not box.check().correct
    box.fill("for")
    box.check()
    assert attempts_used(tmp_path / "answers.json", "fill-in-the-blanks-3002") == 1
    assert json.loads((tmp_path / "answers.json").read_text(encoding="utf-8"))["fill-in-the-blanks-3002"] == ["while"]


# --------------------------------------------------------------------------- HTML in instructions and guidance


def test_the_quiz_converts_html_in_instructions_and_guidance_as_pages_are(tmp_path: Path) -> None:
    """Codio draws an assessment's instructions and guidance as it draws a page: Markdown with HTML allowed. The quiz
    shows what a page would (a `<details>` as its summary and text, `<br>` as a line break), not nothing where the
    HTML was, and never the tags themselves."""
    done = quiz("--questions", str(FOLDER), "multiple-choice-3003", cwd=tmp_path, stdin="b\n")
    assert done.returncode == 0, done.stderr
    shown = " ".join(done.stdout.split())
    assert "at least once" in shown and "Pick one." in shown
    assert "do-while" in shown and "tests its condition after the body" in shown
    assert "Why it matters" in shown and "A menu is shown before the first choice is read." in shown
    assert not any(tag in done.stdout for tag in ("<em>", "<br>", "<details>", "<summary>", "<strong>", "<p>"))
