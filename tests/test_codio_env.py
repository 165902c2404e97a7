"""Do a guide's code tests find Codio's test environment here, as they find it on Codio?

Codio's documentation (docs.codio.com, "Partial Points", "Advanced Code Tests", "Assignment Level Scripts") gives a
test its workspace at `/home/codio/workspace`, a helper library under `/usr/share/codio/assessments`
(`from lib.grade import send_partial`) and, when the assessment allows partial points, two URLs in its environment
to send a score to (`CODIO_PARTIAL_POINTS_URL` with `&points=N`, `CODIO_PARTIAL_POINTS_V2_URL` with a percentage and
feedback); a test that does not exit with 0 earns nothing. The guide `tests/fixtures/guides/codio_env` uses each:
a check that imports the learner's code from Codio's folder, `send_partial`, `send_partial_v2` with Markdown
feedback, curl from a bash script, and a check in Ruby. Three learners: right, right on 2 of 3 cases, wrong.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from course.codio_env import HELPERS
from course.codio_env.endpoint import PointsEndpoint
from course.lesson.answering import answer_task
from course.lesson.assessments import list_assessments, load_guide_assessments
from tests.conftest import DOCKER_CAPABILITIES, REPO, checkout_copy

GUIDE = REPO / "tests" / "fixtures" / "guides" / "codio_env"
WORKSPACE, V1, V2, CURL, RUBY = "test-4001", "test-4002", "test-4003", "test-4004", "test-4005"
PROGRAMS = {"right": "def total(numbers):\n    return sum(numbers)\n",
            "two_of_three": "def total(numbers):\n    return sum(n for n in numbers if n > 0)\n",  # negatives left out
            "wrong": "def total(numbers):\n    return len(numbers)\n"}
# What each earns on each test: all, or 2 of 3 cases' share, or nothing.
EXPECTED = {"right": {WORKSPACE: 2.0, V1: 3.0, V2: 6.0, CURL: 3.0},
            "two_of_three": {WORKSPACE: 0.0, V1: 2.0, V2: 4.0, CURL: 2.0},
            "wrong": {WORKSPACE: 0.0, V1: 0.0, V2: 0.0, CURL: 0.0}}


def learner_copy(base: Path, program: str) -> Path:
    """The guide as a learner has it: its workspace with their `code/total.py`."""
    shutil.copytree(GUIDE, base)
    (base / "code" / "total.py").write_text(program, encoding="utf-8")
    return base


def quiz_points(workspace: Path) -> dict[str, Any]:
    """Each code test checked as `course quiz` checks it (`answer_task`), in the learner's own workspace."""
    found = {}
    for task_id, task in load_guide_assessments(workspace).items():
        verdict, _ = answer_task(task, [], workspace / "answers.json", workspace=workspace)
        found[task_id] = verdict
    return found


