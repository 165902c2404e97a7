"""The lesson notebooks in a real kernel: executed end to end with nbclient, and their widgets clicked.

Each test works in a fresh folder (the notebook beside the lesson assets), with its own COURSE_HOME,
so the kernel starts its own background offline API, which is stopped at the end.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import nbformat
import pytest

from course.lesson.lessons import find_lesson
from course.jupyter.notebooks import build_notebook

REPO = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow,  # notebooks run by real kernels
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]  # jupyter_client's own


@pytest.fixture
def lesson_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_home: Path) -> Iterator[Path]:
    folder = tmp_path / "work"
    folder.mkdir()
    shutil.copytree(REPO / "exercises" / "assets", folder / "assets")
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "jupyter-runtime"))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    try:
        yield folder
    finally:
        subprocess.run([sys.executable, "-m", "course", "stop"], capture_output=True, timeout=60, env=os.environ.copy())


def execute(nb: Any, folder: Path) -> Any:
    from nbclient import NotebookClient

    nb = nbformat.from_dict(nb)
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(folder)}})
    client.execute()
    return nb


def text_of(cell: Any) -> str:
    """Everything a cell showed: streams, plain text and HTML."""
    out = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            out.append(output.get("text", ""))
        data = output.get("data", {})
        out.append(data.get("text/plain", "") + "\n" + data.get("text/html", ""))
        if output.get("output_type") == "error":
            out.append("\n".join(output.get("traceback", [])))
    return "\n".join(out)


def step_cell(nb: Any, number: int) -> Any:
    return next(c for c in nb.cells if c.metadata.get("course", {}) == {"role": "step", "step": number})


def test_solution_notebook_of_lesson_1_runs_end_to_end(lesson_folder: Path) -> None:
    nb = execute(build_notebook(find_lesson(1), solutions=True), lesson_folder)
    errors = [c for c in nb.cells if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert errors == []
    assert "offline Images API at http://127.0.0.1:" in text_of(nb.cells[1])
    shown = {n: text_of(step_cell(nb, n)) for n in range(1, 6)}
    for n, text in shown.items():
        assert f"step {n} (" in text and ": passed" in text, (n, text)
    # step 2 printed the whole response, step 3 only a URL of the offline API, and their pictures are inline
    assert "ImagesResponse(created=" in shown[2]
    assert re.search(r"^http://127\.0\.0\.1:\d+/private/org-\w+/user-\w+/img-\w+\.png\?st=", shown[3], re.M)
    assert "data:image/png;base64,iVBOR" in shown[3]
    # step 4 shows the API's own error message, step 5 a valid size again
    assert "'255x255' is not one of ['256x256', '512x512', '1024x1024', '1024x1792', '1792x1024'] - 'size'" in shown[4]
    assert "data:image/png;base64," in shown[5]
    # the question and progress widgets are there (as widget views) and the progress was kept on disk
    questions = [c for c in nb.cells if c.metadata["course"]["role"] == "question"]
    assert len(questions) == 5 and all("application/vnd.jupyter.widget-view+json" in c.outputs[0]["data"] for c in questions)
    progress = json.loads((lesson_folder / ".course" / "progress.json").read_text(encoding="utf-8"))
    assert {k: v["status"] for k, v in progress["lesson1"]["steps"].items()} == {str(n): "passed" for n in range(1, 6)}
    assert sorted(p.name for p in (lesson_folder / "images").iterdir())[:1] == ["lesson1-step1-1.png"]


def test_exercise_notebook_runs_through_with_not_written_steps_and_hints(lesson_folder: Path) -> None:
    nb = execute(build_notebook(find_lesson(1)), lesson_folder)
    text = text_of(step_cell(nb, 3))
    # step 3 calls the unwritten step1(): the message names the function that holds the todo() line
    assert "step 3 is not written yet: it calls step1(), which still has its todo() line" in text
    assert ": failed" in text


def test_solution_notebook_of_lesson_2_shows_base64_pictures_and_edits(lesson_folder: Path) -> None:
    nb = execute(build_notebook(find_lesson(2), solutions=True), lesson_folder)
    shown = {n: text_of(step_cell(nb, n)) for n in range(1, 8)}
    for n, text in shown.items():
        assert ": passed" in text, (n, text)
    assert "data:image/png;base64," in shown[2] and (lesson_folder / "paper_boat.png").is_file()
    assert "data:image/webp;base64," in shown[7] and "lighthouse.webp" in shown[7]
    assert "The API refused the edit:" in shown[3]
    assert shown[5].count("data:image/png;base64,") == 2  # two variations, both inline


def test_solution_notebook_of_lesson_3_streams_and_follows_up(lesson_folder: Path) -> None:
    nb = execute(build_notebook(find_lesson(3), solutions=True), lesson_folder)
    shown = {n: text_of(step_cell(nb, n)) for n in range(1, 6)}
    for n, text in shown.items():
        assert ": passed" in text, (n, text)
    assert "partial_image" in shown[1]  # the events' types, printed as they come
    assert "data:image/png;base64," in shown[1]
    saved = sorted(p.name for p in lesson_folder.iterdir() if p.suffix in (".png", ".webp", ".jpeg"))
    assert len(saved) >= 4, saved  # two partial pictures and the final one, then the others


KERNEL_SCRIPT = r'''
import json, os
from course.jupyter import progress, question, start, try_it
session = start(1)
import course.auto
from openai import OpenAI
client = OpenAI()
PROMPT = "a corgi playing chess in a sunny library"
from course.steps import todo

def step1():
    return client.images.generate(model="dall-e-2", prompt=PROMPT, n=1, size="256x256")

def step3():
    response = step1()
    print(response["data"][0]["url"])   # a dict's way, not the SDK's

box = try_it(step3)
first = box.last
board = progress()

def step3():
    response = step1()
    print(response.data[0].url)

box.button.click()          # what the Try-it button does: runs the newest step3
second = box.last

q = question("multiple-choice-1558564085")
q.button.click()            # nothing chosen: no attempt used
empty = q.feedback.value
results = []
for answer in q.options:
    q.choose(answer.id)
    q.button.click()
    results.append((answer.id, q.feedback.value, q.attempts.value, q.button.disabled))
print(json.dumps({
    "key": session.key, "first_passed": first.passed, "first_hint": first.outcome.hint.render() if first.outcome.hint else None,
    "first_checks": first.outcome.result.render(), "first_html": first._repr_html_(), "second_passed": second.passed, "second_html": second._repr_html_(),
    "status": box.status.value, "empty": empty, "results": results,
    "answers": json.load(open("answers.json")), "progress": board.table.value,
}))
'''


def test_widget_callbacks_in_a_real_kernel(lesson_folder: Path) -> None:
    """Try-it and Check, clicked inside a kernel: the same judging, hints, answers.json and progress as the terminal."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(KERNEL_SCRIPT)])
    nb = execute(nb, lesson_folder)
    printed = "".join(o.get("text", "") for o in nb.cells[0].outputs if o.get("output_type") == "stream")
    report = json.loads(printed.strip().splitlines()[-1])
    assert report["key"].startswith("sk-nb-")
    assert report["first_passed"] is False
    assert "✗" in report["first_checks"] and "URL" in report["first_checks"]
    assert report["first_hint"] is None or "subscripted-response" in report["first_hint"]
    assert "hint [subscripted-response]" in report["first_html"]
    assert report["second_passed"] is True
    assert "data:image/png;base64," in report["second_html"] and "step 3: <b>passed</b>" in report["status"]
    assert "Choose an answer first" in report["empty"]
    results = report["results"]
    # max two attempts on this question: the first two checks count, then the button is disabled
    assert len(results) >= 2
    verdicts = ["Correct!" in r[1] for r in results[:2]]
    assert "attempts: 1 of 2" in results[0][2] and "attempts: 2 of 2" in results[1][2]
    assert results[1][3] is True  # disabled after the last attempt
    if len(results) > 2:
        assert "No attempts left" in results[2][1]
    assert report["answers"]["multiple-choice-1558564085"] == [results[1][0]]
    attempts = json.loads((lesson_folder / ".course" / "attempts.json").read_text(encoding="utf-8"))
    assert attempts["multiple-choice-1558564085"] == 2
    assert "1 of 5 steps passed" in report["progress"] and "1 of 5 questions answered" in report["progress"]
    assert any(verdicts) or "Not quite." in results[1][1]


