"""Codio guides in both formats, read as their contents show them; and what a page says to a reader outside Codio."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from course.errors import CourseError
from course.lesson.codio_pages import Callout, Chapter, Code, Heading, Markdown, Page, parse_page
from course.lesson.codio_guides import find_workspace, guide_button, open_guide
from course.lesson.html_pages import has_html, html_blocks
from course.lesson.link_actions import describe, replace_link_actions
from course.lesson.reading import for_reader, inline_text, links_of

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "guides"
NEWER = FIXTURES / "newer"
OLDER = FIXTURES / "older"


def contents(guide) -> list[tuple[str, str, str]]:
    return [(e.number, type(e.item).__name__, e.item.title) for e in guide.entries()]


# --- the newer format -----------------------------------------------------------------------

NEWER_CONTENTS = [
    ("1", "Page", "Welcome"),
    ("2", "Chapter", "Lists"), ("2.1", "Page", "Making Lists"), ("2.2", "Page", "List Methods"),
    ("3", "Chapter", "Loops"), ("3.1", "Page", "For Loops"),
    ("3.2", "Chapter", "Loop Practice"), ("3.2.1", "Page", "Counting"), ("3.2.2", "Page", "Summing"),
]


@pytest.mark.parametrize("where", ["", ".guides", ".guides/content"])
def test_newer_guide_keeps_its_order_titles_and_nesting(where):
    """From the root, .guides or the content folder: index.json orders, .json titles, a chapter nested in one?"""
    guide = open_guide(NEWER / where if where else NEWER)
    assert guide.format == "newer" and guide.title == "Lists and Loops in Python"
    assert contents(guide) == NEWER_CONTENTS
    assert guide.workspace == NEWER.absolute()
    loops = guide.items[2]
    assert isinstance(loops, Chapter) and isinstance(loops.items[1], Chapter)  # nested, not flattened
    assert [p.title for p in loops.pages] == ["For Loops", "Counting", "Summing"]


def test_a_stray_readme_or_draft_is_not_a_page(tmp_path):
    """Is README.md beside the pages left out, as is an unlisted .md without its .json where an order is given?"""
    guide = open_guide(NEWER)
    assert all(page.path.name != "README.md" for page in guide.pages)
    copy = tmp_path / "guide"
    shutil.copytree(NEWER, copy)
    chapter = copy / ".guides" / "content" / "Lists-3c4d"
    (chapter / "Draft-ideas.md").write_text("# Half-written\n")
    (chapter / "Extra-Page-aa11.md").write_text("# Extra\n")
    (chapter / "Extra-Page-aa11.json").write_text(json.dumps({"title": "Extra page"}))
    titles = [p.title for p in open_guide(copy).pages]
    assert "Extra page" in titles and "Half-written" not in titles and len(titles) == 7


def test_a_folder_without_an_order_has_every_page_but_its_readme(tmp_path):
    """Without an index order (a hand-written folder), is every .md a page, README.md still not?"""
    (tmp_path / "b-page.md").write_text("# B\n")
    (tmp_path / "a-page.md").write_text("# A\n")
    (tmp_path / "README.md").write_text("# About\n")
    assert [p.title for p in open_guide(tmp_path).pages] == ["A", "B"]


def test_one_page_is_a_guide_of_one_page_titled_as_its_guide_titles_it():
    """Does a page's path give that page, its .json title, and its guide's folder as the workspace?"""
    guide = open_guide(NEWER / ".guides" / "content" / "Loops-5e6f" / "For-Loops-1f2e.md")
    assert guide.format == "page" and contents(guide) == [("1", "Page", "For Loops")]
    assert guide.workspace == NEWER.absolute()


def test_this_courses_lessons_are_read_as_before():
    """Is the course's own lessons folder still numbered by lesson, its pages as load_chapter reads them?"""
    from course.lesson.codio_pages import load_chapter
    from course.lesson.lessons import CONTENT, all_lessons

    guide = open_guide(CONTENT / "lessons")
    assert guide.format == "lessons"
    assert [e.number for e in guide.entries() if isinstance(e.item, Chapter)] == [str(lesson.number) for lesson in all_lessons()]
    assert len(guide.items) >= 3  # lessons 1, 2 and 3 at least
    for chapter, lesson in zip(guide.items, all_lessons()):
        assert [p.slug for p in chapter.pages] == [p.slug for p in load_chapter(lesson.folder).pages]
    with pytest.raises(CourseError, match="is not a Codio guide"):  # its README.md alone is no page
        open_guide(CONTENT)


# --- the older format -----------------------------------------------------------------------

