"""What every Codio assessment has, whatever its type: id, title, instructions, points, attempts, guidance.

Each type adds its own part in its own module (`questions` multiple choice, `blanks`, `parsons`,
`code_tests`, `free_text`); `course.lesson.assessments.read_assessment` picks the module by the JSON's
`"type"`. Every type is checked by one call, `judge(task, answer, ...)` in `assessments`, which gives
the same `Verdict` as a multiple-choice check, so the quiz, the notebook widgets and the grader show
and score every type alike.

An answer is always a list of strings, as answers.json keeps it: answer ids (multiple choice), one
value per blank (fill in the blanks), the lines in order with their indentation (Parsons puzzles), the
text written (free text), or the outcome of a run (code tests, which the grader runs again).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .questions import GuidanceRule, _Positions, _Reader, guidance_rule


@dataclass(frozen=True)
class Task:
    """The parts every assessment type shares."""

    task_id: str
    kind: str
    name: str
    instructions: str = ""
    show_name: bool = True
    points: float = 1.0
    max_attempts: int = 0  # 0: unlimited
    guidance: str = ""
    guidance_rule: GuidanceRule = field(default_factory=GuidanceRule)
    partial: bool = False
    origin: str = ""

    @property
    def title(self) -> str:
        return self.name if self.show_name and self.name != self.task_id else ""


def common(raw: Any, *, origin: str, positions: _Positions | None = None) -> tuple[_Reader, dict[str, Any], dict[str, Any]]:
    """The reader, the raw JSON's `source` and the fields every `Task` takes, checked with file and line."""
    r = _Reader(origin, positions)
    if not isinstance(raw, dict):
        raise r.fail(raw, None, "an assessment must be one JSON object.")
    kind = r.text(raw, "type")
    task_id = r.text(raw, "taskId")
    src = r.obj(raw, "source")
    name = r.text(src, "name", default="") or task_id
    fields = {
        "task_id": task_id,
        "kind": kind,
        "name": name.strip() or task_id,
        "instructions": r.text(src, "instructions", default=""),
        "show_name": r.flag(src, "showName", True),
        "points": r.number(src, "points", 1),
        "max_attempts": int(r.number(src, "maxAttemptsCount", 0, whole=True)),
        "guidance": r.text(src, "guidance", default=""),
        "guidance_rule": guidance_rule(r, src),
        "partial": r.flag(src, "arePartialPointsAllowed", False),
        "origin": origin,
    }
    return r, src, fields
