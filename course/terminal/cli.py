"""course: the command line of the Images API course.

  course                          the lessons and your progress
  course show LESSON [PAGE]       read a lesson page (LESSON: 1, 2)
  course show GUIDE [PAGE] [--all]  any Codio guide (its folder, .guides, content folder or one page), either
                                  format: alone its contents; PAGE as they number it (1.2), or a title; --all every page
  course try N [--lesson L]       run step N of your script, see its output and pictures, and whether it passed
  course try GUIDE PAGE [N]       run a guide page's N-th Try-it button (default the first) in the guide's folder
  course quiz [ID] [--lesson L]   answer the lesson's questions (answers are kept in answers.json)
  course progress [LESSON]        a table of every step and question (of one lesson, or all)
  course serve [--port P] ...     run the offline Images API in the foreground
  course log [--key KEY]          the offline API's request log
  course status | course stop     the background offline API
  course notebook [LESSON]        write the lesson as a Jupyter notebook (imageGen.ipynb) here
  course notebook GUIDE           write a Codio guide as one notebook here (Try-it buttons and questions as cells)
  course build [--check]          regenerate exercises/, the notebooks and the locked questions from solutions/
  course demo                     run the reference solution of lesson 1 through every step, offline

Expected failures print one line and a hint; --verbose adds the traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from ..errors import CourseError


def _serve(args: argparse.Namespace) -> int:
    from ..connect import running_server
    from ..offline.config import ServerConfig
    from ..offline.server import serve
    from ..paths import server_dir

    for name in ("keys", "blocked_terms"):
        path = getattr(args, name)
        if path is not None and not Path(path).is_file():
            raise CourseError(f"--{name.replace('_', '-')} {path}: no such file.")
    if not 0.0 <= args.fail_rate <= 1.0:
        raise CourseError(f"--fail-rate must be between 0 and 1, got {args.fail_rate}.")
    config = ServerConfig.from_env(
        host=args.host, port=args.port, data_dir=args.data_dir, keys_file=args.keys,
        blocked_terms_file=args.blocked_terms, rate_limit=args.rate_limit, fail_rate=args.fail_rate,
        fail_seed=args.fail_seed, seed=args.seed, idle_timeout=args.idle_timeout, workers=args.workers, uds=args.uds,
        channel_dir=args.channel_dir,
    )
    if config.workers < 1:
        raise CourseError(f"--workers must be at least 1, got {config.workers}.")
    state_file = args.state_file
    if state_file is None and args.data_dir is None and running_server(timeout=1.0) is None:
        state_file = server_dir() / "state.json"  # scripts started later will use this server
    try:
        from ..offline.policy import load_keys

        if config.keys_file:
            load_keys(config.keys_file)
    except ValueError as exc:
        raise CourseError(str(exc)) from None
    announce = (lambda msg: print(msg, flush=True)) if args.fd is None else (lambda _msg: None)
    try:
        serve(config, fd=args.fd, control_fd=args.control_fd, state_file=state_file, announce=announce)
    except KeyboardInterrupt:
        pass
    return 0


def _log(args: argparse.Namespace) -> int:
    from ..offline.requestlog import read_log
    from ..paths import offline_data_dir

    data_dir = Path(args.data_dir or os.environ.get("COURSE_OFFLINE_DATA_DIR") or offline_data_dir())
    records = read_log(data_dir, key=args.key)
    if args.limit:
        records = records[-args.limit:]
    if args.json:
        for r in records:
            print(json.dumps(r.to_dict()))
        return 0
    if not records:
        print(f"No requests logged in {data_dir}" + (f" for key {args.key}" if args.key else "") + ".")
        return 0
    import time

    print(f"{'time':19}  {'status':>6}  {'route':28}  {'model':12}  {'key':16}  detail")
    for r in records:
        print(_log_row(r, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.time))))
    return 0


def _log_row(r: Any, when: str) -> str:
    """One request as a table row. Route, model, key and message are whatever a script sent, so each is
    shown with its control characters escaped (then cut to its column, so the columns stay aligned)."""
    from ..untrusted_text import for_terminal

    detail = for_terminal(r.error_message or (f"{len(r.image_ids)} image(s)" if r.image_ids else ""))
    route = for_terminal(r.route)
    route = route if len(route) <= 28 else route[:25] + "..."
    model = for_terminal(r.model or "-")
    key = for_terminal(r.key or "-")[:16]
    return f"{when}  {r.status:>6}  {route:28}  {model:12}  {key:16}  {detail[:90]}"


def _background_server() -> dict | None:
    from ..connect import running_server

    state = running_server(timeout=2.0)
    if state is None:
        print("No offline Images API is running in the background for this user.")
    return state


def _status(args: argparse.Namespace) -> int:
    state = _background_server()
    if state is None:
        return 1
    print(f"Offline Images API running: {state['url']} (pid {state['pid']}, data in {state.get('data_dir')})")
    return 0


def _stop(args: argparse.Namespace) -> int:
    import signal

    from .warm import stop

    if stop():
        print("Stopped the warm runner of course try.")
    state = _background_server()
    if state is not None:
        os.kill(int(state["pid"]), signal.SIGTERM)
        print(f"Stopped the offline Images API (pid {state['pid']}).")
    return 0


def _console():  # type: ignore[no-untyped-def]
    from rich.console import Console

    return Console(highlight=False)


def _learner_lesson(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The lesson named by --lesson or --script, else the first whose script is in this folder."""
    from ..lesson.lessons import all_lessons, find_lesson, lesson_for_script

    if getattr(args, "lesson", None):
        return find_lesson(args.lesson)
    if getattr(args, "script", None):
        return lesson_for_script(Path(args.script))
    lessons = all_lessons()
    here = [lesson for lesson in lessons if (Path.cwd() / lesson.script).exists()]
    return (here or lessons)[0]


