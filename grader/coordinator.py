"""Grading a class: the coordinator above `grade`.

`grade_class()` is what `grader grade` and `grader guide` run: it unpacks the submissions, opens the gradebook store
(a re-run grades only who is new, changed or not graded), hands each learner still to grade to a local pool of warm
box slots or, with `cluster`, to Dask workers (`cluster.grade_on_cluster`: each worker makes the same plan from its
`recipe`), saves each result as it comes, and writes the reports. What is graded, and how one learner is graded, is its plan (`ClassPlan`): the course's lessons
(`LessonPlan`, around `grade.make_plan`; `grade.grade_submission` grades one learner and knows nothing of this), or
another guide's assessments (`grader.guide.GuidePlan`). One loop runs them all.
"""

from __future__ import annotations

import os
import tempfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

from .grade import Plan, grade_submission, make_plan, not_graded
from .results import GradingRun, LearnerResult
from .runner import STEP_TIMEOUT
from .submissions import Submission, load_submissions, unpack_zip


class ClassPlan(Protocol):
    """What a class is graded on, and how one learner is graded. A result is any object the gradebook store keeps
    (`learner`, `content_hash`, `complete`, `to_dict()`); `read` makes it again from that dict."""

    needs_box: bool  # something of a learner's runs: an engine of box slots and a private offline API are started
    warm: bool  # its runs start warm (a zygote forks each) when the run asks for warm
    commands_only: bool  # its runs are shell commands only: its zygotes import no SDK (`box.engine.Engine`)
    private: tuple[Path, ...]  # besides the class and OUT, what a learner's code may not read (without the full box)

    def fingerprint(self) -> str: ...

    def grade(self, sub: Submission, *, engine: Any, api: Any, timeout: float) -> Any: ...

    def not_graded(self, sub: Submission, why: str) -> Any: ...

    def read(self, data: dict[str, Any]) -> Any: ...

    def prepare(self) -> None: ...

    def report(self, results: list[Any], submissions: list[Submission], notes: list[str], out: Path) -> Any: ...

    def fingerprint_parts(self) -> dict[str, str]: ...  # what a cluster worker's own plan must match, part by part

    def grade_on_cluster(self, cluster: Any, todo: list[Submission], *, timeout: float, warm: bool,
                         allow_weak_box: bool, save: Callable[[Submission, Any], None],
                         on_note: Callable[[str], None]) -> None:
        """Grade `todo` on Dask workers, each making the same plan from what it is sent (`cluster.PlanRecipe`)."""


@dataclass
class LessonRecipe:
    """What a cluster's worker makes `grader grade`'s plan from: the lessons asked for (see `cluster.PlanRecipe`)."""

    lessons: list[str] | None
    what = "course or grader"
    remedy = "give every worker the same checkout and answer keys"

    def make(self, folder: Path) -> "LessonPlan":
        return LessonPlan(make_plan(self.lessons), self.lessons)


@dataclass
class LessonPlan:
    """`grader grade`'s plan: the course's lessons (`grade.Plan`), graded by `grade.grade_submission`; the reports are
    gradebook.csv, each learner's folder, the summary and the copying report."""

    plan: Plan
    lessons: list[str] | None = None  # as asked for (`--lesson`): a cluster's workers make the same plan from it
    needs_box: bool = True
    warm: bool = True
    commands_only: bool = False  # steps run the learner's script in the zygote, the SDK imported once
    private: tuple[Path, ...] = ()

    def fingerprint(self) -> str:
        return self.plan.fingerprint()

    def fingerprint_parts(self) -> dict[str, str]:
        return self.plan.fingerprint_parts()

    def grade(self, sub: Submission, *, engine: Any, api: Any, timeout: float) -> LearnerResult:
        return grade_submission(sub, self.plan, engine=engine, api=api, timeout=timeout)

    def not_graded(self, sub: Submission, why: str) -> LearnerResult:
        return not_graded(sub, self.plan, why)

    def read(self, data: dict[str, Any]) -> LearnerResult:
        return LearnerResult.from_dict(data)

    def prepare(self) -> None:
        from .reports import preload_charts

        preload_charts()

    def report(self, results: list[Any], submissions: list[Submission], notes: list[str], out: Path) -> GradingRun:
        from .reports import write_reports
        from .similarity import compare_class, write_similarity

        run = GradingRun(results, self.plan.step_columns, self.plan.question_columns, self.plan.lesson_columns, notes)
        write_reports(run, out)
        write_similarity(compare_class(submissions, self.plan.lessons), out)  # similarity.csv, summary.html's section
        return run

    def grade_on_cluster(self, cluster: Any, todo: list[Submission], *, timeout: float, warm: bool,
                         allow_weak_box: bool, save: Callable[[Submission, Any], None],
                         on_note: Callable[[str], None]) -> None:
        from .cluster import grade_on_cluster

        grade_on_cluster(cluster, todo, self, recipe=LessonRecipe(self.lessons), timeout=timeout, warm=warm,
                         allow_weak_box=allow_weak_box, save=save, on_note=on_note)


