"""rich's Markdown, with tables that stay readable in a terminal too narrow for them, and lists whose
markers are never read as words.

An ordered list's items are drawn with bullets, in their order, without numbers: a number between two
items would come between the last word of one and the first of the next, where a screen reader, a
copy of the text or a search reads it as a word of the page (a browser draws them as markers, not as
text of the page).

rich draws a Markdown table as a grid and wraps each cell inside its column: in a narrow terminal a
cell's words are spread over several lines, between the lines of its neighbours, and a sentence in a
cell no longer reads as one. A table that fits keeps rich's grid; one that does not is drawn a row per
line instead, its cells in order with a `·` between them (the header row first, in bold), so that each
row reads as written.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.console import Console, ConsoleOptions, RenderResult
from rich.markdown import ListElement, Markdown, TableElement
from rich.table import Table
from rich.text import Text

__all__ = ["ReaderMarkdown"]


class _FittingTable(TableElement):
    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        header = [cell.content for cell in self.header.row.cells] if self.header and self.header.row else []
        body = [[cell.content for cell in row.cells] for row in (self.body.rows if self.body else [])]
        columns = max([len(header)] + [len(row) for row in body])
        widest = [max([_width(row[i]) for row in [header, *body] if i < len(row)] or [0]) for i in range(columns)]
        if sum(widest) + 3 * columns + 1 <= options.max_width:  # every cell on one line: rich's grid
            yield from super().__rich_console__(console, options)
            return
        grid = Table.grid()
        grid.add_column(no_wrap=True, style="markdown.table.border")
        grid.add_column()
        if header:
            grid.add_row("  ", _row(header, header=True))
        for row in body:
            grid.add_row("• ", _row(row))
        yield grid


def _width(cell: Text) -> int:
    return max((len(line) for line in cell.plain.split("\n")), default=0)


def _row(cells: list[Text], *, header: bool = False) -> Text:
    line = Text()
    for i, cell in enumerate(cells):
        if i:
            line.append(" · ", style="markdown.table.border")
        content = cell.copy()
        content.justify = None
        if header:
            content.stylize("bold")
        line.append_text(content)
    return line


class _BulletedList(ListElement):
    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for item in self.items:
            yield from item.render_bullet(console, options)


class ReaderMarkdown(Markdown):
    elements: ClassVar[dict[str, Any]] = {**Markdown.elements, "table_open": _FittingTable,
                                          "ordered_list_open": _BulletedList}
