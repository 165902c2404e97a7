"""Any Codio guide as one Jupyter notebook (`course notebook GUIDE`).

One notebook for the whole guide, not one per chapter: a guide is one piece of work in Codio (one
workspace, one set of questions, one progress), its top level may mix loose pages with chapters, and
its contents numbers (1, 2.1, 2.2.1) read the same in the notebook's headings as in `course show`.

The guide's pages, in order, become:

- Markdown cells: each page under a heading with its contents number, HTML converted, callouts and
  `<details>` sections as block quotes under their title, Codio's link actions said in words, images
  pointing at the guide's own files (`course.lesson.reading` does what the terminal does too);
- a code cell per Try-it button, running its command with a shell in the guide's workspace through
  `course.jupyter.try_buttons.run_command`, the function `course try GUIDE PAGE N` runs it with;
- a code cell per question embed: `question("<task id>", guide=r"<the guide's folder>")`.

The notebook is nbformat 4.5, written as nbformat writes it (see `course.jupyter.notebooks`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ..lesson.codio_pages import Assessment, Block, Callout, Chapter, Code, Columns, Heading, Markdown, Page, TryIt
from ..lesson.codio_guides import Guide
from .notebooks import KERNELSPEC, language_info

__all__ = ["build_guide_notebook", "guide_notebook_name"]


def guide_notebook_name(guide: Guide) -> str:
    """`Lists and Loops in Python` → `lists-and-loops-in-python.ipynb`."""
    return _slug(guide.title) + ".ipynb"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60].strip("-") or "guide"


def _py(text: str, *, raw: bool = False) -> str:
    """A Python string literal a reader can read: `"..."` (or `r"..."` for a path) when that is exact."""
    plain = text.isprintable() and '"' not in text and not text.endswith("\\")
    if plain and raw:
        return f'r"{text}"'
    if plain and "\\" not in text:
        return f'"{text}"'
    return repr(text)


def build_guide_notebook(guide: Guide, *, out: Path | None = None) -> dict[str, Any]:
    """The guide as an nbformat 4.5 notebook (a plain dict), for a notebook written into `out`."""
    out = Path(out or Path.cwd()).absolute()
    workspace = str(guide.workspace.absolute())
    cells: list[dict[str, Any]] = [_markdown_cell(_intro(guide, workspace), role="intro")]
    for entry in guide.entries():
        level = min(entry.depth + 2, 6)
        item = entry.item
        if isinstance(item, Chapter) and item.page is None:
            cells.append(_markdown_cell(f"{'#' * level} {entry.number}. {item.title}", role="guide",
                                        page=entry.number))
            continue
        page = item if isinstance(item, Page) else item.page
        assert page is not None
        cells += _page_cells(page, entry.number, level, guide, workspace, out)
    nb = {"cells": cells, "metadata": {
        "kernelspec": KERNELSPEC,
        "language_info": language_info(),
        "course": {"guide": workspace, "title": guide.title, "format": guide.format},
    }, "nbformat": 4, "nbformat_minor": 5}
    stem = _slug(guide.title)[:40]
    for i, cell in enumerate(nb["cells"]):
        cell["id"] = f"{stem}-{i:03d}"
    return nb


def _intro(guide: Guide, workspace: str) -> str:
    return (f"# {guide.title}\n\n"
            f"This notebook is the Codio guide *{guide.title}*, the same pages as `course show` shows in a "
            f"terminal, numbered as its contents number them.\n\n"
            f"- Each **Try-it** button is a code cell: running it runs the button's command in the guide's "
            f"folder, `{workspace}`, as Codio runs it in its workspace, and shows what it prints.\n"
            "- Each question is a code cell too: run it to answer the question here (answers are kept in "
            "`answers.json`).")


def _page_cells(page: Page, number: str, level: int, guide: Guide, workspace: str,
                out: Path) -> list[dict[str, Any]]:
    from ..lesson.reading import for_reader

    def image(alt: str, src: str) -> str:
        return f"![{alt}]({_image_path(src, guide.workspace, page, out)})"

    cells: list[dict[str, Any]] = []
    text: list[tuple[str, str]] = [("", f"{'#' * level} {number} {page.title}")]  # (quote, Markdown)

    def flush() -> None:
        parts = [(quote, part) for quote, part in text if part.strip()]
        joined = ""
        for i, (quote, part) in enumerate(parts):
            if i:  # a blank line, inside the block quote both parts share
                shared = os.path.commonprefix([parts[i - 1][0], quote])
                joined += "\n" + shared.rstrip() + "\n"
            joined += _quoted(part, quote)
        if joined.strip():
            cells.append(_markdown_cell(joined, role="guide", page=number))
        text.clear()

    def walk(blocks: list[Block], quote: str) -> None:
        for block in blocks:
            if isinstance(block, TryIt):
                flush()
                cells.append(_code_cell(
                    f"from course.jupyter.try_buttons import run_command\n\n"
                    f"run_command({_py(block.command)}, workspace={_py(workspace, raw=True)})",
                    role="guide-try", page=number, button=block.number, label=block.label))
            elif isinstance(block, Assessment):
                flush()
                cells.append(_code_cell(f"from course.jupyter import question\n\n"
                                        f"question({_py(block.task_id)}, guide={_py(workspace, raw=True)})",
                                        role="question", id=block.task_id, page=number))
            elif isinstance(block, Callout):
                text.append((quote + "> ", f"**{block.heading}**"))
                walk(block.blocks, quote + "> ")
            elif isinstance(block, Columns):
                walk(block.left + block.right, quote)
            else:
                text.append((quote, _markdown(block, level)))

    walk(for_reader(page.blocks, image=image), "")
    flush()
    return cells


def _markdown(block: Block, level: int) -> str:
    if isinstance(block, Heading):
        return "#" * min(max(block.level, level + 1), 6) + " " + block.text
    if isinstance(block, Code):
        fence = "`" * max(3, max((len(m) for m in re.findall(r"`+", block.text)), default=0) + 1)
        return f"{fence}{block.language}\n{block.text.rstrip()}\n{fence}"
    if isinstance(block, Markdown):
        return block.text
    return ""


def _quoted(text: str, quote: str) -> str:
    """Text inside `quote` levels of block quote (a callout's box), blank lines quoted too."""
    if not quote:
        return text
    bare = quote.rstrip()
    return "\n".join(f"{quote}{line}" if line.strip() else bare for line in text.split("\n"))


def _image_path(src: str, workspace: Path, page: Page, out: Path) -> str:
    """An image's path as the notebook in `out` reaches it: Codio's paths are from the workspace."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", src, re.IGNORECASE) or src.startswith(("/", "#")) or not src:
        return src
    target = workspace / src
    if not target.exists() and page.path is not None and (page.path.parent / src).exists():
        target = page.path.parent / src
    path = os.path.relpath(target.absolute(), out)
    return path.replace(os.sep, "/").replace(" ", "%20")


def _markdown_cell(source: str, **course: Any) -> dict[str, Any]:
    return {"cell_type": "markdown", "metadata": {"course": course}, "source": source}


def _code_cell(source: str, **course: Any) -> dict[str, Any]:
    return {"cell_type": "code", "execution_count": None,
            "metadata": {"course": course, "editable": False, "deletable": False}, "outputs": [], "source": source}
