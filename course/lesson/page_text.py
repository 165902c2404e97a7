"""A guide page that cannot be drawn, as the text it holds: the rule `course show` and `course notebook` share.

Any page an author writes must still be readable, and the pages after it must still come: when drawing a
page fails (in the terminal or as notebook cells), the reader gets its text, line by line, under a note that
says so and why. Buttons and questions are said as `[label] command` and `[label] question ID`.
"""

from __future__ import annotations

from .codio_pages import Assessment, Block, Callout, Code, Columns, Heading, Markdown, TryIt

__all__ = ["not_drawn_note", "page_lines"]


def not_drawn_note(problem: BaseException) -> str:
    """The note above a page shown as its text, naming what stopped it being drawn."""
    return f"(this page could not be drawn here, so it is shown as its text: {type(problem).__name__}: {problem})"


def page_lines(blocks: list[Block]) -> list[str]:
    """A page's blocks as plain lines of text, a blank line after each block."""
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            lines.append("#" * block.level + " " + block.text)
        elif isinstance(block, (Markdown, Code)):
            lines.append(block.text)
        elif isinstance(block, TryIt):
            lines.append(f"[{block.label}] {block.command}")
        elif isinstance(block, Assessment):
            lines.append(f"[{block.label}] question {block.task_id}")
        elif isinstance(block, Callout):
            lines += [block.title] if block.title else []
            lines += page_lines(block.blocks)
        elif isinstance(block, Columns):
            lines += page_lines(block.left) + page_lines(block.right)
        lines.append("")
    return lines
