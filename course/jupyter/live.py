"""A Try-it run as it happens: what the step prints and the pictures it gets, shown in the cell as they come.

- `Arrivals`: the pictures a step got, in the order they came: from the SDK (a response's base64, each event
  of a stream, partial pictures included) and the files the step wrote beside the notebook.
- `watch_sdk_pictures()`: notes the SDK's base64 pictures during a step (judging never uses this).
- `LiveOutput`: a step's printed text and pictures sent to the cell while it runs, a few times a second
  at most, from a thread of its own (the step keeps the kernel's main thread), so that a line printed
  before a long wait shows at once.
- `html_text()`: text as HTML, with each web address a link that opens in a new tab.

Nothing here imports ipywidgets: the views are plain objects with `_repr_html_`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import io
import re
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

MAX_PICTURE = 48 * 1024 * 1024  # a file bigger than this is not read to be shown
URL = re.compile(r"https?://[^\s<>\"'`]+")
TRAILING = ".,;:!?)]}"


def html_text(text: str) -> str:
    """`text` escaped for HTML, each http(s) address in it a link (opened in a new tab); a full stop or a
    closing bracket right after an address is not part of it."""
    out: list[str] = []
    last = 0
    for match in URL.finditer(text):
        url = match.group(0).rstrip(TRAILING)
        end = match.start() + len(url)
        out.append(html.escape(text[last:match.start()]))
        out.append(f"<a href='{html.escape(url, quote=True)}' target='_blank' rel='noopener noreferrer'>"
                   f"{html.escape(url)}</a>")
        last = end
    out.append(html.escape(text[last:]))
    return "".join(out)


class Arrivals:
    """Pictures in the order they arrived. One picture is one entry, whichever way it came: the file a step
    wrote from the base64 it got takes that entry's place (and its name); a file written again replaces
    its own entry."""

    def __init__(self, folder: Path | None = None, before: dict[str, int] | None = None) -> None:
        self.folder, self.before = folder, dict(before or {})
        self._entries: list[list[Any]] = []  # [name, data, digest]
        self._files: dict[str, list[Any]] = {}  # a file's name → its entry
        self._seen: dict[str, int] = {}  # a file's name → the time it was written when last read
        self._lock = threading.Lock()
        self.version = 0

    def add(self, data: bytes, name: str) -> None:
        """A picture the SDK handed back."""
        digest = hashlib.sha256(data).hexdigest()
        with self._lock:
            if any(entry[2] == digest for entry in self._entries):
                return
            self._entries.append([name, data, digest])
            self.version += 1

    def look(self) -> None:
        """Take in the pictures the step wrote in its folder since it started (new or rewritten), oldest first."""
        if self.folder is None:
            return
        for path, written in self._written():
            with contextlib.suppress(OSError):
                if path.stat().st_size <= MAX_PICTURE:
                    self._file(path.name, path.read_bytes(), written)

    def _written(self) -> list[tuple[Path, int]]:
        from ..lesson.judging import pictures_in

        found = [(name, written) for name, written in pictures_in(self.folder).items()
                 if self.before.get(name) != written and self._seen.get(name) != written]
        return [(self.folder / name, written) for name, written in sorted(found, key=lambda item: (item[1], item[0]))]

    def _file(self, name: str, data: bytes, written: int) -> None:
        digest = hashlib.sha256(data).hexdigest()
        with self._lock:
            self._seen[name] = written
            own = self._files.get(name)
            twin = next((e for e in self._entries if e[2] == digest and e is not own
                         and all(e is not f for f in self._files.values())), None)
            if twin is not None:  # the picture the SDK handed back, now saved: it keeps its place
                if own is not None:
                    self._entries.remove(own)
                own = twin
            elif own is None:
                own = []
                self._entries.append(own)
            own[:] = [name, data, digest]
            self._files[name] = own
            self.version += 1

    def pictures(self) -> list[tuple[str, bytes]]:
        with self._lock:
            return [(name, data) for name, data, _ in self._entries]


def _events(iterator: Iterator[Any], found: Callable[[bytes, str], None]) -> Iterator[Any]:
    """A stream's events, each picture in it noted as it comes (partial pictures first, then the finished one)."""
    for event in iterator:
        with contextlib.suppress(Exception):
            data = getattr(event, "b64_json", None)
            if data:
                index = getattr(event, "partial_image_index", None)
                kind = str(getattr(event, "type", ""))
                name = f"partial picture {index}" if "partial" in kind and index is not None else "streamed picture"
                found(base64.b64decode(data), name)
        yield event


