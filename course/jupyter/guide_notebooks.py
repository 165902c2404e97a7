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
- a code cell per question embed: `question("<task id>", guide=".")`; one that cannot run here shows a
  note saying why, so that Run All goes through the whole guide.

A page that cannot be drawn is shown as its text under a note (`course.lesson.page_text`, the rule
`course show` follows), its buttons and questions still cells after it: no page stops the notebook.

The notebook travels: it names the guide, and the guide's images, by paths from the notebook's own folder
(`"."` when it is written into the guide's folder), never by absolute ones, so the guide's folder copied
elsewhere or handed to learners with its notebook still works (`course.jupyter.guide_place`).

The notebook is nbformat 4.5, written as nbformat writes it (see `course.jupyter.notebooks`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ..lesson.codio_pages import Assessment, Block, Callout, Chapter, Code, Columns, Heading, Markdown, Page, TryIt
from ..lesson.codio_guides import Guide
from ..lesson.page_text import not_drawn_note, page_lines
from .notebooks import KERNELSPEC, language_info

__all__ = ["build_guide_notebook", "guide_notebook_name", "guide_path_from", "markdown_of", "where_it_travels"]


def guide_notebook_name(guide: Guide) -> str:
    """`Lists and Loops in Python` → `lists-and-loops-in-python.ipynb`."""
    return _slug(guide.title) + ".ipynb"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60].strip("-") or "guide"


def _py(text: str) -> str:
    """A Python string literal a reader can read: `"..."` when that is exact."""
    plain = text.isprintable() and '"' not in text
    if plain and "\\" not in text:
        return f'"{text}"'
    return repr(text)


def build_guide_notebook(guide: Guide, *, out: Path | None = None) -> dict[str, Any]:
    """The guide as an nbformat 4.5 notebook (a plain dict), for a notebook written into `out`."""
    out = Path(out or Path.cwd()).absolute()
    workspace = guide_path_from(out, guide.workspace)
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
        try:
            cells += _page_cells(page, entry.number, level, guide, workspace, out)
        except Exception as problem:  # noqa: BLE001 - any page an author writes must still be readable
            cells += _page_as_text(page, entry.number, level, workspace, problem)
    nb = {"cells": cells, "metadata": {
        "kernelspec": KERNELSPEC,
        "language_info": language_info(),
        "course": {"guide": workspace, "title": guide.title, "format": guide.format},
    }, "nbformat": 4, "nbformat_minor": 5}
    stem = _slug(guide.title)[:40]
    for i, cell in enumerate(nb["cells"]):
        cell["id"] = f"{stem}-{i:03d}"
    return nb


def guide_path_from(out: Path, workspace: Path) -> str:
    """The guide's folder as a path from the notebook's folder `out` (`.` when the notebook is in it), with `/`."""
    try:
        path = os.path.relpath(workspace.absolute(), out.absolute())
    except ValueError:  # another drive (Windows): no relative path exists
        path = str(workspace.absolute())
    return path.replace(os.sep, "/")


def where_it_travels(guide: Guide, out: Path) -> str:
    """What `course notebook GUIDE` says about handing the notebook out: it finds the guide from its own folder."""
    path = guide_path_from(Path(out), guide.workspace)
    if path == ".":
        return "It lies in the guide's folder: copy that folder (the notebook in it) to hand the guide out."
    return (f"It finds the guide at {path} from its own folder, so keep the two where they are to each other; to "
            f"hand the guide out with its notebook, write the notebook into the guide's folder: "
            f"--out {guide.workspace}")


def _intro(guide: Guide, workspace: str) -> str:
    where = ("this notebook's folder" if workspace == "."
             else f"`{workspace}`, from this notebook's folder (keep the two where they are to each other)")
    return (f"# {guide.title}\n\n"
            f"This notebook is the Codio guide *{guide.title}*, the same pages as `course show` shows in a "
            f"terminal, numbered as its contents number them. The guide's folder is {where}.\n\n"
            f"- Each **Try-it** button is a code cell: running it runs the button's command in the guide's "
            f"folder, as Codio runs it in its workspace, and shows what it prints.\n"
            "- Each question is a code cell too: run it to answer the question here (answers are kept in "
            "`answers.json`); one that cannot run on this machine says why.")


def _page_as_text(page: Page, number: str, level: int, workspace: str, problem: Exception) -> list[dict[str, Any]]:
    """A page that could not be made into cells: its text under a note, then its buttons and questions as cells."""
    text = "\n".join(page_lines(page.blocks)).strip("\n")
    fence = "`" * max(3, max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    cells = [_markdown_cell(f"{'#' * level} {number} {page.title}\n\n*{_escaped(not_drawn_note(problem))}*\n\n"
                            f"{fence}text\n{text}\n{fence}", role="guide", page=number)]
    cells += [_try_cell(button, number, workspace) for button in page.try_its]
    cells += [_question_cell(block, number, workspace) for block in page.assessments]
    return cells


def _escaped(text: str) -> str:
    """Text shown as it is in Markdown: its marks escaped."""
    return re.sub(r"([\\`*_{}\[\]<>()#+!|~-])", r"\\\1", text)


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
                cells.append(_try_cell(block, number, workspace))
            elif isinstance(block, Assessment):
                flush()
                cells.append(_question_cell(block, number, workspace))
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


def _try_cell(block: TryIt, number: str, workspace: str) -> dict[str, Any]:
    return _code_cell(f"from course.jupyter.try_buttons import run_command\n\n"
                      f"run_command({_py(block.command)}, workspace={_py(workspace)})",
                      role="guide-try", page=number, button=block.number, label=block.label)


def _question_cell(block: Assessment, number: str, workspace: str) -> dict[str, Any]:
    return _code_cell(f"from course.jupyter import question\n\n"
                      f"question({_py(block.task_id)}, guide={_py(workspace)})",
                      role="question", id=block.task_id, page=number)


def markdown_of(blocks: list[Block], level: int = 0) -> str:
    """Blocks read for a reader (`course.lesson.reading.for_reader`) as one Markdown text: callouts and
    `<details>` sections as block quotes under their bold title, as a guide's page cells show them."""
    parts: list[str] = []
    for block in blocks:
        if isinstance(block, Callout):
            inner = markdown_of(block.blocks, level)
            parts.append(_quoted(f"**{block.heading}**\n\n{inner}" if inner else f"**{block.heading}**", "> "))
        elif isinstance(block, Columns):
            parts.append(markdown_of(block.left + block.right, level))
        else:
            parts.append(_markdown(block, level))
    return "\n\n".join(part for part in parts if part.strip())


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
