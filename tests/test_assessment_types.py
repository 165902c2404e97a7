"""Every Codio assessment type a guide uses: read, judged as Codio judges it, asked by `course quiz`, shown as a
notebook widget, and graded (or recorded for a person) by `grader guide`."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course.lesson.assessments import judge, list_assessments, load_guide_assessments, read_assessment, workspace_of
from course.lesson.blanks import FillInBlanks, parse_blank
from course.lesson.code_tests import CodeTest, OutputCompare
from course.lesson.free_text import FreeText
from course.lesson.parsons import ParsonsPuzzle
from course.terminal.task_forms import parse_order
from tests.conftest import REPO

NEWER = REPO / "tests" / "fixtures" / "guides" / "newer"
OLDER = REPO / "tests" / "fixtures" / "guides" / "older"
TYPES = ["multiple-choice", "fill-in-the-blanks", "fill-in-the-blanks", "parsons-puzzle", "code-output-compare",
         "test", "free-text", "free-text-auto"]


def cli(module: str, *args: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    env.update(PYTHONPATH=str(REPO), COLUMNS="100")
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env, input=stdin, capture_output=True,
                          text=True, timeout=120)


def raw(task_id: str) -> dict:
    return json.loads((NEWER / ".guides" / "assessments" / f"{task_id}.json").read_text(encoding="utf-8"))


@pytest.fixture()
def workspace(tmp_path: Path) -> Path:
    """A copy of the newer guide: its code is the learner's to change."""
    target = tmp_path / "guide"
    shutil.copytree(NEWER, target)
    (target / "code").mkdir(exist_ok=True)
    (target / "code" / "loops.py").write_text("for n in range(1, 4):\n    print(n)\nprint('done')\n", encoding="utf-8")
    return target


# --------------------------------------------------------------------------- reading and judging


def test_every_type_of_both_formats_is_read_and_listed() -> None:
    listed = list_assessments(NEWER)
    assert sorted(item.kind for item in listed) == sorted(TYPES) and all(item.runs for item in listed)
    from course.lesson.codio_pages import load_guide

    embedded = [a.task_id for chapter in load_guide(NEWER) for page in chapter.pages for a in page.assessments]
    assert [item.task_id for item in listed] == list(dict.fromkeys(embedded))  # in the order the pages ask them
    older = list_assessments(OLDER)
    assert [item.task_id for item in older] == ["multiple-choice-2001", "fill-in-the-blanks-2002", "parsons-puzzle-2003",
                                                "code-output-compare-2004", "free-text-2005"]
    assert list(load_guide_assessments(OLDER / ".guides" / "assessments.json")) == [item.task_id for item in older]
    tasks = load_guide_assessments(NEWER)
    assert {type(t).__name__ for t in tasks.values()} == {"Question", "FillInBlanks", "ParsonsPuzzle", "OutputCompare",
                                                          "CodeTest", "FreeText"}
    assert workspace_of(NEWER / ".guides" / "assessments") == NEWER and workspace_of(OLDER / ".guides") == OLDER


def test_blanks_accept_what_codio_says_they_accept() -> None:
    assert parse_blank("natural").matches("  natural ") and parse_blank("natural").matches("Natural")
    either = parse_blank('"colour", "color"')
    assert either.matches("color") and either.matches("colour") and not either.matches("colr")
    quoted = parse_blank('"yes", ""yes""')
    assert quoted.matches("yes") and quoted.matches('"yes"')
    pattern = parse_blank("/^[hc]at$/")
    assert pattern.matches("hat") and pattern.matches("cat") and not pattern.matches("that")
    assert parse_blank("/i ?== ?0/").matches("if i==0:")
    task = read_assessment(raw("fill-in-the-blanks-1002"), origin="x")
    assert isinstance(task, FillInBlanks) and len(task.blanks) == 4 and not task.drop_down
    right = judge(task, ["for", "in", "len()", "0"])
    assert right.correct and right.points == 4
    half = judge(task, ["for", "on", "len", "1"])
    assert not half.correct and half.points == 2 and "blank 2: on  not right" in half.feedback  # partial points
    assert "[1 ____]" in task.text_with_gaps() and "[2: in]" in task.text_with_gaps(["for", "in"])


