"""Codio's fill-in-the-blanks questions: the text with its blanks, what each blank accepts, and the check.

The question's `"text"` marks each blank with its answer between chevrons: `a <<<natural>>> number`.
What a blank accepts, as Codio's authoring guide describes it:

- `<<<natural>>>`: that text (spaces around it and letter case do not matter: "Codio ensures that the
  response is case insensitive", says Codio's fill-in-the-blanks page);
- `<<<"colour", "color">>>`: any of the quoted texts (a doubled quote keeps a quote: `""yes""` is `"yes"`);
- `<<</colou?r/>>>`: a regular expression, searched for in the answer (`^` and `$` anchor it; letter case is
  as the pattern says).

Which blanks there are, and what each holds, comes from the assessment's own token list (`"tokens"`:
`"blank"`, the blanks' answers in order, and `"regexPositions"`, which of them are patterns), as Codio
saves it; the chevrons in the text only say where each goes. So `<<<>>>>` is the answer `>` and
`<<<//>>>` the text `//`, not an empty pattern. A question without tokens has its blanks read from the text.

With `"showValues": true` the learner picks each blank from a list (drop-down blanks): every blank's
answer and the `"distractors"` (one per line), in an order that gives nothing away. Without it the
learner types each blank. All blanks right earns the points; with partial points allowed, each right
blank earns its share.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .codio_json import Positions, task_fields
from .task import Task
from .verdict import Verdict

_BLANK = re.compile(r"<<<(.*?)>>>", re.S)


@dataclass(frozen=True)
class Blank:
    """What one blank accepts: literal texts, or a pattern."""

    accepted: tuple[str, ...] = ()
    pattern: str | None = None

    @property
    def shown(self) -> str:
        """The expected answer as a person reads it (the first accepted text, or the pattern)."""
        return self.accepted[0] if self.accepted else f"/{self.pattern}/"

    def matches(self, value: str) -> bool:
        value = value.strip()
        if self.pattern is not None:
            try:
                return re.search(self.pattern, value) is not None
            except re.error:
                return value == self.pattern
        return value.casefold() in {text.casefold() for text in self.accepted}


def parse_blank(spec: str, *, pattern: bool | None = None) -> Blank:
    """What `<<<spec>>>` accepts. `pattern` says whether it is a regular expression (Codio's `regexPositions`);
    None: when it is written `/.../` around something."""
    text = spec.strip()
    if pattern is None:
        pattern = len(text) > 2 and text.startswith("/") and text.endswith("/")
    if pattern and len(text) >= 2 and text.startswith("/") and text.endswith("/"):
        pattern = text[1:-1]
        try:
            re.compile(pattern)
        except re.error:
            return Blank((text,))
        return Blank(pattern=pattern)
    if text.startswith('"'):
        return Blank(tuple(_alternatives(text)))
    return Blank((text,))


def _alternatives(text: str) -> list[str]:
    """`"a", "b"` -> a, b; commas inside quotes stay; `""yes""` -> "yes"."""
    items, current, quotes = [], "", 0
    for char in text:
        if char == "," and quotes % 2 == 0:
            items.append(current)
            current = ""
            continue
        quotes += char == '"'
        current += char
    items.append(current)
    out = []
    for item in items:
        item = item.strip()
        if len(item) >= 2 and item[0] == item[-1] == '"':
            item = item[1:-1]
        out.append(item.strip())
    return [item for item in out if item] or [text]


@dataclass(frozen=True)
class FillInBlanks(Task):
    pieces: tuple[str | int, ...] = ()  # the text, and each blank as its index
    blanks: tuple[Blank, ...] = ()
    drop_down: bool = False
    distractors: tuple[str, ...] = ()

    def options(self, seed: int | str = 0) -> list[str]:
        """The values a drop-down blank offers: every blank's answer and the distractors, shuffled per seed."""
        values = list(dict.fromkeys([b.shown for b in self.blanks] + list(self.distractors)))
        random.Random(f"{seed}\0{self.task_id}").shuffle(values)
        return values

    def text_with_gaps(self, filled: list[str] | None = None) -> str:
        """The question's text with each blank as `[1 ____]`, or as what was put in it."""
        out = []
        for piece in self.pieces:
            if isinstance(piece, int):
                value = filled[piece] if filled and piece < len(filled) and filled[piece].strip() else None
                out.append(f"[{piece + 1}: {value}]" if value else f"[{piece + 1} ____]")
            else:
                out.append(piece)
        return "".join(out)

    def check(self, answer: list[str], *, attempt: int = 1, workspace: Path | None = None,
              runner: Any = None) -> Verdict:
        values = list(answer) + [""] * (len(self.blanks) - len(answer))
        right = [blank.matches(value) for blank, value in zip(self.blanks, values)]
        correct = all(right)
        share = sum(right) / len(self.blanks) if self.blanks else 1.0
        points = self.points if correct else (self.points * share if self.partial else 0.0)
        lines = []
        for number, (ok, value) in enumerate(zip(right, values), 1):
            shown = value.strip() or "(empty)"
            lines.append(f"blank {number}: {shown}  {'right' if ok else 'not right'}")
        note = "" if correct or not self.partial else f"{sum(right)} of {len(self.blanks)} blanks right."
        return Verdict(task_id=self.task_id, chosen=tuple(values[:len(self.blanks)]), correct=correct, points=points,
                       max_points=self.points, raw_points=points,
                       show_guidance=self.shows_guidance(attempt, correct, 100.0 * share),
                       attempt=attempt, feedback="\n".join(lines), note=note)

    def expected(self) -> str:
        return ", ".join(f"blank {n}: {b.shown}" for n, b in enumerate(self.blanks, 1))


def blanks_from_json(raw: Any, *, origin: str, positions: Positions | None = None) -> FillInBlanks:
    r, src, fields = task_fields(raw, origin=origin, positions=positions)
    text = src.get("text")
    pieces: list[str | int] = []
    blanks: list[Blank] = []
    from_tokens = _pieces_from_tokens(text, src.get("tokens"))
    if from_tokens is not None:
        pieces, blanks = from_tokens
    elif isinstance(text, str) and _BLANK.search(text):
        done = 0
        for match in _BLANK.finditer(text):
            pieces.append(text[done:match.start()])
            pieces.append(len(blanks))
            blanks.append(parse_blank(match.group(1)))
            done = match.end()
        pieces.append(text[done:])
    else:  # only the tokens: texts with 0 where each blank goes, and the blanks' answers in order
        tokens = src.get("tokens") if isinstance(src.get("tokens"), dict) else {}
        texts, answers = tokens.get("text"), tokens.get("blank")
        if not isinstance(texts, list) or not isinstance(answers, list) or not answers:
            raise r.fail(src, "text" if "text" in src else None,
                         '"text" must hold the question with each blank as <<<answer>>>.')
        for token in texts:
            if isinstance(token, str):
                pieces.append(token)
            elif len(blanks) < len(answers):
                pieces.append(len(blanks))
                blanks.append(parse_blank(str(answers[len(blanks)])))
    distractors = src.get("distractors", "")
    if isinstance(distractors, list):
        distractors = "\n".join(str(d) for d in distractors)
    extra = tuple(line.strip() for line in str(distractors or "").splitlines() if line.strip())
    return FillInBlanks(**fields, pieces=tuple(p for p in pieces if p != ""), blanks=tuple(blanks),
                        drop_down=r.flag(src, "showValues", False), distractors=extra)


def _pieces_from_tokens(text: Any, tokens: Any) -> tuple[list[str | int], list[Blank]] | None:
    """The text cut at each blank and the blanks, from the token list Codio saves beside the text: each answer
    is found as `<<<answer>>>` in turn. None when there is no such list, or the text does not hold its answers."""
    if not isinstance(text, str) or not isinstance(tokens, dict):
        return None
    answers, regex = tokens.get("blank"), tokens.get("regexPositions")
    if not isinstance(answers, list) or not answers or not all(isinstance(a, str) for a in answers):
        return None
    regex_at = {n for n in regex if isinstance(n, int)} if isinstance(regex, list) else None
    pieces: list[str | int] = []
    blanks: list[Blank] = []
    done = 0
    for number, answer in enumerate(answers):
        marked = f"<<<{answer}>>>"
        at = text.find(marked, done)
        if at < 0:
            return None
        pieces += [text[done:at], number]
        blanks.append(parse_blank(answer, pattern=None if regex_at is None else number in regex_at))
        done = at + len(marked)
    if _BLANK.search(text, done):
        return None  # more blanks in the text than in the list: the text is read as it is
    pieces.append(text[done:])
    return pieces, blanks
