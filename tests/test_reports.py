"""The reports a grading run leaves (gradebook, Gradescope JSON, feedback, summary) and the Gradescope bundle.

Runs are built in code, so these tests need no grading, no server and no learner scripts.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader.bundle import make_bundle
from grader.reports import gradescope_results, learner_folder, number, summary, write_reports
from grader.results import CheckOutcome, GradingRun, LearnerResult, QuestionOutcome, StepOutcome

REPO = Path(__file__).resolve().parent.parent
HOSTILE = "<script>alert(1)</script>"
SECRET = "the hidden check looks for the request id"
STEP_COLUMNS = ["step1", "step2", "step3"]
QUESTION_COLUMNS = ["q-sizes", "q-models"]


def check(kind: str, passed: bool, message: str, points: float = 1.0, hidden: bool = False) -> CheckOutcome:
    return CheckOutcome(kind, passed, message, points if passed else 0.0, points, hidden)


def step(number_: int, passed: bool, checks: list[CheckOutcome], **extra: object) -> StepOutcome:
    points = sum(c.points for c in checks)
    maximum = sum(c.max_points for c in checks) or 2.0
    return StepOutcome(1, number_, f"Title {number_}", f"step{number_}", passed, points, maximum, checks, **extra)


def passing_steps() -> list[StepOutcome]:
    return [step(1, True, [check("exit", True, "the script ran"), check("stdout", True, "printed the URL")],
                 exit_code=0, stdout="https://offline.example/img/1.png\n"),
            step(2, True, [check("request", True, "asked for 256x256"), check("log", True, SECRET, hidden=True)],
                 exit_code=0),
            step(3, True, [check("hidden", True, "secret step check", 1.5, hidden=True)], exit_code=0)]


def question(task_id: str, points: float, possible: float = 1.0, reason: str = "correct") -> QuestionOutcome:
    return QuestionOutcome(task_id, f"About {task_id}", points, possible, reason, ["a"])


def sample_run() -> GradingRun:
    """Four learners: all right, partly wrong (with a hint), broken (a timeout, a missing step), hostile."""
    alice = LearnerResult("alice", passing_steps(), [question("q-sizes", 1), question("q-models", 2, 2)], 3.6)
    bob_steps = passing_steps()
    bob_steps[1] = step(2, False, [check("request", False, "no request with an invalid size was made"),
                                   check("log", False, SECRET, hidden=True)], exit_code=1,
                        stdout="asking…\n", stderr="Traceback (most recent call last):\nValueError: bad\n",
                        hint={"id": "invalid-size", "text": "Use one of the sizes the model accepts."})
    bob = LearnerResult("bob", bob_steps, [question("q-sizes", 0, reason="wrong answer"),
                                           question("q-models", 1, 2, "partly right")], 7.2)
    carol = LearnerResult("carol", [step(1, False, [], reason="timed out after 30 s", stdout="waiting\n" * 100),
                                    step(3, False, [check("hidden", False, "secret step check", 1.5, hidden=True)])],
                          [question("q-sizes", 1)], 31.0, note="imageGen2.py is missing")
    mallory = LearnerResult(HOSTILE, [step(1, False, [check("stdout", False, "no URL printed")],
                                           stdout=f"{HOSTILE}\n```\nnot a fence end\n", stderr=HOSTILE)], [])
    return GradingRun([mallory, carol, bob, alice], STEP_COLUMNS, QUESTION_COLUMNS)


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    write_reports(sample_run(), out)
    return out


# ------------------------------------------------------------------------------------------- gradebook


@pytest.mark.parametrize(("value", "text"), [(3, "3"), (3.0, "3"), (2.5, "2.5"), (66.666666, "66.6667"),
                                             (66.67, "66.67"), (0, "0"), (-0.0, "0"), (1e7, "10000000")])
def test_numbers_have_no_trailing_zeros(value: float, text: str) -> None:
    assert number(value) == text


def test_gradebook_matches_golden(reports: Path, golden) -> None:
    raw = (reports / "gradebook.csv").read_bytes()
    assert b"\r" not in raw
    golden("gradebook.csv", raw.decode("utf-8"))


def test_gradebook_columns_order_and_missing_cells(reports: Path) -> None:
    rows = list(csv.reader(io.StringIO((reports / "gradebook.csv").read_text(encoding="utf-8"))))
    assert rows[0] == ["learner", *STEP_COLUMNS, *QUESTION_COLUMNS, "total", "possible", "percent"]
    assert [r[0] for r in rows[1:]] == sorted([HOSTILE, "alice", "bob", "carol"])
    carol = next(r for r in rows if r[0] == "carol")
    assert carol[1:6] == ["0", "0", "0", "1", "0"]  # no step2, no q-models: written as 0


def test_write_reports_lists_every_file(tmp_path: Path) -> None:
    written = write_reports(sample_run(), tmp_path)
    names = [p.relative_to(tmp_path).as_posix() for p in written]
    assert names[0] == "gradebook.csv" and names[-2:] == ["summary.json", "summary.html"]
    assert "bob/results.json" in names and "bob/feedback.md" in names and "bob/feedback.html" in names
    assert all(p.is_file() for p in written)


# ------------------------------------------------------------------------------------------ gradescope

TOP_KEYS = {"score": (int, float), "execution_time": int, "output": str, "visibility": str,
            "stdout_visibility": str, "tests": list}
TEST_KEYS = {"name": str, "number": str, "score": (int, float), "max_score": (int, float), "output": str,
             "visibility": str}


def test_gradescope_json_has_gradescope_keys_and_types(reports: Path) -> None:
    data = json.loads((reports / "bob" / "results.json").read_text(encoding="utf-8"))
    assert set(data) == set(TOP_KEYS)
    assert all(isinstance(data[key], kind) for key, kind in TOP_KEYS.items())
    assert data["execution_time"] == 7 and data["score"] == 4.5
    for test in data["tests"]:
        assert set(test) == set(TEST_KEYS)
        assert all(isinstance(test[key], kind) for key, kind in TEST_KEYS.items())
        assert test["visibility"] in {"visible", "after_published"}
    assert [t["number"] for t in data["tests"]] == ["1.1", "1.2", "1.3", "Q1", "Q2"]
    assert data["tests"][0]["name"] == "Lesson 1, step 1: Title 1"
    assert data["tests"][3]["name"] == "Question q-sizes: About q-sizes"
    assert sum(t["score"] for t in data["tests"]) == data["score"]


def test_gradescope_hides_hidden_checks(reports: Path) -> None:
    tests = json.loads((reports / "bob" / "results.json").read_text(encoding="utf-8"))["tests"]
    failed = tests[1]
    assert failed["visibility"] == "visible" and failed["score"] == 0
    assert "✗ no request with an invalid size was made" in failed["output"]
    assert "(hidden checks: 1)" in failed["output"]
    assert "invalid-size" in failed["output"] and "ValueError: bad" in failed["output"]
    assert all(SECRET not in t["output"] for t in tests)
    assert tests[2]["visibility"] == "after_published"  # every check of step 3 is hidden


def test_gradescope_output_keeps_only_the_tail(tmp_path: Path) -> None:
    flood = step(1, False, [check("exit", False, "the script crashed")], stdout="x" * 100_000, stderr="LAST LINE")
    test = gradescope_results(LearnerResult("flood", [flood]))["tests"][0]
    assert test["output"].endswith("LAST LINE") and len(test["output"]) < 2300


# -------------------------------------------------------------------------------------------- feedback


def test_feedback_markdown_matches_golden(reports: Path, golden) -> None:
    golden("bob-feedback.md", (reports / "bob" / "feedback.md").read_text(encoding="utf-8"))


def test_feedback_shows_reason_and_trims_output(reports: Path) -> None:
    text = (reports / "carol" / "feedback.md").read_text(encoding="utf-8")
    assert "timed out after 30 s" in text and "imageGen2.py is missing" in text
    assert "60 earlier lines not shown" in text and text.count("waiting") == 40
    assert "secret step check" not in text and "a hidden check failed" in text  # said, but not which


def test_hostile_learner_id_and_output_are_escaped(reports: Path) -> None:
    folder = reports / learner_folder(HOSTILE)
    assert folder.parent == reports and folder.is_dir() and "<" not in folder.name
    for page in (folder / "feedback.html", reports / "summary.html"):
        text = page.read_text(encoding="utf-8")
        assert "<script" not in text.lower()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    markdown = (folder / "feedback.md").read_text(encoding="utf-8")
    assert "````text\n" in markdown  # a longer fence than the learner's printed ```
    assert json.loads((folder / "results.json").read_text(encoding="utf-8"))["score"] == 0


def test_feedback_html_is_standalone(reports: Path) -> None:
    text = (reports / "bob" / "feedback.html").read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "<style>" in text
    assert not re.search(r"(src|href)=", text)
    assert "Use one of the sizes the model accepts." in text and SECRET not in text


# --------------------------------------------------------------------------------------------- summary


def test_summary_numbers(reports: Path) -> None:
    data = json.loads((reports / "summary.json").read_text(encoding="utf-8"))
    assert data == summary(sample_run())
    assert data["learners"] == 4
    steps = {s["column"]: s for s in data["steps"]}
    assert steps["step1"]["pass_rate"] == 0.5 and steps["step1"]["max_points"] == 2.0
    assert steps["step2"]["pass_rate"] == 0.25 and steps["step2"]["mean_points"] == 0.5
    assert steps["step2"]["common_failures"] == [
        {"message": "no result for this step", "count": 2},
        {"message": "no request with an invalid size was made", "count": 1},
        {"message": SECRET, "count": 1}]
    assert steps["step1"]["common_failures"] == [{"message": "no URL printed", "count": 1},
                                                 {"message": "timed out after 30 s", "count": 1}]
    questions = {q["column"]: q for q in data["questions"]}
    assert questions["q-sizes"]["correct_rate"] == 0.5 and questions["q-models"]["mean_points"] == 0.75
    assert questions["q-models"]["possible"] == 2.0
    percents = sorted(r.percent for r in sample_run().results)
    assert data["median_percent"] == round((percents[1] + percents[2]) / 2, 2)
    assert sum(b["count"] for b in data["distribution"]) == 4 and len(data["distribution"]) == 10
    assert data["distribution"][9]["count"] == 1  # alice's 100 % lands in the last bin


def test_summary_html_has_inline_charts_and_no_urls(reports: Path) -> None:
    text = (reports / "summary.html").read_text(encoding="utf-8")
    assert text.count("<svg") == 2 and "<?xml" not in text and "DOCTYPE svg" not in text
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", text))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert "no request with an invalid size was made" in text
    assert 'href="bob/feedback.html"' in text


def test_reports_are_deterministic(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    write_reports(sample_run(), first)
    write_reports(sample_run(), second)
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    assert all((first / f).read_bytes() == (second / f).read_bytes() for f in files)


def test_empty_run(tmp_path: Path) -> None:
    write_reports(GradingRun([], STEP_COLUMNS, []), tmp_path)
    data = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert data["learners"] == 0 and data["mean_percent"] == 0.0 and data["steps"][0]["pass_rate"] == 0.0
    assert (tmp_path / "gradebook.csv").read_text(encoding="utf-8").count("\n") == 1


# ---------------------------------------------------------------------------------------------- bundle


def fake_repo(root: Path) -> Path:
    """A tiny course tree with the clutter a real checkout has."""
    for name in ("course/__init__.py", "course/content/hints.json", "grader/__init__.py", "grader/__main__.py",
                 "solutions/imageGen.py", "solutions/assessments/q.json", "requirements.txt", "pyproject.toml",
                 "course/__pycache__/x.cpython-311.pyc", "grader/old.pyc", "course/tests/test_x.py",
                 ".venv/lib/site.py", "tests/test_reports.py", "README.md", "exercises/imageGen.py"):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {name}\n", encoding="utf-8")
    (root / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["rich>=13"]\n', encoding="utf-8")
    return root


def test_bundle_contents_and_modes(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "out" / "autograder.zip", fake_repo(tmp_path / "repo"))
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
        assert names == sorted(names)
        assert names == ["course/__init__.py", "course/content/hints.json", "grader/__init__.py", "grader/__main__.py",
                         "pyproject.toml", "requirements.lock", "requirements.txt", "run_autograder", "setup.sh",
                         "solutions/assessments/q.json", "solutions/imageGen.py"]
        modes = {i.filename: (i.external_attr >> 16) for i in archive.infolist()}
        assert stat.S_IMODE(modes["run_autograder"]) == 0o755 and stat.S_ISREG(modes["run_autograder"])
        assert stat.S_IMODE(modes["setup.sh"]) == 0o755
        assert stat.S_IMODE(modes["grader/__init__.py"]) == 0o644
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        run = archive.read("run_autograder").decode()
        setup = archive.read("setup.sh").decode()
    assert run.startswith("#!") and 'ROOT="${AUTOGRADER_ROOT:-/autograder}"' in run and 'cd "$ROOT/source"' in run
    assert 'python3 -m grader gradescope "$ROOT/submission" "$RESULTS"' in run and run.rstrip().endswith("exit 0")
    assert "apt-get install" in setup and "pip3 install --no-cache-dir -r /autograder/source/requirements.lock" in setup
    assert "Ubuntu 24.04" in setup and "3.11" in setup


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bundle_scripts_parse(tmp_path: Path) -> None:
    with zipfile.ZipFile(make_bundle(tmp_path / "b.zip", fake_repo(tmp_path / "repo"))) as archive:
        for name in ("setup.sh", "run_autograder"):
            script = tmp_path / name
            script.write_bytes(archive.read(name))
            assert subprocess.run(["bash", "-n", str(script)], capture_output=True, check=False).returncode == 0, name


def test_bundle_is_deterministic(tmp_path: Path) -> None:
    repo = fake_repo(tmp_path / "repo")
    first = make_bundle(tmp_path / "one.zip", repo).read_bytes()
    second = make_bundle(tmp_path / "two.zip", repo).read_bytes()
    assert first == second


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_bundle_leaves_out_git_ignored_files(tmp_path: Path) -> None:
    repo = fake_repo(tmp_path / "repo")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / ".gitignore").write_text("solutions/*.png\n", encoding="utf-8")
    (repo / "solutions" / "paper_boat.png").write_bytes(b"generated by a solution run")
    (repo / "solutions" / "assets").mkdir()
    (repo / "solutions" / "assets" / "mask.png").write_bytes(b"an asset")
    with zipfile.ZipFile(make_bundle(tmp_path / "b.zip", repo)) as archive:
        names = archive.namelist()
    assert "solutions/paper_boat.png" not in names and "solutions/assets/mask.png" in names


def test_bundle_of_this_repository(tmp_path: Path) -> None:
    with zipfile.ZipFile(make_bundle(tmp_path / "autograder.zip", REPO)) as archive:
        names = archive.namelist()
    assert {"setup.sh", "run_autograder", "requirements.txt", "pyproject.toml", "grader/results.py",
            "course/__init__.py", "solutions/imageGen.py"} <= set(names)
    assert any(n.startswith("solutions/assessments/") for n in names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or n.startswith(("tests/", ".venv/"))]


# ------------------------------------------------- the same words for instructors and learners, as users run it

SUBMISSIONS = REPO / "tests" / "fixtures" / "submissions"
# Lesson 1's questions, by place: (task id, the right answer ids, a wrong one) from the keys in solutions/assessments.
Q1_1 = ("multiple-choice-1686928195", ["ef03a8a134744fdc83873a70", "6109ca3033e94ef222bda62e", "12b9b60928264ea73e75812d"])
Q1_2 = ("multiple-choice-1640493267", ["e70741b0dc0d07dec02e79ed"])
Q1_4 = ("multiple-choice-1774733893", ["8549342df88180f1688feae9"])
Q1_5_WRONG = ("multiple-choice-1558564085", ["339fa4466fa20c1d678b4624"])


def _command(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m grader ...` / `python -m course ...` as a user types it: in the folder, relative paths, no key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "FORCE_COLOR", "NO_COLOR"))}
    env.update(PYTHONPATH=str(REPO), COLUMNS="200", COURSE_HOME=str(cwd / "home"))
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def small_class(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """Three learners graded on every lesson (`grader grade class --out out`): ana answered three of lesson 1's
    questions right and handed in no script; bo did every step of lesson 1 and one question; cy did four steps."""
    work = tmp_path_factory.mktemp("same-words")
    ana, bo, cy = (work / "class" / name for name in ("ana", "bo", "cy"))
    for folder in (ana, bo, cy):
        folder.mkdir(parents=True)
    (ana / "answers.json").write_text(json.dumps(dict([Q1_1, Q1_2, Q1_4, Q1_5_WRONG])), encoding="utf-8")
    shutil.copy(SUBMISSIONS / "correct_everything" / "imageGen.py", bo / "imageGen.py")
    (bo / "answers.json").write_text(json.dumps(dict([Q1_2])), encoding="utf-8")
    shutil.copy(SUBMISSIONS / "step4_uncaught_traceback" / "imageGen.py", cy / "imageGen.py")
    done = _command("grader", "grade", "class", "--out", "out", "--quiet", cwd=work)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return work, done


def _cells(html_text: str, first: str) -> list[str]:
    """The cells of the summary's table row whose first cell is `first` (its text, tags left out)."""
    for row in re.findall(r"<tr>(.*?)</tr>", html_text):
        cells = [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        if cells and cells[0] == first:
            return cells
    raise AssertionError(f"no row starts with {first!r}")


def test_summary_and_grade_table_call_steps_and_questions_by_place_and_title(small_class) -> None:
    """summary.html's tables and chart, and `grader grade`'s table, name a question as `course quiz` does
    ("Lesson 1, question 2: How many images per request") and a step as the feedback does; the CSV keeps its ids."""
    work, done = small_class
    page = (work / "out" / "summary.html").read_text(encoding="utf-8")
    question = "Lesson 1, question 2: How many images per request"
    assert _cells(page, question)[-1] == Q1_2[0]  # its gradebook column beside it, to find it in the CSV
    assert _cells(page, "Lesson 1, step 4: Ask for an invalid size and read the error")[-1] == "step4"
    chart = page[page.index("<svg"):page.index("</svg>")]
    assert question in chart and "Lesson 1, step 1: Create an image from a prompt" in chart
    assert Q1_2[0] not in chart
    failures = page[page.index("Most common failures"):]
    assert "<td>Lesson 1, step 4: Ask for an invalid size and read the error</td>" in failures
    assert question in done.stdout and "Lesson 1, step 4: Ask for an invalid size" in done.stdout
    assert Q1_2[0] not in done.stdout
    header = (work / "out" / "gradebook.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header[:12] == ["learner", "step1", "step2", "step3", "step4", "step5", Q1_1[0], Q1_2[0],
                           "multiple-choice-1705984624", Q1_4[0], Q1_5_WRONG[0], "lesson1-total"]
    summary_json = json.loads((work / "out" / "summary.json").read_text(encoding="utf-8"))
    assert [q["column"] for q in summary_json["questions"]][:2] == [Q1_1[0], Q1_2[0]]  # ids stay, for scripts


def test_summary_counts_a_learner_out_of_the_same_steps_and_questions_as_course_progress(small_class) -> None:
    """ana's row in summary.html and `course progress` in ana's folder: out of every step and question of the
    lessons in play, those not tried or not answered included, the same way."""
    work, _ = small_class
    page = (work / "out" / "summary.html").read_text(encoding="utf-8")
    assert _cells(page, "ana")[1:3] == ["0/17", "3/17"]
    assert _cells(page, "bo")[1:3] == ["5/17", "1/17"]
    every = _command("course", "progress", cwd=work / "class" / "ana")
    assert every.returncode == 0, every.stderr
    assert "All 3 lessons: 0/17 steps passed, 3/17 questions right" in every.stdout
    one = _command("course", "progress", "1", cwd=work / "class" / "ana")
    assert "lesson 1: 0/5 steps passed, 3/5 questions right" in one.stdout
    # a learner who answered without handing in a script counts for the questions' rates, as for her own tally
    assert _cells(page, "Lesson 1, question 1: dall-e-2 sizes")[1] == "1/3"


def test_numbers_people_read_are_rounded_and_the_csv_keeps_its_precision(small_class) -> None:
    """16.5%, 6.7 and 33.3% where people read them (summary.html, feedback, `grader grade`'s table); the
    gradebook keeps 16.54 for scripts and spreadsheets."""
    work, done = small_class
    out = work / "out"
    rows = {row["learner"]: row for row in csv.DictReader(io.StringIO((out / "gradebook.csv").read_text(encoding="utf-8")))}
    assert rows["bo"]["percent"] == "16.54"
    page = (out / "summary.html").read_text(encoding="utf-8")
    assert _cells(page, "bo")[-1] == "16.5%"
    for learner, row in rows.items():  # each learner's percent, as the gradebook has it, rounded for people
        assert _cells(page, learner)[-1] == f"{round(float(row['percent']), 1):g}%", learner
    assert _cells(page, "Lesson 1, question 1: dall-e-2 sizes")[2:4] == ["33.3%", "6.7"]
    visible = re.sub(r"<svg.*?</svg>", "", page[page.index("<body>"):], flags=re.S)  # not the CSS, nor a chart's geometry
    assert not re.search(r"\d\.\d{2,}", visible), re.findall(r".{40}\d\.\d{2,}.{10}", visible)[:3]
    assert "33.3%" in page[page.index("<svg"):]  # the chart's bar label too
    for name in ("feedback.md", "feedback.html"):
        text = (out / "bo" / name).read_text(encoding="utf-8")
        assert "110/665 points (16.5%)" in text and "16.54" not in text
    assert "6.7/20" in done.stdout and "6.67" not in done.stdout
    results = json.loads((out / "bo" / "results.json").read_text(encoding="utf-8"))
    assert "16.5%" in results["output"] and "16.54" not in results["output"]


@pytest.mark.parametrize(("value", "text"), [(16.666666, "16.7"), (3.0, "3"), (2.5, "2.5"), (0.04, "0.04"),
                                             (-0.0, "0"), (66.66, "66.7"), (1e7, "10000000"), (0.0, "0")])
def test_numbers_for_people(value: float, text: str) -> None:
    from course.lesson.wording import for_people

    assert for_people(value) == text
