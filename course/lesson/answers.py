"""The learner's answers: `answers.json` holds the latest answer per question, `.course/attempts.json` the counts.

The one place that reads and writes them, for the course (the quiz, the notebook widgets, progress) and
for the grader, which reads what learners hand in (`read_handed_in`, `handed_in_attempts`).

`answers.json` keeps exactly the documented format, `{"<task id>": ["<answer _id>", ...]}`, since
the grader (and Codio habits) read it; the attempts count that maxAttemptsCount needs lives beside
it in `.course/attempts.json` (`{"<task id>": <attempts used>}`) in the same folder.

Writes are atomic (a temp file in the same folder, then os.replace), so a crash or Ctrl+C leaves
the old file or the new one, never half of one. A file that can't be read is never overwritten:
that would wipe a learner's earlier answers; it raises a CourseError naming the file instead.
Two quiz processes at once are serialised by an advisory lock where the OS has fcntl.

A file handed in to the grader has passed through editors and habits on its way, so the grader reads it
leniently: a UTF-8 byte-order mark (Windows Notepad) or UTF-16 (Notepad's "Unicode"); question ids in
another letter case or with spaces around them; a bare string instead of a one-element list; the whole
object under an `"answers"` key. A file that cannot be read at all says why (`HandedIn.problem`); a link
is never followed, since it could hand in someone else's answers.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CourseError

try:
    import fcntl
except ImportError:  # Windows: no advisory lock; atomic writes still hold
    fcntl = None  # type: ignore[assignment]


def attempts_path(answers_path: Path | str) -> Path:
    """Where the attempts counts of this answers.json live."""
    return Path(answers_path).parent / ".course" / "attempts.json"


def _corrupt(path: Path, what: str) -> CourseError:
    return CourseError(
        f"{path}: {what}; it was left as it is.",
        hint=f"Fix it by hand, or move it aside (mv {path.name} {path.name}.bad) to start afresh.",
    )


def _read(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError:
        raise _corrupt(path, "not UTF-8 text") from None
    except OSError as exc:
        raise CourseError(f"{path}: can't be read ({exc.strerror}).") from None
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _corrupt(path, f"not valid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg})") from None


def load_answers(path: Path | str) -> dict[str, list[str]]:
    """The saved answers, `{task id: [answer ids]}`; {} when there is no file yet."""
    path = Path(path)
    data = _read(path)
    if not isinstance(data, dict):
        raise _corrupt(path, 'not a JSON object {"<task id>": ["<answer id>", ...]}')
    for task_id, ids in data.items():
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise _corrupt(path, f"the answer to {task_id!r} is not a list of answer ids")
    return data


def _load_attempts(answers_path: Path) -> dict[str, int]:
    path = attempts_path(answers_path)
    data = _read(path)
    if not isinstance(data, dict) or not all(type(v) is int and v >= 0 for v in data.values()):
        raise _corrupt(path, 'not a JSON object {"<task id>": <attempts used>}')
    return data


def attempts_used(path: Path | str, task_id: str) -> int:
    """How many attempts the learner has used on this question (path: the answers.json)."""
    return _load_attempts(Path(path)).get(task_id, 0)


def _write_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2, ensure_ascii=False)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _locked(answers_path: Path) -> Iterator[None]:
    if fcntl is None:
        yield
        return
    lock = attempts_path(answers_path).with_name("answers.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def record_answer(path: Path | str, task_id: str, ids: list[str]) -> int:
    """Save `ids` as the latest answer to `task_id`, count the attempt, and return the attempts used.

    Earlier answers to other questions are kept. The answer is written before the count, so a crash
    in between can only forget an attempt, never count one that wasn't saved.
    """
    path = Path(path)
    if not isinstance(task_id, str) or not task_id or not all(isinstance(i, str) for i in ids):
        raise CourseError(f"can't record {task_id!r}: {ids!r}; a task id and a list of answer ids are needed.")
    try:
        with _locked(path):
            answers = load_answers(path)
            attempts = _load_attempts(path)
            answers[task_id] = list(ids)
            _write_atomic(path, answers)
            attempts[task_id] = attempts.get(task_id, 0) + 1
            _write_atomic(attempts_path(path), attempts)
            return attempts[task_id]
    except OSError as exc:
        raise CourseError(f"{path}: the answer couldn't be saved ({exc.strerror or exc}).",
                          hint="Check the folder exists and is writable, and that the disk isn't full.") from None


# --------------------------------------------------------------------------- handed in, as the grader reads it

MAX_BYTES = 1024 * 1024


@dataclass
class HandedIn:
    """One answers.json handed in: its entries by case-folded question id, or why it could not be read."""

    path: Path
    entries: dict[str, Any] = field(default_factory=dict)  # case-folded, stripped question id -> the value saved
    problem: str = ""  # why it could not be read ("" when it was)

    def values(self, task_id: str) -> list[str] | None:
        """The answer saved for `task_id` (any letter case) as a list of strings; None when there is none."""
        key = task_id.strip().casefold()
        return values_of(self.entries[key]) if key in self.entries else None


def values_of(value: Any) -> list[str]:
    """An entry's value as the list of strings an answer is (a bare string is a one-element list; numbers are
    written out; anything else is left out)."""
    values = value if isinstance(value, list) else [value]
    return [str(v) for v in values if isinstance(v, (str, int, float)) and not isinstance(v, bool)]


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    return data.decode("utf-8-sig")


def read_handed_in(path: Path) -> HandedIn:
    """An answers.json a learner handed in, read leniently; a file that can't be read says why."""
    found = HandedIn(path)
    if path.is_symlink():  # a link could hand in someone else's answers: never followed
        found.problem = "it is a link, not a file"
        return found
    try:
        data = path.read_bytes()
    except OSError as exc:
        found.problem = f"it can't be opened ({exc.strerror})"
        return found
    if len(data) > MAX_BYTES:
        found.problem = f"it is {len(data) // 1024} KB, far more than answers take"
        return found
    try:
        parsed: Any = json.loads(_decode(data))
    except UnicodeDecodeError:
        found.problem = "it is not text (UTF-8)"
        return found
    except json.JSONDecodeError as exc:
        found.problem = f"it is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        return found
    except (ValueError, RecursionError):
        found.problem = "it is not valid JSON"
        return found
    if isinstance(parsed, dict) and set(parsed) == {"answers"} and isinstance(parsed["answers"], dict):
        parsed = parsed["answers"]
    if not isinstance(parsed, dict):
        found.problem = 'it should be a JSON object {"<question id>": ["<answer id>", ...]}'
        return found
    found.entries = {str(key).strip().casefold(): value for key, value in parsed.items()}
    return found


def handed_in_attempts(answers_file: Path | None) -> dict[str, int]:
    """Attempts per question (by case-folded id) as the course counted them beside a handed-in answers.json;
    {} when there is no count, or it can't be read, or it is a link."""
    if answers_file is None:
        return {}
    path = attempts_path(answers_file)
    if path.is_symlink() or path.parent.is_symlink():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k.casefold(): v for k, v in data.items() if isinstance(v, int) and not isinstance(v, bool)}
