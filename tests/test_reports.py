"""The reports a grading run leaves (gradebook, Gradescope JSON, feedback, summary) and the Gradescope bundle.

Runs are built in code, so these tests need no grading, no server and no learner scripts.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import stat
import subprocess
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
