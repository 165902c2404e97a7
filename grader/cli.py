"""grader: grading the Images API course, for one learner or a whole class.

  grader check [PATH]                   check your own scripts and answers (public checks, with hints)
  grader grade SUBMISSIONS --out OUT    grade a class: a folder of learner folders, or a zip of one
  grader gradescope SUBMISSION RESULTS  grade one Gradescope submission into its results.json
  grader bundle [--out autograder.zip]  the zip Gradescope takes (setup.sh, run_autograder, the grader)

Expected failures print one line and a hint; --verbose adds the traceback.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from course.errors import CourseError


def _grade(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from .grade import grade_class

    console = Console(stderr=True, highlight=False)
    progress = Progress(TextColumn("grading"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TextColumn("{task.description}"), console=console, transient=False,
                        disable=args.quiet or not console.is_terminal)
    task = progress.add_task("", total=None)
    reused = 0

    def started(count: int) -> None:
        progress.update(task, total=count)

    def finished(result, was_reused: bool) -> None:  # type: ignore[no-untyped-def]
        nonlocal reused
        if was_reused:
            reused += 1
            return
        progress.update(task, advance=1, description=f"{result.learner}: {result.total:g}/{result.possible:g}")

    with progress:
        run = grade_class(Path(args.submissions), Path(args.out), lessons=args.lesson, timeout=args.timeout,
                          jobs=args.jobs, on_result=finished, on_start=started, warm=not args.plain)
    table = Table(title=f"{len(run.results)} learners graded ({reused} unchanged, not run again)")
    table.add_column("column")
    table.add_column("passed", justify="right")
    table.add_column("mean points", justify="right")
    for column in run.step_columns:
        outcomes = [s for r in run.results for s in r.steps if s.column == column]
        passed = sum(s.passed for s in outcomes)
        mean = sum(s.points for s in outcomes) / max(1, len(outcomes))
        table.add_row(column, f"{passed}/{len(outcomes)}", f"{mean:.2f}/{outcomes[0].max_points:g}" if outcomes else "-")
    for column in run.question_columns:
        outcomes = [q for r in run.results for q in r.questions if q.task_id == column]
        right = sum(q.points >= q.possible > 0 for q in outcomes)
        mean = sum(q.points for q in outcomes) / max(1, len(outcomes))
        table.add_row(column, f"{right}/{len(outcomes)}", f"{mean:.2f}/{outcomes[0].possible:g}" if outcomes else "-")
    Console(highlight=False).print(table)
    print(f"gradebook, feedback and summary in {Path(args.out).resolve()}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from rich.console import Console

    from course.lessons import CONTENT

    from .api import offline_api
    from .engine import Engine
    from .grade import grade_submission, make_plan
    from .submissions import Submission

    folder = Path(args.path).resolve()
    if folder.is_file() and folder.suffix in (".py", ".ipynb"):  # `grader check imageGen.ipynb`: its folder
        folder = folder.parent
    if not folder.is_dir():
        raise CourseError(f"{folder}: no such folder.")
    submission = Submission(folder.name, folder)
    plan = make_plan([submission], args.lesson, keys=CONTENT / "assessments")  # the locked copies: no keys needed
    with tempfile.TemporaryDirectory(prefix="grader-check-") as tmp, offline_api(Path(tmp)) as base_url:
        engine = Engine(1, warm=False)
        try:
            result = grade_submission(submission, plan, engine=engine, base_url=base_url, data_dir=Path(tmp),
                                      timeout=args.timeout, public_only=True)
        finally:
            engine.close()
    console = Console(highlight=False)
    if result.note:
        console.print(f"({result.note})", style="dim", markup=False, soft_wrap=True)
    for step in result.steps:
        console.print(f"{'✓' if step.passed else '✗'} {step.name}", style="green" if step.passed else "red",
                      markup=False, soft_wrap=True)
        for check in step.checks:
            console.print(f"    {'✓' if check.passed else '✗'} {check.message}", markup=False, soft_wrap=True)
        if step.reason:
            console.print(f"    {step.reason}", markup=False, soft_wrap=True)
        if step.hint:
            console.print(f"    hint [{step.hint['id']}]: {step.hint['text']}", style="cyan", markup=False,
                          soft_wrap=True)
    for q in result.questions:
        console.print(f"{'✓' if q.points >= q.possible > 0 else '✗'} question {q.task_id}: {q.reason}",
                      markup=False, soft_wrap=True)
    passed = sum(s.passed for s in result.steps)
    console.print(f"{passed}/{len(result.steps)} steps pass the public checks; "
                  f"{sum(q.points >= q.possible > 0 for q in result.questions)}/{len(result.questions)} questions right.")
    return 0 if passed == len(result.steps) else 1


def _gradescope(args: argparse.Namespace) -> int:
    """Gradescope puts the learner's files in /autograder/submission and reads results/results.json."""
    from .grade import grade_class

    with tempfile.TemporaryDirectory() as tmp:
        learners = Path(tmp) / "class"
        shutil.copytree(args.submission, learners / "submission")
        out = Path(tmp) / "out"
        grade_class(learners, out, timeout=args.timeout)
        target = Path(args.results)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(out / "submission" / "results.json", target)
    print(f"wrote {args.results}")
    return 0


def _bundle(args: argparse.Namespace) -> int:
    from .bundle import make_bundle
    from .runner import REPO

    print(f"wrote {make_bundle(Path(args.out), REPO)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grader", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verbose", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("check", help="check your own work against the public checks")
    p.add_argument("path", nargs="?", default=".", help="the folder with your scripts or notebooks (default: here)")
    p.add_argument("--lesson", action="append", help="only this lesson (number or script); repeatable")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds a step may take (default 30)")
    p.set_defaults(func=_check)

    p = sub.add_parser("grade", help="grade a class")
    p.add_argument("submissions", help="a folder with one folder per learner, or a zip of it")
    p.add_argument("--out", required=True, help="where the gradebook, feedback and summary go")
    p.add_argument("--lesson", action="append", help="only this lesson (number or script); repeatable")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds a step may take (default 30)")
    p.add_argument("--jobs", type=int, default=None, help="learners graded at once (default: one per core)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--plain", action="store_true",
                   help="a fresh interpreter per step instead of the warm engine (same box; slower; for comparison)")
    p.set_defaults(func=_grade)

    p = sub.add_parser("gradescope", help="grade one Gradescope submission")
    p.add_argument("submission", help="the submission folder (/autograder/submission)")
    p.add_argument("results", help="where results.json goes (/autograder/results/results.json)")
    p.add_argument("--timeout", type=float, default=30.0)
    p.set_defaults(func=_gradescope)

    p = sub.add_parser("bundle", help="the zip Gradescope takes as an autograder")
    p.add_argument("--out", default="autograder.zip", help="the zip to write (default autograder.zip)")
    p.set_defaults(func=_bundle)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except CourseError as exc:
        if args.verbose:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1
