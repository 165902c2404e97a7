"""A guide's other Codio types as notebook widgets: blanks, Parsons puzzles, code tests, answers in words.

`course.jupyter.question(task_id, guide=PATH)` gives one of these for any assessment that is not
multiple choice (which keeps its own `QuestionBox`). Every one records its answer in answers.json
beside the notebook, counts the attempt and judges it with `course.lesson.assessments.judge`, the
same call as `course quiz`, so a notebook and a terminal agree on every verdict.

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

from ..errors import CourseError
from ..lesson.blanks import FillInBlanks
from ..lesson.code_tests import CodeTest, OutputCompare
from ..lesson.free_text import FreeText
from ..lesson.parsons import Block, ParsonsPuzzle
from .widgets import _markdown, show_attempts


class TaskBox(widgets.VBox):
    """One assessment of a guide that is not multiple choice; `check()` is what its button does."""

    def __init__(self, task: Any, answers_path: Path, workspace: Path | None = None) -> None:
        from ..lesson.answers import attempts_used, load_answers

        self.task = task
        self.answers_path = answers_path
        self.workspace = workspace
        self.seed = str(answers_path.resolve())
        used = attempts_used(answers_path, task.task_id)
        saved = load_answers(answers_path).get(task.task_id, []) if used else []
        title = f"<b class='course-question-title'>{html.escape(task.title)}</b>" if task.title else ""
        self.prompt = widgets.HTML(f"{title}{_markdown(task.instructions)}")
        self.inputs: list[Any] = []
        self.program: list[tuple[Block, int]] = []
        self.area: Any = widgets.VBox([])
        label = "Check"
        if isinstance(task, FillInBlanks):
            self._blanks(saved)
        elif isinstance(task, ParsonsPuzzle):
            self.blocks = task.shuffled(self.seed)
            self._draw_puzzle()
        elif isinstance(task, (OutputCompare, CodeTest)):
            where = html.escape(str(workspace or Path.cwd()))
            self.area.children = [widgets.HTML(f"<i>Runs <code>{html.escape(task.command)}</code> in {where}.</i>")]
            label = "Run test"
        elif isinstance(task, FreeText):
            self.text = widgets.Textarea(value=saved[0] if saved else "", placeholder="Your answer",
                                         layout=widgets.Layout(width="100%", height="8em"))
            self.area.children = [self.text, widgets.HTML("<i>A person marks this answer; here it is recorded.</i>")]
            label = "Submit"
        self.button = widgets.Button(description=label, button_style="info")
        self.attempts = widgets.HTML("")
        self.feedback = widgets.HTML("")
        super().__init__([self.prompt, self.area, widgets.HBox([self.button, self.attempts]), self.feedback])
        self.add_class("course-question")
        self._show_attempts(used)
        self.button.on_click(lambda _button: self.check())

    # fill in the blanks ---------------------------------------------------------------------------------

    def _blanks(self, saved: list[str]) -> None:
        task = self.task
        gaps = widgets.HTML(f"<pre style='white-space:pre-wrap'>{html.escape(task.text_with_gaps())}</pre>")
        options = task.options(self.seed)
        for number in range(len(task.blanks)):
            value = saved[number] if number < len(saved) else ""
            if task.drop_down:
                box: Any = widgets.Dropdown(options=[""] + options, value=value if value in options else "",
                                            description=f"Blank {number + 1}")
            else:
                box = widgets.Text(value=value, description=f"Blank {number + 1}")
            self.inputs.append(box)
        self.area.children = [gaps, *self.inputs]

    def fill(self, *values: str) -> None:
        """Put values in the blanks (what typing or choosing them does)."""
        for box, value in zip(self.inputs, values):
            box.value = value

    # Parsons puzzle -------------------------------------------------------------------------------------

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

    # checking -------------------------------------------------------------------------------------------

    def answer(self) -> list[str] | None:
        task = self.task
        if isinstance(task, FillInBlanks):
            values = [str(box.value or "") for box in self.inputs]
            return values if any(v.strip() for v in values) else None
        if isinstance(task, ParsonsPuzzle):
            return task.answer_of(self.program) if self.program else None
        if isinstance(task, FreeText):
            return [self.text.value] if self.text.value.strip() else None
        return []

    def _show_attempts(self, used: int) -> None:
        show_attempts(self, used, self.task.max_attempts)

    def check(self) -> Any:
        """Save the answer, count the attempt, judge it (running the test for code tests) and show the verdict."""
        from ..lesson.answers import attempts_used, record_answer
        from ..lesson.assessments import judge

        task = self.task
        used = attempts_used(self.answers_path, task.task_id)
        if task.max_attempts and used >= task.max_attempts:
            self.feedback.value = (f"<div class='course-feedback'>No attempts left on this question ({used} of "
                                   f"{task.max_attempts} used).</div>")
            return None
        answer = self.answer()
        if answer is None:
            self.feedback.value = "<div class='course-feedback'>Answer first (that didn't use an attempt).</div>"
            return None
        try:
            if isinstance(task, (OutputCompare, CodeTest)):
                verdict = judge(task, answer, attempt=used + 1, workspace=self.workspace)
                used = record_answer(self.answers_path, task.task_id, list(verdict.chosen))
            else:
                used = record_answer(self.answers_path, task.task_id, answer)
                verdict = judge(task, answer, attempt=used, workspace=self.workspace)
        except CourseError as exc:
            self.feedback.value = f"<div class='course-feedback' style='color:#b00020'>{html.escape(str(exc))}</div>"
            return None
        self.feedback.value = self._feedback(verdict, used)
        self._show_attempts(used)
        return verdict

    def _feedback(self, verdict: Any, used: int) -> str:
        task = self.task
        if verdict.by_person:
            head = (f"<b style='color:#00629b'>Answer saved.</b> <span style='color:gray'>A person marks it (out of "
                    f"{verdict.max_points:g} points); it is not graded here.</span>")
        else:
            colour = "#1b7f3b" if verdict.correct else "#a15c00"
            head = (f"<b style='color:{colour}'>{'Correct!' if verdict.correct else 'Not quite.'}</b> "
                    f"<span style='color:gray'>{verdict.points:g}/{verdict.max_points:g} points</span>")
        parts = [f"<div class='course-feedback' data-status='{verdict.status}'>", head]
        if verdict.feedback:
            parts.append(f"<pre style='white-space:pre-wrap'>{html.escape(verdict.feedback)}</pre>")
        if verdict.note:
            parts.append(f"<div style='color:gray'>{html.escape(verdict.note)}</div>")
        if verdict.show_guidance and task.guidance.strip():
            parts.append(f"<div class='course-guidance' style='border-left:4px solid #00629b;padding-left:6px'>"
                         f"<b>Guidance</b>{_markdown(task.guidance)}</div>")
        if not verdict.correct and not verdict.by_person:
            if task.max_attempts and used >= task.max_attempts:
                parts.append("<div>No attempts left on this question.</div>")
            else:
                left = f" ({task.max_attempts - used} left)" if task.max_attempts else ""
                parts.append(f"<div style='color:gray'>Try again{left}.</div>")
        parts.append("</div>")
        return "".join(parts)
