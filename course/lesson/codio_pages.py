"""Codio guides as data: pages, chapters and the blocks a page is made of.

The lessons are written in Codio's guide dialect (see course/content/README.md) so the same files
serve Codio and the terminal. This module only reads them; `course.terminal.pages` draws them. It uses the
standard library alone, so loading a guide never pays for the renderer.

The dialect, as read here:

- Markdown, with fenced code blocks (``` or ~~~). Fences are copied verbatim: nothing inside one
  is a button, a heading or a column marker.
- `{Label}(command)`: a button that runs a command (`TryIt`), on a line of its own or inside a
  paragraph. `{Label|assessment}(task-id)` embeds a question (`Assessment`). Other `|kind`s are
  treated as buttons. A button inside an inline code span (backticks) is text, not a button.
- `|||info` (or `||| info`, any of Codio's callout types: `important`, `challenge`, `guidance`, ...)
  opens a callout box and the next `|||` closes it (`Callout`): one box holding everything inside.
- `|||` alone opens a bare region (`Columns`). Codio has no divider inside the region, so the
  region's blank-line-separated chunks are halved: the first half is the left column, the rest the
  right. A region of one chunk (like the seed page's list) has an empty right column and is drawn as
  one bordered block. A region or callout left open runs to the end of the page.
- ATX headings (`# Title`) become `Heading` blocks, so a page without a .json title still has one
  and a terminal without colour can still show where a section starts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from course.errors import CourseError

__all__ = [
    "Assessment",
    "Block",
    "Callout",
    "Chapter",
    "Code",
    "Columns",
    "Heading",
    "Markdown",
    "Page",
    "TryIt",
    "load_chapter",
    "load_guide",
    "load_page",
    "parse_page",
    "step_number",
]


@dataclass(frozen=True)
class Block:
    """One piece of a page, in reading order."""


@dataclass(frozen=True)
class Markdown(Block):
    text: str


@dataclass(frozen=True)
class Heading(Block):
    level: int
    text: str


@dataclass(frozen=True)
class Code(Block):
    language: str
    text: str


@dataclass(frozen=True)
class TryIt(Block):
    """A button that runs `command`; `number` is its 1-based position among the page's buttons."""

    label: str
    command: str
    number: int


@dataclass(frozen=True)
class Assessment(Block):
    label: str
    task_id: str


@dataclass(frozen=True)
class Columns(Block):
    """A `|||` region: `right` is empty when the region had a single chunk."""

    left: list[Block]
    right: list[Block]
    kind: str = ""


@dataclass(frozen=True)
class Callout(Block):
    """A Codio callout box (`|||info` ... `|||`), or a `<details>` section once its HTML is read: one box
    titled by its kind (or by `title`) holding every block inside it."""

    kind: str
    blocks: list[Block]
    title: str = ""

    @property
    def heading(self) -> str:
        """What the box is called: a `<details>` section by its summary, a callout by its type."""
        return self.title or CALLOUT_TITLES.get(self.kind, self.kind.replace("-", " ").replace("_", " ").capitalize())


# What Codio calls each kind of callout box, as its guides show them.
CALLOUT_TITLES = {
    "important": "Important", "info": "Info", "warning": "Warning", "topic": "Topic", "definition": "Definition",
    "challenge": "Challenge", "guidance": "Teacher's guidance",
    "meetup": "Meetup", "hackathon": "Hackathon", "create": "Create", "calendar": "Calendar",
    "growthhack": "Growth hack", "xdiscipline": "Across disciplines", "debugging": "Debugging",
}


def _walk(blocks: list[Block]) -> Iterator[Block]:
    for block in blocks:
        if isinstance(block, Columns):
            yield from _walk(block.left)
            yield from _walk(block.right)
        elif isinstance(block, Callout):
            yield from _walk(block.blocks)
        else:
            yield block


