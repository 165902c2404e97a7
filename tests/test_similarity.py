"""The copying report: `grader similar` (and `grader grade`) write similarity.csv and a section of summary.html.

The class in tests/fixtures/similarity/class (see its EXPECTED.md) holds independent learners of lesson 1 in their
own styles and copies in each disguise; every test runs the real command from the class's parent folder, with
relative paths, as an instructor types it.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

CLASS = Path(__file__).with_name("fixtures") / "similarity" / "class"
COPIES = {("bram.k", "kai_r"), ("chioma", "lena_o"), ("diego_r", "milo.s"), ("elsa.v", "nora_b"), ("farid", "oren"),
          ("greta_n", "pia.l"), ("quinn_a", "rafa_d"), ("quinn_a", "suki"), ("rafa_d", "suki")}


def grader(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True, timeout=600,
                          cwd=cwd, env=env)


def similar(parent: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    done = grader("similar", "class", "--out", "out", *extra, cwd=parent)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def rows(out: Path) -> list[dict[str, str]]:
    with open(out / "similarity.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture class compared once for this module: the folder holding `class` and `out`."""
    parent = tmp_path_factory.mktemp("similar")
    shutil.copytree(CLASS, parent / "class")
    done = similar(parent)
    assert "9 pairs likely copied (1 group of three or more)" in done.stdout
    return parent


def test_every_copy_is_flagged_and_no_independent_pair(compared: Path) -> None:
    """Renamed, recommented, reformatted, reordered, one step rewritten, a notebook made a script, a group of
    three: each flagged; none of the independent learners, alike as the pages make them, is."""
    found = rows(compared / "out")
    assert {(r["learner_a"], r["learner_b"]) for r in found} == COPIES
    assert len(found) == len(COPIES)


