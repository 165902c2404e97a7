"""The terminal renderer: golden files for whole pages, and the commands it tells learners to type."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from course.lesson.codio_pages import Chapter, load_guide, load_page, parse_page
from course.terminal.pages import render_chapter_index, render_page, try_command

FILES = Path(__file__).resolve().parent / "files" / "pages"
SEED_PAGE = FILES / "codio-lesson-page.md"  # the older Codio style, in the project's own words


def plain_console(width: int = 88) -> Console:
    """The console the CLI tests use: fixed width, no colour, output kept for export_text()."""
    return Console(width=width, record=True, color_system=None, force_terminal=False, file=io.StringIO())


def rendered(page, **kwargs) -> str:
    console = plain_console()
    render_page(page, console, **kwargs)
    return console.export_text()


def test_seed_page_golden(golden):
    """Does a page in the older Codio style read well in a plain terminal?"""
    page = parse_page(SEED_PAGE.read_text(encoding="utf-8"), slug="Dall-E-seed")
    golden("codio-lesson-page.txt", rendered(page))


def test_every_block_kind_golden(golden):
    """Do headings, prose, code, buttons, columns, a named region and a question all render?"""
    page = load_page(FILES / "every-block-kind.md")
    golden("every-block-kind.txt", rendered(page, script_hint="imageGen2"))


def test_chapter_index_golden(golden, tmp_path):
    """Does the table of contents number lessons and pages, with each page's try-its and questions?"""
    lessons = tmp_path / "lessons"
    course = {"number": 1, "script": "imageGen.py", "steps": [{"number": n, "title": f"Step {n}"} for n in (1, 2)]}
    (lessons / "1-generating-images").mkdir(parents=True)
    (lessons / "1-generating-images" / "index.json").write_text(json.dumps(
        {"title": "Generating images", "type": "chapter", "order": ["Dall-E-aa11"], "course": course}))
    (lessons / "1-generating-images" / "Dall-E-aa11.md").write_text(SEED_PAGE.read_text(encoding="utf-8"))
    (lessons / "2-beyond-the-basics").mkdir()
    (lessons / "2-beyond-the-basics" / "Intro-bb22.md").write_text("# Beyond the basics\n\n{Go}(python3 imageGen2.py 1)")
    console = plain_console()
    render_chapter_index(load_guide(lessons), console)
    golden("chapter-index.txt", console.export_text())


@pytest.mark.parametrize("command, hint, expected", [
    ("python3 imageGen.py 3", None, "course try 3"),
    ("python3 imageGen.py 3", "imageGen2", "course try 3"),
    ("python3 imageGen2.py 4", None, "course try 4"),
    ("python3 imageGen2.py 4", "imageGen2", "course try 4 --lesson imageGen2"),
    ("python3 imageGen.py", None, None),
    ("bash", "imageGen2", None),
])
def test_try_command_names_the_step(command, hint, expected):
    """Is `course try N` the step from the command, with `--lesson` only for another script and a hint?"""
    assert try_command(command, script_hint=hint) == expected


def test_button_without_a_step_shows_its_own_command():
    """When a button's command names no step, is the command itself what to type?"""
    text = " ".join(rendered(parse_page("{Open a shell}(bash)")).split())
    assert "you type bash" in text and "course try" not in text


def test_learner_text_is_not_rich_markup():
    """Do brackets in a label or command print as written, not as rich styles?"""
    text = rendered(parse_page("{[bold]Go[/bold]}(echo [red]x[/red] 1)"))
    assert "[bold]Go[/bold]" in text and "echo [red]x[/red] 1" in text


def test_page_title_is_printed_when_no_heading_says_it():
    """Is the .json title shown when the page does not start with that heading?"""
    text = rendered(parse_page("Some text.", title="Setting up"))
    assert text.splitlines()[0].strip() == "Setting up"
    assert text.splitlines()[1].strip() == "━" * len("Setting up")


def test_colour_terminal_and_narrow_width_keep_every_command():
    """On a narrow colour terminal, is every command still there to read?"""
    page = parse_page(SEED_PAGE.read_text(encoding="utf-8"))
    console = Console(width=40, record=True, color_system="truecolor", force_terminal=True, file=io.StringIO())
    render_page(page, console)
    assert "\x1b[" in console.file.getvalue()
    text = " ".join(console.export_text().split())
    for n in range(1, 6):
        assert f"python3 imageGen.py {n}" in text and f"course try {n}" in text
    assert "course quiz 1.5" in text  # the course's own question, called by its place


def test_empty_chapter_list_prints_only_the_heading():
    """Does an index of no lessons still render without error?"""
    console = plain_console()
    render_chapter_index([Chapter(title="Empty", slug="empty", pages=[])], console)
    assert "1. Empty" in console.export_text()