@dataclass
class Page:
    title: str
    slug: str
    blocks: list[Block]
    path: Path | None = None

    @property
    def try_its(self) -> list[TryIt]:
        """Every button on the page, columns included, in reading order."""
        return [block for block in _walk(self.blocks) if isinstance(block, TryIt)]

    @property
    def assessments(self) -> list[Assessment]:
        return [block for block in _walk(self.blocks) if isinstance(block, Assessment)]


@dataclass
class Chapter:
    """A chapter of a guide. `pages` is every page in it in reading order (its own page first, then those of
    its nested chapters in their places); `items` keeps the nesting: its pages and sub-chapters, in order
    (the chapter's own page, `page`, not among them). `course` is our lessons' extra index.json key (None
    for plain Codio)."""

    title: str
    slug: str
    pages: list[Page]
    course: dict[str, Any] | None = None
    path: Path | None = None
    items: list[Page | Chapter] | None = None
    page: Page | None = None

    def __post_init__(self) -> None:
        if self.items is None:
            self.items = [page for page in self.pages if page is not self.page]


def step_number(command: str) -> int | None:
    """The step a command runs when it ends in an integer (`python3 imageGen.py 3` → 3)."""
    match = re.search(r"(?:^|\s)(\d+)\s*$", command)
    return int(match.group(1)) if match else None


# --- parsing a page -------------------------------------------------------------------------

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_BARS = re.compile(r"^\s*\|\|\|\s*([\w-]*)\s*$")
_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
# A label has no braces, bars or newlines; a command may hold one level of parentheses.
_BUTTON = re.compile(r"\{([^{}|\n]+?)(?:\|\s*([\w-]+)\s*)?\}\(((?:[^()\n]|\([^()\n]*\))*)\)")
# An inline code span, which (as in CommonMark) cannot run across a blank line.
_CODE_SPAN = re.compile(r"(`+)(?:(?!\n[ \t]*\n)[\s\S])*?(?<!`)\1(?!`)")


def _fence(line: str) -> re.Match[str] | None:
    """A fence opener; a backtick fence whose info string holds a backtick is text (CommonMark)."""
    match = _FENCE.match(line)
    return None if match and match.group(1)[0] == "`" and "`" in match.group(2) else match


@dataclass
class _Counter:
    buttons: int = 0


