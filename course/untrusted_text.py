"""Showing text a learner controls where it can only be read, never act.

A learner chooses their folder's name on some platforms, their files' names, and whatever their
script prints or raises; the grader and `course log` show all of it to an instructor. Each helper
here makes such text inert for one reader:

- `for_terminal`: no escape sequence, control character or bidi override reaches a terminal;
- `for_rich_markup`: the same, and square brackets that rich would take for markup are escaped;
- `for_markdown`, `markdown_code_span`, `markdown_code_block`: no link, image, HTML tag, heading,
  list or table starts inside a Markdown file.

A neutralised character is shown escaped (`\\x1b`, `\\u202e`), never dropped, so the reader sees
that something was there. Standard library only: the `course` package is imported by learners' scripts.
"""

from __future__ import annotations

import re

# Terminals act on C0 controls (ESC starts CSI and OSC sequences, BEL rings, BS and CR overwrite), DEL
# and C1 controls (0x9b is a one-byte CSI); bidi embeddings, overrides and isolates reorder the text
# around them ("Trojan Source"); lone surrogates (a folder name that is not UTF-8) cannot be written.
_UNSAFE_ANYWHERE = "\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_UNSAFE_IN_ONE_LINE = re.compile(f"[\t\n{_UNSAFE_ANYWHERE}]")
_UNSAFE_IN_LINES = re.compile(f"[{_UNSAFE_ANYWHERE}]")
_SHORT_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _shown(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _SHORT_ESCAPES.get(char) or (f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}")


def for_terminal(text: str, *, lines: bool = False) -> str:
    """`text` with every control character shown escaped; `lines=True` keeps newlines and tabs (a
    Windows CRLF reads as a newline, a lone CR, which would overwrite the line, is shown)."""
    if lines:
        return _UNSAFE_IN_LINES.sub(_shown, text.replace("\r\n", "\n"))
    return _UNSAFE_IN_ONE_LINE.sub(_shown, text)


def for_rich_markup(text: str) -> str:
    """One line for a string rich parses as markup (a progress description, a table cell): `[bold red]`
    or `[link=…]` is printed as written."""
    from rich.markup import escape  # here, not above: learners' scripts import `course` without rich

    return escape(for_terminal(text))


# ------------------------------------------------------------------------------------------ Markdown

# A web or mail address: GitHub and linkifying viewers make a live link of one even without <> or
# [](), and no backslash escape stops them, but a code span does.
_ADDRESS = re.compile(r"(?i)\b(?:[a-z][a-z0-9+.-]*://|www\.|mailto:|xmpp:)\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_CLOSING_PUNCTUATION = ".,:;!?'\")]"
# Characters with a meaning anywhere in a line: code spans, emphasis, links and images, HTML and
# entities, tables, strikethrough, heading closers; a backslash before punctuation would escape it.
_SPECIAL = re.compile(r"[`*\[\]<>&|~#]|\\(?=[!-/:-@\[-`{-~]|$)|_+")
# What starts a block when it opens a line (after any spaces): a list item, a thematic break, a
# setext underline, a numbered list item's number and its "." or ")". The other markers (#, >, *, `,
# ~, |) are escaped wherever they are.
_BLOCK_START = re.compile(r"^ *(?:[-+=]|\d{1,9}[.)])")


def _escaped(match: re.Match[str]) -> str:
    found = match.group()
    if found.startswith("_") and _inside_a_word(match):
        return found  # snake_case: CommonMark never makes emphasis of underscores inside a word
    return "".join("\\" + char for char in found)


def _inside_a_word(match: re.Match[str]) -> bool:
    text, start, end = match.string, match.start(), match.end()
    return start > 0 and end < len(text) and text[start - 1].isalnum() and text[end].isalnum()


def _escape_markdown(text: str) -> str:
    return _SPECIAL.sub(_escaped, text)


def _escape_block_start(text: str) -> str:
    """A backslash before the marker's last character: `\\-`, `1\\.`; the text then opens a paragraph."""
    opening = _BLOCK_START.match(text)
    if opening is None:
        return text
    cut = opening.end() - 1
    return text[:cut] + "\\" + text[cut:]


def for_markdown(text: str) -> str:
    """Learner text inside a line of Markdown: it reads as written when rendered, and renders as
    nothing but text. One line (newlines are shown escaped); addresses are quoted as code."""
    text = for_terminal(text)
    parts, last = [], 0
    for found in _ADDRESS.finditer(text):
        address = found.group().rstrip(_CLOSING_PUNCTUATION)  # "(see http://x.org/a)." quotes the address alone
        parts += [_escape_markdown(text[last:found.start()]), markdown_code_span(address)]
        last = found.start() + len(address)
    parts.append(_escape_markdown(text[last:]))
    return _escape_block_start("".join(parts))


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in re.findall(r"`+", text)), default=0)


def markdown_code_span(text: str) -> str:
    """`text` as inline code, fenced by more backticks than any run inside it, so it cannot close early."""
    text = for_terminal(text)
    ticks = "`" * (_longest_backtick_run(text) + 1)
    # CommonMark strips one space from each end of a span that has both: pad a text that would lose
    # one, or that starts or ends with a backtick (which would join the fence).
    padded = text.startswith("`") or text.endswith("`") or (text.startswith(" ") and text.endswith(" "))
    pad = " " if padded else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def markdown_code_block(text: str, info: str = "text") -> str:
    """`text` as a fenced code block whose fence is longer than any run of backticks inside it, so no
    line of the text can close it; its control characters are shown escaped, its lines kept."""
    text = for_terminal(text, lines=True)
    fence = "`" * max(3, _longest_backtick_run(text) + 1)
    return f"{fence}{info}\n{text}\n{fence}"