def test_drop_down_blanks_offer_the_answers_and_the_distractors() -> None:
    task = read_assessment(raw("fill-in-the-blanks-1003"), origin="x")
    assert task.drop_down and sorted(task.options(1)) == ["append", "insert", "pop", "remove"]
    assert task.options(1) == task.options(1)
    assert judge(task, ["append", "pop"]).correct
    wrong = judge(task, ["append", "remove"])
    assert not wrong.correct and wrong.points == 0  # no partial points on this one


def test_blanks_from_tokens_alone() -> None:
    data = raw("fill-in-the-blanks-1003")
    del data["source"]["text"]
    data["source"]["tokens"] = {"blank": ["append", "pop"], "text": ["a ", 0, " then ", 0, "."]}
    task = read_assessment(data, origin="x")
    assert task.text_with_gaps() == "a [1 ____] then [2 ____]." and judge(task, ["append", "pop"]).correct


def test_parsons_is_judged_line_by_line_like_codio() -> None:
    task = read_assessment(raw("parsons-puzzle-1004"), origin="x")
    assert isinstance(task, ParsonsPuzzle) and task.can_indent
    assert [(b.code, b.level, b.distractor) for b in task.blocks] == [
        ("total = 0", 0, False), ("for n in [4, 5, 6]:", 0, False), ("total = total + n", 1, False),
        ("print(total)", 0, False), ("total = 1", 0, True)]
    good = ["total = 0", "for n in [4, 5, 6]:", "    total = total + n", "print(total)"]
    assert judge(task, good).correct and judge(task, good).points == 3
    flat = judge(task, ["total = 0", "for n in [4, 5, 6]:", "total = total + n", "print(total)"])
    assert not flat.correct and "indented 0 level(s); it belongs at 1" in flat.feedback
    swapped = judge(task, [good[1], good[0], good[2], good[3]])
    assert "line 1: 'for n in [4, 5, 6]:' is not the right block here" in swapped.feedback
    short = judge(task, good[:3])
    assert "too few lines: 3 of 4" in short.feedback
    decoy = judge(task, ["total = 1", *good[1:]])
    assert "belong nowhere" in decoy.feedback
    shuffled = task.shuffled("seed")
    assert sorted(b.code for b in shuffled) == sorted(b.code for b in task.blocks) and shuffled[:4] != task.solution
    fixed = read_assessment(json.loads((OLDER / ".guides" / "assessments.json").read_text())[2], origin="x")
    assert not fixed.can_indent
    answer = fixed.answer_of([(block, 0) for block in fixed.solution])  # the levels are the puzzle's own
    assert answer[1] == "    print(n)" and judge(fixed, answer).correct
    assert parse_order("3 >1 >>2", 3, True) == [(3, 0), (1, 1), (2, 2)]
    assert "twice" in parse_order("1 1", 3, True) and "no block 4" in parse_order("4", 3, True)
    assert "indentation itself" in parse_order(">1", 3, False)


def test_output_compare_runs_the_command_under_its_options(workspace: Path) -> None:
    task = read_assessment(raw("code-output-compare-1005"), origin="x")
    assert isinstance(task, OutputCompare) and task.ignore_case
    passed = judge(task, [], workspace=workspace)
    assert passed.correct and passed.points == 2 and passed.chosen == ("1 of 1 cases passed",)
    (workspace / "code" / "loops.py").write_text("print(1)\nprint(2)\n", encoding="utf-8")
    failed = judge(task, [], workspace=workspace)
    assert not failed.correct and "Print each number, then done." in failed.feedback and "expected:" in failed.feedback
    loose = OutputCompare(**{**task.__dict__, "ignore_case": False, "ignore_whitespace": True})
    (workspace / "code" / "loops.py").write_text("print('1 2 3 DONE')\n", encoding="utf-8")
    assert judge(loose, [], workspace=workspace).correct  # every space and line break left out of both sides
    part = OutputCompare(**{**task.__dict__, "substring": True, "ignore_case": False})
    (workspace / "code" / "loops.py").write_text("print('counting')\nprint('1\\n2\\n3\\nDONE')\n", encoding="utf-8")
    assert judge(part, [], workspace=workspace).correct and not judge(
        OutputCompare(**{**part.__dict__, "substring": False}), [], workspace=workspace).correct
    slow = OutputCompare(**{**task.__dict__, "command": "sleep 5", "timeout": 0.5})
    assert "stopped" in judge(slow, [], workspace=workspace).feedback
    broken = OutputCompare(**{**task.__dict__, "pre_command": "exit 3"})
    assert "the preparing command `exit 3` exited with 3" in judge(broken, [], workspace=workspace).feedback


