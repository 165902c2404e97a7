"""The quiz in a terminal: one question at a time, of any type, with feedback and guidance as Codio gives them.

One loop (`_run_one`) asks every task through its interface: its form (`course.terminal.task_forms`) draws it
and reads the answer, `course.lesson.answering` saves, counts and checks it, and the task's own rules say
how many attempts are left and whether the guidance shows.

Every attempt is saved as it is made (answers.json plus the attempts count), so ending the quiz
any way at all (an empty line, q, Ctrl+D, Ctrl+C) loses nothing already answered. Invalid input
is explained and asked again; it never costs an attempt. Feedback comes from the learner's copy
(the lock) or from a key, whichever the questions are; with a lock, partial credit is not shown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..lesson.answering import answer_task, earlier_answer
from ..lesson.answers import attempts_used, load_answers
from ..lesson.questions import question_label
from ..lesson.task import Task
from ..lesson.verdict import Verdict
from ..lesson.wording import capitalised, for_people
from .pages import render_text
from .task_forms import form_for, parse_letters

__all__ = ["QuestionOutcome", "QuizResult", "parse_letters", "run_quiz"]

Status = Literal["correct", "incorrect", "skipped", "no attempts left", "not reached", "to be marked"]
Ending = Literal["finished", "quit", "end of input", "interrupted"]


@dataclass
class QuestionOutcome:
    task_id: str
    name: str
    status: Status
    attempts_made: int = 0  # in this run
    attempts_used: int = 0  # in all, as answers.json's attempts count keeps them (what the grader counts too)
    max_attempts: int = 0  # 0: unlimited
    verdict: Verdict | None = None
    label: str = ""  # "lesson 1, question 2: How many images per request"
    possible: float = 0.0
    recorded: bool = False  # the result is an earlier run's (the question was finished then)

    @property
    def points(self) -> float:
        return self.verdict.points if self.verdict is not None else 0.0

    def attempts(self) -> str:
        """"2 of 3": the attempts used on the question in all, out of those allowed (the panel's "Attempts: 2 of 3
        used", and what `grader check` says), not only this run's."""
        return f"{self.attempts_used} of {self.max_attempts}" if self.max_attempts else str(self.attempts_used)

    def to_dict(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "name": self.name, "label": self.label, "status": self.status,
                "attempts_made": self.attempts_made, "attempts_used": self.attempts_used,
                "max_attempts": self.max_attempts, "points": self.points, "possible": self.possible,
                "recorded": self.recorded, "verdict": self.verdict.to_dict() if self.verdict else None}


@dataclass
class QuizResult:
    """What happened in one run of the quiz; renders itself as a score summary, per question and in total."""

    answers_path: Path
    outcomes: list[QuestionOutcome] = field(default_factory=list)
    ended: Ending = "finished"

    @property
    def correct(self) -> int:
        return sum(o.status == "correct" for o in self.outcomes)

    @property
    def to_be_marked(self) -> int:
        return sum(o.status == "to be marked" for o in self.outcomes)

    @property
    def points(self) -> float:
        return sum(o.points for o in self.outcomes)

    @property
    def possible(self) -> float:
        return sum(o.possible for o in self.outcomes)

    def to_dict(self) -> dict[str, Any]:
        return {"answers_path": str(self.answers_path), "ended": self.ended, "correct": self.correct,
                "questions": len(self.outcomes), "points": self.points, "possible": self.possible,
                "outcomes": [o.to_dict() for o in self.outcomes]}

    def __rich__(self) -> RenderableType:
        table = Table(title="Your score", title_justify="left")
        table.add_column("Question")
        table.add_column("Result")
        table.add_column("Points", justify="right")
        table.add_column("Attempts", justify="right")
        styles = {"correct": "green", "incorrect": "yellow", "no attempts left": "red", "to be marked": "cyan"}
        for o in self.outcomes:
            result = Text(o.status, style=styles.get(o.status, "dim"))
            if o.recorded:
                result.append(" (answered before)", style="dim")
            table.add_row(Text(capitalised(o.label or o.name)), result, f"{for_people(o.points)}/{for_people(o.possible)}",
                          o.attempts())
        marked = (f" {self.to_be_marked} answer{'s await' if self.to_be_marked != 1 else ' awaits'} a person's marking "
                  "(their points are not in the total yet)." if self.to_be_marked else "")
        footer = Text(f"Total: {for_people(self.points)} of {for_people(self.possible)} points; {self.correct} of "
                      f"{len(self.outcomes)} questions correct.{marked} Answers saved in {self.answers_path}.")
        return Group(table, footer)


class _Stop(Exception):
    def __init__(self, ending: Ending) -> None:
        self.ending = ending


def _guidance(console: Console, task: Task) -> None:
    if task.guidance.strip():
        console.print(Panel(render_text(task.guidance), title="Guidance", title_align="left", border_style="blue"))


def _ask(ask: Callable[[str], str], prompt: str) -> str:
    try:
        return ask(prompt)
    except EOFError:
        raise _Stop("end of input") from None
    except KeyboardInterrupt:
        raise _Stop("interrupted") from None


def _title(q: Task, outcome: QuestionOutcome, number: int, total: int) -> str:
    if outcome.label and outcome.label != q.name and outcome.label != q.task_id:  # a course question: its place
        return outcome.label[0].upper() + outcome.label[1:] + (f"  ({number} of {total})" if total > 1 else "")
    return f"Question {number} of {total}" + (f": {q.name}" if q.show_name else "")


def _run_one(task: Task, outcome: QuestionOutcome, number: int, total: int, *, answers_path: Path,
             console: Console, ask: Callable[[str], str], seed: int | str, workspace: Path | None = None) -> None:
    """Ask one task of any type (its form says how), until it is right, skipped or out of attempts."""
    form = form_for(task, seed=seed, workspace=workspace)
    title = _title(task, outcome, number, total)
    earlier = earlier_answer(task, answers_path)
    used = earlier.used
    if earlier.verdict is not None and earlier.finished(task):
        # finished in an earlier run: what was answered, and how it went (never a bare "no attempts left")
        outcome.verdict, outcome.recorded, outcome.status = earlier.verdict, True, earlier.verdict.status
        console.print(Panel(Group(*form.answered(earlier.answer or []), earlier.verdict,
                                  Text(f"Attempts: {task.attempts_text(used)} used; this question is finished.",
                                       style="dim")),
                            title=title, title_align="left"))
        if earlier.verdict.show_guidance:
            _guidance(console, task)
        return
    console.print(Panel(Group(*form.asking(used)), title=title, title_align="left"))
    if earlier.verdict is not None:
        outcome.verdict, outcome.status = earlier.verdict, earlier.verdict.status
        console.print(form.last_answer(earlier.answer or []), highlight=False)
    while True:
        if task.out_of_attempts(used):
            console.print(f"No attempts left on this question ({used} of {task.max_attempts} used); moving on.",
                          highlight=False)
            if outcome.status == "skipped":
                outcome.status = "no attempts left"
            return
        answer = form.gather(console, lambda prompt: _ask(ask, prompt), _Stop)
        if answer is None:
            console.print("Skipped.", style="dim", highlight=False)
            return
        form.before_check(console)
        verdict, used = answer_task(task, answer, answers_path, workspace=workspace)
        outcome.attempts_made += 1
        outcome.verdict, outcome.recorded, outcome.status = verdict, False, verdict.status
        console.print(verdict)
        if verdict.show_guidance:
            _guidance(console, task)
        if verdict.correct or verdict.by_person:
            return
        if task.out_of_attempts(used):
            continue  # says "no attempts left" and moves on
        console.print(f"{task.try_again(used)}, or press Enter to move on.", style="dim", highlight=False)


def run_quiz(questions: list[Task], *, answers_path: Path, console: Console,
             ask: Callable[[str], str] = input, seed: int | str | None = None,
             places: dict[str, str] | None = None, workspace: Path | None = None) -> QuizResult:
    """Ask each question in turn; save every attempt to `answers_path`; return what happened.

    Questions of every Codio type are asked (see `course.terminal.task_forms`); code tests run their command in
    `workspace` (a guide's workspace; here by default).

    `seed` fixes the order of randomized answers; by default it is the answers file's path, so one
    learner sees the same order every time. A corrupt answers file stops the quiz before it starts
    (CourseError), so nothing is overwritten.
    """
    answers_path = Path(answers_path)
    load_answers(answers_path)  # fail now, not after the learner has answered
    attempts_used(answers_path, "")
    order_seed: int | str = str(answers_path.resolve()) if seed is None else seed
    places = places or {}
    result = QuizResult(answers_path)
    try:
        for number, q in enumerate(questions, 1):
            outcome = QuestionOutcome(q.task_id, q.name, "skipped", label=question_label(q, places.get(q.task_id, "")),
                                      possible=q.points)
            result.outcomes.append(outcome)
            try:
                _run_one(q, outcome, number, len(questions), answers_path=answers_path, console=console, ask=ask,
                         seed=order_seed, workspace=workspace)
            finally:
                _count_attempts(outcome, q, answers_path)
    except (_Stop, KeyboardInterrupt) as stop:
        result.ended = stop.ending if isinstance(stop, _Stop) else "interrupted"
        console.print()
        console.print(f"Quiz ended; your answers so far are saved in {answers_path}.", highlight=False)
    for q in questions[len(result.outcomes):]:
        result.outcomes.append(QuestionOutcome(q.task_id, q.name, "not reached",
                                               label=question_label(q, places.get(q.task_id, "")), possible=q.points))
        _count_attempts(result.outcomes[-1], q, answers_path)
    return result


def _count_attempts(outcome: QuestionOutcome, q: Task, answers_path: Path) -> None:
    """The attempts used on a question in all (this run's and earlier runs'), and how many it allows."""
    try:
        outcome.attempts_used = attempts_used(answers_path, q.task_id)
    except Exception:  # noqa: BLE001 - a count file damaged mid-run: the score still shows, without the count
        outcome.attempts_used = outcome.attempts_made
    outcome.max_attempts = q.max_attempts
