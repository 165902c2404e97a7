"""What grading produces: result objects that render themselves (dict/JSON, text) for every report.

`LearnerResult` is the unit: one learner, every step of every graded lesson, every question.
The reports (`grader/reports.py`) and the SQLite gradebook (`grader/store.py`) only read these.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class CheckOutcome:
    kind: str
    passed: bool
    message: str  # the same words for every learner (the summary counts them)
    points: float
    max_points: float
    hidden: bool = False
    detail: str = ""  # what this learner's run did, in words

    @property
    def text(self) -> str:
        return f"{self.message} ({self.detail})" if self.detail else self.message


@dataclass
class StepOutcome:
    lesson: int
    step: int
    title: str
    column: str  # the gradebook column: "step3" for lesson 1, "lesson2-step3" for lesson 2
    passed: bool
    points: float
    max_points: float
    checks: list[CheckOutcome] = field(default_factory=list)
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    reason: str = ""  # why the step could not be judged normally (timeout, crash, flood, missing script)
    hint: dict[str, str] | None = None  # {"id", "text"}
    duration: float = 0.0
    fault: str = ""  # not graded: a fault of the grader's (the box, the API), never the learner's; a re-run grades it

    @property
    def name(self) -> str:
        return f"Lesson {self.lesson}, step {self.step}: {self.title}"

    @property
    def graded(self) -> bool:
        return not self.fault

    @property
    def failed_only_hidden(self) -> bool:
        """Every visible check passed, and a hidden one did not."""
        return (not self.passed and not self.reason and any(c.hidden and not c.passed for c in self.checks)
                and all(c.passed for c in self.checks if not c.hidden))


@dataclass
class QuestionOutcome:
    task_id: str
    name: str
    points: float
    possible: float
    reason: str
    chosen: list[str] = field(default_factory=list)


@dataclass
class LessonOutcome:
    """How one lesson's work was found in a submission (see `grader.handin`)."""

    number: int
    title: str
    status: str  # "found", "not handed in" or "not found" (handed in, but under no name the grader knows)
    origin: str = ""  # the file graded, relative to the learner's folder; the file looked for when not found
    note: str = ""  # what the feedback says about how it was found, or what the folder holds


@dataclass
class LearnerResult:
    learner: str
    steps: list[StepOutcome] = field(default_factory=list)
    questions: list[QuestionOutcome] = field(default_factory=list)
    execution_time: float = 0.0
    content_hash: str = ""
    note: str = ""  # e.g. "the submission folder is empty"
    lessons: list[LessonOutcome] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. an API key written into a file

    @property
    def complete(self) -> bool:
        """Every step was graded: no fault of the grader's left one out."""
        return all(s.graded for s in self.steps)

    @property
    def faults(self) -> list[str]:
        return [f"{s.name}: {s.fault}" for s in self.steps if s.fault]

    def lesson(self, number: int) -> LessonOutcome | None:
        return next((l for l in self.lessons if l.number == number), None)

    def handed_in(self, number: int) -> bool:
        """The lesson's work was found (a result from before lessons were recorded counts as found)."""
        found = self.lesson(number)
        return found is None or found.status == "found"

    @property
    def total(self) -> float:
        return round(sum(s.points for s in self.steps) + sum(q.points for q in self.questions), 4)

    @property
    def possible(self) -> float:
        return round(sum(s.max_points for s in self.steps) + sum(q.possible for q in self.questions), 4)

    @property
    def percent(self) -> float:
        return round(100.0 * self.total / self.possible, 2) if self.possible else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(total=self.total, possible=self.possible, percent=self.percent)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LearnerResult":
        steps = [StepOutcome(**{**s, "checks": [CheckOutcome(**c) for c in s.get("checks", [])]})
                 for s in data.get("steps", [])]
        questions = [QuestionOutcome(**q) for q in data.get("questions", [])]
        lessons = [LessonOutcome(**l) for l in data.get("lessons", [])]
        return cls(data["learner"], steps, questions, data.get("execution_time", 0.0), data.get("content_hash", ""),
                   data.get("note", ""), lessons, list(data.get("warnings", [])))

    def render(self) -> str:
        lines = [f"{self.learner}: {self.total:g}/{self.possible:g} ({self.percent:g}%)"]
        if self.note:
            lines.append(f"  note: {self.note}")
        for s in self.steps:
            if s.fault:
                lines.append(f"  ? {s.name}: not graded ({s.fault})")
                continue
            lines.append(f"  {'✓' if s.passed else '✗'} {s.name}: {s.points:g}/{s.max_points:g}"
                         + (f" ({s.reason})" if s.reason else ""))
        for q in self.questions:
            lines.append(f"  {'✓' if q.points >= q.possible > 0 else '✗'} question {q.task_id}: "
                         f"{q.points:g}/{q.possible:g} ({q.reason})")
        return "\n".join(lines)


@dataclass
class LessonColumns:
    """One graded lesson's columns in the gradebook, in order."""

    number: int
    title: str
    steps: list[str]
    questions: list[str]

    @property
    def subtotal(self) -> str:
        return f"lesson{self.number}-total"


@dataclass
class GradingRun:
    """A whole class: the learners' results and the columns every report shares, in order."""

    results: list[LearnerResult]
    step_columns: list[str]
    question_columns: list[str]
    lessons: list[LessonColumns] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # about the run itself (the weaker box, say)

    @property
    def incomplete(self) -> list[LearnerResult]:
        return [r for r in self.results if not r.complete]

    def to_dict(self) -> dict[str, Any]:
        return {"step_columns": self.step_columns, "question_columns": self.question_columns,
                "lessons": [asdict(l) for l in self.lessons], "results": [r.to_dict() for r in self.results]}