OLDER_CONTENTS = [
    ("1", "Chapter", "Counting Down"), ("1.1", "Page", "Ranges That Go Backwards"), ("1.2", "Page", "While Loops"),
    ("2", "Chapter", "Practice"), ("2.1", "Page", "Order the Lines"),
    ("2.2", "Chapter", "Checking Output"), ("2.2.1", "Page", "Predict the Output"), ("2.2.2", "Page", "Explain It"),
]


@pytest.mark.parametrize("where", ["", ".guides", ".guides/content"])
def test_older_guide_follows_book_json(where):
    """Do book.json's tree and metadata.json's sections give the order, nesting, titles and chapter pages?"""
    guide = open_guide(OLDER / where if where else OLDER)
    assert guide.format == "older" and guide.title == "Counting Down in Python"
    assert contents(guide) == OLDER_CONTENTS
    first = guide.items[0]
    assert isinstance(first, Chapter) and first.page is not None and first.page.slug == "Counting-Down-c001"
    assert [p.slug for p in guide.pages][:3] == ["Counting-Down-c001", "Ranges-That-Go-Backwards-c002",
                                                 "While-Loops-c003"]
    assert len(guide.pages) == 8  # the README in the content folder is no section, so no page
    assert guide.find("1") == ("1", first.page)  # a chapter's number is its own page


def test_older_guide_tolerates_book_entries_without_a_page(tmp_path):
    """Is a book.json heading with no section a chapter of its pages, and an empty one skipped?"""
    copy = tmp_path / "older"
    shutil.copytree(OLDER, copy)
    book = json.loads((copy / ".guides" / "book.json").read_text())
    book["children"] = [{"title": "Part one", "pageId": "no-such-section", "type": "chapter",
                         "children": book["children"][:1]},
                        {"title": "Nothing here", "pageId": "missing-too", "type": "page"}] + book["children"][1:]
    (copy / ".guides" / "book.json").write_text(json.dumps(book))
    guide = open_guide(copy)
    assert [e.number for e in guide.entries()][:3] == ["1", "1.1", "1.1.1"]
    assert guide.items[0].page is None and guide.find("1")[0] == "1.1"  # no page of its own: its first page
    assert "Nothing here" not in [e.item.title for e in guide.entries()]


def test_older_guide_without_book_json_groups_pages_under_chapter_sections(tmp_path):
    """With metadata.json alone, does a `"chapter": true` section start a chapter of the pages after it?"""
    copy = tmp_path / "older"
    shutil.copytree(OLDER, copy)
    (copy / ".guides" / "book.json").unlink()
    guide = open_guide(copy)
    assert [e.number for e in guide.entries()] == ["1", "1.1", "1.2", "2", "2.1", "3", "3.1", "3.2"]


# --- finding pages ----------------------------------------------------------------------------

@pytest.mark.parametrize("wanted, number", [
    ("3.2.1", "3.2.1"), ("counting", "3.2.1"), ("Counting-5b6a", "3.2.1"), ("FOR LOOPS", "3.1"),
    ("3.2.", "3.2.1"), ("2", "2.1"), ("Loop Practice", "3.2.1"), ("1", "1"),
])
def test_pages_by_number_title_or_slug(wanted, number):
    """Is a page found by its contents number, its title or file name in any case, and a chapter by its first page?"""
    guide = open_guide(NEWER)
    assert guide.find(wanted)[0] == number


def test_every_number_the_contents_show_is_accepted():
    for guide in (open_guide(NEWER), open_guide(OLDER)):
        for entry in guide.entries():
            assert guide.find(entry.number)[1] is entry.page


def test_a_missing_page_names_the_pages_there_are():
    with pytest.raises(CourseError) as caught:
        open_guide(NEWER).find("4.1")
    assert caught.value.message == "this guide has no page '4.1'."
    assert "1, 2.1, 2.2, 3.1, 3.2.1, 3.2.2" in caught.value.hint


def test_not_a_guide_and_no_such_path_are_course_errors(tmp_path):
    (tmp_path / "notes.txt").write_text("not a guide")
    with pytest.raises(CourseError, match="is not a Codio guide"):
        open_guide(tmp_path)
    with pytest.raises(CourseError, match="there is no guide or page at"):
        open_guide(tmp_path / "missing")


def test_workspace_is_the_folder_holding_guides():
    assert find_workspace(NEWER / ".guides" / "content" / "Lists-3c4d") == NEWER.absolute()
    assert find_workspace(OLDER / ".guides") == OLDER.absolute()


@pytest.mark.parametrize("page, button, message", [
    ("1", None, "page 1 (Welcome) has no Try-it button to run."),
    ("3.1", "3", "page 3.1 (For Loops) has 2 Try-it buttons; there is no button 3."),
    ("2.1", "2", "page 2.1 (Making Lists) has 1 Try-it button; there is no button 2."),
    ("3.1", "two", "'two' is not a button number."),
])
def test_buttons_that_are_not_there(page, button, message):
    with pytest.raises(CourseError) as caught:
        guide_button(NEWER, page, button)
    assert caught.value.message == message and caught.value.hint


