"""Draw guide pages in a terminal with rich, for learners who are not inside Codio.

Codio's buttons become numbered action panels that say what to type instead of what to click
(`course try N`, `course quiz <task id>`). Everything a learner must read survives a console with no
colour: headings are underlined with box characters, not only styled, and learner text is passed as
`Text`, never as rich markup, so brackets in a command print as they are.
"""

from __future__ import annotations

import re
import shlex
from functools import lru_cache

from rich.console import Console, Group, RenderableType
from rich.markdown import Markdown as RichMarkdown
from rich.padding import Padding
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from course.lesson.guide import Assessment, Block, Chapter, Code, Columns, Heading, Markdown, Page, TryIt, step_number

__all__ = ["render_chapter_index", "render_page", "try_command"]

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


def render_page(page: Page, console: Console, *, script_hint: str | None = None) -> None:
    """Print one page: its title (unless its first heading already says it), then its blocks."""
    first = page.blocks[0] if page.blocks else None
    if not (isinstance(first, Heading) and first.text == page.title):
        console.print(_heading(1, page.title))
        console.print()
    for block in page.blocks:
        console.print(_render(block, script_hint))
        console.print()


def _stack(blocks: list[Block], script_hint: str | None) -> Group:
    """Blocks one under another with a blank line between, none after the last (inside a border)."""
    items: list[RenderableType] = []
    for block in blocks:
        if items:
            items.append(Text())
        items.append(_render(block, script_hint))
    return Group(*items)


def _render(block: Block, script_hint: str | None) -> RenderableType:
    if isinstance(block, Heading):
        return _heading(block.level, block.text)
    if isinstance(block, Markdown):
        # hyperlinks=False prints a link's address after its text: a terminal may not make it clickable.
        return RichMarkdown(block.text, code_theme=CODE_THEME, hyperlinks=False)
    if isinstance(block, Code):
        return _code(block)
    if isinstance(block, TryIt):
        return _try_it(block, script_hint)
    if isinstance(block, Assessment):
        return _assessment(block)
    if isinstance(block, Columns):
        return _columns(block, script_hint)
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


def _try_it(block: TryIt, script_hint: str | None) -> RenderableType:
    """A numbered panel: what Codio's button runs, and what to type here to do the same."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row("button runs", Text(block.command))
    grid.add_row("you type", Text(try_command(block.command, script_hint=script_hint) or block.command,
                                  style="bold green"))
    step = step_number(block.command)  # numbered by the step it runs, not by its place on the page
    title = Text.assemble(("▶ ", "green"), (f"Step {step}: {block.label}" if step is not None else block.label, "bold"))
    return Panel(grid, title=title, title_align="left", expand=False, padding=(0, 1))


def _assessment(block: Assessment) -> RenderableType:
    """A question of the page: by its place and title for the course's own ("Lesson 1, question 2: How many
    images per request", `course quiz 1.2`), by its button and id for another guide's."""
    from ..lesson.lessons import question_places

    place = question_places().get(block.task_id)
    if place is None:
        return Text.assemble(("? ", "bold magenta"), (block.label, "bold"), ("  you type  ", "dim"),
                             (f"course quiz {block.task_id}", "bold green"))
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


def _columns(block: Columns, script_hint: str | None) -> RenderableType:
    """Side by side in a grid; a region with one column is one bordered block."""
    left = _stack(block.left, script_hint)
    title = Text(block.kind) if block.kind else None
    if not block.right:
        return Panel(left, title=title, title_align="left")
    grid = Table.grid(expand=True, padding=(0, 2))
    grid.add_column(ratio=1, overflow="fold")
    grid.add_column(ratio=1, overflow="fold")
    grid.add_row(left, _stack(block.right, script_hint))
    return Panel(grid, title=title, title_align="left")


def render_chapter_index(chapters: list[Chapter], console: Console) -> None:
    """The table of contents: lessons numbered 1.., their pages 1.1.., and what each page asks for."""
    console.print(_heading(1, "Lessons"))
    console.print()
    for position, chapter in enumerate(chapters, start=1):
        number = chapter_number(chapter, position)
        line = Text.assemble((f"{number}. ", "bold"), (chapter.title, "bold"))
        if chapter.course and chapter.course.get("script"):
            steps = chapter.course.get("steps") or []
            line.append(f"  ({chapter.course['script']}, {len(steps)} step{'s' if len(steps) != 1 else ''})",
                        style="dim")
        console.print(line)
        for page_no, page in enumerate(chapter.pages, start=1):
            row = Text(f"   {number}.{page_no}  ")
            row.append(page.title)
            extras = _counts(page)
            if extras:
                row.append(f"  ({extras})", style="dim")
            console.print(row)
        console.print()


def chapter_number(chapter: Chapter, position: int) -> str:
    number = chapter.course.get("number") if chapter.course else None
    if isinstance(number, int) and not isinstance(number, bool):
        return str(number)
    match = re.match(r"(\d+)-", chapter.slug)
    return match.group(1) if match else str(position)


def _counts(page: Page) -> str:
    parts = []
    if page.try_its:
        parts.append(f"{len(page.try_its)} try-it{'s' if len(page.try_its) != 1 else ''}")
    if page.assessments:
        parts.append(f"{len(page.assessments)} question{'s' if len(page.assessments) != 1 else ''}")
    return ", ".join(parts)
