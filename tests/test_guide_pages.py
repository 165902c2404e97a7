"""Any Codio guide through the course's commands: `course show`, `course try` and `course notebook`, run as a
learner runs them, on two small guides written for these tests (tests/fixtures/guides: the newer format and
the older one)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course.lesson.codio_guides import open_guide
from tests.conftest import REPO, warm_runners
from tests.guide_coverage import coverage, leftover_markup, spaced_words

FIXTURES = REPO / "tests" / "fixtures" / "guides"
NEWER = FIXTURES / "newer"
OLDER = FIXTURES / "older"
ANSI = "\x1b["


def course(*args: str, cwd: Path, columns: int = 88, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": str(columns), **env}
    return subprocess.run([sys.executable, "-m", "course", *args], cwd=cwd, env=environment, capture_output=True,
                          text=True, timeout=60, check=False)


def flat(text: str) -> str:
    return " ".join(text.split())


def page_numbers(contents: str) -> list[str]:
    """The numbers a contents listing shows, in order."""
    return [m.group(1) for m in re.finditer(r"^\s*(\d+(?:\.\d+)*)\.?\s{1,2}\S", contents, re.MULTILINE)]


# --- course show --------------------------------------------------------------------------------

def test_contents_of_the_newer_guide(tmp_path: Path) -> None:
    """Are the top-level page, the chapters and the chapter nested in a chapter numbered 1, 2.1, 3.2.1, with what
    each page asks for, and the README beside the pages not among them?"""
    result = course("show", str(NEWER), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    assert lines[:2] == ["Lists and Loops in Python", "━" * len("Lists and Loops in Python")]
    for line in ["1  Welcome", "2. Lists", "   2.1  Making Lists  (1 try-it, 2 questions)", "   2.2  List Methods  (1 question)",
                 "3. Loops", "   3.1  For Loops  (2 try-its, 1 question)", "   3.2. Loop Practice",
                 "      3.2.1  Counting  (2 try-its, 1 question)", "      3.2.2  Summing  (3 questions)"]:
        assert line in lines
    assert page_numbers(result.stdout) == ["1", "2", "2.1", "2.2", "3", "3.1", "3.2", "3.2.1", "3.2.2"]
    assert "README" not in result.stdout and "Notes for the people" not in result.stdout


def test_contents_of_the_older_guide(tmp_path: Path) -> None:
    """Does book.json give the chapters (each with its own page), their nesting and their titles?"""
    result = course("show", str(OLDER / ".guides"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    assert lines[0] == "Counting Down in Python"
    for line in ["1. Counting Down", "   1.1  Ranges That Go Backwards  (1 try-it, 1 question)", "2. Practice",
                 "   2.2. Checking Output", "      2.2.1  Predict the Output  (1 try-it, 1 question)",
                 "      2.2.2  Explain It  (1 question)"]:
        assert line in lines
    assert page_numbers(result.stdout) == ["1", "1.1", "1.2", "2", "2.1", "2.2", "2.2.1", "2.2.2"]
    intro = course("show", str(OLDER), "1", cwd=tmp_path)  # a chapter's number shows the chapter's own page
    assert "loops that count backwards" in flat(intro.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("guide", [NEWER, OLDER], ids=["newer", "older"])
def test_every_page_reaches_the_reader_whole(guide: Path, tmp_path: Path) -> None:
    """Every number the contents show is a page; at 80 and at 200 columns, each page's text (95 % of its word
    pairs at least) is in the output and no Codio markup or HTML tag is."""
    numbers = page_numbers(course("show", str(guide), cwd=tmp_path).stdout)
    loaded = open_guide(guide)
    for number in numbers:
        source_page = loaded.find(number)[1]
        source = source_page.path.read_text(encoding="utf-8")
        for columns in (80, 200):
            result = course("show", str(guide), number, cwd=tmp_path, columns=columns)
            assert result.returncode == 0, (number, result.stderr)
            for tokens in (None, spaced_words):
                share, missing = coverage(source, result.stdout, **({"tokens": tokens} if tokens else {}))
                assert share >= 0.95, (number, columns, share, missing)
            assert leftover_markup(source, result.stdout) == [], (number, columns)
            assert ANSI not in result.stdout


@pytest.mark.parametrize("guide", [NEWER, OLDER], ids=["newer", "older"])
def test_all_pages_in_order_into_a_pipe(guide: Path, tmp_path: Path) -> None:
    """Does --all print every page, in the contents' order, as plain text when piped?"""
    result = course("show", str(guide), "--all", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert ANSI not in result.stdout
    loaded = open_guide(guide)
    where = [result.stdout.index(f"\n{page.title}\n" if i else f"{page.title}\n") for i, page in enumerate(loaded.pages)]
    assert where == sorted(where)
    for page in loaded.pages:
        share, missing = coverage(page.path.read_text(encoding="utf-8"), result.stdout)
        assert share >= 0.95, (page.title, missing)
    assert leftover_markup("", result.stdout) == []


def test_pages_by_number_title_and_file_name(tmp_path: Path) -> None:
    by_number = course("show", str(NEWER), "3.2.1", cwd=tmp_path).stdout
    assert by_number.startswith("Counting\n") and "page 3.2.1 (5 of 6); next: course show" in by_number
    assert course("show", str(NEWER), "counting", cwd=tmp_path).stdout == by_number
    assert course("show", str(NEWER / ".guides" / "content"), "Counting-5b6a", cwd=tmp_path).stdout.startswith(
        "Counting\n")
    page = NEWER / ".guides" / "content" / "Loops-5e6f" / "Loop-Practice-3d4c" / "Counting-5b6a.md"
    alone = course("show", str(page), cwd=tmp_path)
    assert alone.returncode == 0 and alone.stdout.startswith("Counting\n")
    assert f"course try {page} 1" in flat(alone.stdout)


def test_html_details_callouts_images_and_link_actions(tmp_path: Path) -> None:
    """Are HTML pages, <details>, every callout and Codio's link actions shown as words, with no markup?"""
    html = flat(course("show", str(NEWER), "2.2", cwd=tmp_path).stdout)
    assert "A list comes with methods: small commands you call with a dot after the list's name." in html
    assert "• append(x) puts x at the end of the list" in html
    assert "start apples, bread" in html and "append cheese apples, bread, cheese" in html  # the table's rows
    assert "Three boxes in a row, one for each value (image: .guides/img/loop.png)" in html
    assert "Python documentation on data structures lists every method" in html
    assert "Links on this page Python documentation on data structures https://docs.python.org/3/tutorial/" \
           "datastructures.html" in html

    loops = course("show", str(NEWER), "3.1", cwd=tmp_path, columns=100).stdout
    details = loops[loops.index("╭─ Why singular and plural names?"):]
    assert "your readers will thank you" in flat(details[:details.index("╰")])
    challenge = loops[loops.index("╭─ Challenge"):]
    challenge = flat(challenge[:challenge.index("╰")])  # one box: its heading and its links inside it
    assert "Change the loop" in challenge
    assert "Make the print line (open code/loops.py at “print(number)”) print each number twice." in challenge
    assert "Then hide the highlight again (open code/loops.py)." in challenge
    assert "╭─ Teacher's guidance" in loops
    assert "Code Visualizer (open code/loops.py in a code visualiser)" in flat(loops)

    counting = flat(course("show", str(NEWER), "3.2.1", cwd=tmp_path).stdout)
    for words in ["You can open a terminal and type the command yourself",
                  "let the guide run it for you (run in the terminal: python3 code/loops.py)",
                  "start it in a fresh terminal (run in the terminal: python3 code/loops.py)",
                  "keep both programs (open code/loops.py and code/lists.py) side by side",
                  "preview the picture (open a preview of .guides/img/loop.png)",
                  "start afresh (close the open tabs; open code/loops.py)",
                  "close the program (close code/loops.py)", "the preview (close the preview)",
                  "the terminal (close the terminal)", "╭─ Debugging"]:
        assert words in counting, words
    summing = flat(course("show", str(NEWER), "3.2.2", cwd=tmp_path).stdout)
    assert "╭─ Warning" in summing and "side $s$ is $s^2$" in summing
    welcome = flat(course("show", str(NEWER), "1", cwd=tmp_path).stdout)
    assert "╭─ Info" in welcome and "A for loop visits each item of a list in turn (image: .guides/img/loop.png)" in welcome
    older = flat(course("show", str(OLDER), "1.2", cwd=tmp_path).stdout)
    assert "╭─ Important" in older and "Press Ctrl-C to stop it." in older


def test_buttons_and_questions_say_what_to_type_for_this_guide(tmp_path: Path) -> None:
    """Does a button say `course try GUIDE PAGE [N]` (never a bare step number) and a question
    `course quiz --questions GUIDE ID`, with the guide's path as it was typed?"""
    shown = course("show", "newer", "3.1", cwd=FIXTURES).stdout
    assert "you type course try newer 3.1 │" in flat(shown) and "you type course try newer 3.1 2 │" in flat(shown)
    assert "course quiz --questions newer parsons-puzzle-1004" in shown
    assert not re.search(r"course try \d", shown)
    every = course("show", str(NEWER), "--all", cwd=tmp_path).stdout
    quizzes = re.findall(r"course quiz --questions \S+ (\S+)", every)
    assert quizzes == ["multiple-choice-1001", "fill-in-the-blanks-1002", "fill-in-the-blanks-1003",
                       "parsons-puzzle-1004", "code-output-compare-1005", "test-1006", "free-text-1007",
                       "free-text-auto-1008"]
    older = course("show", str(OLDER), "--all", cwd=tmp_path).stdout
    assert re.findall(r"course quiz --questions \S+ (\S+)", older) == [
        "multiple-choice-2001", "fill-in-the-blanks-2002", "parsons-puzzle-2003", "code-output-compare-2004",
        "free-text-2005"]
    long_path = tmp_path / ("a-rather-long-folder-name-for-a-guide-" * 2) / "newer"
    shutil.copytree(NEWER, long_path)
    narrow = course("show", str(long_path), "3.1", cwd=tmp_path, columns=60).stdout
    assert f"course try {long_path} 3.1 2" in narrow  # a command is never cut in two by wrapping


def test_show_errors_are_clear(tmp_path: Path) -> None:
    missing = course("show", str(NEWER), "9.9", cwd=tmp_path)
    assert missing.returncode == 1 and missing.stderr.startswith("error: this guide has no page '9.9'.")
    assert "1, 2.1, 2.2, 3.1, 3.2.1, 3.2.2" in missing.stderr
    (tmp_path / "not-a-guide").mkdir()
    (tmp_path / "not-a-guide" / "data.csv").write_text("a,b\n")
    nothing = course("show", str(tmp_path / "not-a-guide"), cwd=tmp_path)
    assert nothing.returncode == 1 and "is not a Codio guide" in nothing.stderr and "hint:" in nothing.stderr
    gone = course("show", "./no/such/guide", cwd=tmp_path)
    assert gone.returncode == 1 and "there is no guide or page at no/such/guide" in gone.stderr


# --- course try ---------------------------------------------------------------------------------

def test_try_runs_the_buttons_command_in_the_guides_folder(tmp_path: Path, isolated_home: Path) -> None:
    """From another folder, does `course try GUIDE PAGE [N]` run that button's command in the guide's folder,
    show its output and exit with its status (with no warm runner: a guide's command needs no SDK)?"""
    first = course("try", str(NEWER), "3.1", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout == "1\n2\n3\ndone\n"
    assert "python3 code/loops.py 1" in first.stderr and str(NEWER) in first.stderr
    second = course("try", str(NEWER), "For Loops", "2", cwd=tmp_path)
    assert (second.returncode, second.stdout) == (0, "total: 6\n")
    broken = course("try", str(NEWER), "3.2.1", "2", cwd=tmp_path)
    assert broken.returncode == 3 and "the loop stopped early" in broken.stderr
    older = course("try", str(OLDER / ".guides"), "2.2.1", cwd=tmp_path)
    assert (older.returncode, older.stdout) == (0, "5\n4\n3\n2\n1\nliftoff\n")
    page = NEWER / ".guides" / "content" / "Lists-3c4d" / "Making-Lists-7a8b.md"
    alone = course("try", str(page), "1", cwd=tmp_path)  # one page: its guide's folder is still the workspace
    assert alone.returncode == 0 and "4 items, the last is dates" in alone.stdout
    assert warm_runners(isolated_home) == []


@pytest.mark.parametrize("args, message", [
    (["1"], "error: page 1 (Welcome) has no Try-it button to run."),
    (["3.1", "3"], "error: page 3.1 (For Loops) has 2 Try-it buttons; there is no button 3."),
    (["7"], "error: this guide has no page '7'."),
    ([], "give a step number (course try 3), or a guide and one of its pages"),
])
def test_try_errors_are_clear(args: list[str], message: str, tmp_path: Path) -> None:
    result = course("try", str(NEWER), *args, cwd=tmp_path)
    assert result.returncode == 1 and message in result.stderr and "hint:" in result.stderr
    assert result.stdout == ""


def test_try_on_a_folder_that_is_not_a_guide(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = course("try", str(tmp_path / "empty"), "1", cwd=tmp_path)
    assert result.returncode == 1 and "is not a Codio guide" in result.stderr


def test_try_with_a_step_number_is_this_courses_step(server, tmp_path: Path) -> None:
    """Does `course try 3` still run step 3 of the lesson script here, and judge it?"""
    folder = tmp_path / "work"
    folder.mkdir()
    shutil.copy(REPO / "solutions" / "imageGen.py", folder / "imageGen.py")
    shutil.copytree(REPO / "solutions" / "assets", folder / "assets")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(PYTHONPATH=str(REPO), OPENAI_BASE_URL=server.base_url, COURSE_OFFLINE_DATA_DIR=str(server.data_dir))
    result = subprocess.run([sys.executable, "-m", "course", "try", "3"], cwd=folder, env=env, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "step 3 (Print only the image URL): passed" in result.stdout


# --- course notebook ----------------------------------------------------------------------------

def notebook_of(guide: Path, out: Path) -> nbformat.NotebookNode:
    result = course("notebook", str(guide), "--out", str(out), cwd=out)
    assert result.returncode == 0, result.stderr
    (path,) = out.glob("*.ipynb")
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4 and nb.nbformat_minor == 5
    return nb


def test_notebook_of_the_newer_guide(tmp_path: Path) -> None:
    """Is the guide one valid notebook: its pages in Markdown cells without markup, each button a cell running
    its command in the guide's folder, each question a question() cell?"""
    nb = notebook_of(NEWER, tmp_path)
    assert (tmp_path / "lists-and-loops-in-python.ipynb").is_file()
    roles = [(c.metadata["course"]["role"], c.metadata["course"].get("id") or c.metadata["course"].get("button"))
             for c in nb.cells if c.cell_type == "code"]
    assert roles == [("guide-try", 1), ("question", "multiple-choice-1001"), ("question", "fill-in-the-blanks-1002"),
                     ("question", "fill-in-the-blanks-1003"), ("guide-try", 1), ("guide-try", 2),
                     ("question", "parsons-puzzle-1004"), ("guide-try", 1), ("guide-try", 2),
                     ("question", "code-output-compare-1005"), ("question", "test-1006"), ("question", "free-text-1007"),
                     ("question", "free-text-auto-1008")]
    question = next(c for c in nb.cells if c.metadata["course"].get("id") == "test-1006")
    guide = os.path.relpath(NEWER, tmp_path)  # from the notebook's folder, so that the two travel together
    assert question.source == f'from course.jupyter import question\n\nquestion("test-1006", guide="{guide}")'
    tries = [c for c in nb.cells if c.metadata["course"]["role"] == "guide-try"]
    assert tries[1].source == ("from course.jupyter.try_buttons import run_command\n\n"
                               f'run_command("python3 code/loops.py 1", workspace="{guide}")')
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for words in ["### 3.2.1 Counting", "## 3. Loops", "> **Why singular and plural names?**", "> **Challenge**",
                  "> #### Change the loop", "(open `code/loops.py` at “print(number)”)", "| Call | List afterwards |",
                  "> **Teacher's guidance**", "Code Visualizer (open `code/loops.py` in a code visualiser)"]:
        assert words in text, words
    for markup in ["|||", "{Try it}", "{Check It!", "open_file", "open_tutor", "panel=", "<p>", "<details>", "<td>"]:
        assert markup not in text, markup
    image = re.search(r"!\[A for loop visits each item of a list in turn\]\(([^)]+)\)", text)
    assert image and (tmp_path / image.group(1)).resolve() == (NEWER / ".guides" / "img" / "loop.png").resolve()


def test_a_try_cell_prints_its_commands_output_into_the_cell(tmp_path: Path) -> None:
    """Run as a kernel runs a cell (its output captured, not a terminal), does a Try-it cell show the output?"""
    nb = notebook_of(NEWER, tmp_path)
    cell = next(c for c in nb.cells if c.metadata["course"].get("role") == "guide-try" and c.metadata["course"]["page"]
                == "3.1" and c.metadata["course"]["button"] == 2)
    shown = io.StringIO()
    namespace: dict[str, object] = {}
    with contextlib.redirect_stdout(shown), contextlib.chdir(tmp_path):  # a kernel works in the notebook's folder
        exec(compile(cell.source, "cell", "exec"), namespace)  # noqa: S102 - the cell the notebook holds
    assert shown.getvalue() == "total: 6\n"
    from course.jupyter.try_buttons import run_command

    with contextlib.redirect_stdout(io.StringIO()) as out:
        finished = run_command("python3 code/loops.py 3; echo after", workspace=NEWER)
    assert finished.returncode == 0 and "the loop stopped early" in out.getvalue() and "after" in out.getvalue()
    with contextlib.redirect_stdout(io.StringIO()):
        assert run_command("exit 4", workspace=NEWER).returncode == 4


@pytest.mark.slow
def test_a_try_cell_in_a_real_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In Jupyter itself, does a guide notebook's Try-it cell run the command and show its output?"""
    from nbclient import NotebookClient

    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "jupyter-runtime"))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    nb = notebook_of(NEWER, tmp_path)
    nb.cells = [c for c in nb.cells if c.metadata["course"].get("role") == "guide-try"][:2]
    client = NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    streams = ["".join(o.get("text", "") for o in c.outputs if o.output_type == "stream") for c in nb.cells]
    assert streams == ["['apples', 'bread', 'cheese']\n4 items, the last is dates\n", "1\n2\n3\ndone\n"]


def test_notebook_of_the_older_guide_and_overwriting(tmp_path: Path) -> None:
    """Is the older guide a notebook too, and is a notebook holding other work kept unless --force?"""
    nb = notebook_of(OLDER, tmp_path)
    ids = [c.metadata["course"]["id"] for c in nb.cells if c.metadata["course"]["role"] == "question"]
    assert ids == ["multiple-choice-2001", "fill-in-the-blanks-2002", "parsons-puzzle-2003",
                   "code-output-compare-2004", "free-text-2005"]
    (path,) = tmp_path.glob("*.ipynb")
    assert path.name == "counting-down-in-python.ipynb"
    again = course("notebook", str(OLDER), "--out", str(tmp_path), cwd=tmp_path)
    assert again.returncode == 0  # the same notebook: written again
    data = json.loads(path.read_text())
    data["cells"][0]["source"] = ["my own notes"]
    path.write_text(json.dumps(data))
    refused = course("notebook", str(OLDER), "--out", str(tmp_path), cwd=tmp_path)
    assert refused.returncode == 1 and "already exists and holds work of its own" in refused.stderr
    assert "my own notes" in path.read_text()
    forced = course("notebook", str(OLDER), "--out", str(tmp_path), "--force", cwd=tmp_path)
    assert forced.returncode == 0 and "my own notes" not in path.read_text()
    bad = course("notebook", str(tmp_path / "nowhere" / "guide"), cwd=tmp_path)
    assert bad.returncode == 1 and "there is no guide or page at" in bad.stderr
