"""The lessons: their metadata (`index.json`'s "course" key) and their step checks (`checks.json`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import CourseError

CONTENT = Path(__file__).resolve().parents[1] / "content"
LESSONS = CONTENT / "lessons"


@dataclass
class Lesson:
    number: int
    slug: str
    title: str
    folder: Path
    script: str
    steps: list[dict[str, Any]] = field(default_factory=list)

    def step(self, number: int) -> dict[str, Any]:
        for step in self.steps:
            if step["number"] == number:
                return step
        raise CourseError(f"lesson {self.number} has no step {number}; its steps are 1 to {len(self.steps)}.")

    @property
    def assessment_ids(self) -> list[str]:
        """The questions embedded in the lesson's pages, in page order."""
        from .codio_pages import load_chapter

        return [a.task_id for page in load_chapter(self.folder).pages for a in page.assessments]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CourseError(f"{path} is missing.") from None
    except ValueError as exc:
        raise CourseError(f"{path} is not valid JSON: {exc}.") from None
    if not isinstance(data, dict):
        raise CourseError(f"{path} should hold a JSON object.")
    return data


def load_lesson(folder: Path) -> Lesson:
    index = _read_json(folder / "index.json")
    meta = index.get("course")
    if not isinstance(meta, dict):
        raise CourseError(f"{folder / 'index.json'} has no \"course\" key with the lesson's script and steps.")
    checks = _read_json(folder / "checks.json").get("steps", {}) if (folder / "checks.json").exists() else {}
    steps = [{**step, "lesson": int(meta["number"]), "checks": checks.get(str(step["number"]), [])}
             for step in meta.get("steps", [])]
    return Lesson(int(meta["number"]), folder.name, index.get("title", folder.name), folder, meta["script"], steps)


def all_lessons(root: Path = LESSONS) -> list[Lesson]:
    return sorted((load_lesson(f) for f in root.iterdir() if (f / "index.json").exists()), key=lambda l: l.number)


def find_lesson(name: str | int, root: Path = LESSONS) -> Lesson:
    """A lesson by number (`1`), folder name, or script (`imageGen2.py`, `imageGen2`)."""
    wanted = str(name).strip().lower()
    lessons = all_lessons(root)
    for lesson in lessons:
        if wanted in (str(lesson.number), lesson.slug.lower(), lesson.script.lower(), Path(lesson.script).stem.lower()):
            return lesson
    known = ", ".join(f"{l.number} ({l.script})" for l in lessons)
    raise CourseError(f"there is no lesson {name!r}.", hint=f"the lessons are: {known}.")


def lesson_for_script(script: Path, root: Path = LESSONS) -> Lesson:
    return find_lesson(script.name, root)


@lru_cache(maxsize=1)
def question_places() -> dict[str, tuple[int, int]]:
    """Each course question's place: (lesson number, its number in that lesson from 1), in page order."""
    places: dict[str, tuple[int, int]] = {}
    for lesson in all_lessons():
        for index, task_id in enumerate(lesson.assessment_ids, 1):
            places.setdefault(task_id, (lesson.number, index))
    return places


def question_place(task_id: str) -> str:
    """"lesson 1, question 2" for a course question; "" for one that is not in a lesson."""
    place = question_places().get(task_id)
    return f"lesson {place[0]}, question {place[1]}" if place else ""


def question_by_place(reference: str) -> str | None:
    """The task id a reference such as "1.2" (lesson 1, question 2) names, or None."""
    lesson, dot, index = reference.strip().partition(".")
    if not (dot and lesson.isdigit() and index.isdigit()):
        return None
    wanted = (int(lesson), int(index))
    return next((task_id for task_id, place in question_places().items() if place == wanted), None)
