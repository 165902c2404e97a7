"""Draw guide pages in a terminal with rich, for learners who are not inside Codio.

Codio's buttons become numbered action panels that say what to type instead of what to click:
`course try N` and `course quiz 1.2` for this course's own steps and questions, `course try GUIDE PAGE
[N]` and `course quiz --questions GUIDE ID` for another guide's (`GuidePlace` says which guide and page).
Pages are read through `course.lesson.reading` first, so HTML, Codio's link actions and images reach
the reader as words. Callouts (`|||info`, `|||challenge`, ...) and `<details>` sections are one box
each, open at the sides so that a line of text copied out of one reads as it was written.

Everything a learner must read survives a console with no colour: headings are underlined with box
characters, not only styled, and learner text is passed as `Text`, never as rich markup, so brackets
in a command print as they are.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from course.lesson.codio_pages import (
    Assessment,
    Block,
    Callout,
    Chapter,
    Code,
    Columns,
    Heading,
    Markdown,
    Page,
    TryIt,
    step_number,
)
from course.lesson.page_text import not_drawn_note, page_lines
from course.terminal.reader_markdown import ReaderMarkdown

__all__ = ["GuidePlace", "render_chapter_index", "render_contents", "render_page", "render_page_as_text",
           "try_command"]


@dataclass(frozen=True)
class GuidePlace:
    """Where a page of another guide is, for the commands its buttons and questions stand for: the guide
    as the reader named it (`course show GUIDE`), the page's number in its contents, and the path for
    `course quiz --questions` (the guide itself unless the page was named alone)."""

    guide: str
    number: str
    questions: str = ""

    def try_words(self, button: int) -> str:
        return f"course try {shlex.quote(self.guide)} {self.number}" + (f" {button}" if button > 1 else "")

    def quiz_words(self, task_id: str) -> str:
        return f"course quiz --questions {shlex.quote(self.questions or self.guide)} {task_id}"


@dataclass(frozen=True)
class _Context:
    script_hint: str | None = None
    place: GuidePlace | None = None


# Codio's callout types, as the box's title says them. Guidance is only shown to a course's teachers.
# A box with a top and a bottom but no sides: text inside reads (and copies) as plain lines.
OPEN_BOX = box.Box("╭──╮\n    \n├──┤\n    \n├──┤\n├──┤\n    \n╰──╯\n")

# ANSI themes take the terminal's own palette, so code reads on dark and light backgrounds alike.
CODE_THEME = "ansi_dark"
_LESSON_ONE_SCRIPT = "imageGen.py"
_LEXERS = {"": "text", "py": "python", "python3": "python", "py3": "python", "sh": "bash", "shell": "bash",
           "console": "text", "output": "text"}


def try_command(command: str, *, script_hint: str | None = None) -> str | None:
    """What to type in a terminal for a Try-it button, or None when its command names no step.

    Lesson 1's script is the default, so `--lesson` is only added for another script, and only when
    the caller knows the lesson's name (`script_hint`).
    """
    step = step_number(command)
    if step is None:
        return None
    hint = ""
    if script_hint and _script(command) != _LESSON_ONE_SCRIPT:
        hint = f" --lesson {script_hint}"
    return f"course try {step}{hint}"


def _script(command: str) -> str:
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    return next((word.rsplit("/", 1)[-1] for word in words if word.endswith(".py")), "")


def render_page(page: Page, console: Console, *, script_hint: str | None = None,
                place: GuidePlace | None = None) -> None:
    """Print one page: its title (unless its first heading already says it), then its blocks. `place`
    says which guide and page another guide's page is (for the commands its buttons stand for)."""
    from course.lesson.reading import for_reader

    blocks = for_reader(page.blocks)
    context = _Context(script_hint, place)
    first = blocks[0] if blocks else None
    if not (isinstance(first, Heading) and first.text == page.title):
        console.print(_heading(1, page.title))
        console.print()
    for block in blocks:
        if isinstance(block, Assessment):  # one line that a terminal wraps softly: the command stays whole
            console.print(_render(block, context), soft_wrap=True)
        elif isinstance(block, TryIt):  # a panel as wide as its command, so that the command stays whole
            _print_whole(console, _render(block, context),
                         18 + max(len(block.command), len(_typed(block, context)), len(block.label)))
        else:
            console.print(_render(block, context))
        console.print()
    _links(blocks, console)


def render_text(text: str) -> RenderableType:
    """An assessment's instructions or guidance, converted as a page is (`for_reader`: the HTML in it read as
    Markdown, `<details>` as titled sections, Codio's link actions in words) and drawn as a page's blocks. Text
    that cannot be converted is drawn as it is written."""
    from course.lesson.reading import for_reader

    try:
        return _stack(for_reader([Markdown(text)]), _Context())
    except Exception:  # noqa: BLE001 - any text an author writes must still be readable
        return Text(text)


