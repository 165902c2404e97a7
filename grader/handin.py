"""What a learner handed in: which file is each lesson's work, which answers.json counts, what else is there.

Learners do not always hand in `imageGen.py` at the top of their folder. The rules, in order:

1. **Where**: the learner's folder and up to three folders below it (`lesson1/`, `Downloads/course/`),
   never through a link, never in hidden folders, caches or virtual environments.
2. **What counts as the lesson's file**: a name that is the script's name once case, spaces,
   `_`/`-` and a copy mark are set aside: `imageGen.py`, `ImageGen.py`, `imagegen.py`,
   `image_gen.py`, `imageGen (1).py`, `imageGen copy.py`, `imageGen-Copy1.ipynb`, and
   `imageGen.py.txt` (an editor that added `.txt`). The notebook `imageGen.ipynb` counts as well
   and is graded as it runs in Jupyter (see `course.jupyter.notebooks.notebook_script`), and so does a
   notebook `course notebook` made under any name ("Lesson 1 - Isabel.ipynb"): its own metadata
   says which lesson it is. `imageGen2.py` is lesson 2's, never a copy of lesson 1's.
3. **When several compete**, the first of: work over an untouched exercise (every step still
   `todo()`); the shallower folder; the exact name, then another spelling, then a copy; a script over
   a notebook; the newest file; the path in alphabetical order. The feedback names the file graded
   and the ones passed over.
4. **Answers**: `answers.json` beside the lesson's file first, then the shallowest one elsewhere.
5. **Zips**: a zip the learner handed in (a whole folder zipped, as LMS downloads often keep them)
   is unpacked, with the usual guards, and searched as a folder one level down.

A lesson with no such file is "not handed in" when the folder holds nothing that could be it, and
"handed in but not found" when it holds files that might be (another name, another place): the
feedback then lists what the folder holds, and the summary lists those learners by name.

Everything here runs in the grader's own process, outside any box, so it reads within bounds: a
folder past `MAX_SUBMISSION_FILES` or `MAX_SUBMISSION_BYTES` is not searched at all (every lesson of
it fails with the reason, on one machine as on a cluster, whose workers are sent no more), and a
lesson's code past `MAX_SOURCE_BYTES` is never parsed (the lesson fails with the reason).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from course.jupyter.notebooks import MAX_NOTEBOOK_BYTES
from course.lesson.checks import MAX_SOURCE_BYTES, code_facts, too_much_code
from course.lesson.lessons import Lesson

from .box import copying
from .box.copying import Entry, TooBig, readable

MAX_DEPTH = 3  # folders below the learner's own
# A learner's whole folder: every file some stage of grading may read (this search, a step's copy of
# a folder three down, .course/attempts.json). Far past any lesson's needs; the same bound on one
# machine and on a cluster, which sends a worker no more.
MAX_SUBMISSION_FILES = 20_000
MAX_SUBMISSION_BYTES = 200 * 1024 * 1024  # as a class's zip may hold
SUBMISSION_DEPTH = MAX_DEPTH + copying.MAX_DEPTH
SUBMISSION_SKIPPED = tuple(name for name in copying.SKIPPED if name != ".course")  # its attempts.json counts
SUBMISSION_SECONDS = 60.0
MAX_KEY_SCAN = 1_000_000  # bytes of a file searched for an API key
MAX_LISTED = 40  # files a "what the folder holds" line names
MAX_INNER_ZIP = 50 * 1024 * 1024  # what a zip inside a submission may unpack to
MAX_INNER_ZIPS = 5
SKIPPED_DIRS = {"__pycache__", "__MACOSX", ".ipynb_checkpoints", "node_modules", "site-packages", "venv", "env",
                ".venv", "images", ".course", ".git"}
COPY_MARKS = [re.compile(p, re.I) for p in (
    r"\s*\(\d+\)$",  # imageGen (1): a second download
    r"[\s_-]*-?\s*copy(\s*\(?\d+\)?)?$",  # imageGen copy, imageGen - Copy, imageGen-Copy1 (Jupyter), imageGen_copy2
    r"\s+\d+$",  # imageGen 2: macOS's "keep both"
)]
NOT_FOUND, NOT_HANDED_IN, FOUND = "not found", "not handed in", "found"
LOOKS_LIKE_WORK = re.compile(rb"def\s+step\d+\s*\(|run_steps\s*\(")  # a lesson script's shape, not scratch code
KEY = re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}")


@dataclass
class Candidate:
    path: Path  # absolute
    relative: str  # as the learner sees it, from their folder
    depth: int
    name_rank: int  # 0 exact, 1 other case, 2 other spelling, 3 a copy, 4 .py.txt, 5 a course notebook renamed
    notebook: bool
    untouched: bool = False
    mtime: float = 0.0

    def order(self) -> tuple[Any, ...]:
        return (self.untouched, self.depth, self.name_rank, self.notebook, -self.mtime, self.relative)


@dataclass
class Found:
    """One lesson's work in a submission: the file graded, and how it was chosen."""

    lesson: Lesson
    status: str  # FOUND, NOT_HANDED_IN or NOT_FOUND
    chosen: Candidate | None = None
    passed_over: list[str] = field(default_factory=list)
    script: bytes | None = None  # what runs as the lesson's script (None: nothing to run)
    problem: str = ""  # why the chosen file cannot run at all (an unreadable notebook)
    source: str = ""  # the learner's code as text, for the checks that read code (a notebook's cells)

    @property
    def folder(self) -> Path | None:
        """The folder copied into each step's box: the one the learner's file sits in."""
        return self.chosen.path.parent if self.chosen else None

    @property
    def origin(self) -> str:
        return self.chosen.relative if self.chosen else self.lesson.script

    def note(self) -> str:
        """What the feedback says about the file graded, when it is not simply `imageGen.py`."""
        if self.chosen is None:
            return f"lesson {self.lesson.number}: {self.problem}" if self.status == FOUND and self.problem else ""
        parts = []
        if self.chosen.notebook:
            parts.append(f"lesson {self.lesson.number}: graded the notebook {self.chosen.relative} "
                         "(as it runs in Jupyter, top to bottom)")
        elif self.chosen.relative != self.lesson.script:
            parts.append(f"lesson {self.lesson.number}: graded {self.chosen.relative} as {self.lesson.script}")
        if self.passed_over:
            parts.append(f"passed over {', '.join(self.passed_over)} (rule: work over an untouched exercise, then the "
                         "shallower folder, the exact name, a script over a notebook, the newest)")
        return "; ".join(parts)


