"""How one attempt at an assessment went, whatever its type: the `Verdict` every `Task.check` gives.

The quiz prints it, the notebook widgets show it, the grader scores from it and `to_dict()` is what goes
into JSON, so every front end tells the same result in the same words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from .wording import for_people


@dataclass(frozen=True)
class Verdict:
    """How one attempt went. `raw_points` can go negative (incorrectPoints); `points` never does.

    `exact` is False when only a lock was available: then partial credit could not be worked out
    and `points` is all-or-nothing (see `note`).
    """

    task_id: str
    chosen: tuple[str, ...]
    correct: bool
    points: float
    max_points: float
    raw_points: float
    show_guidance: bool
    attempt: int
    exact: bool = True
    note: str = ""
    feedback: str = ""  # what the check found, line by line (blanks, puzzle lines, a test's output)
    by_person: bool = False  # recorded for a person to mark: neither right nor wrong yet

    def to_dict(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "chosen": list(self.chosen), "correct": self.correct, "points": self.points,
                "max_points": self.max_points, "raw_points": self.raw_points, "show_guidance": self.show_guidance,
                "attempt": self.attempt, "exact": self.exact, "note": self.note, "feedback": self.feedback,
                "by_person": self.by_person}

    @property
    def status(self) -> str:
        return "to be marked" if self.by_person else "correct" if self.correct else "incorrect"

    @property
    def graded_status(self) -> str:
        """The grader's word for it: correct, partly correct or incorrect (to be marked when a person marks it)."""
        if self.by_person:
            return "to be marked"
        return "correct" if self.correct else "partly correct" if self.points > 0 else "incorrect"

    def __rich__(self) -> RenderableType:
        if self.by_person:
            head = Text("Answer saved.", style="bold cyan")
            head.append(f"  A person marks it (out of {for_people(self.max_points)} points); it is not graded here.",
                        style="dim")
        else:
            head = Text("Correct!", style="bold green") if self.correct else Text("Not quite.", style="bold yellow")
            head.append(f"  {for_people(self.points)}/{for_people(self.max_points)} points", style="dim")
        parts: list[RenderableType] = [head]
        if self.feedback:
            parts.append(Text(self.feedback))
        if self.note:
            parts.append(Text(self.note, style="dim"))
        return Group(*parts) if len(parts) > 1 else head