def _try(args: argparse.Namespace) -> int:
    from .trying import show, try_step

    if args.page is not None or not args.step.isdigit():
        return _try_guide(args)
    lesson = _learner_lesson(args)
    script = Path(args.script) if args.script else Path.cwd() / lesson.script
    console = _console()  # in a terminal the step is shown as it runs, then `show` adds the verdict
    outcome = try_step(lesson, int(args.step), script.resolve(), images_dir=Path.cwd() / "images",
                       timeout=args.timeout, console=console)
    show(outcome, console)
    return 0 if outcome.result.passed else 1


def _try_guide(args: argparse.Namespace) -> int:
    """`course try GUIDE PAGE [N]`: the page's N-th button's command, run in the guide's workspace."""
    from ..jupyter.try_buttons import run_command
    from ..lesson.codio_guides import guide_button

    if args.page is None:
        raise CourseError(f"course try {args.step}: give a step number (course try 3), or a guide and one of its "
                          "pages (course try GUIDE PAGE [N]).",
                          hint=f"course show {args.step} lists the guide's pages, with how many Try-it buttons each has."
                          if Path(args.step).exists() else "course progress lists this course's steps.")
    guide, number, button = guide_button(Path(args.step), args.page, args.button)
    print(f"▶ {button.label}: {button.command}   (page {number}, in {guide.workspace})", file=sys.stderr, flush=True)
    return run_command(button.command, guide.workspace).returncode


def _progress(args: argparse.Namespace) -> int:
    """`course progress [LESSON]`: one lesson's steps and questions, or every lesson's and their sum. A step or
    question is named as the quiz and the grader name it; the counts are out of every step and question shown,
    those not tried or not answered included (as summary.html counts them)."""
    from rich.table import Table
    from rich.text import Text

    from ..lesson.lessons import all_lessons, find_lesson
    from ..lesson.progress import lesson_progress, total_tally
    from ..lesson.wording import capitalised

    lessons = [find_lesson(args.lesson)] if args.lesson else all_lessons()
    rows = lesson_progress(Path.cwd(), lessons)
    if args.json:
        print(json.dumps([row.to_dict() for row in rows], indent=2))
        return 0
    colours = {"passed": "green", "correct": "green", "failed": "red", "wrong": "red"}
    console = _console()
    for row in rows:
        table = Table(title=f"Lesson {row.number}: {row.title}", title_justify="left")
        table.add_column("step or question")
        table.add_column("status")
        for number, title, status in row.steps:
            table.add_row(Text(row.step_label(number, title)), Text(status, style=colours.get(status, "dim")))
        for task_id, status in row.questions:
            table.add_row(Text(capitalised(row.question_label(task_id))),
                          Text(status, style=colours.get(status, "dim")))
        console.print(table)
        console.print(f"  lesson {row.number}: {row.tally()}", highlight=False)
    if len(rows) > 1:
        console.print(f"All {len(rows)} lessons: {total_tally(rows)}", highlight=False)
    return 0


