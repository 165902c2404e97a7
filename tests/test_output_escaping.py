"""Nothing a learner prints controls an instructor's screen or report.

A learner chooses their folder's name (on some platforms), their files' names, what their script prints
and what it raises. `grader grade`, `grader check`, `grader guide` and `course log` show that text on the
instructor's terminal with escape sequences, control characters and bidi overrides shown escaped, and
rich markup printed as written; `feedback.md` renders it as text only (no image, link, HTML, heading or
table); `grader guide`'s spreadsheets write a formula as text. Honest learners read as before.
"""

from __future__ import annotations

import csv
import html
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from course.offline.requestlog import Record, RequestLog
from course.untrusted_text import for_markdown, for_terminal
from grader.reports import learner_folder, write_reports
from grader.results import CheckOutcome, GradingRun, LearnerResult, StepOutcome
from tests.conftest import REPO

FIXTURES = Path(__file__).with_name("fixtures")
HONEST = FIXTURES / "submissions" / "correct_everything"
QUESTIONS = FIXTURES / "guides" / "newer" / ".guides" / "assessments"

# A folder name can hold anything but "/": an escape sequence, rich markup, a right-to-left override.
# "zed" sorts last, so with --jobs 1 it is the last learner the progress bar describes.
HOSTILE_NAME = "zed\x1b[31m[bold red]x\u202e"
HOSTILE_NAME_SHOWN = "zed\\x1b[31m[bold red]x\\u202e"
LIVE_MARKDOWN = "![pwn](http://evil.example/x.png) [click](http://evil.example) <img src=x onerror=alert(1)>"
HOSTILE_SCRIPT = f'''\
import sys
print("\\x1b[31mred\\x1b[0m \\x1b]8;;http://evil.example/\\x1b\\\\click me\\x1b]8;;\\x1b\\\\ \\x07bell")
print("all good\\rALL BAD \\u202egnp.exe")
sys.stderr.write("\\x1b[2J\\x1b[H cleared\\n")
raise RuntimeError("{LIVE_MARKDOWN} [bold red]rich[/] \\x1b[2Jgone")
'''
# What a terminal, a bidi-aware viewer or a spreadsheet would act on.
RAW_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def run(module: str, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "FORCE_COLOR", "NO_COLOR", "TTY_"))}
    full.update(PYTHONPATH=str(REPO), COLUMNS="200", COURSE_HOME=str(cwd / "home"), **env)
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=full, capture_output=True, text=True,
                          timeout=300)


def rendered(markdown: str) -> str:
    """The HTML a CommonMark viewer with GitHub's tables and strikethrough makes of a Markdown file."""
    return MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown)


def visible_text(markdown: str) -> str:
    """What a reader sees of the rendered Markdown: its text, without tags."""
    return html.unescape(re.sub(r"<[^>]+>", "", rendered(markdown)))


def assert_renders_as_text_only(markdown: str, headings: int) -> None:
    page = rendered(markdown)
    assert "<img" not in page and "<a " not in page and "<table" not in page
    assert len(re.findall(r"<h[1-6]>", page)) == headings  # the report's own headings, and no other
    assert not RAW_CONTROLS.search(markdown)