def parse_page(text: str, *, title: str | None = None, slug: str = "") -> Page:
    """Read one page of Codio markdown; the title is `title`, else the first heading, else `slug`."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff").split("\n")
    blocks = _parse_lines(_without_comments(lines), _Counter())
    if title is None:
        heading = next((block for block in _walk(blocks) if isinstance(block, Heading) and block.text), None)
        title = heading.text if heading else slug
    return Page(title=title, slug=slug, blocks=blocks)


def _without_comments(lines: list[str]) -> list[str]:
    """The page's lines with its HTML comments taken out, as a browser hides them: a comment may span
    lines, one left open runs to the end of the page, and what it holds (buttons, headings, fences) is
    hidden with it. Comments inside code (a fence, a code span) are code and stay."""
    out: list[str] = []
    closer: re.Pattern[str] | None = None
    before: str | None = None  # the text before a comment still open, while one is
    for line in lines:
        if before is not None:
            end = line.find("-->")
            if end < 0:
                continue
            line, before = before + line[end + 3:], None
        elif closer is not None:
            closer = None if closer.match(line) else closer
            out.append(line)
            continue
        elif fence := _fence(line):
            closer = re.compile(rf"^ {{0,3}}{re.escape(fence.group(1)[0])}{{{len(fence.group(1))},}}\s*$")
            out.append(line)
            continue
        line, before = _line_without_comments(line)
        if before is None:
            out.append(line)
        elif before.strip():
            out.append(before)
            before = ""
        else:
            out.append("")
    return out


def _line_without_comments(line: str) -> tuple[str, str | None]:
    """One line without its comments, and the text before a comment it leaves open (None if none)."""
    while True:
        spans = [match.span() for match in _CODE_SPAN.finditer(line)]
        start = next((m.start() for m in re.finditer("<!--", line)
                      if not any(a <= m.start() < b for a, b in spans)), -1)
        if start < 0:
            return line, None
        end = line.find("-->", start + 2)  # `<!-->` and `<!--->` close at once, as in a browser
        if end < 0:
            return "", line[:start]
        line = line[:start] + line[end + 3:]


def _parse_lines(lines: list[str], counter: _Counter) -> list[Block]:
    """Blocks of a run of lines: fences first, then `|||` regions, then headings and buttons."""
    blocks: list[Block] = []
    prose: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _fence(line)
        bars = _BARS.match(line)
        if fence:
            blocks += _prose(prose, counter)
            prose = []
            code, i = _take_fence(lines, i, fence.group(1))
            blocks.append(Code(_language(fence.group(2)), code))
        elif bars:
            blocks += _prose(prose, counter)
            prose = []
            end = _region_end(lines, i + 1)
            kind = bars.group(1).lower()
            if kind:
                blocks.append(Callout(kind, _parse_lines(lines[i + 1:end], counter)))
            else:
                blocks.append(_columns(lines[i + 1:end], counter))
            i = end + 1
        else:
            prose.append(line)
            i += 1
    blocks += _prose(prose, counter)
    return blocks


def _language(info: str) -> str:
    words = info.strip().split()
    return words[0].lstrip(".{").rstrip("}") if words else ""


def _take_fence(lines: list[str], start: int, opener: str) -> tuple[str, int]:
    """The code inside a fence opened at `start`, and the index after its closing line."""
    closer = re.compile(rf"^ {{0,3}}{re.escape(opener[0])}{{{len(opener)},}}\s*$")
    body: list[str] = []
    i = start + 1
    while i < len(lines) and not closer.match(lines[i]):
        body.append(lines[i])
        i += 1
    return "\n".join(body), i + 1


def _region_end(lines: list[str], start: int) -> int:
    """Index of the `|||` closing a region, skipping fences; len(lines) when it is left open."""
    i = start
    while i < len(lines):
        fence = _fence(lines[i])
        if fence:
            _, i = _take_fence(lines, i, fence.group(1))
            continue
        if _BARS.match(lines[i]):
            return i
        i += 1
    return len(lines)


def _columns(lines: list[str], counter: _Counter) -> Columns:
    chunks = _chunks(lines)
    half = (len(chunks) + 1) // 2
    left = [line for chunk in chunks[:half] for line in chunk + [""]]
    right = [line for chunk in chunks[half:] for line in chunk + [""]]
    return Columns(_parse_lines(left, counter), _parse_lines(right, counter))


def _chunks(lines: list[str]) -> list[list[str]]:
    """Blank-line-separated chunks, a fence (blank lines and all) staying inside its chunk."""
    chunks: list[list[str]] = []
    current: list[str] = []
    i = 0
    while i < len(lines):
        fence = _fence(lines[i])
        if fence:
            _, end = _take_fence(lines, i, fence.group(1))
            current += lines[i:end]
            i = end
            continue
        if lines[i].strip():
            current.append(lines[i])
        elif current:
            chunks.append(current)
            current = []
        i += 1
    if current:
        chunks.append(current)
    return chunks


def _prose(lines: list[str], counter: _Counter) -> list[Block]:
    """Markdown between fences: headings split out, buttons lifted out of the text around them."""
    blocks: list[Block] = []
    text: list[str] = []
    for line in lines:
        heading = _HEADING.match(line)
        if heading:
            blocks += _buttons("\n".join(text), counter)
            text = []
            blocks.append(Heading(len(heading.group(1)), (heading.group(2) or "").strip()))
        else:
            text.append(line)
    blocks += _buttons("\n".join(text), counter)
    return blocks


def _buttons(text: str, counter: _Counter) -> list[Block]:
    spans = [match.span() for match in _CODE_SPAN.finditer(text)]
    blocks: list[Block] = []
    done = 0
    for match in _BUTTON.finditer(text):
        if any(start < match.end() and match.start() < end for start, end in spans):
            continue
        blocks += _markdown(text[done:match.start()])
        label, kind, target = match.group(1).strip(), (match.group(2) or "").lower(), match.group(3).strip()
        if kind == "assessment":
            blocks.append(Assessment(label, target))
        else:
            counter.buttons += 1
            blocks.append(TryIt(label, target, counter.buttons))
        done = match.end()
    return blocks + _markdown(text[done:])


def _markdown(text: str) -> list[Block]:
    lines = [line.rstrip() for line in text.strip("\n").split("\n")]
    stripped = "\n".join(lines).strip()
    return [Markdown(stripped)] if stripped else []


# --- loading from disk ----------------------------------------------------------------------

def read_page_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CourseError(f"no guide page at {path}", hint="Check the path; pages are .md files.") from None
    except UnicodeDecodeError as exc:
        raise CourseError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})",
                          hint="Save the file as UTF-8.") from None


def read_guide_json(path: Path) -> dict[str, Any]:
    """A Codio .json file as a dict; a broken one names the file and the line to fix."""
    try:
        data = json.loads(read_page_text(path))
    except json.JSONDecodeError as exc:
        raise CourseError(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
                          hint="Fix the JSON there (a trailing comma or a missing quote is the usual cause).") from None
    if not isinstance(data, dict):
        raise CourseError(f"{path} should hold a JSON object, not {type(data).__name__}",
                          hint='Codio index and page files look like {"title": ..., ...}.')
    return data


def _natural(name: str) -> list[Any]:
    """Sort key so that `10-x` comes after `2-x`."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part.lower()) for part in re.split(r"(\d+)", name)]