@dataclass
class Handin:
    """Everything the grader needs to know about one learner's folder before running anything."""

    lessons: dict[int, Found]
    holds: list[str]  # every file, relative, for "what the folder holds"
    answers: list[Path]  # answers.json files, best first for each lesson (see `answers_for`)
    key_warning: str = ""

    def holds_line(self) -> str:
        if not self.holds:
            return "the folder is empty"
        shown = ", ".join(self.holds[:MAX_LISTED])
        more = f" and {len(self.holds) - MAX_LISTED} more" if len(self.holds) > MAX_LISTED else ""
        return f"the folder holds {shown}{more}"

    def answers_for(self, lesson: Lesson) -> list[Path]:
        """answers.json files for one lesson's questions: beside its file first, then the rest in order."""
        found = self.lessons.get(lesson.number)
        beside = found.folder if found and found.folder else None
        return sorted(self.answers, key=lambda p: (p.parent != beside,))


def normalise(stem: str) -> tuple[str, bool]:
    """A file stem without case, separators and copy marks; and whether a copy mark was removed."""
    copied = False
    for mark in COPY_MARKS:
        stripped = mark.sub("", stem)
        if stripped != stem and stripped:
            stem, copied = stripped, True
            break
    return re.sub(r"[\s_.-]+", "", stem).lower(), copied


