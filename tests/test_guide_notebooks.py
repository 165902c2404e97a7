"""A Codio guide's notebook that travels: written into the guide's folder, copied with it to another place and run
there from another working folder, does Run All go through the whole guide? Are the guide and its images named
by paths from the notebook's own folder, a question that cannot run here a note saying why, a page that cannot be
drawn its text under a note, Parsons lines stored HTML-escaped read once, and HTML in instructions converted as
pages are? The guide is tests/fixtures/guides/notebook_travel, written for these tests."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

from course.errors import CourseError
from course.lesson.assessments import assessment_sources, list_assessments, read_assessment
from course.lesson.codio_guides import open_guide
from tests.conftest import REPO

GUIDE = REPO / "tests" / "fixtures" / "guides" / "notebook_travel"
NOTEBOOK = "notebooks-that-travel.ipynb"


def course(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("JPY_SESSION_NAME", None)
    return subprocess.run([sys.executable, "-m", "course", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def guide_with_notebook(folder: Path) -> Path:
    """A copy of the guide at `folder`, with its notebook written into it by `course notebook GUIDE --out GUIDE`."""
    shutil.copytree(GUIDE, folder)
    written = course("notebook", str(folder), "--out", str(folder), cwd=folder.parent)
    assert written.returncode == 0, written.stderr
    return folder / NOTEBOOK


def moved(guide: Path, to: Path) -> Path:
    """The guide folder, its notebook in it, moved to `to`: nothing is left where it was written."""
    shutil.copytree(guide, to)
    shutil.rmtree(guide)
    return to


def cell(nb: Any, **course_metadata: Any) -> Any:
    return next(c for c in nb.cells if all(c.metadata["course"].get(k) == v for k, v in course_metadata.items()))


def text_of(cell: Any) -> str:
    """Everything a cell showed: streams, plain text, HTML and tracebacks."""
    out = []
    for output in cell.get("outputs", []):
        out.append(output.get("text", ""))
        data = output.get("data", {})
        out.append(data.get("text/plain", "") + "\n" + data.get("text/html", ""))
        out.append("\n".join(output.get("traceback", [])))
    return "\n".join(out)


def task(task_id: str) -> Any:
    raw, origin = next((raw, origin) for raw, origin in assessment_sources(GUIDE) if raw.get("taskId") == task_id)
    return read_assessment(raw, origin=origin)


# --- the notebook travels ------------------------------------------------------------------------

def test_the_notebook_names_its_guide_and_images_by_paths_from_its_own_folder(tmp_path: Path) -> None:
    """Written into the guide's folder, does the notebook hold no absolute path: the guide is `.`, its images
    `.guides/img/...`; written elsewhere, a path from there?"""
    path = guide_with_notebook(tmp_path / "guide")
    text = path.read_text(encoding="utf-8")
    assert str(tmp_path) not in text and str(REPO) not in text
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["course"]["guide"] == "."
    assert cell(nb, id="test-3003").source == 'from course.jupyter import question\n\nquestion("test-3003", guide=".")'
    assert cell(nb, role="guide-try").source == ('from course.jupyter.try_buttons import run_command\n\n'
                                                 'run_command("python3 code/hello.py", workspace=".")')
    assert "![A box of code](.guides/img/box.png)" in cell(nb, role="guide", page="1").source

    elsewhere = tmp_path / "notebooks"
    elsewhere.mkdir()
    written = course("notebook", str(tmp_path / "guide"), "--out", str(elsewhere), cwd=tmp_path)
    assert written.returncode == 0 and "It finds the guide at ../guide from its own folder" in written.stdout
    assert "write the notebook into the guide's folder: --out" in written.stdout
    other = nbformat.read(elsewhere / NOTEBOOK, as_version=4)
    assert str(tmp_path) not in (elsewhere / NOTEBOOK).read_text(encoding="utf-8")
    assert cell(other, id="test-3003").source.endswith('question("test-3003", guide="../guide")')
    assert "![A box of code](../guide/.guides/img/box.png)" in cell(other, role="guide", page="1").source


def test_a_notebook_away_from_its_guide_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Copied without its guide, does a button's cell say that the guide is not beside the notebook and how to
    put it right, instead of running the command somewhere else (or in the folder it was written in)?"""
    path = guide_with_notebook(tmp_path / "guide")
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(path, alone)
    nb = nbformat.read(alone / NOTEBOOK, as_version=4)
    monkeypatch.chdir(alone)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    with pytest.raises(CourseError) as raised:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(cell(nb, role="guide-try").source, "cell", "exec"), {})  # noqa: S102 - the notebook's cell
    assert "this notebook's guide is not in this notebook's folder" in str(raised.value)
    assert "no .guides folder" in str(raised.value)
    assert "course notebook GUIDE --out" in (raised.value.hint or "")