def render_page_as_text(page: Page, console: Console, problem: Exception) -> None:
    """A page that could not be drawn, printed as the text it holds under a note that says so, so that
    the reader still reads it and the pages after it still come."""
    console.print(_heading(1, page.title))
    console.print(Text(not_drawn_note(problem), style="dim"), soft_wrap=True)
    console.print()
    for line in page_lines(page.blocks):
        console.print(Text(line), soft_wrap=True)


def _links(blocks: list[Block], console: Console) -> None:
    """The page's link addresses, under it: the text says only the link's words, so that a sentence reads
    on (a terminal that can makes those words clickable as well)."""
    from course.lesson.reading import links_of

    found = links_of(blocks)
    if not found:
        return
    console.print(Text("Links on this page", style="bold"))
    for text, href in found:
        console.print(Text.assemble("  ", (text or "link", "dim"), "  ", (href, "underline")), soft_wrap=True)
    console.print()


def _print_whole(console: Console, renderable: RenderableType, needed: int) -> None:
    """Print at `needed` columns when the console is narrower: a terminal wraps the long lines softly, a
    pipe keeps them whole, and no command is cut in two."""
    if needed <= console.width:
        console.print(renderable)
        return
    from rich.segment import Segment, Segments

    lines = console.render_lines(renderable, console.options.update_width(needed), pad=False)
    segments = [segment for line in lines for segment in (*line, Segment.line())]
    console.print(Segments(segments), crop=False, end="")


def _stack(blocks: list[Block], context: _Context) -> Group:
    """Blocks one under another with a blank line between, none after the last (inside a border)."""
    items: list[RenderableType] = []
    for block in blocks:
        if items:
            items.append(Text())
        items.append(_render(block, context))
    return Group(*items)


def _render(block: Block, context: _Context) -> RenderableType:
    if isinstance(block, Heading):
        return _heading(block.level, block.text)
    if isinstance(block, Markdown):
        # The link's words only (clickable where the terminal can); `_links` lists the addresses under the page.
        return ReaderMarkdown(block.text, code_theme=CODE_THEME, hyperlinks=True)
    if isinstance(block, Code):
        return _code(block)
    if isinstance(block, TryIt):
        return _try_it(block, context)
    if isinstance(block, Assessment):
        return _assessment(block, context)
    if isinstance(block, Columns):
        return _columns(block, context)
    if isinstance(block, Callout):
        return _callout(block, context)
    raise TypeError(f"no renderer for {type(block).__name__}")


def _heading(level: int, text: str) -> RenderableType:
    """Underlined with characters, so a section start still shows without colour or bold."""
    title = Text(text, style="bold" if level > 1 else "bold underline")
    if level > 2:
        return title
    rule = ("━" if level == 1 else "─") * max(len(text), 1)
    return Group(title, Text(rule, style="dim"))


def _code(block: Code) -> RenderableType:
    language = block.language.lower()
    lexer = _LEXERS.get(language, language)
    syntax = Syntax(block.text, lexer, theme=CODE_THEME, background_color="default", word_wrap=True)
    return Padding(syntax, (0, 0, 0, 4))


def _try_it(block: TryIt, context: _Context) -> RenderableType:
    """A panel: what Codio's button runs, and what to type here to do the same. This course's own steps
    are numbered by the step they run (`course try 3`); another guide's buttons by the page they are on."""
    own = context.place is None or _course_script(block.command)
    typed = _typed(block, context)
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row("button runs", Text(block.command))
    grid.add_row("you type", Text(typed, style="bold green"))
    step = step_number(block.command) if own else None  # numbered by the step it runs, not by its place
    title = Text.assemble(("▶ ", "green"), (f"Step {step}: {block.label}" if step is not None else block.label, "bold"))
    return Panel(grid, title=title, title_align="left", expand=False, padding=(0, 1))


def _typed(block: TryIt, context: _Context) -> str:
    """What to type for a button: `course try 3` for this course's steps, `course try GUIDE PAGE [N]` else."""
    if context.place is None or _course_script(block.command):
        return try_command(block.command, script_hint=context.script_hint) or block.command
    return context.place.try_words(block.number)


@lru_cache(maxsize=1)
def _course_scripts() -> frozenset[str]:
    from ..lesson.lessons import all_lessons

    try:
        return frozenset(lesson.script for lesson in all_lessons())
    except Exception:  # noqa: BLE001 - without the lessons, no command is the course's own
        return frozenset()


