"""Grading notebooks: a handed-in imageGen.ipynb is graded as the lesson script its step cells make,
in the same box, with the same checks; the rows match those of the same code handed in as a script."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from tests.test_grader import FIXTURES, grader

pytestmark = pytest.mark.slow  # notebooks graded in the box

REPO = Path(__file__).resolve().parent.parent
BROKEN_STEP3 = ("def step3():\n    \"\"\"Print only the image URL.\"\"\"\n    response = step1()\n"
                "    print(response[\"data\"][0][\"url\"])\n\n\ntry_it(step3)\n")


def notebook_with(step3: str | None = None) -> str:
    nb = json.loads((REPO / "solutions" / "imageGen.ipynb").read_text(encoding="utf-8"))
    if step3 is not None:
        for cell in nb["cells"]:
            if cell["metadata"].get("course") == {"role": "step", "step": 3}:
                cell["source"] = step3
    return json.dumps(nb, indent=1)


def script_with(step3: str | None = None) -> str:
    text = (REPO / "solutions" / "imageGen.py").read_text(encoding="utf-8")
    if step3 is None:
        return text
    start, end = text.index("def step3():"), text.index("def step4():")
    return text[:start] + step3.replace("\n\ntry_it(step3)\n", "\n") + "\n\n" + text[end:]


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, str]]]:
    root = tmp_path_factory.mktemp("notebook-class")
    answers = (FIXTURES / "correct_everything" / "answers.json").read_text(encoding="utf-8")
    learners = {
        "script": {"imageGen.py": script_with()},
        "notebook": {"imageGen.ipynb": notebook_with()},
        "notebook_beside_untouched_exercise": {"imageGen.ipynb": notebook_with(),
                                               "imageGen.py": (REPO / "exercises" / "imageGen.py").read_text(encoding="utf-8")},
        "script_edited_beside_exercise_notebook": {"imageGen.py": script_with(),
                                                   "imageGen.ipynb": (REPO / "exercises" / "imageGen.ipynb").read_text(encoding="utf-8")},
        "script_step3_broken": {"imageGen.py": script_with(BROKEN_STEP3)},
        "notebook_step3_broken": {"imageGen.ipynb": notebook_with(BROKEN_STEP3)},
        "notebook_exercise_untouched": {"imageGen.ipynb": (REPO / "exercises" / "imageGen.ipynb").read_text(encoding="utf-8")},
        "notebook_damaged": {"imageGen.ipynb": '{"cells": [ {"cell_type": "code", '},
        "notebook_hostile": {"imageGen.ipynb": json.dumps({"cells": [
            "not a cell", {"cell_type": "code", "metadata": {"course": {"role": "step", "step": "3"}}, "source": [1, 2]},
            {"cell_type": "code", "metadata": {"course": "x"}, "source": "(" * 100_000 + ")" * 100_000},
            {"cell_type": "code", "metadata": {"course": {"role": "step", "step": 1}},
             "source": "def step1():\n    return open('/etc/shadow').read()\n"}]})},
    }
    for name, files in learners.items():
        folder = root / "class" / name
        folder.mkdir(parents=True)
        for filename, text in files.items():
            (folder / filename).write_text(text, encoding="utf-8")
        (folder / "answers.json").write_text(answers, encoding="utf-8")
    out = root / "out"
    result = grader("grade", str(root / "class"), "--out", str(out), "--quiet", "--lesson", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as f:
        return out, {row["learner"]: row for row in csv.DictReader(f)}


def marks(row: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in row.items() if k != "learner"}


def test_a_notebook_grades_exactly_as_the_same_code_in_a_script(graded) -> None:
    out, book = graded
    assert book["script"]["percent"] == "100"
    assert marks(book["notebook"]) == marks(book["script"])
    assert marks(book["notebook_beside_untouched_exercise"]) == marks(book["script"])
    assert marks(book["script_edited_beside_exercise_notebook"]) == marks(book["script"])
    assert float(book["script_step3_broken"]["step3"]) < float(book["script"]["step3"])
    assert marks(book["notebook_step3_broken"]) == marks(book["script_step3_broken"])


def test_feedback_says_the_notebook_was_graded_and_gives_the_same_hint(graded) -> None:
    out, _ = graded
    feedback = (out / "notebook_step3_broken" / "feedback.md").read_text(encoding="utf-8")
    assert "graded the notebook imageGen.ipynb" in feedback
    assert "subscripted-response" in feedback
    script_feedback = (out / "script" / "feedback.md").read_text(encoding="utf-8")
    assert "graded the notebook" not in script_feedback


def test_untouched_and_damaged_notebooks_fail_with_reasons(graded) -> None:
    out, book = graded
    assert all(book["notebook_exercise_untouched"][f"step{n}"] == "0" for n in range(1, 6))
    assert all(book["notebook_damaged"][f"step{n}"] == "0" for n in range(1, 6))
    assert book["notebook_damaged"]["multiple-choice-1558564085"] == book["script"]["multiple-choice-1558564085"]
    results = json.loads((out / "notebook_damaged" / "results.json").read_text(encoding="utf-8"))
    assert "imageGen.ipynb is not a readable notebook: not valid JSON" in json.dumps(results)
    untouched = (out / "notebook_exercise_untouched" / "feedback.md").read_text(encoding="utf-8")
    assert "step 1 is not written yet" in untouched


def test_a_hostile_notebook_is_graded_without_harm(graded) -> None:
    out, book = graded
    row = book["notebook_hostile"]
    assert all(row[f"step{n}"] == "0" for n in range(1, 6))
    assert row["multiple-choice-1558564085"] == book["script"]["multiple-choice-1558564085"]
    results = json.loads((out / "notebook_hostile" / "results.json").read_text(encoding="utf-8"))
    assert "step 2's cell is missing from imageGen.ipynb" in json.dumps(results)


def test_grader_check_takes_a_notebook_folder(tmp_path: Path) -> None:
    folder = tmp_path / "me"
    folder.mkdir()
    (folder / "imageGen.ipynb").write_text(notebook_with(BROKEN_STEP3), encoding="utf-8")
    shutil.copy(FIXTURES / "correct_everything" / "answers.json", folder / "answers.json")
    result = grader("check", str(folder), "--lesson", "1")
    text = result.stdout + result.stderr
    assert "✓ Lesson 1, step 1" in text and "✗ Lesson 1, step 3" in text, text
    assert "hint [subscripted-response]" in text
    assert "graded the notebook imageGen.ipynb" in text


def test_gradescope_grades_a_notebook_submission(tmp_path: Path) -> None:
    """Gradescope's entry point (what the bundle runs) takes a notebook-only submission in full."""
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / "imageGen.ipynb").write_text(notebook_with(), encoding="utf-8")
    shutil.copy(FIXTURES / "correct_everything" / "answers.json", folder / "answers.json")
    target = tmp_path / "results" / "results.json"
    result = grader("gradescope", str(folder), str(target), "--lesson", "1")
    assert result.returncode == 0, result.stderr
    data = json.loads(target.read_text(encoding="utf-8"))
    assert data["score"] == sum(t["max_score"] for t in data["tests"]) > 0
    assert "graded the notebook imageGen.ipynb" in data.get("output", "")