def test_the_guide_is_found_from_the_notebooks_folder_that_jupyter_names(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """With the kernel working in another folder, is the guide found beside the notebook Jupyter says it runs
    (JPY_SESSION_NAME, which Jupyter's server gives each notebook's kernel)?"""
    from course.jupyter.guide_place import guide_folder

    guide = moved(guide_with_notebook(tmp_path / "written").parent, tmp_path / "copied")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("JPY_SESSION_NAME", str(guide / NOTEBOOK))
    assert guide_folder(".") == guide.resolve()
    monkeypatch.delenv("JPY_SESSION_NAME")
    with pytest.raises(CourseError, match="not in this notebook's folder"):
        guide_folder(".")


# --- notes instead of errors ----------------------------------------------------------------------

def not_running() -> dict[str, str]:
    """The guide's assessments that `course quiz --list` says do not run here, with why (a program this machine
    lacks, Codio's own service, a damaged file)."""
    listed = {item.task_id: item.why for item in list_assessments(GUIDE) if not item.runs}
    assert {"llm-based-auto-rubric-3004", "multiple-choice-3006"} <= set(listed)
    return listed


def test_a_question_that_cannot_run_here_is_a_note_saying_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Is each question that cannot run here a note saying why (the reason `course quiz --list` gives), not an
    error that stops Run All? A task id the guide lacks is still an error."""
    pytest.importorskip("ipywidgets")
    from course.jupyter import question

    monkeypatch.chdir(tmp_path)
    for task_id, why in not_running().items():
        note = question(task_id, guide=GUIDE)
        assert repr(note) == f"Note: {task_id} ({task_id.rsplit('-', 1)[0]}) does not run here: {why}."
        assert "does not run here" in note._repr_html_()
    assert "needs Codio's service" in repr(question("llm-based-auto-rubric-3004", guide=GUIDE))
    with pytest.raises(CourseError, match="has no assessment 'nope'"):
        question("nope", guide=GUIDE)


def test_a_page_that_cannot_be_drawn_is_its_text_under_a_note_and_the_notebook_goes_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When making a page's cells fails, is the page its text under the note `course show` gives, its questions
    still cells after it, and the pages after it still there?"""
    from course.jupyter.guide_notebooks import build_guide_notebook
    from course.lesson import reading

    read = reading.for_reader

    def broken(blocks, **kwargs):  # type: ignore[no-untyped-def]
        if any("Check It!" in getattr(b, "label", "") for b in blocks):
            raise RecursionError("maximum recursion depth exceeded")
        return read(blocks, **kwargs)

    monkeypatch.setattr(reading, "for_reader", broken)
    nb = build_guide_notebook(open_guide(GUIDE), out=GUIDE)
    page = [c for c in nb["cells"] if c["metadata"]["course"].get("page") == "2"]
    assert page[0]["cell_type"] == "markdown"
    assert "could not be drawn here, so it is shown as its text" in page[0]["source"]
    assert "RecursionError" in page[0]["source"] and "[Check It!] question parsons-puzzle-3002" in page[0]["source"]
    assert [c["metadata"]["course"].get("id") for c in page[1:]] == [
        "multiple-choice-3001", "parsons-puzzle-3002", "test-3003", "llm-based-auto-rubric-3004", "free-text-3005",
        "multiple-choice-3006"]
    assert any("The page after the open comment still comes." in c["source"] for c in nb["cells"])


# --- what the questions show -----------------------------------------------------------------------

def test_parsons_lines_stored_html_escaped_are_read_once() -> None:
    puzzle = task("parsons-puzzle-3002")
    assert [block.code for block in puzzle.blocks] == [
        "if low < high:", 'print("low & high")', 'print("&lt; stays")', "print(low > high)"]
    assert puzzle.check(["if low < high:", '    print("low & high")', '    print("&lt; stays")']).correct


def test_parsons_keeps_an_ampersand_that_starts_no_reference() -> None:
    from course.lesson.parsons import parsons_from_json

    initial = 'scanf("%d", &param);\nx = a &amp;&amp; b;'
    raw = {"type": "parsons-puzzle", "taskId": "p", "source": {"name": "C", "instructions": "", "initial": initial}}
    assert [b.code for b in parsons_from_json(raw, origin="p").blocks] == ['scanf("%d", &param);', "x = a && b;"]


def test_html_in_instructions_is_converted_as_pages_are(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ipywidgets")
    from course.jupyter import question

    monkeypatch.chdir(tmp_path)
    prompt = question("multiple-choice-3001", guide=GUIDE).prompt.value
    assert "&lt;p&gt;" not in prompt and "&lt;details" not in prompt and "&lt;b&gt;" not in prompt
    assert "<strong>a</strong>" in prompt and "<code>b</code>" in prompt
    assert "<strong>A hint</strong>" in prompt and "It points at the smaller side." in prompt
    free = question("free-text-3005", guide=GUIDE).prompt.value
    assert "<em>travels</em>" in free and "&lt;i&gt;" not in free


# --- Run All in a real kernel ------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # jupyter_client's own
def test_run_all_completes_in_a_copied_guide_from_another_working_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_home: Path) -> None:
    """The guide folder with its notebook copied to another place (the one it was written in removed), and the
    kernel started in another working folder, with Jupyter naming the notebook: does Run All go through every cell,
    the button running in the copy, the questions that cannot run here showing why, and the page whose comment is
    never closed shown up to the comment, with the page after it?"""
    from nbclient import NotebookClient

    guide = moved(guide_with_notebook(tmp_path / "written").parent, tmp_path / "handed-out" / "guide")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "jupyter-runtime"))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setenv("JPY_SESSION_NAME", str(guide / NOTEBOOK))  # what Jupyter's server tells the kernel
    nb = nbformat.read(guide / NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(elsewhere)}}).execute()

    errors = [text_of(c) for c in nb.cells if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert errors == []
    printed = "".join(o.get("text", "") for o in cell(nb, role="guide-try").outputs if o.output_type == "stream")
    assert printed == "hello from guide\nthe guide's own file was found\n"
    notes = not_running()
    for question in (c for c in nb.cells if c.metadata["course"]["role"] == "question"):
        task_id = question.metadata["course"]["id"]
        if task_id in notes:  # a note saying why, as `course quiz --list` says it
            assert f"{task_id} ({task_id.rsplit('-', 1)[0]}) does not run here: " in text_of(question), task_id
        else:
            assert "application/vnd.jupyter.widget-view+json" in question.outputs[0]["data"], task_id
    assert "needs Codio's service" in text_of(cell(nb, id="llm-based-auto-rubric-3004"))
    assert "must be a non-empty list of answers" in text_of(cell(nb, id="multiple-choice-3006"))
    page = cell(nb, role="guide", page="3").source
    assert "seen before the comment" in page and "hidden" not in page and "never closed" not in page
    assert "The page after the open comment still comes." in cell(nb, role="guide", page="4").source
    assert json.loads(nbformat.writes(nb))["metadata"]["course"]["guide"] == "."
