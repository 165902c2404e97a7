"""Is what a learner reads always true of the run, and is one mistake charged once?

- A step is judged on its own work: when an earlier step it calls fails, the runner contains that failure and the
  step goes on as if the call had succeeded (with the response the earlier step made, or one the course makes in
  its place), and a note says so (course/handoffs.py). The same in `python imageGen.py N`, `course try`, the
  notebook and the grader.
- Printed facts count only when the log shows this run made them (events of a stream, a response's id).
- Each ✗ line states a fact of this run and names the thing to change.

Cohort D (tests/fixtures/cohorts/d) holds one learner per mistake, written from the pages, with the verdicts and
the exact feedback lines a fair instructor expects.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from course.lesson import fingerprints
from course.lesson.advice import explain
from course.lesson.checks import StepRun, evaluate, snapshot
from course.lesson.lessons import find_lesson
from course.offline.requestlog import Record
from tests.conftest import REPO

COHORT = Path(__file__).with_name("fixtures") / "cohorts" / "d"
EXPECTED = json.loads((COHORT / "expected.json").read_text(encoding="utf-8"))
GEN, RESPONSES = "/v1/images/generations", "/v1/responses"
URL = "http://127.0.0.1:8765/private/org-a/user-b/img-XYZ.png?st=1&sig=abc%3D"
INVALID = "'255x255' is not one of ['256x256', '512x512', '1024x1024', '1024x1792', '1792x1024'] - 'size'"


def row(id: int, status: int = 200, route: str = GEN, urls: list[str] | None = None, error: str | None = None,
        code: str | None = None, stream: dict | None = None, response_id: str | None = None, **params: object) -> Record:
    params.setdefault("model", "dall-e-2")
    return Record(time=0.0, method="POST", route=route, status=status, model=str(params["model"]), params=dict(params),
                  error_message=error, error_code=code, urls=urls or [], stream=stream, response_id=response_id, id=id)


def judge(lesson: int, step: int, run: StepRun):  # type: ignore[no-untyped-def]
    return evaluate(find_lesson(lesson).step(step), run)


def texts(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [("✓ " if c.passed else "✗ ") + c.text for c in result.checks]


# ------------------------------------------------------------------------------------ the checks alone


def test_step5_wants_the_valid_request_after_step4_not_anywhere() -> None:
    late = ("def step5():\n    r = client.images.generate(size='512x512')\n    print(r.data[0].url)\n"
            "    step4()\n")
    records = [row(1, size="512x512", urls=[URL]), row(2, 400, size="255x255", error=INVALID)]
    result = judge(1, 5, StepRun(5, URL + "\n", "", 0, records, source=late))
    after = next(c for c in result.checks if c.kind == "after_error")
    assert not after.passed and after.detail == "it sends the valid request first and calls step4() after it"
    first = late.replace("    step4()\n", "").replace("def step5():\n", "def step5():\n    step4()\n")
    # step 4 refused nothing (its own mistake, failed in step 4): calling it first still counts
    assert judge(1, 5, StepRun(5, URL + "\n", "", 0, [row(1, size="512x512", urls=[URL])], source=first)).passed


def test_printed_events_count_only_when_this_run_streamed() -> None:
    printed = "image_generation.partial_image\nimage_generation.partial_image\nimage_generation.completed\n"
    alone = judge(3, 1, StepRun(1, printed, "", 0, []))
    assert alone.points == 0
    events = next(c for c in alone.checks if c.kind == "output_matches")
    assert not events.passed and events.detail == "the step sent no request to the Images API"
    streamed = row(1, model="gpt-image-1", partial_images=2, stream={"events": 4, "partial_images": 2,
                                                                          "completed": True})
    made = next(c for c in judge(3, 1, StepRun(1, printed, "", 0, [streamed])).checks if c.kind == "output_matches")
    assert made.passed
    whole = row(1, model="gpt-image-1", partial_images=2)  # not streamed: no events were sent to print
    not_streamed = next(c for c in judge(3, 1, StepRun(1, printed, "", 0, [whole])).checks if c.kind == "output_matches")
    assert not not_streamed.passed and "not streamed" in not_streamed.detail


def test_a_printed_response_id_counts_only_when_the_api_made_it_this_run() -> None:
    made = row(1, route=RESPONSES, model="gpt-5", tool="image_generation", response_id="resp_" + "a1" * 20)
    printed_id = lambda out: next(c for c in judge(3, 3, StepRun(3, out, "", 0, [made])).checks  # noqa: E731
                                  if c.kind == "printed_id")
    assert printed_id(f"response id: resp_{'a1' * 20}\n").passed
    forged = printed_id("response id: resp_67ccd2bed1ec8190b14f964abc0542670bb6\n")
    assert not forged.passed and "not the id of the response the API made this run" in forged.detail
    none = printed_id("saved cabin.png\n")
    assert not none.passed and none.detail == "the output does not show the response's id: print response.id"
    nothing = next(c for c in judge(3, 3, StepRun(3, f"resp_{'a1' * 20}\n", "", 0, [])).checks if c.kind == "printed_id")
    assert not nothing.passed


def test_a_follow_up_must_continue_a_response_of_this_run_by_its_id() -> None:
    first = row(1, route=RESPONSES, model="gpt-5", tool="image_generation", response_id="resp_first0001")
    other = row(2, route=RESPONSES, model="gpt-5", tool="image_generation", previous_response_id="resp_elsewhere01",
                action="edit", response_id="resp_second002")
    result = next(c for c in judge(3, 4, StepRun(4, "", "", 0, [first, other])).checks if c.kind == "follows_up")
    assert not result.passed and "names a response this run did not make" in result.detail
    ours = row(2, route=RESPONSES, model="gpt-5", tool="image_generation", previous_response_id="resp_first0001",
               action="edit", response_id="resp_second002")
    assert next(c for c in judge(3, 4, StepRun(4, "", "", 0, [first, ours])).checks if c.kind == "follows_up").passed


def test_the_code_shown_or_the_message_shown_is_said_as_it_is() -> None:
    message = "Your request was rejected as a result of our safety system."
    refused = [row(1, 400, error=message, code="content_policy_violation")]
    result = judge(2, 6, StepRun(6, f"refused: {message}\n", "", 0, refused))
    shown = next(c for c in result.checks if c.kind == "error_shown")
    assert shown.detail == ("the output shows the error's message but not its code (content_policy_violation): "
                            "print error.code as well")


def test_no_work_lines_are_true_of_the_run() -> None:
    """Nothing done, a return line written: the ✗ lines say why there are no points, not that it 'hands back'."""
    source = "def step1():\n    response = None\n    return response\n"
    result = judge(1, 1, StepRun(1, "", "", 0, [], source=source))
    lines = texts(result)
    assert "✗ no points for the return line until the step's own work is done" in lines
    assert "✗ no points for running without an error until the step's own work is done" in lines
    assert not any("hands something back" in line or "ran without an error, but" in line for line in lines)


def _png(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(out, "PNG")
    return out.getvalue()


def test_a_file_from_the_previous_try_is_not_this_runs(tmp_path: Path) -> None:
    """Saved a second before this run began (the previous try): not blamed, not counted, by this run."""
    old = _png((10, 20, 30))
    (tmp_path / "fox.png").write_bytes(old)
    before = snapshot(tmp_path)
    run = StepRun(1, "", "", 0, [], tmp_path, started=time.time(), before=before)  # within the second
    spec = {"number": 1, "checks": [{"kind": "file_saved", "glob": "*.png", "format": "PNG", "returned": False}]}
    result = evaluate(spec, run)
    assert not result.passed and result.checks[0].detail == "no new *.png file was saved"
    (tmp_path / "fox.png").write_bytes(_png((200, 20, 30)))  # this run writes it again
    assert evaluate(spec, run).passed


def test_a_picture_of_another_request_is_not_blamed_as_a_wrong_file(tmp_path: Path) -> None:
    first, second = _png((1, 2, 3)), _png((4, 5, 6))
    marks = [fingerprints.of_file(first), {**fingerprints.of_file(second)}]
    step3 = row(1, route=RESPONSES, model="gpt-5", tool="image_generation", response_id="resp_one000001")
    step3.images = [marks[0]]
    follow = row(2, route=RESPONSES, model="gpt-5", tool="image_generation", previous_response_id="resp_one000001",
                 action="edit", response_id="resp_two000002")
    follow.images = [marks[1]]
    (tmp_path / "cabin.png").write_bytes(first)
    (tmp_path / "cabin_blue.png").write_bytes(first)  # the first picture again, not the follow-up's
    run = StepRun(4, "", "", 0, [step3, follow], tmp_path, started=0.0, before={})
    saved = next(c for c in judge(3, 4, run).checks if c.kind == "file_saved")
    assert not saved.passed
    assert saved.detail == ("no file holds the finished picture of the follow-up (cabin.png, cabin_blue.png hold other "
                            "pictures of this run): save it to a file of its own")


def test_after_a_crash_a_missing_request_is_said_to_be_the_crash() -> None:
    stderr = ("Traceback (most recent call last):\n  File \"imageGen3.py\", line 80, in step4\n"
              "    previous_response_id=first.response_id,\n"
              "AttributeError: 'Response' object has no attribute 'response_id'\n")
    first = row(1, route=RESPONSES, model="gpt-5", tool="image_generation", response_id="resp_one000001")
    result, _, _ = explain(find_lesson(3).step(4), StepRun(4, "", stderr, 1, [first]), None)
    follows = next(c for c in result.checks if c.kind == "follows_up")
    assert follows.detail == "the step stopped with AttributeError: 'Response' object has no attribute 'response_id' before that"


# ----------------------------------------------------------------------- the runner contains a failure


def test_call_step_contains_an_earlier_failure_and_puts_the_functions_back(capsys: pytest.CaptureFixture[str]) -> None:
    """In a notebook's kernel the step functions live on: after the run, step1 is the learner's own again."""
    from course.steps import call_step

    namespace: dict = {}
    exec("def step1():\n    raise ValueError('no picture today')\n\n"
         "def step2():\n    got = step1()\n    print('step 2 got', got)\n", namespace)
    original = namespace["step1"]
    assert call_step(namespace["step2"], 2, "scratch.py", lesson=None) == 0
    out, err = capsys.readouterr()
    assert "step 2 got None" in out
    assert "ValueError: no picture today" in err
    assert ("hint [earlier-step]: Step 2 calls step1(), which stopped with ValueError: no picture today. Fix step 1 "
            "on its own (python scratch.py 1 shows its error). Step 2 went on as if step1() had succeeded") in err
    assert namespace["step1"] is original


def test_a_step_not_written_yet_is_not_contained(capsys: pytest.CaptureFixture[str]) -> None:
    from course.steps import EXIT_NOT_WRITTEN, call_step

    namespace: dict = {}
    exec("from course.steps import todo\n\ndef step1():\n    todo()\n\ndef step2():\n    print(step1())\n", namespace)
    assert call_step(namespace["step2"], 2, "imageGen.py") == EXIT_NOT_WRITTEN
    assert "it calls step1(), which still has its todo() line" in capsys.readouterr().err


def learner(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    shutil.copytree(COHORT / name, folder)
    shutil.copytree(REPO / "exercises" / "assets", folder / "assets")
    return folder


def user_env(server) -> dict[str, str]:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_") and k != "PYTHONUNBUFFERED"}
    env.update(PYTHONPATH=str(REPO), OPENAI_BASE_URL=server.base_url, COURSE_OFFLINE_DATA_DIR=str(server.data_dir))
    return env


def test_python_and_course_try_judge_step2_on_its_own_work(server, tmp_path: Path) -> None:
    """Step 1 asks for a size dall-e-2 cannot make: step 2 goes on with a response the course makes in its
    place, prints it, passes, and is told what to fix in step 1 (never to catch step 1's error)."""
    folder = learner(tmp_path, "quentin_bad_size")
    plain = subprocess.run([sys.executable, "imageGen.py", "2"], cwd=folder, env={**user_env(server), "OPENAI_API_KEY": "sk-mine"},
                           capture_output=True, text=True, timeout=60)
    assert plain.returncode == 0, plain.stderr
    assert "ImagesResponse(" in plain.stdout
    assert "Fix step 1 on its own: '300x300' is not a size dall-e-2 can make." in plain.stderr
    assert "catch" not in plain.stderr.split("hint [earlier-step]")[1].lower()
    tried = subprocess.run([sys.executable, "-m", "course", "try", "2"], cwd=folder, env=user_env(server),
                           capture_output=True, text=True, timeout=120)
    assert tried.returncode == 0, tried.stdout + tried.stderr
    assert "step 2 (Print the whole response): passed" in tried.stdout
    assert "Step 2 went on with a response the course made in step1()'s place" in tried.stdout


def test_course_try_judges_lesson3_step4_with_the_response_step3_made(server, tmp_path: Path) -> None:
    folder = learner(tmp_path, "rosa_no_return")
    tried = subprocess.run([sys.executable, "-m", "course", "try", "4"], cwd=folder, env=user_env(server),
                           capture_output=True, text=True, timeout=120)
    assert tried.returncode == 0, tried.stdout + tried.stderr
    assert "passed" in tried.stdout and "AttributeError" not in tried.stdout
    assert "Step 4 went on with the response step3() made" in tried.stdout


# --------------------------------------------------------------------------------- cohort D, graded


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("instructor-d")
    shutil.copytree(COHORT, work / "class")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_") and k != "PYTHONUNBUFFERED"}
    env["PYTHONPATH"] = str(REPO)
    result = subprocess.run([sys.executable, "-m", "grader", "grade", "class", "--out", "out", "--quiet"], cwd=work,
                            env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return work / "out"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_cohort_d_verdicts_and_feedback_lines(graded: Path, name: str) -> None:
    """Each learner's verdicts are the instructor's, and the feedback holds the exact lines expected."""
    from grader.reports import learner_folder

    expected = EXPECTED[name]
    result = json.loads((graded / learner_folder(name) / "results.json").read_text(encoding="utf-8"))
    tests = {t["number"]: t for t in result["tests"]}
    for number, verdict in expected["steps"].items():
        test = tests[number]
        got = "pass" if test["score"] == test["max_score"] else "fail"
        assert got == verdict, f"{name} {number}: {test['output'][:800]}"
    for number, points in expected.get("points", {}).items():
        assert tests[number]["score"] == points, tests[number]["output"][:800]
    for number, lines in expected.get("feedback", {}).items():
        output = tests[number]["output"].splitlines()
        for line in lines:
            assert line in output, f"{name} {number}: {line!r} not in\n{tests[number]['output'][:1500]}"
    for number in expected.get("no_hint", []):
        assert "hint [" not in tests[number]["output"], tests[number]["output"]
    feedback = (graded / learner_folder(name) / "feedback.md").read_text(encoding="utf-8")
    for line in expected.get("notes_lines", []):
        assert f"> {line}" in feedback
    assert "  was not found" not in feedback and ":  was" not in feedback


def test_course_try_does_not_blame_this_run_for_the_last_tries_file(server, tmp_path: Path) -> None:
    """A try saves paper_boat.png; the learner breaks the save and tries again within the second: the file the
    first try wrote is not this run's (it was not told "paper_boat.png is not the picture the API sent")."""
    folder = tmp_path / "work"
    folder.mkdir()
    shutil.copytree(REPO / "exercises" / "assets", folder / "assets")
    script = folder / "imageGen2.py"
    script.write_text((REPO / "solutions" / "imageGen2.py").read_text(encoding="utf-8"), encoding="utf-8")
    env = {**user_env(server), "COURSE_WARM": "0"}
    first = subprocess.run([sys.executable, "-m", "course", "try", "2"], cwd=folder, env=env, capture_output=True,
                           text=True, timeout=120)
    assert first.returncode == 0, first.stdout + first.stderr
    script.write_text(script.read_text(encoding="utf-8").replace("    target.write_bytes(picture)\n", ""),
                      encoding="utf-8")
    os.utime(folder / "paper_boat.png")  # as if the first try had written it a moment ago
    second = subprocess.run([sys.executable, "-m", "course", "try", "2"], cwd=folder, env=env, capture_output=True,
                            text=True, timeout=120)
    assert second.returncode == 1
    assert "(no new *.png file was saved)" in second.stdout
    assert "paper_boat.png is not" not in second.stdout
