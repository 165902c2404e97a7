"""Codio's Parsons puzzles: put the blocks of a program in order (and indent them), leaving out distractors.

The question's `"initial"` is the solution, one block per line, in order and indented as it should be;
a line ending in `#distractor` is a block that belongs nowhere. A block of several lines writes them
on one line joined by a literal `\\n`. `"options"` (a JSON string, js-parsons' settings) says whether
the learner indents the blocks (`"can_indent"`, true unless it says false).

Judged as Codio's line-based grader judges (js-parsons' LineBasedGrader): right if and only if the
blocks chosen are exactly the solution's, in its order, each at its indentation level (when
indenting is part of the puzzle). Levels are counted as js-parsons counts them: a line indented more
than the one before it is one level deeper. The feedback says which lines are out of place or wrongly
indented, and whether there are too few or too many.

Codio's editor may store `"initial"` HTML-escaped (`if a &lt; b:`): each line's character references
(`&lt;`, `&amp;`, `&#60;`, each ending in `;`) are read once, as a browser shows them, so `&amp;lt;`
becomes the text `&lt;`, never `<`. A `&` not starting such a reference (`&param` in C) stays as it is.

An answer is the list of chosen blocks, each written with four spaces per indentation level, which
is how answers.json keeps it.
"""

from __future__ import annotations

import html
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .codio_json import Positions, task_fields
from .task import Task
from .verdict import Verdict

INDENT = "    "
DISTRACTOR = "#distractor"
_REFERENCE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


@dataclass(frozen=True)
class Block:
    code: str  # the block's text without its indentation; several lines are joined by "\n"
    level: int = 0  # indentation level in the solution
    distractor: bool = False


@dataclass(frozen=True)
class ParsonsPuzzle(Task):
    blocks: tuple[Block, ...] = ()  # the solution in order, then the distractors
    can_indent: bool = True

    @property
    def solution(self) -> list[Block]:
        return [block for block in self.blocks if not block.distractor]

    def shuffled(self, seed: int | str = 0) -> list[Block]:
        """The blocks as a learner first sees them: mixed up, never in the solution's order."""
        blocks = list(self.blocks)
        rng = random.Random(f"{seed}\0{self.task_id}")
        for _ in range(20):
            rng.shuffle(blocks)
            if len(blocks) < 2 or blocks[:len(self.solution)] != self.solution:
                break
        return blocks

    def answer_of(self, chosen: list[tuple[Block, int]]) -> list[str]:
        """The answer as answers.json keeps it: each block at the level given (or its own, if levels are fixed)."""
        return [INDENT * (level if self.can_indent else block.level) + block.code for block, level in chosen]

    def check(self, answer: list[str], *, attempt: int = 1, workspace: Path | None = None,
              runner: Any = None) -> Verdict:
        lines = list(answer)
        given = [_split(line) for line in lines]
        model = self.solution
        problems: list[str] = []
        for number, ((code, level), block) in enumerate(zip(given, model), 1):
            if code != block.code:
                problems.append(f"line {number}: {_first(code)!r} is not the right block here")
            elif self.can_indent and level != block.level:
                problems.append(f"line {number}: {_first(code)!r} is indented {level} level(s); it belongs at "
                                f"{block.level}")
        if len(given) < len(model):
            problems.append(f"too few lines: {len(given)} of {len(model)}")
        elif len(given) > len(model):
            extra = [_first(code) for code, _ in given[len(model):]]
            problems.append(f"too many lines: {len(given)} where {len(model)} are needed ({', '.join(map(repr, extra[:3]))} "
                            "should go)")
        codes = {block.code for block in self.blocks if block.distractor}
        used = [code for code, _ in given if code in codes]
        if used:
            problems.append(f"{len(used)} of the blocks used belong nowhere in the program")
        correct = not problems
        points = self.points if correct else 0.0
        return Verdict(task_id=self.task_id, chosen=tuple(lines), correct=correct, points=points,
                       max_points=self.points, raw_points=points,
                       show_guidance=self.shows_guidance(attempt, correct, 100.0 if correct else 0.0),
                       attempt=attempt, feedback="\n".join(problems))

    def expected(self) -> str:
        return "\n".join(INDENT * block.level + block.code for block in self.solution)


def _split(line: str) -> tuple[str, int]:
    """An answer line -> (its code, its level): four spaces or a tab per level."""
    text = line.replace("\t", INDENT)
    code = text.lstrip(" ")
    return code.rstrip(), (len(text) - len(code)) // len(INDENT)


def _first(code: str) -> str:
    return code.split("\n", 1)[0]


def _levels(widths: list[int]) -> list[int]:
    """js-parsons' indentation levels from the leading spaces of each solution line."""
    levels: list[int] = []
    for i, width in enumerate(widths):
        if i == 0:
            levels.append(0)
        elif width == widths[i - 1]:
            levels.append(levels[i - 1])
        elif width > widths[i - 1]:
            levels.append(levels[i - 1] + 1)
        else:
            levels.append(next((levels[j] for j in range(i - 1, -1, -1) if widths[j] == width), 0))
    return levels


def _unescaped(line: str) -> str:
    """A line of `"initial"` with its HTML character references read once (`&amp;lt;` → `&lt;`)."""
    return _REFERENCE.sub(lambda match: html.unescape(match.group(0)).replace("\xa0", " "), line)


def parsons_from_json(raw: Any, *, origin: str, positions: Positions | None = None) -> ParsonsPuzzle:
    r, src, fields = task_fields(raw, origin=origin, positions=positions)
    initial = r.text(src, "initial")
    options: dict[str, Any] = {}
    raw_options = src.get("options")
    if isinstance(raw_options, str) and raw_options.strip():
        try:
            parsed = json.loads(raw_options)
        except ValueError:
            parsed = {}
        options = parsed if isinstance(parsed, dict) else {}
    elif isinstance(raw_options, dict):
        options = raw_options
    solution: list[tuple[str, int]] = []
    distractors: list[str] = []
    for line in initial.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            continue
        text = _unescaped(line).replace("\t", INDENT).rstrip()
        if text.endswith(DISTRACTOR):
            distractors.append(text[: -len(DISTRACTOR)].strip().replace("\\n", "\n"))
            continue
        code = text.lstrip(" ")
        solution.append((code.replace("\\n", "\n"), len(text) - len(code)))
    if not solution:
        raise r.fail(src, "initial", '"initial" holds no lines of the solution.')
    levels = _levels([width for _, width in solution])
    blocks = [Block(code, level) for (code, _), level in zip(solution, levels)]
    blocks += [Block(code, 0, True) for code in distractors]
    can_indent = options.get("can_indent", True) is not False
    return ParsonsPuzzle(**fields, blocks=tuple(blocks), can_indent=can_indent)
