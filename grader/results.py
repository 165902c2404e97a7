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
    message: str
    points: float
    max_points: float
    hidden: bool = False


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

    @property
    def name(self) -> str:
        return f"Lesson {self.lesson}, step {self.step}: {self.title}"


@dataclass
class QuestionOutcome:
    task_id: str
    name: str
    points: float
    possible: float
    reason: str
    chosen: list[str] = field(default_factory=list)


@dataclass
class LearnerResult:
    learner: str
    steps: list[StepOutcome] = field(default_factory=list)
    questions: list[QuestionOutcome] = field(default_factory=list)
    execution_time: float = 0.0
    content_hash: str = ""
    note: str = ""  # e.g. "the submission folder is empty"

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
        return cls(data["learner"], steps, questions, data.get("execution_time", 0.0), data.get("content_hash", ""),
                   data.get("note", ""))

    def render(self) -> str:
        lines = [f"{self.learner}: {self.total:g}/{self.possible:g} ({self.percent:g}%)"]
        if self.note:
            lines.append(f"  note: {self.note}")
        for s in self.steps:
            lines.append(f"  {'✓' if s.passed else '✗'} {s.name}: {s.points:g}/{s.max_points:g}"
                         + (f" ({s.reason})" if s.reason else ""))
        for q in self.questions:
            lines.append(f"  {'✓' if q.points >= q.possible > 0 else '✗'} question {q.task_id}: "
                         f"{q.points:g}/{q.possible:g} ({q.reason})")
        return "\n".join(lines)


@dataclass
class GradingRun:
    """A whole class: the learners' results and the columns every report shares, in order."""

    results: list[LearnerResult]
    step_columns: list[str]
    question_columns: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"step_columns": self.step_columns, "question_columns": self.question_columns,
                "results": [r.to_dict() for r in self.results]}
