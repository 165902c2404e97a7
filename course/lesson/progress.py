"""A learner's progress, kept in `.course/progress.json` beside their scripts.

Steps are `passed`, `failed` or (absent) not tried; questions come from `answers.json` in the same
folder, self-checked against the locked copies, so no answer key is needed.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CourseError
from .wording import question_label, step_label, tally

PROGRESS = Path(".course") / "progress.json"


def _path(folder: Path) -> Path:
    return folder / PROGRESS


def load_progress(folder: Path) -> dict[str, Any]:
    path = _path(folder)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError:
        raise CourseError(f"{path} is damaged (not JSON).",
                          hint="delete it to start the progress record afresh; your scripts are not affected.") from None
    return data if isinstance(data, dict) else {}


def record_step(folder: Path, lesson: int, step: int, passed: bool, detail: str = "") -> None:
    """Remember the latest outcome of a step, written atomically so nothing saved is ever lost."""
    data = load_progress(folder)
    steps = data.setdefault(f"lesson{lesson}", {}).setdefault("steps", {})
    entry = steps.get(str(step), {})
    steps[str(step)] = {
        "status": "passed" if passed else "failed",
        "time": time.time(),
        "tries": int(entry.get("tries", 0)) + 1,
        "ever_passed": bool(entry.get("ever_passed")) or passed,
        "detail": detail,
    }
    path = _path(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".progress.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class LessonProgress:
    number: int
    title: str
    steps: list[tuple[int, str, str]] = field(default_factory=list)  # (number, title, status)
    questions: list[tuple[str, str]] = field(default_factory=list)  # (task id, status)
    titles: dict[str, str] = field(default_factory=dict)  # task id -> "question 2: How many images per request"

    @property
    def steps_passed(self) -> int:
        return sum(1 for _, _, s in self.steps if s == "passed")

    @property
    def questions_right(self) -> int:
        return sum(1 for _, s in self.questions if s == "correct")

    def step_label(self, number: int, title: str) -> str:
        """"Lesson 1, step 3: Print only the image URL", as the grader's feedback says it."""
        return step_label(self.number, number, title)

    def question_label(self, task_id: str) -> str:
        """"lesson 1, question 2: How many images per request", as `course quiz` and the grader say it."""
        index = next((i for i, (q, _) in enumerate(self.questions, 1) if q == task_id), 0)
        name = self.titles.get(task_id, "").partition(": ")[2]
        return question_label(f"lesson {self.number}, question {index}" if index else "", name, task_id)

    def tally(self) -> str:
        """"3/5 steps passed, 2/5 questions right": out of all the lesson's steps and questions, tried or not."""
        return tally(self.steps_passed, len(self.steps), self.questions_right, len(self.questions))

    def to_dict(self) -> dict[str, Any]:
        return {"lesson": self.number, "title": self.title,
                "steps": [{"step": n, "title": t, "label": self.step_label(n, t), "status": s} for n, t, s in self.steps],
                "questions": [{"id": q, "title": self.titles.get(q, q), "label": self.question_label(q),
                               "place": f"{self.number}.{i}", "status": s}
                              for i, (q, s) in enumerate(self.questions, 1)]}


def total_tally(rows: list[LessonProgress]) -> str:
    """The lessons' tallies added up, with the same denominators: every step and question of these lessons."""
    return tally(sum(r.steps_passed for r in rows), sum(len(r.steps) for r in rows),
                 sum(r.questions_right for r in rows), sum(len(r.questions) for r in rows))


def lesson_progress(folder: Path, lessons: list[Any]) -> list[LessonProgress]:
    from .answers import load_answers
    from .questions import check, load_questions
    from .lessons import CONTENT

    data = load_progress(folder)
    answers = load_answers(folder / "answers.json")
    questions = load_questions(CONTENT / "assessments")
    out = []
    for lesson in lessons:
        steps = data.get(f"lesson{lesson.number}", {}).get("steps", {})
        row = LessonProgress(lesson.number, lesson.title)
        for step in lesson.steps:
            row.steps.append((step["number"], step.get("title", ""), steps.get(str(step["number"]), {}).get("status", "not tried")))
        for task_id in lesson.assessment_ids:
            if task_id not in answers:
                status = "not answered"
            elif task_id in questions:
                status = "correct" if check(questions[task_id], answers[task_id]).correct else "wrong"
            else:
                status = "answered"
            row.questions.append((task_id, status))
            name = questions[task_id].name if task_id in questions and questions[task_id].name != task_id else ""
            row.titles[task_id] = f"question {len(row.questions)}" + (f": {name}" if name else "")
        out.append(row)
    return out
