"""Grading a class: the coordinator above `grade`.

`grade_class()` is what `grader grade` runs: it unpacks the submissions, opens the gradebook store (a re-run
grades only who is new, changed or not graded), hands each learner still to grade to a local pool of warm box
slots (`grade.grade_submission` on each) or, with `cluster`, to Dask workers (`cluster.grade_on_cluster`), saves
each result as it comes, and writes the reports. `grade` grades one learner and knows nothing of this.
"""

from __future__ import annotations

import os
import tempfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Callable

from .grade import grade_submission, make_plan, not_graded
from .results import GradingRun, LearnerResult
from .runner import STEP_TIMEOUT
from .submissions import Submission, load_submissions, unpack_zip


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
    from .similarity import compare_class, write_similarity
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
        write_similarity(compare_class(submissions, plan.lessons), out)  # similarity.csv, summary.html's section
        return run

