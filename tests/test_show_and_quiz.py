"""Do the real lessons render in the terminal, and does `course quiz` work through a real terminal?"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pexpect
from rich.console import Console

from course.lesson.codio_pages import load_chapter
from course.lesson.lessons import CONTENT, all_lessons
from course.terminal.pages import render_page
from course.lesson.questions import display_order, load_question, load_questions
from tests.conftest import REPO


def course(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "88"}
    return subprocess.run([sys.executable, "-m", "course", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60)


def test_lesson_pages_hold_every_step_and_question() -> None:
    """Does each lesson offer one Try-it per step, in order, and embed only questions that exist?"""
    questions = load_questions(CONTENT / "assessments")
    for lesson in all_lessons():
        pages = load_chapter(lesson.folder).pages
        commands = [t.command for page in pages for t in page.try_its]
        assert commands == [f"python3 {lesson.script} {s['number']}" for s in lesson.steps]
        ids = [a.task_id for page in pages for a in page.assessments]
        assert ids and all(i in questions for i in ids)
    lesson1_ids = all_lessons()[0].assessment_ids
    assert "multiple-choice-1558564085" in lesson1_ids and len(lesson1_ids) >= 5


def test_lesson1_page_golden(golden) -> None:
    """Does lesson 1's step page read well in a plain terminal?"""
    lesson = all_lessons()[0]
    console = Console(width=88, record=True, color_system=None, force_terminal=False, file=io.StringIO())
    render_page(load_chapter(lesson.folder).pages[1], console)
    golden("lesson1-page2.txt", console.export_text())


def test_course_show_pages_and_errors(tmp_path: Path) -> None:
    """Does `course show` render a lesson's pages, any guide page by path, and refuse a page that isn't there?"""
    first = course("show", "1", cwd=tmp_path)
    assert first.returncode == 0 and "page 1 of" in first.stdout and "next: course show 1 2" in first.stdout
    second = course("show", "1", "2", cwd=tmp_path)
    assert "course try 1" in second.stdout and "python3 imageGen.py 1" in second.stdout
    seed = course("show", str(REPO / "tests" / "files" / "pages" / "codio-lesson-page.md"), cwd=tmp_path)
    assert seed.returncode == 0 and "course try 5" in seed.stdout and "course quiz 1.5" in seed.stdout
    missing = course("show", "1", "9", cwd=tmp_path)
    assert missing.returncode == 1 and missing.stderr.startswith("error: lesson 1 has no page '9'.")
    nolesson = course("show", "7", cwd=tmp_path)
    assert nolesson.returncode == 1 and "there is no lesson '7'" in nolesson.stderr


def test_course_show_reads_a_guide_page_by_path(tmp_path: Path) -> None:
    """Does `course show path/to/page.md` render any Codio page?"""
    page = tmp_path / "Hello-1a2b.md"
    page.write_text("## Hello\n\nRun it:\n\n{Try it!}(python3 hello.py 2)\n")
    result = course("show", str(page), cwd=tmp_path)
    shown = " ".join(result.stdout.split())
    assert result.returncode == 0 and "Hello" in shown and "python3 hello.py 2" in shown
    assert f"course try {page} 1" in shown and "course try 2" not in shown  # hello.py is no step of this course


