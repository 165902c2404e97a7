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
from .free_text import WRITTEN
from .task import Task
from .verdict import Verdict

# How each Codio type is run here: judged at once, or recorded for a person to mark.
JUDGED = {
    "multiple-choice": "choose the answers",
    "fill-in-the-blanks": "fill in each blank (typed, or picked from a list)",
    "parsons-puzzle": "put the lines in order and indent them",
    "code-output-compare": "runs the guide's command on your code and compares its output",
    "test": "runs the guide's test command on your code; exit status 0 passes",
}
MARKED = {kind: f"{what}: recorded, and marked by a person" for kind, what in WRITTEN.items()}
RUNS_HERE = tuple(JUDGED) + tuple(MARKED)
# The types that cannot run here, and why.
NOT_HERE = {
    "grade-book": "a grade the teacher gives in Codio's grade book; there is nothing to answer",
    "llm-based-auto-rubric": "marked by Codio's language model against a rubric, which needs Codio's service",
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
        where = f"runs here: {self.how}" if self.runs else f"does not run here: {self.why}"
        return f"{self.task_id}  [{self.kind}]  {self.title}  ({where})"

    @property
    def how(self) -> str:
        return JUDGED.get(self.kind) or MARKED.get(self.kind, "")

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
    """The question files of a folder, in the order the guide's pages embed them (then the rest, by name)."""
    out = []
    for file in sorted(folder.glob("*.json")):
        data = _read(file)
        if isinstance(data, dict) and {"taskId", "type", "source"} & set(data):  # not a package.json or the like
            out.append((data, str(file)))
    order = _embedded_order(folder.parent) if folder.name == "assessments" else {}
    return sorted(out, key=lambda item: order.get(str(item[0].get("taskId")), len(order)))


def _embedded_order(guides: Path) -> dict[str, int]:
    """Each embedded task id's place in the guide (pages in the guide's order), when the guide can be read."""
    if not (guides / "content").is_dir():
        return {}
    from .codio_pages import load_guide

    try:
        chapters = load_guide(guides)
    except Exception:  # noqa: BLE001 - a guide whose pages cannot be read still has its questions, by name
        return {}
    order: dict[str, int] = {}
    for chapter in chapters:
        for page in chapter.pages:
            for block in page.assessments:
                order.setdefault(block.task_id, len(order))
    return order


def _title(raw: dict[str, Any]) -> str:
    source = raw.get("source") if isinstance(raw.get("source"), dict) else {}
    name = source.get("name") if isinstance(source.get("name"), str) else ""
    return name.strip() or str(raw.get("taskId") or "(no name)")


def list_assessments(path: Path | str) -> list[Listed]:
    """Every assessment at `path` with its type, title and whether the quiz runs it (and why not)."""
    listed = []
    workspace = workspace_of(path)
    for raw, origin in assessment_sources(path):
        kind = str(raw.get("type") or "(no type)")
        task_id = str(raw.get("taskId") or "(no taskId)")
        runs = kind in RUNS_HERE
        why = "" if runs else NOT_HERE.get(kind, f"the type {kind!r} is not one this kit knows")
        if runs:
            try:
                why = cannot_run(read_assessment(raw, origin=origin), workspace)
                runs = not why
            except CourseError as exc:  # a damaged assessment is named with what is wrong, not run
                runs, why = False, f"it cannot be read: {exc}"
        listed.append(Listed(task_id, kind, _title(raw), origin, runs, why))
    return listed


def cannot_run(task: Task, workspace: Path) -> str:
    """Why `task` cannot run on this machine ("" when it can): only a code test may not (a program it needs is not
    installed, it needs something only Codio has; see `code_tests.not_here`)."""
    if not task.answered_by_running:
        return ""
    from .code_tests import not_here

    return not_here(task, workspace)


def read_assessment(raw: Any, *, origin: str) -> Task:
    """One assessment's JSON as the `Task` that runs it (a `Question` for multiple choice)."""
    from .blanks import blanks_from_json
    from .code_tests import code_test_from_json, output_compare_from_json
    from .free_text import free_text_from_json
    from .parsons import parsons_from_json
    from .questions import question_from_json

    kind = raw.get("type") if isinstance(raw, dict) else None
    readers = {"multiple-choice": question_from_json, "fill-in-the-blanks": blanks_from_json,
               "parsons-puzzle": parsons_from_json, "code-output-compare": output_compare_from_json,
               "test": code_test_from_json}
    reader = readers.get(kind) or (free_text_from_json if kind in WRITTEN else None)  # type: ignore[arg-type]
    if reader is None:
        raise CourseError(f"{origin}: a {kind!r} assessment, which does not run here.")
    return reader(raw, origin=origin)


def workspace_of(path: Path | str) -> Path:
    """Where a guide's commands run: the folder holding its `.guides` (Codio's workspace), else here."""
    path = Path(path).resolve()
    for folder in (path, *path.parents):
        if (folder / ".guides").is_dir():
            return folder
        if folder.name == ".guides":
            return folder.parent
    return Path.cwd()


def load_guide_assessments(path: Path | str) -> dict[str, Task]:
    """Every assessment at `path` that runs here, by task id, in the guide's order."""
    found: dict[str, Task] = {}
    workspace = workspace_of(path)
    for raw, origin in assessment_sources(path):
        if isinstance(raw, dict) and raw.get("type") in RUNS_HERE:
            try:
                task = read_assessment(raw, origin=origin)
            except CourseError:  # listed by `list_assessments` with what is wrong
                continue
            if not cannot_run(task, workspace):  # else listed by `list_assessments` with why
                found[task.task_id] = task
    return found


def judge(task: Task, answer: list[str], *, attempt: int = 1, workspace: Path | None = None, runner: Any = None) -> Verdict:
    """The verdict on one answer to any assessment: `task.check` (code tests run their command in `workspace`, here
    when None, or through `runner`, which the grader gives to run them in its box)."""
    return task.check(answer, attempt=attempt, workspace=workspace or Path.cwd(), runner=runner)


def load_guide_questions(path: Path | str) -> dict[str, Task]:
    """The assessments at `path` that run here (any of the places `assessment_sources` takes), by task id."""
    return load_guide_assessments(path)