def helper_library() -> Any:
    spec = importlib.util.spec_from_file_location("codio_grade", HELPERS / "lib" / "grade.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def small_guide(base: Path, command: str, *, partial: bool, points: int = 4, script: str = "") -> Path:
    """A guide of one advanced code test, `command`, with `script` as `.guides/secure/t.sh`."""
    (base / ".guides" / "assessments").mkdir(parents=True)
    (base / ".guides" / "secure").mkdir()
    (base / ".guides" / "secure" / "t.sh").write_text(script, encoding="utf-8")
    (base / ".guides" / "assessments" / "test-1.json").write_text(json.dumps(
        {"type": "test", "taskId": "test-1",
         "source": {"name": "One test", "command": command, "points": points, "arePartialPointsAllowed": partial}}))
    return base


# --------------------------------------------------------------------- the helper library, from Codio's docs


def test_the_helper_library_sends_points_and_feedback_as_codio_documents(monkeypatch: pytest.MonkeyPatch,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """send_partial sends points, send_partial_v2 a percentage with feedback and its format; each says True when
    taken, and False with the reason where Codio would not have set its URL."""
    grade = helper_library()
    with PointsEndpoint() as endpoint:
        for name, value in endpoint.environment().items():
            monkeypatch.setenv(name, value)
        assert grade.send_partial(2) is True
        assert grade.send_partial_v2(50, "<b>half</b>", grade.FORMAT_V2_HTML) is True
        assert grade.send_partial_v2("not a number") is False  # refused by the endpoint, which says why
        sent = endpoint.sent()
    assert [(s.version, s.value, s.feedback, s.format) for s in sent if not s.error] == [
        (1, 2.0, "", "txt"), (2, 50.0, "<b>half</b>", "html")]
    assert "are not a number" in capsys.readouterr().err
    monkeypatch.delenv("CODIO_PARTIAL_POINTS_URL")
    assert grade.send_partial(1) is False
    assert grade.send_grade_v2(80, "fine", grade.FORMAT_V2_MD) is False  # an assignment-level script's, not run here
    said = capsys.readouterr().err
    assert "CODIO_PARTIAL_POINTS_URL is not set" in said and "CODIO_AUTOGRADE_V2_URL is not set" in said


# --------------------------------------------------------------------- course quiz


def test_in_the_quiz_partial_points_count_and_codios_folder_is_the_workspace(tmp_path: Path) -> None:
    """Right code earns every test's points, 2 of 3 cases earn 2/3 of them (66.7 %) whichever way the test sends
    them, wrong code nothing; the check that imports from /home/codio/workspace runs on this machine, which has no
    such folder."""
    for name, program in PROGRAMS.items():
        verdicts = quiz_points(learner_copy(tmp_path / name, program))
        assert {task_id: verdicts[task_id].points for task_id in EXPECTED[name]} == EXPECTED[name], name
    verdicts = quiz_points(tmp_path / "two_of_three")
    assert not verdicts[V2].correct and verdicts[V2].chosen == ("earned 4 of 6 points",)
    assert verdicts[V2].feedback.startswith("**2 of 3 cases passed**"), verdicts[V2].feedback
    assert "sent 4 of 6 points (66.7%)" in verdicts[V2].note
    assert verdicts[CURL].feedback == "2 of 3 cases passed"
    right = quiz_points(tmp_path / "right")
    assert all(v.correct for v in right.values()) and "total adds up" in right[WORKSPACE].feedback


def test_a_partial_score_read_back_from_answers_json_keeps_its_points(tmp_path: Path) -> None:
    """The quiz saves what a run found; read back later, 4 of 6 points are still 4."""
    workspace = learner_copy(tmp_path / "two_of_three", PROGRAMS["two_of_three"])
    task = load_guide_assessments(workspace)[V2]
    verdict = task.recorded(list(quiz_points(workspace)[V2].chosen), attempt=1)
    assert verdict.points == 4.0 and not verdict.correct


def test_a_test_that_does_not_exit_with_0_earns_nothing_whatever_it_sent(tmp_path: Path) -> None:
    """Codio: "your script should always exit with 0; otherwise, the grade will be 0". The same score sent by a test
    that exits with 0 counts."""
    script = 'curl -s "$CODIO_PARTIAL_POINTS_URL&points=1" >/dev/null\necho sent\nexit {}\n'
    failing = quiz_points(small_guide(tmp_path / "failing", "bash .guides/secure/t.sh", partial=True,
                                      script=script.format(1)))["test-1"]
    assert failing.points == 0.0 and "exited with 1" in failing.note and "sent" in failing.feedback
    passing = quiz_points(small_guide(tmp_path / "passing", "bash .guides/secure/t.sh", partial=True,
                                      script=script.format(0)))["test-1"]
    assert passing.points == 1.0 and passing.graded_status == "partly correct"


def test_without_partial_points_allowed_the_test_gets_no_partial_points_urls(tmp_path: Path) -> None:
    """Codio sets the URLs only for an assessment that allows partial points; exit status alone decides then."""
    guide = small_guide(tmp_path, 'test -z "$CODIO_PARTIAL_POINTS_URL$CODIO_PARTIAL_POINTS_V2_URL"', partial=False)
    assert quiz_points(guide)["test-1"].points == 4.0
    allowed = small_guide(tmp_path / "allowed", 'test -n "$CODIO_PARTIAL_POINTS_V2_URL"', partial=True)
    assert quiz_points(allowed)["test-1"].points == 4.0  # set, and nothing sent: exit 0 earns every point


def test_a_score_sent_with_another_runs_token_does_not_count(tmp_path: Path) -> None:
    guide = small_guide(tmp_path, "bash .guides/secure/t.sh", partial=True, script=(
        'url="${CODIO_PARTIAL_POINTS_URL%%token=*}token=AAAAAAAAAAAAAAAAAAAAAAAA"\n'
        'curl -s "$url&points=1" >/dev/null\ncurl -s "$CODIO_PARTIAL_POINTS_URL&points=3" >/dev/null\n'))
    assert quiz_points(guide)["test-1"].points == 3.0


# --------------------------------------------------------------------- what runs here


def test_the_list_says_why_a_test_cannot_run_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test whose program is not installed, or whose script needs Codio's folder and cannot be read with the real
    path, is listed as not running here, with why, and the quiz and the grader leave it out; the others run."""
    tools = tmp_path / "bin"
    tools.mkdir()
    for program in ("python3", "bash", "sh", "curl"):
        (tools / program).symlink_to(shutil.which(program) or f"/usr/bin/{program}")
    (tools / "node").write_text("#!/bin/sh\nexit 0\n")
    (tools / "node").chmod(0o755)
    guide = tmp_path / "guide"
    shutil.copytree(GUIDE, guide)
    (guide / ".guides" / "secure" / "t.js").write_text("require('/home/codio/workspace/code/total.js');\n")
    (guide / ".guides" / "assessments" / "test-4006.json").write_text(
        '{"type": "test", "taskId": "test-4006", "source": {"name": "In node", "command": "node .guides/secure/t.js"}}')
    monkeypatch.setenv("PATH", str(tools))
    listed = {item.task_id: item for item in list_assessments(guide)}
    loaded = load_guide_assessments(guide)
    monkeypatch.undo()
    assert not listed[RUBY].runs and "`ruby`" in listed[RUBY].why and "PATH" in listed[RUBY].why
    if not Path("/home/codio/workspace").is_dir():
        assert not listed["test-4006"].runs and "/home/codio/workspace" in listed["test-4006"].why
        assert "test-4006" not in loaded
    assert RUBY not in loaded
    assert all(listed[t].runs for t in (WORKSPACE, V1, V2, CURL)) and set(loaded) >= {WORKSPACE, V1, V2, CURL}


def test_a_script_naming_codios_folder_is_run_from_its_text_with_the_real_path(tmp_path: Path) -> None:
    """Unit: the guide's file is never changed; bash and Python scripts run from their changed text."""
    from course.codio_env.workspace import local_command

    (tmp_path / "t.py").write_text("print(open('/home/codio/workspace/x.txt').read())\n")
    (tmp_path / "x.txt").write_text("here")
    command, env = local_command("cd /home/codio/workspace && python3 t.py one", tmp_path)
    assert command == f'cd {tmp_path} && python3 -c "$COURSE_CODIO_PYTHON" COURSE_CODIO_SCRIPT_1 t.py one'
    done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=60)
    assert done.stdout == "here\n", done.stderr
    assert "/home/codio/workspace" in (tmp_path / "t.py").read_text()


# --------------------------------------------------------------------- grader guide, in the box


def grade_class(base: Path, prefix: tuple[str, ...] = (), python: str = sys.executable,
                pythonpath: Path = REPO) -> tuple[dict[str, dict[str, str]], Path]:
    guide = base / "guide"
    shutil.copytree(GUIDE, guide)
    for name, program in PROGRAMS.items():
        (base / "class" / name / "code").mkdir(parents=True)
        (base / "class" / name / "code" / "total.py").write_text(program, encoding="utf-8")
    for path in [base, *base.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)
    env = {"PATH": f"{Path(python).parent}:/usr/bin:/bin", "HOME": str(base), "PYTHONPATH": str(pythonpath),
           "COURSE_HOME": str(base / "home")}
    done = subprocess.run([*prefix, python, "-m", "grader", "guide", "class", "--questions", "guide", "--out", "out"],
                          cwd=base, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with (base / "out" / "gradebook.csv").open(encoding="utf-8") as handle:
        return {row["learner"]: row for row in csv.DictReader(handle)}, base / "out"


@pytest.mark.slow
def test_grader_guide_scores_codios_environment_in_its_box_as_the_quiz_does(tmp_path: Path) -> None:
    """In the full box the learner's copy is /home/codio/workspace, the helper library imports, and the partial
    points URLs reach the run's own channel: every learner scores what the quiz gave them, with the feedback sent."""
    if os.geteuid() != 0:
        pytest.skip("the full box needs root")
    rows, out = grade_class(tmp_path)
    for name in PROGRAMS:
        verdicts = quiz_points(learner_copy(tmp_path / "quiz" / name, PROGRAMS[name]))
        quiz = {task_id: verdicts[task_id].points for task_id in EXPECTED[name]}
        graded = {task_id: float(rows[name][task_id]) for task_id in EXPECTED[name]}
        assert graded == EXPECTED[name] == quiz, (name, graded, quiz)
    feedback = (out / "feedback" / "two_of_three.md").read_text(encoding="utf-8")
    assert "2 of 3 cases passed" in feedback and "total([-1, 5]): 5, not 4" in feedback


@pytest.mark.slow
def test_without_cap_sys_admin_the_grader_reads_codios_folder_as_the_copy_and_still_takes_partial_points(
        open_folder: Path, readable_python: Path) -> None:
    """As root without CAP_SYS_ADMIN (Gradescope, Docker) the box cannot make /home/codio/workspace, so the command
    and its scripts read the copy's path; the URLs go through the run's TCP channel with its secret prefix."""
    if shutil.which("setpriv") is None or Path("/home/codio/workspace").is_dir():
        pytest.skip("needs setpriv, and a machine without /home/codio/workspace")
    rows, _ = grade_class(open_folder, tuple(DOCKER_CAPABILITIES), str(readable_python / "python"),
                          checkout_copy(open_folder))
    for name in PROGRAMS:
        assert {task_id: float(rows[name][task_id]) for task_id in EXPECTED[name]} == EXPECTED[name], name


def test_a_boxed_command_gets_codios_urls_and_starts_in_codios_folder() -> None:
    """Unit: what the grader puts before a guide's command (its own words are checked by running it above)."""
    from grader.commands import codio_prelude

    lines = textwrap.dedent(codio_prelude(True, "T" * 24)).splitlines()
    assert lines[0] == "cd /home/codio/workspace || exit 1"
    url = "${OPENAI_BASE_URL%/v1}/__codio__/partial-points?token=" + "T" * 24
    assert lines[1] == f'export CODIO_PARTIAL_POINTS_URL="{url}"'
    assert codio_prelude(False, "") == ""


@pytest.mark.parametrize(("command", "started"), [
    ("python3 -c 'import sys; print(sys.version)'", ["python3"]),  # a quoted argument is one word, not a command
    ('bash -c "java Main; echo done"', ["bash"]),
    ("javac Main.java && java Main", ["javac", "java"]),
    ("cd code; ruby test.rb | tee out.txt", ["ruby", "tee"]),
    ("FOO=1 node test.js > out.txt 2>&1", ["node"]),
    ("env A=1 timeout 10 python3 check.py < input.txt", ["python3"]),
    ("echo $(which java)", ["which"]),
    ("python3 a.py\nnode b.js", ["python3", "node"]),
    ("bash .guides/secure/check.sh  # runs java inside", ["bash"]),
])
def test_the_programs_a_command_starts_are_read_as_the_shell_reads_them(command: str, started: list[str]) -> None:
    """"Runs here" asks PATH for each program a command starts: a quoted argument holding `;` or `(` names none, so
    `python3 -c '…; print(…)'` is not left out of the grading for a program called `print`."""
    from course.lesson.code_tests import programs

    assert programs(command) == started