def test_course_quiz_in_a_real_terminal(tmp_path: Path) -> None:
    """Answering through `course quiz ID` in a terminal: is the answer stored, re-read, and counted right?"""
    task = "multiple-choice-1640493267"
    key = load_question(REPO / "solutions" / "assessments" / f"{task}.json")
    locked = load_questions(CONTENT / "assessments")[task]
    order = display_order(locked, str(tmp_path / "answers.json"))
    letter = "abcdefgh"[[a.id for a in order].index(next(iter(key.correct_ids)))]
    env = {**os.environ, "PYTHONPATH": str(REPO), "TERM": "xterm", "COLUMNS": "100"}
    child = pexpect.spawn(sys.executable, ["-m", "course", "quiz", "1.2"], cwd=str(tmp_path), env=env, timeout=30,
                          encoding="utf-8")  # lesson 1, question 2: by its place, beside its id
    child.expect("Lesson 1, question 2: How many images per request")
    child.expect(r"Your answer")
    child.sendline(letter)
    child.expect(pexpect.EOF)
    child.close()
    assert "Correct" in child.before, child.before
    assert "Total: 20 of 20 points; 1 of 1 questions correct." in " ".join(child.before.split())
    assert json.loads((tmp_path / "answers.json").read_text()) == {task: sorted(key.correct_ids)}
    progress = json.loads(course("progress", "--json", cwd=tmp_path).stdout)
    assert {"id": task, "title": "question 2: How many images per request", "place": "1.2",
            "label": "lesson 1, question 2: How many images per request", "status": "correct"} in progress[0]["questions"]
    again = course("quiz", task, cwd=tmp_path)  # by its id, once finished: the saved answer and result
    assert "Your answer: " in again.stdout and "this question is finished" in again.stdout


def test_an_existing_codio_guide_runs_here(tmp_path: Path) -> None:
    """Does a Codio guide folder (pages, index.json, assessments) show and quiz with the course's commands?"""
    guides = tmp_path / ".guides"
    chapter = guides / "content" / "Basics-1a2b"
    chapter.mkdir(parents=True)
    (chapter / "index.json").write_text(json.dumps({"title": "Basics", "type": "chapter", "order": ["Intro-3c4d"]}))
    (chapter / "Intro-3c4d.md").write_text("## Intro\n\n{Run}(python3 hello.py 1)\n\n{Check It!|assessment}(multiple-choice-42)\n")
    (guides / "assessments").mkdir()
    (guides / "assessments" / "multiple-choice-42.json").write_text(json.dumps({
        "type": "multiple-choice", "taskId": "multiple-choice-42", "source": {
            "name": "Two", "instructions": "1 + 1?", "multipleResponse": False, "points": "1", "incorrectPoints": "0",
            "showGuidanceAfterResponse": True, "guidance": "It is 2.",
            "answers": [{"_id": "a1", "answer": "2", "correct": True}, {"_id": "a2", "answer": "3", "correct": False}]}}))
    index = course("show", str(guides), cwd=tmp_path)
    assert index.returncode == 0 and "Basics" in index.stdout and "Intro" in index.stdout
    page = course("show", str(guides), "1", cwd=tmp_path)
    shown = " ".join(page.stdout.split())
    assert f"course try {guides} 1.1" in shown and f"course quiz --questions {guides} multiple-choice-42" in shown
    env = {**os.environ, "PYTHONPATH": str(REPO), "TERM": "xterm"}
    child = pexpect.spawn(sys.executable, ["-m", "course", "quiz", "--questions", str(guides / "assessments")],
                          cwd=str(tmp_path), env=env, timeout=30, encoding="utf-8")
    child.expect("1 \\+ 1")
    child.expect("Your answer")
    child.sendline("a")
    if child.expect(["Correct", "Try again"]) == 1:  # the options may be shuffled: then b is the right one
        child.expect("Your answer")
        child.sendline("b")
        child.expect("Correct")
    child.expect(pexpect.EOF)
    child.close()
    assert json.loads((tmp_path / "answers.json").read_text()) == {"multiple-choice-42": ["a1"]}


