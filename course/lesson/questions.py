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
import json.decoder
import json.scanner
import math
import os
import random
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from rich.console import Group, RenderableType
from rich.text import Text

from ..errors import CourseError

MULTIPLE_CHOICE = "multiple-choice"
LOCK_PREFIX = "hmac-sha256:"
GuidanceKind = Literal["Always", "Attempts", "Score", "Never"]


class NotMultipleChoice(CourseError):
    """A valid Codio assessment of another type (free text, code test...): `load_questions` skips it."""


# --------------------------------------------------------------------------- the data


@dataclass(frozen=True)
class Answer:
    id: str
    text: str


@dataclass(frozen=True)
class GuidanceRule:
    """When the guidance shows: Codio's `showGuidanceAfterResponseOption`.

    `Attempts` shows it once `passed_from` attempts are used, or as soon as the answer is right;
    `Score` once an attempt scores at least `passed_from` per cent of the points. The older boolean
    `showGuidanceAfterResponse` maps to Always / Never; neither field means Never.
    """

    kind: GuidanceKind = "Never"
    passed_from: int = 0

    def shows(self, attempts_made: int, correct: bool, percent: float | None = None) -> bool:
        if self.kind == "Always":
            return True
        if self.kind == "Attempts":
            return correct or attempts_made >= self.passed_from
        if self.kind == "Score":
            return (100.0 if correct else (percent or 0.0)) >= self.passed_from
        return False

    def describe(self) -> str:
        """When the guidance shows, in words."""
        if self.kind == "Always":
            return "after every answer"
        if self.kind == "Attempts":
            return f"after a right answer or {self.passed_from} attempt{'s' if self.passed_from != 1 else ''}"
        if self.kind == "Score":
            return f"after an answer that scores {self.passed_from}% or more"
        return "never"

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind, "passedFrom": self.passed_from} if self.kind in ("Attempts", "Score") else {"type": self.kind}


@dataclass(frozen=True)
class Question:
    """One multiple-choice question. A key has `correct_ids`; a learner's copy has `lock` and `salt` instead."""

    task_id: str
    name: str
    instructions: str
    multiple: bool
    randomized: bool
    answers: list[Answer]
    guidance: str = ""
    guidance_rule: GuidanceRule = field(default_factory=GuidanceRule)
    max_attempts: int = 0  # 0: unlimited
    points: float = 1.0
    incorrect_points: float = 0.0
    partial: bool = False
    correct_ids: frozenset[str] | None = None
    lock: str | None = None
    salt: str | None = None
    show_name: bool = True
    path: Path | None = None

    @property
    def kind(self) -> str:
        return MULTIPLE_CHOICE

    @property
    def title(self) -> str:
        return self.name if self.show_name and self.name != self.task_id else ""

    @property
    def locked(self) -> bool:
        """True when only the lock can say whether an answer is right (a learner's copy)."""
        return self.correct_ids is None

    @property
    def answer_ids(self) -> list[str]:
        return [a.id for a in self.answers]


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
        raw, positions = _parse_json(key_path, _read_text(key_path, data))
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


