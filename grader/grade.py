"""Grading one learner: find → run → check → score, each stage its own module.

`grade_submission()` grades one learner (its steps in the box, its answers against the keys) and is shared by
the coordinator (`grader grade`, locally or on a cluster), `grader check` (public checks only) and
`grader gradescope`; `make_plan()` says what is graded.

What is graded is the assignment, the same for everyone: the lessons named with `--lesson` (every
lesson of the course without it), each with all its steps and questions. So `possible` is the same
on every row, and no classmate's hand-in changes anyone else's grade.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from course.errors import CourseError
from course.lesson.lessons import Lesson, all_lessons
from course.lesson.answers import handed_in_attempts
from course.lesson.questions import Question, load_questions, score

from .handed_in_answers import read_answers
from .handin import FOUND, NOT_FOUND, Handin, find_work
from .results import LearnerResult, LessonColumns, LessonOutcome, QuestionOutcome
from .runner import REPO, STEP_TIMEOUT, not_graded_step, run_step
from .submissions import Submission

KEYS = REPO / "solutions" / "assessments"
ASSETS = REPO / "solutions" / "assets"


def step_column(lesson: Lesson, number: int) -> str:
    return f"step{number}" if lesson.number == 1 else f"lesson{lesson.number}-step{number}"


def choose_lessons(wanted: list[str] | None) -> list[Lesson]:
    """The lessons named (by number or script, as `--lesson` takes them), or every lesson of the course."""
    lessons = all_lessons()
    if not wanted:
        return lessons
    chosen = []
    for name in wanted:
        key = str(name).strip().lower()
        match = [l for l in lessons if key in (str(l.number), l.script.lower(), Path(l.script).stem.lower(), l.slug.lower())]
        if not match:
            known = ", ".join(f"{l.number} ({l.script})" for l in lessons)
            raise CourseError(f"there is no lesson {name!r} to grade.", hint=f"the lessons are: {known}.")
        chosen += [l for l in match if l not in chosen]
    return sorted(chosen, key=lambda l: l.number)


@dataclass
class Plan:
    """What a grading run grades: which lessons (so which steps) and which questions (from which keys)."""

    lessons: list[Lesson]
    questions: dict[str, Question]
    _ids: dict[int, list[str]] = field(default_factory=dict, repr=False)
    root: Path = REPO  # the checkout whose files the fingerprint reads

    def lesson_questions(self, lesson: Lesson) -> list[str]:
        if lesson.number not in self._ids:
            self._ids[lesson.number] = [q for q in lesson.assessment_ids if q in self.questions]
        return self._ids[lesson.number]

    @property
    def step_columns(self) -> list[str]:
        return [step_column(l, s["number"]) for l in self.lessons for s in l.steps]

    @property
    def question_columns(self) -> list[str]:
        return [q for l in self.lessons for q in self.lesson_questions(l)]

    @property
    def lesson_columns(self) -> list[LessonColumns]:
        return [LessonColumns(l.number, l.title, [step_column(l, s["number"]) for s in l.steps], self.lesson_questions(l))
                for l in self.lessons]

    def _parts(self) -> Iterator[tuple[str, bytes]]:
        for lesson in self.lessons:
            steps = json.dumps(lesson.steps, sort_keys=True).encode()
            yield f"lesson {lesson.number}", f"lesson {lesson.number}\0".encode() + steps
        for task_id in sorted(self.questions):  # the key files' bytes: stable across processes, unlike repr()
            path = self.questions[task_id].path
            yield f"key {task_id}", task_id.encode() + (Path(path).read_bytes() if path else b"")
        for path in graded_files(self.root):
            yield path.relative_to(self.root).as_posix(), path.read_bytes()

    def fingerprint(self) -> str:
        """Changes whenever what grading means changes: lessons graded, checks, keys, and the code and data that
        grade (the grader, the whole `course` package with the offline API and its data, the lesson assets)."""
        digest = hashlib.sha256()
        for _, data in self._parts():
            digest.update(data)
        return digest.hexdigest()[:16]

    def fingerprint_parts(self) -> dict[str, str]:
        """Each part of the fingerprint with a digest of its own: says which part differs between two machines."""
        return {name: hashlib.sha256(data).hexdigest()[:16] for name, data in self._parts()}


# What decides a grade, besides the lessons and keys above: the grader; the whole `course` package, since a
# step imports it in its box (the SDK's connection, the step runner, the notebook runner), the grader
# reads its lessons, pages, checks and hints, and its offline API answers every request (with the models,
# sizes and policies of its data files); and the assets a lesson's steps upload.
GRADED_TREES = ("grader", "course", "solutions/assets")
NOT_GRADED = ("__pycache__",)  # compiled copies: made by each machine from the files counted here


def graded_files(root: Path = REPO) -> list[Path]:
    """Every file under `GRADED_TREES` of the checkout `root` (caches and hidden files aside), in a stable order."""
    found = []
    for tree in GRADED_TREES:
        for path in sorted((root / tree).rglob("*")):
            parts = path.relative_to(root).parts
            if any(part in NOT_GRADED or part.startswith(".") for part in parts) or path.suffix == ".pyc":
                continue
            if path.is_file() and not path.is_symlink():
                found.append(path)
    return found


def make_plan(lessons: list[str] | None = None, *, keys: Path | None = KEYS) -> Plan:
    questions = load_questions(keys) if keys is not None and keys.is_dir() else {}
    return Plan(choose_lessons(lessons), questions)


def _questions(handin: Handin, plan: Plan) -> list[QuestionOutcome]:
    out = []
    for lesson in plan.lessons:
        ids = plan.lesson_questions(lesson)
        files = handin.answers_for(lesson)
        answers = read_answers(files, {i: plan.questions[i] for i in ids})
        for task_id in ids:
            question = plan.questions[task_id]
            chosen, why = answers.for_question(task_id)
            if chosen is None:
                out.append(QuestionOutcome(task_id, question.name, 0.0, question.points, why))
                continue
            used = handed_in_attempts(answers.file_of(task_id)).get(task_id.casefold(), 1)
            if question.over_limit(used):
                # `course quiz` never records more attempts than allowed: more means the files were edited.
                out.append(QuestionOutcome(task_id, question.name, 0.0, question.points,
                                           f"answered {used} times, more than the {question.max_attempts} attempts allowed",
                                           chosen))
                continue
            known = [c for c in chosen if c in question.answer_ids]
            unknown = [c for c in chosen if c not in question.answer_ids]
            strange = (f"answers.json gives {', '.join(repr(u) for u in unknown[:3])}, not among this question's answers"
                       if unknown else "")
            if not known:
                out.append(QuestionOutcome(task_id, question.name, 0.0, question.points, strange or "not answered", chosen))
                continue
            # The answer saved is the learner's `used`-th attempt, as `course quiz` and the notebooks count them
            # (answers.json's `.course/attempts.json`): only that last one is kept, and it is the one that counts.
            s = score(question, [[] for _ in range(max(1, used) - 1)] + [known])
            out.append(QuestionOutcome(task_id, question.name, s.points, s.possible,
                                       s.reason + (f"; {strange} (left out)" if strange else ""), chosen))
    return out


def _lesson_outcomes(handin: Handin) -> list[LessonOutcome]:
    out = []
    for number, found in sorted(handin.lessons.items()):
        note = found.note() if found.status == FOUND else (handin.holds_line() if found.status == NOT_FOUND else "")
        out.append(LessonOutcome(number, found.lesson.title, found.status, found.origin if found.chosen or found.status == NOT_FOUND else "", note))
    return out


def grade_submission(sub: Submission, plan: Plan, *, engine: Any, api: Any, timeout: float = STEP_TIMEOUT,
                     public_only: bool = False) -> LearnerResult:
    with tempfile.TemporaryDirectory(prefix="handin-") as scratch:  # zips handed in are unpacked here
        return _grade_submission(sub, plan, Path(scratch), engine=engine, api=api, timeout=timeout,
                                 public_only=public_only)


def _grade_submission(sub: Submission, plan: Plan, scratch: Path, *, engine: Any, api: Any, timeout: float,
                      public_only: bool) -> LearnerResult:
    started = time.time()
    result = LearnerResult(sub.learner, content_hash=sub.content_hash())
    handin = find_work(sub.path, plan.lessons, scratch)
    result.lessons = _lesson_outcomes(handin)
    notes = [l.note for l in result.lessons if l.status == FOUND and l.note]
    if plan.lessons and all(l.status != FOUND for l in result.lessons):
        notes.append("nothing to grade was found: " + handin.holds_line() if handin.holds else "the submission is empty")
    result.note = "; ".join(notes)
    if handin.key_warning:
        result.warnings.append(handin.key_warning)
    anything = any(handin.lessons[l.number].status == FOUND for l in plan.lessons)
    with engine.slot() if anything and engine is not None else nullcontext() as slot:
        for lesson in plan.lessons:
            found = handin.lessons[lesson.number]
            for step in lesson.steps:
                result.steps.append(run_step(found, step, step_column(lesson, step["number"]), slot=slot, api=api,
                                             assets=ASSETS if lesson.number > 1 else None, timeout=timeout,
                                             public_only=public_only))
    result.questions = _questions(handin, plan)
    result.execution_time = round(time.time() - started, 3)
    return result


def not_graded(sub: Submission, plan: Plan, why: str) -> LearnerResult:
    """A learner whose grading failed on our side as a whole: every step not graded, nothing lost."""
    result = LearnerResult(sub.learner, content_hash=sub.content_hash())
    for lesson in plan.lessons:
        for step in lesson.steps:
            result.steps.append(not_graded_step(step, lesson.number, step["number"], step_column(lesson, step["number"]),
                                            step.get("title", ""), why))
    return result
