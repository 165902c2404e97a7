"""Codio's link actions, said in words for a reader who has no Codio panels to open.

A Codio page may link to an action instead of an address: `[Code Visualizer](open_tutor demo.py)`,
`[the print line](open_file demo.py panel=0 ref="print" count=1)`, `[Run](cmd python3 demo.py)`, several
joined with `;` (`close_all; open_file a.py`). Outside Codio they do nothing, so the link becomes its
text followed by what it would have done: "Code Visualizer (open `demo.py` in a code visualiser)".
File names and commands are code spans, so that Markdown leaves them as written.

Plain links (`https://...`, `page.html`) are not actions and are left alone. Nothing here reads HTML:
an `<a href="open_file x">` is turned into a Markdown link by `course.lesson.html_pages` first.
"""

from __future__ import annotations

import re
import shlex

__all__ = ["ACTIONS", "describe", "replace_link_actions"]

ACTIONS = ("open_file", "open_files", "open_preview", "open_terminal", "open_tutor", "open_vm", "close_all",
           "close_file", "close_files", "close_preview", "close_terminal", "close_tutor", "cmd")

_NAMES = "|".join(sorted(ACTIONS, key=len, reverse=True))
# [text](action ...): the text may hold one level of brackets; the target quoted strings and parentheses.
LINK = re.compile(r"(?<!!)\[((?:[^\[\]\n]|\[[^\[\]\n]*\])*)\]\(\s*((?:" + _NAMES + r")(?=[\s;)])(?:[^()\"\n]|\"[^\"\n]*\"|\([^()\n]*\))*)\)")
_CODE_SPAN = re.compile(r"(`+)[\s\S]*?(?<!`)\1(?!`)")


def code(text: str) -> str:
    """`text` as a Markdown code span, fenced with more backticks than it holds."""
    run = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (run + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _split_actions(target: str) -> list[str]:
    """`close_all; open_file a.py` → its actions; a `;` inside quotes belongs to a command."""
    parts: list[str] = []
    current = ""
    quote = ""
    for char in target:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == ";":
            parts.append(current)
            current = ""
            continue
        current += char
    parts.append(current)
    return [part.strip() for part in parts if part.strip()]


def _words(args: str) -> tuple[list[str], dict[str, str]]:
    """An action's arguments: its file names or command words, and its `name=value` options."""
    try:
        words = shlex.split(args)
    except ValueError:
        words = args.split()
    plain: list[str] = []
    options: dict[str, str] = {}
    for word in words:
        name, sep, value = word.partition("=")
        if sep and name in ("panel", "ref", "count", "lines"):
            options[name] = value
        else:
            plain.append(word)
    return plain, options


def _files(names: list[str]) -> str:
    shown = [code(name) for name in names]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def describe(action: str) -> str:
    """One action in words: `open_file a.py ref="print"` → "open `a.py` at “print”"; "" for one to drop."""
    name, _, args = action.strip().partition(" ")
    name = name.strip()
    if name == "cmd":  # the command as written, quotes and all (shlex would take its quotes away)
        command = args.strip()
        if len(command) >= 2 and command[0] == command[-1] and command[0] in "\"'":
            command = command[1:-1]
        return f"run in the terminal: {code(command)}" if command else ""
    words, options = _words(args)
    if name in ("open_file", "open_files"):
        if not words:
            return ""
        where = f" at “{options['ref']}”" if options.get("ref") else ""
        return f"open {_files(words)}{where}"
    if name == "open_preview":
        return f"open a preview of {_files(words)}" if words else "open the preview"
    if name == "open_terminal":
        command = " ".join(words)
        return f"run in the terminal: {code(command)}" if command else "open a terminal"
    if name == "open_tutor":
        return f"open {_files(words)} in a code visualiser" if words else "open the code visualiser"
    if name == "open_vm":
        return "open the virtual desktop"
    if name == "close_all":
        return "close the open tabs"
    if name in ("close_file", "close_files"):
        return f"close {_files(words)}" if words else ""
    if name == "close_preview":
        return "close the preview"
    if name == "close_terminal":
        return "close the terminal"
    if name == "close_tutor":
        return "close the code visualiser"
    return ""


def replace_link_actions(markdown: str) -> str:
    """Every Codio link action in `markdown` (outside code spans) as its text and, in parentheses, what
    its actions do; a link whose actions all close something keeps only its text."""
    spans = [m.span() for m in _CODE_SPAN.finditer(markdown)]

    def swap(match: re.Match[str]) -> str:
        if any(start <= match.start() < end for start, end in spans):  # written inside code: shown as it is
            return match.group(0)
        text = match.group(1).strip()
        said = [words for words in map(describe, _split_actions(match.group(2))) if words]
        doing = "; ".join(said)
        if not doing or doing.casefold() == text.casefold():  # "[open a terminal](open_terminal)" says it already
            return text or doing
        return f"{text} ({doing})" if text else doing[:1].upper() + doing[1:]

    return LINK.sub(swap, markdown)
