"""Questions: can the learner's copy keep its secret, check answers offline, and score as Codio does?"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from course.lesson.answers import attempts_path, attempts_used, load_answers, record_answer
from course.errors import CourseError
from course.lesson.questions import (
    GuidanceRule,
    build_locked,
    check,
    display_order,
    load_question,
    load_questions,
    lock_question,
    salt_for,
    score,
)

# Codio's answer ids are UUIDs; these look like them and can't turn up by chance in a hex salt or lock.
IDS = ["ans-alpha-7f1c", "ans-bravo-29de", "ans-charlie-c0a4", "ans-delta-55b2", "ans-echo-e913"]


def key_json(task_id: str = "multiple-choice-1001", *, correct: tuple[int, ...] = (1,), n: int = 4,
             **source: Any) -> dict[str, Any]:
    """A Codio multiple-choice export, answer key included."""
    return {
        "type": "multiple-choice",
        "taskId": task_id,
        "source": {
            "name": "Image sizes",
            "showName": True,
            "instructions": "Which size does **dall-e-2** accept?",
            "multipleResponse": len(correct) > 1,
            "isRandomized": False,
            "answers": [{"_id": IDS[i], "correct": i in correct, "answer": f"Option {i}"} for i in range(n)],
            "guidance": "Only square sizes: 256, 512 or 1024.",
            "showGuidanceAfterResponseOption": {"type": "Always"},
            "maxAttemptsCount": 0,
            "points": 1,
            "incorrectPoints": 0,
            "arePartialPointsAllowed": False,
            **source,
        },
    }


def write(folder: Path, raw: Any, name: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"{raw['taskId']}.json")
    path.write_text(raw if isinstance(raw, str) else json.dumps(raw, indent=2), encoding="utf-8")
    return path


def keys_named(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | set().union(*(keys_named(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(keys_named(v) for v in value))
    return set()


# --------------------------------------------------------------------------- the lock


def test_learner_copy_does_not_reveal_the_right_answer(tmp_path: Path) -> None:
    """Can a learner's copy be read without revealing the right answer?"""
    write(tmp_path / "keys", key_json(correct=(1, 3), n=5, arePartialPointsAllowed=True))
    [locked_path] = build_locked(tmp_path / "keys", tmp_path / "out")
    locked = json.loads(locked_path.read_text())

    assert "correct" not in keys_named(locked)
    assert '"correct"' not in locked_path.read_text()
    source = dict(locked["source"])
    assert [a["_id"] for a in source.pop("answers")] == IDS[:5]
    assert source.pop("lock").startswith("hmac-sha256:") and source.pop("salt")
    rest = json.dumps({**locked, "source": source})
    assert not any(answer_id in rest for answer_id in IDS), "an answer id shows outside the answers list"

    question = load_question(locked_path)
    assert question.correct_ids is None and question.locked


def test_lock_judges_every_answer_set_as_the_key_does(tmp_path: Path) -> None:
    """Does checking against the lock agree with the key for every possible choice, and only the right one pass?"""
    key_path = write(tmp_path / "keys", key_json(correct=(0, 2), n=4))
    [locked_path] = build_locked(tmp_path / "keys", tmp_path / "out")
    key, locked = load_question(key_path), load_question(locked_path)
    passing = []
    for size in range(1, 5):
        for chosen in itertools.combinations(IDS[:4], size):
            assert check(locked, chosen).correct == check(key, chosen).correct
            if check(locked, reversed(chosen)).correct:
                passing.append(set(chosen))
    assert passing == [{IDS[0], IDS[2]}]


def test_same_answers_in_two_questions_get_different_locks() -> None:
    """Is each lock salted by its own question, so equal answer sets can't be spotted across questions?"""
    one = lock_question(key_json("multiple-choice-1"), "salt")["source"]["lock"]
    two = lock_question(key_json("multiple-choice-2"), "salt")["source"]["lock"]
    other_salt = lock_question(key_json("multiple-choice-1"), "pepper")["source"]["lock"]
    assert len({one, two, other_salt}) == 3


def test_build_is_deterministic_and_a_drift_test_can_compare(tmp_path: Path) -> None:
    """Does re-running the build give identical files, and change when (only when) a key changes?"""
    keys = tmp_path / "keys"
    key_path = write(keys, key_json("multiple-choice-1"))
    write(keys, key_json("multiple-choice-2", correct=(0,)))
    write(keys, {"type": "code-output-compare", "taskId": "test-3", "source": {}})
    first = {p.name: p.read_bytes() for p in build_locked(keys, tmp_path / "a")}
    second = {p.name: p.read_bytes() for p in build_locked(keys, tmp_path / "b")}
    assert first == second and sorted(first) == ["multiple-choice-1.json", "multiple-choice-2.json"]

    expected = lock_question(json.loads(key_path.read_bytes()), salt_for(key_path.read_bytes()))
    assert json.loads(first["multiple-choice-1.json"]) == expected

    write(keys, key_json("multiple-choice-1", correct=(2,)))
    changed = build_locked(keys, tmp_path / "a")[0].read_bytes()
    assert changed != first["multiple-choice-1.json"]


