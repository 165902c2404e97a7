"""`grader guide` grades a class through `grader grade`'s own pipeline: does it keep the gradebook store (a second
run grades only who changed, a run killed midway resumes), and grade several learners at once to the same result?"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, api_processes

GUIDES = REPO / "tests" / "fixtures" / "guides"
NEWER = GUIDES / "newer"
TESTED = GUIDES / "tested"
RIGHT = {"multiple-choice-1001": ["multiple-choice-1001-0"], "fill-in-the-blanks-1002": ["for", "in", "len", "0"],
         "parsons-puzzle-1004": ["total = 0", "for n in [4, 5, 6]:", "    total = total + n", "print(total)"],
         "free-text-1007": ["A loop says it once."]}
WRONG = {"multiple-choice-1001": ["multiple-choice-1001-1"], "fill-in-the-blanks-1002": ["for", "of", "len", "0"]}
COUNTS = "for n in range(1, 4):\n    print(n)\nprint('done')\n"


def grader(*args: str, cwd: Path, **popen: object) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(PYTHONPATH=str(REPO), COURSE_HOME=str(cwd / "home"), COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def learner(class_: Path, name: str, answers: dict[str, list[str]], program: str | None) -> Path:
    folder = class_ / name
    folder.mkdir(parents=True)
    (folder / "answers.json").write_text(json.dumps(answers), encoding="utf-8")
    if program is not None:
        (folder / "code").mkdir()
        (folder / "code" / "loops.py").write_text(program, encoding="utf-8")
    return folder


def newer_class(into: Path) -> Path:
    """Four learners on the newer guide: right, partly right with a program that prints the wrong thing, wrong
    answers, nothing handed in."""
    class_ = into / "class"
    learner(class_, "ada", RIGHT, COUNTS)
    learner(class_, "bo", {**RIGHT, **WRONG}, "print('not yet')\n")
    learner(class_, "cy", WRONG, COUNTS)
    (class_ / "dee").mkdir()
    return class_


def gradebook(out: Path) -> dict[str, dict[str, str]]:
    with (out / "gradebook.csv").open(newline="", encoding="utf-8") as handle:
        return {row["learner"]: row for row in csv.DictReader(handle)}


def last_run(out: Path) -> dict[str, int]:
    """Each learner of the store's latest run, and whether their result was reused (1) or graded (0)."""
    with sqlite3.connect(out / "gradebook.sqlite3") as db:
        return dict(db.execute("SELECT learner, reused FROM grades WHERE run_id = (SELECT MAX(id) FROM runs)"))


def outputs(out: Path) -> dict[str, str]:
    """What OUT says to people and programs: the gradebook, the marking list, every feedback file."""
    files = [out / "gradebook.csv", out / "to_mark.csv", *sorted((out / "feedback").iterdir())]
    return {path.relative_to(out).as_posix(): path.read_text(encoding="utf-8") for path in files}


def test_a_second_run_skips_every_unchanged_learner_and_grades_a_changed_one_again(tmp_path: Path) -> None:
    """Graded twice, is nobody run again the second time (and is it said)? After one learner changes their
    answers, is that learner alone graded again, with the new grade?"""
    class_ = newer_class(tmp_path)
    first = grader("guide", "class", "--questions", str(NEWER), "--out", "out", cwd=tmp_path)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "(0 unchanged, not run again)" in first.stdout
    before = outputs(tmp_path / "out")
    assert gradebook(tmp_path / "out")["ada"]["code-output-compare-1005"] == "2"  # the box ran the code test

    again = grader("guide", "class", "--questions", str(NEWER), "--out", "out", cwd=tmp_path)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "4 learners graded (4 unchanged, not run again)" in again.stdout
    assert last_run(tmp_path / "out") == {"ada": 1, "bo": 1, "cy": 1, "dee": 1}
    assert outputs(tmp_path / "out") == before

    (class_ / "cy" / "answers.json").write_text(json.dumps(RIGHT), encoding="utf-8")
    changed = grader("guide", "class", "--questions", str(NEWER), "--out", "out", cwd=tmp_path)
    assert changed.returncode == 0, changed.stdout[-3000:] + changed.stderr[-3000:]
    assert "(3 unchanged, not run again)" in changed.stdout
    assert last_run(tmp_path / "out") == {"ada": 1, "bo": 1, "cy": 0, "dee": 1}
    rows = gradebook(tmp_path / "out")
    assert rows["cy"]["multiple-choice-1001"] == "1" and rows["cy"]["total"] == rows["ada"]["total"]


