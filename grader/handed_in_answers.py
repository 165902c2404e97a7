"""The questions' answers as `grader grade` scores them, from the answers.json files a learner handed in.

The files are read by the course's own reader (`course.lesson.answers.read_handed_in`: byte-order marks,
UTF-16, ids in another letter case, a bare string, an `"answers"` wrapper); each question then makes
its answer canonical (`Question.answer_from_file`: an answer written as its text instead of its id,
`"1 to 10"`, in another case, with spaces around it). A file that cannot be read at all is never
"not answered": every question it could hold says why it could not be read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from course.lesson.answers import MAX_BYTES, read_handed_in
from course.lesson.task import Task

__all__ = ["MAX_BYTES", "Answers", "AnswersFile", "read_answers", "read_answers_file"]


@dataclass
class AnswersFile:
    path: Path
    answers: dict[str, list[str]] = field(default_factory=dict)  # canonical question id -> canonical answer
    problem: str = ""  # why it could not be read ("" when it was)


def read_answers_file(path: Path, questions: dict[str, Task]) -> AnswersFile:
    """One answers.json, for the questions known (`questions`: canonical id -> its Task)."""
    handed_in = read_handed_in(path)
    found = AnswersFile(path, problem=handed_in.problem)
    for task_id, task in questions.items():
        values = handed_in.values(task_id)
        if values is not None:
            found.answers[task_id] = task.answer_from_file(values)
    return found


@dataclass
class Answers:
    """The answers for a set of questions, taken from several files in order of preference."""

    files: list[AnswersFile]

    def for_question(self, task_id: str) -> tuple[list[str] | None, str]:
        """(the chosen answer ids, "") from the first file that answers it; else (None, why not)."""
        for f in self.files:
            if task_id in f.answers:
                return f.answers[task_id], ""
        broken = [f for f in self.files if f.problem]
        if broken:
            return None, f"{broken[0].path.name} could not be read: {broken[0].problem}"
        return None, "not answered"

    def file_of(self, task_id: str) -> Path | None:
        """The file whose answer counts for `task_id` (the first that answers it)."""
        return next((f.path for f in self.files if task_id in f.answers), None)


def read_answers(paths: list[Path], questions: dict[str, Task]) -> Answers:
    return Answers([read_answers_file(p, questions) for p in paths])
