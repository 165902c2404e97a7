"""Every file a grading run leaves in OUT, written from `GradingRun` alone (no grading happens here).

- `gradebook.csv`: one row per learner, the columns the run names, then total, possible, percent.
- `<learner>/results.json`: Gradescope's autograder format, so the grader can be the autograder unchanged.
- `<learner>/feedback.md` and `feedback.html`: what passed, what failed, the hint, the output seen.
- `summary.json` and `summary.html`: pass rates and the most common failures, for the instructor.

Everything is deterministic (sorted learners, fixed number formats, LF endings, a salted SVG) so the
tests compare these files with golden copies. What people read (feedback, Gradescope's test output,
summary.html) calls a step or a question by its place and title, as `course progress`, `course quiz`
and `grader check` do, and rounds numbers for people (`for_people`: 16.7); the files programs read
(gradebook.csv, summary.json, results.json's scores) keep `number`'s four decimals and the gradebook's
column ids. Learner ids, file names, stdout, stderr and exception texts
come from learners, so the HTML escapes every one of them, the Markdown escapes them or quotes them in
code (`course.untrusted_text`), and folder names are made safe before they touch the disk.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import re
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from course.lesson.wording import capitalised, for_people, question_label
from course.untrusted_text import for_markdown, markdown_code_block, markdown_code_span
from grader.results import CheckOutcome, GradingRun, LearnerResult, QuestionOutcome, StepOutcome

FEEDBACK_LINES = 40  # the tail of stdout/stderr a feedback page shows
FEEDBACK_CHARS = 4000  # and at most this many characters of it, for a step that printed one huge line
GRADESCOPE_TAIL = 2000  # the tail of stdout/stderr kept in a Gradescope test's output
TOP_FAILURES = 3
NO_RESULT = "no result for this step"

# The run's own files in OUT: no learner's folder may take one of these names.
RESERVED = {"gradebook.csv", "gradebook.sqlite3", "gradebook.sqlite3-wal", "gradebook.sqlite3-shm", "summary.json",
            "summary.html", ".offline-api", "similarity.csv"}
_SAFE_FOLDER = re.compile(r"\w(?:[\w.@+ -]{0,98}[\w.@+-])?")  # a name as people write it: "Zoë Müller", j.doe@uni.edu


# ---------------------------------------------------------------------------------------------- helpers


def number(value: float) -> str:
    """`3`, `2.5`, `66.6667`: for files programs read (the gradebook CSV): four decimals at most, no trailing
    zeros, never `-0`, never an exponent, so goldens stay readable. People read `for_people` (16.7)."""
    text = f"{round(float(value), 4):.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def learner_folder(learner: str) -> str:
    """The folder a learner's files go in: the id itself when it is a plain name, else a safe name.

    A submission folder's name is usually a plain id or a person's name (letters of any script,
    spaces inside, `.`, `@`, `+`, `-`); anything else (a slash, `..`, markup, a leading dot) is
    replaced, with a hash of the real id appended so two odd ids never share a folder.
    """
    if _SAFE_FOLDER.fullmatch(learner) and learner.casefold() not in RESERVED:
        return learner
    cleaned = re.sub(r"[^\w.@+-]+", "_", learner).strip("._-")[:60] or "learner"
    return f"{cleaned}-{hashlib.sha256(learner.encode('utf-8', 'surrogateescape')).hexdigest()[:8]}"


def tail_lines(text: str, lines: int = FEEDBACK_LINES, chars: int = FEEDBACK_CHARS) -> str:
    """The end of an output, where the error and the last result are; says how much was left out."""
    kept = text.rstrip("\n").splitlines()
    note = ""
    if len(kept) > lines:
        note = f"… ({len(kept) - lines} earlier lines not shown)\n"
        kept = kept[-lines:]
    body = "\n".join(kept)
    if len(body) > chars:
        body = "…" + body[-chars:]
        note = note or "… (earlier output not shown)\n"
    return note + body


def tail_chars(text: str, limit: int) -> str:
    """The last `limit` characters at most, marked when cut (Gradescope shows `output` in full)."""
    return text if len(text) <= limit else "…" + text[-(limit - 1):]


def _dump_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _write(path: Path, text: str) -> Path:
    """UTF-8, LF only, whatever the platform: the files are compared byte for byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")
    return path


def _visible(step: StepOutcome) -> list[CheckOutcome]:
    return [c for c in step.checks if not c.hidden]


def _hidden_count(step: StepOutcome) -> int:
    return sum(1 for c in step.checks if c.hidden)


def _mark(passed: bool) -> str:
    return "✓" if passed else "✗"


def _question_passed(question: QuestionOutcome) -> bool:
    return question.points >= question.possible > 0


