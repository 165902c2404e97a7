"""The lesson notebooks: built from the lesson sources, back to the lesson script, and the `course notebook` command."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from course.lesson.solutions import strip_solutions
from course.terminal.cli import main as course_main
from course.lesson.lessons import all_lessons, find_lesson
from course.jupyter.notebooks import (build_notebook, check_notebooks, notebook_text, read_notebook, script_from_notebook,
                              script_source, split_script)
from course.errors import CourseError

REPO = Path(__file__).resolve().parent.parent


def built(lesson, *, solutions: bool = False):
    """A built notebook as nbformat's NotebookNode (attribute access), validated against nbformat's schema."""
    nb = nbformat.from_dict(build_notebook(lesson, solutions=solutions))
    nbformat.validate(nb)
    return nb


def roles(nb) -> list[tuple[str, object]]:
    return [(c.metadata["course"]["role"], c.metadata["course"].get("step") or c.metadata["course"].get("id"))
            for c in nb.cells]


@pytest.mark.parametrize("solutions", [False, True], ids=["exercises", "solutions"])
@pytest.mark.parametrize("number", [1, 2])
def test_built_notebook_is_valid_and_gives_back_its_script(number: int, solutions: bool) -> None:
    lesson = find_lesson(number)
    nb = built(lesson, solutions=solutions)
    steps = [s["number"] for s in lesson.steps]
    cells = roles(nb)
    assert cells[:3] == [("intro", None), ("connect", None), ("setup", None)]
    assert [x for r, x in cells if r == "step"] == steps  # every step once, in order
    assert [x for r, x in cells if r == "question"] == lesson.assessment_ids  # every question, where its page has it
    assert cells[-1] == ("progress", None)
    # A page's text is in the notebook, in its own words
    page = (lesson.folder / "Your-First-Image-50ea.md") if number == 1 else None
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    if page is not None:
        assert "Usually you only want the link." in text and "{Try it!}" not in text
    # Back to the script, byte for byte
    template = (REPO / "exercises" / lesson.script).read_text(encoding="utf-8")
    expected = script_source(lesson, solutions=solutions)
    assert script_from_notebook(nb, template) == expected
    if not solutions:
        assert expected == template
    else:
        assert strip_solutions((REPO / "solutions" / lesson.script).read_text(encoding="utf-8")) == template


def test_step_cells_hold_the_learners_code_and_a_try_it() -> None:
    nb = built(find_lesson(1))
    step3 = next(c for c in nb.cells if c.metadata["course"] == {"role": "step", "step": 3})
    assert step3.source.startswith("def step3():\n")
    assert "todo()" in step3.source and step3.source.endswith("from course.jupyter import try_it\n\ntry_it(step3, lesson=1)")
    solved = built(find_lesson(1), solutions=True)
    step3 = next(c for c in solved.cells if c.metadata["course"] == {"role": "step", "step": 3})
    assert "print(image_url)" in step3.source and "todo()" not in step3.source and "SOLUTION" not in step3.source
    assert "editable" not in step3.metadata  # the learner's cell; the course's cells are locked
    connect = nb.cells[1]
    assert connect.metadata["editable"] is False and "start(1)" in connect.source


def test_building_is_deterministic_and_written_as_nbformat_writes_it() -> None:
    lesson = find_lesson(2)
    text = notebook_text(build_notebook(lesson))
    assert text == notebook_text(build_notebook(lesson))
    assert text == nbformat.writes(nbformat.reads(text, as_version=4)) + "\n"


def test_committed_notebooks_match_their_sources() -> None:
    assert check_notebooks() == [], "run `course build` to regenerate the notebooks"


def test_a_notebook_drifts_when_its_source_changes(tmp_path: Path) -> None:
    """check_notebooks() must be able to fail: edit a committed notebook's copy and it is reported."""
    import shutil

    fake = tmp_path / "repo"
    for folder in ("exercises", "solutions"):
        shutil.copytree(REPO / folder, fake / folder)
    assert check_notebooks(fake) == []
    path = fake / "exercises" / "imageGen.ipynb"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["cells"][5]["source"] = "def step1():\n    pass\n"
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    assert check_notebooks(fake) == ["exercises/imageGen.ipynb"]
    (fake / "solutions" / "imageGen2.py").write_text(
        (fake / "solutions" / "imageGen2.py").read_text(encoding="utf-8").replace("paper boat", "paper plane"),
        encoding="utf-8")
    assert "solutions/imageGen2.ipynb" in check_notebooks(fake)


# --------------------------------------------------------------------------- a learner's notebook, as a script


