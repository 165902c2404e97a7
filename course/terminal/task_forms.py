"""How each Codio type is asked in a terminal: one `Form` per type, which the quiz's one loop uses for every task.

The quiz (`course.terminal.quiz`) asks every task the same way: a panel with the instructions and the
type's own part, an answer typed at a prompt, the attempt saved at once in answers.json, the verdict and,
when its rule says so, the guidance. Invalid input is explained and asked again without costing an
attempt; Enter on the first prompt skips the question, `q` ends the quiz. What differs by type is here:

- multiple choice: lettered options; one letter, or several separated by spaces or commas;
- fill in the blanks: one prompt per blank; for drop-down blanks, a letter from the list (or the value);
- Parsons puzzle: the block numbers in order, `>` before a number for each level of indentation;
- code tests: `r` runs the guide's command in the guide's workspace and shows what it found;
- free text (and the other types a person marks): lines of text, ended by an empty line.

`form_for(task)` picks the form by the task's type (a table, not a chain of type tests).
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console, RenderableType
from rich.markdown import Markdown
from rich.table import Table
from rich.text import Text

from ..lesson.blanks import FillInBlanks
from ..lesson.code_tests import CodeTest, OutputCompare
from ..lesson.free_text import FreeText
from ..lesson.parsons import Block, ParsonsPuzzle
from ..lesson.questions import Answer, Question, display_order
from ..lesson.task import Task
from .pages import render_text

LETTERS = string.ascii_lowercase
QUIT = ("q", "quit")
Ask = Callable[[str], str]
Stop = Callable[[str], Exception]


class Form:
    """How one task is asked in a terminal; each type's form changes what differs."""

    def __init__(self, task: Any, seed: int | str, workspace: Path | None) -> None:
        self.task = task
        self.seed = seed
        self.workspace = workspace

    def body(self) -> list[RenderableType]:
        """The instructions and the type's own part (the blanks, the blocks, what the test runs)."""
        return [render_text(self.task.instructions)] if self.task.instructions.strip() else []

    def how(self) -> str:
        return "Type your answer; an empty line ends it."

    def asking(self, used: int) -> list[RenderableType]:
        """The question's panel when it is asked."""
        attempts = Text(f"Attempts: {used} of {self.task.max_attempts} used.", style="dim") if self.task.max_attempts \
            else Text()
        return [*self.body(), Text(), Text(self.how(), style="dim"), attempts]

    def shown(self, saved: list[str]) -> str:
        """A saved answer as the learner reads it."""
        return "\n".join(saved)

    def answered(self, saved: list[str]) -> list[RenderableType]:
        """The panel of a question finished before, above its verdict: the question and the answer saved."""
        return [*self.body(), Text(), Text("Your answer:", style="bold"), Text(self.shown(saved))]

    def last_answer(self, saved: list[str]) -> Text:
        return Text(f"Your last answer: {self.shown(saved)}", style="yellow")

    def before_check(self, console: Console) -> None:
        """Said just before the answer is checked (a code test says what it runs, and where)."""

    def gather(self, console: Console, ask: Ask, stop: Stop) -> list[str] | None:
        """The learner's answer, or None to skip; input that can't be an answer is explained and asked again."""
        lines: list[str] = []
        while True:
            raw = ask("Your answer (Enter to skip, q to quit): " if not lines else "... ")
            if not lines and raw.strip().lower() in QUIT:
                raise stop("quit")
            if not raw.strip():
                return ["\n".join(lines)] if lines else None
            lines.append(raw.rstrip())


class ChoiceForm(Form):
    """Multiple choice: the options lettered a, b, c… in the order this learner sees them."""

    def __init__(self, task: Question, seed: int | str, workspace: Path | None) -> None:
        super().__init__(task, seed, workspace)
        self.options = display_order(task, seed)

    def asking(self, used: int) -> list[RenderableType]:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column()
        for letter, answer in zip(LETTERS, self.options):
            grid.add_row(Text(f"{letter})", style="bold cyan"), Markdown(answer.text))
        how = "Choose all that apply: letters separated by spaces or commas." if self.task.multiple else "Choose one letter."
        if self.task.max_attempts:
            how += f" Attempts: {used} of {self.task.max_attempts} used."
        return [render_text(self.task.instructions), Text(), grid, Text(how, style="dim")]

    def shown(self, saved: list[str]) -> str:
        ids = [a.id for a in self.options]
        return ", ".join(f"{LETTERS[ids.index(c)]}) {self.options[ids.index(c)].text}" for c in saved if c in ids)

    def answered(self, saved: list[str]) -> list[RenderableType]:
        return [render_text(self.task.instructions), Text(), Text(f"Your answer: {self.shown(saved)}")]

    def last_answer(self, saved: list[str]) -> Text:
        return Text(f"Your last answer: {self.shown(saved)}; not quite.", style="yellow")

    def gather(self, console: Console, ask: Ask, stop: Stop) -> list[str] | None:
        quit_words = ("quit",) if len(self.options) > LETTERS.index("q") else ("q", "quit")
        while True:
            raw = ask(f"Your answer (Enter to skip, {quit_words[0]} to quit): ")
            if not raw.strip():
                return None
            if raw.strip().lower() in quit_words:
                raise stop("quit")
            parsed = parse_letters(raw, self.options, self.task.multiple)
            if isinstance(parsed, str):
                console.print(parsed + " (That didn't use an attempt.)", style="yellow", highlight=False)
                continue
            return parsed


