"""Is the work found where learners put it, by the documented rules, and answers.json read as people save it?"""

from __future__ import annotations

import json
import os
import time
import zipfile
from pathlib import Path

import pytest

from course.lesson.lessons import all_lessons, find_lesson
from course.lesson.questions import load_questions
from grader.handed_in_answers import read_answers, read_answers_file
from grader.grade import KEYS
from grader.handin import FOUND, NOT_FOUND, NOT_HANDED_IN, find_work, normalise

REPO = Path(__file__).resolve().parent.parent
SOLUTION = (REPO / "solutions" / "imageGen.py").read_text(encoding="utf-8").replace("# BEGIN SOLUTION\n", "")
EXERCISE = (REPO / "exercises" / "imageGen.py").read_text(encoding="utf-8")
LESSONS = all_lessons()


def put(root: Path, files: dict[str, str | bytes], *, ages: dict[str, float] | None = None) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    for name, age in (ages or {}).items():
        stamp = time.time() - age
        os.utime(root / name, (stamp, stamp))
    return root


def chosen(root: Path, lesson: int = 1, scratch: Path | None = None) -> str | None:
    found = find_work(root, LESSONS, scratch).lessons[lesson]
    return found.chosen.relative if found.chosen else None


@pytest.mark.parametrize("name", ["imageGen.py", "ImageGen.py", "imagegen.py", "IMAGEGEN.PY", "image_gen.py",
                                  "Image Gen.py", "imageGen (1).py", "imageGen copy.py", "imageGen - Copy.py",
                                  "imageGen 2.py", "imageGen.py.txt", "imageGen-Copy1.ipynb", "imageGen.ipynb"])
def test_spellings_of_the_lesson_1_script_are_found(tmp_path: Path, name: str) -> None:
    text = SOLUTION if not name.endswith(".ipynb") else (REPO / "solutions" / "imageGen.ipynb").read_text()
    assert chosen(put(tmp_path, {name: text})) == name


@pytest.mark.parametrize("name", ["imageGen2.py", "imageGen2 (1).py", "Imagegen2.py", "image_gen2.py"])
def test_lesson_2_files_are_never_taken_for_lesson_1(tmp_path: Path, name: str) -> None:
    put(tmp_path, {name: "def step1():\n    pass\n"})
    assert chosen(tmp_path, 1) is None and chosen(tmp_path, 2) == name


def test_normalise_sets_aside_case_separators_and_copy_marks() -> None:
    assert normalise("Image_Gen (3)") == ("imagegen", True)
    assert normalise("imageGen2") == ("imagegen2", False)
    assert normalise("imageGen-Copy1") == ("imagegen", True)


def test_folders_below_are_searched_to_three_levels_never_in_hidden_or_venv_folders(tmp_path: Path) -> None:
    assert chosen(put(tmp_path / "a", {"lesson1/imageGen.py": SOLUTION})) == "lesson1/imageGen.py"
    assert chosen(put(tmp_path / "b", {"Downloads/course/week3/imageGen.py": SOLUTION})) == "Downloads/course/week3/imageGen.py"
    assert chosen(put(tmp_path / "c", {"a/b/c/d/imageGen.py": SOLUTION})) is None  # four down: too deep
    assert chosen(put(tmp_path / "d", {".hidden/imageGen.py": SOLUTION, "venv/imageGen.py": SOLUTION})) is None


def test_competing_copies_follow_the_documented_order(tmp_path: Path) -> None:
    # work beats an untouched exercise, even deeper
    assert chosen(put(tmp_path / "a", {"imageGen.py": EXERCISE, "final/imageGen.py": SOLUTION})) == "final/imageGen.py"
    # then the shallower folder
    assert chosen(put(tmp_path / "b", {"imageGen.py": SOLUTION, "old/imageGen.py": SOLUTION})) == "imageGen.py"
    # then the exact name over another spelling over a copy, whatever is newer
    root = put(tmp_path / "c", {"imageGen.py": SOLUTION, "imageGen (1).py": SOLUTION, "ImageGen.py": SOLUTION},
               ages={"imageGen.py": 3600})
    assert chosen(root) == "imageGen.py"
    # then a script over a notebook, then the newest
    root = put(tmp_path / "d", {"imageGen (1).py": SOLUTION, "imageGen (2).py": SOLUTION},
               ages={"imageGen (1).py": 60})
    assert chosen(root) == "imageGen (2).py"
    found = find_work(tmp_path / "a", LESSONS).lessons[1]
    assert found.passed_over == ["imageGen.py"] and "passed over imageGen.py" in found.note()


def test_a_zip_in_the_folder_is_unpacked_and_searched(tmp_path: Path) -> None:
    learner = tmp_path / "mateo"
    learner.mkdir()
    with zipfile.ZipFile(learner / "handin.zip", "w") as zf:
        zf.writestr("mine/imageGen.py", SOLUTION)
        zf.writestr("mine/answers.json", "{}")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    handin = find_work(learner, LESSONS, scratch)
    assert handin.lessons[1].chosen.relative == "handin.zip/mine/imageGen.py"
    assert handin.lessons[1].folder.is_relative_to(scratch) and handin.answers
    assert handin.lessons[2].status == NOT_HANDED_IN  # the unpacked zip is not "work under another name"
    assert find_work(learner, LESSONS).lessons[1].status == NOT_FOUND  # no scratch: a zip alone is not found


def test_a_zip_that_points_outside_is_left_alone(tmp_path: Path) -> None:
    learner = tmp_path / "eve"
    learner.mkdir()
    with zipfile.ZipFile(learner / "evil.zip", "w") as zf:
        zf.writestr("../../escaped/imageGen.py", SOLUTION)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    assert chosen(learner, scratch=scratch) is None
    assert not (tmp_path / "escaped").exists()


