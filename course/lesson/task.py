"""What every Codio assessment is, whatever its type: a `Task`, with its own `check()`, and the rules they share.

Each type is a `Task` in its own module: `questions` (multiple choice), `blanks`, `parsons`, `code_tests`,
`free_text`; `course.lesson.assessments.read_assessment` picks the module by the JSON's `"type"`. Every type
answers the same calls, so the quiz, the notebook widgets and the grader treat them alike:

- `check(answer, attempt=...)` gives the `Verdict` on one answer (code tests run their command to find it);
- `recorded(saved, attempt=...)` the verdict on an answer an earlier run saved;
- `answer_from_file(values)` the answer as a hand-edited answers.json gives it, made canonical.

The attempts rule (how many are left (one only for a "one time test"), when a question is finished, what the grader counts) and the
guidance rule (when the guidance shows) are here, once, for every type.

An answer is always a list of strings, as answers.json keeps it: answer ids (multiple choice), one
value per blank (fill in the blanks), the lines in order with their indentation (Parsons puzzles), the
text written (free text), or the outcome of a run (code tests, which the grader runs again).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from .verdict import Verdict

GuidanceKind = Literal["Always", "Attempts", "Score", "Never"]


@dataclass(frozen=True)
class GuidanceRule:
    """When the guidance shows: Codio's `showGuidanceAfterResponseOption`.

    `Attempts` shows it once `passed_from` attempts are used, or as soon as the answer is right;
    `Score` once an attempt scores at least `passed_from` per cent of the points. The older boolean
    `showGuidanceAfterResponse` maps to Always / Never; neither field means Never.
    """

    kind: GuidanceKind = "Never"
    passed_from: int = 0

    def shows(self, attempts_made: int, correct: bool, percent: float | None = None) -> bool:
        if self.kind == "Always":
            return True
        if self.kind == "Attempts":
            return correct or attempts_made >= self.passed_from
        if self.kind == "Score":
            return (100.0 if correct else (percent or 0.0)) >= self.passed_from
        return False

    def describe(self) -> str:
        """When the guidance shows, in words."""
        if self.kind == "Always":
            return "after every answer"
        if self.kind == "Attempts":
            return f"after a right answer or {self.passed_from} attempt{'s' if self.passed_from != 1 else ''}"
        if self.kind == "Score":
            return f"after an answer that scores {self.passed_from}% or more"
        return "never"

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind, "passedFrom": self.passed_from} if self.kind in ("Attempts", "Score") else {"type": self.kind}


@dataclass(frozen=True, kw_only=True)
class Task(ABC):
    """The parts every assessment type shares, the rules on attempts and guidance, and the calls each type answers."""

    task_id: str
    kind: str
    name: str
    instructions: str = ""
    show_name: bool = True
    points: float = 1.0
    max_attempts: int = 0  # 0: unlimited
    one_time: bool = False  # Codio's "oneTimeTest": one attempt only, whatever maxAttemptsCount says
    guidance: str = ""
    guidance_rule: GuidanceRule = field(default_factory=GuidanceRule)
    partial: bool = False
    origin: str = ""

    # True when the answer is what a run of the task's command finds (code tests): it is checked first and the
    # outcome saved, rather than saved first and checked.
    answered_by_running: ClassVar[bool] = False
    # True when the saved answer reads well for a person (text, blanks, lines), not ids or a run's outcome.
    answer_readable: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.one_time and self.max_attempts != 1:  # the attempts rule below then allows one, for every type
            object.__setattr__(self, "max_attempts", 1)

    @property
    def title(self) -> str:
        return self.name if self.show_name and self.name != self.task_id else ""

    # --------------------------------------------------------------------- what each type does its own way

    @abstractmethod
    def check(self, answer: list[str], *, attempt: int = 1, workspace: Path | None = None,
              runner: Any = None) -> Verdict:
        """The verdict on one answer. Code tests run their command in `workspace` (here when None), or through
        `runner`, which the grader gives to run them in its box."""

    def recorded(self, saved: list[str], *, attempt: int) -> Verdict:
        """The verdict on an answer an earlier run saved (a CourseError when it can't be one of this task's)."""
        return self.check(saved, attempt=attempt)

    def answer_from_file(self, values: list[str]) -> list[str]:
        """The answer as a handed-in answers.json gives it, made canonical (here: as it is)."""
        return values

    def known_answer(self, answer: list[str]) -> list[str] | None:
        """The part of a handed-in answer this task can judge (here: all of it); None when none of it can be."""
        return answer

    def for_grader(self) -> Task:
        """The task as the grader judges it: its feedback gives no expected answer away (here: as it is)."""
        return self

    # --------------------------------------------------------------------- the attempts rule, for every type

    def attempts_left(self, used: int) -> int | None:
        """How many attempts are left after `used` (None: no limit)."""
        return max(0, self.max_attempts - used) if self.max_attempts else None

    def out_of_attempts(self, used: int) -> bool:
        return bool(self.max_attempts) and used >= self.max_attempts

    def finished(self, verdict: Verdict, used: int) -> bool:
        """Nothing more to answer: right, or every attempt used (it then shows the saved answer and its result)."""
        return verdict.correct or self.out_of_attempts(used)

    def over_limit(self, used: int) -> bool:
        """More attempts recorded than allowed: the course never saves that many, so the files were edited."""
        return bool(self.max_attempts) and used > self.max_attempts

    def counted(self, attempts: list[list[str]]) -> list[list[str]]:
        """The attempts the grader counts: those within the limit (later ones are ignored)."""
        return attempts[:self.max_attempts] if self.max_attempts else list(attempts)

    def attempts_text(self, used: int) -> str:
        """"2 of 3", or "2" when attempts are unlimited."""
        return f"{used} of {self.max_attempts}" if self.max_attempts else str(used)

    def try_again(self, used: int) -> str:
        """"Try again (1 left)", or "Try again" when attempts are unlimited."""
        left = self.attempts_left(used)
        return f"Try again ({left} left)" if left is not None else "Try again"

    def shows_guidance(self, attempt: int, correct: bool, percent: float | None = None) -> bool:
        """The guidance rule: whether this attempt's verdict shows the guidance."""
        return self.guidance_rule.shows(attempt, correct, percent)