def test_a_step_cell_run_first_connects_by_itself_and_names_the_cell_to_run(lesson_folder: Path) -> None:
    """A learner opens the notebook and runs step 3's cell first: no bare NameError for try_it; it connects
    by itself, and the step's missing `client` is traced to the set-up cell, by its first line."""
    built = build_notebook(find_lesson(1), solutions=True)
    cell = next(c for c in built["cells"] if c["metadata"].get("course") == {"role": "step", "step": 3})
    question = next(c for c in built["cells"] if c["metadata"].get("course", {}).get("role") == "question")
    step1 = next(c for c in built["cells"] if c["metadata"].get("course") == {"role": "step", "step": 1})
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell["source"]),
                                         nbformat.v4.new_code_cell(step1["source"]),
                                         nbformat.v4.new_code_cell(question["source"] + "\n"),
                                         nbformat.v4.new_code_cell(
                                             "from course.jupyter import progress\n_box = progress(1)\n"
                                             "print(_box.table.value)\n"
                                             "import json\nfrom course.jupyter import question\n"
                                             "_q = question('multiple-choice-1558564085')\n"
                                             "print(json.dumps([b.description for b in _q.boxes]))\n"
                                             "print(json.dumps(_q.prompt.value))")])
    nb = execute(nb, lesson_folder)
    shown = text_of(nb.cells[0])
    assert "NameError: name 'try_it' is not defined" not in shown
    assert "Connected to the Images API for lesson 1" in shown
    assert "hint [run-step-cell]: step1() is defined in step 1's cell, above this one: run that cell first" in shown
    first_step = text_of(nb.cells[1])  # step 1's cell, run next: its client is the set-up cell's
    assert "hint [run-setup-cell]: `client` is made in the set-up cell near the top of the notebook" in first_step
    setup = next(c for c in built["cells"] if c["metadata"].get("course", {}).get("role") == "setup")
    assert repr(setup["source"].splitlines()[0]) in first_step  # the cell to run, by its first line
    assert "application/vnd.jupyter.widget-view+json" in json.dumps(nb.cells[2].outputs)
    checked = text_of(nb.cells[3])
    for emoji in ("✅", "❌", "⏳", "🎉"):
        assert emoji not in checked  # text glyphs only: a browser without a colour-emoji font shows them all
    assert "question 5" in checked and "Fixing an invalid size" in checked
    assert "<code>size=&quot;512x512&quot;</code>" in checked  # option labels render their Markdown
    assert "Lesson 1, question 5: Fixing an invalid size" in checked
