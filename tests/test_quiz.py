"""The terminal quiz: does a learner get clear feedback, keep every answer, and leave without a traceback?"""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest
from rich.console import Console

from course.lesson.answers import attempts_used, load_answers, record_answer
from course.errors import CourseError
from course.lesson.questions import build_locked, load_questions
from course.terminal.quiz import QuizResult, run_quiz
from tests.conftest import REPO
from tests.test_questions import IDS, key_json, write

DRIVER = """
import json, sys
from pathlib import Path
from rich.console import Console
from course.lesson.questions import load_questions
from course.terminal.quiz import run_quiz
questions = load_questions(sys.argv[1])
result = run_quiz(list(questions.values()), answers_path=Path(sys.argv[2]), console=Console())
print("RESULT " + json.dumps(result.to_dict()))
"""


@pytest.fixture
def lesson(tmp_path: Path) -> Path:
    """Two learner's copies, locked from keys: a single-response and a multiple-response question."""
    keys = tmp_path / "keys"
    write(keys, key_json("multiple-choice-1", points=1, maxAttemptsCount=3,
                         showGuidanceAfterResponseOption={"type": "Attempts", "passedFrom": 2},
                         guidance="Squares only: **256x256** and up."))
    write(keys, key_json("multiple-choice-2", correct=(0, 2), n=3, name="Two of three",
                         showGuidanceAfterResponseOption={"type": "Never"}, guidance="SECRET GUIDANCE"))
    build_locked(keys, tmp_path / "assessments")
    return tmp_path / "assessments"


def scripted(*lines: str | type[BaseException]) -> Callable[[str], str]:
    """An `ask` that answers from a script; an exception class in it is raised instead."""
    replies: Iterator[Any] = iter(lines)

    def ask(prompt: str) -> str:
        reply = next(replies, EOFError)
        if isinstance(reply, type) and issubclass(reply, BaseException):
            raise reply()
        return reply

    return ask


def quiz(lesson: Path, answers: Path, *lines: Any) -> tuple[QuizResult, str]:
    console = Console(file=io.StringIO(), width=100, color_system=None)
    questions = list(load_questions(lesson).values())
    result = run_quiz(questions, answers_path=answers, console=console, ask=scripted(*lines))
    return result, console.file.getvalue()  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- in process


def test_wrong_then_right_with_guidance_after_two_attempts(lesson: Path, tmp_path: Path) -> None:
    """Does the guidance wait for the second attempt, and multiple response take letters with commas?"""
    answers = tmp_path / "answers.json"
    result, out = quiz(lesson, answers, "a", "b", "a, c")
    assert out.count("Not quite.") == 1 and out.count("Correct!") == 2
    assert out.index("Squares only") > out.index("Correct!")  # shown after attempt 2, not after attempt 1
    assert "SECRET GUIDANCE" not in out  # rule Never
    assert [o.status for o in result.outcomes] == ["correct", "correct"] and result.ended == "finished"
    assert load_answers(answers) == {"multiple-choice-1": [IDS[1]], "multiple-choice-2": [IDS[0], IDS[2]]}


def test_attempts_already_used_count_and_exhausted_questions_are_passed(lesson: Path, tmp_path: Path) -> None:
    """With 2 of 3 attempts used earlier, does one more wrong answer end that question and move on?"""
    answers = tmp_path / "answers.json"
    record_answer(answers, "multiple-choice-1", [IDS[0]])
    record_answer(answers, "multiple-choice-1", [IDS[2]])
    result, out = quiz(lesson, answers, "c", "")
    assert "Attempts: 2 of 3 used" in out and "No attempts left on this question (3 of 3 used)" in out
    assert result.outcomes[0].status == "incorrect" and result.outcomes[1].status == "skipped"
    assert attempts_used(answers, "multiple-choice-1") == 3

    again, out = quiz(lesson, answers, "")
    # finished in the earlier run: the recorded answer and its result, not a bare "no attempts left"
    first = again.outcomes[0]
    assert (first.status, first.recorded, first.attempts_made) == ("incorrect", True, 0)
    assert "Your answer: " in out and "Not quite." in out and "this question is finished" in out
    assert "Squares only" in out  # its guidance shows now that the attempts are used up
    assert "Total: 0 of 2 points" in _render(again)


def _render(result: QuizResult) -> str:
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(result)
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_a_finished_run_shows_the_score_per_question_and_in_total(lesson: Path, tmp_path: Path) -> None:
    answers = tmp_path / "answers.json"
    result, _ = quiz(lesson, answers, "b", "a, c")
    summary = _render(result)
    assert "Total: 2 of 2 points; 2 of 2 questions correct." in summary
    assert "1/1" in summary
    again, out = quiz(lesson, answers)  # everything answered right: nothing is asked again
    assert [o.recorded for o in again.outcomes] == [True, True] and again.ended == "finished"
    assert out.count("this question is finished") == 2


def test_the_score_table_counts_attempts_in_all_as_the_grader_does(lesson: Path, tmp_path: Path) -> None:
    """Attempts are those used on the question in all runs ("2 of 3", as the question's panel and `grader check`
    say), not only this run's; a question finished earlier shows its count, not 0."""
    answers = tmp_path / "answers.json"
    record_answer(answers, "multiple-choice-1", [IDS[0]])  # an earlier run's wrong answer
    result, _ = quiz(lesson, answers, "b", "")
    first = result.outcomes[0]
    assert (first.attempts_made, first.attempts_used, first.max_attempts) == (1, 2, 3)
    table = _render(result)
    row = next(line for line in table.splitlines() if "Image sizes" in line)
    assert "2 of 3" in row and "1/1" in row
    again, _ = quiz(lesson, answers, "")
    row = next(line for line in _render(again).splitlines() if "Image sizes" in line)
    assert "2 of 3" in row and again.outcomes[0].recorded
    assert json.loads(json.dumps(again.to_dict()))["outcomes"][0]["attempts_used"] == 2


