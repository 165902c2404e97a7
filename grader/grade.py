"""Grading a class: load → find → run → check → score → report, each stage its own module.

`grade_class()` is what `grader grade` runs; `grade_submission()` grades one learner and is shared
with `grader check` (public checks only) and `grader gradescope`.

What is graded is the assignment, the same for everyone: the lessons named with `--lesson` (every
lesson of the course without it), each with all its steps and questions. So `possible` is the same
on every row, and no classmate's hand-in changes anyone else's grade.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from course.errors import CourseError
from course.lesson.lessons import Lesson, all_lessons
from course.lesson.answers import handed_in_attempts
from course.lesson.questions import Question, load_questions, score

from .answers import read_answers
from .handin import FOUND, NOT_FOUND, Handin, find_work
from .results import GradingRun, LearnerResult, LessonColumns, LessonOutcome, QuestionOutcome
from .runner import REPO, STEP_TIMEOUT, not_graded_step, run_step
from .submissions import Submission, load_submissions, unpack_zip

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


def grade_class(source: Path, out: Path, *, lessons: list[str] | None = None, timeout: float = STEP_TIMEOUT,
                jobs: int | None = None, on_result: Callable[[LearnerResult, bool], None] | None = None,
                on_start: Callable[[int], None] | None = None, warm: bool = True,
                on_note: Callable[[str], None] | None = None, cluster: Any = None,
                allow_weak_box: bool = False) -> GradingRun:
    """Grade every learner of `source` (a folder or a zip) into `out`; see `store` for resuming.

    With `cluster` (a Dask scheduler's address, "local:N", or a `distributed.Client`) the learners are
    graded on its workers and only saved here (see `grader.cluster`); `allow_weak_box` accepts workers
    that cannot build the full box."""
    from .api import private_api
    from .box.capacity import default_workers
    from .box.privileges import guard_grader
    from .box.probe import box
    from .reports import preload_charts, write_reports
    from .store import Gradebook

    from course.offline.server import raise_open_files

    if cluster is not None:
        from .cluster import need_dask

        need_dask()
    raise_open_files()  # the grader's own descriptors: slots, channels, logs
    guard_grader()  # a step running as this user cannot read this process's environment or memory
    source, out = source.resolve(), out.resolve()
    plan = make_plan(lessons)
    out.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="grade-class-") as tmp:
        root, left_out = unpack_zip(source, Path(tmp)) if source.is_file() else (source, [])
        if left_out:
            notes.append(f"{source.name}: left out {len(left_out)} damaged entr{'y' if len(left_out) == 1 else 'ies'} "
                         f"(" + "; ".join(left_out[:5]) + ")")
            if on_note:
                on_note(notes[-1])
        submissions = load_submissions(root)
        book = Gradebook(out / "gradebook.sqlite3")
        fingerprint = plan.fingerprint()
        run_id, _ = book.open_run(str(source), fingerprint)
        done = book.graded_in_run(run_id)
        todo: list[Submission] = []
        for sub in submissions:
            if sub.learner in done:
                continue
            reused = book.reusable(sub.learner, sub.content_hash(), fingerprint)
            if reused is not None:
                book.save(run_id, reused, reused=True)
                done[sub.learner] = reused
                if on_result:
                    on_result(reused, True)
            else:
                todo.append(sub)
        if on_start:
            on_start(len(todo))
        if todo:
            preload_charts()

        def record(sub: Submission, result: LearnerResult) -> None:
            book.save(run_id, result)
            done[result.learner] = result
            if on_result:
                on_result(result, False)

        def note(text: str) -> None:
            notes.append(text)
            if on_note:
                on_note(text)

        if todo and cluster is not None:
            from .cluster import grade_on_cluster

            grade_on_cluster(cluster, todo, plan, lessons=lessons, timeout=timeout, warm=warm,
                             allow_weak_box=allow_weak_box, save=record, on_note=note)
        elif todo:
            from .box.engine import Engine

            for text in box().notes:  # what the box lacks here, said once per run
                note(text)
            workers = min(max(1, jobs or default_workers()), len(todo))
            (out / ".offline-api").mkdir(exist_ok=True)
            os.chmod(out / ".offline-api", 0o700)  # the request log and the pictures are the grader's alone
            # Its zygotes warm up while the offline API starts; without the full box, the submissions and the out
            # folder are made private to the grader first.
            engine = Engine(workers, warm=warm, private=(source, out))
            for text in engine.notes:
                note(text)
            try:
                with private_api(out / ".offline-api") as api, ThreadPoolExecutor(max_workers=workers) as pool:
                    futures = {pool.submit(grade_submission, sub, plan, engine=engine, api=api,
                                           timeout=timeout): sub for sub in todo}
                    for future in as_completed(futures):
                        sub = futures[future]
                        try:
                            result = future.result()
                        except Exception as exc:  # noqa: BLE001 - our fault: recorded as not graded, run goes on
                            result = not_graded(sub, plan, f"the grader failed ({type(exc).__name__}: {exc})")
                        record(sub, result)
            finally:
                engine.close()
        book.finish(run_id)
        book.close()
        run = GradingRun([done[s.learner] for s in submissions], plan.step_columns, plan.question_columns,
                         plan.lesson_columns, notes)
        write_reports(run, out)
        return run

