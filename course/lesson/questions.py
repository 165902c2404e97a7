"""The course's multiple-choice questions: Codio's JSON read, locked for learners, checked and scored.

Two copies of every question exist:

* the key, `solutions/assessments/<task id>.json`: Codio's export as is, each answer with `"correct"`;
* the learner's copy, `course/content/assessments/<task id>.json`: the same JSON with every `"correct"`
  removed and two fields added to `"source"`: `"salt"` and `"lock"` (ok-client's hash locking).

The lock is `"hmac-sha256:" + HMAC-SHA256(key=salt, msg=json([task id, sorted correct answer ids]))`.
The salt is per question and per build (derived from the key file's bytes, so a rebuild of an
unchanged key is byte-identical and a drift test can compare), and the task id is part of the
message, so equal answer sets in two questions never share a lock. Checking a learner's choice
offline is hashing the chosen set the same way and comparing.

The honest limit: a question has a handful of options, so at most 2**n - 1 answer sets; anyone
who reads this module can try them all against the lock in microseconds. The lock keeps the answer
out of plain sight (no peeking in the file, no accidental spoilers); it is not security. The grader
scores against the real keys. Likewise the guidance text is kept in the learner's copy (the quiz
shows it offline) and authors sometimes name the right answer there.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import os
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import RenderableType
from rich.text import Text

from ..errors import CourseError
from .codio_json import Positions, Reader, guidance_rule, parse_json, read_text
from .task import GuidanceKind, GuidanceRule, Task
from .verdict import Verdict
from .wording import for_people

__all__ = ["Answer", "GuidanceKind", "GuidanceRule", "MULTIPLE_CHOICE", "NotMultipleChoice", "Question",
           "QuestionScore", "Verdict", "build_locked", "check", "display_order", "load_question", "load_questions",
           "lock_for", "lock_question", "question_from_json", "question_label", "salt_for", "score"]

MULTIPLE_CHOICE = "multiple-choice"
LOCK_PREFIX = "hmac-sha256:"


class NotMultipleChoice(CourseError):
    """A valid Codio assessment of another type (free text, code test...): `load_questions` skips it."""


# --------------------------------------------------------------------------- the data


@dataclass(frozen=True)
class Answer:
    id: str
    text: str



@dataclass(frozen=True, kw_only=True)
class Question(Task):
    """One multiple-choice question. A key has `correct_ids`; a learner's copy has `lock` and `salt` instead."""

    answer_readable = False  # answer ids

    kind: str = MULTIPLE_CHOICE
    multiple: bool
    randomized: bool
    answers: list[Answer]
    incorrect_points: float = 0.0
    correct_ids: frozenset[str] | None = None
    lock: str | None = None
    salt: str | None = None
    path: Path | None = None

    @property
    def locked(self) -> bool:
        """True when only the lock can say whether an answer is right (a learner's copy)."""
        return self.correct_ids is None

    @property
    def answer_ids(self) -> list[str]:
        return [a.id for a in self.answers]

    def check(self, answer: Iterable[str], *, attempt: int = 1, workspace: Path | None = None,
              runner: Any = None) -> Verdict:
        """Is this choice right, and what is it worth? Works from the key or, offline, from the lock.

        Single response: all the points, or 0 - incorrectPoints. Multiple response with partial points:
        points x (right chosen - wrong chosen) / number right, incorrectPoints not applied. Otherwise
        all or nothing, incorrectPoints on a wrong answer. `points` is floored at 0, `raw_points` is not.
        With only a lock, the chosen set is right or not: no partial credit (it would need the key).
        """
        chosen = self._chosen(answer)
        if self.correct_ids is not None:
            right = self.correct_ids
            correct = set(chosen) == right
            if correct:
                raw = self.points
            elif self.multiple and self.partial:
                hits = len(right.intersection(chosen))
                raw = self.points * (hits - (len(chosen) - hits)) / len(right)
            else:
                raw = -self.incorrect_points
            exact, note = True, ""
        else:
            assert self.lock is not None and self.salt is not None
            correct = hmac.compare_digest(lock_for(self.task_id, chosen, self.salt), self.lock)
            raw = self.points if correct else -self.incorrect_points
            exact = not (self.multiple and self.partial) or correct
            note = "" if exact else "Partial credit can't be worked out offline; the grader gives it."
        return Verdict(
            task_id=self.task_id, chosen=chosen, correct=correct, points=max(0.0, raw), max_points=self.points,
            raw_points=raw, show_guidance=self.shows_guidance(
                attempt, correct, 100.0 * max(0.0, raw) / self.points if self.points and exact else None),
            attempt=attempt,
            exact=exact, note=note,
        )

    def _chosen(self, chosen_ids: Iterable[str]) -> tuple[str, ...]:
        chosen = tuple(dict.fromkeys(chosen_ids))
        unknown = [c for c in chosen if c not in set(self.answer_ids)]
        if unknown:
            raise CourseError(f"{self.task_id}: no answer has the id {unknown[0]!r}.",
                              hint=f"The answer ids are {', '.join(self.answer_ids)}.")
        return chosen

    def answer_from_file(self, values: list[str]) -> list[str]:
        """The answer ids a handed-in answers.json means: ids in any letter case or with spaces around them, or an
        answer's text instead of its id (`"1 to 10"`, `` `256x256` ``); blanks left out, each id once."""
        return list(dict.fromkeys(self.answer_id_for(v) for v in values if v.strip()))

    def known_answer(self, answer: list[str]) -> list[str] | None:
        """The ids of this question's answers among those given; None when none is one of them."""
        known = [c for c in answer if c in self.answer_ids]
        return known or None

    def answer_id_for(self, value: str) -> str:
        """The id of the answer `value` names (by id or by its text), or `value` itself when none does."""
        wanted = value.strip()
        for answer in self.answers:
            if answer.id.casefold() == wanted.casefold():
                return answer.id
        for answer in self.answers:
            if _plain(answer.text) == _plain(wanted) and _plain(wanted):
                return answer.id
        return wanted