def test_locking_a_learner_copy_again_is_refused(tmp_path: Path) -> None:
    """Does the build say so when a learner's copy is fed to it as if it were a key?"""
    locked = lock_question(key_json(), "s")
    with pytest.raises(CourseError, match="already a learner's copy"):
        lock_question(locked, "s")


# --------------------------------------------------------------------------- scoring


def test_single_response_scores_all_or_nothing_and_never_below_zero() -> None:
    """Does a single-response question give all its points when right, and 0 (not -1) when wrong?"""
    q = lock_free(key_json(points=3, incorrectPoints=1))
    right, wrong = check(q, [IDS[1]]), check(q, [IDS[0]])
    assert (right.correct, right.points, right.max_points) == (True, 3, 3)
    assert (wrong.correct, wrong.points, wrong.raw_points) == (False, 0, -1)
    assert not check(q, []).correct
    assert not check(q, [IDS[1], IDS[0]]).correct


def test_multiple_response_partial_credit() -> None:
    """With partial points allowed, is a choice worth points x (right - wrong) / number right, floored at 0?"""
    q = lock_free(key_json(correct=(0, 1, 2), n=5, points=6, incorrectPoints=2, arePartialPointsAllowed=True))
    assert check(q, IDS[:3]).points == 6
    assert check(q, IDS[:2]).points == 4
    assert check(q, [IDS[0], IDS[1], IDS[3]]).points == 2
    assert check(q, [IDS[0], IDS[3], IDS[4]]).points == 0
    assert check(q, [IDS[3]]).points == 0
    assert check(q, [IDS[3]]).raw_points == -2  # raw is the formula's -1/3 x 6, not the penalty
    assert not check(q, IDS[:2]).correct


def test_multiple_response_without_partial_is_all_or_nothing() -> None:
    """Without partial points, does a nearly right multiple choice still score 0?"""
    q = lock_free(key_json(correct=(0, 1), n=4, points=2, incorrectPoints=1))
    assert check(q, [IDS[1], IDS[0]]).points == 2
    assert check(q, [IDS[0]]).points == 0 and check(q, [IDS[0]]).raw_points == -1


def test_lock_alone_cannot_give_partial_credit(tmp_path: Path) -> None:
    """Offline, with only the lock, does a half-right answer say partial credit is the grader's to give?"""
    q = lock_free(lock_question(key_json(correct=(0, 1), n=4, points=2, arePartialPointsAllowed=True), "s"))
    half = check(q, [IDS[0]])
    assert (half.correct, half.points, half.exact) == (False, 0, False)
    assert "grader" in half.note
    assert check(q, IDS[:2]).exact and check(q, IDS[:2]).points == 2


def test_unknown_answer_id_is_an_error_for_people() -> None:
    q = lock_free(key_json())
    with pytest.raises(CourseError, match="no answer has the id 'nope'"):
        check(q, ["nope"])


def test_grader_counts_the_last_attempt_within_the_limit() -> None:
    """Does the grader score the last attempt allowed, ignoring attempts past maxAttemptsCount?"""
    q = lock_free(key_json(maxAttemptsCount=2, points=5))
    late = score(q, [[IDS[0]], [IDS[2]], [IDS[1]]])
    assert (late.points, late.possible, late.attempts_counted, late.attempts_ignored) == (0, 5, 2, 1)
    assert "incorrect (attempt 2 of 2)" in late.reason and "past the limit" in late.reason
    assert score(q, [[IDS[0]], [IDS[1]]]).points == 5
    assert score(q, []).reason == "not answered"
    unlimited = lock_free(key_json())
    assert score(unlimited, [[IDS[0]]] * 9 + [[IDS[1]]]).points == 1
    assert json.loads(json.dumps(late.to_dict()))["verdict"]["chosen"] == [IDS[2]]


# --------------------------------------------------------------------------- reading real exports


def test_points_written_as_strings_are_read_as_numbers(tmp_path: Path) -> None:
    """Real Codio exports sometimes say "points": "1"; are they scored like numbers?"""
    q = load_question(write(tmp_path, key_json(points="2", incorrectPoints="1", maxAttemptsCount="3")))
    assert (q.points, q.incorrect_points, q.max_attempts) == (2, 1, 3)