def _name_rank(name: str, script: str) -> tuple[int, bool] | None:
    """(rank, notebook) when `name` is one of the spellings of the lesson script `script`, else None."""
    target_stem = Path(script).stem
    lowered = name.lower()
    if lowered.endswith(".py.txt"):
        stem, kind = name[: -len(".py.txt")], "txt"
    elif lowered.endswith(".py"):
        stem, kind = name[:-3], "py"
    elif lowered.endswith(".ipynb"):
        stem, kind = name[:-6], "ipynb"
    else:
        return None
    key, copied = normalise(stem)
    if key != normalise(target_stem)[0]:
        return None
    if kind == "txt":
        return 4, False
    if copied:
        rank = 3
    elif stem == target_stem:
        rank = 0
    elif stem.lower() == target_stem.lower():
        rank = 1
    else:
        rank = 2
    return rank, kind == "ipynb"


def walk(folder: Path, max_depth: int = MAX_DEPTH) -> list[tuple[Path, int]]:
    """Every regular file under `folder` to `max_depth` folders down: never through links, never into
    hidden folders, caches or virtual environments. (path, depth), sorted."""
    found: list[tuple[Path, int]] = []

    def visit(current: Path, depth: int) -> None:
        try:
            with os.scandir(current) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            try:
                if entry.is_symlink():
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if depth < max_depth and entry.name not in SKIPPED_DIRS and not entry.name.startswith("."):
                        visit(Path(entry.path), depth + 1)
                elif entry.is_file(follow_symlinks=False):
                    found.append((Path(entry.path), depth))
            except OSError:
                continue

    visit(folder, 0)
    return found


def _untouched(data: bytes, notebook: bool) -> bool:
    """Every step still as the exercise has it (`todo()`): nothing of the learner's to grade. Code too large
    to parse is the learner's (an exercise is a few KB), to be graded as it is."""
    try:
        if notebook:
            from course.jupyter.notebooks import code_cells_text

            text = code_cells_text(data)
        else:
            text = data.decode("utf-8-sig", "replace")  # as `_script_of` decodes it: the checks reuse this parse
    except Exception:  # noqa: BLE001 - unreadable or broken: it is the learner's, to be graded as it is
        return False
    steps = [facts for name, facts in code_facts(text).items() if re.fullmatch(r"step\d+", name)]
    return bool(steps) and all("todo" in facts.calls for facts in steps)


def _course_mark(path: Path) -> tuple[int, str] | None:
    """(lesson, script) a notebook made by `course notebook` carries in its metadata, whatever its name.
    A notebook too large to be read as a lesson's is not parsed for it."""
    import json

    try:
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            return None
        data = json.loads(path.read_bytes().decode("utf-8-sig"))
        mark = data["metadata"]["course"]
        return int(mark["lesson"]), str(mark.get("script", ""))
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None


def _candidates(files: list[tuple[Path, int]], shown: dict[Path, str], lesson: Lesson,
                marks: dict[Path, tuple[int, str] | None]) -> list[Candidate]:
    out = []
    for path, depth in files:
        ranked = _name_rank(path.name, lesson.script)
        if ranked is None and (marks.get(path) or (0, ""))[0] == lesson.number:
            ranked = 5, True  # a course notebook renamed ("Lesson 1 - Isabel.ipynb"): its own marks say which lesson
        if ranked is None:
            continue
        try:
            info = path.stat()
            # Read only what could be parsed: a file past these bounds is the learner's, never an untouched exercise.
            limit = MAX_NOTEBOOK_BYTES if ranked[1] else MAX_SOURCE_BYTES
            data = None if info.st_size > limit else _read_at_most(path, limit)
        except OSError:
            continue
        rank, notebook = ranked
        untouched = data is not None and _untouched(data, notebook)
        out.append(Candidate(path, shown[path], depth, rank, notebook, untouched, info.st_mtime))
    return sorted(out, key=Candidate.order)


