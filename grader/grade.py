"""Grading a class: load → run → check → score → report, each stage its own module.

`grade_class()` is what `grader grade` runs; `grade_submission()` grades one learner and is shared
with `grader check` (public checks only) and `grader gradescope`.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from contextlib import nullcontext
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from course.errors import CourseError
from course.lessons import Lesson, all_lessons
from course.questions import Question, load_questions, score

from .results import GradingRun, LearnerResult, QuestionOutcome
from .runner import REPO, STEP_TIMEOUT, run_step
from .submissions import Submission, lesson_script, load_submissions, unpack_zip

KEYS = REPO / "solutions" / "assessments"
ASSETS = REPO / "solutions" / "assets"


def step_column(lesson: Lesson, number: int) -> str:
    return f"step{number}" if lesson.number == 1 else f"lesson{lesson.number}-step{number}"


@dataclass
class Plan:
    """What a grading run grades: which lessons (so which steps) and which questions (from which keys)."""

    lessons: list[Lesson]
    questions: dict[str, Question]
    _exercises: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def step_columns(self) -> list[str]:
        return [step_column(l, s["number"]) for l in self.lessons for s in l.steps]

    @property
    def question_columns(self) -> list[str]:
        return [q for l in self.lessons for q in l.assessment_ids if q in self.questions]

    def exercise(self, lesson: Lesson) -> str:
        """The learner's starting script, made from solutions/ as `course build` makes it (no exercises/ needed)."""
        from course.notebooks import script_source

        if lesson.script not in self._exercises:
            self._exercises[lesson.script] = script_source(lesson, repo=REPO)
        return self._exercises[lesson.script]

    def fingerprint(self) -> str:
        """Changes whenever what grading means changes: checks, keys, lessons, the grader's code."""
        digest = hashlib.sha256()
        for lesson in self.lessons:
            digest.update(json.dumps(lesson.steps, sort_keys=True).encode())
        for task_id in sorted(self.questions):  # the key files' bytes: stable across processes, unlike repr()
            path = self.questions[task_id].path
            digest.update(task_id.encode() + (Path(path).read_bytes() if path else b""))
        for module in sorted((REPO / "grader").glob("*.py")) + [REPO / "course" / "checks.py", REPO / "course" / "notebooks.py"]:
            digest.update(module.read_bytes())
        return digest.hexdigest()[:16]


def make_plan(submissions: list[Submission], lessons: list[str] | None = None, *, keys: Path | None = KEYS) -> Plan:
    chosen = all_lessons()
    if lessons:
        wanted = {str(x) for x in lessons}
        chosen = [l for l in chosen if str(l.number) in wanted or l.script in wanted]
        if not chosen:
            raise CourseError(f"no lesson matches {', '.join(lessons)}.")
    else:  # every lesson whose script at least one learner handed in, and always lesson 1
        chosen = [l for l in chosen if l.number == 1 or any((s.path / l.script).exists()
                                                              or (s.path / (Path(l.script).stem + ".ipynb")).exists()
                                                              for s in submissions)]
    questions = load_questions(keys) if keys is not None and keys.is_dir() else {}
    return Plan(chosen, questions)


def _answers(submission: Path) -> tuple[dict[str, list[str]], str]:
    path = submission / "answers.json"
    if path.is_symlink():  # a link could hand in someone else's answers: never followed
        return {}, "answers.json is a link, not a file; no question could be scored"
    if not path.exists():
        return {}, ""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        return {}, f"answers.json is not valid JSON ({exc}); no question could be scored"
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        return {}, "answers.json should map each question id to a list of answer ids; no question could be scored"
    return {k: [str(x) for x in v] for k, v in data.items()}, ""


def _attempts(submission: Path) -> dict[str, int]:
    """Attempts per question as `course quiz` counted them (`.course/attempts.json`), when handed in."""
    path = submission / ".course" / "attempts.json"
    if path.is_symlink() or (submission / ".course").is_symlink():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, int)} if isinstance(data, dict) else {}


