"""Codio's older guide format: `.guides/book.json`, `.guides/metadata.json` and flat `.guides/content/*.md`.

- `book.json` is the table of contents: a tree of `{"title", "pageId", "type": "chapter" | "page",
  "children": [...]}` nodes. It gives the order, the nesting and the titles.
- `metadata.json` has one entry per page in `"sections"`: its `"id"` (the tree's `pageId`), `"title"`,
  `"content-file"` (the page's Markdown, a path from the repository's root) and `"chapter": true` for a
  chapter's own page (the text shown when the chapter itself is opened).
- A guide without `book.json` lists its pages in `metadata.json`'s order alone; a `"chapter": true`
  section then starts a chapter holding the pages after it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import CourseError
from .codio_pages import Chapter, Page, read_guide_json, load_page

__all__ = ["is_older_guide", "load_older_guide"]


def is_older_guide(guides: Path) -> bool:
    """Is this `.guides` folder in the older format (a metadata.json listing sections)?"""
    return (guides / "metadata.json").is_file() and not (guides / "content" / "index.json").is_file()


def load_older_guide(guides: Path) -> tuple[str, list[Page | Chapter]]:
    """The guide's title and its top-level items (pages and chapters, nested as book.json nests them)."""
    root = guides.parent
    meta = read_guide_json(guides / "metadata.json")
    sections = meta.get("sections")
    if not isinstance(sections, list):
        raise CourseError(f'{guides / "metadata.json"} has no "sections" list',
                          hint='An older Codio guide lists its pages there: {"sections": [{"id", "title", '
                               '"content-file"}, ...]}.')
    by_id = {str(s.get("id")): s for s in sections if isinstance(s, dict) and s.get("id")}
    book_path = guides / "book.json"
    if book_path.is_file():
        book = read_guide_json(book_path)
        items = _tree(book.get("children") or [], by_id, root, book_path)
        title = str(book.get("name") or root.name)
    else:
        items = _flat([s for s in sections if isinstance(s, dict)], root)
        title = root.name
    return (title.replace("_", " ") if " " not in title else title), items


def _page(section: dict[str, Any], root: Path, title: str | None = None) -> Page:
    file = section.get("content-file")
    if not isinstance(file, str) or not file:
        raise CourseError(f"the guide's section {section.get('title') or section.get('id')!r} names no "
                          '"content-file"', hint="Each section in .guides/metadata.json needs the path of its .md page.")
    path = root / file
    if not path.is_file():
        raise CourseError(f"the guide's section {section.get('title') or section.get('id')!r} names "
                          f"{file}, which is not there", hint=f"Add the page at {path}, or fix .guides/metadata.json.")
    page = load_page(path)
    page.title = str(title or section.get("title") or page.title)
    return page


def _tree(nodes: list[Any], by_id: dict[str, dict[str, Any]], root: Path, book: Path) -> list[Page | Chapter]:
    items: list[Page | Chapter] = []
    for node in nodes:
        if not isinstance(node, dict):
            continue
        key = str(node.get("pageId") or node.get("id") or "")
        section = by_id.get(key)
        children = node.get("children") or []
        title = str(node.get("title") or (section or {}).get("title") or "")
        if section is None and not children:
            continue  # an entry with no page behind it and nothing under it: Codio shows nothing there either
        if node.get("type") == "chapter" or children or (section or {}).get("chapter"):
            own = _page(section, root, title) if section is not None else None  # a heading alone, or a page too
            inner = _tree(children, by_id, root, book)
            pages = ([own] if own else []) + [p for item in inner
                                              for p in (item.pages if isinstance(item, Chapter) else [item])]
            items.append(Chapter(title=title, slug=own.slug if own else key, pages=pages,
                                 path=own.path if own else None, items=inner, page=own))
        else:
            assert section is not None
            items.append(_page(section, root, title))
    return items


def _flat(sections: list[dict[str, Any]], root: Path) -> list[Page | Chapter]:
    items: list[Page | Chapter] = []
    chapter: Chapter | None = None
    for section in sections:
        page = _page(section, root)
        if section.get("chapter"):
            chapter = Chapter(title=page.title, slug=page.slug, pages=[page], path=page.path, items=[], page=page)
            items.append(chapter)
        elif chapter is not None:
            chapter.pages.append(page)
            assert chapter.items is not None
            chapter.items.append(page)
        else:
            items.append(page)
    return items