def test_invalid_input_is_explained_and_costs_nothing(lesson: Path, tmp_path: Path) -> None:
    """Are a wrong letter, two letters for one answer and run-together letters explained, using no attempt?"""
    answers = tmp_path / "answers.json"
    _, out = quiz(lesson, answers, "z", "a b", "b", "ac", "a c")
    assert "'z' is not one of the options; type a letter from a to d." in out
    assert "This question takes one answer" in out
    assert "Separate the letters with spaces or commas, like: a c" in out
    assert attempts_used(answers, "multiple-choice-1") == 1 and attempts_used(answers, "multiple-choice-2") == 1


def test_q_quits_and_keyboard_interrupt_ends_quietly(lesson: Path, tmp_path: Path) -> None:
    """Do 'q' and Ctrl+C end the quiz at once, keeping what was saved?"""
    answers = tmp_path / "answers.json"
    result, out = quiz(lesson, answers, "a", "q")
    assert result.ended == "quit" and [o.status for o in result.outcomes] == ["incorrect", "not reached"]
    result, out = quiz(lesson, answers, "b", KeyboardInterrupt)
    assert result.ended == "interrupted" and "your answers so far are saved" in out
    assert load_answers(answers) == {"multiple-choice-1": [IDS[1]]}


def test_corrupt_answers_file_stops_the_quiz_before_it_starts(lesson: Path, tmp_path: Path) -> None:
    """Is a corrupt answers.json reported before any question, and left as it was?"""
    answers = tmp_path / "answers.json"
    answers.write_text("{oops")
    with pytest.raises(CourseError, match="not valid JSON"):
        quiz(lesson, answers, "b")
    assert answers.read_text() == "{oops"


def test_result_renders_and_serialises(lesson: Path, tmp_path: Path) -> None:
    result, _ = quiz(lesson, tmp_path / "answers.json", "b", "")
    console = Console(record=True, width=100)
    console.print(result)
    assert "Total: 1 of 2 points; 1 of 2 questions correct." in console.export_text()
    assert json.loads(json.dumps(result.to_dict()))["outcomes"][1]["status"] == "skipped"


# --------------------------------------------------------------------------- in a real terminal


def spawn(lesson: Path, answers: Path) -> pexpect.spawn:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TERM": "xterm-256color", "PYTHONUNBUFFERED": "1"}
    env.pop("COLUMNS", None)
    env.pop("NO_COLOR", None)
    return pexpect.spawn(sys.executable, ["-c", DRIVER, str(lesson), str(answers)], env=env, encoding="utf-8",
                         timeout=20, dimensions=(40, 120))


def finish(child: pexpect.spawn) -> dict[str, Any]:
    child.expect("RESULT (.*)\r\n")
    result = json.loads(child.match.group(1))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "Traceback" not in child.before
    return result


def test_terminal_wrong_then_right_is_saved_and_read_back(lesson: Path, tmp_path: Path) -> None:
    """In a real terminal: does a wrong answer get 'Not quite', the right one 'Correct!', and both get saved?"""
    answers = tmp_path / "answers.json"
    child = spawn(lesson, answers)
    child.expect("Question 1 of 2: Image sizes")
    child.expect("Your answer")
    child.sendline("a")
    child.expect("Not quite")
    child.expect("Try again \\(2 left\\)")
    child.sendline("b")
    child.expect("Correct!")
    child.expect("Squares only")
    child.expect("Question 2 of 2: Two of three")
    child.expect("Your answer")
    child.sendline("")
    child.expect("Skipped")
    result = finish(child)
    assert result["ended"] == "finished" and result["correct"] == 1
    assert json.loads(answers.read_text()) == {"multiple-choice-1": [IDS[1]]}
    assert load_answers(answers) == {"multiple-choice-1": [IDS[1]]}
    assert attempts_used(answers, "multiple-choice-1") == 2


def test_terminal_invalid_input_is_asked_again(lesson: Path, tmp_path: Path) -> None:
    """In a real terminal: is 'z' explained and the question asked again, with no attempt used?"""
    answers = tmp_path / "answers.json"
    child = spawn(lesson, answers)
    child.expect("Your answer")
    child.sendline("z")
    child.expect("not one of the options")
    child.expect("didn't use an attempt")
    child.expect("Your answer")
    child.sendline("b")
    child.expect("Correct!")
    child.expect("Your answer")
    child.sendline("q")
    child.expect("Quiz ended")
    assert finish(child)["ended"] == "quit"
    assert attempts_used(answers, "multiple-choice-1") == 1


def test_terminal_ctrl_d_ends_cleanly_and_keeps_answers(lesson: Path, tmp_path: Path) -> None:
    """In a real terminal: does Ctrl+D end the quiz without a traceback, keeping the answer already given?"""
    answers = tmp_path / "answers.json"
    child = spawn(lesson, answers)
    child.expect("Your answer")
    child.sendline("c")
    child.expect("Not quite")
    child.expect("Your answer")
    child.sendeof()
    child.expect("Quiz ended; your answers so far are saved")
    assert finish(child)["ended"] == "end of input"
    assert load_answers(answers) == {"multiple-choice-1": [IDS[2]]}


def test_terminal_ctrl_c_ends_cleanly(lesson: Path, tmp_path: Path) -> None:
    """In a real terminal: does Ctrl+C end the quiz without a traceback?"""
    child = spawn(lesson, tmp_path / "answers.json")
    child.expect("Your answer")
    child.sendintr()
    child.expect("Quiz ended")
    assert finish(child)["ended"] == "interrupted"
