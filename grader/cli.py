"""grader: grading the Images API course, for one learner or a whole class.

  grader check [PATH]                   check your own scripts and answers (public checks, with hints)
  grader grade SUBMISSIONS --out OUT    grade a class: a folder of learner folders, or a zip of one
               [--cluster ADDRESS]      ... on a Dask cluster (tcp://host:8786, or local:N worker processes)
  grader gradescope SUBMISSION RESULTS  grade one Gradescope submission into its results.json
  grader bundle [--out autograder.zip]  the zip Gradescope takes (setup.sh, run_autograder, the grader)
  grader guide SUBMISSIONS --questions GUIDE --out OUT
                                        grade a class's answers to another Codio guide's assessments
               [--cluster ADDRESS]      ... on a Dask cluster, as grader grade
  grader similar SUBMISSIONS --out OUT  the pairs likely copied (similarity.csv, summary.html), without grading

Expected failures print one line and a hint; --verbose adds the traceback.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from course.errors import CourseError
from course.untrusted_text import for_rich_markup, for_terminal


def _grade(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table
    from rich.text import Text

    from course.lesson.wording import for_people

    from .coordinator import grade_class
    from .reports import summary

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
        # rich reads the description as markup: a learner named "[blink]…" or "\x1b[2J" is shown as named
        progress.update(task, advance=1,
                        description=f"{for_rich_markup(result.learner)}: {for_people(result.total)}/"
                                    f"{for_people(result.possible)}")

    def note(text: str) -> None:  # a note may name a learner's file or zip entry
        console.print(f"note: {for_terminal(text, lines=True)}", style="yellow", markup=False, soft_wrap=True)

    with progress:
        run = grade_class(Path(args.submissions), Path(args.out), lessons=args.lesson, timeout=args.timeout,
                          jobs=args.jobs, on_result=finished, on_start=started, warm=not args.plain, on_note=note,
                          cluster=args.cluster, allow_weak_box=args.allow_weak_box)
    not_graded = len(run.incomplete)
    fully = len(run.results) - not_graded  # in the gradebook with a grade, this run's or an unchanged earlier one
    title = f"{fully} learner{'' if fully == 1 else 's'} graded" + (f", {not_graded} not fully graded" if not_graded else "") \
        + f" ({reused} unchanged, not run again)"
    table = Table(title=title)
    table.add_column("step or question")
    table.add_column("passed", justify="right")
    table.add_column("mean points", justify="right")
    data = summary(run)  # summary.html's own figures: the same names, denominators and rounding
    for item in data["steps"]:
        table.add_row(Text(item["label"]), f"{item['passed']}/{item['learners']}",
                      f"{for_people(item['mean_points'])}/{for_people(item['max_points'])}" if item["learners"] else "-")
    for item in data["questions"]:
        table.add_row(Text(item["label"]), f"{item['correct']}/{item['learners']}",
                      f"{for_people(item['mean_points'])}/{for_people(item['possible'])}" if item["learners"] else "-")
    Console(highlight=False).print(table)
    print("Passed and mean points count the learners who handed the lesson in (for a question, its script or an "
          "answer to one of its questions), as summary.html does.")
    out = Path(args.out).resolve()
    print(f"gradebook, feedback and summary in {out}")
    missing = [for_terminal(r.learner) for r in run.results
               if r.lessons and all(l.status == "not found" for l in r.lessons)]
    if missing:
        print(f"handed in, but no lesson file found (see summary.html): {', '.join(missing)}")
    if run.incomplete:
        first = for_terminal(run.incomplete[0].faults[0]) if run.incomplete[0].faults else "unknown"
        sys.stdout.flush()
        console.print(f"error: {len(run.incomplete)} of {len(run.results)} learners could not be fully graded because "
                      f"of a fault in the grader, not in their work ({first}). Their steps are marked 'not graded' and "
                      f"no grade was given for them; run the same command again to grade them.", markup=False,
                      soft_wrap=True)
        return 3
    return 0


# What `grader check` applies, said once above its lines (not after each question, as `score` words it per line).
LOCK_NOTE = "; only the lock was available, so no partial credit"
CHECK_RULE = ("How this is checked: each step runs as the grader runs it, judged on its public checks only (your "
              "instructor's grading may add hidden checks); each question is judged on the last answer you saved, "
              "right or wrong, against your copy of the questions as course quiz judges it (partial credit, where a "
              "question gives it, comes only in your instructor's grading), with the attempts course quiz counted.")


def _check(args: argparse.Namespace) -> int:
    """`grader check`: a learner's own folder, graded as `grader grade` grades it (the same box), on the public
    checks and the learners' locked question copies. Warm by default: one process imports the SDK once and forks
    each step (`grader grade`'s engine), instead of a fresh interpreter per step (`--plain`, as it ran before)."""
    from rich.console import Console

    from course.lesson.lessons import CONTENT, all_lessons

    from .api import private_api
    from .box.engine import Engine
    from .grade import grade_submission, make_plan
    from .handin import FOUND, find_work
    from .reports import question_line
    from .submissions import Submission

    folder = Path(args.path).resolve()
    if folder.is_file() and folder.suffix in (".py", ".ipynb"):  # `grader check imageGen.ipynb`: its folder
        folder = folder.parent
    if not folder.is_dir():
        raise CourseError(f"{folder}: no such folder.")
    lessons = args.lesson
    if not lessons:  # the lessons this folder has work for
        handin = find_work(folder, all_lessons())
        lessons = [str(n) for n, found in sorted(handin.lessons.items()) if found.status == FOUND]
        if not lessons:
            raise CourseError(f"no lesson script was found in {folder}: {handin.holds_line()}.",
                              hint="run this in the folder that holds imageGen.py (or imageGen2.py, or a notebook of them).")
    submission = Submission(folder.name, folder)
    plan = make_plan(lessons, keys=CONTENT / "assessments")  # the locked copies: no keys needed
    engine = Engine(1, warm=not args.plain)  # its zygote imports the SDK while the offline API starts
    try:
        with tempfile.TemporaryDirectory(prefix="grader-check-") as tmp, private_api(Path(tmp)) as api:
            result = grade_submission(submission, plan, engine=engine, api=api, timeout=args.timeout, public_only=True)
    finally:
        engine.close()
    console = Console(highlight=False)

    def say(text: str, **style: str) -> None:
        """Reasons, check texts and hints quote the learner's output and exceptions: shown, never run."""
        console.print(for_terminal(text, lines=True), markup=False, soft_wrap=True, **style)

    for text in ([result.note] if result.note else []) + result.warnings:
        say(f"({text})", style="dim")
    say(CHECK_RULE, style="dim")
    for step in result.steps:
        say(f"{'✓' if step.passed else '✗'} {step.name}", style="green" if step.passed else "red")
        if step.fault:
            say(f"    not checked: {step.fault}")
            continue
        if step.reason:
            say(f"    {step.reason}")
        else:
            shown: set[str] = set()
            for check in step.checks:
                if check.text not in shown:
                    shown.add(check.text)
                    say(f"    {'✓' if check.passed else '✗'} {check.text}")
        if step.hint:
            say(f"    hint [{step.hint['id']}]: {step.hint['text']}", style="cyan")
    for q in result.questions:
        right = q.points >= q.possible > 0
        line = question_line(replace(q, reason=q.reason.replace(LOCK_NOTE, "")))
        say(f"{'✓' if right else '✗'} {line}", style="green" if right else "red")
    passed = sum(s.passed for s in result.steps)
    right = sum(q.points >= q.possible > 0 for q in result.questions)
    console.print(f"{passed}/{len(result.steps)} steps pass the public checks; {right}/{len(result.questions)} "
                  "questions right.")
    if not result.complete:
        return 3
    return 0 if passed == len(result.steps) else 1


def _gradescope(args: argparse.Namespace) -> int:
    """Gradescope puts the learner's files in /autograder/submission and reads results/results.json.

    A results.json is always written, even when grading fails: Gradescope then shows the reason
    instead of "the autograder failed", and the instructor can re-run it."""
    from .reports import failed_results, gradescope_json

    target = Path(args.results)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)  # whatever was there (a stale file, or one planted) is never what Gradescope reads
    try:
        from .coordinator import grade_class

        with tempfile.TemporaryDirectory() as tmp:
            learners = Path(tmp) / "class"
            learners.mkdir()
            _copy_submission(Path(args.submission), learners / "submission")
            run = grade_class(learners, Path(tmp) / "out", lessons=args.lesson, timeout=args.timeout,
                              on_note=lambda text: print(f"note: {text}"))
            (result,) = run.results
            text = gradescope_json(result, notes=run.notes)  # Gradescope keeps results.json only
    except BaseException as exc:  # noqa: BLE001 - whatever happened, Gradescope gets a results.json saying why
        if isinstance(exc, KeyboardInterrupt):
            raise
        why = str(exc) if isinstance(exc, CourseError) else f"{type(exc).__name__}: {exc}"
        publish_results(failed_results(why), target)
        print(f"grading failed ({why}); wrote {target} with the reason")
        return 0
    publish_results(text, target)  # every step's processes are gone by now: the engine killed them, uid by uid
    if not result.complete:
        print(f"some steps could not be graded because of a fault in the grader: {result.faults[0]}")
    print(f"wrote {args.results}")
    return 0