def test_not_handed_in_and_not_found_are_told_apart(tmp_path: Path) -> None:
    empty = put(tmp_path / "empty", {".empty": ""})
    assert {f.status for f in find_work(empty, LESSONS).lessons.values()} == {NOT_HANDED_IN}
    readme = put(tmp_path / "readme", {"README.md": "my setup broke"})
    handin = find_work(readme, LESSONS)
    assert {f.status for f in handin.lessons.values()} == {NOT_FOUND}
    assert handin.holds_line() == "the folder holds README.md"
    lesson1_only = put(tmp_path / "l1", {"imageGen.py": SOLUTION, "answers.json": "{}"})
    statuses = {n: f.status for n, f in find_work(lesson1_only, LESSONS).lessons.items()}
    assert statuses == {1: FOUND, 2: NOT_HANDED_IN, 3: NOT_HANDED_IN}
    misnamed = put(tmp_path / "misnamed", {"imageGen.py": SOLUTION, "homework.py": SOLUTION.replace("imageGen", "x")})
    assert find_work(misnamed, LESSONS).lessons[2].status == NOT_FOUND  # homework.py might be lesson 2's


def test_answers_beside_the_lesson_file_come_first(tmp_path: Path) -> None:
    root = put(tmp_path, {"answers.json": "{}", "lesson2/imageGen2.py": "x = 1\n", "lesson2/answers.json": "{}"})
    handin = find_work(root, LESSONS)
    assert handin.answers_for(find_lesson(2))[0] == root / "lesson2" / "answers.json"
    assert handin.answers_for(find_lesson(1))[0] == root / "answers.json"


def test_a_key_in_a_script_or_env_file_is_warned_about(tmp_path: Path) -> None:
    key = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2"
    root = put(tmp_path / "a", {"imageGen.py": SOLUTION.replace("client = OpenAI()", f'client = OpenAI(api_key="{key}")')})
    assert "imageGen.py holds what looks like an API key" in find_work(root, LESSONS).key_warning
    root = put(tmp_path / "b", {"imageGen.py": SOLUTION, ".env": f"OPENAI_API_KEY={key}\n"})
    assert ".env holds" in find_work(root, LESSONS).key_warning
    root = put(tmp_path / "c", {"imageGen.py": SOLUTION.replace("client = OpenAI()", 'client = OpenAI(api_key="sk-test")')})
    assert find_work(root, LESSONS).key_warning == ""


# ------------------------------------------------------------------------------------ answers.json


@pytest.fixture(scope="module")
def questions() -> dict:
    return load_questions(KEYS)


def right(questions: dict, task_id: str) -> list[str]:
    return sorted(questions[task_id].correct_ids)


SINGLE = "multiple-choice-1640493267"  # one right answer
MULTI = "multiple-choice-1686928195"  # three right answers


def test_bom_utf16_bare_strings_case_and_texts_are_read(tmp_path: Path, questions: dict) -> None:
    answer = right(questions, SINGLE)[0]
    text_of = next(a.text for a in questions[SINGLE].answers if a.id == answer)
    cases = {
        "bom": b"\xef\xbb\xbf" + json.dumps({SINGLE: [answer]}).encode(),
        "utf16": json.dumps({SINGLE: [answer]}).encode("utf-16"),
        "bare": json.dumps({SINGLE: answer}).encode(),
        "case": json.dumps({SINGLE.upper(): [answer.upper()]}).encode(),
        "text": json.dumps({SINGLE: [text_of.strip("`")]}).encode(),
        "wrapped": json.dumps({"answers": {SINGLE: [answer]}}).encode(),
    }
    for label, data in cases.items():
        path = tmp_path / f"{label}.json"
        path.write_bytes(data)
        found = read_answers_file(path, {SINGLE: questions[SINGLE]})
        assert found.problem == "" and found.answers == {SINGLE: [answer]}, label


@pytest.mark.parametrize(("data", "why"), [
    (b'{"multiple-choice-1640493267": ["a"],', "not valid JSON (line 1"),
    (b"\xff\xfe\x00\xd8", "not"),
    (b"[1, 2]", "should be a JSON object"),
])
def test_an_unreadable_answers_file_says_why_on_every_question(tmp_path: Path, questions: dict, data: bytes,
                                                               why: str) -> None:
    path = tmp_path / "answers.json"
    path.write_bytes(data)
    answers = read_answers([path], {SINGLE: questions[SINGLE], MULTI: questions[MULTI]})
    for task_id in (SINGLE, MULTI):
        chosen_ids, reason = answers.for_question(task_id)
        assert chosen_ids is None and reason.startswith("answers.json could not be read: ") and why in reason


def test_a_linked_answers_file_is_never_followed(tmp_path: Path, questions: dict) -> None:
    real = tmp_path / "other.json"
    real.write_text(json.dumps({SINGLE: right(questions, SINGLE)}))
    link = tmp_path / "answers.json"
    link.symlink_to(real)
    _, reason = read_answers([link], {SINGLE: questions[SINGLE]}).for_question(SINGLE)
    assert "link" in reason


def test_the_first_file_that_answers_a_question_counts(tmp_path: Path, questions: dict) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(json.dumps({MULTI: right(questions, MULTI)}))
    second.write_text(json.dumps({SINGLE: right(questions, SINGLE), MULTI: []}))
    answers = read_answers([first, second], {SINGLE: questions[SINGLE], MULTI: questions[MULTI]})
    assert answers.for_question(MULTI)[0] == right(questions, MULTI)
    assert answers.for_question(SINGLE)[0] == right(questions, SINGLE)