def _score_line(result: LearnerResult) -> str:
    if not result.complete:
        graded = sum(s.max_points for s in result.steps if s.graded) + sum(q.possible for q in result.questions)
        return (f"{for_people(result.total)} points so far, out of the {for_people(graded)} graded; some steps are not "
                "graded yet (a fault on the grader's side, not in your work)")
    return f"{for_people(result.total)}/{for_people(result.possible)} points ({for_people(result.percent)}%)"


HIDDEN_FAILED = "a hidden check failed: your visible checks passed, but a check your instructor keeps hidden did not"


def step_lines(step: StepOutcome) -> list[tuple[bool | None, str]]:
    """What a learner reads about one step, line by line: (passed, text), passed None for a plain line.
    Each failure once; the reason alone when the step could not run normally; hidden checks only as a count."""
    if step.fault:
        return [(None, f"Not graded: a problem on the grader's side, not in your work ({step.fault}). "
                       "It will be graded when the grader runs again.")]
    if step.reason:
        return [(False, step.reason)]
    lines: list[tuple[bool | None, str]] = []
    seen: set[str] = set()
    for check in _visible(step):
        text = check.text if hasattr(check, "text") else check.message
        if text not in seen:
            seen.add(text)
            lines.append((check.passed, text))
    if step.failed_only_hidden:
        lines.append((False, HIDDEN_FAILED))
    elif hidden := _hidden_count(step):
        lines.append((None, f"(hidden checks: {hidden})"))
    return lines


def _plain(lines: list[tuple[bool | None, str]]) -> list[str]:
    return [text if passed is None else f"{_mark(passed)} {text}" for passed, text in lines]


def _verdict(step: StepOutcome) -> str:
    return "Not graded" if step.fault else "Passed" if step.passed else "Failed"


# -------------------------------------------------------------------------------------------- gradebook


def gradebook_columns(run: GradingRun) -> list[str]:
    """learner, then each lesson's steps and questions (with a subtotal per lesson when several are
    graded), then total, possible, percent. Lesson 1 alone gives learner, step1…, question ids, total…"""
    if not run.lessons:
        return ["learner", *run.step_columns, *run.question_columns, "total", "possible", "percent"]
    columns = ["learner"]
    for lesson in run.lessons:
        columns += lesson.steps + lesson.questions
        if len(run.lessons) > 1:
            columns.append(lesson.subtotal)
    return columns + ["total", "possible", "percent"]


def _row(result: LearnerResult, run: GradingRun) -> dict[str, str]:
    steps = {s.column: s for s in result.steps}
    questions = {q.task_id: q.points for q in result.questions}
    cells: dict[str, str] = {"learner": result.learner}
    for column in run.step_columns:
        step = steps.get(column)
        cells[column] = "" if step is not None and step.fault else number(step.points if step else 0)
    for column in run.question_columns:
        cells[column] = number(questions.get(column, 0))
    for lesson in run.lessons:
        graded = all(steps[c].graded for c in lesson.steps if c in steps)
        subtotal = sum(steps[c].points for c in lesson.steps if c in steps) + sum(questions.get(q, 0) for q in lesson.questions)
        cells[lesson.subtotal] = number(subtotal) if graded else ""
    complete = result.complete
    cells.update(total=number(result.total) if complete else "", possible=number(result.possible),
                 percent=number(result.percent) if complete else "")
    return cells


