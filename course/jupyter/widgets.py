"""The lesson notebooks' side of the kernel: connect, Try-it, questions and progress as widgets.

    from course.jupyter import progress, question, start, try_it
    start(1)                          # lesson 1: connect to the Images API as scripts do
    ...                               # the lesson script's setup lines (client = OpenAI() ...)
    def step3(): ...
    try_it(step3)                     # run the step now; its Try-it button runs it again
    question("multiple-choice-...")   # a quiz widget with a Check button
    progress(1)                       # steps passed and questions answered

Everything a widget does is one of the course's own actions, shared with the terminal:
`course.steps.call_step` runs the step (the same messages, traceback and hint), `course.lesson.judging.judge`
judges it with the lesson's checks against the offline API's request log, saves its images under
`images/` and records the progress; `course.lesson.answering` keeps and checks the answers in `answers.json`
for every type, as `course quiz` does. Each widget exposes the method its button calls
(`StepTry.run`, `QuestionBox.check`, `ProgressBox.refresh`), so tests can drive them in a kernel.

In offline mode the kernel gets an API key of its own (`sk-nb-…`), so the request log tells what
this notebook's runs asked for, as `course try` does with a key per run.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import CourseError
from ..lesson.wording import capitalised
from .live import Arrivals, LiveOutput, Printed, html_text, watch_sdk_pictures

try:
    import ipywidgets as widgets
    from IPython.display import display
except ImportError as exc:  # pragma: no cover - the message is the point
    raise CourseError("the notebook widgets need Jupyter's packages, which are not installed.",
                      hint="pip install -e '.[jupyter]' in the course's folder, then restart the kernel.") from exc

from .question_box import ANSWERED, QuestionBox
from .question_box import plain_text as plain_text  # a widget's label, for those who import it from here

MAX_KEPT = 1024 * 1024  # what a step may print and still be judged in full, as in the grader
MAX_SHOWN = 64 * 1024
IMAGE_WIDTH = 256


@dataclass
class Session:
    """What `start()` set up in this kernel."""

    lesson: Any = None
    mode: str = "offline"
    base_url: str | None = None
    key: str | None = None
    data_dir: Path | None = None
    folder: Path = field(default_factory=Path.cwd)
    last_id: int = 0
    reason: str = ""

    def _repr_html_(self) -> str:
        where = (f"the offline Images API at <code>{html.escape(self.base_url or '')}</code>"
                 if self.mode == "offline" else "OpenAI's Images API (your OPENAI_API_KEY)")
        lesson = self.lesson
        return (f"<div class='course-start'>Lesson {lesson.number}: <b>{html.escape(lesson.title)}</b>, "
                f"{len(lesson.steps)} steps. This notebook uses {where}"
                f"{' (' + html.escape(self.reason) + ')' if self.reason else ''}. "
                f"Your answers and progress are kept in <code>{html.escape(str(self.folder))}</code>.</div>")

    def __repr__(self) -> str:
        where = f"the offline Images API at {self.base_url}" if self.mode == "offline" else "OpenAI's Images API"
        return f"Lesson {self.lesson.number}: {self.lesson.title}. This notebook uses {where}."


SESSION: Session | None = None
_PROGRESS_BOXES: list["ProgressBox"] = []


def start(lesson: int | str = 1) -> Session:
    """Connect this kernel to the Images API (the offline one when no key is set), for `lesson`."""
    global SESSION
    from ..connect import connect, running_server
    from ..lesson.lessons import find_lesson

    chosen = find_lesson(lesson)
    connection = connect(quiet=True)
    session = Session(chosen, connection.mode, connection.base_url, folder=Path.cwd(), reason=connection.reason)
    if connection.mode == "offline":
        session.key = "sk-nb-" + uuid.uuid4().hex[:24]
        os.environ["OPENAI_API_KEY"] = session.key  # before the setup cell makes the client
        state = running_server(timeout=5.0)
        if state and state.get("data_dir"):
            session.data_dir = Path(state["data_dir"])
        elif os.environ.get("COURSE_OFFLINE_DATA_DIR"):
            session.data_dir = Path(os.environ["COURSE_OFFLINE_DATA_DIR"])
        session.last_id = _last_id(session)
    # The lesson scripts find their assets beside themselves (Path(__file__)); here that is this folder.
    with contextlib.suppress(Exception):
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None:
            shell.user_ns["__file__"] = str(session.folder / chosen.script)
    SESSION = session
    from .cells import note_definitions

    note_definitions()
    return session


def _session() -> Session:
    if SESSION is None:
        raise CourseError("the notebook is not connected yet.", hint="run the notebook's first code cell (start(...)) first.")
    return SESSION


def _last_id(session: Session) -> int:
    from ..offline.requestlog import read_log

    if session.data_dir is None or session.key is None:
        return session.last_id
    records = read_log(session.data_dir, key=session.key, since_id=session.last_id)
    return max([session.last_id] + [r.id or 0 for r in records])


# --------------------------------------------------------------------------- running a step


def run_step(step: Callable[[], object], number: int | None = None, *,
             show: Callable[[Any], None] | None = None, note: str = "") -> "NotebookTry":
    """Run one step in this kernel, judge it as `course try` would, and return what happened. With `show`,
    what the step prints and the pictures it gets are shown as they come (`show(view)`, a few times a second)."""
    from ..lesson.checks import StepRun, snapshot
    from ..offline.requestlog import read_log
    from ..steps import call_step
    from ..lesson.judging import judge, pictures_in
    from .cells import named_cells

    session = _session()
    lesson = session.lesson
    number = number if number is not None else _number_of(step)
    lesson.step(number)  # a clear error for a step the lesson lacks
    since = _last_id(session)
    before = pictures_in(session.folder)
    arrivals = Arrivals(session.folder, before)
    live = LiveOutput(show or (lambda _view: None), lambda text, pictures: Running(number, text, pictures, note),
                      arrivals)
    out, err = Printed(MAX_KEPT, live.printed), Printed(MAX_KEPT)
    found = snapshot(session.folder)
    started = time.time()
    with live if show is not None else contextlib.nullcontext(), contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err), watch_sdk_pictures(arrivals.add):
        code = call_step(step, number, lesson.script, lesson=lesson.number)
    arrivals.look()
    stdout, stderr = out.getvalue(), named_cells(err.getvalue())
    run = StepRun(number, stdout, stderr, code, workdir=session.folder, started=started, source=_source_of(step),
                  before=found)
    if out.dropped or err.dropped:
        run.reason = f"the step printed more than {MAX_KEPT // 1024} KB"
    if session.data_dir is not None and session.key is not None:
        run.records = read_log(session.data_dir, key=session.key, since_id=since)
        session.last_id = max([since] + [r.id or 0 for r in run.records])
    outcome = judge(lesson, run, images_dir=session.folder / "images", folder=session.folder,
                    offline=session.mode == "offline", before=before)
    hint = _cell_to_run(lesson, stderr)
    if hint is not None:
        outcome.hint = hint
    return NotebookTry(outcome, arrivals.pictures(), time.time() - started, note)


def _cell_to_run(lesson: Any, stderr: str) -> Any:
    """For a step that met a NameError because a cell above it was not run: which cell that is."""
    import re

    from ..hints import Hint

    found = re.findall(r"NameError: name '(\w+)' is not defined", stderr)
    if not found:
        return None
    name = found[-1]
    if re.fullmatch(r"step\d+", name) and int(name[4:]) in {s["number"] for s in lesson.steps}:
        return Hint("run-step-cell", f"{name}() is defined in step {name[4:]}'s cell, above this one: run that cell "
                    "first (it runs that step too), then this one again; or use Run > Run All Above Selected Cell.")
    names, first = _setup_names(lesson)
    if name in names:
        return Hint("run-setup-cell", f"`{name}` is made in the set-up cell near the top of the notebook (the one "
                    f"that starts with {first!r}). Run that cell, then this one again; or use Run > Run All Above "
                    "Selected Cell.")
    return None


def _setup_names(lesson: Any) -> tuple[set[str], str]:
    """The names the lesson's set-up cell defines (imports, the client, constants), and its first line."""
    import ast

    from .notebooks import script_source, split_script

    try:
        setup = split_script(script_source(lesson), name=lesson.script).setup
        tree = ast.parse(setup)
    except Exception:  # noqa: BLE001 - without them, the usual hint stands
        return set(), ""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    first = next((line for line in setup.splitlines() if line.strip() and not line.startswith("#")), "")
    return names, first


