"""Reading Codio's assessment JSON: errors that name the file and line, and the fields every type shares.

`parse_json` keeps where each object starts (`Positions`), so `Reader` can say "question.json, line 12:
"points" must be a number"; `task_fields` reads what every `Task` has (id, title, instructions, points,
attempts (and `oneTimeTest`, one attempt only), guidance and its rule) and each type's module reads its own part with the same `Reader`.
"""

from __future__ import annotations

import json
import json.decoder
import json.scanner
import math
from pathlib import Path
from typing import Any

from ..errors import CourseError
from .task import GuidanceRule


def read_text(path: Path, data: bytes | None) -> str:
    if data is None:
        raise CourseError(f"{path}: no such question file.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CourseError(f"{path}: not UTF-8 text (byte {exc.start}).", hint="Save the file as UTF-8.") from None


class Positions:
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


def parse_json(path: Path | str, text: str) -> tuple[Any, Positions]:
    positions = Positions(text)
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


class Reader:
    """Validates one raw question, naming the file and line of whatever is wrong."""

    def __init__(self, origin: str, positions: Positions | None) -> None:
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



def guidance_rule(r: "Reader", src: dict[str, Any]) -> GuidanceRule:
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



def task_fields(raw: Any, *, origin: str, positions: Positions | None = None) -> tuple[Reader, dict[str, Any], dict[str, Any]]:
    """The reader, the raw JSON's `source` and the fields every `Task` takes, checked with file and line."""
    r = Reader(origin, positions)
    if not isinstance(raw, dict):
        raise r.fail(raw, None, "an assessment must be one JSON object.")
    kind = r.text(raw, "type")
    task_id = r.text(raw, "taskId")
    src = r.obj(raw, "source")
    name = r.text(src, "name", default="") or task_id
    fields = {
        "task_id": task_id,
        "kind": kind,
        "name": name.strip() or task_id,
        "instructions": r.text(src, "instructions", default=""),
        "show_name": r.flag(src, "showName", True),
        "points": r.number(src, "points", 1),
        "max_attempts": int(r.number(src, "maxAttemptsCount", 0, whole=True)),
        "one_time": r.flag(src, "oneTimeTest", False),
        "guidance": r.text(src, "guidance", default=""),
        "guidance_rule": guidance_rule(r, src),
        "partial": r.flag(src, "arePartialPointsAllowed", False),
        "origin": origin,
    }
    return r, src, fields
