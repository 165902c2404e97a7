"""Each Codio type's notebook widget: the inputs it is answered with, on the one `QuestionBox` loop.

`course.jupyter.question(task_id, guide=PATH)` gives the box for any assessment that runs here (`box_for`,
by the task's type, from a table). Every box records its answer in answers.json beside the notebook,
counts the attempt and judges it through `QuestionBox.check` (`course.lesson.answering`, the same calls
as `course quiz`), so a notebook and a terminal agree on every verdict.

- multiple choice: `ChoiceBox` (`course.jupyter.question_box`), radio buttons or checkboxes;
- fill in the blanks: a text box per blank, or a drop-down of the values when the question lists them;
- Parsons puzzle: the blocks, mixed up, each with an "add" button; the program being built, each line
  with buttons to move it up or down, indent or outdent it, or take it out;
- code tests: a Run button; the test's command runs in the guide's workspace;
- free text (and the other types a person marks): a text area and a Submit button.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from ..lesson.blanks import FillInBlanks
from ..lesson.code_tests import CodeTest, OutputCompare
from ..lesson.free_text import FreeText
from ..lesson.parsons import Block, ParsonsPuzzle
from ..lesson.questions import Question
from ..lesson.task import Task
from .question_box import ChoiceBox, QuestionBox

# Every type's box is a QuestionBox; the name the other types' boxes had is kept for code that uses it.
TaskBox = QuestionBox


class BlanksBox(QuestionBox):
    """Fill in the blanks: a text box per blank, or a drop-down of the values."""

    def draw_inputs(self, saved: list[str]) -> Any:
        task = self.task
        gaps = widgets.HTML(f"<pre style='white-space:pre-wrap'>{html.escape(task.text_with_gaps())}</pre>")
        options = task.options(self.seed)
        self.inputs: list[Any] = []
        for number in range(len(task.blanks)):
            value = saved[number] if number < len(saved) else ""
            if task.drop_down:
                box: Any = widgets.Dropdown(options=[""] + options, value=value if value in options else "",
                                            description=f"Blank {number + 1}")
            else:
                box = widgets.Text(value=value, description=f"Blank {number + 1}")
            self.inputs.append(box)
        return widgets.VBox([gaps, *self.inputs])

    def fill(self, *values: str) -> None:
        """Put values in the blanks (what typing or choosing them does)."""
        for box, value in zip(self.inputs, values):
            box.value = value

    def answer(self) -> list[str] | None:
        values = [str(box.value or "") for box in self.inputs]
        return values if any(v.strip() for v in values) else None


class PuzzleBox(QuestionBox):
    """A Parsons puzzle: the blocks to add, and the program being built from them."""

    def draw_inputs(self, saved: list[str]) -> Any:
        self.program: list[tuple[Block, int]] = []
        self.blocks = self.task.shuffled(self.seed)
        self.area = widgets.VBox([])
        self._draw_puzzle()
        return self.area

    def _draw_puzzle(self) -> None:
        used = {id(block) for block, _ in self.program}
        rows: list[Any] = [widgets.HTML("<b>Blocks</b>")]
        for number, block in enumerate(self.blocks, 1):
            if id(block) in used:
                continue
            add = widgets.Button(description="add", layout=widgets.Layout(width="4em"))
            add.on_click(lambda _b, n=number: self.place(n))
            rows.append(widgets.HBox([add, widgets.HTML(f"<code>{number}) {html.escape(block.code)}</code>")]))
        rows.append(widgets.HTML("<b>Your program</b>"))
        for index, (block, level) in enumerate(self.program):
            buttons = []
            for text, action in (("↑", "up"), ("↓", "down"), ("←", "out"), ("→", "in"), ("✕", "remove")):
                if action in ("out", "in") and not self.task.can_indent:
                    continue
                button = widgets.Button(description=text, layout=widgets.Layout(width="2.5em"))
                button.on_click(lambda _b, i=index, a=action: self.move(i, a))
                buttons.append(button)
            shown = "&nbsp;" * 4 * (level if self.task.can_indent else block.level) + html.escape(block.code)
            rows.append(widgets.HBox([*buttons, widgets.HTML(f"<code>{shown}</code>")]))
        self.area.children = rows

    def place(self, *numbers: int | str) -> None:
        """Add blocks to the program by their numbers in the list; `">2"` adds block 2 indented one level."""
        for item in numbers:
            text = str(item)
            level = len(text) - len(text.lstrip(">"))
            block = self.blocks[int(text.lstrip(">")) - 1]
            if all(block is not placed for placed, _ in self.program):
                self.program.append((block, level))
        self._draw_puzzle()

    def move(self, index: int, action: str) -> None:
        block, level = self.program[index]
        if action == "remove":
            del self.program[index]
        elif action == "up" and index > 0:
            self.program[index - 1], self.program[index] = self.program[index], self.program[index - 1]
        elif action == "down" and index + 1 < len(self.program):
            self.program[index + 1], self.program[index] = self.program[index], self.program[index + 1]
        elif action == "in":
            self.program[index] = (block, level + 1)
        elif action == "out":
            self.program[index] = (block, max(0, level - 1))
        self._draw_puzzle()

    def answer(self) -> list[str] | None:
        return self.task.answer_of(self.program) if self.program else None


class TestBox(QuestionBox):
    """A code test: a Run button; the guide's command runs in its workspace."""

    button_label = "Run test"

    def draw_inputs(self, saved: list[str]) -> Any:
        where = html.escape(str(self.workspace or Path.cwd()))
        return widgets.VBox([widgets.HTML(f"<i>Runs <code>{html.escape(self.task.command)}</code> in {where}.</i>")])


class WrittenBox(QuestionBox):
    """Free text (and the other types a person marks): a text area and a Submit button."""

    button_label = "Submit"

    def draw_inputs(self, saved: list[str]) -> Any:
        self.text = widgets.Textarea(value=saved[0] if saved else "", placeholder="Your answer",
                                     layout=widgets.Layout(width="100%", height="8em"))
        return widgets.VBox([self.text, widgets.HTML("<i>A person marks this answer; here it is recorded.</i>")])

    def answer(self) -> list[str] | None:
        return [self.text.value] if self.text.value.strip() else None


BOXES: dict[type, type[QuestionBox]] = {Question: ChoiceBox, FillInBlanks: BlanksBox, ParsonsPuzzle: PuzzleBox,
                                        OutputCompare: TestBox, CodeTest: TestBox, FreeText: WrittenBox}


def box_for(task: Task, answers_path: Path, workspace: Path | None = None) -> QuestionBox:
    """The widget that asks `task` (by its type, or the nearest type it is made from)."""
    box = next((BOXES[kind] for kind in type(task).__mro__ if kind in BOXES), QuestionBox)
    return box(task, answers_path, workspace)