def _source_of(step: Callable[[], object]) -> str | None:
    """The step function's code (a cell's, kept by IPython), for the checks that read the code itself."""
    import inspect
    import textwrap

    try:
        return textwrap.dedent(inspect.getsource(step))  # type: ignore[arg-type]
    except (OSError, TypeError):
        return None


def _number_of(step: Callable[[], object]) -> int:
    name = getattr(step, "__name__", "")
    if name.startswith("step") and name[4:].isdigit():
        return int(name[4:])
    raise CourseError(f"try_it() needs a step function such as step3, not {name or step!r}.",
                      hint="or say which step it is: try_it(my_function, 3).")


def _img_tag(data: bytes, name: str) -> str:
    kind = "webp" if data[8:12] == b"WEBP" else "jpeg" if data[:3] == b"\xff\xd8\xff" else "png"
    uri = f"data:image/{kind};base64,{base64.b64encode(data).decode('ascii')}"
    return (f"<figure style='display:inline-block;margin:4px;vertical-align:top'><img src='{uri}' "
            f"alt='{html.escape(name)}' style='max-width:{IMAGE_WIDTH}px;max-height:{IMAGE_WIDTH}px;"
            f"border:1px solid #ccc'><figcaption style='font-size:smaller'>{html.escape(name)}</figcaption></figure>")


