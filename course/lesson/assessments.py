"""Every assessment a Codio guide holds, whatever its type, and whether this kit can run it here.

Codio keeps a guide's assessments in one of two ways:

- the newer format: one file per assessment, `.guides/assessments/<taskId>.json`;
- the older format: one JSON array of them, `.guides/assessments.json`.

`assessment_sources()` takes a guide's root, its `.guides` folder, a folder of question files or an
`assessments.json`, and gives each assessment's JSON with where it came from; `list_assessments()` says
for each its id, type, title and whether `course quiz` runs it, with the reason when it does not, so
that no assessment is ever skipped in silence; `load_guide_questions()` reads the ones it runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CourseError

RUNS_HERE = ("multiple-choice",)
# What each other Codio type needs that the quiz does not have yet.
NOT_YET = {
    "fill-in-the-blanks": "fill-in-the-blanks questions are not run by the quiz yet",
    "free-text": "free-text answers are marked by a person; the quiz does not record them yet",
    "free-text-auto": "free-text answers are marked by a person or a script; the quiz does not record them yet",
    "parsons-puzzle": "Parsons puzzles (putting lines in order) are not run by the quiz yet",
    "code-output-compare": "code-output comparisons are not run by the quiz yet",
    "test": "code tests are not run by the quiz yet",
    "standard-code-test": "code tests are not run by the quiz yet",
    "advanced-code-test": "advanced code tests run Codio's own scripts; the quiz does not run them yet",
    "math": "math answers are not run by the quiz yet",
    "llm-based-rubric": "rubric answers are marked by a person; the quiz does not record them yet",
}


@dataclass(frozen=True)
class Listed:
    """One assessment of a guide, as `course quiz --questions PATH --list` prints it."""

    task_id: str
    kind: str
    title: str
    origin: str
    runs: bool
    why: str = ""

    def line(self) -> str:
        where = "runs here" if self.runs else f"does not run here: {self.why}"
        return f"{self.task_id}  [{self.kind}]  {self.title}  ({where})"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.task_id, "type": self.kind, "title": self.title, "origin": self.origin, "runs": self.runs,
                "why": self.why}


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise CourseError(f"{path}: cannot be read ({exc.strerror or exc}).") from None
    except ValueError as exc:
        raise CourseError(f"{path} is not valid JSON: {exc}.") from None


def assessment_sources(path: Path | str) -> list[tuple[dict[str, Any], str]]:
    """Each assessment's JSON and where it came from ("file" or "file, entry N"), in the guide's order."""
    path = Path(path)
    if path.is_file():
        data = _read(path)
        if isinstance(data, list):  # the older format's assessments.json
            return [(entry, f"{path}, entry {i}") for i, entry in enumerate(data, 1) if isinstance(entry, dict)]
        if isinstance(data, dict):
            return [(data, str(path))]
        raise CourseError(f"{path}: neither an assessment nor a list of them.")
    if not path.is_dir():
        raise CourseError(f"{path}: no such file or folder of questions.",
                          hint="give a guide's folder, its .guides folder, a folder of question files or an "
                               "assessments.json.")
    for guides in (path / ".guides", path):
        if (guides / "assessments").is_dir() and list((guides / "assessments").glob("*.json")):
            return _folder(guides / "assessments")
        if (guides / "assessments.json").is_file():
            return assessment_sources(guides / "assessments.json")
    return _folder(path)


def _folder(folder: Path) -> list[tuple[dict[str, Any], str]]:
    out = []
    for file in sorted(folder.glob("*.json")):
        data = _read(file)
        if isinstance(data, dict):
            out.append((data, str(file)))
    return out


def _title(raw: dict[str, Any]) -> str:
    source = raw.get("source") if isinstance(raw.get("source"), dict) else {}
    name = source.get("name") if isinstance(source.get("name"), str) else ""
    return name.strip() or str(raw.get("taskId") or "(no name)")


def list_assessments(path: Path | str) -> list[Listed]:
    """Every assessment at `path` with its type, title and whether the quiz runs it (and why not)."""
    listed = []
    for raw, origin in assessment_sources(path):
        kind = str(raw.get("type") or "(no type)")
        task_id = str(raw.get("taskId") or "(no taskId)")
        runs = kind in RUNS_HERE
        why = "" if runs else NOT_YET.get(kind, f"the type {kind!r} is not one the quiz knows")
        listed.append(Listed(task_id, kind, _title(raw), origin, runs, why))
    return listed


def load_guide_questions(path: Path | str) -> dict[str, Any]:
    """The multiple-choice questions at `path` (any of the places `assessment_sources` takes), by task id."""
    from .questions import load_questions, question_from_json

    path = Path(path)
    if path.is_dir() and not (path / ".guides").exists() and not (path / "assessments").is_dir() \
            and not (path / "assessments.json").is_file():
        return load_questions(path)  # a folder of question files: named by task id, as the course's own
    found: dict[str, Any] = {}
    for raw, origin in assessment_sources(path):
        if raw.get("type") in RUNS_HERE:
            question = question_from_json(raw, origin=origin)
            found[question.task_id] = question
    return found