def load_page(path: Path) -> Page:
    """A page from its .md file (or its .json sibling, or the name without a suffix)."""
    path = Path(path)
    md = path if path.suffix == ".md" else path.with_name(path.name.removesuffix(".json") + ".md")
    if not md.is_file():
        raise CourseError(f"no guide page at {path}",
                          hint=f"Expected a Markdown file {md.name} in {md.parent}.")
    meta = md.with_suffix(".json")
    title = read_guide_json(meta).get("title") if meta.is_file() else None
    page = parse_page(read_page_text(md), title=str(title) if title else None, slug=md.stem)
    page.path = md
    return page


def load_chapter(folder: Path) -> Chapter:
    """A chapter folder: its pages and sub-chapters in index.json's order, then the unlisted ones, sorted
    (see `_unlisted` for which those are). An `index.md` is the chapter's own page, read first."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CourseError(f"no guide chapter at {folder}", hint="Give the path to a folder of guide pages.")
    index, order = read_index(folder)
    title = str(index.get("title") or humane_title(folder.name))
    own = None
    if (folder / "index.md").is_file():
        own = load_page(folder / "index.md")
        if own.title == "index":
            own.title = title
    items = index_items(folder, index, order)
    pages = ([own] if own else []) + _pages_of(items)
    course = index.get("course")
    return Chapter(title=title, slug=folder.name, pages=pages, course=course if isinstance(course, dict) else None,
                   path=folder, items=items, page=own)


def _pages_of(items: list[Page | Chapter]) -> list[Page]:
    """Every page of a run of items, in reading order, nested chapters' pages in their places."""
    return [page for item in items for page in (item.pages if isinstance(item, Chapter) else [item])]


def read_index(folder: Path) -> tuple[dict[str, Any], list[str]]:
    """A folder's index.json (empty when it has none) and its checked "order" list."""
    path = folder / "index.json"
    index = read_guide_json(path) if path.is_file() else {}
    order = index.get("order", [])
    if not isinstance(order, list) or not all(isinstance(name, str) for name in order):
        raise CourseError(f'{path}: "order" should be a list of names',
                          hint='For example "order": ["Intro-1a2b", "Generating-Images-3c4d"].')
    return index, order


# Files a repository keeps beside its pages that are not pages: never read as one unless an order lists it.
NOT_PAGES = {"readme", "license", "licence", "changelog", "contributing", "code_of_conduct", "authors", "notice",
             "security"}


