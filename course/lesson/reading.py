"""A guide page made ready for a reader outside Codio: what Codio would do with it, said in Markdown.

`for_reader(blocks)` returns the page's blocks with:

- HTML converted to Markdown (`course.lesson.html_pages`), `<details>` as titled sections;
- Codio's link actions said in words (`course.lesson.link_actions`);
- images as their alt text and path (or, for a notebook, an image at a path it can reach: `image=`);
- LaTeX (`$x^2$`, `$$...$$`) kept as written, in code, so Markdown does not eat its `_`, `*` or `\\`;
- heading text as plain words (no `**`, no tags).

The terminal renderer and the notebook builder both read pages through this, so a page says the same
in both. Code blocks, buttons and questions pass through untouched.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .codio_pages import Block, Callout, Columns, Heading, Markdown
from .link_actions import code, replace_link_actions

__all__ = ["for_reader", "image_as_text", "inline_text", "links_of", "reader_markdown"]

ImageWriter = Callable[[str, str], str]

_CODE_SPAN = re.compile(r"(`+)[\s\S]*?(?<!`)\1(?!`)")
_IMAGE = re.compile(r"!\[((?:[^\[\]\n]|\[[^\[\]\n]*\])*)\]\(\s*<?([^\s<>()]*(?:\([^\s()]*\)[^\s<>()]*)*)>?"
                    r"(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
_IMAGE_REF = re.compile(r"!\[((?:[^\[\]\n]|\[[^\[\]\n]*\])*)\](?:\[([^\[\]\n]*)\])?(?![(\[])")
_REFERENCE = re.compile(r"^ {0,3}\[([^\[\]\n]+)\]:[ \t]*<?([^\s<>]+)>?", re.MULTILINE)
_DISPLAY_MATH = re.compile(r"\$\$([\s\S]+?)\$\$")
_INLINE_MATH = re.compile(r"(?<![\\$\w])\$(?=[^\s$])([^$\n]*?[^\s$\\])\$(?![\d$\w])")


def image_as_text(alt: str, src: str) -> str:
    """An image, for a reader with no pictures: its alt text and where the picture is."""
    alt = " ".join(alt.split())
    where = f"(image: {code(src)})" if src else "(image)"
    return f"{alt} {where}" if alt else where


def for_reader(blocks: list[Block], *, image: ImageWriter = image_as_text) -> list[Block]:
    out: list[Block] = []
    for block in blocks:
        if isinstance(block, Markdown):
            out += reader_markdown(block.text, image=image)
        elif isinstance(block, Heading):
            out.append(Heading(block.level, inline_text(block.text)))
        elif isinstance(block, Callout):
            out.append(Callout(block.kind, for_reader(block.blocks, image=image), inline_text(block.title)))
        elif isinstance(block, Columns):
            out.append(Columns(for_reader(block.left, image=image), for_reader(block.right, image=image), block.kind))
        else:
            out.append(block)
    return out


def reader_markdown(text: str, *, image: ImageWriter = image_as_text) -> list[Block]:
    """One Markdown block of a page as blocks a Markdown renderer shows whole."""
    return _converted(text, image, _HTML_ROUNDS)


# How many times a block's HTML is converted: what one conversion leaves (text that reads as a tag once
# unescaped) is converted again, and HTML that a conversion gives back unchanged is then shown as it is.
_HTML_ROUNDS = 4


def _converted(text: str, image: ImageWriter, rounds: int) -> list[Block]:
    from .html_pages import has_html, html_blocks

    text = replace_link_actions(text)
    if rounds == 0 or not has_html(text):
        return [Markdown(_finish(text, image))]
    out: list[Block] = []
    for block in html_blocks(text):
        if isinstance(block, Markdown):
            out += _converted(block.text, image, rounds - 1)
        else:
            out += for_reader([block], image=image)
    return out


def _finish(text: str, image: ImageWriter) -> str:
    """Link actions (again: an `<a href>` became a Markdown link), images and LaTeX, outside code spans."""
    text = replace_link_actions(text)
    refs = {name.casefold(): url for name, url in _REFERENCE.findall(text)}

    def images(part: str) -> str:
        part = _IMAGE.sub(lambda m: image(m.group(1), m.group(2)), part)
        if refs:  # ![alt][ref], ![alt][] and ![alt] with a `[ref]: url` line on the page
            def by_reference(m: re.Match[str]) -> str:
                url = refs.get((m.group(2) or m.group(1)).casefold())
                return image(m.group(1), url) if url is not None else m.group(0)

            part = _IMAGE_REF.sub(by_reference, part)
        return _math(part)

    return _outside_code(text, images)


def links_of(blocks: list[Block]) -> list[tuple[str, str]]:
    """The (text, address) of each link in these blocks whose text does not already say its address, once
    each, in order: what a terminal lists under a page, as it shows link text alone in the sentence."""
    from markdown_it import MarkdownIt

    parser = MarkdownIt("commonmark").enable("table")
    found: list[tuple[str, str]] = []

    def walk(items: list[Block]) -> None:
        for block in items:
            if isinstance(block, Markdown):
                for token in parser.parse(block.text):
                    children = token.children or []
                    for i, child in enumerate(children):
                        if child.type != "link_open":
                            continue
                        href = str(child.attrs.get("href", ""))
                        words = []
                        for inner in children[i + 1:]:
                            if inner.type == "link_close":
                                break
                            words.append(inner.content)
                        text = " ".join("".join(words).split())
                        if href and href.rstrip("/") != text.rstrip("/") and (text, href) not in found:
                            found.append((text, href))
            elif isinstance(block, Callout):
                walk(block.blocks)
            elif isinstance(block, Columns):
                walk(block.left + block.right)

    walk(blocks)
    return found


def _outside_code(text: str, change: Callable[[str], str]) -> str:
    out: list[str] = []
    done = 0
    for match in _CODE_SPAN.finditer(text):
        out.append(change(text[done:match.start()]))
        out.append(match.group(0))
        done = match.end()
    out.append(change(text[done:]))
    return "".join(out)


def _math(text: str) -> str:
    def display(match: re.Match[str]) -> str:
        body = match.group(0)
        return code(body) if "\n" not in body else f"\n\n```latex\n{body}\n```\n\n"

    text = _DISPLAY_MATH.sub(display, text)
    return _INLINE_MATH.sub(lambda m: code(m.group(0)), text)


def inline_text(markdown: str) -> str:
    """A line of Markdown (a heading, a title) as the plain words it shows: no emphasis marks, no tags,
    link actions said in words."""
    if not markdown or not re.search(r"[*_`\[<&\\]", markdown):
        return " ".join(markdown.split())
    from .html_pages import has_html, html_to_markdown

    text = replace_link_actions(markdown)
    if has_html(text):
        text = html_to_markdown(text)
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parseInline(text)
    words: list[str] = []
    for token in tokens:
        for child in token.children or []:
            if child.type in ("text", "code_inline"):
                words.append(child.content)
            elif child.type in ("softbreak", "hardbreak"):
                words.append(" ")
            elif child.type == "image":
                words.append(image_as_text(child.content, str(child.attrs.get("src", ""))))
    return " ".join("".join(words).split()) or " ".join(markdown.split())
