"""Reading and copying what a learner handed in, whatever it holds, within bounds.

A submission is untrusted data before it is untrusted code: links (to the answer keys, to
`/dev/zero`), FIFOs and devices, tens of thousands of files, folders nested a thousand deep, names
that are not UTF-8. Here nothing follows a link, nothing but regular files and folders is read or
copied, and every walk and copy stops at a bound (files, bytes, depth, time) with the reason in
words, which becomes that learner's reason, never a crash of the class's grading.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

MAX_FILES = 10_000
MAX_BYTES = 64 * 1024 * 1024  # what a step's working copy may hold (its tmpfs)
MAX_DEPTH = 24
COPY_SECONDS = 20.0
SKIPPED = ("__pycache__", ".course", "images", ".git", ".venv", "venv", "node_modules", ".ipynb_checkpoints",
           "site-packages")
# A learner's hand-in never brings these: a lesson's pictures are made anew by its steps, and installed packages are
# not their work (and would fill the step's copy). A guide's own workspace does: its code tests load what the guide
# installed for them (jest in node_modules) and read its pictures. Virtual environments stay out even there: their
# interpreters are links, which are never copied, so a copy could not run (the box's `python` is the grader's own).
GUIDE_DEPENDENCIES = ("node_modules", "images")
GUIDE_WORKSPACE_SKIPPED = tuple(name for name in SKIPPED if name not in GUIDE_DEPENDENCIES)


class TooBig(Exception):
    """A submission past a bound: the message is the learner's reason."""


def readable(name: str) -> str:
    """A file or folder name as text that can be shown and stored: bytes that are not UTF-8 become '?'."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace").replace("\ufffd", "?")


@dataclass
class Entry:
    path: Path
    relative: str  # with '/' between parts, as the name was on disk (possibly with surrogates)
    size: int
    depth: int
    link: str = ""  # a link kept as a link (`links_within`): where it points, relative to its folder


def inner_link(relative: str, target: str, within: tuple[str, ...]) -> bool:
    """Whether a link at `relative` pointing to `target` stays inside the top folder it is in, one of `within`
    (`node_modules/.bin/jest` -> `../jest/bin/jest.js`): never an absolute target, never one that climbs out."""
    top = relative.split("/", 1)[0]
    if top not in within or target.startswith("/"):
        return False
    lands = os.path.normpath(os.path.join(os.path.dirname(relative), target))
    return lands.startswith(top + "/")


def walk(root: Path, *, max_files: int = MAX_FILES, max_depth: int = MAX_DEPTH, skipped: tuple[str, ...] = (),
         deadline: float | None = None, links_within: tuple[str, ...] = ()) -> list[Entry]:
    """The regular files under `root`, sorted, without following links or entering special files;
    folders deeper than `max_depth` are left out (no lesson needs them); raises TooBig past
    `max_files` or the deadline (time.monotonic()). A link inside one of the top folders `links_within` that
    points within that folder (`inner_link`) is listed too, as a link, never followed."""
    found: list[Entry] = []
    stack: list[tuple[Path, str, int]] = [(root, "", 0)]
    while stack:
        folder, prefix, depth = stack.pop()
        if deadline is not None and time.monotonic() > deadline:
            raise TooBig("reading the submission took too long (it holds too many files)")
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            relative = prefix + entry.name
            if stat.S_ISDIR(info.st_mode):
                if entry.name in skipped:
                    continue
                if depth + 1 > max_depth:
                    continue
                stack.append((Path(entry.path), relative + "/", depth + 1))
            elif stat.S_ISREG(info.st_mode) or (stat.S_ISLNK(info.st_mode) and links_within):
                target = os.readlink(entry.path) if stat.S_ISLNK(info.st_mode) else ""
                if stat.S_ISLNK(info.st_mode) and not inner_link(relative, target, links_within):
                    continue
                found.append(Entry(Path(entry.path), relative, 0 if target else info.st_size, depth, target))
                if len(found) > max_files:
                    raise TooBig(f"the submission holds more than {max_files:,} files")
    return sorted(found, key=lambda e: e.relative)


def _copy_file(source: Path, target: Path, budget: int) -> int:
    """Copy one regular file (checked again once open: it may have been swapped for a FIFO), at most
    `budget` bytes, executable if its owner could run it; returns the bytes copied."""
    fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return 0
        copied = 0
        out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            while chunk := os.read(fd, 1024 * 1024):
                copied += len(chunk)
                if copied > budget:
                    raise TooBig(f"the submission's folder holds more than {MAX_BYTES // 2**20} MB")
                view = memoryview(chunk)
                while view:
                    view = view[os.write(out, view):]
        finally:
            os.close(out)
        st = os.fstat(fd)
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
        if st.st_mode & 0o100:  # an executable stays one (`./run.sh`, node_modules' programs); no other bit is kept
            os.chmod(target, 0o755)
        return copied
    finally:
        os.close(fd)


def copy_tree(source: Path, target: Path, *, max_bytes: int = MAX_BYTES, max_files: int = MAX_FILES,
              seconds: float = COPY_SECONDS, skipped: tuple[str, ...] = SKIPPED,
              links_within: tuple[str, ...] = (), keep: bool = False, files: list[Entry] | None = None) -> int:
    """Copy `source`'s folders and regular files into `target` (which exists), within the bounds; returns
    the bytes copied. Links and special files are left out, but for links that stay inside one of the top folders
    `links_within` (a guide's own `node_modules/.bin`), made again as links; TooBig says which bound was passed.
    With `keep`, a name already in `target` stays as it is (what was copied there first wins). `files`: `source`'s
    files as `walk` listed them already with the same bounds (a guide's workspace, the same for every learner)."""
    deadline = time.monotonic() + seconds
    if files is None:
        files = walk(source, max_files=max_files, skipped=skipped, deadline=deadline, links_within=links_within)
    total = sum(e.size for e in files)
    if total > max_bytes:
        raise TooBig(f"the submission's folder holds {total // 2**20} MB, more than the {max_bytes // 2**20} MB a step may use")
    copied = 0
    made: set[Path] = set()
    for entry in files:
        if time.monotonic() > deadline:
            raise TooBig(f"copying the submission took more than {seconds:g} s")
        destination = target / entry.relative
        if destination.parent not in made:
            destination.parent.mkdir(parents=True, exist_ok=True)
            made.add(destination.parent)
        if keep and os.path.lexists(destination):
            continue
        if entry.link:
            try:
                os.symlink(entry.link, destination)
            except OSError:
                pass  # a name already there: left as it is
            continue
        try:
            copied += _copy_file(entry.path, destination, max_bytes - copied)
        except TooBig:
            raise
        except OSError:
            continue  # vanished or unreadable: left out, as a link would be
    return copied