def learner_notebook(edits: dict[int, str] | None = None, *, lesson: int = 1) -> dict:
    nb = json.loads(notebook_text(build_notebook(find_lesson(lesson))))
    for cell in nb["cells"]:
        course = cell["metadata"].get("course", {})
        if course.get("role") == "step" and (edits or {}).get(course["step"]) is not None:
            cell["source"] = edits[course["step"]]
    return nb


def test_script_from_a_learners_notebook_keeps_their_code_and_drops_the_widgets() -> None:
    template = (REPO / "exercises" / "imageGen.py").read_text(encoding="utf-8")
    nb = learner_notebook({3: "%time x = 1\ndef step3():\n    response = step1()\n    print(response.data[0].url)\n\n"
                              "try_it(step3)\nquestion('x')\n"})
    nb["cells"][2]["source"] = "".join(nb["cells"][2]["source"]).replace("a corgi", "a beagle")  # the setup cell
    script = script_from_notebook(nb, template)
    compile(script, "imageGen.py", "exec")
    assert "print(response.data[0].url)" in script and "try_it" not in script and "question(" not in script
    assert "# (notebook only) %time x = 1" in script
    assert 'PROMPT = "a beagle' in script
    assert script.startswith('"""Lesson 1') and script.rstrip().endswith("run_steps([step1, step2, step3, step4, step5])")


def test_script_from_a_notebook_whose_metadata_was_lost() -> None:
    template = (REPO / "exercises" / "imageGen.py").read_text(encoding="utf-8")
    nb = learner_notebook({2: "def step2():\n    print('mine')\n\ntry_it(step2)"})
    for cell in nb["cells"]:
        cell["metadata"] = {}
    script = script_from_notebook(nb, template)
    assert "print('mine')" in script
    assert script.count("def step") == 5


def test_a_step_cell_with_a_syntax_error_stays_broken_and_a_missing_one_says_so() -> None:
    template = (REPO / "exercises" / "imageGen.py").read_text(encoding="utf-8")
    nb = learner_notebook({1: "def step1(:\n    pass\ntry_it(step1)"})
    nb["cells"] = [c for c in nb["cells"] if c["metadata"].get("course", {}).get("step") != 4]
    script = script_from_notebook(nb, template, name="imageGen.ipynb")
    with pytest.raises(SyntaxError):
        compile(script, "imageGen.py", "exec")
    assert "step 4's cell is missing from imageGen.ipynb" in script


def test_reading_a_damaged_notebook_says_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "imageGen.ipynb"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(CourseError, match="not a readable notebook: not valid JSON"):
        read_notebook(path)
    path.write_text('{"cells": 3}', encoding="utf-8")
    with pytest.raises(CourseError, match="no list of cells"):
        read_notebook(path)
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(CourseError, match="not UTF-8"):
        read_notebook(path)


def test_split_script_needs_steps_and_the_runner() -> None:
    with pytest.raises(CourseError, match="needs step functions"):
        split_script("x = 1\n", name="bad.py")
    parts = split_script((REPO / "exercises" / "imageGen2.py").read_text(encoding="utf-8"))
    assert sorted(parts.steps) == list(range(1, 8)) and "ASSETS =" in parts.setup


# --------------------------------------------------------------------------- course notebook