def grade_submission(sub: Submission, plan: Plan, *, engine: Any, base_url: str, data_dir: Path,
                     timeout: float = STEP_TIMEOUT, public_only: bool = False) -> LearnerResult:
    started = time.time()
    result = LearnerResult(sub.learner, content_hash=sub.content_hash())
    if not any(p.suffix in (".py", ".ipynb") for p in sub.files()):
        result.note = "the submission holds no lesson script"
    sources = {lesson.script: lesson_script(sub.path, lesson.script, plan.exercise(lesson)) for lesson in plan.lessons}
    from_notebooks = [s.origin for s in sources.values() if s.from_notebook]
    if from_notebooks:
        result.note = "graded the notebook " + " and ".join(from_notebooks)
    with engine.slot() if plan.lessons else nullcontext() as slot:
        for lesson in plan.lessons:
            for step in lesson.steps:
                result.steps.append(run_step(sub.path, lesson.script, step, lesson.number,
                                             step_column(lesson, step["number"]), slot=slot, base_url=base_url,
                                             uds=data_dir / "api.sock", data_dir=data_dir,
                                             assets=ASSETS if lesson.number > 1 else None, timeout=timeout,
                                             public_only=public_only, source=sources[lesson.script]))
    answers, problem = _answers(sub.path)
    attempts = _attempts(sub.path)
    if problem:
        result.note = (result.note + "; " if result.note else "") + problem
    for task_id in plan.question_columns:
        question = plan.questions[task_id]
        used = attempts.get(task_id, 1)
        if task_id in answers and question.max_attempts and used > question.max_attempts:
            # `course quiz` never records more attempts than allowed: more means the files were edited.
            result.questions.append(QuestionOutcome(
                task_id, question.name, 0.0, question.points,
                f"answered {used} times, more than the {question.max_attempts} attempts allowed", answers[task_id]))
        elif task_id in answers:
            s = score(question, [answers[task_id]])
            result.questions.append(QuestionOutcome(task_id, question.name, s.points, s.possible, s.reason,
                                                    answers[task_id]))
        else:
            result.questions.append(QuestionOutcome(task_id, question.name, 0.0, question.points, "not answered"))
    result.execution_time = round(time.time() - started, 3)
    return result


def grade_class(source: Path, out: Path, *, lessons: list[str] | None = None, timeout: float = STEP_TIMEOUT,
                jobs: int | None = None, on_result: Callable[[LearnerResult, bool], None] | None = None,
                on_start: Callable[[int], None] | None = None, warm: bool = True) -> GradingRun:
    """Grade every learner of `source` (a folder or a zip) into `out`; see `store` for resuming."""
    import os

    from .api import offline_api
    from .reports import write_reports
    from .store import Gradebook

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="grade-class-") as tmp:
        root = unpack_zip(source, Path(tmp)) if source.is_file() else source
        submissions = load_submissions(root)
        plan = make_plan(submissions, lessons)
        book = Gradebook(out / "gradebook.sqlite3")
        run_id, _ = book.open_run(str(source.resolve()), plan.fingerprint())
        done = book.graded_in_run(run_id)
        todo: list[Submission] = []
        for sub in submissions:
            if sub.learner in done:
                continue
            reused = book.reusable(sub.learner, sub.content_hash(), plan.fingerprint())
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
            from .engine import Engine

            workers = jobs or max(1, os.cpu_count() or 1)
            api_dir = out / ".offline-api"
            with offline_api(api_dir) as base_url:
                engine = Engine(workers, warm=warm)
                try:
                    with ThreadPoolExecutor(max_workers=workers) as pool:
                        futures = {pool.submit(grade_submission, sub, plan, engine=engine, base_url=base_url,
                                               data_dir=api_dir, timeout=timeout): sub for sub in todo}
                        for future in as_completed(futures):
                            result = future.result()
                            book.save(run_id, result)
                            done[result.learner] = result
                            if on_result:
                                on_result(result, False)
                finally:
                    engine.close()
        book.finish(run_id)
        book.close()
        run = GradingRun([done[s.learner] for s in submissions], plan.step_columns, plan.question_columns)
        write_reports(run, out)
        return run