def test_the_csv_has_its_columns_and_pairs_in_order(compared: Path) -> None:
    """Header as documented; learner_a before learner_b; similarity from 0 to 1; shared lines counted."""
    text = (compared / "out" / "similarity.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0] == "lesson,learner_a,learner_b,similarity,shared_lines"
    for row in rows(compared / "out"):
        assert row["lesson"] == "1"
        assert row["learner_a"] < row["learner_b"]
        assert 0.5 <= float(row["similarity"]) <= 1
        assert 30 <= int(row["shared_lines"]) <= 60


def test_a_notebook_and_the_script_made_from_it_are_found(compared: Path) -> None:
    """greta_n handed in a notebook; pia.l its download as a script, tidied: compared as the script the cells make."""
    pair = next(r for r in rows(compared / "out") if (r["learner_a"], r["learner_b"]) == ("greta_n", "pia.l"))
    assert float(pair["similarity"]) >= 0.7
    page = (compared / "out" / "summary.html").read_text(encoding="utf-8")
    assert "greta_n: imageGen.ipynb" in page


def test_the_group_of_three_is_shown_as_one_group_side_by_side(compared: Path) -> None:
    page = (compared / "out" / "summary.html").read_text(encoding="utf-8")
    assert page.count('<section id="similarity">') == 1
    assert "a group of 3 learners sharing one source: quinn_a, rafa_d, suki" in page
    group = page.split("a group of 3 learners")[1].split("<h3>")[0]
    assert group.count("grid-template-columns:1fr 1fr") == 2  # the two closest pairs that join the three
    assert "<mark>" in group
    assert page.count("<h3>Lesson 1:") == 7  # six pairs and one group


def test_the_lessons_own_code_never_counts(tmp_path: Path) -> None:
    """Learners who hand in the lesson's own code (the solution, the pages' code, the solution notebook) share
    it all, and are not flagged: nothing of it is theirs."""
    learners = {"sol_one": REPO / "solutions" / "imageGen.py", "sol_two": REPO / "solutions" / "imageGen.py",
                "pages": CLASS / "alice_m" / "imageGen.py", "notebook": REPO / "solutions" / "imageGen.ipynb"}
    for name, source in learners.items():
        (tmp_path / "class" / name).mkdir(parents=True)
        shutil.copy(source, tmp_path / "class" / name / source.name)
    done = similar(tmp_path)
    assert rows(tmp_path / "out") == []
    assert "0 pairs likely copied among 4 lesson files compared" in done.stdout
    assert "No pair was judged likely copied." in (tmp_path / "out" / "summary.html").read_text(encoding="utf-8")


def test_boilerplate_leaves_nothing_of_the_solution() -> None:
    from course.lesson.lessons import all_lessons
    from grader.similarity import boilerplate, fingerprint

    for lesson in all_lessons():
        common = frozenset(int(h) for text in boilerplate(lesson) for h in fingerprint(text).hashes)
        solution = (REPO / "solutions" / lesson.script).read_text(encoding="utf-8")
        assert not fingerprint(solution, common).hashes, lesson.script


def test_copies_are_found_as_grader_grade_finds_files(tmp_path: Path) -> None:
    """Another spelling, a folder down, inside a zip the learner handed in: the same file as grading takes."""
    (tmp_path / "class" / "bram.k").mkdir(parents=True)
    shutil.copy(CLASS / "bram.k" / "imageGen.py", tmp_path / "class" / "bram.k" / "imageGen.py")
    nested = tmp_path / "class" / "kai_r" / "Downloads" / "lesson1"
    nested.mkdir(parents=True)
    shutil.copy(CLASS / "kai_r" / "imageGen.py", nested / "image_gen (1).py")
    zipped = tmp_path / "work"
    (zipped / "lesson1").mkdir(parents=True)
    shutil.copy(CLASS / "rafa_d" / "imageGen.py", zipped / "lesson1" / "imageGen.py")
    (tmp_path / "class" / "rafa_d").mkdir()
    shutil.make_archive(str(tmp_path / "class" / "rafa_d" / "handin"), "zip", zipped)
    shutil.copytree(CLASS / "quinn_a", tmp_path / "class" / "quinn_a")
    similar(tmp_path, "--lesson", "1")
    assert {(r["learner_a"], r["learner_b"]) for r in rows(tmp_path / "out")} == {("bram.k", "kai_r"),
                                                                                  ("quinn_a", "rafa_d")}


HOSTILE_ID = '=HYPERLINK("evil.example","click")'
MARKUP_ID = "<img src=x onerror=alert(1)>"


def test_hostile_learner_ids_and_code_are_escaped(tmp_path: Path) -> None:
    """A learner id that is a spreadsheet formula or markup, code that closes the page's <pre>: shown, never run."""
    code = (CLASS / "quinn_a" / "imageGen.py").read_text(encoding="utf-8")
    code = code.replace("history = []", 'history = []  # </pre></section><script>alert("x")</script>')
    for name in (HOSTILE_ID, MARKUP_ID):
        (tmp_path / "class" / name).mkdir(parents=True)
        (tmp_path / "class" / name / "imageGen.py").write_text(code, encoding="utf-8")
    similar(tmp_path)
    text = (tmp_path / "out" / "similarity.csv").read_text(encoding="utf-8")
    assert f"'{HOSTILE_ID}" in text.replace('""', '"')
    assert [(r["learner_a"], r["learner_b"]) for r in rows(tmp_path / "out")] == [(MARKUP_ID, "'" + HOSTILE_ID)]
    page = (tmp_path / "out" / "summary.html").read_text(encoding="utf-8")
    assert "<script>" not in page and "<img" not in page and "</pre></section><script>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;/pre&gt;&lt;/section&gt;&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert page.count("</section>") == 1


def test_a_second_run_replaces_the_section_of_a_graded_summary(tmp_path: Path) -> None:
    """`grader similar` into a graded OUT: summary.html keeps the grading and holds one copying section."""
    from grader.reports import write_summary_section

    (tmp_path / "out").mkdir()
    page = tmp_path / "out" / "summary.html"
    write_summary_section(tmp_path / "out", "other", ["<h1>Grading summary</h1>"])
    shutil.copytree(CLASS, tmp_path / "class")
    similar(tmp_path)
    similar(tmp_path)
    text = page.read_text(encoding="utf-8")
    assert text.count('<section id="similarity">') == 1 and text.count("<h1>Grading summary</h1>") == 1
    assert text.index('<section id="other">') < text.index('<section id="similarity">') < text.index("</body>")


@pytest.mark.slow
def test_grader_grade_writes_the_report_at_the_end(tmp_path: Path) -> None:
    """`grader grade` writes similarity.csv beside the gradebook and the section into summary.html."""
    for name in ("bram.k", "kai_r", "alice_m"):
        shutil.copytree(CLASS / name, tmp_path / "class" / name)
    done = grader("grade", "class", "--out", "out", "--quiet", "--lesson", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [(r["learner_a"], r["learner_b"]) for r in rows(tmp_path / "out")] == [("bram.k", "kai_r")]
    page = (tmp_path / "out" / "summary.html").read_text(encoding="utf-8")
    assert "<h2>Likely copied</h2>" in page and "<h2>Steps</h2>" in page