def gradebook_csv(run: GradingRun) -> str:
    """The class in one table; a step or question missing from a learner's result counts 0, and a step
    left "not graded" by a fault of ours stays empty (so does that learner's total), never a zero."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    columns = gradebook_columns(run)
    writer.writerow(columns)
    for result in sorted(run.results, key=lambda r: r.learner):
        cells = _row(result, run)
        writer.writerow([spreadsheet_safe(cells.get(column, "")) for column in columns])
    return buffer.getvalue()


def spreadsheet_safe(text: str) -> str:
    """A cell a spreadsheet shows as text, never runs: one that starts like a formula (=, +, -, @, a tab
    or a carriage return) gets a leading apostrophe (OWASP's rule against CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# ------------------------------------------------------------------------------------------- gradescope


def _step_test_output(step: StepOutcome) -> str:
    """What a learner reads for one step on Gradescope; hidden checks show only as a count."""
    lines = [f"{_verdict(step)}: {for_people(step.points)}/{for_people(step.max_points)} points."]
    lines += _plain(step_lines(step))
    if step.hint:
        lines.append(f"hint [{step.hint.get('id', '')}]: {step.hint.get('text', '')}")
    seen = ""
    if step.stdout:
        seen += "--- stdout ---\n" + step.stdout.rstrip("\n") + "\n"
    if step.stderr:
        seen += "--- stderr ---\n" + step.stderr.rstrip("\n") + "\n"
    if seen:
        lines += ["", "Output seen (the end of it):", tail_chars(seen, GRADESCOPE_TAIL).rstrip("\n")]
    return "\n".join(lines)


def _step_test(step: StepOutcome) -> dict[str, Any]:
    """A step whose checks are all hidden is only shown once grades are published."""
    all_hidden = bool(step.checks) and all(c.hidden for c in step.checks)
    test = {"name": step.name, "number": f"{step.lesson}.{step.step}", "score": round(float(step.points), 4),
            "max_score": round(float(step.max_points), 4), "output": _step_test_output(step),
            "visibility": "after_published" if all_hidden and not step.fault else "visible"}
    if step.fault:
        test["status"] = "failed"
    return test


def question_title(question: QuestionOutcome) -> str:
    """"Lesson 1, question 2: How many images per request" for a course question (as `course quiz` and `course
    progress` call it), else "Question ID (name)"."""
    from course.lesson.lessons import question_place

    place = question_place(question.task_id)
    if place:
        return capitalised(question_label(place, question.name, question.task_id))
    return f"Question {question.task_id}" + (f" ({question.name})" if question.name else "")


def question_line(question: QuestionOutcome) -> str:
    """One question as a learner reads it in the feedback and in `grader check`: its name, its points, why."""
    return (f"{question_title(question)}: {for_people(question.points)}/{for_people(question.possible)}. "
            f"{question.reason}").rstrip()


def question_place_of(question: QuestionOutcome) -> str:
    from course.lesson.lessons import question_place

    return question_place(question.task_id)


def _question_test(question: QuestionOutcome, index: int) -> dict[str, Any]:
    output = f"{'Correct' if _question_passed(question) else 'Not fully correct'}: " \
             f"{for_people(question.points)}/{for_people(question.possible)} points. {question.reason}".rstrip()
    if question_place_of(question):
        name = f"{question_title(question)} ({question.task_id})"  # its id too, for the instructor
    else:
        name = f"Question {question.task_id}" + (f": {question.name}" if question.name else "")
    return {"name": name, "number": f"Q{index}",
            "score": round(float(question.points), 4), "max_score": round(float(question.possible), 4),
            "output": output, "visibility": "visible"}


def _learner_notes(result: LearnerResult) -> list[str]:
    """The lines above the steps: how the work was found, what was not, warnings."""
    notes = [f"Lesson {l.number}: {l.origin} was not found in your submission; {l.note}." if l.note else
             f"Lesson {l.number}: no lesson file was found in your submission." for l in result.lessons
             if l.status == "not found"]
    notes += [f"Lesson {l.number}: not handed in." for l in result.lessons if l.status == "not handed in"]
    if result.note:
        notes.insert(0, result.note + ".")
    return notes + [f"Warning: {w}" for w in result.warnings]


def gradescope_results(result: LearnerResult, notes: list[str] | None = None) -> dict[str, Any]:
    """One learner in Gradescope's results.json format (keys exactly as Gradescope documents them)."""
    output = " ".join([f"{_score_line(result)}.", *_learner_notes(result), *(notes or [])])
    tests = [_step_test(s) for s in result.steps]
    tests += [_question_test(q, i) for i, q in enumerate(result.questions, 1)]
    return {"score": round(float(result.total), 4), "execution_time": round(result.execution_time),
            "output": output, "visibility": "visible", "stdout_visibility": "hidden", "tests": tests}


def failed_results(why: str) -> str:
    """results.json for a submission the autograder could not grade at all: a zero that says why."""
    return _dump_json({"score": 0, "execution_time": 0, "visibility": "visible", "stdout_visibility": "hidden",
                       "output": ("This submission could not be graded because of a problem on the grader's side, "
                                  f"not in your work: {why}. Your instructor can run the autograder again."),
                       "tests": []})


def gradescope_json(result: LearnerResult, notes: list[str] | None = None) -> str:
    """The text of /autograder/results/results.json for one submission (`grader gradescope` puts it in place)."""
    return _dump_json(gradescope_results(result, notes))


def write_gradescope(result: LearnerResult, path: Path, notes: list[str] | None = None) -> Path:
    return _write(path, gradescope_json(result, notes))


# ---------------------------------------------------------------------------------------- feedback (md)


def _md_step(step: StepOutcome) -> list[str]:
    lines = [f"### {_mark(step.passed)} {for_markdown(step.name)}: {for_people(step.points)}/{for_people(step.max_points)}",
             ""]
    lines.append(f"**{_verdict(step)}.**")
    lines.append("")
    lines += [f"- {for_markdown(text)}" if passed is None else f"- {_mark(passed)} {for_markdown(text)}"
              for passed, text in step_lines(step)]
    if step.hint:
        hint_id, hint = step.hint.get("id", ""), step.hint.get("text", "")
        lines += ["", f"**Hint** {markdown_code_span(hint_id)}: {for_markdown(hint)}"]
    for label, text in (("stdout", step.stdout), ("stderr", step.stderr)):
        if text.strip():
            lines += ["", f"Output seen ({label}):", "", markdown_code_block(tail_lines(text))]
    return lines + [""]


def feedback_markdown(result: LearnerResult) -> str:
    """A learner's feedback as Markdown: readable raw, and safe when a viewer renders it (what came from
    the learner is escaped, or quoted in a code block longer than any fence it prints)."""
    lines = [f"# Feedback for {for_markdown(result.learner)}", "", f"**Score: {_score_line(result)}**", ""]
    for note in _learner_notes(result):
        lines += [f"> {for_markdown(note)}", ""]
    if result.steps:
        lines += ["## Steps", ""]
        for step in result.steps:
            lines += _md_step(step)
    if result.questions:
        lines += ["## Questions", ""]
        lines += [f"- {_mark(_question_passed(q))} {for_markdown(question_title(q))}: "
                  f"{for_people(q.points)}/{for_people(q.possible)}. {for_markdown(q.reason)}".rstrip()
                  for q in result.questions]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


# -------------------------------------------------------------------------------------- feedback (html)

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
color:#1b1f24;line-height:1.45}
h1{font-size:1.6rem}h2{margin-top:2rem;border-bottom:1px solid #d0d7de}h3{font-size:1.1rem;margin-bottom:.3rem}
.pass{color:#1a7f37}.fail{color:#cf222e}.muted{color:#57606a}
.step{border:1px solid #d0d7de;border-radius:6px;padding:.2rem 1rem 1rem;margin:1rem 0}
.hint{background:#fff8c5;border-left:4px solid #d4a72c;padding:.4rem .8rem}
.reason{background:#ffebe9;border-left:4px solid #cf222e;padding:.4rem .8rem}
pre{background:#f6f8fa;padding:.6rem;overflow-x:auto;white-space:pre-wrap;word-break:break-word}
ul.checks{list-style:none;padding-left:0}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #d0d7de;padding:.3rem .6rem;text-align:left}
th{background:#f6f8fa}td.num{text-align:right}
svg{max-width:100%;height:auto}
""".strip()


def _e(text: object) -> str:
    """Escape for HTML text and attribute values: every learner-controlled string goes through this."""
    return html.escape(str(text), quote=True)


def _page(title: str, body: list[str]) -> str:
    """A standalone page: inline CSS, no scripts, nothing fetched from anywhere."""
    return "\n".join(["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
                      '<meta name="viewport" content="width=device-width, initial-scale=1">',
                      f"<title>{_e(title)}</title>", f"<style>\n{_CSS}\n</style>", "</head>", "<body>",
                      *body, "</body>", "</html>"]) + "\n"


def _html_mark(passed: bool) -> str:
    return f'<span class="{"pass" if passed else "fail"}">{_mark(passed)}</span>'


def _html_step(step: StepOutcome) -> list[str]:
    verdict = _verdict(step)
    out = ['<section class="step">',
           f"<h3>{_html_mark(step.passed)} {_e(step.name)}: {for_people(step.points)}/{for_people(step.max_points)}</h3>",
           f'<p class="{"pass" if step.passed else "fail"}">{verdict}.</p>']
    items = [f'<li class="muted">{_e(text)}</li>' if passed is None else f"<li>{_html_mark(passed)} {_e(text)}</li>"
             for passed, text in step_lines(step)]
    if items:
        out += ['<ul class="checks">', *items, "</ul>"]
    if step.hint:
        out.append(f'<p class="hint">Hint <code>{_e(step.hint.get("id", ""))}</code>: '
                   f'{_e(step.hint.get("text", ""))}</p>')
    for label, text in (("stdout", step.stdout), ("stderr", step.stderr)):
        if text.strip():
            out += [f"<p>Output seen ({label}):</p>", f"<pre>{_e(tail_lines(text))}</pre>"]
    return out + ["</section>"]


def feedback_html(result: LearnerResult) -> str:
    """The same feedback as a page a learner opens in a browser."""
    body = [f"<h1>Feedback for {_e(result.learner)}</h1>", f"<p><strong>Score: {_e(_score_line(result))}</strong></p>"]
    body += [f'<p class="muted">{_e(note)}</p>' for note in _learner_notes(result)]
    if result.steps:
        body.append("<h2>Steps</h2>")
        for step in result.steps:
            body += _html_step(step)
    if result.questions:
        body += ["<h2>Questions</h2>", "<table>", "<tr><th></th><th>Question</th><th>Points</th><th>Why</th></tr>"]
        body += [f"<tr><td>{_html_mark(_question_passed(q))}</td><td>{_e(question_title(q))}</td>"
                 f'<td class="num">{for_people(q.points)}/{for_people(q.possible)}</td><td>{_e(q.reason)}</td></tr>'
                 for q in result.questions]
        body.append("</table>")
    return _page(f"Feedback for {result.learner}", body)


# -------------------------------------------------------------------------------------------- summary


def _step_failures(step: StepOutcome | None) -> list[str]:
    """Why a step failed, in the instructor's words: its reason, else its failing checks (hidden ones too)."""
    if step is None:
        return [NO_RESULT]
    if step.passed or step.fault:
        return []
    if step.reason:
        return [step.reason]
    failing = list(dict.fromkeys(c.message for c in step.checks if not c.passed))
    return failing or ["failed without a failing check"]


_STEP_COLUMN = re.compile(r"(?:lesson(\d+)-)?step(\d+)")


def column_labels(run: GradingRun) -> dict[str, str]:
    """Each gradebook column as people call it: "Lesson 1, step 3: Print only the image URL", "Lesson 1, question
    2: How many images per request" (the words of `course progress`, `course quiz` and `grader check`). The
    gradebook CSV and summary.json keep the column ids, which scripts rely on."""
    labels: dict[str, str] = {}
    for result in sorted(run.results, key=lambda r: r.learner):
        for step in result.steps:
            labels.setdefault(step.column, step.name)
        for question in result.questions:
            labels.setdefault(question.task_id, question_title(question))
    for column in run.step_columns:
        if column not in labels:
            match = _STEP_COLUMN.fullmatch(column)
            labels[column] = f"Lesson {match.group(1) or 1}, step {match.group(2)}" if match else column
    for column in run.question_columns:
        if column not in labels:
            labels[column] = question_title(QuestionOutcome(column, "", 0.0, 0.0, ""))
    return labels


def learner_tally(result: LearnerResult, run: GradingRun) -> dict[str, int]:
    """A learner's steps passed and questions right, out of every step and question of the lessons graded (those
    not handed in, not tried or not answered included): the denominators `course progress` uses."""
    steps = {s.column: s for s in result.steps}
    questions = {q.task_id: q for q in result.questions}
    return {"steps_passed": sum(1 for c in run.step_columns if c in steps and steps[c].passed),
            "steps": len(run.step_columns),
            "questions_right": sum(1 for c in run.question_columns if c in questions and _question_passed(questions[c])),
            "questions": len(run.question_columns)}


def _lesson_of(run: GradingRun, column: str) -> int | None:
    return next((l.number for l in run.lessons if column in l.steps or column in l.questions), None)


def _handed_in(run: GradingRun, lesson: int | None) -> list[LearnerResult]:
    """The learners whose work for the lesson was found: pass rates are over them, not the whole class."""
    return run.results if lesson is None else [r for r in run.results if r.handed_in(lesson)]


def _step_summary(run: GradingRun, column: str, label: str = "") -> dict[str, Any]:
    learners = _handed_in(run, _lesson_of(run, column))
    steps = [next((s for s in r.steps if s.column == column), None) for r in learners]
    graded = [s for s in steps if s is None or s.graded]
    found = [s for s in graded if s is not None]
    failures: Counter[str] = Counter()
    for step in graded:
        failures.update(set(_step_failures(step)))  # a learner counts once per message
    common = sorted(failures.items(), key=lambda item: (-item[1], item[0]))[:TOP_FAILURES]
    count = len(graded)
    return {"column": column, "title": found[0].title if found else column, "label": label or column,
            "learners": count, "passed": sum(1 for s in found if s.passed),
            "pass_rate": round(sum(1 for s in found if s.passed) / count, 4) if count else 0.0,
            "mean_points": round(sum(s.points for s in found) / count, 4) if count else 0.0,
            "max_points": float(max((s.max_points for s in found), default=0.0)),
            "common_failures": [{"message": message, "count": n} for message, n in common]}


def _answered_in(run: GradingRun, lesson: int | None) -> list[LearnerResult]:
    """The learners who handed a lesson's questions in: its script, or an answer to one of its questions (a learner
    who only answered counts for the questions, as `course progress` counts their answers)."""
    if lesson is None:
        return run.results
    ids = set(next((l.questions for l in run.lessons if l.number == lesson), []))
    return [r for r in run.results if r.handed_in(lesson) or any(q.chosen for q in r.questions if q.task_id in ids)]


def _question_summary(run: GradingRun, column: str, label: str = "") -> dict[str, Any]:
    learners = _answered_in(run, _lesson_of(run, column))
    found = [q for r in learners for q in r.questions if q.task_id == column]
    count = len(learners)
    return {"column": column, "label": label or column, "learners": count,
            "correct": sum(1 for q in found if _question_passed(q)),
            "correct_rate": round(sum(1 for q in found if _question_passed(q)) / count, 4) if count else 0.0,
            "mean_points": round(sum(q.points for q in found) / count, 4) if count else 0.0,
            "possible": float(max((q.possible for q in found), default=0.0))}


def _lesson_summary(run: GradingRun, lesson: Any) -> dict[str, Any]:
    """Who handed the lesson in, who did not, whose work could not be found, who failed a step."""
    not_handed, not_found, failed, passed = [], [], [], []
    for result in sorted(run.results, key=lambda r: r.learner):
        outcome = result.lesson(lesson.number)
        status = outcome.status if outcome else "found"
        if status == "not handed in":
            not_handed.append(result.learner)
        elif status == "not found":
            not_found.append({"learner": result.learner, "holds": outcome.note if outcome else ""})
        else:
            steps = [s for s in result.steps if s.column in lesson.steps and s.graded]
            (passed if steps and all(s.passed for s in steps) else failed).append(result.learner)
    return {"number": lesson.number, "title": lesson.title, "handed_in": len(failed) + len(passed),
            "passed_every_step": passed, "failed": failed, "not_handed_in": not_handed, "handed_in_not_found": not_found}


def _hidden_failures(run: GradingRun) -> list[dict[str, Any]]:
    """Steps that failed only on a hidden check: the instructor sees which check and why."""
    out = []
    for result in sorted(run.results, key=lambda r: r.learner):
        for step in result.steps:
            if step.graded and step.failed_only_hidden:
                out.append({"learner": result.learner, "step": step.column, "label": step.name,
                            "checks": [c.text for c in step.checks if c.hidden and not c.passed]})
    return out


def _distribution(percents: list[float]) -> list[dict[str, Any]]:
    """Ten 10-point bins, [0, 10) … [90, 100]; 100 % falls in the last one."""
    counts = [0] * 10
    for percent in percents:
        counts[min(9, max(0, int(percent // 10)))] += 1
    return [{"from": 10 * i, "to": 10 * (i + 1), "count": n} for i, n in enumerate(counts)]


def summary(run: GradingRun) -> dict[str, Any]:
    """The class at a glance, for summary.json and summary.html alike. Pass rates count the learners who
    handed the lesson in; learners left "not graded" by a fault of ours are listed apart, not averaged."""
    percents = [r.percent for r in run.results if r.complete]
    labels = column_labels(run)
    return {"learners": len(run.results),
            "mean_percent": round(statistics.fmean(percents), 2) if percents else 0.0,
            "median_percent": round(statistics.median(percents), 2) if percents else 0.0,
            "lessons": [_lesson_summary(run, lesson) for lesson in run.lessons],
            "steps": [_step_summary(run, column, labels[column]) for column in run.step_columns],
            "questions": [_question_summary(run, column, labels[column]) for column in run.question_columns],
            "learner_tallies": [{"learner": r.learner, **learner_tally(r, run)}
                                for r in sorted(run.results, key=lambda r: r.learner)],
            "distribution": _distribution(percents),
            "hidden_failures": _hidden_failures(run),
            "not_graded": [{"learner": r.learner, "faults": r.faults} for r in sorted(run.incomplete, key=lambda r: r.learner)],
            "notes": list(run.notes)}


# ------------------------------------------------------------------------------------------- charts


def preload_charts() -> None:
    """Import the charting library in a background thread (about a second of the summary's time) while a
    class is being graded, so the summary is written at once when the last learner is done."""
    import threading

    def load() -> None:
        try:
            import matplotlib.backends.backend_svg  # noqa: F401
            import matplotlib.figure  # noqa: F401
        except Exception:  # noqa: BLE001 - the summary imports it again, and says what is wrong
            pass

    threading.Thread(target=load, name="preload-charts", daemon=True).start()


def _svg(figure: Any) -> str:
    """The figure as an inline <svg> element: no XML prolog, no DOCTYPE URL, no metadata, same bytes each run."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):].strip()


def _chart_rc() -> dict[str, Any]:
    """Fixed hash salt (stable ids), real <text> (small, searchable), no mathtext from a `$` in a label."""
    return {"svg.hashsalt": "course", "svg.fonttype": "none", "text.parse_math": False,
            "font.family": "DejaVu Sans", "font.size": 9}


def pass_rate_chart(data: dict[str, Any]) -> str:
    """Horizontal bars, one per step and question, top to bottom in gradebook order."""
    import matplotlib
    from matplotlib.figure import Figure

    labels = [s["label"] for s in data["steps"]] + [q["label"] for q in data["questions"]]
    rates = [100 * s["pass_rate"] for s in data["steps"]] + [100 * q["correct_rate"] for q in data["questions"]]
    colours = ["#0969da"] * len(data["steps"]) + ["#8250df"] * len(data["questions"])
    longest = max((len(label) for label in labels), default=0)  # the names take room of their own, left of the bars
    with matplotlib.rc_context(_chart_rc()):
        figure = Figure(figsize=(min(14.0, 5 + 0.065 * longest), max(1.5, 0.3 * len(labels) + 0.9)))
        axes = figure.add_subplot()
        positions = list(range(len(labels)))[::-1]
        axes.barh(positions, rates, color=colours)
        axes.set_yticks(positions, labels)
        axes.set_xlim(0, 100)
        axes.set_xlabel("learners who passed (%)")
        axes.set_title("Pass rate per step (blue) and question (purple)")
        for y, rate in zip(positions, rates):
            axes.text(min(rate + 1, 90), y, f"{for_people(rate)}%", va="center")
        figure.tight_layout()
        return _svg(figure)


def distribution_chart(data: dict[str, Any]) -> str:
    """How many learners scored in each 10-point band."""
    import matplotlib
    from matplotlib.figure import Figure

    bins = data["distribution"]
    with matplotlib.rc_context(_chart_rc()):
        figure = Figure(figsize=(7, 2.6))
        axes = figure.add_subplot()
        axes.bar([f"{b['from']}–{b['to']}" for b in bins], [b["count"] for b in bins], color="#1a7f37")
        axes.set_xlabel("score (%)")
        axes.set_ylabel("learners")
        axes.set_title("Score distribution")
        axes.yaxis.get_major_locator().set_params(integer=True)
        figure.tight_layout()
        return _svg(figure)


# --------------------------------------------------------------------------------------- summary html


def _summary_tables(data: dict[str, Any]) -> list[str]:
    """Steps and questions by name, their rates over the learners who handed the lesson in (passed of learners),
    numbers rounded for people; the gradebook's column id last, to find the column in gradebook.csv."""
    out = ["<h2>Steps</h2>", "<table>",
           "<tr><th>Step</th><th>Passed</th><th>Pass rate</th><th>Mean points</th><th>Max points</th>"
           "<th>Gradebook column</th></tr>"]
    out += [f"<tr><td>{_e(s['label'])}</td><td class=\"num\">{s['passed']}/{s['learners']}</td>"
            f"<td class=\"num\">{for_people(100 * s['pass_rate'])}%</td><td class=\"num\">{for_people(s['mean_points'])}"
            f"</td><td class=\"num\">{for_people(s['max_points'])}</td><td class=\"muted\">{_e(s['column'])}</td></tr>"
            for s in data["steps"]]
    out += ["</table>", "<h2>Questions</h2>", "<table>",
            "<tr><th>Question</th><th>Right</th><th>Correct rate</th><th>Mean points</th><th>Possible</th>"
            "<th>Gradebook column</th></tr>"]
    out += [f"<tr><td>{_e(q['label'])}</td><td class=\"num\">{q['correct']}/{q['learners']}</td>"
            f"<td class=\"num\">{for_people(100 * q['correct_rate'])}%</td>"
            f"<td class=\"num\">{for_people(q['mean_points'])}</td><td class=\"num\">{for_people(q['possible'])}</td>"
            f"<td class=\"muted\">{_e(q['column'])}</td></tr>"
            for q in data["questions"]]
    out += ["</table>", "<h2>Most common failures</h2>", "<table>",
            "<tr><th>Step</th><th>Failure</th><th>Learners</th></tr>"]
    out += [f"<tr><td>{_e(s['label'])}</td><td>{_e(f['message'])}</td><td class=\"num\">{f['count']}</td></tr>"
            for s in data["steps"] for f in s["common_failures"]]
    return out + ["</table>"]


def _learner_table(run: GradingRun, data: dict[str, Any]) -> list[str]:
    """Links to each learner's feedback page (relative, so the folder can be moved or zipped), with the steps
    passed and questions right out of every step and question graded, as `course progress` counts them."""
    tallies = {t["learner"]: t for t in data["learner_tallies"]}
    out = ["<h2>Learners</h2>",
           '<p class="muted">Steps passed and questions right are out of every step and question of the lessons '
           "graded, those not handed in, not tried or not answered included, as <code>course progress</code> counts "
           "them.</p>", "<table>",
           "<tr><th>Learner</th><th>Steps passed</th><th>Questions right</th><th>Score</th><th>Percent</th></tr>"]
    for result in sorted(run.results, key=lambda r: r.learner):
        href = f"{learner_folder(result.learner)}/feedback.html"
        t = tallies[result.learner]
        score = f"{for_people(result.total)}/{for_people(result.possible)}" if result.complete else "not graded yet"
        percent = f"{for_people(result.percent)}%" if result.complete else ""
        out.append(f'<tr><td><a href="{_e(href)}">{_e(result.learner)}</a></td>'
                   f'<td class="num">{t["steps_passed"]}/{t["steps"]}</td>'
                   f'<td class="num">{t["questions_right"]}/{t["questions"]}</td>'
                   f'<td class="num">{score}</td><td class="num">{percent}</td></tr>')
    return out + ["</table>"]


def _names(learners: list[str]) -> str:
    return ", ".join(_e(name) for name in learners) if learners else "none"


def _lesson_tables(data: dict[str, Any]) -> list[str]:
    """Per lesson: handed in (passed, failed), not handed in, handed in but not found: each by name."""
    out: list[str] = []
    for lesson in data["lessons"]:
        out += [f"<h2>Lesson {lesson['number']}: {_e(lesson['title'])}</h2>", "<table>",
                "<tr><th>Handed in</th><th>Passed every step</th><th>Failed a step</th><th>Not handed in</th>"
                "<th>Handed in, but not found</th></tr>",
                f"<tr><td class=\"num\">{lesson['handed_in']}</td><td class=\"num\">{len(lesson['passed_every_step'])}</td>"
                f"<td class=\"num\">{len(lesson['failed'])}</td><td class=\"num\">{len(lesson['not_handed_in'])}</td>"
                f"<td class=\"num\">{len(lesson['handed_in_not_found'])}</td></tr>", "</table>",
                f"<p><strong>Failed a step:</strong> {_names(lesson['failed'])}</p>",
                f"<p><strong>Not handed in:</strong> {_names(lesson['not_handed_in'])}</p>"]
        if lesson["handed_in_not_found"]:
            out += ["<h3>Handed in, but not found (another name or place: look at these by hand)</h3>", "<ul>"]
            out += [f"<li>{_e(item['learner'])}: {_e(item['holds'])}</li>" for item in lesson["handed_in_not_found"]]
            out.append("</ul>")
    return out


def _instructor_lists(data: dict[str, Any]) -> list[str]:
    out: list[str] = []
    if data["not_graded"]:
        out += ["<h2>Not graded: a fault of the grader's, not the learners' (run the same command again)</h2>", "<ul>"]
        out += [f"<li>{_e(item['learner'])}: {_e('; '.join(item['faults'][:3]))}</li>" for item in data["not_graded"]]
        out.append("</ul>")
    if data["hidden_failures"]:
        out += ["<h2>Steps failed only on a hidden check</h2>", "<table>",
                "<tr><th>Learner</th><th>Step</th><th>Hidden check</th></tr>"]
        out += [f"<tr><td>{_e(item['learner'])}</td><td>{_e(item['label'])}</td><td>{_e('; '.join(item['checks']))}</td></tr>"
                for item in data["hidden_failures"]]
        out.append("</table>")
    for note in data["notes"]:
        out.append(f'<p class="muted">Note: {_e(note)}</p>')
    return out


def summary_html(run: GradingRun, data: dict[str, Any]) -> str:
    """The instructor's page: headline numbers, both charts inline, the tables behind them."""
    body = ["<h1>Grading summary</h1>",
            (f"<p>{data['learners']} learners; mean {for_people(data['mean_percent'])}%, "
             f"median {for_people(data['median_percent'])}%. Pass rates count the learners who handed the lesson in "
             "(for a question, those who handed in its lesson's script or an answer to one of its questions).</p>"),
            *_instructor_lists(data), *_lesson_tables(data),
            '<figure class="chart">', pass_rate_chart(data), "</figure>",
            '<figure class="chart">', distribution_chart(data), "</figure>",
            *_summary_tables(data), *_learner_table(run, data)]
    return _page("Grading summary", body)


# ------------------------------------------------------------------------------------ another's section


def write_summary_section(out: Path, name: str, body: list[str]) -> Path:
    """Put a section another module renders (the copying report, `grader.similarity`) at the end of
    OUT/summary.html, in place of its earlier copy; a page of that section alone when OUT has no summary yet."""
    path = out / "summary.html"
    section = "\n".join([f'<section id="{_e(name)}">', *body, "</section>"])
    page = path.read_text(encoding="utf-8") if path.is_file() else ""
    if "</body>" not in page:
        return _write(path, _page("Grading summary", [section]))
    page = re.sub(f'<section id="{re.escape(_e(name))}">.*?</section>\n', "", page, flags=re.S)
    head, tail = page.rsplit("</body>", 1)
    return _write(path, f"{head}{section}\n</body>{tail}")


# ------------------------------------------------------------------------------------------- entry


def write_learner_reports(result: LearnerResult, folder: Path) -> list[Path]:
    """One learner's three files; `grader gradescope` may call this for its single submission too."""
    return [write_gradescope(result, folder / "results.json"),
            _write(folder / "feedback.md", feedback_markdown(result)),
            _write(folder / "feedback.html", feedback_html(result))]


def write_reports(run: GradingRun, out: Path) -> list[Path]:
    """Write every report of a run into `out`; returns the files written, in a fixed order."""
    out.mkdir(parents=True, exist_ok=True)
    written = [_write(out / "gradebook.csv", gradebook_csv(run))]
    for result in sorted(run.results, key=lambda r: r.learner):
        written += write_learner_reports(result, out / learner_folder(result.learner))
    data = summary(run)
    written.append(_write(out / "summary.json", _dump_json(data)))
    written.append(_write(out / "summary.html", summary_html(run, data)))
    return written