def _overview(args: argparse.Namespace) -> int:
    from ..lesson.lessons import all_lessons
    from ..lesson.progress import lesson_progress

    console = _console()
    console.print("[bold]The Images API course[/bold]  (course --help lists every command)")
    for row in lesson_progress(Path.cwd(), all_lessons()):
        console.print(f"  lesson {row.number}: {row.title}  -  {row.tally()}", highlight=False)
    console.print("Start with: course show 1    then run a step with: course try 1")
    console.print("In Jupyter: course notebook 1, then open imageGen.ipynb", highlight=False)
    return 0


def _show(args: argparse.Namespace) -> int:
    from .pager import paged

    paged(_console(), lambda console: _show_on(args, console))
    return 0


def _show_on(args: argparse.Namespace, console: Any) -> int:
    from ..lesson.codio_pages import load_chapter
    from .pages import render_page

    if _names_a_path(args.lesson):  # any Codio guide: its folder, .guides, content folder, or one page
        from .guide_pages import show_guide

        show_guide(args.lesson, args.page, console, every=args.all)
        return 0
    from ..lesson.lessons import find_lesson

    lesson = find_lesson(args.lesson)
    chapter = load_chapter(lesson.folder)
    pages = chapter.pages
    hint = None if lesson.number == 1 else str(lesson.number)
    if args.all:
        for page in pages:
            render_page(page, console, script_hint=hint)
        return 0
    index = _page_index(args.page, [p.slug for p in pages], lesson.number)
    render_page(pages[index], console, script_hint=hint)
    if index + 1 < len(pages):
        console.print(f"\n[dim]page {index + 1} of {len(pages)}; next: course show {lesson.number} {index + 2}[/dim]")
    else:
        console.print(f"\n[dim]page {index + 1} of {len(pages)}: the last page of lesson {lesson.number}[/dim]")
    return 0


def _names_a_path(arg: str) -> bool:
    """Is this LESSON argument a path (to a guide or a page) rather than a lesson's number or script?"""
    path = Path(arg)
    if path.exists():
        return path.suffix != ".py"  # imageGen2.py names lesson 2, even with the learner's copy here
    return "/" in arg or os.sep in arg or path.suffix in (".md", ".txt") or arg.startswith(".")


def _page_index(page: str | None, slugs: list[str], lesson: int) -> int:
    if page is None:
        return 0
    if page.isdigit() and 1 <= int(page) <= len(slugs):
        return int(page) - 1
    if page in slugs:
        return slugs.index(page)
    where = f"lesson {lesson}" if lesson else "this guide"
    raise CourseError(f"{where} has no page {page!r}.", hint=f"its pages are 1 to {len(slugs)}.")


def _quiz(args: argparse.Namespace) -> int:
    from ..lesson.lessons import CONTENT, question_by_place, question_place, question_places
    from ..lesson.questions import load_questions
    from .quiz import run_quiz

    console = _console()
    if args.questions:
        from ..lesson.assessments import list_assessments, load_guide_questions, workspace_of

        listed = list_assessments(Path(args.questions))
        if args.list:
            for item in listed:
                console.print(item.line(), markup=False, highlight=False, soft_wrap=True)
            runs = sum(item.runs for item in listed)
            if not listed:
                console.print(f"No assessments in {args.questions}.", highlight=False)
                return 0
            console.print(f"{len(listed)} assessment{'s' if len(listed) != 1 else ''}, {runs} of them run here.",
                          highlight=False)
            return 0
        questions = load_guide_questions(Path(args.questions))
        if not args.id:  # every assessment is accounted for: those the quiz cannot run are named, with why
            for item in listed:
                if not item.runs:
                    console.print(f"Not asked here: {item.title} ({item.task_id}, {item.kind}): {item.why}.",
                                  markup=False, highlight=False, style="yellow", soft_wrap=True)
            if not questions:
                raise CourseError(f"no assessment in {args.questions} is of a type that runs here: "
                                  f"{len(listed)} found" + (", named above." if listed else "."),
                                  hint=f"course quiz --questions {args.questions} --list lists them.")
    else:
        questions = load_questions(CONTENT / "assessments")
    places = {} if args.questions else {task_id: question_place(task_id) for task_id in question_places()}
    if args.questions and not args.id:
        chosen = list(questions.values())
    elif args.id:
        wanted = args.id if args.id in questions or args.questions else (question_by_place(args.id) or args.id)
        if wanted not in questions and args.questions:
            listed_here = next((item for item in listed if item.task_id == wanted), None)
            if listed_here is not None:
                raise CourseError(f"{wanted} ({listed_here.kind}) does not run here: {listed_here.why}.")
            raise CourseError(f"{args.questions} has no assessment {args.id!r}.",
                              hint=f"course quiz --questions {args.questions} --list lists them.")
        if wanted not in questions:
            known = ", ".join(f"{l}.{i}" for l, i in sorted(question_places().values())) if not args.questions else ""
            raise CourseError(f"there is no question {args.id!r}.",
                              hint=(f"name one by its place ({known}) or its id; " if known else "")
                              + "course progress lists the questions.")
        chosen = [questions[wanted]]
    else:
        lesson = _learner_lesson(args)
        chosen = [questions[task_id] for task_id in lesson.assessment_ids if task_id in questions]
    workspace = workspace_of(args.questions) if args.questions else None
    result = run_quiz(chosen, answers_path=Path.cwd() / "answers.json", console=console, places=places,
                      workspace=workspace)
    console.print()
    console.print(result)
    return 0


