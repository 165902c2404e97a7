"""Loading a class's submissions: a folder of learner folders, or a zip of one.

A learner folder's name is the learner id (a name that is not UTF-8 is shown with '?' and a short
hash, so it can be stored and printed). Zips are unpacked entry by entry with the usual guards: no
absolute paths or `..`, no links, a cap on the total size checked while unpacking (an entry that
lies about its size is cut off and left out), so a hostile zip can neither write outside the
grading folder, fill the disk, nor stop the class: a bad entry is left out and said.
"""

from __future__ import annotations

import hashlib
import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from course.errors import CourseError

from .box.copying import TooBig, readable, walk

MAX_ZIP_BYTES = 200 * 1024 * 1024
MAX_ZIP_ENTRIES = 50_000
IGNORED = {"__pycache__", ".course", "images", ".DS_Store", "__MACOSX"}
HASHED_FILES = 50_000
HASHED_BYTES_PER_FILE = 64 * 1024 * 1024


@dataclass
class Submission:
    learner: str
    path: Path

    def content_hash(self) -> str:
        """Changes whenever what the learner handed in changes (names and contents; links and special
        files are not part of a submission). Bounded: a huge hand-in hashes its listing and file heads."""
        digest = hashlib.sha256()
        try:
            files = walk(self.path, max_files=HASHED_FILES, skipped=tuple(IGNORED))
        except TooBig as exc:
            digest.update(f"too big: {exc}".encode())
            files = []
        for entry in files:
            digest.update(os.fsencode(entry.relative) + b"\0" + str(entry.size).encode() + b"\0")
            try:
                with open(entry.path, "rb") as f:
                    digest.update(f.read(HASHED_BYTES_PER_FILE))
            except OSError:
                continue
        return digest.hexdigest()


def extract_zip(archive: Path, into: Path, limit: int = MAX_ZIP_BYTES) -> list[str]:
    """Unpack with the guards above; returns what was left out (entries that lie about their size or are
    damaged), in words. Raises CourseError when the archive itself cannot be taken (not a zip, a path
    outside it, a link, past the limit)."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError):
        raise CourseError(f"{archive.name} is not a zip file (or it is damaged).") from None
    left_out: list[str] = []
    with zf:
        entries = zf.infolist()
        if len(entries) > MAX_ZIP_ENTRIES:
            raise CourseError(f"{archive.name} holds more than {MAX_ZIP_ENTRIES:,} entries; refusing it.")
        for info in entries:
            name = Path(info.filename)
            if name.is_absolute() or ".." in name.parts:
                raise CourseError(f"{archive.name}: the entry {info.filename!r} points outside the archive; refusing it.")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise CourseError(f"{archive.name}: the entry {info.filename!r} is a symbolic link; refusing it.")
        written = 0
        for info in entries:
            target = into / info.filename
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(info) as source, open(target, "wb") as out:
                    while chunk := source.read(1024 * 1024):  # counted as it comes, not as the entry claims
                        written += len(chunk)
                        if written > limit:
                            raise CourseError(f"{archive.name} unpacks to more than {limit // 2**20} MB; refusing it.")
                        out.write(chunk)
            except CourseError:
                raise
            except (zipfile.BadZipFile, zipfile.LargeZipFile, RuntimeError, NotImplementedError, OSError, EOFError,
                    ValueError) as exc:
                target.unlink(missing_ok=True)
                left_out.append(f"{readable(info.filename)} ({exc})")
    return left_out


def unpack_zip(archive: Path, into: Path) -> tuple[Path, list[str]]:
    """Unpack a class's zip safely; return the folder that holds the learner folders, and what was left out."""
    left_out = extract_zip(archive, into)
    entries = [p for p in into.iterdir() if p.name not in IGNORED]
    # A zip of the folder itself holds one top folder whose children are the learners.
    # (stray files beside the learner folders, a README say, do not change that)
    if len(entries) == 1 and entries[0].is_dir() and any(p.is_dir() for p in entries[0].iterdir() if p.name not in IGNORED):
        return entries[0], left_out
    return into, left_out


def learner_id(name: str) -> str:
    """A folder's name as a learner id: itself, or, when it is not UTF-8, shown with '?' and a short hash
    of its bytes (two such names never become one id)."""
    shown = readable(name)
    if shown == name:
        return name
    return f"{shown}-{hashlib.sha256(os.fsencode(name)).hexdigest()[:6]}"


def load_submissions(root: Path) -> list[Submission]:
    if not root.exists():
        raise CourseError(f"{root}: no such folder or zip.")
    if not root.is_dir():
        raise CourseError(f"{root} is neither a folder of learner folders nor a zip.")
    found = []
    with os.scandir(root) as listing:
        entries = sorted(listing, key=lambda e: e.name)
    for entry in entries:
        try:
            is_folder = entry.is_dir(follow_symlinks=False)
        except OSError:
            continue
        if is_folder and entry.name not in IGNORED and not entry.name.startswith("."):
            found.append(Submission(learner_id(entry.name), Path(entry.path)))
    if not found:
        raise CourseError(f"{root} holds no learner folders.", hint="put one folder per learner in it, named by learner id.")
    return found