def test_a_changed_guide_grades_everyone_again(tmp_path: Path) -> None:
    """Is the guide's content part of the store's fingerprint: a question worth more points, and no one's old
    grade is reused?"""
    questions = tmp_path / "questions"
    questions.mkdir()
    for name in ("multiple-choice-1001.json", "free-text-1007.json"):
        shutil.copy(NEWER / ".guides" / "assessments" / name, questions / name)
    learner(tmp_path / "class", "ada", RIGHT, None)
    learner(tmp_path / "class", "bo", WRONG, None)
    assert grader("guide", "class", "--questions", "questions", "--out", "out", cwd=tmp_path).returncode == 0
    assert gradebook(tmp_path / "out")["ada"]["multiple-choice-1001"] == "1"
    key = questions / "multiple-choice-1001.json"
    data = json.loads(key.read_text(encoding="utf-8"))
    data["source"]["points"] = 3
    key.write_text(json.dumps(data), encoding="utf-8")
    done = grader("guide", "class", "--questions", "questions", "--out", "out", cwd=tmp_path)
    assert done.returncode == 0 and "(0 unchanged, not run again)" in done.stdout
    assert last_run(tmp_path / "out") == {"ada": 0, "bo": 0}
    assert gradebook(tmp_path / "out")["ada"]["multiple-choice-1001"] == "3"


def test_two_learners_at_once_grade_as_one_at_a_time(tmp_path: Path) -> None:
    """Do `--jobs 2` and `--jobs 1` write the same gradebook, marking list and feedback, code tests included?"""
    newer_class(tmp_path)
    for jobs in ("1", "2"):
        done = grader("guide", "class", "--questions", str(NEWER), "--out", f"out-{jobs}", "--jobs", jobs, cwd=tmp_path)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert outputs(tmp_path / "out-2") == outputs(tmp_path / "out-1")
    assert gradebook(tmp_path / "out-2")["bo"]["code-output-compare-1005"] == "0"


