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
    # the URL the lesson asks the learner to open is a link, opened in a new tab
    assert re.search(r"<a href='http://127\.0\.0\.1:\d+/private/[^']+' target='_blank' rel='noopener noreferrer'>"
                     r"http://127\.0\.0\.1:", shown[3])
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
    order = re.findall(r"alt='([^']+)'", shown[1])
    assert order == ["partial-0.png", "partial-1.png", "fox.png"], order  # in the order they came, not a to z
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
    # the progress widget counts and names as `course progress` does
    assert "1/5 steps passed" in report["progress"] and "/5 questions right" in report["progress"]
    assert "Lesson 1, question 1: " in report["progress"] and "Lesson 1, step 1: " in report["progress"]
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
                                             "print(json.dumps(_q.labels))\n"
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
    assert '"Use size=\\"512x512\\", one of the sizes dall-e-2 supports"' in checked  # labels: the words, no marks
    assert "`" not in checked.partition('["')[2].partition("]")[0]
    assert "Lesson 1, question 5: Fixing an invalid size" in checked


# --------------------------------------------------------------------------- what a person sees while and after it runs


def cells(*sources: str) -> Any:
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])


SETUP = ("from course.jupyter import start, try_it\nstart(1)\nfrom openai import OpenAI\nclient = OpenAI()\n"
         "PROMPT = 'a corgi'\n"
         "def step1():\n    return client.images.generate(model='dall-e-2', prompt=PROMPT, n=1, size='256x256')\n")


def test_try_it_says_a_cell_edited_since_it_ran_needs_shift_enter(lesson_folder: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The button runs the step as its cell last ran; once the notebook is saved with the cell edited, it runs
    nothing and says that Shift+Enter runs the new version. Run again (Shift+Enter), the new code runs."""
    saved = lesson_folder / "imageGen.ipynb"
    monkeypatch.setenv("JPY_SESSION_NAME", str(saved))  # what the Jupyter server tells the kernel
    old = "def step3():\n    print('OLD', step1().data[0].url)\n"
    new = "def step3():\n    print('NEW', step1().data[0].url)\n"
    save = ("import json, time\ntime.sleep(0.05)\n"
            "json.dump({'cells': [{'cell_type': 'code', 'source': SOURCE, 'metadata': {}, 'outputs': []}], "
            "'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}, open(%r, 'w'))\n" % str(saved))
    nb = execute(cells(SETUP,
                       f"SOURCE = {old!r}\n" + save,  # saved before the cell runs: the kernel's code is newer
                       old + "box = try_it(step3)\nprint('FIRST', box.last.passed, box.last.outcome.run.stdout[:3])",
                       f"SOURCE = {new!r}\n" + save + "again = box.run()\nprint('AGAIN', again, box.last.outcome.run.stdout[:3])",
                       new + "third = try_it(step3)\nprint('THIRD', third.last.passed)"), lesson_folder)
    ran = text_of(nb.cells[2])  # the step cell: its output area shows what its button did last
    assert "FIRST True OLD" in ran  # saved before it ran: no false alarm
    assert "Step 3's cell has changed since it last ran (it last ran as [3]), so this button did not run it" in ran
    assert "press Shift+Enter to run your new version" in ran
    assert "AGAIN None OLD" in text_of(nb.cells[3])  # nothing ran: the last run is still the first one
    assert "THIRD True" in text_of(nb.cells[4]) and "NEW http://127.0.0.1:" in text_of(nb.cells[4])


def test_a_traceback_names_the_cell_and_the_note_goes_with_the_next_run(lesson_folder: Path) -> None:
    """A step's error shows `cell [N], line L` (the number Jupyter shows beside the cell), not IPython's temporary
    file; the note that the kernel connected by itself is shown with the first run and is gone after the next."""
    step = "from course.jupyter import try_it\nx = 1\ndef step2():\n    return 1 / 0\n\nbox = try_it(step2, lesson=1)"
    nb = execute(cells(step, "box.run()\n"), lesson_folder)
    first, shown = nb.cells[0].outputs[0]["data"]["text/html"], text_of(nb.cells[0])
    assert 'File "cell [1]", line 4, in step2' in shown and "return 1 / 0" in shown
    assert "ipykernel_" not in shown and "/tmp/" not in shown
    assert "ZeroDivisionError" in shown
    assert "Connected to the Images API for lesson 1" not in first  # the second run replaced it
    once = execute(cells(step), lesson_folder)
    assert "Connected to the Images API for lesson 1" in text_of(once.cells[0])


def kernel_messages(code: str, folder: Path, timeout: float = 120) -> list[tuple[float, dict]]:
    """Run `code` in a fresh kernel in `folder`: every IOPub message it sent, with the time it came (seconds)."""
    import time

    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3", cwd=str(folder))
    try:
        started = time.monotonic()
        msg_id = client.execute(code)
        got: list[tuple[float, dict]] = []
        while time.monotonic() - started < timeout:
            msg = client.get_iopub_msg(timeout=timeout)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            got.append((time.monotonic() - started, msg))
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return got
        raise AssertionError("the kernel did not finish")
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def _shown(msg: dict) -> str:
    return msg["content"].get("data", {}).get("text/html", "") if msg["msg_type"].endswith("display_data") else ""


def test_try_it_shows_printed_lines_and_pictures_as_they_come(lesson_folder: Path) -> None:
    """A step that prints, then waits: its line shows at once, not when the step ends; a picture it writes
    shows before the next one comes; and the final output keeps the order they came in."""
    step = ("import time\nfrom pathlib import Path\nHERE = Path.cwd()\n"
            "def step1():\n    print('first line', flush=True)\n    time.sleep(2)\n"
            "    (HERE / 'zebra.png').write_bytes(open('assets/lounge.png', 'rb').read())\n    time.sleep(2)\n"
            "    (HERE / 'apple.png').write_bytes(open('assets/mask.png', 'rb').read())\n    print('done')\n\n"
            "try_it(step1)\n")
    got = kernel_messages(SETUP.replace("def step1", "def unused") + step, lesson_folder)
    end = got[-1][0]
    line = next(t for t, m in got if "first line" in _shown(m))
    assert end - line > 3, (line, end)  # shown while the step still waited
    zebra = next(t for t, m in got if "alt='zebra.png'" in _shown(m))
    assert zebra < next(t for t, m in got if "alt='apple.png'" in _shown(m)) - 1 and end - zebra > 1.5
    final = [_shown(m) for _, m in got if "class='course-try'" in _shown(m)][-1]
    assert final.index("alt='zebra.png'") < final.index("alt='apple.png'")  # the order they came, not a to z
