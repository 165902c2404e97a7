"""Any Codio guide, in either format, as its contents show it: numbered pages and nested chapters.

`open_guide(path)` takes a guide repository's root (the folder holding `.guides`), its `.guides`
folder, its content folder, a folder of chapter folders (like this course's lessons) or one page, and
reads whichever format it finds:

- the newer one (`.guides/content/index.json` "order", chapter folders with their own index.json,
  nested as deep as the guide nests them, a page's title in its `.json`): `course.lesson.codio_pages`;
- the older one (`.guides/book.json` and `.guides/metadata.json`): `course.lesson.codio_older_format`.

The contents number what they list: top-level pages and chapters 1, 2, ...; inside chapter 2, 2.1,
2.2; inside chapter 2.2, 2.2.1, and so on. `Guide.find()` takes those numbers, a page's place among
all pages (when that is not a contents number too), or a page's title or file name.

`Guide.workspace` is where the guide's buttons run: the folder holding `.guides` (Codio runs them in
/home/codio/workspace, which is that folder).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CourseError
from .codio_pages import Chapter, Page, TryIt, humane_title, read_index, index_items, content_folder, load_page, parse_page

__all__ = ["Entry", "Guide", "find_workspace", "guide_button", "open_guide"]


@dataclass(frozen=True)
class Entry:
    """One line of the contents: its number, how deep it is nested (0 at the top) and what it lists."""

    number: str
    depth: int
    item: Page | Chapter

    @property
    def page(self) -> Page | None:
        """The page this number shows: the page itself, a chapter's own page, else its first page."""
        if isinstance(self.item, Page):
            return self.item
        return self.item.page or (self.item.pages[0] if self.item.pages else None)


@dataclass
class Guide:
    title: str
    items: list[Page | Chapter]
    workspace: Path
    format: str  # "newer", "older", "page" or "lessons" (this course's own lessons folder)
    _entries: list[Entry] = field(default_factory=list, repr=False)

    def entries(self) -> list[Entry]:
        """Every page and chapter, in reading order, with its contents number."""
        if not self._entries:
            self._entries = list(_numbered(self.items, "", 0))
        return self._entries

    @property
    def pages(self) -> list[Page]:
        return [page for item in self.items for page in (item.pages if isinstance(item, Chapter) else [item])]

    def number_of(self, page: Page) -> str:
        return next(e.number for e in self.entries() if e.page is page and
                    (e.item is page or isinstance(e.item, Chapter) and e.item.page is page))

    def find(self, wanted: str) -> tuple[str, Page]:
        """The page `wanted` names, and its number: `1.2` as the contents number it, `3` also its place
        among all pages (when the contents have no 3), or its title or file name (any case)."""
        key = wanted.strip()
        entries = self.entries()
        for entry in entries:
            if entry.number == key or entry.number == key.rstrip("."):  # `2.2.` as the contents print a chapter
                if entry.page is None:
                    raise CourseError(f"chapter {key} ({entry.item.title}) of this guide has no pages.",
                                      hint=self._choices())
                return self.number_of(entry.page), entry.page
        pages = self.pages
        if key.isdigit() and 1 <= int(key) <= len(pages):
            return self.number_of(pages[int(key) - 1]), pages[int(key) - 1]
        folded = key.casefold()
        for entry in entries:
            names = (entry.item.title.casefold(), entry.item.slug.casefold())
            if folded in names and entry.page is not None:
                return self.number_of(entry.page), entry.page
        raise CourseError(f"this guide has no page {wanted!r}.", hint=self._choices())

    def page_numbers(self) -> list[str]:
        """The numbers of the entries that are pages of their own (a chapter's own page included)."""
        return [e.number for e in self.entries()
                if isinstance(e.item, Page) or (isinstance(e.item, Chapter) and e.item.page is not None)]

    def _choices(self) -> str:
        numbers = self.page_numbers()
        shown = ", ".join(numbers[:12]) + (", ..." if len(numbers) > 12 else "")
        return (f"its pages are {shown} (course show with the guide's folder alone lists them), or 1 to "
                f"{len(self.pages)} in order, or a page's title.")


def _numbered(items: list[Page | Chapter], prefix: str, depth: int):  # type: ignore[no-untyped-def]
    for position, item in enumerate(items, start=1):
        own = item.course.get("number") if isinstance(item, Chapter) and item.course and depth == 0 else None
        number = f"{prefix}{own if isinstance(own, int) and not isinstance(own, bool) else position}"
        yield Entry(number, depth, item)
        if isinstance(item, Chapter):
            yield from _numbered(item.items or [], number + ".", depth + 1)