def test_older_output_compare_gives_partial_points_per_case(tmp_path: Path) -> None:
    shutil.copytree(OLDER, tmp_path / "g")
    task = load_guide_assessments(tmp_path / "g")["code-output-compare-2004"]
    assert judge(task, [], workspace=tmp_path / "g").correct
    (tmp_path / "g" / "code" / "count.py").write_text("n = int(input())\nprint(n)\n", encoding="utf-8")
    half = judge(task, [], workspace=tmp_path / "g")
    assert not half.correct and half.points == 1 and "1 of 2 cases passed" in half.note


def test_code_test_passes_on_exit_status_zero(workspace: Path) -> None:
    task = read_assessment(raw("test-1006"), origin="x")
    assert isinstance(task, CodeTest)
    ok = judge(task, [], workspace=workspace)
    assert ok.correct and "well done" in ok.feedback
    (workspace / "code" / "loops.py").write_text("print('nothing yet')\n", encoding="utf-8")
    no = judge(task, [], workspace=workspace)
    assert not no.correct and "exited with 1" in no.note and "nothing yet" in no.feedback


def test_free_text_is_recorded_for_a_person(workspace: Path) -> None:
    text = read_assessment(raw("free-text-1007"), origin="x")
    assert isinstance(text, FreeText)
    verdict = judge(text, ["Because a loop says it once."])
    assert verdict.by_person and verdict.points == 0 and verdict.status == "to be marked"
    auto = read_assessment(raw("free-text-auto-1008"), origin="x")
    said = judge(auto, ["It is repetition."], workspace=workspace)
    assert said.by_person and "passes" in said.feedback and "names the idea" in said.feedback
    assert "does not pass yet" in judge(auto, ["a loop"], workspace=workspace).feedback


# --------------------------------------------------------------------------- in the terminal


def test_quiz_lists_every_assessment_with_how_it_runs(tmp_path: Path) -> None:
    listed = cli("course", "quiz", "--questions", str(NEWER), "--list", cwd=tmp_path)
    assert listed.returncode == 0
    lines = listed.stdout.strip().splitlines()
    assert len(lines) == 9 and lines[-1] == "8 assessments, 8 of them run here."
    assert "parsons-puzzle-1004  [parsons-puzzle]  Adding up  (runs here:" in listed.stdout
    assert "free-text-1007  [free-text]  Why loop?  (runs here: free text: recorded, and marked by a person)" in listed.stdout
    folder = tmp_path / "questions"
    folder.mkdir()
    (folder / "grade-book-1.json").write_text(json.dumps({"type": "grade-book", "taskId": "grade-book-1",
                                                          "source": {"name": "Participation"}}), encoding="utf-8")
    only = cli("course", "quiz", "--questions", str(folder), cwd=tmp_path)
    assert only.returncode == 1 and "grade-book-1 (grade-book)" not in only.stdout
    assert "Not asked here: Participation (grade-book-1, grade-book): a grade the teacher gives" in only.stdout
    assert "no assessment in" in only.stderr