def _noted(response: Any, found: Callable[[bytes, str], None]) -> None:
    """Note the pictures of a response now, or of a stream as its events come."""
    iterator = getattr(response, "_iterator", None)
    if iterator is not None and hasattr(response, "__stream__"):
        response._iterator = _events(iterator, found)
        return
    for item in getattr(response, "data", None) or []:
        if getattr(item, "b64_json", None):
            found(base64.b64decode(item.b64_json), "base64 picture")


@contextlib.contextmanager
def watch_sdk_pictures(found: Callable[[bytes, str], None]) -> Iterator[None]:
    """While the step runs, hand each base64 picture the SDK gets to `found(data, name)`."""
    try:
        from openai.resources.images import Images
    except Exception:
        yield
        return
    originals = {name: getattr(Images, name) for name in ("generate", "edit", "create_variation") if hasattr(Images, name)}

    def wrap(method: Callable[..., Any]) -> Callable[..., Any]:
        def watched(self: Any, *args: Any, **kwargs: Any) -> Any:
            response = method(self, *args, **kwargs)
            with contextlib.suppress(Exception):
                _noted(response, found)
            return response

        watched.__wrapped__ = method  # type: ignore[attr-defined]
        return watched

    for name, method in originals.items():
        setattr(Images, name, wrap(method))
    try:
        yield
    finally:
        for name, method in originals.items():
            setattr(Images, name, method)


class Printed(io.StringIO):
    """A step's stdout or stderr: keeps the first `limit` characters for judging, counts the rest, and tells
    `seen` of every write (the live view)."""

    def __init__(self, limit: int, seen: Callable[[str], None] | None = None) -> None:
        super().__init__()
        self.limit, self.seen = limit, seen
        self.dropped = 0

    def write(self, s: str) -> int:
        if self.seen is not None:
            self.seen(s)
        room = self.limit - self.tell()
        if room <= 0:
            self.dropped += len(s)
            return len(s)
        if len(s) > room:
            self.dropped += len(s) - room
        return super().write(s[:room])


class LiveOutput:
    """What a running step has printed and the pictures it got, shown by `show(view)` as they come: from a
    thread of its own, every `interval` seconds when something changed."""

    def __init__(self, show: Callable[[Any], None], view: Callable[[str, list[tuple[str, bytes]]], Any],
                 arrivals: Arrivals, *, interval: float = 0.1, max_text: int = 64 * 1024) -> None:
        self.show, self.view, self.arrivals = show, view, arrivals
        self.interval, self.max_text = interval, max_text
        self._text: list[str] = []
        self._size = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sent: tuple[int, int] = (-1, -1)

    def printed(self, text: str) -> None:
        with self._lock:
            if self._size < self.max_text:
                self._text.append(text[: self.max_text - self._size])
                self._size += len(self._text[-1])

    def __enter__(self) -> "LiveOutput":
        self._send()
        self._thread = threading.Thread(target=self._pump, name="course-try-it-live", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _pump(self) -> None:
        while not self._stop.wait(self.interval):
            with contextlib.suppress(Exception):
                self.arrivals.look()
                self._send()

    def _send(self) -> None:
        with self._lock:
            text, size = "".join(self._text), self._size
        state = (size, self.arrivals.version)
        if state == self._sent:
            return
        self._sent = state
        with contextlib.suppress(Exception):
            self.show(self.view(text, self.arrivals.pictures()))