def test_course_notebook_writes_refuses_to_overwrite_work_and_builds_solutions(tmp_path: Path, capsys) -> None:
    assert course_main(["notebook", "1", "--out", str(tmp_path)]) == 0
    path = tmp_path / "imageGen.ipynb"
    assert "wrote" in capsys.readouterr().out and path.is_file()
    assert course_main(["notebook", "1", "--out", str(tmp_path)]) == 0  # unchanged: rewriting is harmless
    nb = json.loads(path.read_text(encoding="utf-8"))
    nb["cells"][5]["source"] = "def step1():\n    return 'my work'\n"
    path.write_text(json.dumps(nb), encoding="utf-8")
    assert course_main(["notebook", "1", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "already exists and holds work of its own; it was left as it is" in err and "--force" in err
    assert "my work" in path.read_text(encoding="utf-8")  # nothing saved is lost
    assert course_main(["notebook", "1", "--out", str(tmp_path), "--solutions", "--force"]) == 0
    assert "print(image_url)" in path.read_text(encoding="utf-8")
    assert course_main(["notebook", "--out", str(tmp_path / "all")]) == 0
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == ["imageGen.ipynb", "imageGen2.ipynb", "imageGen3.ipynb"]
    assert course_main(["notebook", "9", "--out", str(tmp_path)]) == 1
    assert "there is no lesson '9'" in capsys.readouterr().err


def test_every_lesson_has_a_committed_notebook_pair() -> None:
    for lesson in all_lessons():
        stem = Path(lesson.script).stem
        for folder in ("exercises", "solutions"):
            data = read_notebook(REPO / folder / f"{stem}.ipynb")
            assert data["metadata"]["course"]["lesson"] == lesson.number


# --------------------------------------------------------------------------- what the notebook shows


def test_a_kernel_traceback_names_the_cell_not_ipythons_file() -> None:
    from course.lesson.explain import crash_of, learner_traceback, name_cells

    stderr = ('Traceback (most recent call last):\n  File "/tmp/ipykernel_4711/2836418.py", line 4, in step3\n'
              '    print(response.data[0].url)\n  File "/srv/venv/lib/python3.11/site-packages/x.py", line 9, in f\n'
              "    raise X\nAttributeError: 'dict' object has no attribute 'data'\n")
    named = name_cells(stderr, lambda path: 5 if path.endswith("2836418.py") else None)
    shown = learner_traceback(named, "/home/me/lesson")
    assert 'File "cell [5]", line 4, in step3\n    print(response.data[0].url)' in shown
    assert "ipykernel" not in shown and "site-packages" not in shown
    assert crash_of(named).steps == [3]  # still the learner's own frame
    assert 'File "a notebook cell", line 4' in name_cells(stderr, lambda path: None)


def test_printed_addresses_are_links_and_the_rest_is_escaped() -> None:
    from course.jupyter.live import html_text

    text = html_text("see http://127.0.0.1:5/img.png?a=1&b=2. <b>not bold</b> (https://x.org/p)")
    assert ("<a href='http://127.0.0.1:5/img.png?a=1&amp;b=2' target='_blank' rel='noopener noreferrer'>"
            "http://127.0.0.1:5/img.png?a=1&amp;b=2</a>. &lt;b&gt;") in text
    assert "<a href='https://x.org/p'" in text and "/p</a>)" in text


def test_pictures_keep_the_order_they_came_in(tmp_path: Path) -> None:
    """A picture the SDK handed back and then saved by the step keeps its first place and takes the file's name."""
    import os

    from course.jupyter.live import Arrivals

    arrivals = Arrivals(tmp_path, {})
    arrivals.add(b"one", "partial picture 0")
    arrivals.add(b"two", "partial picture 1")
    arrivals.add(b"three", "streamed picture")
    for name, data, when in (("z-final.png", b"three", 3), ("partial-1.png", b"two", 2), ("partial-0.png", b"one", 1)):
        (tmp_path / name).write_bytes(data)
        os.utime(tmp_path / name, ns=(when * 10**9, when * 10**9))
    arrivals.look()
    assert [name for name, _ in arrivals.pictures()] == ["partial-0.png", "partial-1.png", "z-final.png"]
    (tmp_path / "partial-0.png").write_bytes(b"one, rewritten")
    arrivals.look()
    assert arrivals.pictures()[0] == ("partial-0.png", b"one, rewritten") and len(arrivals.pictures()) == 3


def test_options_are_plain_words() -> None:
    from course.jupyter.widgets import plain_text

    assert plain_text('Use `size="512x512"`, one of the **sizes** `dall-e-2` supports') == \
        'Use size="512x512", one of the sizes dall-e-2 supports'


def test_a_notebook_names_this_pythons_language_info_and_says_how_widgets_come_back(tmp_path: Path) -> None:
    """Opening the notebook must change nothing in it: JupyterLab writes the kernel's language_info into it, so the
    notebook carries what ipykernel says; the committed ones are not rewritten for another Python's version."""
    import shutil
    import sys

    from ipykernel.ipkernel import IPythonKernel

    nb = build_notebook(find_lesson(1))
    assert nb["metadata"]["language_info"] == IPythonKernel.language_info
    assert "widgets" not in nb["metadata"]
    intro = nb["cells"][0]["source"]
    assert "Error displaying widget: model not found" in intro and "Run All Cells" in intro
    assert "after editing the cell, press Shift+Enter to run your new version" in intro
    fake = tmp_path / "repo"
    for folder in ("exercises", "solutions"):
        shutil.copytree(REPO / folder, fake / folder)
    path = fake / "exercises" / "imageGen.ipynb"
    other = path.read_text(encoding="utf-8").replace(f'"version": "{sys.version.split()[0]}"', '"version": "3.99.0"')
    path.write_text(other, encoding="utf-8")
    assert check_notebooks(fake) == []
    from course.jupyter.notebooks import build_notebooks

    build_notebooks([find_lesson(1)], fake / "exercises")
    assert path.read_text(encoding="utf-8") == other  # left as it was
