"""Does the grader judge a class fairly: each step, each question, golden gradebooks, resumable runs?

The fixtures in tests/fixtures/submissions/ are learners named for their scenario (see EXPECTED.md
there). Golden files live in tests/files/grader/; refresh them with `--update-goldens`.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO, api_processes

FIXTURES = Path(__file__).with_name("fixtures") / "submissions"


def grader(*args: str, cwd: Path | None = None, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    full.update(PYTHONPATH=str(REPO), **(env or {}))
    return subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd or REPO, env=full)


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole fixture class, graded once for this module."""
    out = tmp_path_factory.mktemp("graded")
    result = grader("grade", str(FIXTURES), "--out", str(out), "--quiet", "--lesson", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def rows(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as f:
        return {row["learner"]: row for row in csv.DictReader(f)}


def test_gradebook_golden(graded: Path, golden) -> None:
    """Is the class's gradebook exactly the reviewed one?"""
    golden("gradebook.csv", (graded / "gradebook.csv").read_text(encoding="utf-8"))


def test_gradebook_columns(graded: Path) -> None:
    """Does the gradebook have learner, step1..step5, one column per question, total, possible, percent?"""
    header = (graded / "gradebook.csv").read_text().splitlines()[0].split(",")
    assert header[:6] == ["learner", "step1", "step2", "step3", "step4", "step5"]
    assert header[-3:] == ["total", "possible", "percent"]
    assert "multiple-choice-1558564085" in header


def test_scenarios_are_judged_as_expected(graded: Path) -> None:
    """Do the telling scenarios pass and fail the steps they should?"""
    book = rows(graded)
    full = {c: v for c, v in book["correct_everything"].items()}
    assert full["percent"] == "100"
    assert float(book["step3_hand_typed_url"]["step3"]) < float(full["step3"])
    assert book["step4_catches_and_prints"]["step4"] == full["step4"]
    # the page says to catch the refusal: shown in a traceback, it earns the message's points, not the catch's
    assert 0 < float(book["step4_uncaught_traceback"]["step4"]) < float(full["step4"])
    # step 5 calls the step4() that raises: judged on its own work, as if step4() had succeeded
    assert book["step4_uncaught_traceback"]["step5"] == full["step5"]
    assert book["step4_valid_size"]["step4"] == "0"
    assert book["step4_valid_size"]["step5"] == full["step5"]  # its own code is right: step 4's mistake is step 4's
    assert book["step1_wrong_model"]["step1"] == "0" and book["step2_prints_url_only"]["step2"] == "0"  # no free points
    assert book["step1_wrong_model"]["step2"] == full["step2"]
    assert float(book["step5_no_error_first"]["step5"]) < float(full["step5"])
    # 0.x calls fail wherever a request is made; step 2 only prints what step1() hands it, and is judged on that
    assert all(book["legacy_0x_code"][f"step{n}"] == "0" for n in (1, 3, 5))
    assert book["legacy_0x_code"]["step2"] == full["step2"]
    assert all(book["syntax_error"][f"step{n}"] == "0" for n in range(1, 6))
    assert book["syntax_error"]["multiple-choice-1558564085"] == "20"  # its answers still count
    assert book["empty_folder"]["total"] == "0"
    assert book["answers_missing"]["multiple-choice-1558564085"] == "0"
    assert float(book["answers_partly_right"]["total"]) < float(full["total"])
    assert float(book["answers_partly_right"]["total"]) > float(book["answers_wrong"]["total"])


def test_a_step_failed_only_on_a_hidden_check_says_so(graded: Path) -> None:
    """The learner reads that a hidden check failed (not which); the instructor reads which, and why."""
    tests = {t["number"]: t for t in json.loads((graded / "step1_wrong_model" / "results.json").read_text())["tests"]}
    step3 = tests["1.3"]
    assert step3["score"] < step3["max_score"] and "a hidden check failed" in step3["output"]
    assert "dall-e-2 image step 1 created" not in step3["output"]
    summary = json.loads((graded / "summary.json").read_text())
    assert summary["hidden_failures"] == [{"learner": "step1_wrong_model", "step": "step3",
                                           "label": "Lesson 1, step 3: Print only the image URL", "checks": [
        "step 3 should print the URL of the dall-e-2 image step 1 created (it asked for one dall-e-3 image at 1024x1024)"]}]
    assert "Steps failed only on a hidden check" in (graded / "summary.html").read_text()


def test_reasons_and_hints_in_feedback(graded: Path) -> None:
    """Does feedback say why a step failed and give the hint learners would get?"""
    legacy = json.loads((graded / "legacy_0x_code" / "results.json").read_text())
    assert any("old-sdk-image-create" in t["output"] for t in legacy["tests"])
    syntax = (graded / "syntax_error" / "feedback.md").read_text()
    assert "cannot be run: SyntaxError" in syntax
    unwritten = (graded / "not_written_yet" / "feedback.md").read_text()
    assert "is not written yet" in unwritten


def test_gradescope_results_shape(graded: Path) -> None:
    """Is each learner's results.json what Gradescope reads?"""
    data = json.loads((graded / "correct_everything" / "results.json").read_text())
    assert set(data) >= {"score", "execution_time", "tests"}
    for test in data["tests"]:
        assert set(test) >= {"name", "number", "score", "max_score", "output", "visibility"}
    assert data["score"] == sum(t["score"] for t in data["tests"])


def test_summary_written(graded: Path) -> None:
    """Are summary.json and summary.html (with a chart) written for the instructor?"""
    summary = json.loads((graded / "summary.json").read_text())
    assert summary["learners"] == len([p for p in FIXTURES.iterdir() if p.is_dir()])
    assert "<svg" in (graded / "summary.html").read_text()


@pytest.mark.slow
def test_regrading_skips_unchanged_and_zip_gives_the_same_gradebook(graded: Path, tmp_path: Path) -> None:
    """Does a zip of the class grade the same, and does grading it again run nothing?"""
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(FIXTURES.rglob("*")):
            if path.is_file():
                zf.write(path, Path("submissions") / path.relative_to(FIXTURES))
    out = tmp_path / "out"
    first = grader("grade", str(archive), "--out", str(out), "--quiet", "--lesson", "1")
    assert first.returncode == 0, first.stderr
    assert (out / "gradebook.csv").read_text() == (graded / "gradebook.csv").read_text()
    started = time.monotonic()
    again = grader("grade", str(archive), "--out", str(out), "--quiet", "--lesson", "1")
    assert again.returncode == 0 and "unchanged, not run again" in again.stdout
    assert time.monotonic() - started < 15
    db = sqlite3.connect(out / "gradebook.sqlite3")
    (reused,) = db.execute("SELECT SUM(reused) FROM grades WHERE run_id = (SELECT MAX(id) FROM runs)").fetchone()
    assert reused == len([p for p in FIXTURES.iterdir() if p.is_dir()])
    assert (out / "gradebook.csv").read_text() == (graded / "gradebook.csv").read_text()


@pytest.mark.slow
def test_killed_run_resumes_without_losing_or_duplicating(tmp_path: Path) -> None:
    """If grading is killed halfway, does the next run finish the class with exactly one row per learner?"""
    class_dir = tmp_path / "class"
    for name in ("correct_everything", "step1_wrong_model", "answers_wrong", "syntax_error"):
        shutil.copytree(FIXTURES / name, class_dir / name)
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.Popen([sys.executable, "-m", "grader", "grade", str(class_dir), "--out", str(out), "--quiet",
                             "--jobs", "1"], env=env, cwd=REPO, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db_path = out / "gradebook.sqlite3"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if db_path.exists():
            try:
                with sqlite3.connect(db_path) as db:
                    if db.execute("SELECT COUNT(*) FROM grades").fetchone()[0] >= 1:
                        break
            except sqlite3.Error:
                pass
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 15  # the grader's private API must not outlive it
    while _serving(out) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _serving(out), "the killed grader's offline API is still running"
    with sqlite3.connect(db_path) as db:
        before = db.execute("SELECT COUNT(*) FROM grades").fetchone()[0]
    assert 1 <= before < 4
    done = grader("grade", str(class_dir), "--out", str(out), "--quiet")
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(db_path) as db:
        assert db.execute("SELECT COUNT(*), COUNT(DISTINCT learner) FROM grades").fetchone() == (4, 4)
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1
    assert len(rows(out)) == 4


def _serving(out: Path) -> bool:
    return bool(api_processes(out))


@pytest.mark.slow
def test_runaway_steps_fail_cleanly_and_grading_goes_on(tmp_path: Path) -> None:
    """Do a step that never ends and one that floods its output get failed rows with reasons, while the
    learner's other steps are still graded?"""
    learner = tmp_path / "class" / "runaway"
    learner.mkdir(parents=True)
    source = (REPO / "solutions" / "imageGen.py").read_text()
    source = source.replace('    """Print the whole response."""\n', '    """Print the whole response."""\n    while True:\n        pass\n')
    source = source.replace('    """Print only the image URL."""\n',
                            '    """Print only the image URL."""\n    import sys\n    sys.stdout.write("x" * (3 * 1024 * 1024))\n')
    (learner / "imageGen.py").write_text(source)
    out = tmp_path / "out"
    result = grader("grade", str(tmp_path / "class"), "--out", str(out), "--quiet", "--timeout", "3")
    assert result.returncode == 0, result.stderr
    data = json.loads((out / "runaway" / "results.json").read_text())
    outputs = {t["number"]: t for t in data["tests"]}
    assert "did not finish within 3 s" in outputs["1.2"]["output"] and outputs["1.2"]["score"] == 0
    assert "printed more than 1024 KB" in outputs["1.3"]["output"] and outputs["1.3"]["score"] == 0
    assert outputs["1.1"]["score"] == outputs["1.1"]["max_score"] > 0
    assert outputs["1.5"]["score"] == outputs["1.5"]["max_score"]


def test_grader_check_for_a_learner(tmp_path: Path) -> None:  # warm, as grader grade: about 1.5 s
    """Does `grader check` run a learner's own work against the public checks, with the runner's hints?"""
    work = tmp_path / "me"
    shutil.copytree(FIXTURES / "step3_subscripts_response", work)
    result = grader("check", str(work), env={"COURSE_HOME": str(tmp_path / "home")})
    try:
        assert result.returncode == 1
        assert "✗ Lesson 1, step 3" in result.stdout and "hint [subscripted-response]" in result.stdout
        assert "✓ Lesson 1, step 1" in result.stdout
        assert "256x256 dall-e-2 image" not in result.stdout  # the hidden check stays hidden
    finally:
        subprocess.run([sys.executable, "-m", "course", "stop"], env={**os.environ, "COURSE_HOME": str(tmp_path / "home"),
                                                                   "PYTHONPATH": str(REPO)}, capture_output=True)


def _check_in(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`grader check` as a learner runs it: in their folder, on `.`, with their own COURSE_HOME."""
    try:
        return grader("check", ".", *args, cwd=folder, timeout=300, env={"COURSE_HOME": str(folder / "home")})
    finally:
        subprocess.run([sys.executable, "-m", "course", "stop"], cwd=folder, capture_output=True,
                       env={**os.environ, "COURSE_HOME": str(folder / "home"), "PYTHONPATH": str(REPO)})


def test_grader_check_names_questions_as_the_quiz_does_and_says_its_rule_once(tmp_path: Path) -> None:
    """Questions by place and title, as `course quiz` and the feedback call them; the rule of the check (public
    checks, the learner's locked copies: right or wrong, no partial credit) said once, not after each question."""
    work = tmp_path / "me"
    shutil.copytree(FIXTURES / "answers_wrong", work)
    result = _check_in(work)
    assert result.returncode == 0, result.stdout + result.stderr  # every step passes; the answers are wrong
    lines = result.stdout.splitlines()
    assert "✗ Lesson 1, question 1: dall-e-2 sizes: 0/20. incorrect (attempt 1 of 2); the 5-point penalty stops at 0" \
        in lines
    assert "✗ Lesson 1, question 2: How many images per request: 0/20. incorrect (attempt 1 of 1)" in lines
    assert "multiple-choice-" not in result.stdout
    assert "lock" not in result.stdout  # "only the lock was available, so no partial credit" after each line, before
    rule = [line for line in lines if line.startswith("How this is checked")]
    assert len(rule) == 1 and "public checks only" in rule[0] and "right or wrong" in rule[0]
    assert lines[-1] == "5/5 steps pass the public checks; 0/5 questions right."


def test_grader_check_counts_attempts_as_course_quiz_does(tmp_path: Path) -> None:
    """A question answered wrong, then right, with `course quiz 1.4`: the quiz says 2 of 3 attempts used, and so
    does `grader check` (it said attempt 1 whatever the quiz had counted)."""
    import pexpect

    from course.lesson.lessons import CONTENT
    from course.lesson.questions import display_order, load_questions

    task = "multiple-choice-1774733893"  # lesson 1, question 4: one answer, three attempts
    work = tmp_path / "me"
    work.mkdir()
    key = load_questions(REPO / "solutions" / "assessments")[task]
    order = [a.id for a in display_order(load_questions(CONTENT / "assessments")[task], str(work / "answers.json"))]
    right = "abcdefgh"[order.index(next(iter(key.correct_ids)))]
    wrong = "abcdefgh"[next(i for i, a in enumerate(order) if a not in key.correct_ids)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "TERM": "xterm", "COLUMNS": "120", "COURSE_HOME": str(work / "home")}
    child = pexpect.spawn(sys.executable, ["-m", "course", "quiz", "1.4"], cwd=str(work), env=env, timeout=60,
                          encoding="utf-8")
    child.expect("Your answer")
    child.sendline(wrong)
    child.expect("Try again")
    child.expect("Your answer")
    child.sendline(right)
    child.expect(pexpect.EOF)
    child.close()
    quiz_said = " ".join(child.before.split())
    assert "Correct" in quiz_said and "How long a URL lives" in quiz_said and "2 of 3" in quiz_said, quiz_said
    result = _check_in(work, "--lesson", "1")
    assert "✓ Lesson 1, question 4: How long a URL lives: 20/20. correct (attempt 2 of 3)" in result.stdout.splitlines()


@pytest.mark.slow
def test_grader_check_is_warm_and_verifies_what_it_did(tmp_path: Path) -> None:
    """`grader check` on three lessons takes less than half the time it took with a fresh interpreter per step
    (`--plain`, as it ran before), and says exactly the same: same steps, checks, hints and questions."""
    work = tmp_path / "me"
    work.mkdir()
    for name in ("imageGen.py", "imageGen2.py", "imageGen3.py"):
        shutil.copy(REPO / "solutions" / name, work / name)
    timings = {}
    outputs = {}
    for how in ("warm", "plain"):
        started = time.monotonic()
        done = _check_in(work, *(["--plain"] if how == "plain" else []))
        timings[how] = time.monotonic() - started
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        outputs[how] = done.stdout
    assert outputs["warm"] == outputs["plain"]
    assert "17/17 steps pass the public checks" in outputs["warm"]
    assert timings["warm"] < 0.5 * timings["plain"], timings


def test_gradescope_command(tmp_path: Path) -> None:
    """Does `grader gradescope` grade one submission folder into results.json?"""
    target = tmp_path / "results" / "results.json"
    result = grader("gradescope", str(FIXTURES / "correct_everything"), str(target), "--lesson", "1")
    assert result.returncode == 0, result.stderr
    data = json.loads(target.read_text())
    assert data["score"] == sum(t["max_score"] for t in data["tests"])


def test_bad_inputs_are_clear(tmp_path: Path) -> None:
    """Are a missing folder, a folder with no learners and a damaged zip each one clear line?"""
    missing = grader("grade", str(tmp_path / "nope"), "--out", str(tmp_path / "o"))
    assert missing.returncode == 1 and missing.stderr.startswith("error: ") and "Traceback" not in missing.stderr
    (tmp_path / "empty").mkdir()
    empty = grader("grade", str(tmp_path / "empty"), "--out", str(tmp_path / "o"))
    assert empty.returncode == 1 and "holds no learner folders" in empty.stderr
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    bad = grader("grade", str(tmp_path / "bad.zip"), "--out", str(tmp_path / "o"))
    assert bad.returncode == 1 and "is not a zip file" in bad.stderr
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../escaped.py", "print('out')")
    refused = grader("grade", str(evil), "--out", str(tmp_path / "o"))
    assert refused.returncode == 1 and "points outside the archive" in refused.stderr
    assert not (tmp_path.parent / "escaped.py").exists()


def test_attempts_beyond_the_limit_score_nothing(tmp_path: Path) -> None:
    """Does an answer recorded after more attempts than a question allows score 0, with the reason?"""
    from course.lesson.lessons import all_lessons
    from course.lesson.questions import load_questions
    from grader.grade import KEYS, Plan, grade_submission
    from grader.submissions import Submission

    learner = tmp_path / "eager"
    shutil.copytree(FIXTURES / "correct_everything", learner)
    questions = load_questions(KEYS)
    limited = questions["multiple-choice-1640493267"]  # a lesson-1 question allowing one attempt
    assert limited.max_attempts == 1
    (learner / ".course").mkdir()
    (learner / ".course" / "attempts.json").write_text(json.dumps({limited.task_id: 4}))
    lesson = all_lessons()[0]
    lesson.steps = []  # questions only: nothing to run

    class OnlyQuestions(Plan):
        def lesson_questions(self, lesson) -> list[str]:  # type: ignore[no-untyped-def]
            return [limited.task_id]

    result = grade_submission(Submission("eager", learner), OnlyQuestions([lesson], questions), engine=None, api=None)
    (outcome,) = result.questions
    assert outcome.points == 0 and "more than the 1 attempts allowed" in outcome.reason