def _plain(text: str) -> str:
    """An answer's text without Markdown code marks, quotes and case: `"256x256"` -> 256x256."""
    return re.sub(r"[`\"'*_]", "", text).strip().casefold()


# --------------------------------------------------------------------------- the lock


def lock_for(task_id: str, answer_ids: Iterable[str], salt: str) -> str:
    """The lock of one answer set: order-free, salted, tied to the question's task id."""
    message = json.dumps([task_id, sorted(set(answer_ids))], separators=(",", ":"), ensure_ascii=False)
    return LOCK_PREFIX + hmac.new(salt.encode(), message.encode(), hashlib.sha256).hexdigest()


def salt_for(key_bytes: bytes) -> str:
    """A build's salt for one key file: derived from its bytes so unchanged keys rebuild identically.

    It tells nothing the lock doesn't: guessing the key file is guessing the answer set, same cost.
    """
    return hashlib.sha256(b"course-lock-salt/v1\0" + key_bytes).hexdigest()[:32]


def _strip_correct(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_correct(v) for k, v in value.items() if k != "correct"}
    if isinstance(value, list):
        return [_strip_correct(v) for v in value]
    return value


def lock_question(raw_key_json: dict[str, Any], salt: str) -> dict[str, Any]:
    """The learner's copy of a key: Codio-shaped, no `"correct"` anywhere, `"lock"` and `"salt"` in `"source"`,
    and, for a question shown in random order, its answers in an order that gives nothing away."""
    origin = f"question {raw_key_json.get('taskId', '?')!r}" if isinstance(raw_key_json, dict) else "question"
    key = question_from_json(raw_key_json, origin=origin)
    if key.correct_ids is None:
        raise CourseError(f"{key.task_id}: this is already a learner's copy (it has a lock), not an answer key.",
                          hint="Lock the file from solutions/assessments/.")
    locked = _strip_correct(copy.deepcopy(raw_key_json))
    if key.randomized and isinstance(locked["source"].get("answers"), list):
        # Authors often list the right options first; shown shuffled anyway, the copy keeps an order that
        # says nothing (fixed per question and salt, so a rebuild gives the same bytes).
        answers = locked["source"]["answers"]
        authored = list(answers)
        shuffle = random.Random(f"{salt}\0{key.task_id}").shuffle
        for _ in range(20):  # any order but the authored one
            shuffle(answers)
            if len(answers) < 2 or answers != authored:
                break
    locked["source"]["lock"] = lock_for(key.task_id, key.correct_ids, salt)
    locked["source"]["salt"] = salt
    return locked