def grade_class(source: Path, out: Path, *, lessons: list[str] | None = None, timeout: float = STEP_TIMEOUT,
                jobs: int | None = None, on_result: Callable[[Any, bool], None] | None = None,
                on_start: Callable[[int], None] | None = None, warm: bool = True,
                on_note: Callable[[str], None] | None = None, cluster: Any = None,
                allow_weak_box: bool = False, plan: ClassPlan | None = None) -> Any:
    """Grade every learner of `source` (a folder or a zip) into `out` on `plan` (the lessons named in `lessons`, or
    every lesson, without it); see `store` for resuming. Returns what the plan's reports return (for lessons, the
    `GradingRun`).

    With `cluster` (a Dask scheduler's address, "local:N", or a `distributed.Client`) the learners are
    graded on its workers and only saved here (see `grader.cluster`); `allow_weak_box` accepts workers
    that cannot build the full box."""
    from .box.privileges import guard_grader
    from .store import Gradebook

    from course.offline.server import raise_open_files

    plan = plan if plan is not None else LessonPlan(make_plan(lessons), lessons)
    if cluster is not None:
        from .cluster import need_dask

        need_dask()
    raise_open_files()  # the grader's own descriptors: slots, channels, logs
    guard_grader()  # a step running as this user cannot read this process's environment or memory
    source, out = source.resolve(), out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []

    def note(text: str) -> None:
        notes.append(text)
        if on_note:
            on_note(text)

    with tempfile.TemporaryDirectory(prefix="grade-class-") as tmp:
        submissions = _unpacked(source, Path(tmp), note)
        book = Gradebook(out / "gradebook.sqlite3", read=plan.read)
        fingerprint = plan.fingerprint()
        run_id, _ = book.open_run(str(source), fingerprint)
        done = book.graded_in_run(run_id)
        todo = _reuse_unchanged(book, run_id, fingerprint, submissions, done, on_result)
        if on_start:
            on_start(len(todo))
        if todo:
            plan.prepare()

        def record(sub: Submission, result: Any) -> None:
            book.save(run_id, result)
            done[result.learner] = result
            if on_result:
                on_result(result, False)

        if todo and cluster is not None:
            plan.grade_on_cluster(cluster, todo, timeout=timeout, warm=warm, allow_weak_box=allow_weak_box,
                                  save=record, on_note=note)
        elif todo:
            _grade_here(plan, todo, record, note, source=source, out=out, jobs=jobs, warm=warm, timeout=timeout)
        book.finish(run_id)
        book.close()
        return plan.report([done[s.learner] for s in submissions], submissions, notes, out)


def _unpacked(source: Path, tmp: Path, note: Callable[[str], None]) -> list[Submission]:
    """The learners of a class folder, or of a zip unpacked into `tmp` (its damaged entries said in a note)."""
    root, left_out = unpack_zip(source, tmp) if source.is_file() else (source, [])
    if left_out:
        note(f"{source.name}: left out {len(left_out)} damaged entr{'y' if len(left_out) == 1 else 'ies'} "
             f"(" + "; ".join(left_out[:5]) + ")")
    return load_submissions(root)


def _reuse_unchanged(book: Any, run_id: int, fingerprint: str, submissions: list[Submission], done: dict[str, Any],
                     on_result: Callable[[Any, bool], None] | None) -> list[Submission]:
    """Who is still to grade in this run: not graded in it yet, and not unchanged since a run of the same plan
    (whose result is saved into this run as it is)."""
    todo: list[Submission] = []
    for sub in submissions:
        if sub.learner in done:
            continue
        reused = book.reusable(sub.learner, sub.content_hash(), fingerprint)
        if reused is None:
            todo.append(sub)
            continue
        book.save(run_id, reused, reused=True)
        done[sub.learner] = reused
        if on_result:
            on_result(reused, True)
    return todo


def _grade_here(plan: ClassPlan, todo: list[Submission], record: Callable[[Submission, Any], None],
                note: Callable[[str], None], *, source: Path, out: Path, jobs: int | None, warm: bool,
                timeout: float) -> None:
    """Grade `todo` on this machine: with the box and a private offline API where the plan runs learners' code."""
    from .api import private_api
    from .box.capacity import default_workers
    from .box.probe import box

    workers = min(max(1, jobs or default_workers()), len(todo))
    if not plan.needs_box:
        grade_locally(plan, todo, record, workers=workers, engine=None, api=None, timeout=timeout)
        return
    from .box.engine import Engine

    for text in box().notes:  # what the box lacks here, said once per run
        note(text)
    (out / ".offline-api").mkdir(exist_ok=True)
    os.chmod(out / ".offline-api", 0o700)  # the request log and the pictures are the grader's alone
    # Its zygotes warm up while the offline API starts; without the full box, the submissions, the out
    # folder and what the plan keeps from learners are made private to the grader first.
    engine = Engine(workers, warm=warm and plan.warm, commands_only=plan.commands_only,
                    private=(source, out, *plan.private))
    for text in engine.notes:
        note(text)
    try:
        with private_api(out / ".offline-api") as api:
            grade_locally(plan, todo, record, workers=workers, engine=engine, api=api, timeout=timeout)
    finally:
        engine.close()


def grade_locally(plan: ClassPlan, todo: list[Submission], record: Callable[[Submission, Any], None], *,
                  workers: int, engine: Any, api: Any, timeout: float) -> None:
    """Grade `todo` here, `workers` learners at once, each result recorded as it comes; a learner whose grading
    failed on our side is recorded as not graded, and the run goes on."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(plan.grade, sub, engine=engine, api=api, timeout=timeout): sub for sub in todo}
        for future in as_completed(futures):
            sub = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # noqa: BLE001 - our fault: recorded as not graded, run goes on
                result = plan.not_graded(sub, f"the grader failed ({type(exc).__name__}: {exc})")
            record(sub, result)
