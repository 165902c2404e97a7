"""The course's own errors: one line for people, and a hint on what to do."""

from __future__ import annotations


class CourseError(Exception):
    """An expected failure: the CLI prints `error: <message>` and the hint, never a traceback."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"
