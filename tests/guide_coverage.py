"""Does a page's text reach the reader? Bigram coverage of `course show`'s output, and leftover markup.

`page_words(markdown)` is a page's text as a reader of Codio sees it: Codio's buttons, question embeds,
callout bars and link-action targets taken away, then the Markdown (HTML included) rendered by
markdown-it and its text taken by BeautifulSoup. `coverage(page, output)` is the share of the page's
consecutive word pairs that also follow each other in the output (whitespace and punctuation do not
count, so wrapping and box borders do not either; a word split by wrapping or hyphenation does).
`leftover_markup(page, output)` lists Codio markup and HTML tags in the output that are not text the
page itself shows as code.

Run it over any guides: `python -m tests.guide_coverage GUIDE...` prints each page's coverage.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

from bs4 import BeautifulSoup
from markdown_it import MarkdownIt

_BUTTON = re.compile(r"\{[^{}|\n]+?(?:\|\s*[\w-]+\s*)?\}\((?:[^()\n]|\([^()\n]*\))*\)")
_BARS = re.compile(r"^\s*\|\|\|\s*[\w-]*\s*$", re.MULTILINE)
_ACTIONS = ("open_files", "open_file", "open_preview", "open_terminal", "open_tutor", "open_vm", "close_all",
            "close_files", "close_file", "close_preview", "close_terminal", "close_tutor", "cmd")
_ACTION_LINK = re.compile(r"\[((?:[^\[\]\n]|\[[^\[\]\n]*\])*)\]\(\s*(?:" + "|".join(_ACTIONS)
                          + r")(?=[\s;)])(?:[^()\"\n]|\"[^\"\n]*\"|\([^()\n]*\))*\)")
_HTML_TAG = re.compile(r"</?(?:a|b|i|u|s|p|br|hr|ul|ol|li|dl|dt|dd|div|span|img|code|pre|table|thead|tbody|tr|td|th|"
                       r"details|summary|center|strong|em|h[1-6]|iframe|sup|sub|font|blockquote|video|audio|source|"
                       r"script|style|kbd|mark|small|big|figure|figcaption|section|article|nav|header|footer)\b[^<>]*>",
                       re.IGNORECASE)
MARKUP = [
    ("callout bars", re.compile(r"\|\|\|")),
    ("button", _BUTTON),
    ("link action", re.compile(r"\]\(\s*(?:" + "|".join(_ACTIONS) + r")\b")),
    ("link action option", re.compile(r"\b(?:panel|count)=\S")),
    ("link action name", re.compile(r"\b(?:" + "|".join(a for a in _ACTIONS if a != "cmd") + r")\b")),
    ("HTML tag", _HTML_TAG),
]
_BLOCKS = ["p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "td", "th", "tr", "pre", "blockquote", "div", "br", "hr",
           "table", "ul", "ol", "details", "summary", "dt", "dd", "center", "img", "iframe"]
_md = MarkdownIt("commonmark", {"html": True}).enable("table")


def page_text(markdown: str) -> str:
    """What a reader in Codio reads on the page, as plain text."""
    text = _BUTTON.sub(" ", markdown)
    text = _BARS.sub("", text)
    text = _ACTION_LINK.sub(lambda m: m.group(1), text)
    html = _md.render(text)
    soup = BeautifulSoup(html, "html.parser")
    for hidden in soup.find_all(["script", "style"]):
        hidden.decompose()
    for block in soup.find_all(_BLOCKS):  # blocks are apart; inline code and the letters after it are not
        block.insert_before("\n")
        block.append("\n")
    return soup.get_text("")


def words(text: str) -> list[str]:
    """Words as runs of letters and digits, case folded: punctuation, underscores and box drawing are not words."""
    return re.findall(r"[^\W_]+", text.casefold())


def spaced_words(text: str) -> list[str]:
    """A stricter reading: whitespace-separated words, only their outer punctuation dropped."""
    out = []
    for word in text.casefold().split():
        word = word.strip("\"'“”‘’()[]{}<>.,;:!?*_`~|│┃▌•·-─━╭╮╰╯├┤▶")
        if word:
            out.append(word)
    return out


def bigrams(seq: list[str]) -> list[tuple[str, str]]:
    return list(pairwise(seq))


def coverage(markdown: str, output: str, *, tokens: Callable[[str], list[str]] = words) -> tuple[float, list]:
    """The share of the page text's word pairs found in `output`, and the pairs that are not."""
    wanted = bigrams(tokens(page_text(markdown)))
    if not wanted:
        return 1.0, []
    have = set(bigrams(tokens(output)))
    missing = [pair for pair in wanted if pair not in have]
    return 1 - len(missing) / len(wanted), missing


def _code_of(markdown: str) -> str:
    """The page's own code (fences and code spans): markup there is text the page shows on purpose."""
    parts = [t.content for t in _md.parse(markdown) if t.type in ("fence", "code_block")]
    parts += re.findall(r"`+([^`]+)`+", markdown)
    return "\n".join(parts)


def leftover_markup(markdown: str, output: str) -> list[tuple[str, str]]:
    """Codio markup and HTML tags left in `output`, less what the page shows as code."""
    code = _code_of(markdown)
    found = []
    for name, pattern in MARKUP:
        for match in pattern.finditer(output):
            if match.group(0) not in code:
                found.append((name, match.group(0)))
    return found


def rendered(guide, number: str, page, *, width: int, typed: str = "GUIDE") -> str:
    """A page as `course show GUIDE NUMBER` prints it into a pipe, at this width (in this process)."""
    from rich.console import Console

    from course.terminal.guide_pages import _show_page

    console = Console(width=width, file=io.StringIO(), color_system=None, force_terminal=False, highlight=False)
    _show_page(guide, typed, number, page, console)
    return console.file.getvalue()


def report(path: Path, widths: tuple[int, ...] = (80, 200)) -> list[tuple[str, str, float, float, list]]:
    """(number, title, coverage, strict coverage, leftover markup) for every page of a guide, at the
    narrowest width given (the lowest of the widths)."""
    from course.lesson.codio_guides import open_guide

    guide = open_guide(path)
    rows = []
    for entry in guide.entries():
        page = entry.page
        if page is None or guide.number_of(page) != entry.number:
            continue
        source = page.path.read_text(encoding="utf-8") if page.path else ""
        worst = (2.0, 2.0, [])
        for width in widths:
            out = rendered(guide, entry.number, page, width=width)
            loose, _ = coverage(source, out)
            strict, _ = coverage(source, out, tokens=spaced_words)
            leftovers = leftover_markup(source, out)
            worst = (min(worst[0], loose), min(worst[1], strict), worst[2] or leftovers)
        rows.append((entry.number, page.title, *worst))
    return rows


def main(argv: list[str]) -> int:
    failed = 0
    for arg in argv:
        rows = report(Path(arg))
        low = [r for r in rows if r[2] < 0.95 or r[3] < 0.95 or r[4]]
        total = min((r[2] for r in rows), default=1.0)
        strict = min((r[3] for r in rows), default=1.0)
        print(f"{arg}: {len(rows)} pages, lowest coverage {total:.1%} (strict {strict:.1%}), "
              f"{len(low)} below 95% or with markup")
        for number, title, loose, tight, leftovers in low:
            print(f"   {number} {title}: {loose:.1%} (strict {tight:.1%}) {leftovers[:4]}")
        failed += len(low)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