def _pre(text: str, colour: str, css: str = "") -> str:
    shown = text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + f"\n… ({len(text) - MAX_SHOWN} more characters)"
    return (f"<pre{f' class={css!r}' if css else ''} style='white-space:pre-wrap;word-break:break-all;margin:2px 0;"
            f"color:{colour}'>{html_text(shown.rstrip())}</pre>")


def _note(note: str) -> str:
    return f"<div class='course-note' style='color:gray'>{html.escape(note)}</div>" if note else ""


def _numbered(pictures: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Pictures with no file of their own get a number: `base64 picture 2`."""
    counts: dict[str, int] = {}
    out = []
    for name, data in pictures:
        if "." not in name:
            counts[name] = counts.get(name, 0) + 1
            name = f"{name} {counts[name]}" if name == "base64 picture" else name
        out.append((name, data))
    return out


@dataclass
class Running:
    """A step while it runs: what it has printed so far and the pictures it has got, in the order they came."""

    number: int
    text: str
    pictures: list[tuple[str, bytes]]
    note: str = ""

    def _repr_html_(self) -> str:
        parts = [f"<div class='course-try-live' data-step='{self.number}'>", _note(self.note),
                 f"<div class='course-running' style='color:gray'>running step {self.number}…</div>"]
        if self.text:
            parts.append(_pre(self.text, "inherit"))
        parts += [_img_tag(data, name) for name, data in _numbered(self.pictures)]
        parts.append("</div>")
        return "".join(parts)

    def __repr__(self) -> str:
        lines = [self.note] if self.note else []
        lines += [f"running step {self.number}…", self.text.rstrip()[:MAX_SHOWN]]
        lines += [f"image: {name} ({len(data)} bytes)" for name, data in _numbered(self.pictures)]
        return "\n".join(line for line in lines if line)


@dataclass
class Notice:
    """What the Try-it button shows when it did not run the step, and why."""

    number: int
    message: str
    kind: str = "course-stale"

    def _repr_html_(self) -> str:
        return (f"<div class='course-try-notice {self.kind}' data-step='{self.number}' style='margin:4px 0;padding:4px;"
                f"border-left:4px solid #a15c00;color:#a15c00'>{html_text(self.message)}</div>")

    def __repr__(self) -> str:
        return self.message


@dataclass
class NotebookTry:
    """A step's run in the notebook: the terminal's TryResult, the pictures in the order they came, how long
    it took, and a note shown above it (the kernel connected by itself)."""

    outcome: Any  # course.lesson.judging.TryResult
    pictures: list[tuple[str, bytes]]
    seconds: float
    note: str = ""

    @property
    def passed(self) -> bool:
        return self.outcome.result.passed

    def images(self) -> list[tuple[str, bytes]]:
        """Every picture to show: those that came while the step ran (from the SDK, or files it wrote), in the
        order they came; then the ones saved after it (the image URLs it got, fetched)."""
        shown = _numbered(self.pictures)
        seen = {hashlib.sha256(data).hexdigest() for _, data in shown}
        for path in self.outcome.images:
            with contextlib.suppress(OSError):
                data = Path(path).read_bytes()
                if hashlib.sha256(data).hexdigest() not in seen:
                    seen.add(hashlib.sha256(data).hexdigest())
                    shown.append((Path(path).name, data))
        return shown

    def _repr_html_(self) -> str:
        o = self.outcome
        parts = [f"<div class='course-try' data-step='{o.run.step}' data-passed='{str(self.passed).lower()}'>",
                 _note(self.note)]
        if o.run.stdout:
            parts.append(_pre(o.run.stdout, "inherit"))
        from ..lesson.judging import shown_stderr

        stderr = shown_stderr(o.run)
        if stderr.strip():
            parts.append(_pre(stderr, "#b00020"))
        parts += [_img_tag(data, name) for name, data in self.images()]
        colour = "#1b7f3b" if self.passed else "#a15c00"
        parts.append(f"<pre class='course-verdict' style='margin:4px 0;padding:4px;border-left:4px solid {colour};"
                     f"color:{colour}'>{html_text(o.result.render())}</pre>")
        if o.run.reason:
            parts.append(_pre(o.run.reason, "#a15c00"))
        if o.hint is not None:
            parts.append(f"<pre class='course-hint' style='margin:4px 0;color:#00629b'>{html_text(o.hint.render())}</pre>")
        if not o.offline:
            parts.append("<div style='color:gray'>(live API: the checks that read the offline request log could not "
                         "be made)</div>")
        parts.append("</div>")
        return "".join(parts)

    def __repr__(self) -> str:
        o = self.outcome
        lines = [self.note] if self.note else []
        lines.append(f"lesson {o.lesson.number}, step {o.run.step}: {o.result.title}")
        if o.run.stdout:
            lines.append(o.run.stdout.rstrip()[:MAX_SHOWN])
        from ..lesson.judging import shown_stderr

        stderr = shown_stderr(o.run)
        if stderr.strip():
            lines.append(stderr.rstrip()[:MAX_SHOWN])
        lines += [f"image: {name} ({len(data)} bytes)" for name, data in self.images()]
        lines.append(o.result.render())
        if o.run.reason:
            lines.append(o.run.reason)
        if o.hint is not None:
            lines.append(o.hint.render())
        return "\n".join(lines)


class StepTry(widgets.HBox):
    """The Try-it button under a step: `run()` is what a click does. It runs the step as its cell last ran
    (the newest definition the kernel holds); when the cell was edited (and saved) since, it runs nothing
    and says that Shift+Enter in the cell runs the new version."""

    def __init__(self, step: Callable[[], object], number: int, note: str = "") -> None:
        self.step, self.number, self.note = step, number, note
        self.button = widgets.Button(description=f"Try it (step {number})", icon="play", button_style="primary",
                                     tooltip=f"run step {number} again, as its cell last ran, and check it "
                                             "(edited the cell? Shift+Enter in it runs your new version)")
        self.status = widgets.HTML("")
        super().__init__([self.button, self.status])
        self.add_class("course-try-it")
        self.handle: Any = None
        self.last: NotebookTry | None = None
        self.button.on_click(lambda _button: self.run())

    def current(self) -> Callable[[], object]:
        """The newest definition of the step: a cell run again since the button was made redefines it."""
        with contextlib.suppress(Exception):
            from IPython import get_ipython

            shell = get_ipython()
            name = getattr(self.step, "__name__", "")
            newest = shell.user_ns.get(name) if shell is not None and name else None
            if callable(newest):
                return newest
        return self.step

    def show(self, view: Any) -> None:
        """Show `view` as this button's output: the first time below the cell's code, then in the same place."""
        if self.handle is None:
            self.handle = display(view, display_id=True)
        else:
            self.handle.update(view)

    def run(self) -> NotebookTry | None:
        from .cells import changed_since_run

        self.button.disabled = True
        self.status.value = f"running step {self.number}…"
        try:
            step = self.current()
            changed = changed_since_run(step, self.number)
            if changed:
                self.show(Notice(self.number, changed))
                self.status.value = ("<span style='color:#a15c00'>not run: the cell has changed since it last ran "
                                     "(Shift+Enter in the cell runs the new version)</span>")
                return None
            note, self.note = self.note, ""
            try:
                self.last = run_step(step, self.number, show=self.show, note=note)
            except CourseError as exc:
                self.status.value = f"<span style='color:#b00020'>{html.escape(str(exc))}</span>"
                if self.handle is not None:
                    self.handle.update(Notice(self.number, str(exc), "course-error"))
                return None
            self.show(self.last)
            word = "passed" if self.last.passed else "not yet"
            self.status.value = (f"step {self.number}: <b>{word}</b> "
                                 f"<span style='color:gray'>({self.last.seconds:.1f} s, {time.strftime('%H:%M:%S')})"
                                 f"{_which_cell(step)}</span>")
            _refresh_progress()
            return self.last
        finally:
            self.button.disabled = False


def _which_cell(step: Callable[[], object]) -> str:
    from .cells import cell_number

    number = cell_number(getattr(getattr(step, "__code__", None), "co_filename", ""))
    return f" · the code of cell [{number}] as it last ran" if number is not None else ""


def try_it(step: Callable[[], object], number: int | None = None, *, lesson: int | str | None = None) -> StepTry:
    """Run `step` now and show what it did; the returned button runs it again. Run before the notebook's
    first cell, it connects by itself (to `lesson`, the notebook's own), and says so above the step's output."""
    from .cells import defined, note_definitions

    note = ""
    if SESSION is None:
        start(lesson if lesson is not None else 1)
        note = (f"Connected to the Images API for lesson {SESSION.lesson.number if SESSION else lesson} (the "
                "notebook's first cell, which does this, had not been run).")
    note_definitions()
    defined(step)
    box = StepTry(step, number if number is not None else _number_of(step), note=note)
    box.run()
    return box


# --------------------------------------------------------------------------- questions


_QUESTIONS: dict[str, Any] = {}


def _question(task_id: str) -> Any:
    from ..lesson.lessons import CONTENT
    from ..lesson.questions import load_questions

    if not _QUESTIONS:
        _QUESTIONS.update(load_questions(CONTENT / "assessments"))
    if task_id not in _QUESTIONS:
        raise CourseError(f"there is no question {task_id!r}.", hint=f"the questions are: {', '.join(sorted(_QUESTIONS))}.")
    return _QUESTIONS[task_id]


_GUIDES: dict[str, dict[str, Any]] = {}


@dataclass(frozen=True)
class NotHere:
    """A guide's question that cannot run on this machine, shown as a note in its cell (saying why) instead of
    an error, so that Run All goes on; `course quiz --questions GUIDE --list` says the same."""

    task_id: str
    why: str

    def _repr_html_(self) -> str:
        return (f"<div class='course-not-here' style='border-left:4px solid #a15c00;padding-left:6px;color:#555'>"
                f"<b>Note:</b> {html.escape(self.why)}</div>")

    def __repr__(self) -> str:
        return f"Note: {self.why}"


def question(task_id: str, guide: str | Path | None = None) -> QuestionBox | NotHere:
    """A quiz widget for one question; answers go to answers.json beside the notebook.

    With `guide` (a Codio guide's folder, its .guides, a folder of question files or an assessments.json; a
    relative path is taken from the notebook's own folder, as a guide's notebook names its guide), the question
    is that guide's, of any type that runs here; code tests run in the guide's workspace. One that cannot run
    here is a note saying why, so that Run All goes on to the next cell.
    """
    from .task_boxes import box_for

    if guide is None:
        folder = SESSION.folder if SESSION is not None else Path.cwd()
        return box_for(_question(task_id), folder / "answers.json")
    from ..lesson.assessments import list_assessments, load_guide_assessments, workspace_of
    from .guide_place import guide_folder, notebook_folder

    place = guide_folder(guide)
    key = str(place)
    if key not in _GUIDES:
        _GUIDES[key] = load_guide_assessments(place)
    found = _GUIDES[key].get(task_id)
    if found is None:
        listed = next((item for item in list_assessments(place) if item.task_id == task_id), None)
        if listed is not None:
            return NotHere(task_id, f"{task_id} ({listed.kind}) does not run here: {listed.why}.")
        raise CourseError(f"{guide} has no assessment {task_id!r}.",
                          hint=f"course quiz --questions {place} --list lists them.")
    folder = SESSION.folder if SESSION is not None else notebook_folder()
    return box_for(found, folder / "answers.json", workspace=workspace_of(place))


# --------------------------------------------------------------------------- progress


class ProgressBox(widgets.VBox):
    """Steps passed and questions answered for a lesson; refreshed after every try and check."""

    def __init__(self, lesson: Any, folder: Path) -> None:
        self.lesson, self.folder = lesson, folder
        self.table = widgets.HTML("")
        self.button = widgets.Button(description="Refresh", icon="refresh")
        super().__init__([self.table, self.button])
        self.add_class("course-progress")
        self.button.on_click(lambda _button: self.refresh())
        self.refresh()

    def refresh(self) -> Any:
        from ..lesson.progress import lesson_progress

        try:
            row = lesson_progress(self.folder, [self.lesson])[0]
        except CourseError as exc:
            self.table.value = f"<span style='color:#b00020'>{html.escape(str(exc))}</span>"
            return None
        # Text glyphs every font has (✓ ✗ ·), coloured by the page: no colour-emoji font needed.
        marks = {"passed": ("✓", "#1b7f3b"), "correct": ("✓", "#1b7f3b"), "failed": ("✗", "#b00020"),
                 "wrong": ("✗", "#b00020")}

        def status(s: str) -> str:
            mark, colour = marks.get(s, ("·", "gray"))
            return f"<span style='color:{colour};font-weight:bold'>{mark}</span> {html.escape(s)}"

        # Each row called as `course progress`, `course quiz` and the grader call it, counted the same way.
        steps = "".join(f"<tr><td>{html.escape(row.step_label(n, t))}</td><td>{status(s)}</td></tr>"
                        for n, t, s in row.steps)
        questions = "".join(
            f"<tr><td>{html.escape(capitalised(row.question_label(i)))}</td><td>{status(s)}</td></tr>"
            for i, s in row.questions)
        self.table.value = (f"<div class='course-progress-summary'><b>Lesson {row.number}</b>: "
                            f"{html.escape(row.tally())}</div><table>{steps}{questions}</table>")
        return row


def _refresh_progress() -> None:
    for box in list(_PROGRESS_BOXES):
        with contextlib.suppress(Exception):
            box.refresh()


ANSWERED.append(_refresh_progress)  # a question answered: the progress widgets count it


def progress(lesson: int | str | None = None) -> ProgressBox:
    """A progress widget for `lesson` (the notebook's lesson by default)."""
    from ..lesson.lessons import find_lesson

    chosen = find_lesson(lesson) if lesson is not None else _session().lesson
    box = ProgressBox(chosen, SESSION.folder if SESSION is not None else Path.cwd())
    _PROGRESS_BOXES[:] = _PROGRESS_BOXES[-4:] + [box]  # a cell run again replaces its old box; keep a few
    return box
