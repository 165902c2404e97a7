"""The words and numbers people read about their work, the same wherever they read them.

`course progress`, `course quiz`, `grader check`, `grader grade`'s table, the feedback pages and
`summary.html` all call a question by its place and title ("lesson 1, question 2: How many images
per request"), a step by its place and title ("Lesson 1, step 3: Print only the image URL"), count
"3/5 steps passed, 2/5 questions right" out of every step and question of the lessons in play (those
not tried or not answered included), and round numbers for people: `16.7`, never `16.6667`. Files
for programs (the gradebook CSV, `summary.json`, `results.json`'s scores) keep their full precision.
"""

from __future__ import annotations

import math


def for_people(value: float) -> str:
    """A number as people read it: one decimal at most, no trailing zeros, never `-0` or an exponent.

    `16.7` for 16.6667, `3` for 3.0, `2.5`; a value that is not zero never reads as `0` (0.04 is `0.04`)."""
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    text = f"{round(value, 1):.1f}".rstrip("0").rstrip(".")
    if text in ("0", "-0") and value != 0:  # a small part of a point is still a part
        text = f"{value:.2g}" if abs(value) >= 1e-4 else "0"
    return "0" if text in ("-0", "") else text


def percent(part: float, whole: float) -> str:
    """`part` of `whole` in per cent, rounded for people: `16.7%`; `0%` of nothing."""
    return f"{for_people(100.0 * part / whole) if whole else '0'}%"


def capitalised(text: str) -> str:
    """The first letter upper-cased (a label at the start of a line or a table cell), the rest as it is."""
    return text[:1].upper() + text[1:]


def question_label(place: str, name: str = "", task_id: str = "") -> str:
    """How a question is called: "lesson 1, question 2: How many images per request" (its place, then its
    title when it has one of its own); a question in no lesson is called by its title, else its id."""
    title = name if name and name != task_id else ""
    if place:
        return f"{place}: {title}" if title else place
    return title or task_id


def step_label(lesson: int, number: int, title: str = "") -> str:
    """"Lesson 1, step 3: Print only the image URL", as the grader's feedback names a step."""
    return f"Lesson {lesson}, step {number}" + (f": {title}" if title else "")


def tally(steps_passed: int, steps: int, questions_right: int, questions: int) -> str:
    """"3/5 steps passed, 2/5 questions right": out of every step and question in play, tried or not."""
    return f"{steps_passed}/{steps} steps passed, {questions_right}/{questions} questions right"
