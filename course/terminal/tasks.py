"""The quiz's other Codio types in a terminal: blanks, Parsons puzzles, code tests and answers in words.

Each is asked the way the multiple-choice questions are (`course.terminal.quiz`): a panel with the
instructions, an answer typed at a prompt, the attempt saved at once in answers.json, the verdict and,
when its rule says so, the guidance. Invalid input is explained and asked again without costing an
attempt; Enter on the first prompt skips the question, `q` ends the quiz.

- fill in the blanks: one prompt per blank; for drop-down blanks, a letter from the list (or the value);
- Parsons puzzle: the block numbers in order, `>` before a number for each level of indentation;
- code tests: `r` runs the guide's command in the guide's workspace and shows what it found;
- free text (and the other types a person marks): lines of text, ended by an empty line.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.markdown import Markdown
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..lesson.answers import attempts_used, load_answers, record_answer
from ..lesson.assessments import judge
from ..lesson.blanks import FillInBlanks
from ..lesson.code_tests import CodeTest, OutputCompare
from ..lesson.free_text import FreeText
from ..lesson.parsons import Block, ParsonsPuzzle

LETTERS = string.ascii_lowercase
QUIT = ("q", "quit")


def run_task(task: Any, outcome: Any, title: str, *, answers_path: Path, console: Console, ask: Callable[[str], str],
             seed: int | str, workspace: Path | None, stop: Callable[[str], Exception]) -> None:
    """Ask one question of a type other than multiple choice; `outcome` (a QuestionOutcome) is filled in."""
    used = attempts_used(answers_path, task.task_id)
    earlier = load_answers(answers_path).get(task.task_id) if used else None
    body = _body(task, seed, workspace)
    if earlier is not None:
        verdict = _recorded(task, earlier, used)
        if verdict is not None:
            outcome.verdict, outcome.recorded, outcome.status = verdict, True, verdict.status
        done = verdict is not None and (verdict.correct or (task.max_attempts and used >= task.max_attempts))
        if done:
            console.print(Panel(Group(*body, Text(), Text("Your answer:", style="bold"), Text(_shown(task, earlier)),
                                      verdict, _attempts_line(task, used, finished=True)),
                                title=title, title_align="left"))
            if verdict.show_guidance:
                _guidance(console, task)
            return
    console.print(Panel(Group(*body, Text(), Text(_how(task), style="dim"), _attempts_line(task, used)),
                        title=title, title_align="left"))
    if earlier is not None:
        console.print(Text(f"Your last answer: {_shown(task, earlier)}", style="yellow"), highlight=False)
    while True:
        if task.max_attempts and used >= task.max_attempts:
            console.print(f"No attempts left on this question ({used} of {task.max_attempts} used); moving on.",
                          highlight=False)
            if outcome.status == "skipped":
                outcome.status = "no attempts left"
            return
        answer = _gather(task, console, ask, seed, stop)
        if answer is None:
            console.print("Skipped.", style="dim", highlight=False)
            return
        if isinstance(task, (OutputCompare, CodeTest)):
            console.print(f"Running {task.command!r} in {workspace or Path.cwd()} …", style="dim", highlight=False,
                          soft_wrap=True)
            verdict = judge(task, answer, attempt=used + 1, workspace=workspace)
            used = record_answer(answers_path, task.task_id, list(verdict.chosen))
        else:
            used = record_answer(answers_path, task.task_id, answer)
            verdict = judge(task, answer, attempt=used, workspace=workspace)
        outcome.attempts_made += 1
        outcome.verdict, outcome.recorded, outcome.status = verdict, False, verdict.status
        console.print(verdict)
        if verdict.show_guidance:
            _guidance(console, task)
        if verdict.correct or verdict.by_person:
            return
        if task.max_attempts and used >= task.max_attempts:
            continue
        left = f" ({task.max_attempts - used} left)" if task.max_attempts else ""
        console.print(f"Try again{left}, or press Enter to move on.", style="dim", highlight=False)


def _recorded(task: Any, saved: list[str], used: int) -> Any:
    """The verdict on an answer an earlier run saved; code tests are not run again (their result was saved)."""
    from ..lesson.questions import Verdict

    try:
        if isinstance(task, (OutputCompare, CodeTest)):
            said = saved[0] if saved else ""
            match = re.match(r"(\d+) of (\d+) cases passed", said)
            correct = said == "passed" or bool(match and match.group(1) == match.group(2) != "0")
            return Verdict(task_id=task.task_id, chosen=tuple(saved), correct=correct,
                           points=task.points if correct else 0.0, max_points=task.points,
                           raw_points=task.points if correct else 0.0,
                           show_guidance=task.guidance_rule.shows(used, correct, 100.0 if correct else 0.0),
                           attempt=used, note=f"Last run: {said or 'no result'}.")
        return judge(task, saved, attempt=used, workspace=None)
    except Exception:  # noqa: BLE001 - an answers.json edited by hand: ask again rather than fail
        return None


def _attempts_line(task: Any, used: int, *, finished: bool = False) -> Text:
    if finished:
        return Text(f"Attempts: {used}" + (f" of {task.max_attempts}" if task.max_attempts else "")
                    + " used; this question is finished.", style="dim")
    if task.max_attempts:
        return Text(f"Attempts: {used} of {task.max_attempts} used.", style="dim")
    return Text()


def _guidance(console: Console, task: Any) -> None:
    if task.guidance.strip():
        console.print(Panel(Markdown(task.guidance), title="Guidance", title_align="left", border_style="blue"))


def _body(task: Any, seed: int | str, workspace: Path | None) -> list[RenderableType]:
    parts: list[RenderableType] = [Markdown(task.instructions)] if task.instructions.strip() else []
    where = workspace or Path.cwd()
    if isinstance(task, FillInBlanks):
        parts += [Text(), Text(task.text_with_gaps())]
        if task.drop_down:
            grid = Table.grid(padding=(0, 1))
            grid.add_column(no_wrap=True)
            grid.add_column()
            for letter, value in zip(LETTERS, task.options(seed)):
                grid.add_row(Text(f"{letter})", style="bold cyan"), Text(value))
            parts += [Text(), Text("Values to choose from:", style="bold"), grid]
    elif isinstance(task, ParsonsPuzzle):
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True, justify="right")
        grid.add_column()
        for number, block in enumerate(task.shuffled(seed), 1):
            grid.add_row(Text(f"{number})", style="bold cyan"), Text(block.code))
        parts += [Text(), Text("The blocks:", style="bold"), grid]
        if any(block.distractor for block in task.blocks):
            parts.append(Text("Some blocks belong nowhere in the program: leave them out.", style="dim"))
    elif isinstance(task, OutputCompare):
        parts += [Text(), Text(f"The test runs `{task.command}` in {where} on {len(task.cases)} case(s) and compares "
                               f"its output with the expected ({task.options_text()}).")]
    elif isinstance(task, CodeTest):
        parts += [Text(), Text(f"The test runs `{task.command}` in {where}; it passes when the command exits with 0.")]
    elif isinstance(task, FreeText):
        parts += [Text(), Text("Answer in your own words. A person marks this answer; here it is recorded.",
                               style="italic")]
    return parts


def _how(task: Any) -> str:
    if isinstance(task, FillInBlanks):
        what = "a letter from the list (or the value itself)" if task.drop_down else "what goes in it"
        return f"For each blank, type {what}."
    if isinstance(task, ParsonsPuzzle):
        indent = " Put > before a number for each level it is indented (3 >1 >>2)." if task.can_indent else ""
        return f"Type the numbers of the blocks in the order they go, like 3 1 2.{indent}"
    if isinstance(task, (OutputCompare, CodeTest)):
        return "Save your code first; then type r to run the test."
    return "Type your answer; an empty line ends it."


def _shown(task: Any, saved: list[str]) -> str:
    if isinstance(task, FillInBlanks):
        return task.text_with_gaps(saved)
    if isinstance(task, ParsonsPuzzle):
        return "\n" + "\n".join(saved)
    return "\n".join(saved)


def _gather(task: Any, console: Console, ask: Callable[[str], str], seed: int | str,
            stop: Callable[[str], Exception]) -> list[str] | None:
    """The learner's answer, or None to skip; input that can't be an answer is explained and asked again."""
    if isinstance(task, FillInBlanks):
        return _blanks(task, console, ask, seed, stop)
    if isinstance(task, ParsonsPuzzle):
        return _parsons(task, console, ask, seed, stop)
    if isinstance(task, (OutputCompare, CodeTest)):
        while True:
            raw = ask("Type r to run the test (Enter to skip, q to quit): ").strip().lower()
            if not raw:
                return None
            if raw in QUIT:
                raise stop("quit")
            if raw in ("r", "run", "y", "yes"):
                return []
            console.print("Type r to run it, or press Enter to skip.", style="yellow", highlight=False)
    lines: list[str] = []
    while True:
        raw = ask("Your answer (Enter to skip, q to quit): " if not lines else "... ")
        if not lines and raw.strip().lower() in QUIT:
            raise stop("quit")
        if not raw.strip():
            return ["\n".join(lines)] if lines else None
        lines.append(raw.rstrip())


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