def test_quiz_asks_every_type_and_saves_the_answers(workspace: Path, tmp_path: Path) -> None:
    here = tmp_path / "learner"
    here.mkdir()
    tasks = load_guide_assessments(workspace)
    seed = str((here / "answers.json").resolve())
    mc = tasks["multiple-choice-1001"]
    drop = tasks["fill-in-the-blanks-1003"].options(seed)
    puzzle = tasks["parsons-puzzle-1004"].shuffled(seed)
    order = " ".join((">" if block.level else "") + str(puzzle.index(block) + 1) for block in tasks["parsons-puzzle-1004"].solution)
    letters = "abcdefghijklmnopqrstuvwxyz"
    replies = {
        "multiple-choice-1001": ["a"],  # answers in the authored order (not randomized)
        "fill-in-the-blanks-1002": ["for", "in", "len", "0"],  # typed blanks
        "fill-in-the-blanks-1003": [letters[drop.index("append")], "nonsense", letters[drop.index("pop")]],  # one invalid
        "parsons-puzzle-1004": [order],
        "code-output-compare-1005": ["r"],
        "test-1006": ["r"],
        "free-text-1007": ["Loops say it once.", "Then they repeat it.", ""],  # two lines, then an empty one
        "free-text-auto-1008": ["It is repetition", ""],
    }
    script = "\n".join(line for task_id in tasks for line in replies[task_id]) + "\n"
    done = cli("course", "quiz", "--questions", str(workspace), cwd=here, stdin=script)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "is not in the list" in out and "Answer saved." in out and "Your program:" in out
    assert "Total: 14 of 20 points; 6 of 8 questions correct. 2 answers await a person's marking" in " ".join(out.split())
    saved = json.loads((here / "answers.json").read_text(encoding="utf-8"))
    assert saved["fill-in-the-blanks-1002"] == ["for", "in", "len", "0"]
    assert saved["parsons-puzzle-1004"][2] == "    total = total + n"
    assert saved["code-output-compare-1005"] == ["1 of 1 cases passed"] and saved["test-1006"] == ["passed"]
    assert saved["free-text-1007"] == ["Loops say it once.\nThen they repeat it."]
    again = cli("course", "quiz", "--questions", str(workspace), "parsons-puzzle-1004", cwd=here, stdin="")
    assert again.returncode == 0 and "this question is finished" in again.stdout  # a second run shows the saved answer


def test_quiz_runs_one_older_assessment_by_id(tmp_path: Path) -> None:
    done = cli("course", "quiz", "--questions", str(OLDER / ".guides" / "assessments.json"), "fill-in-the-blanks-2002",
               cwd=tmp_path, stdin="break\ncontinue\n")
    assert done.returncode == 0 and "Correct!" in done.stdout
    missing = cli("course", "quiz", "--questions", str(OLDER), "nope-1", cwd=tmp_path)
    assert missing.returncode == 1 and "has no assessment 'nope-1'" in missing.stderr and "--list" in missing.stderr


# --------------------------------------------------------------------------- in a notebook