def _course_script(command: str) -> bool:
    """Does this button run a step of one of this course's own lesson scripts (`python3 imageGen.py 3`)?"""
    return step_number(command) is not None and _script(command) in _course_scripts()


def _assessment(block: Assessment, context: _Context) -> RenderableType:
    """A question of the page: by its place and title for the course's own ("Lesson 1, question 2: How many
    images per request", `course quiz 1.2`), by its button and id for another guide's."""
    from ..lesson.lessons import question_places

    place = question_places().get(block.task_id)
    if place is None:
        typed = context.place.quiz_words(block.task_id) if context.place else f"course quiz {block.task_id}"
        return Text.assemble(("? ", "bold magenta"), (block.label, "bold"), ("  you type  ", "dim"),
                             (typed, "bold green"))
    name = _course_question_names().get(block.task_id, "")
    label = f"Lesson {place[0]}, question {place[1]}" + (f": {name}" if name else "")
    return Text.assemble(("? ", "bold magenta"), (label, "bold"), ("  you type  ", "dim"),
                         (f"course quiz {place[0]}.{place[1]}", "bold green"))


@lru_cache(maxsize=1)
def _course_question_names() -> dict[str, str]:
    from ..lesson.lessons import CONTENT
    from ..lesson.questions import load_questions

    try:
        questions = load_questions(CONTENT / "assessments")
    except Exception:  # noqa: BLE001 - a page still renders without the titles
        return {}
    return {task_id: q.name for task_id, q in questions.items() if q.show_name and q.name != task_id}


def _columns(block: Columns, context: _Context) -> RenderableType:
    """Side by side in a grid; a region with one column is one bordered block."""
    left = _stack(block.left, context)
    title = Text(block.kind) if block.kind else None
    if not block.right:
        return Panel(left, title=title, title_align="left")
    grid = Table.grid(expand=True, padding=(0, 2))
    grid.add_column(ratio=1, overflow="fold")
    grid.add_column(ratio=1, overflow="fold")
    grid.add_row(left, _stack(block.right, context))
    return Panel(grid, title=title, title_align="left")


def _callout(block: Callout, context: _Context) -> RenderableType:
    """One box holding everything inside the callout; a title too long for the border goes inside it."""
    title = block.heading
    body: RenderableType = _stack(block.blocks, context)
    short = len(title) <= 48
    if not short:
        body = Group(Text(title, style="bold"), Text(), body) if block.blocks else Text(title, style="bold")
    return Panel(body, title=Text(title if short else "Details", style="bold"), title_align="left", box=OPEN_BOX,
                 padding=(0, 1))


def render_chapter_index(chapters: list[Chapter], console: Console) -> None:
    """The table of contents of this course's lessons: lessons numbered 1.., their pages 1.1.., and what
    each page asks for."""
    from pathlib import Path

    from course.lesson.codio_guides import Guide

    render_contents(Guide("Lessons", list(chapters), Path.cwd(), "lessons"), console)


def render_contents(guide: Any, console: Console) -> None:
    """A guide's table of contents, numbered as `course show GUIDE NUMBER` takes them: top-level pages and
    chapters 1, 2, ..., the pages inside chapter 2 numbered 2.1, 2.2, a chapter nested in it 2.2 and its
    pages 2.2.1, ...; after each page what it asks for (try-its, questions)."""
    console.print(_heading(1, guide.title))
    console.print()
    previous_depth = None
    for entry in guide.entries():
        item, indent = entry.item, "   " * entry.depth
        if entry.depth == 0 and previous_depth is not None and (isinstance(item, Chapter) or previous_depth > 0):
            console.print()
        if isinstance(item, Chapter):
            line = Text.assemble(indent, (f"{entry.number}. ", "bold"), (item.title, "bold"))
            if item.course and item.course.get("script"):
                steps = item.course.get("steps") or []
                line.append(f"  ({item.course['script']}, {len(steps)} step{'s' if len(steps) != 1 else ''})",
                            style="dim")
            extras = _counts(item.page) if item.page else ""
        else:
            line = Text(f"{indent}{entry.number}  ")
            line.append(item.title)
            extras = _counts(item)
        if extras:
            line.append(f"  ({extras})", style="dim")
        console.print(line)
        previous_depth = entry.depth
    console.print()


def _counts(page: Page) -> str:
    parts = []
    if page.try_its:
        parts.append(f"{len(page.try_its)} try-it{'s' if len(page.try_its) != 1 else ''}")
    if page.assessments:
        parts.append(f"{len(page.assessments)} question{'s' if len(page.assessments) != 1 else ''}")
    return ", ".join(parts)