def test_a_long_page_goes_through_the_pager_in_a_terminal_and_stays_plain_in_a_pipe(tmp_path: Path) -> None:
    """As git does: $PAGER (here a script that keeps what it was given), else `less -R`; a pipe gets plain text."""
    kept = tmp_path / "paged.txt"
    pager = tmp_path / "pager.sh"
    # The pager keeps what it was given in the file its run names (a pager still finishing one run's writing can
    # then never be taken for the next run's).
    pager.write_text("#!/bin/sh\necho \"LESS=$LESS\" > \"$KEPT\"\ncat >> \"$KEPT\"\n")
    pager.chmod(0o755)
    env = {**{k: v for k, v in os.environ.items() if k not in ("LINES", "COLUMNS")},  # the terminal's own size decides
           "PYTHONPATH": str(REPO), "TERM": "xterm-256color", "PAGER": str(pager), "KEPT": str(kept)}
    child = pexpect.spawn(sys.executable, ["-m", "course", "show", "1", "3"], cwd=str(tmp_path), env=env, timeout=30,
                          encoding="utf-8", dimensions=(20, 100))
    child.expect(pexpect.EOF)
    child.close()
    text = kept.read_text()
    assert text.startswith("LESS=FRX") and "Sizes and errors" in text and "\x1b[" in text  # coloured, whole
    assert "page 3 of 3" in text
    kept = tmp_path / "paged-short.txt"
    env["KEPT"] = str(kept)
    short = pexpect.spawn(sys.executable, ["-m", "course", "show", "1", "3"], cwd=str(tmp_path), env=env, timeout=30,
                          encoding="utf-8", dimensions=(500, 100))
    short.expect(pexpect.EOF)
    short.close()
    assert not kept.exists() and "Sizes and errors" in short.before  # it fits: no pager
    plain = pexpect.spawn(sys.executable, ["-m", "course", "show", "1", "3"], cwd=str(tmp_path),
                          env={**env, "PAGER": "cat"}, timeout=30, encoding="utf-8", dimensions=(20, 100))
    plain.expect(pexpect.EOF)  # PAGER=cat: no pager, the whole page at once
    plain.close()
    assert not kept.exists() and "page 3 of 3" in plain.before
    del env["PAGER"]
    less = pexpect.spawn(sys.executable, ["-m", "course", "show", "1", "3"], cwd=str(tmp_path), env=env, timeout=30,
                         encoding="utf-8", dimensions=(15, 100))
    less.expect(":|END")  # less is waiting at the bottom of its first screen
    less.send("q")
    less.expect(pexpect.EOF)
    less.close()
    assert less.exitstatus == 0
    piped = course("show", "1", "3", cwd=tmp_path)
    assert "\x1b[" not in piped.stdout and "page 3 of 3" in piped.stdout


def test_a_guide_page_by_its_contents_number_its_place_or_its_title(tmp_path: Path) -> None:
    """`course show GUIDE 2.1` is the page the contents call 2.1; `3` the third page; a title works too."""
    content = tmp_path / ".guides" / "content"
    for chapter, title, pages in (("Start-1a", "Getting started", ["Hello-1b", "Setup-1c"]),
                                  ("More-2a", "Going further", ["Loops-2b"])):
        (content / chapter).mkdir(parents=True)
        (content / chapter / "index.json").write_text(json.dumps({"title": title, "type": "chapter", "order": pages}))
        for page in pages:
            (content / chapter / f"{page}.md").write_text(f"## {page.split('-')[0]} page\n\nText of {page}.\n")
    (content / "index.json").write_text(json.dumps({"title": "A guide", "order": ["Start-1a", "More-2a"]}))
    index = course("show", str(tmp_path), cwd=tmp_path)
    assert "1.2" in index.stdout and "2.1" in index.stdout
    assert "Text of Loops-2b." in course("show", str(tmp_path), "2.1", cwd=tmp_path).stdout
    assert "Text of Setup-1c." in course("show", str(tmp_path), "1.2", cwd=tmp_path).stdout
    assert "Text of Loops-2b." in course("show", str(tmp_path), "3", cwd=tmp_path).stdout
    assert "Text of Hello-1b." in course("show", str(tmp_path / ".guides"), "Hello-1b", cwd=tmp_path).stdout
    missing = course("show", str(tmp_path), "4.1", cwd=tmp_path)
    assert missing.returncode == 1 and "this guide has no page '4.1'" in missing.stderr and "1.1, 1.2, 2.1" in missing.stderr

