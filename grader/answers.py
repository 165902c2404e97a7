"""Reading answers.json as people save it: `course quiz` writes `{"<question id>": ["<answer id>", ...]}`,
but a file passes through editors and habits on its way to the grader:

- a UTF-8 byte-order mark (Windows Notepad) or UTF-16 (Notepad's "Unicode");
- a bare string instead of a one-element list (`"multiple-choice-1640493267": "c4f…"`);
- question or answer ids in another letter case, or with spaces around them;
- an answer written as the answer's text instead of its id (`"1 to 10"`);
- the whole object under an `"answers"` key.

All of these are scored. A file that cannot be read at all is never "not answered": every question
it could hold says why it could not be read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from course.lesson.questions import Question

MAX_BYTES = 1024 * 1024


@dataclass
class AnswersFile:
    path: Path
    answers: dict[str, list[str]] = field(default_factory=dict)  # canonical question id -> canonical answer ids
    problem: str = ""  # why it could not be read ("" when it was)


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    return data.decode("utf-8-sig")


def _plain(text: str) -> str:
    """An answer's text without Markdown code marks, quotes and case: `"256x256"` -> 256x256."""
    return re.sub(r"[`\"'*_]", "", text).strip().casefold()


def _canonical_answer(value: str, question: Question) -> str:
    wanted = value.strip()
    for answer in question.answers:
        if answer.id.casefold() == wanted.casefold():
            return answer.id
    for answer in question.answers:
        if _plain(answer.text) == _plain(wanted) and _plain(wanted):
            return answer.id
    return wanted


def read_answers_file(path: Path, questions: dict[str, Question]) -> AnswersFile:
    """One answers.json, for the questions known (`questions`: canonical id -> Question)."""
    found = AnswersFile(path)
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
    by_folded = {task_id.casefold(): task_id for task_id in questions}
    for key, value in parsed.items():
        task_id = by_folded.get(str(key).strip().casefold())
        if task_id is None:
            continue
        values = value if isinstance(value, list) else [value]
        chosen = [_canonical_answer(str(v), questions[task_id]) for v in values
                  if isinstance(v, (str, int, float)) and not isinstance(v, bool) and str(v).strip()]
        found.answers[task_id] = list(dict.fromkeys(chosen))
    return found


@dataclass
class Answers:
    """The answers for a set of questions, taken from several files in order of preference."""

    files: list[AnswersFile]

    def for_question(self, task_id: str) -> tuple[list[str] | None, str]:
        """(the chosen answer ids, "") from the first file that answers it; else (None, why not)."""
        for f in self.files:
            if task_id in f.answers:
                return f.answers[task_id], ""
        broken = [f for f in self.files if f.problem]
        if broken:
            return None, f"{broken[0].path.name} could not be read: {broken[0].problem}"
        return None, "not answered"


def read_answers(paths: list[Path], questions: dict[str, Question]) -> Answers:
    return Answers([read_answers_file(p, questions) for p in paths])
