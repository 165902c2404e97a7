"""Another guide's assessments, in either of Codio's formats: every one listed, none skipped in silence."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course.lesson.assessments import list_assessments, load_guide_questions
from tests.conftest import REPO

KEY = REPO / "solutions" / "assessments" / "multiple-choice-1640493267.json"
OTHERS = [
    {"type": "free-text", "taskId": "free-text-101", "source": {"name": "In your own words", "instructions": "Why?"}},
    {"type": "fill-in-the-blanks", "taskId": "fill-in-the-blanks-102", "source": {"name": "Blanks"}},
    {"type": "parsons-puzzle", "taskId": "parsons-puzzle-103", "source": {"name": "Order the lines"}},
    {"type": "code-output-compare", "taskId": "code-output-compare-104", "source": {"name": "Run it"}},
    {"type": "test", "taskId": "test-105", "source": {"name": "A code test"}},
    {"type": "something-new", "taskId": "something-new-106", "source": {"name": "New kind"}},
]


def newer(root: Path) -> Path:
    folder = root / ".guides" / "assessments"
    folder.mkdir(parents=True)
    shutil.copy(KEY, folder / KEY.name)
    for raw in OTHERS:
        (folder / f"{raw['taskId']}.json").write_text(json.dumps(raw), encoding="utf-8")
    return root


def older(root: Path) -> Path:
    (root / ".guides").mkdir(parents=True)
    entries = [json.loads(KEY.read_text(encoding="utf-8")), *OTHERS]
    (root / ".guides" / "assessments.json").write_text(json.dumps(entries), encoding="utf-8")
    return root


@pytest.mark.parametrize("layout", [newer, older])
def test_every_place_a_guide_keeps_its_assessments(tmp_path: Path, layout) -> None:
    root = layout(tmp_path / "guide")
    places = [root, root / ".guides"]
    places.append(root / ".guides" / ("assessments" if layout is newer else "assessments.json"))
    for place in places:
        listed = {item.task_id: item for item in list_assessments(place)}
        assert len(listed) == 7, place
        assert listed["multiple-choice-1640493267"].runs and listed["free-text-101"].runs
        assert "marked by a person" in listed["free-text-101"].line()
        # Damaged ones (a blanks question without its text, a code test without its command) are named with why.
        assert not listed["fill-in-the-blanks-102"].runs and '"text" must hold' in listed["fill-in-the-blanks-102"].why
        assert not listed["test-105"].runs and '"command" must be a non-empty string' in listed["test-105"].why
        assert not listed["something-new-106"].runs and "'something-new'" in listed["something-new-106"].why
        assert sorted(load_guide_questions(place)) == ["free-text-101", "multiple-choice-1640493267"]


def course(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "course", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60, input="")


def test_list_and_a_quiz_with_nothing_it_can_run(tmp_path: Path) -> None:
    root = older(tmp_path / "guide")
    listed = course("quiz", "--questions", str(root), "--list", cwd=tmp_path)
    assert listed.returncode == 0
    lines = listed.stdout.splitlines()
    assert len([line for line in lines if "[" in line]) == 7 and lines[-1] == "7 assessments, 2 of them run here."
    assert "parsons-puzzle-103  [parsons-puzzle]  Order the lines  (does not run here: it cannot be read" in listed.stdout
    only_new = tmp_path / "new"
    only_new.mkdir()
    (only_new / "something-new-106.json").write_text(json.dumps(OTHERS[-1]), encoding="utf-8")
    quiz = course("quiz", "--questions", str(only_new), cwd=tmp_path)
    assert quiz.returncode == 1  # never "nothing printed, exit 0"
    assert "Not asked here: New kind (something-new-106, something-new)" in quiz.stdout
    assert "no assessment in" in quiz.stderr and "--list" in quiz.stderr
    mixed = course("quiz", "--questions", str(root / ".guides" / "assessments.json"), cwd=tmp_path)
    assert "Not asked here: Blanks (fill-in-the-blanks-102" in mixed.stdout
    assert "How many images per request" in mixed.stdout  # the one it runs is asked