def index_items(folder: Path, index: dict[str, Any], order: list[str]) -> list[Page | Chapter]:
    """The pages and chapter folders that `order` names, in its order, then `_unlisted` ones."""
    items: list[Page | Chapter] = []
    for name in order:
        stem = name.removesuffix(".md")
        if (folder / f"{stem}.md").is_file():
            items.append(load_page(folder / f"{stem}.md"))
        elif (folder / stem).is_dir():
            items.append(load_chapter(folder / stem))
        else:
            raise CourseError(f"{folder / 'index.json'}: the order names {name!r}, but there is no "
                              f"{stem}.md or {stem}/ in {folder}",
                              hint="Fix the name in the order list, or add the page.")
    return items + _unlisted(folder, index, order)


def _unlisted(folder: Path, index: dict[str, Any], order: list[str]) -> list[Page | Chapter]:
    """What a folder holds beyond its order, sorted naturally (pages before chapters).

    Where an index.json gives an "order", Codio shows only what it lists, so an unlisted page counts only
    when it carries Codio's page file (a sibling .json) and an unlisted folder only when it has its own
    index.json: a stray draft or notes.md is not a page. A folder without an order (hand-written, like
    this course's lessons folder) has every .md as a page and every folder holding pages as a chapter.
    README.md, LICENSE.md and the like are never pages unless an order names them.
    """
    listed = {name.removesuffix(".md") for name in order} | {"index"}
    ordered = "order" in index
    pages = [md for md in folder.glob("*.md") if md.is_file() and md.stem not in listed
             and (md.with_suffix(".json").is_file() if ordered else md.stem.lower() not in NOT_PAGES)]
    chapters = [sub for sub in folder.iterdir() if sub.is_dir() and sub.name not in listed
                and not sub.name.startswith(".")
                and ((sub / "index.json").is_file() if ordered else _holds_pages(sub))]
    return ([load_page(md) for md in sorted(pages, key=lambda p: _natural(p.stem))]
            + [load_chapter(sub) for sub in sorted(chapters, key=lambda p: _natural(p.name))])


def _holds_pages(folder: Path) -> bool:
    return (folder / "index.json").is_file() or any(md.stem.lower() not in NOT_PAGES for md in folder.glob("*.md"))


def humane_title(name: str) -> str:
    """`1-generating-images` → `Generating images`, for a folder without an index title."""
    words = re.sub(r"^\d+[-_ ]*", "", name).replace("-", " ").replace("_", " ").strip()
    return words[:1].upper() + words[1:] if words else name


def content_folder(root: Path) -> Path:
    """The folder of chapters a path stands for: a repository's root (which holds `.guides`), its
    `.guides` folder, that folder's `content`, or a folder of chapter folders as it is."""
    root = Path(root)
    if not root.is_dir():
        raise CourseError(f"no guide at {root}",
                          hint="Give a guide's folder, its .guides folder, its content folder, or a folder of lessons.")
    if (root / ".guides" / "content").is_dir():  # a guide repository's root
        root = root / ".guides"
    if (root / "content").is_dir():
        root = root / "content"
    return root


def load_guide(root: Path) -> list[Chapter]:
    """Every chapter of a guide: given its repository's root (which holds `.guides`), its `.guides` folder,
    that folder's `content`, or a folder of chapter folders.

    Loose pages at the top (a guide without chapters) become a first chapter named for the guide.
    `course.lesson.codio_guides.open_guide` reads a guide as its contents show it instead: top-level pages and
    chapters in their order, nesting kept, in either of Codio's formats.
    """
    root = content_folder(root)
    index, order = read_index(root)
    items = index_items(root, index, order)
    loose = [item for item in items if isinstance(item, Page)]
    chapters = [item for item in items if isinstance(item, Chapter)]
    if loose:
        guide_name = next((p.name for p in (root, *root.parents) if p.name not in ("content", ".guides")), "")
        chapters.insert(0, Chapter(title=str(index.get("title") or humane_title(guide_name)), slug=root.name,
                                   pages=loose, path=root))
    if not chapters:
        raise CourseError(f"no guide pages found in {root}",
                          hint="A guide has .md pages, or chapter folders holding them.")
    return chapters