def parse_letters(raw: str, options: list[Answer], multiple: bool) -> list[str] | str:
    """Letters typed -> answer ids in display order, or a sentence saying what is wrong with the input."""
    last = LETTERS[len(options) - 1]
    tokens = [t.strip("().") for t in re.split(r"[\s,;]+", raw.strip().lower()) if t.strip("().")]
    letters: list[str] = []
    for token in tokens:
        if len(token) != 1 or token not in LETTERS[: len(options)]:
            if len(token) > 1 and all(c in LETTERS[: len(options)] for c in token):
                return f"Separate the letters with spaces or commas, like: {' '.join(token)}"
            return f"{token!r} is not one of the options; type a letter from a to {last}."
        if token not in letters:
            letters.append(token)
    if not letters:
        return f"Type a letter from a to {last}."
    if not multiple and len(letters) > 1:
        return "This question takes one answer: type a single letter."
    return [options[LETTERS.index(letter)].id for letter in letters]


class BlanksForm(Form):
    def body(self) -> list[RenderableType]:
        parts = [*super().body(), Text(), Text(self.task.text_with_gaps())]
        if self.task.drop_down:
            grid = Table.grid(padding=(0, 1))
            grid.add_column(no_wrap=True)
            grid.add_column()
            for letter, value in zip(LETTERS, self.task.options(self.seed)):
                grid.add_row(Text(f"{letter})", style="bold cyan"), Text(value))
            parts += [Text(), Text("Values to choose from:", style="bold"), grid]
        return parts

    def how(self) -> str:
        what = "a letter from the list (or the value itself)" if self.task.drop_down else "what goes in it"
        return f"For each blank, type {what}."

    def shown(self, saved: list[str]) -> str:
        return self.task.text_with_gaps(saved)

    def gather(self, console: Console, ask: Ask, stop: Stop) -> list[str] | None:
        return _blanks(self.task, console, ask, self.seed, stop)


class PuzzleForm(Form):
    def body(self) -> list[RenderableType]:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True, justify="right")
        grid.add_column()
        for number, block in enumerate(self.task.shuffled(self.seed), 1):
            grid.add_row(Text(f"{number})", style="bold cyan"), Text(block.code))
        parts = [*super().body(), Text(), Text("The blocks:", style="bold"), grid]
        if any(block.distractor for block in self.task.blocks):
            parts.append(Text("Some blocks belong nowhere in the program: leave them out.", style="dim"))
        return parts

    def how(self) -> str:
        indent = " Put > before a number for each level it is indented (3 >1 >>2)." if self.task.can_indent else ""
        return f"Type the numbers of the blocks in the order they go, like 3 1 2.{indent}"

    def shown(self, saved: list[str]) -> str:
        return "\n" + "\n".join(saved)

    def gather(self, console: Console, ask: Ask, stop: Stop) -> list[str] | None:
        return _parsons(self.task, console, ask, self.seed, stop)


class TestForm(Form):
    """Code tests: the learner saves their code, then `r` runs the guide's command on it."""

    def where(self) -> Path:
        return self.workspace or Path.cwd()

    def how(self) -> str:
        return "Save your code first; then type r to run the test."

    def before_check(self, console: Console) -> None:
        console.print(f"Running {self.task.command!r} in {self.where()} …", style="dim", highlight=False,
                      soft_wrap=True)

    def gather(self, console: Console, ask: Ask, stop: Stop) -> list[str] | None:
        while True:
            raw = ask("Type r to run the test (Enter to skip, q to quit): ").strip().lower()
            if not raw:
                return None
            if raw in QUIT:
                raise stop("quit")
            if raw in ("r", "run", "y", "yes"):
                return []
            console.print("Type r to run it, or press Enter to skip.", style="yellow", highlight=False)