def _read_at_most(path: Path, limit: int) -> bytes | None:
    """The file's bytes, or None when it holds more than `limit` (never reading more than that)."""
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    return data if len(data) <= limit else None


def _script_of(candidate: Candidate, lesson: Lesson) -> tuple[bytes | None, str, str]:
    """(the bytes that run as the lesson script, why there are none, the code as text for the checks
    that read code)."""
    from course.errors import CourseError

    if not candidate.notebook:
        try:
            size = candidate.path.stat().st_size
            data = None if size > MAX_SOURCE_BYTES else _read_at_most(candidate.path, MAX_SOURCE_BYTES)
        except OSError as exc:
            return None, f"{candidate.relative} can't be read ({exc.strerror})", ""
        if data is None:  # never parsed, nor run: the learner is told why
            return None, too_much_code(max(size, MAX_SOURCE_BYTES + 1), candidate.relative), ""
        return data, "", data.decode("utf-8-sig", "replace")
    from course.jupyter.notebooks import graded_notebook, read_notebook

    try:
        steps = [int(s["number"]) for s in lesson.steps]
        notebook = read_notebook(candidate.path)
        script, code = graded_notebook(notebook, steps, name=candidate.path.name, shown=candidate.relative)
        return script.encode("utf-8"), "", code
    except CourseError as exc:
        return None, str(exc), ""
    except Exception as exc:  # noqa: BLE001 - a hostile notebook must not stop the class's grading
        return None, f"{candidate.relative} could not be turned into {lesson.script} ({type(exc).__name__})", ""


def _key_warning(scripts: list[Candidate], files: list[tuple[Path, int]], shown: dict[Path, str]) -> str:
    """A real-looking API key in what was handed in: the learner must revoke it."""
    places = []
    for path in [c.path for c in scripts] + [p for p, _ in files if p.name.lower() in (".env", "env", "key.txt", "keys.txt")]:
        try:
            with open(path, "rb") as f:
                text = f.read(MAX_KEY_SCAN).decode("utf-8", "replace")
        except OSError:
            continue
        match = KEY.search(text)
        if match and shown[path] not in places:
            places.append(shown[path])
    if not places:
        return ""
    return (f"{' and '.join(places)} hold{'s' if len(places) == 1 else ''} what looks like an API key. Never hand in a "
            "key: anyone who reads it can spend on your account. Revoke it on the OpenAI dashboard and read it "
            "from the OPENAI_API_KEY environment variable instead.")


def _unpacked(files: list[tuple[Path, int]], root: Path, scratch: Path | None) -> list[tuple[Path, int, str]]:
    """The files of the zips a learner handed in, unpacked under `scratch`: (path, depth, shown as);
    each zip unpacked is listed too, with depth -1, so that it is not taken for unfound work."""
    from course.errors import CourseError

    from .submissions import extract_zip

    out: list[tuple[Path, int, str]] = []
    if scratch is None:
        return out
    zips = [(p, d) for p, d in files if p.suffix.lower() == ".zip"][:MAX_INNER_ZIPS]
    for index, (archive, depth) in enumerate(zips):
        into = scratch / f"zip{index}"
        try:
            into.mkdir(parents=True)
            extract_zip(archive, into, MAX_INNER_ZIP)  # a damaged entry is left out; the rest is searched
        except (CourseError, OSError):
            continue
        shown = readable(archive.relative_to(root).as_posix())
        out.append((archive, -1, shown))
        out += [(p, depth + 1 + d, readable(f"{shown}/{p.relative_to(into).as_posix()}")) for p, d in walk(into)]
    return out


def submission_files(folder: Path) -> list[Entry]:
    """Every file of a learner's folder that a stage of grading may read, listed within the bounds (files
    and time); TooBig, with the reason in the learner's words, past them. A cluster sends a worker these."""
    return copying.walk(folder, max_files=MAX_SUBMISSION_FILES, max_depth=SUBMISSION_DEPTH, skipped=SUBMISSION_SKIPPED,
                        deadline=time.monotonic() + SUBMISSION_SECONDS)


