"""One attempt at any task, as the quiz and the notebook widgets make it: saved, counted and checked.

Both front ends answer every type through these two calls, so a terminal and a notebook count attempts,
save answers and judge them alike:

- `earlier_answer(task, answers_path)`: what an earlier run saved for the task, how many attempts it used,
  and the verdict on it (code tests are not run again: their outcome was saved);
- `answer_task(task, answer, answers_path)`: save the answer, count the attempt, check it. A code test is
  run first and what the run found is saved (`Task.answered_by_running`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .answers import attempts_used, load_answers, record_answer
from .task import Task
from .verdict import Verdict


@dataclass(frozen=True)
class Earlier:
    """What earlier runs left for one task: the answer saved (None: none), the attempts used, its verdict."""

    answer: list[str] | None
    used: int
    verdict: Verdict | None  # None when nothing was saved, or the saved answer can't be judged (edited by hand)

    def finished(self, task: Task) -> bool:
        """The task was finished then (answered right, or every attempt used): show the answer, ask no more."""
        return self.verdict is not None and task.finished(self.verdict, self.used)


def earlier_answer(task: Task, answers_path: Path) -> Earlier:
    used = attempts_used(answers_path, task.task_id)
    saved = load_answers(answers_path).get(task.task_id) if used else None
    verdict = None
    if saved:
        try:
            verdict = task.recorded(saved, attempt=used)
        except Exception:  # noqa: BLE001 - an answers.json edited by hand: ask again rather than fail
            verdict = None
    return Earlier(saved, used, verdict)


def answer_task(task: Task, answer: list[str], answers_path: Path, *,
                workspace: Path | None = None) -> tuple[Verdict, int]:
    """Save `answer`, count the attempt and check it; the verdict and the attempts used on the task in all."""
    if task.answered_by_running:
        verdict = task.check(answer, attempt=attempts_used(answers_path, task.task_id) + 1, workspace=workspace)
        return verdict, record_answer(answers_path, task.task_id, list(verdict.chosen))
    used = record_answer(answers_path, task.task_id, answer)
    return task.check(answer, attempt=used, workspace=workspace), used
