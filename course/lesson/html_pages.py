"""HTML in guide pages, read as Markdown: whole pages written in HTML, or HTML blocks and tags inside Markdown.

Codio renders a page's Markdown with HTML allowed, and authors use it: `<details>` drop-downs, `<br>`,
`<center>`, tables, `<code>`, `<img>`. A terminal renderer (rich) drops HTML it meets, often with the
text around it, so a Markdown block holding any HTML is converted whole before it is drawn:

1. markdown-it (the parser rich itself uses) renders the Markdown to HTML, passing the author's HTML
   through, as Codio's renderer does. Indented code blocks are off here: in a page that mixes HTML
   in, an indented line is the HTML's own indentation, not code.
2. BeautifulSoup reads that HTML; each `<details>` becomes a titled section (its `<summary>` the
   title, its body shown, not hidden).
3. markdownify turns the rest back into plain Markdown: no tags are left for a reader to see.

This module imports bs4, markdownify and markdown-it only when a page holds HTML; `has_html` is the
cheap test the renderers ask first.
"""

from __future__ import annotations

import re
import secrets
from functools import lru_cache
from typing import Any

from .codio_pages import Block, Callout, parse_page

__all__ = ["has_html", "html_blocks", "html_to_markdown"]

_TAG_START = re.compile(r"<[A-Za-z!/]")


def has_html(markdown: str) -> bool:
    """Does this Markdown hold HTML (a block or an inline tag, a comment), outside code?"""
    if not _TAG_START.search(markdown):
        return False
    for token in _parser().parse(markdown):
        if token.type == "html_block":
            return True
        if token.type == "inline" and any(child.type == "html_inline" for child in token.children or []):
            return True
    return False


@lru_cache(maxsize=1)
def _parser() -> Any:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).enable("table").disable("code")


def _converter() -> Any:
    from markdownify import MarkdownConverter

    class GuideConverter(MarkdownConverter):  # type: ignore[misc]
        """markdownify, plus what guides embed that has no Markdown: frames and media say where they are."""

        def convert_iframe(self, el: Any, text: str, parent_tags: Any = None, **_: Any) -> str:
            src = el.get("src") or ""
            title = el.get("title") or "embedded page"
            return f"\n\n{title}: {src}\n\n" if src else ""

        def convert_video(self, el: Any, text: str, parent_tags: Any = None, **_: Any) -> str:
            src = el.get("src") or next((s.get("src") for s in el.find_all("source") if s.get("src")), "")
            return f"\n\nvideo: {src}\n\n" if src else text

        convert_audio = convert_video

    return GuideConverter(heading_style="atx", bullets="-", escape_misc=False, code_language_callback=_language,
                          keep_inline_images_in=["a", "b", "center", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6",
                                                 "i", "li", "p", "span", "strong", "td", "th", "u"],
                          newline_style="backslash", table_infer_header=True)


def _language(el: Any) -> str:
    code = el.find("code") if el.name == "pre" else None
    for node in (el, code):
        for name in (node.get("class") or []) if node is not None else []:
            if name.startswith(("language-", "lang-")):
                return name.split("-", 1)[1]
    return ""


def html_to_markdown(markdown: str) -> str:
    """Markdown holding HTML, as Markdown alone (`<details>` sections as bold titles over their text).
    `html_blocks` keeps the sections as sections; this is for a line of text, like a heading."""
    return "\n\n".join(_block_text(block) for block in html_blocks(markdown)).strip()


def _block_text(block: Block) -> str:
    if isinstance(block, Callout):
        inner = "\n\n".join(_block_text(b) for b in block.blocks)
        return f"**{block.title}**\n\n{inner}" if block.title else inner
    from .codio_pages import Code, Heading

    if isinstance(block, Heading):
        return "#" * block.level + " " + block.text
    if isinstance(block, Code):
        return f"```{block.language}\n{block.text}\n```"
    return getattr(block, "text", "")


def html_blocks(markdown: str) -> list[Block]:
    """Markdown holding HTML, as guide blocks without any HTML: headings, code, prose, and a titled
    `Callout("details", ...)` for each `<details>`."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_closed_comments(_parser().render(markdown)), "html.parser")
    return _soup_blocks(soup)


def _closed_comments(html: str) -> str:
    """HTML whose last comment, if left open, is closed at the end, as a browser reads it (the parser
    here would show an open comment as text)."""
    done = 0
    while (start := html.find("<!--", done)) >= 0:
        end = html.find("-->", start + 2)
        if end < 0:
            return html + "-->"
        done = end + 3
    return html


def _soup_blocks(soup: Any) -> list[Block]:
    """A parsed fragment as blocks: its outermost `<details>` are cut out (each left as a marker where it
    stood, even inside a paragraph), the rest converted, and the text split again at the markers."""
    marker = f"CourseSection{secrets.token_hex(4)}x"
    sections: list[Callout] = []
    for details in soup.find_all("details"):
        if details.find_parent("details") is not None:
            continue  # converted with its outer section
        summary = details.find("summary")
        title = " ".join(summary.get_text(" ").split()) if summary is not None else ""
        if summary is not None:
            summary.extract()
        sections.append(Callout("details", _soup_blocks(details), title=title or "Details"))
        details.replace_with(soup.new_string(f" {marker}{len(sections) - 1}{marker} "))
    text = _converter().convert_soup(soup)
    blocks: list[Block] = []
    for i, chunk in enumerate(re.split(rf"{marker}(\d+){marker}", text)):
        if i % 2:
            blocks.append(sections[int(chunk)])
        elif chunk.strip():
            blocks += parse_page(_tidy(chunk)).blocks
    return blocks


def _tidy(markdown: str) -> str:
    """markdownify's output, without the blank lines and the trailing spaces it leaves between blocks."""
    lines = [line.rstrip() for line in markdown.strip("\n").split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