@pytest.mark.slow
def test_a_run_killed_midway_finishes_with_every_learner_graded_once(tmp_path: Path) -> None:
    """SIGKILLed after its first learner, does the same command then grade only those left, once each, in the
    same run of the store?"""
    slow = ("import sys, time\ntime.sleep(1)\n"
            "print(42 if len(sys.argv) < 2 else {'1': 'one', '2': 'two'}[sys.argv[1]])\n")
    for name in ("ana", "ben", "col", "dot", "eve"):
        (tmp_path / "class" / name / "code").mkdir(parents=True)
        (tmp_path / "class" / name / "code" / "prog.py").write_text(slow, encoding="utf-8")
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(PYTHONPATH=str(REPO), COURSE_HOME=str(tmp_path / "home"))
    proc = subprocess.Popen([sys.executable, "-m", "grader", "guide", "class", "--questions", str(TESTED), "--out",
                             "out"], cwd=tmp_path, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = out / "gradebook.sqlite3"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if not store.is_file():
            time.sleep(0.05)
            continue
        try:
            with sqlite3.connect(store) as db:
                if db.execute("SELECT COUNT(*) FROM grades").fetchone()[0] >= 1:
                    break
        except sqlite3.Error:
            pass
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):  # already over: then it never wrote to a store
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert store.is_file(), "the run kept no gradebook store"
    deadline = time.monotonic() + 15  # the killed grader's private API goes with it
    while api_processes(out) and time.monotonic() < deadline:
        time.sleep(0.1)
    with sqlite3.connect(store) as db:
        before = dict(db.execute("SELECT learner, graded_at FROM grades"))
    assert 1 <= len(before) < 5, before

    done = grader("guide", "class", "--questions", str(TESTED), "--out", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT COUNT(*), COUNT(DISTINCT learner), SUM(complete) FROM grades").fetchone() == (5, 5, 5)
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1
        after = dict(db.execute("SELECT learner, graded_at FROM grades"))
    assert {name: after[name] for name in before} == before  # graded before the kill: not graded again
    rows = gradebook(out)
    assert sorted(rows) == ["ana", "ben", "col", "dot", "eve"]
    assert all(row["code-output-compare-2002"] == "2" for row in rows.values()), rows


def test_a_guide_class_on_local_cluster_workers_grades_as_one_machine_does(tmp_path: Path) -> None:
    """`--cluster local:2`: the guide (its assessments, workspace and test scripts) is sent to two worker processes;
    are the gradebook, the marking list and the feedback those of `--jobs 1`, the code test run in each worker's box,
    and does a second run reuse everyone?"""
    pytest.importorskip("distributed")
    newer_class(tmp_path)
    here = grader("guide", "class", "--questions", str(NEWER), "--out", "here", "--jobs", "1", cwd=tmp_path)
    assert here.returncode == 0, here.stdout[-3000:] + here.stderr[-3000:]
    there = grader("guide", "class", "--questions", str(NEWER), "--out", "there", "--cluster", "local:2", cwd=tmp_path)
    assert there.returncode == 0, there.stdout[-3000:] + there.stderr[-3000:]
    assert "4 learners graded (0 unchanged, not run again)" in there.stdout
    assert outputs(tmp_path / "there") == outputs(tmp_path / "here")
    rows = gradebook(tmp_path / "there")
    assert rows["ada"]["code-output-compare-1005"] == "2" and rows["bo"]["code-output-compare-1005"] == "0"
    assert last_run(tmp_path / "there") == {"ada": 0, "bo": 0, "cy": 0, "dee": 0}
    again = grader("guide", "class", "--questions", str(NEWER), "--out", "there", "--cluster", "local:1", cwd=tmp_path)
    assert again.returncode == 0 and "4 learners graded (4 unchanged, not run again)" in again.stdout, again.stdout[-600:]


def test_a_worker_given_another_guide_is_refused_with_what_differs(tmp_path: Path) -> None:
    """A worker makes its plan from the guide it is sent; when that is not the client's guide (here: one question
    worth more points), is it refused, naming the assessment, before it starts a box?"""
    from grader.cluster import GradingPlugin
    from grader.guide import guide_plan

    guide = tmp_path / "guide"
    shutil.copytree(NEWER, guide)
    client = guide_plan(guide)
    parts = client.fingerprint_parts()
    key = guide / ".guides" / "assessments" / "multiple-choice-1001.json"
    data = json.loads(key.read_text(encoding="utf-8"))
    data["source"]["points"] = 3
    key.write_text(json.dumps(data), encoding="utf-8")
    other = guide_plan(guide).recipe()

    class Worker:  # what the plugin reads of a Dask worker before anything starts
        local_directory = str(tmp_path)

    plugin = GradingPlugin(other, parts, timeout=30, warm=False, allow_weak_box=True)
    try:
        plugin.setup(Worker())
        assert plugin.engine is None and plugin.plan is None
        assert plugin.refused.startswith("its guide, course or grader differs from the client's (assessment ")
        assert "(assessment 1 (multiple-choice-1001), workspace .guides/assessments/multiple-choice-1001.json differ)" \
            in plugin.refused
    finally:
        plugin.teardown(Worker())
    same = GradingPlugin(guide_plan(guide).recipe(), guide_plan(guide).fingerprint_parts(), timeout=30, warm=False,
                         allow_weak_box=True)
    made = same.recipe.make(tmp_path / "made")
    assert made.fingerprint_parts() == guide_plan(guide).fingerprint_parts()
    assert list(made.tasks) == list(client.tasks) and (made.root / ".guides" / "assessments").is_dir()


def test_a_free_text_check_runs_the_learner_s_answer_only_in_the_box(tmp_path: Path) -> None:
    """A free-text-auto question whose own check runs the answer (here: as Python): a hostile answer that writes a
    file outside and reads one of the grader's must do neither, since the check runs in the box; a plain answer is
    still checked there, on the guide's workspace (its `.guides` script found)."""
    escaped, secret = tmp_path / "escaped.txt", tmp_path / "grader-secret.txt"
    secret.write_text("s3cr3t-of-the-grader", encoding="utf-8")
    guide = tmp_path / "guide"
    (guide / ".guides" / "assessments").mkdir(parents=True)
    command = "python3 -c \"import os; exec(os.environ['CODIO_FREE_TEXT_ANSWER'])\""
    (guide / ".guides" / "assessments" / "free-text-auto-1.json").write_text(json.dumps(
        {"type": "free-text-auto", "taskId": "free-text-auto-1",
         "source": {"name": "Run it", "instructions": "A line of Python.", "command": command, "points": 1}}),
        encoding="utf-8")
    hostile = (f"import pathlib; pathlib.Path({str(escaped)!r}).write_text('out')\n"
               f"print('read:', pathlib.Path({str(secret)!r}).read_text().upper())\n")
    learner(tmp_path / "class", "mal", {"free-text-auto-1": [hostile]}, None)
    learner(tmp_path / "class", "ada", {"free-text-auto-1": ["print('said in the box', end='\\n\\n')\n\n"]}, None)
    learner(tmp_path / "class", "bo", RIGHT | {"free-text-auto-1008": ["It is repetition."]}, None)
    done = grader("guide", "class", "--questions", "guide", "--out", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert not escaped.exists(), "a learner's answer wrote outside the box"
    everything = "".join(outputs(tmp_path / "out").values())
    assert "S3CR3T-OF-THE-GRADER" not in everything, "a learner's answer read the grader's file"
    mal = (tmp_path / "out" / "feedback" / "mal.md").read_text(encoding="utf-8")
    assert "does not pass yet" in mal and "Error" in mal  # the box had neither file to give
    ada = (tmp_path / "out" / "feedback" / "ada.md").read_text(encoding="utf-8")
    assert "The question's own check passes" in ada and "said in the box" in ada
    newer = grader("guide", "class", "--questions", str(NEWER), "--out", "newer", cwd=tmp_path)
    assert newer.returncode == 0, newer.stdout[-3000:] + newer.stderr[-3000:]
    bo = (tmp_path / "newer" / "feedback" / "bo.md").read_text(encoding="utf-8")
    assert "passes" in bo and "Your answer names the idea." in bo  # the guide's own script, found in its copy