def publish_results(text: str, target: Path) -> None:
    """Put Gradescope's results.json in place as one move: written to a private file beside it (mode 0600, a
    name no step knows), read back and checked, then renamed over `target`. Nothing a step wrote is ever kept."""
    import json
    import os

    fd, temporary = tempfile.mkstemp(prefix=".results-", suffix=".json", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        with open(temporary, encoding="utf-8") as f:
            written = json.load(f)
        if not (isinstance(written, dict) and isinstance(written.get("score"), (int, float))
                and isinstance(written.get("tests", []), list)):
            raise ValueError(f"{target.name} would not be Gradescope's format")
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _copy_submission(source: Path, into: Path) -> None:
    """Gradescope's submission folder, copied without following links or copying special files, within
    bounds (a submission past them is not graded, and says why)."""
    from .box.copying import SKIPPED, TooBig, copy_tree

    if not source.is_dir():
        raise CourseError(f"{source}: no such submission folder.")
    into.mkdir(parents=True)
    try:
        copy_tree(source, into, max_bytes=200 * 1024 * 1024, max_files=20_000, seconds=60, skipped=SKIPPED)
    except TooBig as exc:
        raise CourseError(f"this submission was not graded: {exc}.") from None


def _guide(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from course.lesson.wording import for_people

    from .guide import grade_guide

    reused = 0

    def finished(result, was_reused: bool) -> None:  # type: ignore[no-untyped-def]
        nonlocal reused
        reused += was_reused

    def note(text: str) -> None:  # a note may name a learner's file or zip entry
        print(f"note: {for_terminal(text, lines=True)}")

    run = grade_guide(Path(args.submissions), Path(args.questions), Path(args.out), jobs=args.jobs,
                      on_result=finished, on_note=note, cluster=args.cluster, allow_weak_box=args.allow_weak_box)
    table = Table(title=f"{len(run.results)} learners, graded on {run.guide}")
    table.add_column("question")
    table.add_column("type")
    table.add_column("right", justify="right")
    table.add_column("to mark", justify="right")
    table.add_column("mean points", justify="right")
    first = run.results[0].scored if run.results else []
    for index, item in enumerate(first):
        scored = [r.scored[index] for r in run.results]
        graded = [s for s in scored if s.status != "not graded"]
        right = sum(s.status == "correct" for s in graded)
        marked = sum(s.status == "to be marked" for s in graded)
        mean = sum(s.points for s in graded) / max(1, len(graded))
        table.add_row(for_rich_markup(item.task_id), for_rich_markup(item.kind), f"{right}/{len(graded)}",
                      str(marked), f"{for_people(mean)}/{for_people(item.possible)}")
    Console(highlight=False).print(table)
    for listed in run.not_here:
        print(for_terminal(f"not graded here: {listed.task_id} ({listed.kind}): {listed.why}"))
    faulty = [r for r in run.results if r.faults]
    fully = len(run.results) - len(faulty)  # in the gradebook with a grade, this run's or an unchanged earlier one
    print(f"{fully} learner{'' if fully == 1 else 's'} graded" + (f", {len(faulty)} not fully graded" if faulty else "")
          + f" ({reused} unchanged, not run again)")
    waiting = sum(r.to_mark for r in run.results)
    out = Path(args.out).resolve()
    print(f"gradebook.csv, feedback/ and to_mark.csv in {out}" + (f"; {waiting} answers await a person's marking "
                                                                  "(to_mark.csv)" if waiting else ""))
    if faulty:
        first = for_terminal(faulty[0].faults[0])
        print(f"error: {len(faulty)} learner(s) could not be fully graded because of a fault in the grader, not in "
              f"their work ({first}). Those questions are marked 'not graded'; run the same command "
              "again to grade them.", file=sys.stderr)
        return 3
    return 0


def _similar(args: argparse.Namespace) -> int:
    """`grader similar`: the copying report alone, for a class already graded or a quick look."""
    from .grade import choose_lessons
    from .similarity import CSV_NAME, similar_class

    report = similar_class(Path(args.submissions), Path(args.out), choose_lessons(args.lesson))
    groups = [g for g in report.groups() if len(g.learners) > 2]
    files = sum(report.compared.values())
    print(f"{len(report.pairs)} pair{'' if len(report.pairs) == 1 else 's'} likely copied"
          + (f" ({len(groups)} group{'' if len(groups) == 1 else 's'} of three or more)" if groups else "")
          + f" among {files} lesson files compared")
    print(f"{CSV_NAME} and summary.html (side by side, what they share marked) in {Path(args.out).resolve()}")
    return 0


def _bundle(args: argparse.Namespace) -> int:
    from course.lesson.wording import for_people

    from .bundle import BASE_IMAGE, make_bundle
    from .grade import make_plan
    from .runner import REPO

    plan = make_plan(args.lesson)  # a lesson that does not exist is refused here, not on Gradescope
    possible = sum(float(c.get("points", 1)) for l in plan.lessons for s in l.steps for c in s["checks"]) + \
        sum(plan.questions[q].points for q in plan.question_columns)
    print(f"wrote {make_bundle(Path(args.out), REPO, lessons=[str(l.number) for l in plan.lessons] if args.lesson else None)}")
    lessons = " and ".join(f"lesson {l.number}" for l in plan.lessons)
    print(f"On Gradescope: base image {BASE_IMAGE}; the assignment grades {lessons}, {for_people(possible)} points in all.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grader", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verbose", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("check", help="check your own work against the public checks")
    p.add_argument("path", nargs="?", default=".", help="the folder with your scripts or notebooks (default: here)")
    p.add_argument("--lesson", action="append", help="only this lesson (number or script); repeatable")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds a step may take (default 30)")
    p.add_argument("--plain", action="store_true",
                   help="a fresh interpreter per step instead of the warm engine (same box; slower; for comparison)")
    p.set_defaults(func=_check)

    p = sub.add_parser("grade", help="grade a class")
    p.add_argument("submissions", help="a folder with one folder per learner, or a zip of it")
    p.add_argument("--out", required=True, help="where the gradebook, feedback and summary go")
    p.add_argument("--lesson", action="append",
                   help="grade this lesson (number or script) for every learner; repeatable (default: every lesson)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds a step may take (default 30)")
    p.add_argument("--jobs", type=int, default=None,
                   help="learners graded at once (default: one per CPU this process may use, as memory allows)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--plain", action="store_true",
                   help="a fresh interpreter per step instead of the warm engine (same box; slower; for comparison)")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="grade on a Dask cluster: a scheduler's address (tcp://host:8786), or local:N for N worker "
                        "processes here (needs pip install -e '.[cluster]')")
    p.add_argument("--allow-weak-box", action="store_true",
                   help="with --cluster: accept workers that cannot build the full box (not root)")
    p.set_defaults(func=_grade)

    p = sub.add_parser("gradescope", help="grade one Gradescope submission")
    p.add_argument("submission", help="the submission folder (/autograder/submission)")
    p.add_argument("results", help="where results.json goes (/autograder/results/results.json)")
    p.add_argument("--lesson", action="append", help="only this lesson (number or script); repeatable")
    p.add_argument("--timeout", type=float, default=30.0)
    p.set_defaults(func=_gradescope)

    p = sub.add_parser("guide", help="grade a class's answers to another Codio guide's assessments")
    p.add_argument("submissions", help="a folder with one folder per learner, or a zip of it")
    p.add_argument("--questions", required=True, metavar="GUIDE",
                   help="the guide: its folder, its .guides folder, a folder of question files or an assessments.json")
    p.add_argument("--out", required=True, help="where gradebook.csv, feedback/, to_mark.csv and the store go")
    p.add_argument("--jobs", type=int, default=None,
                   help="learners graded at once (default: one per CPU this process may use, as memory allows)")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="grade on a Dask cluster: a scheduler's address (tcp://host:8786), or local:N for N worker "
                        "processes here (needs pip install -e '.[cluster]'); the guide is sent to every worker")
    p.add_argument("--allow-weak-box", action="store_true",
                   help="with --cluster: accept workers that cannot build the full box (not root)")
    p.set_defaults(func=_guide)

    p = sub.add_parser("similar", help="the pairs of a class likely copied, without grading")
    p.add_argument("submissions", help="a folder with one folder per learner, or a zip of it")
    p.add_argument("--out", required=True, help="where similarity.csv and summary.html's section go")
    p.add_argument("--lesson", action="append",
                   help="compare this lesson (number or script); repeatable (default: every lesson)")
    p.set_defaults(func=_similar)

    p = sub.add_parser("bundle", help="the zip Gradescope takes as an autograder")
    p.add_argument("--out", default="autograder.zip", help="the zip to write (default autograder.zip)")
    p.add_argument("--lesson", action="append", help="the lessons the assignment grades (default: all); repeatable")
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
