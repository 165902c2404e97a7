"""`course show GUIDE [PAGE] [--all]`: any Codio guide read in the terminal.

GUIDE is what the reader typed (a guide's folder, its `.guides` or content folder, or one page), and
it is echoed back as typed in the commands a page tells them to use (`course try GUIDE 1.2`,
`course quiz --questions GUIDE ID`), so that they can copy them as they are.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from rich.text import Text

from ..lesson.codio_pages import Chapter, Page
from ..lesson.codio_guides import Guide, open_guide
from .pages import GuidePlace, render_contents, render_page, render_page_as_text

__all__ = ["show_guide"]


def show_guide(typed: str, wanted: str | None, console: Any, *, every: bool = False) -> None:
    guide = open_guide(Path(typed))
    if every:
        _show_all(guide, typed, console)
        return
    if wanted is None and guide.format != "page":
        render_contents(guide, console)
        console.print(Text(f"read a page: course show {shlex.quote(typed)} {guide.page_numbers()[0]}   "
                           f"(or --all for every page)", style="dim"), soft_wrap=True)
        return
    number, page = guide.find(wanted or "1")
    _show_page(guide, typed, number, page, console)
    if guide.format == "page":
        return
    pages = guide.pages
    index = pages.index(page)
    where = f"page {number} ({index + 1} of {len(pages)})"
    if index + 1 < len(pages):
        following = guide.number_of(pages[index + 1])
        console.print(Text(f"\n{where}; next: course show {shlex.quote(typed)} {following}", style="dim"),
                      soft_wrap=True)
    else:
        console.print(Text(f"\n{where}: the last page of this guide", style="dim"), soft_wrap=True)


def _show_page(guide: Guide, typed: str, number: str, page: Page, console: Any) -> None:
    """One page drawn; one that cannot be drawn is shown as its text with a note, never stopping the guide."""
    try:
        render_page(page, console, script_hint=_script_hint(guide, page), place=_place(guide, typed, number))
    except Exception as problem:  # any page an author writes must still be readable
        render_page_as_text(page, console, problem)


def _show_all(guide: Guide, typed: str, console: Any) -> None:
    """Every page in reading order, each under a rule with its number; a chapter without a page of its
    own as a heading over its pages."""
    for entry in guide.entries():
        if isinstance(entry.item, Chapter) and entry.item.page is None:
            console.rule(Text(f"{entry.number}. {entry.item.title}", style="bold"), style="dim")
            console.print()
            continue
        page = entry.item if isinstance(entry.item, Page) else entry.item.page
        assert page is not None
        console.rule(Text(entry.number), style="dim")
        _show_page(guide, typed, entry.number, page, console)


def _place(guide: Guide, typed: str, number: str) -> GuidePlace:
    if guide.format != "page":
        return GuidePlace(typed, number)
    return GuidePlace(typed, "1", questions=_as_typed(guide.workspace))


def _as_typed(path: Path) -> str:
    """A folder as short as a reader would type it: relative to here when it is below here."""
    try:
        relative = path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return str(path)
    return str(relative) if str(relative) != "." else "."


def _script_hint(guide: Guide, page: Page) -> str | None:
    """For this course's own lessons: the lesson a page belongs to, when it is not lesson 1."""
    if guide.format != "lessons":
        return None
    for item in guide.items:
        if isinstance(item, Chapter) and item.course and any(p is page for p in item.pages):
            number = item.course.get("number")
            return None if number in (None, 1) else str(number)
    return None