def test_old_boolean_guidance_setting_is_understood(tmp_path: Path) -> None:
    """Do older exports with showGuidanceAfterResponse: true/false show guidance Always/Never?"""
    raw = key_json()
    del raw["source"]["showGuidanceAfterResponseOption"]
    assert load_question(write(tmp_path, {**raw, "source": {**raw["source"], "showGuidanceAfterResponse": True}})
                         ).guidance_rule == GuidanceRule("Always")
    assert load_question(write(tmp_path, {**raw, "source": {**raw["source"], "showGuidanceAfterResponse": False}})
                         ).guidance_rule == GuidanceRule("Never")
    assert load_question(write(tmp_path, raw)).guidance_rule == GuidanceRule("Never")


def test_guidance_after_attempts_shows_after_n_or_when_right(tmp_path: Path) -> None:
    q = load_question(write(tmp_path, key_json(showGuidanceAfterResponseOption={"type": "Attempts", "passedFrom": 2})))
    assert not check(q, [IDS[0]], attempt=1).show_guidance
    assert check(q, [IDS[0]], attempt=2).show_guidance
    assert check(q, [IDS[1]], attempt=1).show_guidance


@pytest.mark.parametrize(("old", "new", "spot", "words"), [
    ('"points": 1', '"points": "two"', '"points": "two"', '"points" must be a number'),
    ('"correct": true', '"correct": false', '"answers": [', 'no answer is marked "correct"'),
    ('"_id": "ans-bravo-29de"', '"_id": "ans-alpha-7f1c"',
     '"_id": "ans-alpha-7f1c",\n        "correct": true,\n        "answer": "Option 1"', 'share the "_id"'),
    ('"instructions"', '"instruction"', '"source": {', '"instructions" must be a non-empty string, and it is missing'),
    ('"Always"', '"Sometimes"', '"Sometimes"', 'guidance "type" must be'),
    ('"Option 3"\n      }', '"Option 3",\n      }', '      }\n    ],', "not valid JSON"),
])
def test_malformed_file_error_names_file_line_and_problem(tmp_path: Path, old: str, new: str, spot: str,
                                                          words: str) -> None:
    """Does a broken question file get a message naming the file, the line and what is wrong?"""
    path = write(tmp_path, key_json())
    text = path.read_text()
    assert old in text
    text = text.replace(old, new)
    path.write_text(text)
    line = text[:text.index(spot)].count("\n") + 1
    with pytest.raises(CourseError) as caught:
        load_questions(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{path}, line {line}: ") and words in message, message


def test_folder_skips_other_assessment_types_and_checks_names(tmp_path: Path) -> None:
    """Are free-text or code assessments skipped quietly, and a misnamed file reported?"""
    write(tmp_path, key_json("multiple-choice-1"))
    write(tmp_path, {"type": "free-text", "taskId": "free-text-2", "source": {"instructions": "Why?"}})
    assert list(load_questions(tmp_path)) == ["multiple-choice-1"]
    write(tmp_path, key_json("multiple-choice-3"), name="renamed.json")
    with pytest.raises(CourseError, match="holds taskId 'multiple-choice-3' but is named 'renamed.json'"):
        load_questions(tmp_path)


def test_randomized_order_is_stable_per_seed(tmp_path: Path) -> None:
    """Does a learner see the same shuffled order every time, and do fixed questions stay in order?"""
    shuffled = lock_free(key_json(n=5, isRandomized=True))
    orders = {seed: [a.id for a in display_order(shuffled, seed)] for seed in range(20)}
    assert orders[3] == [a.id for a in display_order(shuffled, 3)]
    assert all(sorted(o) == sorted(IDS) for o in orders.values())
    assert len({tuple(o) for o in orders.values()}) > 1
    assert [a.id for a in display_order(lock_free(key_json(n=5)), 7)] == IDS


def test_verdict_renders_and_serialises() -> None:
    q = lock_free(key_json(points=2))
    console = Console(record=True, width=80)
    console.print(check(q, [IDS[1]]))
    console.print(check(q, [IDS[0]]))
    text = console.export_text()
    assert "Correct!  2/2 points" in text and "Not quite.  0/2 points" in text
    assert json.loads(json.dumps(check(q, [IDS[0]]).to_dict()))["correct"] is False


# --------------------------------------------------------------------------- the answers store


def test_recording_answers_keeps_earlier_ones_and_the_documented_format(tmp_path: Path) -> None:
    """Does answers.json stay {task id: [ids]} with every earlier answer, the attempts counted beside it?"""
    path = tmp_path / "answers.json"
    assert load_answers(path) == {} and attempts_used(path, "q1") == 0
    record_answer(path, "q1", ["x"])
    record_answer(path, "q2", ["y", "z"])
    assert record_answer(path, "q1", ["w"]) == 2
    assert json.loads(path.read_text()) == {"q1": ["w"], "q2": ["y", "z"]}
    assert json.loads(attempts_path(path).read_text()) == {"q1": 2, "q2": 1}
    assert attempts_path(path) == tmp_path / ".course" / "attempts.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".course", "answers.json"]  # no temp files left


@pytest.mark.parametrize("content", ['{"q1": ["x"', '["x"]', '{"q1": "x"}'])
def test_corrupt_answers_file_is_kept_and_explained(tmp_path: Path, content: str) -> None:
    """Is a corrupt answers.json left untouched, with an error naming it and saying how to fix it?"""
    path = tmp_path / "answers.json"
    path.write_text(content)
    with pytest.raises(CourseError) as caught:
        record_answer(path, "q2", ["y"])
    assert str(path) in caught.value.message and "left as it is" in caught.value.message
    assert caught.value.hint and "answers.json.bad" in caught.value.hint
    assert path.read_text() == content
    assert not attempts_path(path).exists()


def lock_free(raw: dict[str, Any]) -> Any:
    """A Question straight from JSON, no file needed."""
    from course.lesson.questions import question_from_json

    return question_from_json(raw, origin="test")


def test_the_course_questions_never_show_the_answer_before_the_last_attempt() -> None:
    """Guidance (which gives the answer away) comes after a right answer, or once the attempts are used up."""
    from course.lesson.lessons import CONTENT

    questions = load_questions(CONTENT / "assessments")
    assert len(questions) == 17  # lesson 1: 5, lesson 2: 7, lesson 3: 5
    for q in questions.values():
        assert q.max_attempts >= 1, q.task_id
        for attempt in range(1, q.max_attempts):
            assert not q.guidance_rule.shows(attempt, False, 0.0), (q.task_id, attempt)
        assert q.guidance_rule.shows(q.max_attempts, False, 0.0), q.task_id
        assert q.guidance_rule.shows(1, True, 100.0), q.task_id


def test_each_question_speaks_of_what_its_pages_had_the_learner_do() -> None:
    """A size a question quotes is one the code on the lesson's pages up to it had the learner write
    (the page has them write 255x255 in step 4; a question about "your 256x1024" would puzzle them)."""
    import re

    from course.lesson.codio_pages import Assessment, Code, Columns, load_chapter
    from course.lesson.lessons import CONTENT, all_lessons

    def code_of(blocks: list[Any]) -> str:
        text = ""
        for block in blocks:
            if isinstance(block, Code):
                text += block.text + "\n"
            elif isinstance(block, Columns):
                text += code_of(block.left) + code_of(block.right)
        return text

    questions = load_questions(CONTENT / "assessments")
    checked = 0
    for lesson in all_lessons():
        written = ""
        for page in load_chapter(lesson.folder).pages:
            for block in page.blocks:
                if isinstance(block, Assessment) and block.task_id in questions:
                    for size in re.findall(r"\b\d+x\d+\b", questions[block.task_id].instructions):
                        assert size in written, (block.task_id, size)
                        checked += 1
                written += code_of([block])
    assert checked >= 1


@pytest.mark.parametrize("kind,passed_from,cases", [
    ("Score", 50, [(1, False, 40.0, False), (1, False, 50.0, True), (1, True, None, True)]),
    ("Attempts", 2, [(1, False, 0.0, False), (2, False, 0.0, True), (1, True, 100.0, True)]),
    ("Always", 0, [(1, False, 0.0, True)]),
    ("Never", 0, [(3, True, 100.0, False)]),
])
def test_every_codio_guidance_rule(tmp_path, kind, passed_from, cases) -> None:
    option = {"type": kind, "passedFrom": passed_from} if passed_from else {"type": kind}
    q = load_question(write(tmp_path, key_json("multiple-choice-7", showGuidanceAfterResponseOption=option)))
    assert q.guidance_rule.kind == kind
    for attempts, correct, percent, shows in cases:
        assert q.guidance_rule.shows(attempts, correct, percent) is shows, (attempts, correct, percent)


def test_a_verdicts_points_are_rounded_for_people() -> None:
    """Partial credit in thirds reads 6.7/20 in `course quiz`, never 6.66667."""
    from rich.console import Console

    from course.lesson.questions import Verdict

    console = Console(width=100, record=True, color_system=None)
    console.print(Verdict("multiple-choice-1", ("a",), False, 20 / 3, 20.0, 20 / 3, False, 1))
    text = console.export_text()
    assert "6.7/20 points" in text and "6.66667" not in text
