"""A question widget for a notebook: one `QuestionBox` loop for every type, and multiple choice's `ChoiceBox`.

The loop is the same for every type: the prompt, the type's inputs, a button (`check()` is what a click
does) that saves the answer, counts the attempt and judges it (`course.lesson.answering`, as `course
quiz` does), then the verdict, the guidance when its rule says so, and the attempts left. A question
finished before shows its saved answer and result. Each type's box (`ChoiceBox` here, the others in
`course.jupyter.task_boxes`) only draws its inputs and reads the answer from them.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from ..errors import CourseError
from ..lesson.wording import capitalised, for_people

# Called after every answer checked (the notebook's progress widgets refresh).
ANSWERED: list[Callable[[], None]] = []


def _markdown(text: str) -> str:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).render(text)


def page_html(text: str) -> str:
    """An assessment's instructions or guidance as HTML, converted as a guide's pages are (`for_reader`: the HTML
    in them read as Markdown, `<details>` as titled sections, Codio's link actions in words), then drawn with
    HTML off, so that nothing an author wrote acts in the page. Text that cannot be converted is shown as it is."""
    from ..lesson.codio_pages import Markdown
    from ..lesson.reading import for_reader
    from .guide_notebooks import markdown_of

    try:
        return _markdown(markdown_of(for_reader([Markdown(text)])))
    except Exception:  # noqa: BLE001 - any text an author writes must still be readable
        return f"<pre style='white-space:pre-wrap'>{html.escape(text)}</pre>"


def plain_text(markdown: str) -> str:
    """One line of Markdown as the words it shows, without its marks (`code` → code): for a choice's label and
    its tooltip, which show text, not HTML."""
    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark", {"html": False}).renderInline(markdown)
    return html.unescape(re.sub(r"<[^>]+>", "", rendered))


def show_attempts(box: Any, used: int, limit: int) -> None:
    """A question widget's attempts count, and its button off once the last attempt is used."""
    if limit:
        box.attempts.value = f"<span style='color:gray'>attempts: {used} of {limit}</span>"
        box.button.disabled = used >= limit
    else:
        box.attempts.value = f"<span style='color:gray'>attempts: {used}</span>" if used else ""


class QuestionBox(widgets.VBox):
    """One question of any type: its prompt, the type's inputs, a button (`check()` is what a click does) and its
    feedback. Each type's box (`ChoiceBox`, and those of `course.jupyter.task_boxes`) draws its inputs and reads the
    answer from them; saving, counting, checking and the feedback are this one loop's, for every type."""

    button_label = "Check"
    button_icon = ""
    empty_message = "Answer first (that didn't use an attempt)."

    def __init__(self, task: Any, answers_path: Path, workspace: Path | None = None) -> None:
        from ..lesson.answering import earlier_answer

        self.task = task
        self.answers_path = answers_path
        self.workspace = workspace
        self.seed = str(answers_path.resolve())
        earlier = earlier_answer(task, answers_path)
        label = self.title_text()
        title = f"<b class='course-question-title'>{html.escape(label)}</b>" if label else ""
        self.prompt = widgets.HTML(f"{title}{page_html(task.instructions)}{self.prompt_note()}")
        self.area: Any = self.draw_inputs(earlier.answer or [])
        self.button = widgets.Button(description=self.button_label, button_style="info", icon=self.button_icon)
        self.attempts = widgets.HTML("")
        self.feedback = widgets.HTML("")
        super().__init__([self.prompt, self.area, widgets.HBox([self.button, self.attempts]), self.feedback])
        self.add_class("course-question")
        self._show_attempts(earlier.used)
        if earlier.verdict is not None and earlier.finished(task):  # finished before: its saved answer and result
            self.feedback.value = self._feedback(earlier.verdict, earlier.used, recorded=True)
            self.button.disabled = True
        self.button.on_click(lambda _button: self.check())

    # each type's own part -------------------------------------------------------------------------------

    def title_text(self) -> str:
        """The question's title above it ("" for none)."""
        return self.task.title

    def prompt_note(self) -> str:
        """What follows the instructions (how to answer), as HTML."""
        return ""

    def draw_inputs(self, saved: list[str]) -> Any:
        """The widget the learner answers with, filled with the answer saved before."""
        return widgets.VBox([])

    def answer(self) -> list[str] | None:
        """The answer the inputs hold; None when there is none yet."""
        return []

    # the loop, for every type ---------------------------------------------------------------------------

    def _show_attempts(self, used: int) -> None:
        show_attempts(self, used, self.task.max_attempts)

    def check(self) -> Any:
        """Save the answer, count the attempt, judge it (running the test for code tests) and show the verdict."""
        from ..lesson.answering import answer_task
        from ..lesson.answers import attempts_used

        task = self.task
        used = attempts_used(self.answers_path, task.task_id)
        if task.out_of_attempts(used):
            self.feedback.value = (f"<div class='course-feedback'>No attempts left on this question ({used} of "
                                   f"{task.max_attempts} used).</div>")
            self._show_attempts(used)
            return None
        answer = self.answer()
        if answer is None:
            self.feedback.value = f"<div class='course-feedback'>{html.escape(self.empty_message)}</div>"
            return None
        try:
            verdict, used = answer_task(task, answer, self.answers_path, workspace=self.workspace)
        except CourseError as exc:
            self.feedback.value = f"<div class='course-feedback' style='color:#b00020'>{html.escape(str(exc))}</div>"
            return None
        self.feedback.value = self._feedback(verdict, used)
        self._show_attempts(used)
        for listener in list(ANSWERED):
            listener()
        return verdict

    def _feedback(self, verdict: Any, used: int, recorded: bool = False) -> str:
        task = self.task
        parts = [f"<div class='course-feedback' data-correct='{str(verdict.correct).lower()}' "
                 f"data-status='{verdict.status}'>"]
        if recorded:
            parts.append("<div style='color:gray'>Your saved answer (this question is finished):</div>")
        if verdict.by_person:
            parts.append(f"<b style='color:#00629b'>Answer saved.</b> <span style='color:gray'>A person marks it (out "
                         f"of {for_people(verdict.max_points)} points); it is not graded here.</span>")
        else:
            colour = "#1b7f3b" if verdict.correct else "#a15c00"
            head = "Correct!" if verdict.correct else "Not quite."
            parts.append(f"<b style='color:{colour}'>{head}</b> <span style='color:gray'>{for_people(verdict.points)}/"
                         f"{for_people(verdict.max_points)} points</span>")
        if verdict.feedback:
            parts.append(f"<pre style='white-space:pre-wrap'>{html.escape(verdict.feedback)}</pre>")
        if verdict.note:
            parts.append(f"<div style='color:gray'>{html.escape(verdict.note)}</div>")
        if verdict.show_guidance and task.guidance.strip():
            parts.append(f"<div class='course-guidance' style='border-left:4px solid #00629b;padding-left:6px'>"
                         f"<b>Guidance</b>{page_html(task.guidance)}</div>")
        if not verdict.correct and not verdict.by_person:
            if task.out_of_attempts(used):
                parts.append("<div>No attempts left on this question.</div>")
            else:
                parts.append(f"<div style='color:gray'>{task.try_again(used)}.</div>")
        parts.append("</div>")
        return "".join(parts)


class ChoiceBox(QuestionBox):
    """A multiple-choice question: radio buttons for one answer, checkboxes for several."""

    empty_message = "Choose an answer first (that didn't use an attempt)."
    button_icon = "check"

    def __init__(self, task: Any, answers_path: Path, workspace: Path | None = None) -> None:
        from ..lesson.questions import display_order

        self.question = task
        self.options = display_order(task, str(answers_path.resolve()))
        # each label (and tooltip) is the option's words as plain text
        self.labels = [plain_text(a.text) for a in self.options]
        super().__init__(task, answers_path, workspace)

    def title_text(self) -> str:
        """Its place and title, as the course calls it ("Lesson 1, question 2: …")."""
        from ..lesson.lessons import question_place
        from ..lesson.questions import question_label

        return capitalised(question_label(self.task, question_place(self.task.task_id)))

    def prompt_note(self) -> str:
        return f"<i>{'Choose all that apply.' if self.task.multiple else 'Choose one.'}</i>"

    def draw_inputs(self, saved: list[str]) -> Any:
        self.boxes: list[Any] = []
        self.radio: Any = None
        if self.task.multiple:
            self.boxes = [widgets.Checkbox(value=a.id in saved, description=label, tooltip=label, indent=False,
                                           layout=widgets.Layout(width="auto"))
                          for a, label in zip(self.options, self.labels)]
            for box in self.boxes:
                box.add_class("course-option")
            self.choices: Any = widgets.VBox(self.boxes)
        else:
            ids = [a.id for a in self.options]
            self.radio = widgets.RadioButtons(options=list(zip(self.labels, ids)),
                                              value=saved[0] if saved[:1] and saved[0] in ids else None,
                                              layout=widgets.Layout(width="auto"))
            self.radio.add_class("course-options")
            self.choices = self.radio
        return self.choices

    def answer(self) -> list[str] | None:
        return self.chosen() or None

    def chosen(self) -> list[str]:
        if self.radio is not None:
            return [] if self.radio.value is None else [self.radio.value]
        return [a.id for a, box in zip(self.options, self.boxes) if box.value]

    def choose(self, *ids: str) -> None:
        """Select answers by id (what clicking them does)."""
        if self.radio is not None:
            self.radio.value = ids[0] if ids else None
            return
        for a, box in zip(self.options, self.boxes):
            box.value = a.id in ids