def test_the_nth_button_of_a_page():
    _, number, button = guide_button(NEWER, "For Loops", "2")
    assert (number, button.label, button.command) == ("3.1", "Add them up", "python3 code/loops.py 2")


# --- what a page says outside Codio -----------------------------------------------------------

@pytest.mark.parametrize("action, words", [
    ('open_file code/a.py panel=0 ref="print" count=1', "open `code/a.py` at “print”"),
    ("open_file code/a.py", "open `code/a.py`"),
    ("open_files a.py b.py c.py", "open `a.py`, `b.py` and `c.py`"),
    ("open_preview index.html panel=1", "open a preview of `index.html`"),
    ("open_terminal", "open a terminal"),
    ("open_terminal python3 a.py panel=1", "run in the terminal: `python3 a.py`"),
    ("cmd ls -al", "run in the terminal: `ls -al`"),
    ('cmd "cp a b; cp c d"', "run in the terminal: `cp a b; cp c d`"),
    ("open_tutor demo.py", "open `demo.py` in a code visualiser"),
    ("close_all", "close the open tabs"),
    ("close_file a.py", "close `a.py`"),
    ("close_preview", "close the preview"),
    ("close_terminal", "close the terminal"),
])
def test_each_link_action_in_words(action, words):
    assert describe(action) == words


def test_link_actions_in_text():
    """Is every action of a link said, in order; code spans and web links left alone?"""
    text = ("[Code Visualizer](open_tutor python_demo.py) and [start](close_all; open_file a.py; cmd make) "
            "and `[x](open_file y)` and [the docs](https://example.com/a_b)")
    assert replace_link_actions(text) == (
        "Code Visualizer (open `python_demo.py` in a code visualiser) and "
        "start (close the open tabs; open `a.py`; run in the terminal: `make`) and `[x](open_file y)` and "
        "[the docs](https://example.com/a_b)")
    assert replace_link_actions("[open a terminal](open_terminal)") == "open a terminal"
    assert replace_link_actions("[the `points` line](open_file a.py ref=\"x\")") == "the `points` line (open `a.py` at “x”)"


def test_html_becomes_markdown_and_details_a_titled_section():
    text = ('Before <b>bold</b><br>after\n\n<details><summary><b>Why?</b></summary>Because <code>x</code> '
            'is <em>so</em>.</details>\n\n<table><tr><th>A</th><th>B</th></tr><tr><td>1</td><td>2</td></tr></table>')
    assert has_html(text) and not has_html("no tags, `<b>` in code")
    blocks = html_blocks(text)
    assert blocks[0] == Markdown("Before **bold**\\\nafter")
    assert blocks[1] == Callout("details", [Markdown("Because `x` is *so*.")], title="Why?")
    assert blocks[2] == Markdown("| A | B |\n| --- | --- |\n| 1 | 2 |")
    page = html_blocks("<h2>Title</h2><pre><code class='language-python'>x = 1</code></pre><p>end</p>")
    assert page == [Heading(2, "Title"), Code("python", "x = 1"), Markdown("end")]


def test_reader_blocks_have_no_markup_left():
    page = parse_page("## <i>Fancy</i> **title**\n\n|||challenge\n### Go\n[Open](open_file a.py panel=0)\n"
                      "![A cat](img/cat.png) costs $x^2$ dollars, not $5.\n|||\n\n![ref image][pic]\n\n"
                      "[pic]: img/pic.png\n")
    blocks = for_reader(page.blocks)
    assert blocks[0] == Heading(2, "Fancy title")
    box = blocks[1]
    assert isinstance(box, Callout) and box.kind == "challenge"
    assert box.blocks[0] == Heading(3, "Go")
    assert box.blocks[1] == Markdown("Open (open `a.py`)\nA cat (image: `img/cat.png`) costs `$x^2$` dollars, not $5.")
    assert "ref image (image: `img/pic.png`)" in blocks[2].text
    assert inline_text("**Bold** and <b>tag</b> and `code`") == "Bold and tag and code"


def test_link_addresses_are_listed_once():
    blocks = [Markdown("See [the docs](https://a.example/x) and [the docs](https://a.example/x), "
                       "and <https://b.example>.")]
    assert links_of(blocks) == [("the docs", "https://a.example/x")]


def test_chapter_pages_keep_nested_pages_in_place():
    inner = Chapter(title="Inner", slug="inner", pages=[Page("B", "b", [])])
    outer = Chapter(title="Outer", slug="outer", pages=[Page("A", "a", []), *inner.pages],
                    items=[Page("A", "a", []), inner])
    assert isinstance(outer.items[1], Chapter) and len(outer.pages) == 2