def build_locked(keys_dir: Path, out_dir: Path) -> list[Path]:
    """Write a locked learner's copy of every multiple-choice key in `keys_dir` into `out_dir`.

    Same file names, same field order as the key; keys of other types are skipped. The salt comes
    from the key file's bytes, so re-running gives identical bytes (a drift test can compare) and
    editing a key gives it a fresh salt. Files are only rewritten when their content changes, and
    nothing in `out_dir` is deleted (stale copies are the caller's to remove).
    """
    keys_dir, out_dir = Path(keys_dir), Path(out_dir)
    written: list[Path] = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for key_path in sorted(keys_dir.glob("*.json")):
        data = key_path.read_bytes()
        raw, positions = parse_json(key_path, read_text(key_path, data))
        try:
            question_from_json(raw, origin=str(key_path), positions=positions)
        except NotMultipleChoice:
            continue
        text = json.dumps(lock_question(raw, salt_for(data)), indent=2, ensure_ascii=False) + "\n"
        target = out_dir / key_path.name
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, target)
        written.append(target)
    return written


# --------------------------------------------------------------------------- reading



def question_from_json(raw: Any, *, origin: str, positions: Positions | None = None) -> Question:
    """A `Question` from Codio's JSON (a key or a learner's copy); CourseError says what is wrong and where."""
    r = Reader(origin, positions)
    if not isinstance(raw, dict):
        raise r.fail(raw, None, "a question file must hold one JSON object.")
    kind = raw.get("type")
    if kind != MULTIPLE_CHOICE:
        if isinstance(kind, str) and kind:
            raise NotMultipleChoice(f"{origin}: a {kind!r} assessment, not a multiple-choice question.")
        raise r.fail(raw, "type" if "type" in raw else None,
                     f'"type" must be "{MULTIPLE_CHOICE}", got {json.dumps(kind)}.')
    task_id = r.text(raw, "taskId")
    src = r.obj(raw, "source")
    instructions = r.text(src, "instructions")
    multiple = r.flag(src, "multipleResponse", False)

    answers_raw = src.get("answers")
    if not isinstance(answers_raw, list) or not answers_raw:
        raise r.fail(src, "answers" if "answers" in src else None, '"answers" must be a non-empty list of answers.')
    if len(answers_raw) > 26:
        raise r.fail(answers_raw, None, f"{len(answers_raw)} answers; the quiz letters them a-z, so 26 at most.")
    answers: list[Answer] = []
    correct: set[str] = set()
    has_flags = False
    for item in answers_raw:
        if not isinstance(item, dict):
            raise r.fail(answers_raw, None, 'each answer must be an object {"_id", "answer"}.')
        answer_id = r.text(item, "_id")
        if answer_id in {a.id for a in answers}:
            raise r.fail(item, "_id", f'two answers share the "_id" {answer_id!r}.')
        answers.append(Answer(answer_id, r.text(item, "answer")))
        if "correct" in item:
            has_flags = True
            if r.flag(item, "correct", False):
                correct.add(answer_id)

    lock, salt = src.get("lock"), src.get("salt")
    if has_flags:
        if not correct:
            raise r.fail(answers_raw, None, 'no answer is marked "correct": true.')
        if not multiple and len(correct) > 1:
            raise r.fail(answers_raw, None,
                         f'{len(correct)} answers are marked correct but "multipleResponse" is false.')
        correct_ids: frozenset[str] | None = frozenset(correct)
    elif lock is not None:
        correct_ids = None
        if not isinstance(lock, str) or not lock.startswith(LOCK_PREFIX):
            raise r.fail(src, "lock", f'"lock" must be a string starting "{LOCK_PREFIX}".')
        if not isinstance(salt, str) or not salt:
            raise r.fail(src, "salt" if "salt" in src else "lock", 'a locked question needs its "salt" string.')
    else:
        raise r.fail(answers_raw, None, 'no answer says "correct" and there is no "lock": nothing can check an answer.')

    rule = guidance_rule(r, src)

    return Question(
        task_id=task_id,
        name=r.text(src, "name", default=task_id) or task_id,
        instructions=instructions,
        multiple=multiple,
        randomized=r.flag(src, "isRandomized", False),
        answers=answers,
        guidance=r.text(src, "guidance", default=""),
        guidance_rule=rule,
        max_attempts=int(r.number(src, "maxAttemptsCount", 0, whole=True)),
        points=r.number(src, "points", 1),
        incorrect_points=r.number(src, "incorrectPoints", 0),
        partial=r.flag(src, "arePartialPointsAllowed", False),
        correct_ids=correct_ids,
        lock=lock if correct_ids is None else None,
        salt=salt if isinstance(salt, str) else None,
        show_name=r.flag(src, "showName", True),
    )


