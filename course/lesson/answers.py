"""The learner's answers: `answers.json` holds the latest choice per question, `.course/attempts.json` the counts.

`answers.json` keeps exactly the documented format, `{"<task id>": ["<answer _id>", ...]}`, since
the grader (and Codio habits) read it; the attempts count that maxAttemptsCount needs lives beside
it in `.course/attempts.json` (`{"<task id>": <attempts used>}`) in the same folder.

Writes are atomic (a temp file in the same folder, then os.replace), so a crash or Ctrl+C leaves
the old file or the new one, never half of one. A file that can't be read is never overwritten:
that would wipe a learner's earlier answers; it raises a CourseError naming the file instead.
Two quiz processes at once are serialised by an advisory lock where the OS has fcntl.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
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