def test_notebook_widgets_for_every_type(workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ipywidgets")
    from course.jupyter import question
    from course.jupyter.task_boxes import TaskBox
    from course.jupyter.widgets import QuestionBox

    monkeypatch.chdir(tmp_path)
    assert isinstance(question("multiple-choice-1001", guide=workspace), QuestionBox)
    blanks = question("fill-in-the-blanks-1002", guide=workspace)
    assert isinstance(blanks, TaskBox) and len(blanks.inputs) == 4
    blanks.fill("for", "in", "len", "0")
    assert blanks.check().correct and "Correct!" in blanks.feedback.value
    drop = question("fill-in-the-blanks-1003", guide=workspace)
    drop.fill("append", "pop")
    assert drop.check().correct
    puzzle = question("parsons-puzzle-1004", guide=workspace)
    assert puzzle.check() is None and "Answer first" in puzzle.feedback.value  # nothing placed: no attempt used
    for block in puzzle.task.solution:
        puzzle.place(puzzle.blocks.index(block) + 1)
    first = puzzle.check()
    assert not first.correct  # the loop's body is not indented yet
    puzzle.move(2, "in")
    assert puzzle.check().correct
    code = question("code-output-compare-1005", guide=workspace)
    assert code.check().correct
    text = question("free-text-1007", guide=workspace)
    text.text.value = "Once, not five times."
    assert text.check().by_person and "A person marks it" in text.feedback.value
    saved = json.loads((tmp_path / "answers.json").read_text(encoding="utf-8"))
    assert saved["parsons-puzzle-1004"] == ["total = 0", "for n in [4, 5, 6]:", "    total = total + n", "print(total)"]
    with pytest.raises(Exception, match="has no assessment 'nope'"):
        question("nope", guide=workspace)


# --------------------------------------------------------------------------- graded


def test_grader_guide_scores_runs_and_lists_what_a_person_marks(tmp_path: Path) -> None:
    class_ = tmp_path / "class"
    full = {"multiple-choice-1001": ["multiple-choice-1001-0"], "fill-in-the-blanks-1002": ["for", "in", "len", "0"],
            "fill-in-the-blanks-1003": ["append", "pop"],
            "parsons-puzzle-1004": ["total = 0", "for n in [4, 5, 6]:", "    total = total + n", "print(total)"],
            "free-text-1007": ["A loop says it once."], "free-text-auto-1008": ["repetition"],
            "code-output-compare-1005": ["1 of 1 cases passed"], "test-1006": ["passed"]}
    (class_ / "ada" / "code").mkdir(parents=True)
    (class_ / "ada" / "answers.json").write_text(json.dumps(full), encoding="utf-8")
    (class_ / "ada" / "code" / "loops.py").write_text("for n in range(1, 4):\n    print(n)\nprint('done')\n")
    (class_ / "bo" / "work" / "inner" / "code").mkdir(parents=True)  # one folder too deep, saved by Notepad with a BOM
    partly = {"MULTIPLE-CHOICE-1001": "`for planet in planets:`", "fill-in-the-blanks-1002": ["for", "of", "len", "0"],
              "code-output-compare-1005": ["1 of 1 cases passed"], "test-1006": ["passed"]}  # claims it passed: rerun
    (class_ / "bo" / "work" / "inner" / "answers.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(partly).encode())
    (class_ / "bo" / "work" / "inner" / "code" / "loops.py").write_bytes(b"print('not yet')\r\n")
    # A hostile one: its own .guides replaces nothing of the guide's, and its test cannot reach the network.
    (class_ / "cy" / ".guides" / "secure").mkdir(parents=True)
    (class_ / "cy" / ".guides" / "secure" / "check_loops.py").write_text("raise SystemExit(0)\n")
    (class_ / "cy" / "code").mkdir()
    (class_ / "cy" / "code" / "loops.py").write_text(
        "import socket\ns = socket.socket()\ns.settimeout(2)\ntry:\n    s.connect(('1.1.1.1', 53))\n    print('1\\n2\\n3\\ndone')\n"
        "except OSError:\n    print('offline')\n")
    (class_ / "cy" / "answers.json").write_text("{not json", encoding="utf-8")
    (class_ / "dee").mkdir()  # handed in nothing
    out = tmp_path / "out"
    done = cli("grader", "guide", str(class_), "--questions", str(NEWER), "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2 answers await a person's marking" in done.stdout
    with (out / "gradebook.csv").open(encoding="utf-8") as handle:
        rows = {row["learner"]: row for row in csv.DictReader(handle)}
    assert rows["ada"]["total"] == "14" and rows["ada"]["possible"] == "20" and rows["ada"]["to_mark"] == "2"
    assert rows["ada"]["code-output-compare-1005"] == "2" and rows["ada"]["test-1006"] == "2"  # run in the box
    assert rows["bo"]["multiple-choice-1001"] == "1" and rows["bo"]["fill-in-the-blanks-1002"] == "3"
    assert rows["bo"]["code-output-compare-1005"] == "0" and rows["bo"]["test-1006"] == "0"  # its claim is not trusted
    assert rows["cy"]["test-1006"] == "0" and rows["cy"]["code-output-compare-1005"] == "0"
    assert rows["dee"]["total"] == "0" and rows["dee"]["test-1006"] == "0"
    with (out / "to_mark.csv").open(encoding="utf-8") as handle:
        marking = list(csv.DictReader(handle))
    assert [(m["learner"], m["question"]) for m in marking] == [("ada", "free-text-1007"), ("ada", "free-text-auto-1008")]
    assert marking[0]["answer"] == "A loop says it once." and marking[0]["out_of"] == "5" and "says the work once" in marking[0]["guidance"]
    ada = (out / "feedback" / "ada.md").read_text(encoding="utf-8")
    assert "To be marked by a person (out of 5 points)." in ada and "the test was run on the work handed in" in ada
    bo = (out / "feedback" / "bo.md").read_text(encoding="utf-8")
    assert "not yet" in bo and "Answers read from work/inner/answers.json." in bo
    cy = (out / "feedback" / "cy.md").read_text(encoding="utf-8")
    assert "answers.json could not be read: it is not valid JSON" in cy and "offline" in cy
    assert "nothing was handed in to test" in (out / "feedback" / "dee.md").read_text(encoding="utf-8")