def find_workspace(path: Path) -> Path | None:
    """The folder holding the `.guides` that `path` is in or names (Codio's workspace), or None."""
    path = Path(path).absolute()
    for folder in (path, *path.parents):
        if folder.name == ".guides":
            return folder.parent
        if (folder / ".guides").is_dir() and folder != Path(folder.anchor):
            return folder
    return None


def open_guide(path: Path | str) -> Guide:
    """The guide at `path` (see the module's docstring for what `path` may be)."""
    path = Path(path)
    if not path.exists():
        raise CourseError(f"there is no guide or page at {path}.",
                          hint="Give a guide's folder (the one holding .guides), its .guides or content folder, "
                               "or one page's .md file.")
    if path.is_file():
        return _one_page(path)
    workspace = find_workspace(path)
    guides = _guides_folder(path)
    if guides is not None:
        from .codio_older_format import is_older_guide, load_older_guide

        if is_older_guide(guides):
            title, items = load_older_guide(guides)
            return _checked(Guide(title, items, guides.parent, "older"), path)
    content = content_folder(path)
    index, order = read_index(content)
    items = index_items(content, index, order)
    lessons = any(isinstance(item, Chapter) and item.course for item in items)
    base = workspace or path.absolute()
    title = str(index.get("title") or ("Lessons" if lessons else humane_title(base.name)))
    return _checked(Guide(title, items, base, "lessons" if lessons else "newer"), path)


def _guides_folder(path: Path) -> Path | None:
    """The `.guides` folder a folder stands for: its own, itself, or the one its content folder is in."""
    if (path / ".guides").is_dir():
        return path / ".guides"
    if path.name == ".guides":
        return path
    if path.name == "content" and path.parent.name == ".guides":
        return path.parent
    return None


def _checked(guide: Guide, path: Path) -> Guide:
    if not guide.pages:
        raise CourseError(f"{path} is not a Codio guide: no guide pages found in it.",
                          hint="A guide has .guides/content with .md pages (and index.json or book.json saying "
                               "their order), or is a folder of chapter folders holding .md pages.")
    return guide


def _one_page(path: Path) -> Guide:
    """A single page as a guide of one page, titled as its guide titles it when it is in one."""
    if path.suffix == ".md":
        page = load_page(path)
    else:  # any file in the guide dialect, whatever its name (the seed page is a .txt)
        from .codio_pages import read_page_text

        page = parse_page(read_page_text(path), slug=path.stem)
        page.path = path
    workspace = find_workspace(path)
    if workspace is not None and not path.with_suffix(".json").is_file():
        try:
            whole = open_guide(workspace)
        except CourseError:
            whole = None
        same = [p for p in (whole.pages if whole else []) if p.path and p.path.resolve() == path.resolve()]
        if same:
            page.title = same[0].title
    return Guide(page.title, [page], workspace or path.absolute().parent, "page")


def guide_button(path: Path | str, page: str, button: str | int | None = None) -> tuple[Guide, str, TryIt]:
    """The guide at `path`, the number of its page `page`, and that page's `button`-th Try-it button
    (the first when None), or a CourseError saying what is there instead."""
    guide = open_guide(path)
    number, found = guide.find(str(page))
    buttons = found.try_its
    if not buttons:
        with_buttons = [e.number for e in guide.entries() if e.page is not None and e.page.try_its
                        and guide.number_of(e.page) == e.number]
        shown = ", ".join(with_buttons[:12]) + (", ..." if len(with_buttons) > 12 else "")
        raise CourseError(f"page {number} ({found.title}) has no Try-it button to run.",
                          hint=(f"the pages with buttons are {shown}." if with_buttons else
                                "no page of this guide has a Try-it button.")
                          + f" course show {shlex.quote(str(path))} lists them.")
    chosen = 1 if button is None else button
    if isinstance(chosen, str):
        if not chosen.strip().isdigit():
            raise CourseError(f"{chosen!r} is not a button number.",
                              hint=f"give 1 to {len(buttons)}: page {number}'s Try-it buttons, counted from the top.")
        chosen = int(chosen)
    if not 1 <= chosen <= len(buttons):
        many = f"{len(buttons)} Try-it button{'s' if len(buttons) != 1 else ''}"
        raise CourseError(f"page {number} ({found.title}) has {many}; there is no button {chosen}.",
                          hint=f"give 1 to {len(buttons)}, counted from the top of the page "
                               f"(course show {shlex.quote(str(path))} {number} shows them)." if len(buttons) > 1 else
                          f"leave the number out: course try {shlex.quote(str(path))} {number}")
    return guide, number, buttons[chosen - 1]
