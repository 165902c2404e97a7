"""The guide parser: Codio pages, chapters and guides read from disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from course.errors import CourseError
from course.lesson.codio_pages import (
    Assessment,
    Callout,
    Code,
    Columns,
    Heading,
    Markdown,
    TryIt,
    load_chapter,
    load_guide,
    load_page,
    parse_page,
    step_number,
)

# A page in the older Codio style the course grew from (bars for columns, bare fences, five Try-it buttons and a
# question), written for these tests in the project's own words.
SEED_PAGE = Path(__file__).with_name("files") / "pages" / "codio-lesson-page.md"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- the real seed page ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def seed_page():
    return parse_page(SEED_PAGE.read_text(encoding="utf-8"), slug="Dall-E-seed")


def test_seed_page_has_five_numbered_try_it_buttons(seed_page):
    """Does the original lesson yield its five Try-it buttons, numbered and with their commands?"""
    assert [(b.label, b.command, b.number) for b in seed_page.try_its] == [
        ("Try it!", f"python3 imageGen.py {n}", n) for n in range(1, 6)
    ]


def test_seed_page_embeds_one_assessment(seed_page):
    """Is the Check It! embed read as the question multiple-choice-1558564085?"""
    assert seed_page.assessments == [Assessment("Check It!", "multiple-choice-1558564085")]


def test_seed_page_title_comes_from_its_first_heading(seed_page):
    """Without a .json title, is the page called by its first heading?"""
    assert seed_page.title == "Pictures From Words"


def test_seed_page_code_fences_keep_their_language(seed_page):
    """Are the three fences read as code, with the info string (or none) as the language?"""
    codes = [b for b in seed_page.blocks if isinstance(b, Code)]
    assert [c.language for c in codes] == ["", "python", "python3"]
    assert codes[0].text.startswith("response = openai.Image.create(")
    assert codes[1].text == "print(response)"


def test_seed_page_bars_make_one_region_holding_the_list(seed_page):
    """Does the `|||` pair around the three-methods list become one region with an empty right column?"""
    regions = [b for b in seed_page.blocks if isinstance(b, Columns)]
    assert len(regions) == 1
    (left,) = regions[0].left
    assert isinstance(left, Markdown) and "three methods" in left.text and "3. Making variations" in left.text
    assert regions[0].right == []


def test_seed_page_blocks_come_in_reading_order(seed_page):
    """Is the page a heading, prose, a region, a heading, then code before its button?"""
    kinds = [type(b).__name__ for b in seed_page.blocks[:7]]
    assert kinds == ["Heading", "Markdown", "Columns", "Heading", "Markdown", "Code", "TryIt"]


# --- buttons --------------------------------------------------------------------------------

def test_button_inside_code_fence_is_left_alone():
    """Is a Try-it button inside a code fence left alone, as code?"""
    page = parse_page("```\n{Try it!}(python3 imageGen.py 1)\n```\n~~~md\n{Check It!|assessment}(q-1)\n~~~\n")
    assert page.try_its == [] and page.assessments == []
    assert page.blocks == [Code("", "{Try it!}(python3 imageGen.py 1)"), Code("md", "{Check It!|assessment}(q-1)")]


def test_longer_fence_is_not_closed_by_a_shorter_one():
    """Does a ```` fence that shows a ``` example stay open until its own closer?"""
    page = parse_page("````md\n```\n{Try it!}(x 1)\n```\n````\n{Go}(y 2)\n")
    assert page.blocks[0] == Code("md", "```\n{Try it!}(x 1)\n```")
    assert [b.command for b in page.try_its] == ["y 2"]


def test_button_inside_a_paragraph_splits_the_text_around_it():
    """Is an inline button recognised, with the text before and after it kept?"""
    page = parse_page("Run it: {Try it!}(python3 imageGen.py 2) and look at the URL.\n")
    assert page.blocks == [Markdown("Run it:"), TryIt("Try it!", "python3 imageGen.py 2", 1),
                           Markdown("and look at the URL.")]


def test_button_inside_inline_code_is_text():
    """Does a button written inside backticks, to show the syntax, stay text?"""
    page = parse_page("Write `{Try it!}(python3 imageGen.py 1)` to add a button.\n")
    assert page.try_its == []
    assert page.blocks == [Markdown("Write `{Try it!}(python3 imageGen.py 1)` to add a button.")]


def test_stray_backtick_does_not_hide_a_later_button():
    """Is a button still a button when an unmatched backtick sits in an earlier paragraph?"""
    page = parse_page("A stray ` here.\n\n{Try it!}(python3 imageGen.py 1)\n\nAnd ` there.\n")
    assert [b.command for b in page.try_its] == ["python3 imageGen.py 1"]


def test_labels_with_spaces_and_commands_with_parentheses():
    """Are labels like `Run step 3 now!` and commands holding parentheses read whole?"""
    page = parse_page('{Run step 3 now!}(python3 -c "print(3)")\n{ Check It! | Assessment }(multiple-choice-42)\n')
    assert page.try_its == [TryIt("Run step 3 now!", 'python3 -c "print(3)"', 1)]
    assert page.assessments == [Assessment("Check It!", "multiple-choice-42")]


def test_other_button_kinds_are_try_its():
    """Is a `{Label|terminal}(cmd)` button still a runnable button?"""
    assert parse_page("{Open|terminal}(ls 1)").try_its == [TryIt("Open", "ls 1", 1)]


def test_buttons_are_numbered_across_columns():
    """Are buttons inside a `|||` region counted in reading order with the rest of the page?"""
    page = parse_page("{A}(s 1)\n|||\n{B}(s 2)\n\n{C}(s 3)\n|||\n{D}(s 4)\n")
    assert [(b.label, b.number) for b in page.try_its] == [("A", 1), ("B", 2), ("C", 3), ("D", 4)]


@pytest.mark.parametrize("command, step", [
    ("python3 imageGen.py 3", 3), ("python imageGen2.py 12 ", 12), ("python3 imageGen.py", None),
    ("python3 imageGen2.py", None), ("echo step1", None),
])
def test_step_number_comes_from_a_trailing_integer(command, step):
    """Is the step the command's last word when that word is an integer, and only then?"""
    assert step_number(command) == step


# --- columns --------------------------------------------------------------------------------

def test_two_chunks_between_bars_become_two_columns():
    """Does a region of two blank-line-separated chunks put one in each column?"""
    page = parse_page("|||\nLeft text.\n\nRight text.\n|||\n")
    assert page.blocks == [Columns([Markdown("Left text.")], [Markdown("Right text.")])]


def test_odd_chunks_put_the_extra_one_on_the_left():
    """With three chunks, do two go left and one right?"""
    (region,) = parse_page("|||\n# One\n\ntwo\n\nthree\n|||").blocks
    assert region == Columns([Heading(1, "One"), Markdown("two")], [Markdown("three")])


def test_code_fence_with_blank_lines_stays_in_one_column():
    """Is a fence holding blank lines one chunk, not split across columns?"""
    (region,) = parse_page("|||\n```python\na = 1\n\nb = 2\n```\n\nText.\n|||\n").blocks
    assert region.left == [Code("python", "a = 1\n\nb = 2")] and region.right == [Markdown("Text.")]


def test_bars_inside_a_fence_are_code():
    """Is a `|||` line inside a code fence kept as code rather than opening a region?"""
    page = parse_page("```\n|||\n```\n")
    assert page.blocks == [Code("", "|||")]


def test_named_region_is_one_callout_of_its_kind():
    """Does `|||guidance` (or `||| info`, with a space) make one callout of that kind holding all it encloses?"""
    (region,) = parse_page("|||guidance\nFor instructors.\n|||").blocks
    assert region == Callout("guidance", [Markdown("For instructors.")])
    (box,) = parse_page("||| Info\n### Heads up\n\nOne.\n\nTwo [link](open_file a.py).\n\n{Go}(x 1)\n|||\n").blocks
    assert box == Callout("info", [Heading(3, "Heads up"), Markdown("One.\n\nTwo [link](open_file a.py)."),
                                   TryIt("Go", "x 1", 1)])


def test_unclosed_region_runs_to_the_end_of_the_page():
    """Is a `|||` with no partner read as a region to the end, losing nothing?"""
    page = parse_page("Before.\n|||\nInside {Go}(x 1)\n")
    assert page.blocks == [Markdown("Before."), Columns([Markdown("Inside"), TryIt("Go", "x 1", 1)], [])]


# --- titles ---------------------------------------------------------------------------------

def test_title_argument_wins_over_the_heading():
    """Does a title from the page's .json beat the first heading?"""
    assert parse_page("# Heading\n", title="From JSON").title == "From JSON"


def test_title_falls_back_to_the_slug():
    """Without a heading or a .json title, is the page called by its slug?"""
    assert parse_page("Just text.\n", slug="Intro-ab12").title == "Intro-ab12"


def test_windows_line_endings_and_bom_are_ignored():
    """Does a page saved on Windows (BOM, CRLF) parse like any other?"""
    page = parse_page("\ufeff# Hi\r\n\r\n{Try it!}(python3 imageGen.py 1)\r\n")
    assert page.title == "Hi" and page.try_its == [TryIt("Try it!", "python3 imageGen.py 1", 1)]


# --- loading from disk ----------------------------------------------------------------------

@pytest.fixture
def codio(tmp_path: Path) -> Path:
    """A small Codio project: two chapters ordered by the top index, one unlisted page."""
    content = tmp_path / "project" / ".guides" / "content"
    write(content / "index.json", json.dumps({"title": "Images API", "order": ["02-later", "01-start"]}))
    write(content / "01-start" / "index.json", json.dumps(
        {"title": "Getting started", "type": "chapter", "order": ["Second-Page-bb22", "First-Page-aa11"]}))
    write(content / "01-start" / "First-Page-aa11.md", "# First heading\n\n{Try it!}(python3 imageGen.py 1)\n")
    write(content / "01-start" / "First-Page-aa11.json", json.dumps({"title": "First page", "type": "page"}))
    write(content / "01-start" / "Second-Page-bb22.md", "{Check It!|assessment}(multiple-choice-1)\n")
    write(content / "01-start" / "Extra-10.md", "# Extra ten\n")
    write(content / "01-start" / "Extra-10.json", json.dumps({"title": "Extra ten", "type": "page"}))
    write(content / "01-start" / "Extra-9.md", "# Extra nine\n")
    write(content / "01-start" / "Extra-9.json", json.dumps({"title": "Extra nine", "type": "page"}))
    write(content / "01-start" / "Draft-notes.md", "# Not a page: unlisted, and no .json\n")
    write(content / "README.md", "# About this repository\n")
    write(content / "02-later" / "index.json", json.dumps({"title": "Later", "order": []}))
    write(content / "02-later" / "Only-cc33.md", "Only page.\n")
    write(tmp_path / "project" / ".guides" / "assessments" / "multiple-choice-1.json", "{}")
    return tmp_path / "project" / ".guides"


def test_chapter_pages_follow_the_index_order_then_unlisted_sorted(codio):
    """Are listed pages in index.json order, then unlisted Codio pages (.md with .json) sorted (9 before 10),
    and an unlisted .md without its .json left out, as Codio leaves it out?"""
    chapter = load_chapter(codio / "content" / "01-start")
    assert chapter.title == "Getting started"
    assert [p.slug for p in chapter.pages] == ["Second-Page-bb22", "First-Page-aa11", "Extra-9", "Extra-10"]
    assert [p.title for p in chapter.pages] == ["Second-Page-bb22", "First page", "Extra nine", "Extra ten"]
    assert chapter.course is None


@pytest.mark.parametrize("where", [".guides", ".guides/content"])
def test_guide_loads_from_guides_or_content_folder(codio, where):
    """Does load_guide take a `.guides` folder or its `content` folder, in the top index's order?"""
    chapters = load_guide(codio.parent / where)
    assert [c.title for c in chapters] == ["Later", "Getting started"]
    assert chapters[1].pages[0].assessments == [Assessment("Check It!", "multiple-choice-1")]


def test_guide_loads_our_lessons_folder(tmp_path):
    """Does a folder of lesson folders (no top index) load in natural order, with the course key?"""
    lessons = tmp_path / "lessons"
    course = {"number": 2, "script": "imageGen2.py", "steps": [{"number": 1, "title": "DALL·E 3"}]}
    write(lessons / "10-last" / "Page-1.md", "# Last\n")
    write(lessons / "2-beyond-the-basics" / "index.json", json.dumps(
        {"title": "Beyond the basics", "type": "chapter", "order": ["Page-1"], "course": course}))
    write(lessons / "2-beyond-the-basics" / "Page-1.md", "# Beyond\n")
    chapters = load_guide(lessons)
    assert [c.slug for c in chapters] == ["2-beyond-the-basics", "10-last"]
    assert chapters[0].course == course
    assert chapters[1].title == "Last"


def test_guide_of_loose_pages_is_one_chapter(tmp_path):
    """Is a guide with pages but no chapters read as one chapter named by its index?"""
    content = tmp_path / ".guides" / "content"
    write(content / "index.json", json.dumps({"title": "Flat guide", "order": ["B-2", "A-1"]}))
    write(content / "A-1.md", "# A\n")
    write(content / "B-2.md", "# B\n")
    (chapter,) = load_guide(tmp_path / ".guides")
    assert chapter.title == "Flat guide" and [p.title for p in chapter.pages] == ["B", "A"]


def test_load_page_reads_the_sibling_json_title(codio):
    """Does a page's .json title name it, whether given the .md, the .json or the bare name?"""
    folder = codio / "content" / "01-start"
    for path in ("First-Page-aa11.md", "First-Page-aa11.json", "First-Page-aa11"):
        page = load_page(folder / path)
        assert page.title == "First page" and page.slug == "First-Page-aa11"
        assert page.path == folder / "First-Page-aa11.md"


def test_codio_section_in_the_order_contributes_its_pages(tmp_path):
    """Does an order entry naming a sub-folder (a Codio section) put its pages there?"""
    chapter = tmp_path / "chapter"
    write(chapter / "index.json", json.dumps({"title": "C", "order": ["A", "section", "B"]}))
    write(chapter / "A.md", "a")
    write(chapter / "B.md", "b")
    write(chapter / "section" / "index.json", json.dumps({"title": "S", "order": ["Inner"]}))
    write(chapter / "section" / "Inner.md", "inner")
    assert [p.slug for p in load_chapter(chapter).pages] == ["A", "Inner", "B"]


# --- errors for people ----------------------------------------------------------------------

def test_missing_page_is_a_course_error(tmp_path):
    """Does a missing page say which path and what was expected, without a traceback?"""
    with pytest.raises(CourseError) as caught:
        load_page(tmp_path / "Nope-1234.md")
    assert "no guide page at" in caught.value.message and "Nope-1234.md" in caught.value.message
    assert caught.value.hint


def test_missing_chapter_and_guide_folders_are_course_errors(tmp_path):
    """Do a missing chapter folder and a missing guide folder each raise a CourseError with a hint?"""
    for load in (load_chapter, load_guide):
        with pytest.raises(CourseError) as caught:
            load(tmp_path / "missing")
        assert "missing" in caught.value.message and caught.value.hint


def test_empty_guide_folder_is_a_course_error(tmp_path):
    """Does a folder with no pages at all say so, rather than return nothing?"""
    with pytest.raises(CourseError, match="no guide pages found"):
        load_guide(tmp_path)


def test_broken_index_json_names_the_file_and_line(codio):
    """Is an index.json that is not JSON reported with its path and the line to fix?"""
    index = codio / "content" / "01-start" / "index.json"
    index.write_text('{\n  "title": "Getting started",\n  "order": ["A",]\n}\n', encoding="utf-8")
    with pytest.raises(CourseError) as caught:
        load_guide(codio)
    assert str(index) in caught.value.message and "line 3" in caught.value.message
    assert "JSON" in caught.value.hint


def test_order_naming_a_missing_page_is_a_course_error(codio):
    """Does an order entry with no page behind it name the entry and the index file?"""
    index = codio / "content" / "01-start" / "index.json"
    index.write_text(json.dumps({"title": "x", "order": ["First-Page-aa11", "Gone-zz99"]}), encoding="utf-8")
    with pytest.raises(CourseError) as caught:
        load_chapter(index.parent)
    assert "'Gone-zz99'" in caught.value.message and str(index) in caught.value.message
    assert caught.value.hint


def test_top_index_naming_a_missing_chapter_is_a_course_error(codio):
    """Does the top index naming a chapter that is not there fail clearly?"""
    write(codio / "content" / "index.json", json.dumps({"order": ["01-start", "03-gone"]}))
    with pytest.raises(CourseError, match="'03-gone'"):
        load_guide(codio)


def test_order_that_is_not_a_list_is_a_course_error(tmp_path):
    """Is `"order": "A"` (a string, not a list) refused with an example?"""
    write(tmp_path / "c" / "index.json", json.dumps({"order": "A"}))
    with pytest.raises(CourseError, match='"order" should be a list'):
        load_chapter(tmp_path / "c")
