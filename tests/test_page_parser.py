"""A page parser that no page can stop: HTML comments read as a browser reads them (one left open runs to
the end of the page, and a button inside one is hidden, as Codio hides it), any Markdown or HTML drawn or,
failing that, shown as its text with a note, and `course show --all` printing every page of a guide."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from course.lesson.codio_pages import Markdown, TryIt, parse_page
from course.lesson.reading import for_reader
from course.terminal import guide_pages
from course.terminal.guide_pages import show_guide


def write_guide(root: Path, pages: list[str]) -> Path:
    content = root / ".guides" / "content"
    content.mkdir(parents=True)
    for number, text in enumerate(pages, 1):
        (content / f"{number}-page-{number}.md").write_text(f"# Page {number}\n\n{text}\n", encoding="utf-8")
    return root


def show_all(root: Path) -> str:
    out = io.StringIO()
    show_guide(str(root), None, Console(file=out, width=100, color_system=None), every=True)
    return out.getvalue()


def text_of(page_text: str) -> str:
    return "\n".join(b.text for b in for_reader(parse_page(page_text).blocks) if isinstance(b, Markdown))


# --- fixtures that stopped the guide before ------------------------------------------------------

def test_an_unclosed_comment_hides_the_rest_of_its_page_and_the_guide_goes_on(tmp_path: Path) -> None:
    root = write_guide(tmp_path / "guide", ["before", "seen <!-- never closed\n\nhidden {Run}(python a.py)", "after"])
    shown = show_all(root)
    assert "Page 1" in shown and "before" in shown
    assert "Page 2" in shown and "seen" in shown
    assert "hidden" not in shown and "never closed" not in shown and "python a.py" not in shown
    assert "Page 3" in shown and "after" in shown


def test_a_button_inside_a_comment_is_hidden_as_codio_hides_it() -> None:
    page = parse_page("one {Shown}(python a.py)\n\n<!-- {Hidden}(python b.py) -->\n"
                      "<!--\n{Also hidden}(python c.py)\n-->\ntwo")
    assert [b.command for b in page.try_its] == ["python a.py"]
    assert [b.number for b in page.try_its] == [1]
    assert "-->" not in text_of("x <!-- {B}(python b.py) --> y") and "y" in text_of("x <!-- {B}(python b.py) --> y")


def test_comments_in_code_are_code() -> None:
    page = parse_page("`<!--` stays\n\n```html\n<!-- kept -->\n```\nafter")
    assert page.blocks[0] == Markdown("`<!--` stays")
    assert "<!-- kept -->" in page.blocks[1].text  # type: ignore[attr-defined]
    assert page.blocks[-1] == Markdown("after")


def test_a_comment_closed_at_once_is_closed_as_in_a_browser() -> None:
    assert text_of("a <!--> b") == "a  b"
    assert text_of("a <!---> b") == "a  b"


def test_a_page_that_cannot_be_drawn_is_shown_as_text_with_a_note(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_guide(tmp_path / "guide", ["first", "second {Run}(python a.py)", "third"])
    drawn = guide_pages.render_page

    def broken(page, console, **kwargs):  # type: ignore[no-untyped-def]
        if page.title == "Page 2":
            raise RecursionError("maximum recursion depth exceeded")
        drawn(page, console, **kwargs)

    monkeypatch.setattr(guide_pages, "render_page", broken)
    shown = show_all(root)
    assert "could not be drawn here" in shown and "RecursionError" in shown
    assert "second" in shown and "[Run] python a.py" in shown
    assert "first" in shown and "third" in shown


# --- any page --------------------------------------------------------------------------------------

PIECES = ["<!--", "-->", "<!-->", "<details>", "</details>", "<summary>", "</summary>", "<b>", "</b>", "<div>",
          "</div>", "<br>", "<p", ">", "<", "&lt;", "&amp;lt;b&amp;gt;", "`", "```", "```python", "|||",
          "|||info", "# ", "## ", "- ", "1. ", "> ", "{Run}(python a.py)", "{Check It!|assessment}(q-1)",
          "[link](http://x)", "![alt](a.png)", "$x_1$", "$$", "**", "_", "\\", "\n", "\n\n", " ", "text",
          "<table><tr><td>", "</td></tr></table>", "<iframe src='x'>", "<script>", "]]>", "<![CDATA["]
fragments = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=8)), max_size=30).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fragments)
def test_parsing_and_reading_any_page_never_raises(text: str) -> None:
    page = parse_page(text, slug="page")
    for_reader(page.blocks)
    assert all(isinstance(b, TryIt) for b in page.try_its)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.lists(fragments, min_size=1, max_size=4))
def test_show_all_prints_every_page_of_a_guide_with_a_broken_page(tmp_path_factory: pytest.TempPathFactory,
                                                                  pages: list[str]) -> None:
    root = write_guide(tmp_path_factory.mktemp("guide"), [*pages, "<!-- broken", "the end"])
    shown = show_all(root)
    for number in range(1, len(pages) + 3):
        assert f"Page {number}" in shown
    assert "the end" in shown