def load_question(path: Path | str) -> Question:
    """Read one question file (key or learner's copy). NotMultipleChoice (a CourseError) for other types."""
    path = Path(path)
    text = read_text(path, path.read_bytes() if path.is_file() else None)
    raw, positions = parse_json(path, text)
    return replace(question_from_json(raw, origin=str(path), positions=positions), path=path)


def load_questions(folder: Path | str) -> dict[str, Question]:
    """Every multiple-choice question in `folder` (*.json), by task id; other assessment types are skipped.

    A file must be named after its task id (the guide embeds questions by task id), and task ids are unique.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CourseError(f"{folder}: no such folder of questions.")
    found: dict[str, Question] = {}
    for path in sorted(folder.glob("*.json")):
        try:
            question = load_question(path)
        except NotMultipleChoice:
            continue
        if question.task_id != path.stem:
            raise CourseError(f"{path}: holds taskId {question.task_id!r} but is named {path.name!r}.",
                              hint=f"Rename it {question.task_id}.json: files are named by task id.")
        found[question.task_id] = question
    return found


# --------------------------------------------------------------------------- checking and scoring



def check(question: Question, chosen_ids: Iterable[str], *, attempt: int = 1) -> Verdict:
    """Is this choice right, and what is it worth? (`Question.check`.)"""
    return question.check(chosen_ids, attempt=attempt)


@dataclass(frozen=True)
class QuestionScore:
    """What the grader gives one question, and why."""

    task_id: str
    points: float
    possible: float
    reason: str
    verdict: Verdict | None = None
    attempts_counted: int = 0
    attempts_ignored: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "points": self.points, "possible": self.possible, "reason": self.reason,
                "verdict": self.verdict.to_dict() if self.verdict else None,
                "attempts_counted": self.attempts_counted, "attempts_ignored": self.attempts_ignored}

    def __rich__(self) -> RenderableType:
        return Text(f"{self.task_id}: {for_people(self.points)}/{for_people(self.possible)} - {self.reason}")


def score(question: Question, attempts: list[list[str]]) -> QuestionScore:
    """The grader's score: the last attempt within maxAttemptsCount counts; later ones are ignored."""
    limit = question.max_attempts
    counted = question.counted(attempts)
    ignored = len(attempts) - len(counted)
    extra = f"; {ignored} attempt(s) past the limit of {limit} ignored" if ignored else ""
    if not counted:
        return QuestionScore(question.task_id, 0.0, question.points, "not answered" + extra, None, 0, ignored)
    verdict = question.check(counted[-1], attempt=len(counted))
    which = f"attempt {len(counted)}" + (f" of {limit}" if limit else "")
    if verdict.correct:
        reason = f"correct ({which})"
    elif verdict.points > 0:
        reason = f"partly correct ({which})"
    else:
        reason = f"incorrect ({which})"
        if verdict.raw_points < 0:
            reason += f"; the {for_people(question.incorrect_points)}-point penalty stops at 0"
    if not verdict.exact:
        reason += "; only the lock was available, so no partial credit"
    return QuestionScore(question.task_id, verdict.points, question.points, reason + extra, verdict,
                         len(counted), ignored)


def display_order(question: Question, seed: int | str) -> list[Answer]:
    """The answers in the order a learner sees them: shuffled when isRandomized, the same for the same seed."""
    answers = list(question.answers)
    if question.randomized:
        random.Random(f"{seed}\0{question.task_id}").shuffle(answers)
    return answers


def question_label(q: Question, place: str) -> str:
    """How a question is called: "lesson 1, question 2: How many images per request", its place and title
    (the title only where the question lets it show)."""
    title = q.name if q.show_name and q.name != q.task_id else ""
    if place:
        return f"{place}: {title}" if title else place
    return title or q.task_id