class OutputCompareForm(TestForm):
    def body(self) -> list[RenderableType]:
        return [*super().body(), Text(), Text(f"The test runs `{self.task.command}` in {self.where()} on "
                                              f"{len(self.task.cases)} case(s) and compares its output with the "
                                              f"expected ({self.task.options_text()}).")]


class CodeTestForm(TestForm):
    def body(self) -> list[RenderableType]:
        return [*super().body(), Text(), Text(f"The test runs `{self.task.command}` in {self.where()}; it passes "
                                              "when the command exits with 0.")]


class WrittenForm(Form):
    def body(self) -> list[RenderableType]:
        return [*super().body(), Text(), Text("Answer in your own words. A person marks this answer; here it is "
                                              "recorded.", style="italic")]


FORMS: dict[type, type[Form]] = {Question: ChoiceForm, FillInBlanks: BlanksForm, ParsonsPuzzle: PuzzleForm,
                                 OutputCompare: OutputCompareForm, CodeTest: CodeTestForm, FreeText: WrittenForm}


def form_for(task: Task, *, seed: int | str, workspace: Path | None) -> Form:
    """The form that asks `task` in a terminal (by its type, or the nearest type it is made from)."""
    form = next((FORMS[kind] for kind in type(task).__mro__ if kind in FORMS), Form)
    return form(task, seed, workspace)


def _blanks(task: FillInBlanks, console: Console, ask: Callable[[str], str], seed: int | str,
            stop: Callable[[str], Exception]) -> list[str] | None:
    options = task.options(seed) if task.drop_down else []
    values: list[str] = []
    for number in range(1, len(task.blanks) + 1):
        while True:
            raw = ask(f"Blank {number}" + (" (Enter to skip, q to quit)" if number == 1 else "") + ": ")
            if number == 1 and not raw.strip():
                return None
            if number == 1 and raw.strip().lower() in QUIT and not (task.drop_down and raw.strip().lower() == "q"
                                                                    and len(options) > LETTERS.index("q")):
                raise stop("quit")
            if not options:
                values.append(raw.strip())
                break
            chosen = _option(raw, options)
            if chosen is None:
                console.print(f"{raw.strip()!r} is not in the list: type a letter from a to {LETTERS[len(options) - 1]}. "
                              "(That didn't use an attempt.)", style="yellow", highlight=False)
                continue
            values.append(chosen)
            break
    return values


def _option(raw: str, options: list[str]) -> str | None:
    text = raw.strip()
    if len(text) == 1 and text.lower() in LETTERS[:len(options)]:
        return options[LETTERS.index(text.lower())]
    return next((value for value in options if value == text), None) or \
        next((value for value in options if value.casefold() == text.casefold()), None)


def parse_order(raw: str, count: int, can_indent: bool) -> list[tuple[int, int]] | str:
    """`3 >1 >>2` -> [(3, 0), (1, 1), (2, 2)] (block number, indentation level), or what is wrong with it."""
    tokens = [t for t in re.split(r"[\s,;]+", raw.strip()) if t]
    order: list[tuple[int, int]] = []
    for token in tokens:
        match = re.fullmatch(r"(>*)(\d+)", token)
        if not match:
            return f"{token!r} is not a block number; type numbers like 3 1 2" + (", with > to indent." if can_indent else ".")
        level, number = len(match.group(1)), int(match.group(2))
        if not 1 <= number <= count:
            return f"there is no block {number}; the blocks are 1 to {count}."
        if level and not can_indent:
            return "this puzzle sets the indentation itself: type the numbers alone."
        if number in [n for n, _ in order]:
            return f"block {number} is given twice; each block goes in once."
        order.append((number, level))
    return order or f"type the numbers of the blocks (1 to {count}) in order."


def _parsons(task: ParsonsPuzzle, console: Console, ask: Callable[[str], str], seed: int | str,
             stop: Callable[[str], Exception]) -> list[str] | None:
    blocks: list[Block] = task.shuffled(seed)
    while True:
        raw = ask("Your order (Enter to skip, q to quit): ")
        if not raw.strip():
            return None
        if raw.strip().lower() in QUIT:
            raise stop("quit")
        parsed = parse_order(raw, len(blocks), task.can_indent)
        if isinstance(parsed, str):
            console.print(parsed[0].upper() + parsed[1:] + " (That didn't use an attempt.)", style="yellow",
                          highlight=False)
            continue
        answer = task.answer_of([(blocks[number - 1], level) for number, level in parsed])
        console.print(Text("Your program:\n" + "\n".join(answer), style="dim"))
        return answer