def check_submission(folder: Path) -> None:
    """TooBig, with the reason, when a learner's folder is past the bounds of a submission."""
    total = sum(entry.size for entry in submission_files(folder))
    if total > MAX_SUBMISSION_BYTES:
        raise TooBig(f"the submission holds {total // 2**20} MB, more than the {MAX_SUBMISSION_BYTES // 2**20} MB "
                     "a submission may hold")


def _too_big(lessons: list[Lesson], why: str) -> Handin:
    """A folder past the bounds: not searched; each lesson fails with the reason, and nothing of it runs."""
    problem = f"{why}, too many to grade: hand in the lesson's files without the rest"
    return Handin({lesson.number: Found(lesson, FOUND, problem=problem) for lesson in lessons}, [], [])


def find_work(root: Path, lessons: list[Lesson], scratch: Path | None = None) -> Handin:
    """Apply the rules above to one learner's folder, for the lessons being graded. Zips in the folder
    are unpacked into `scratch` (which must outlive the grading of this learner); without it, they are not."""
    try:
        check_submission(root)
    except TooBig as exc:
        return _too_big(lessons, str(exc))
    files = walk(root)
    holds = [readable(p.relative_to(root).as_posix()) for p, _ in files if not _junk(p.name)]
    shown = {p: readable(p.relative_to(root).as_posix()) for p, _ in files}
    unpacked: set[Path] = set()
    for path, depth, name in _unpacked(files, root, scratch):
        if depth < 0:
            unpacked.add(path)
            continue
        files.append((path, depth))
        shown[path] = name
    result: dict[int, Found] = {}
    chosen_all: list[Candidate] = []
    claimed: set[Path] = set()
    marks = {path: _course_mark(path) for path, _ in files if path.suffix.lower() == ".ipynb"}
    for lesson in lessons:
        candidates = _candidates(files, shown, lesson, marks)
        claimed.update(c.path for c in candidates)
        if not candidates:
            result[lesson.number] = Found(lesson, NOT_HANDED_IN)
            continue
        best = candidates[0]
        script, problem, source = _script_of(best, lesson)
        chosen_all.append(best)
        result[lesson.number] = Found(lesson, FOUND, best, [c.relative for c in candidates[1:]], script, problem,
                                      source)
    # A lesson with no file of its own is "handed in but not found" when something in the folder could be it
    # (not another lesson's file, nor a copy passed over for one).
    unclaimed = [p for p, _ in files if p not in claimed and p not in unpacked and ".zip/" not in shown[p]]
    maybe = any(_might_be_work(p) for p in unclaimed)
    nothing_found = not chosen_all
    for found in result.values():
        if found.status == NOT_HANDED_IN and holds and (maybe or nothing_found):
            found.status = NOT_FOUND
    depth_of = dict(files)
    answers = sorted((p for p, _ in files if _answers_name(p.name)),
                     key=lambda p: (depth_of[p], p.name != "answers.json", shown[p]))
    return Handin(result, holds, answers, _key_warning(chosen_all, files, shown))


def _junk(name: str) -> bool:
    """What an operating system or git leaves in a folder: never the learner's work."""
    return name.startswith(".") or name.lower() in ("thumbs.db", "desktop.ini")


def _answers_name(name: str) -> bool:
    lowered = name.lower()
    if not lowered.endswith(".json"):
        return False
    key, _ = normalise(name[:-5])
    return key == "answers"


def _might_be_work(path: Path) -> bool:
    """A file that could be a lesson's script under another name: Python or a notebook with step
    functions in it (scratch code calling the API is not a lesson; archives and documents count only
    when nothing at all was found)."""
    suffix = path.suffix.lower()
    if suffix in (".py", ".ipynb", ".txt"):
        try:
            with open(path, "rb") as f:
                return LOOKS_LIKE_WORK.search(f.read(1_000_000)) is not None
        except OSError:
            return False
    return False