def _read_text(path: Path, data: bytes | None) -> str:
    if data is None:
        raise CourseError(f"{path}: no such question file.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CourseError(f"{path}: not UTF-8 text (byte {exc.start}).", hint="Save the file as UTF-8.") from None


class _Positions:
    """Where each JSON object and list starts in the text, so errors can name a line."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts: dict[int, int] = {}
        self._keep: list[Any] = []  # ids stay valid only while the objects live

    def note(self, obj: Any, start: int) -> None:
        self.starts[id(obj)] = start
        self._keep.append(obj)

    def line(self, obj: Any, key: str | None = None) -> int | None:
        start = self.starts.get(id(obj))
        if start is None:
            return None
        if key is not None:
            found = self.text.find(json.dumps(key), start)
            start = found if found >= 0 else start
        return self.text.count("\n", 0, start) + 1


def _parse_json(path: Path | str, text: str) -> tuple[Any, _Positions]:
    positions = _Positions(text)
    decoder = json.JSONDecoder()

    def parse_object(s_and_end: tuple[str, int], *args: Any) -> tuple[Any, int]:
        obj, end = json.decoder.JSONObject(s_and_end, *args)
        positions.note(obj, s_and_end[1] - 1)
        return obj, end

    def parse_array(s_and_end: tuple[str, int], scan_once: Any) -> tuple[Any, int]:
        arr, end = json.decoder.JSONArray(s_and_end, scan_once)
        positions.note(arr, s_and_end[1] - 1)
        return arr, end

    decoder.parse_object = parse_object  # type: ignore[assignment]
    decoder.parse_array = parse_array  # type: ignore[assignment]
    decoder.scan_once = json.scanner.py_make_scanner(decoder)
    try:
        return decoder.decode(text), positions
    except json.JSONDecodeError as exc:
        raise CourseError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg}, column {exc.colno}).",
                          hint="Fix the JSON by hand; `python -m json.tool FILE` points at the spot.") from None


class _Reader:
    """Validates one raw question, naming the file and line of whatever is wrong."""

    def __init__(self, origin: str, positions: _Positions | None) -> None:
        self.origin = origin
        self.positions = positions

    def fail(self, obj: Any, key: str | None, what: str) -> CourseError:
        line = self.positions.line(obj, key) if self.positions is not None else None
        where = f"{self.origin}, line {line}" if line else self.origin
        return CourseError(f"{where}: {what}", hint="Compare it with a question Codio exported, or re-export it.")

    def obj(self, parent: Any, key: str, *, required: bool = True) -> dict[str, Any]:
        value = parent.get(key)
        if value is None and not required:
            return {}
        if not isinstance(value, dict):
            raise self.fail(parent, key if key in parent else None,
                            f'"{key}" must be an object' + ("" if key in parent else ", and it is missing") + ".")
        return value

    def text(self, parent: dict[str, Any], key: str, *, default: str | None = None) -> str:
        if key not in parent and default is not None:
            return default
        value = parent.get(key)
        if not isinstance(value, str) or (default is None and not value.strip()):
            missing = "" if key in parent else ", and it is missing"
            raise self.fail(parent, key if key in parent else None, f'"{key}" must be a non-empty string{missing}.')
        return value

    def flag(self, parent: dict[str, Any], key: str, default: bool) -> bool:
        value = parent.get(key, default)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise self.fail(parent, key, f'"{key}" must be true or false, got {json.dumps(value)}.')
        return value

    def number(self, parent: dict[str, Any], key: str, default: float, *, whole: bool = False) -> float:
        """Codio writes points as numbers, and in some exports as strings ("1"); both are fine."""
        value = parent.get(key, default)
        number: float | None = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                number = None
        if number is None or not math.isfinite(number) or number < 0 or (whole and number != int(number)):
            kind = "a whole number" if whole else "a number"
            raise self.fail(parent, key, f'"{key}" must be {kind}, 0 or more, got {json.dumps(value)}.')
        return number



def guidance_rule(r: "_Reader", src: dict[str, Any]) -> GuidanceRule:
    """When a question's guidance shows, from Codio's `showGuidanceAfterResponseOption` (or the older boolean)."""
    if "showGuidanceAfterResponseOption" in src:
        option = r.obj(src, "showGuidanceAfterResponseOption")
        rule_kind = option.get("type")
        if rule_kind == "WhenGradesReleased":  # no grades are released offline: the teacher shows it
            return GuidanceRule("Never")
        if rule_kind not in ("Always", "Attempts", "Score", "Never"):
            raise r.fail(option, "type", 'guidance "type" must be "Always", "Attempts", "Score", "Never" or "WhenGradesReleased", got '
                         f"{json.dumps(rule_kind)}.")
        passed_from = (int(r.number(option, "passedFrom", 1, whole=True)) if rule_kind == "Attempts" else
                       int(r.number(option, "passedFrom", 60, whole=True)) if rule_kind == "Score" else 0)
        return GuidanceRule(rule_kind, passed_from)
    return GuidanceRule("Always" if r.flag(src, "showGuidanceAfterResponse", False) else "Never")


def question_from_json(raw: Any, *, origin: str, positions: _Positions | None = None) -> Question:
    """A `Question` from Codio's JSON (a key or a learner's copy); CourseError says what is wrong and where."""
    r = _Reader(origin, positions)
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
    text = _read_text(path, path.read_bytes() if path.is_file() else None)
    raw, positions = _parse_json(path, text)
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


def _fmt(points: float) -> str:
    """Points as people read them: one decimal at most (6.7, not 6.66667)."""
    from .wording import for_people

    return for_people(points)


@dataclass(frozen=True)
class Verdict:
    """How one attempt went. `raw_points` can go negative (incorrectPoints); `points` never does.

    `exact` is False when only a lock was available: then partial credit could not be worked out
    and `points` is all-or-nothing (see `note`).
    """

    task_id: str
    chosen: tuple[str, ...]
    correct: bool
    points: float
    max_points: float
    raw_points: float
    show_guidance: bool
    attempt: int
    exact: bool = True
    note: str = ""
    feedback: str = ""  # what the check found, line by line (blanks, puzzle lines, a test's output)
    by_person: bool = False  # recorded for a person to mark: neither right nor wrong yet

    def to_dict(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "chosen": list(self.chosen), "correct": self.correct, "points": self.points,
                "max_points": self.max_points, "raw_points": self.raw_points, "show_guidance": self.show_guidance,
                "attempt": self.attempt, "exact": self.exact, "note": self.note, "feedback": self.feedback,
                "by_person": self.by_person}

    @property
    def status(self) -> str:
        return "to be marked" if self.by_person else "correct" if self.correct else "incorrect"

    def __rich__(self) -> RenderableType:
        if self.by_person:
            head = Text("Answer saved.", style="bold cyan")
            head.append(f"  A person marks it (out of {_fmt(self.max_points)} points); it is not graded here.",
                        style="dim")
        else:
            head = Text("Correct!", style="bold green") if self.correct else Text("Not quite.", style="bold yellow")
            head.append(f"  {_fmt(self.points)}/{_fmt(self.max_points)} points", style="dim")
        parts: list[RenderableType] = [head]
        if self.feedback:
            parts.append(Text(self.feedback))
        if self.note:
            parts.append(Text(self.note, style="dim"))
        return Group(*parts) if len(parts) > 1 else head


def _chosen(question: Question, chosen_ids: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(chosen_ids))
    unknown = [c for c in chosen if c not in set(question.answer_ids)]
    if unknown:
        raise CourseError(f"{question.task_id}: no answer has the id {unknown[0]!r}.",
                          hint=f"The answer ids are {', '.join(question.answer_ids)}.")
    return chosen


def check(question: Question, chosen_ids: Iterable[str], *, attempt: int = 1) -> Verdict:
    """Is this choice right, and what is it worth? Works from the key or, offline, from the lock.

    Single response: all the points, or 0 - incorrectPoints. Multiple response with partial points:
    points x (right chosen - wrong chosen) / number right, incorrectPoints not applied. Otherwise
    all or nothing, incorrectPoints on a wrong answer. `points` is floored at 0, `raw_points` is not.
    With only a lock, the chosen set is right or not: no partial credit (it would need the key).
    """
    chosen = _chosen(question, chosen_ids)
    if question.correct_ids is not None:
        right = question.correct_ids
        correct = set(chosen) == right
        if correct:
            raw = question.points
        elif question.multiple and question.partial:
            hits = len(right.intersection(chosen))
            raw = question.points * (hits - (len(chosen) - hits)) / len(right)
        else:
            raw = -question.incorrect_points
        exact, note = True, ""
    else:
        assert question.lock is not None and question.salt is not None
        correct = hmac.compare_digest(lock_for(question.task_id, chosen, question.salt), question.lock)
        raw = question.points if correct else -question.incorrect_points
        exact = not (question.multiple and question.partial) or correct
        note = "" if exact else "Partial credit can't be worked out offline; the grader gives it."
    return Verdict(
        task_id=question.task_id, chosen=chosen, correct=correct, points=max(0.0, raw), max_points=question.points,
        raw_points=raw, show_guidance=question.guidance_rule.shows(
            attempt, correct, 100.0 * max(0.0, raw) / question.points if question.points and exact else None),
        attempt=attempt,
        exact=exact, note=note,
    )


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
        return Text(f"{self.task_id}: {_fmt(self.points)}/{_fmt(self.possible)} - {self.reason}")


def score(question: Question, attempts: list[list[str]]) -> QuestionScore:
    """The grader's score: the last attempt within maxAttemptsCount counts; later ones are ignored."""
    limit = question.max_attempts
    counted = attempts[:limit] if limit else list(attempts)
    ignored = len(attempts) - len(counted)
    extra = f"; {ignored} attempt(s) past the limit of {limit} ignored" if ignored else ""
    if not counted:
        return QuestionScore(question.task_id, 0.0, question.points, "not answered" + extra, None, 0, ignored)
    verdict = check(question, counted[-1], attempt=len(counted))
    which = f"attempt {len(counted)}" + (f" of {limit}" if limit else "")
    if verdict.correct:
        reason = f"correct ({which})"
    elif verdict.points > 0:
        reason = f"partly correct ({which})"
    else:
        reason = f"incorrect ({which})"
        if verdict.raw_points < 0:
            reason += f"; the {_fmt(question.incorrect_points)}-point penalty stops at 0"
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