def _build(args: argparse.Namespace) -> int:
    from ..build import build, check_build

    if args.check:
        drift = check_build()
        if drift:
            print("These generated files differ from their sources (run `course build`):")
            for path in drift:
                print(f"  {path}")
            return 1
        print("exercises/, the notebooks and the locked questions match their sources.")
        return 0
    for path in build():
        print(f"wrote {path}")
    return 0


def _notebook(args: argparse.Namespace) -> int:
    from ..lesson.lessons import all_lessons, find_lesson
    from ..jupyter.notebooks import build_notebook, notebook_name, notebook_text, write_notebook

    out = args.out or Path.cwd()
    if out.exists() and not out.is_dir():
        raise CourseError(f"--out {out} is a file, not a folder.")
    if args.lesson and _names_a_path(args.lesson):
        from ..jupyter.guide_notebooks import build_guide_notebook, guide_notebook_name, where_it_travels
        from ..lesson.codio_guides import open_guide

        guide = open_guide(Path(args.lesson))
        built = [(build_guide_notebook(guide, out=out), out / guide_notebook_name(guide))]
        advice = where_it_travels(guide, out)
    else:
        advice = ""
        lessons = [find_lesson(args.lesson)] if args.lesson else all_lessons()
        built = [(build_notebook(lesson, solutions=args.solutions), out / notebook_name(lesson)) for lesson in lessons]
    written = []
    for nb, target in built:
        if target.exists() and not args.force:
            try:
                same = target.read_text(encoding="utf-8") == notebook_text(nb)
            except (OSError, UnicodeDecodeError):
                same = False
            if not same:
                raise CourseError(f"{target} already exists and holds work of its own; it was left as it is.",
                                  hint=f"move it aside (mv {target.name} {target.stem}.old.ipynb) or pass --force "
                                       "to replace it.")
        written.append(write_notebook(nb, target))
    for path in written:
        print(f"wrote {path}")
    if written:
        print(f"open it with: jupyter lab {written[0].name}   (or jupyter notebook {written[0].name})")
    if advice and written:
        print(advice)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args.out)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="course", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verbose", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("serve", help="run the offline Images API in the foreground")
    p.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default 8765; 0 picks a free one)")
    p.add_argument("--data-dir", type=Path, default=None, help="request log, images and URL secret")
    p.add_argument("--keys", type=Path, default=None, help="file mapping each accepted key to a learner id")
    p.add_argument("--blocked-terms", type=Path, default=None, help="terms the content policy rejects, one per line")
    p.add_argument("--rate-limit", type=int, default=None, metavar="N", help="images per minute per key (429 above)")
    p.add_argument("--fail-rate", type=float, default=0.0, metavar="R", help="fraction of requests answered 500")
    p.add_argument("--fail-seed", type=int, default=0, help="seed for --fail-rate")
    p.add_argument("--seed", type=int, default=None, help="seed mixed into every image")
    p.add_argument("--idle-timeout", type=float, default=None, help="exit after this many idle seconds")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default 1; 2 uses both cores)")
    p.add_argument("--uds", type=Path, default=None, help="also listen on this Unix socket")
    p.add_argument("--fd", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--control-fd", type=int, default=None, help=argparse.SUPPRESS)  # the grader's channels
    p.add_argument("--channel-dir", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument("--state-file", type=Path, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=_serve)

    p = sub.add_parser("log", help="show the offline API's request log")
    p.add_argument("--key", default=None, help="only requests made with this API key")
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--limit", type=int, default=None, help="only the last N requests")
    p.set_defaults(func=_log)

    sub.add_parser("status", help="is a background offline API running?").set_defaults(func=_status)
    sub.add_parser("stop", help="stop the background offline API").set_defaults(func=_stop)

    p = sub.add_parser("show", help="read a lesson page, or any Codio guide's")
    p.add_argument("lesson", help="lesson number (1, 2), or a Codio guide: its folder (the one holding .guides), its "
                                  ".guides or content folder, or one page's file")
    p.add_argument("page", nargs="?", default=None,
                   help="page: as the contents number it (1.2), its place, or its title (default: a guide's contents, "
                        "a lesson's first page)")
    p.add_argument("--all", action="store_true", help="every page, one after the other")
    p.set_defaults(func=_show)

    p = sub.add_parser("try", help="run one step of your script and judge it, or a guide page's Try-it button")
    p.add_argument("step", help="the step number; or a Codio guide (as course show takes it), then PAGE [N]")
    p.add_argument("page", nargs="?", default=None, help="with a guide: the page, as course show numbers it")
    p.add_argument("button", nargs="?", default=None, help="with a guide: the page's N-th Try-it button (default 1)")
    p.add_argument("--lesson", default=None, help="lesson number or script name (default: the script here)")
    p.add_argument("--script", default=None, help="the script to run (default: the lesson's, in this folder)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds a step may take (default 60)")
    p.set_defaults(func=_try)

    p = sub.add_parser("quiz", help="answer the lesson's questions")
    p.add_argument("id", nargs="?", default=None, help="one question's id (default: all of the lesson's)")
    p.add_argument("--lesson", default=None, help="lesson number or script name")
    p.add_argument("--script", default=None, help=argparse.SUPPRESS)
    p.add_argument("--questions", default=None, metavar="PATH",
                   help="another guide's questions: its folder, its .guides folder, a folder of question files "
                        "or an assessments.json")
    p.add_argument("--list", action="store_true",
                   help="with --questions: one line per assessment (id, type, title, whether it runs here)")
    p.set_defaults(func=_quiz)

    p = sub.add_parser("progress", help="every step and question, and how you did")
    p.add_argument("lesson", nargs="?", default=None,
                   help="only this lesson: its number (1) or script (imageGen2.py) (default: every lesson)")
    p.add_argument("--json", action="store_true", help="as JSON")
    p.set_defaults(func=_progress)

    p = sub.add_parser("build", help="regenerate exercises/ and the locked questions")
    p.add_argument("--check", action="store_true", help="only report files that drifted from their sources")
    p.set_defaults(func=_build)

    p = sub.add_parser("notebook", help="write the lessons, or a Codio guide, as Jupyter notebooks")
    p.add_argument("lesson", nargs="?", default=None,
                   help="lesson number or script name (default: every lesson), or a Codio guide's folder")
    p.add_argument("--out", type=Path, default=None, help="folder to write into (default: here)")
    p.add_argument("--solutions", action="store_true", help="the instructor's version, solutions filled in")
    p.add_argument("--force", action="store_true", help="replace a notebook that holds work of its own")
    p.set_defaults(func=_notebook)

    p = sub.add_parser("demo", help="run lesson 1's reference solution, every step, offline")
    p.add_argument("--out", type=Path, default=Path("images"), help="folder for the images (default ./images)")
    p.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "try" in argv[:2] and not _guide_try(argv):  # the warm runner: the SDK already imported, a fresh process per try
        from . import warm

        if not warm.inside:
            code = warm.run(argv)
            if code is not None:
                return code
            try:
                return _main(argv)
            finally:
                warm.start_pending()
    return _main(argv)


def _guide_try(argv: list[str]) -> bool:
    """Is this `course try GUIDE PAGE [N]`? That runs a guide's own command, which needs no warm SDK."""
    words = argv[argv.index("try") + 1:]
    takes_value = {"--lesson", "--script", "--timeout"}
    positional = [w for i, w in enumerate(words) if not w.startswith("-") and (i == 0 or words[i - 1] not in takes_value)]
    return len(positional) > 1 or (len(positional) == 1 and not positional[0].isdigit())


def _main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        args.func = _overview
    try:
        return int(args.func(args) or 0)
    except CourseError as exc:
        if args.verbose:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1