@pytest.fixture(scope="module")
def hostile_class(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An honest learner, one whose script prints escape sequences and raises Markdown, and one whose
    folder name is an escape sequence with rich markup (handing in a file that is not a lesson's)."""
    work = tmp_path_factory.mktemp("hostile-class")
    honest = work / "class" / "honest"
    honest.mkdir(parents=True)
    for path in HONEST.iterdir():
        (honest / path.name).write_bytes(path.read_bytes())
    (work / "class" / "mallory").mkdir()
    (work / "class" / "mallory" / "imageGen.py").write_text(HOSTILE_SCRIPT, encoding="utf-8")
    (work / "class" / HOSTILE_NAME).mkdir()
    (work / "class" / HOSTILE_NAME / "notes.txt").write_text("my homework\n", encoding="utf-8")
    return work


@pytest.fixture(scope="module")
def graded(hostile_class: Path) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """`grader grade` on a terminal as rich sees one, so it draws the progress bar; a dumb one, so rich's
    own colours add no escape sequence of their own."""
    done = run("grader", "grade", "class", "--out", "out", "--lesson", "1", "--jobs", "1", cwd=hostile_class,
               FORCE_COLOR="1", TERM="dumb")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return hostile_class / "out", done


# ------------------------------------------------------------------------------------------ grader grade


def test_grader_grade_prints_a_hostile_learner_name_escaped_and_an_honest_row_as_before(graded) -> None:
    out, done = graded
    assert not RAW_CONTROLS.search(done.stdout + done.stderr)
    assert f"handed in, but no lesson file found (see summary.html): {HOSTILE_NAME_SHOWN}" in done.stdout
    assert f"{HOSTILE_NAME_SHOWN}: 0/190" in done.stderr  # the progress bar's description, markup and all
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as handle:
        rows = {row["learner"]: row for row in csv.DictReader(handle)}
    assert rows["honest"]["total"] == rows["honest"]["possible"] == "190"
    assert (out / "honest" / "feedback.md").read_text(encoding="utf-8").startswith("# Feedback for honest\n")


def test_feedback_shows_printed_escapes_and_raised_markdown_as_text_only(graded) -> None:
    out, _ = graded
    markdown = (out / "mallory" / "feedback.md").read_text(encoding="utf-8")
    assert_renders_as_text_only(markdown, headings=1 + 2 + 5)  # the title, Steps and Questions, a step each
    assert "\\x1b]8;;http://evil.example/\\x1b\\click me" in markdown  # the OSC 8 link, shown in its code block
    assert LIVE_MARKDOWN in visible_text(markdown)  # the message still reads as raised
    page = (out / "mallory" / "feedback.html").read_text(encoding="utf-8")
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


# ------------------------------------------------------------------------------------------ grader check


def test_grader_check_shows_a_crash_message_escaped_and_its_markup_as_written(hostile_class: Path) -> None:
    done = run("grader", "check", "class/mallory", "--lesson", "1", cwd=hostile_class)
    try:
        assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
        assert not RAW_CONTROLS.search(done.stdout + done.stderr)
        assert "[bold red]rich[/] \\x1b[2Jgone" in done.stdout
    finally:
        run("course", "stop", cwd=hostile_class)


# ------------------------------------------------------------------------------------------ grader guide


@pytest.fixture(scope="module")
def guide_graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """A guide of two questions (nothing to run); learners whose ids share a file name, a formula and an
    escape sequence, and answers that are a formula and live Markdown."""
    work = tmp_path_factory.mktemp("hostile-guide")
    questions = work / "questions"
    questions.mkdir()
    for name in ("multiple-choice-1001.json", "free-text-1007.json"):
        (questions / name).write_bytes((QUESTIONS / name).read_bytes())
    answers = {"a:b": "colon's answer", "a_b": "underscore's answer", "=1+2": "a formula's learner",
               HOSTILE_NAME: f"{LIVE_MARKDOWN}\r# Heading\n| a | b |\n|---|---|\n```\n\x1b[2J",
               "formula": '=HYPERLINK("http://evil.example","click")'}
    for learner, text in answers.items():
        (work / "class" / learner).mkdir(parents=True)
        (work / "class" / learner / "answers.json").write_text(
            json.dumps({"free-text-1007": [text], "multiple-choice-1001": ["multiple-choice-1001-0"]}),
            encoding="utf-8")
    done = run("grader", "guide", "class", "--questions", "questions", "--out", "out", cwd=work)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return work / "out", done


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_grader_guide_spreadsheets_write_a_formula_as_text(guide_graded) -> None:
    out, _ = guide_graded
    learners = [row["learner"] for row in csv_rows(out / "gradebook.csv")]
    assert "'=1+2" in learners and "=1+2" not in learners and "a_b" in learners
    marking = {row["learner"]: row for row in csv_rows(out / "to_mark.csv")}
    assert marking["formula"]["answer"] == '\'=HYPERLINK("http://evil.example","click")'
    assert marking["'=1+2"]["answer"] == "a formula's learner"  # an honest answer is written as given


def test_grader_guide_gives_learners_whose_ids_share_a_file_name_a_feedback_file_each(guide_graded) -> None:
    out, _ = guide_graded
    colon = (out / "feedback" / f"{learner_folder('a:b')}.md").read_text(encoding="utf-8")
    underscore = (out / "feedback" / "a_b.md").read_text(encoding="utf-8")
    assert "colon's answer" in colon and "underscore's answer" in underscore
    assert len(list((out / "feedback").iterdir())) == 5


def test_grader_guide_feedback_shows_a_hostile_answer_and_name_as_text_only(guide_graded) -> None:
    out, done = guide_graded
    markdown = (out / "feedback" / f"{learner_folder(HOSTILE_NAME)}.md").read_text(encoding="utf-8")
    assert_renders_as_text_only(markdown, headings=3)  # the learner, and one per question
    assert markdown.startswith(f"# {for_markdown(HOSTILE_NAME)}: 1 of 6 points")
    assert not RAW_CONTROLS.search(done.stdout + done.stderr)


# -------------------------------------------------------------------------------------------- course log


def test_course_log_shows_what_a_script_sent_escaped_and_honest_rows_as_before(tmp_path: Path) -> None:
    log = RequestLog(tmp_path / "data")
    moment = time.time()
    log.write(Record(moment, "POST", "/v1/images/generations", 200, key="sk-honest-000000", model="dall-e-2",
                     image_ids=["img-1"]))
    log.write(Record(moment, "POST", "/v1/images/\x1b[2J\x1b[H", 400, key="sk-\u202eev\x07", learner="\x1b[31mx",
                     model="dall-e-2\r", params={"prompt": "\x1b]8;;http://evil.example\x1b\\a\x1b]8;;\x1b\\"},
                     error_message="bad size \x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\\rOK\x08\x9b2J"))
    log.close()
    done = run("course", "log", "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not RAW_CONTROLS.search(done.stdout)
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(moment))
    honest = f"{when}  {200:>6}  {'/v1/images/generations':28}  {'dall-e-2':12}  {'sk-honest-000000':16}  1 image(s)"
    assert honest in done.stdout.splitlines()
    assert "bad size \\x1b]8;;http://evil.example\\x1b\\click\\x1b]8;;\\x1b\\\\rOK\\x08\\x9b2J" in done.stdout
    assert "sk-\\u202eev\\x07" in done.stdout and "dall-e-2\\r" in done.stdout


# ------------------------------------------------------------------------------------------ feedback.md


def test_feedback_md_renders_a_learner_id_and_check_texts_with_markup_as_text_only(tmp_path: Path) -> None:
    """Ids that no folder can hold (a zip's or a platform's) and check texts that quote the learner."""
    learner = "[link=http://evil.example]a[/link] ![x](http://evil.example/x.png) <b>"
    quoted = CheckOutcome("stdout", False, "printed the URL", 0, 1,
                          detail=f"printed {LIVE_MARKDOWN}\n# not a heading\n| a | b |\n|---|---|")
    step = StepOutcome(1, 1, "Title 1", "step1", False, 0, 1, [quoted],
                       stdout="`````\n" + LIVE_MARKDOWN, hint={"id": "`", "text": "[click](http://evil.example)"})
    write_reports(GradingRun([LearnerResult(learner, [step], note=f"graded {LIVE_MARKDOWN}")], ["step1"], []),
                  tmp_path)
    markdown = (tmp_path / learner_folder(learner) / "feedback.md").read_text(encoding="utf-8")
    assert_renders_as_text_only(markdown, headings=3)  # the title, Steps, the step
    assert "<b>" not in rendered(markdown) and learner in visible_text(markdown)


@pytest.mark.parametrize(("text", "shown"), [
    ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
    ("\x1b]8;;http://evil.example\x07link\x1b]8;;\x07", "\\x1b]8;;http://evil.example\\x07link\\x1b]8;;\\x07"),
    ("done\rforged", "done\\rforged"),
    ("ab\x08\x08", "ab\\x08\\x08"),
    ("\x9b2J", "\\x9b2J"),
    ("invoice\u202etxt.exe", "invoice\\u202etxt.exe"),
    ("\u2066isolated\u2069", "\\u2066isolated\\u2069"),
    ("Zoë Müller (j.doe@uni.edu)", "Zoë Müller (j.doe@uni.edu)"),
])
def test_a_control_character_is_shown_escaped_and_plain_text_unchanged(text: str, shown: str) -> None:
    assert for_terminal(text) == shown


def test_multi_line_output_keeps_its_lines_and_tabs_but_not_a_lone_carriage_return() -> None:
    assert for_terminal("a\tb\r\nc\rd", lines=True) == "a\tb\nc\\rd"
