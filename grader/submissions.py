"""Loading a class's submissions: a folder of learner folders, or a zip of one.

A learner folder's name is the learner id. Zips are unpacked with the usual guards: no absolute
paths or `..`, no links, and a cap on the total size, so a hostile zip cannot write outside the
grading folder or fill the disk.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from course.errors import CourseError

MAX_ZIP_BYTES = 200 * 1024 * 1024
IGNORED = {"__pycache__", ".course", "images", ".DS_Store", "__MACOSX"}


@dataclass
class Submission:
    learner: str
    path: Path

    def files(self) -> list[Path]:
        return sorted(p for p in self.path.rglob("*") if p.is_file() and not p.is_symlink()
                      and not (set(p.relative_to(self.path).parts) & IGNORED))

    def content_hash(self) -> str:
        digest = hashlib.sha256()
        for path in self.files():
            digest.update(str(path.relative_to(self.path)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
        return digest.hexdigest()


@dataclass
class LessonScript:
    """What runs as a lesson's script: the file handed in (`text` None), or one made from a notebook."""

    origin: str  # the file it comes from: imageGen.py or imageGen.ipynb
    text: str | None = None
    problem: str = ""  # why nothing can run (a notebook that cannot be read)

    @property
    def from_notebook(self) -> bool:
        return self.origin.endswith(".ipynb")


def lesson_script(folder: Path, script: str, template: str) -> LessonScript:
    """The script to grade for one lesson: `imageGen.py`, or `imageGen.ipynb` turned into that script.

    The notebook counts when there is no script, or when the script is still the untouched exercise
    (`template`, a learner who works in Jupyter hands in both). Links are never followed.
    """
    from course.notebooks import read_notebook, script_from_notebook

    py, nb = folder / script, folder / (Path(script).stem + ".ipynb")
    if not nb.is_file() or nb.is_symlink():
        return LessonScript(script)
    if py.is_file() and not py.is_symlink():
        try:
            if py.read_bytes() != template.encode("utf-8"):
                return LessonScript(script)
        except OSError:
            return LessonScript(script)
    try:
        return LessonScript(nb.name, script_from_notebook(read_notebook(nb), template, name=nb.name))
    except CourseError as exc:
        return LessonScript(nb.name, problem=str(exc))
    except Exception as exc:  # noqa: BLE001 - a hostile notebook must not stop the class's grading
        return LessonScript(nb.name, problem=f"{nb.name} could not be turned into {script} ({type(exc).__name__})")


def extract_zip(archive: Path, into: Path, limit: int = MAX_ZIP_BYTES) -> None:
    """Unpack with the usual guards: no absolute paths or `..`, no links, at most `limit` bytes."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError):
        raise CourseError(f"{archive} is not a zip file (or it is damaged).") from None
    with zf:
        total = 0
        for info in zf.infolist():
            name = Path(info.filename)
            if name.is_absolute() or ".." in name.parts:
                raise CourseError(f"{archive}: the entry {info.filename!r} points outside the archive; refusing it.")
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                raise CourseError(f"{archive}: the entry {info.filename!r} is a symbolic link; refusing it.")
            total += info.file_size
            if total > limit:
                raise CourseError(f"{archive} unpacks to more than {limit // 2**20} MB; refusing it.")
        try:
            zf.extractall(into)
        except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError) as exc:
            raise CourseError(f"{archive} could not be unpacked ({exc}).") from None


def unpack_zip(archive: Path, into: Path) -> Path:
    """Unpack a class's zip safely; return the folder that holds the learner folders."""
    extract_zip(archive, into)
    entries = [p for p in into.iterdir() if p.name not in IGNORED]
    # A zip of the folder itself holds one top folder whose children are the learners.
    # (stray files beside the learner folders, a README say, do not change that)
    if len(entries) == 1 and entries[0].is_dir() and any(p.is_dir() for p in entries[0].iterdir() if p.name not in IGNORED):
        return entries[0]
    return into


def load_submissions(root: Path) -> list[Submission]:
    if not root.exists():
        raise CourseError(f"{root}: no such folder or zip.")
    if not root.is_dir():
        raise CourseError(f"{root} is neither a folder of learner folders nor a zip.")
    found = [Submission(p.name, p) for p in sorted(root.iterdir()) if p.is_dir() and p.name not in IGNORED
             and not p.name.startswith(".")]
    if not found:
        raise CourseError(f"{root} holds no learner folders.", hint="put one folder per learner in it, named by learner id.")
    return found
