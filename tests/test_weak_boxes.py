"""The weaker boxes under attack: root without CAP_SYS_ADMIN (Gradescope, Docker), and an ordinary user.

tests/fixtures/hostile_weak/<scenario>/imageGen.py is the honest lesson-1 script whose step 1 does its work and
then attacks (its header says how); each prints one `HOSTILE-REPORT {json}` line of what it managed. They are
graded beside honest learners:

- through the bundle's own `run_autograder`, in Gradescope's layout (a root folder every user may enter, the
  bundle in source/), with Docker's default capabilities (`setpriv`: no CAP_SYS_ADMIN), one submission a run;
- with `grader grade`, as root with Docker's capabilities, on a copy of the checkout (the grader makes its
  secrets private; a copy keeps this checkout as it is), with Landlock and, as a container whose seccomp profile
  lacks it, without;
- with `grader grade` as an ordinary user (nobody).

Steps need a Python their uid can read (`readable_python`): the system's, as on Gradescope.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from grader.box.landlock import abi
from tests.conftest import DOCKER_CAPABILITIES, REPO, autograder_layout, checkout_copy, without_landlock

pytestmark = [pytest.mark.slow,  # hostile classes in the weaker boxes, a Python built from PyPI
              pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                                reason="needs root and setpriv, to grade as Gradescope's container and as a user")]

WEAK = Path(__file__).with_name("fixtures") / "hostile_weak"
CORRECT = Path(__file__).with_name("fixtures") / "submissions" / "correct_everything"
HONEST_TOTAL = 190
FIRST_UID = 62000
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]  # an ordinary user, no capability


def hostile_report(stdout: str) -> dict[str, Any] | None:
    found = None
    for line in stdout.splitlines():
        if line.startswith("HOSTILE-REPORT "):
            found = json.loads(line[len("HOSTILE-REPORT "):])
    return found


def secrets_of(checkout: Path) -> list[str]:
    """Texts that only the keys, the checks and the solution hold: none may show in a learner's results."""
    key = json.loads((checkout / "solutions" / "assessments" / "multiple-choice-1558564085.json").read_text())
    right = next(a["answer"] for a in key["source"]["answers"] if a.get("correct"))
    checks = json.loads((checkout / "course" / "content" / "lessons" / "1-generating-images" / "checks.json").read_text())
    hidden = [c[word] for step in checks["steps"].values() for c in step if c.get("hidden") for word in ("success", "failure")]
    assert hidden, "lesson 1 has hidden checks to keep secret"
    return ['"correct": true', right, *hidden, "BEGIN SOLUTION"]


# ------------------------------------------------------------------------------------------------ Gradescope


def run_autograder(base: Path, python: Path, submission: Path, landlock: bool = True) -> dict[str, Any]:
    """One submission through the bundle's run_autograder, with Docker's capabilities; `landlock=False`: as a kernel
    (or a seccomp profile) without it, where file permissions alone hold."""
    root = autograder_layout(base, ["1"], python)
    shutil.copytree(submission, root / "submission")
    (root / "submission" / "checkout.txt").write_text(str(root / "source"))  # the attacker knows where to look
    env = {"PATH": f"{base / 'bin'}:/usr/bin:/bin", "HOME": str(root), "AUTOGRADER_ROOT": str(root)}
    prefix = DOCKER_CAPABILITIES if landlock else [*DOCKER_CAPABILITIES, *without_landlock(python)]
    done = subprocess.run([*prefix, "bash", str(root / "source" / "run_autograder")], capture_output=True,
                          text=True, timeout=600, env=env, cwd=base)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("landlock", [True, False], ids=["landlock", "permissions-only"])
def test_on_gradescope_a_step_cannot_write_its_own_results_nor_kill_the_grader(open_folder: Path, readable_python: Path,
                                                                                landlock: bool) -> None:
    """The step finds results.json's path in the grader's command line, writes full marks there and kills what it
    can: it runs as a uid of its own, so results.json is the grader's, with the honest score."""
    if landlock and abi() < 1:
        pytest.skip("this kernel has no Landlock")
    results = run_autograder(open_folder, readable_python, WEAK / "forge_results", landlock)
    assert "FORGED" not in json.dumps(results) and results["score"] == HONEST_TOTAL, results["output"]
    step1 = next(t for t in results["tests"] if t["name"].startswith("Lesson 1, step 1"))
    found = hostile_report(step1["output"])
    assert found is not None and found["uid"] >= FIRST_UID, step1["output"]
    root = str(open_folder / "autograder")
    assert [w for w in found["wrote"] if w.startswith(root)] == [] and found["killed"] == [], found
    assert found["bounding"] == [], found  # no capability left, not even in its bounding set
    if not landlock:  # with Landlock it cannot even read /proc; without, it knew where to write, and could not
        assert any("results.json" in p for p in found["paths"]), found


@pytest.mark.parametrize("landlock", [True, False], ids=["landlock", "permissions-only"])
def test_on_gradescope_a_step_cannot_read_the_bundles_keys_checks_or_solutions(open_folder: Path, readable_python: Path,
                                                                                landlock: bool) -> None:
    if landlock and abi() < 1:
        pytest.skip("this kernel has no Landlock")
    results = run_autograder(open_folder, readable_python, WEAK / "print_source_keys", landlock)
    text = json.dumps(results)
    assert "LEAKED" not in text
    for secret in secrets_of(REPO):
        assert json.dumps(secret)[1:-1] not in text, secret
    step1 = next(t for t in results["tests"] if t["name"].startswith("Lesson 1, step 1"))
    found = hostile_report(step1["output"])
    assert found is not None and found["uid"] >= FIRST_UID and found["read"] == [] and found["refused"] > 0, found
    assert results["score"] == HONEST_TOTAL, results["output"]


# ------------------------------------------------------------------------------- grader grade, root or user


@dataclass
class Graded:
    result: subprocess.CompletedProcess[str]
    rows: dict[str, dict[str, str]]
    results: dict[str, dict[str, Any]]
    checkout: Path
    token: str  # in every learner's script of this class: a classmate's copy read anywhere shows it
    base: Path

    def report(self, learner: str) -> dict[str, Any] | None:
        step = next(s for s in self.results[learner]["steps"] if s["step"] == 1)
        return hostile_report(step["stdout"])

    def printed(self, learner: str) -> str:
        """All that the learner's steps printed (the grader's own results hold the checks, hidden ones too)."""
        return json.dumps([(s["stdout"], s["stderr"]) for s in self.results[learner]["steps"]])


def grade(base: Path, python: Path, learners: dict[str, Path], prefix: list[str], *, jobs: int = 2,
          owner: int | None = None) -> Graded:
    checkout = checkout_copy(base)
    class_dir = base / "class"
    token = uuid.uuid4().hex
    for name, source in learners.items():
        shutil.copytree(source, class_dir / name)
        (class_dir / name / "checkout.txt").write_text(str(checkout))  # the attacker knows where to look
        with open(class_dir / name / "imageGen.py", "a") as script:  # what marks this class's files, wherever copied
            script.write(f"\n# token: {token}\n")
    (base / "home").mkdir()
    if owner is not None:
        for path in [base, *base.rglob("*")]:
            os.lchown(path, owner, owner)
    env = {"PATH": f"{python}:/usr/bin:/bin", "HOME": str(base / "home"), "PYTHONPATH": str(checkout)}
    result = subprocess.run([*prefix, str(python / "python"), "-m", "grader", "grade", "class", "--out", "out",
                             "--quiet", "--lesson", "1", "--timeout", "20", "--jobs", str(jobs)],
                            capture_output=True, text=True, timeout=900, env=env, cwd=base)
    out = base / "out"
    rows = {r["learner"]: r for r in csv.DictReader((out / "gradebook.csv").read_text(encoding="utf-8").splitlines())} \
        if (out / "gradebook.csv").exists() else {}
    results = {}
    if (out / "gradebook.sqlite3").exists():
        with sqlite3.connect(out / "gradebook.sqlite3") as db:
            results = {learner: json.loads(text) for learner, text in db.execute("SELECT learner, result FROM grades")}
    return Graded(result, rows, results, checkout, token, base)


CLASS = {"print_source_keys": WEAK / "print_source_keys", "read_classmate_copy": WEAK / "read_classmate_copy",
         "hold_channels": WEAK / "hold_channels", "honest_one": CORRECT, "honest_two": CORRECT}


def assert_the_class_held(graded: Graded) -> None:
    assert graded.result.returncode == 0, graded.result.stdout[-3000:] + graded.result.stderr[-3000:]
    assert graded.rows["honest_one"]["percent"] == graded.rows["honest_two"]["percent"] == "100", graded.rows
    keys = graded.report("print_source_keys")
    assert keys is not None and keys["read"] == [], keys
    for secret in secrets_of(graded.checkout):
        assert json.dumps(secret)[1:-1] not in graded.printed("print_source_keys"), secret
    copies = graded.report("read_classmate_copy")  # (other grading runs on this machine are not this class)
    assert copies is not None and graded.token not in copies["tokens"], copies
    assert not [f for f in copies["found"] if f.startswith(str(graded.base))], copies
    hold = graded.report("hold_channels")
    assert hold is not None, graded.printed("hold_channels")
    # Its requests ("a fox") reached no other step's channel, nor the API outside a channel: the log has none of them.
    with sqlite3.connect(graded.base / "out" / ".offline-api" / "requests.sqlite3") as db:
        foxes = db.execute("SELECT channel, route, status FROM requests WHERE params LIKE '%a fox%'").fetchall()
    assert foxes == [], foxes
    for name in CLASS:  # every attacker's own honest steps 2 to 5 are whole
        assert all(graded.rows[name][f"step{n}"] != "0" for n in range(2, 6)), (name, graded.rows[name])


@pytest.mark.slow
def test_as_root_without_cap_sys_admin_steps_reach_nothing_of_the_grader_nor_each_other(open_folder: Path,
                                                                                          readable_python: Path) -> None:
    """`grader grade` in a container with Docker's capabilities: every step a uid of its own, the keys, checks and
    solutions of the checkout made private (and said), classmates' copies and channels out of reach."""
    graded = grade(open_folder, readable_python, CLASS, DOCKER_CAPABILITIES)
    assert_the_class_held(graded)
    assert "uid of its own per slot" in graded.result.stderr and "made readable by their owner only" in graded.result.stderr
    for name in CLASS:
        found = graded.report(name)
        assert found is None or found["uid"] >= FIRST_UID, (name, found)
    mode = (graded.checkout / "solutions").stat().st_mode
    assert mode & 0o077 == 0, oct(mode)


@pytest.mark.slow
def test_as_root_without_cap_sys_admin_or_landlock_file_permissions_hold(open_folder: Path,
                                                                         readable_python: Path) -> None:
    """The same container whose seccomp profile knows no Landlock (an older engine): uids and permissions alone."""
    graded = grade(open_folder, readable_python, CLASS, [*DOCKER_CAPABILITIES, *without_landlock(readable_python)])
    assert "no Landlock" in graded.result.stderr, graded.result.stderr[-2000:]
    assert_the_class_held(graded)


def test_what_a_step_leaves_in_shared_places_is_gone_before_the_next_learner(open_folder: Path,
                                                                              readable_python: Path) -> None:
    """One slot, two learners in turn: a file in /tmp and /dev/shm, a System V segment; the next finds none."""
    learners = {"a_leave_behind": WEAK / "leave_behind", "b_look_around": WEAK / "look_around"}
    for stale in ("/tmp/course-left-behind.txt", "/dev/shm/course-left-behind.txt"):  # of an earlier run, not this one
        Path(stale).unlink(missing_ok=True)
    subprocess.run(["ipcrm", "-M", str(0x5EED1)], capture_output=True)
    graded = grade(open_folder, readable_python, learners, [*DOCKER_CAPABILITIES, *without_landlock(readable_python)], jobs=1)
    assert graded.result.returncode == 0, graded.result.stderr[-3000:]
    left = graded.report("a_leave_behind")
    assert left is not None and left["segment"] >= 0 and left["left"], left  # it could leave them (no Landlock)
    seen = graded.report("b_look_around")
    assert seen is not None and seen["seen"] == [] and seen["segment"] == -1, seen
    assert seen["umask"] == 0o077, seen  # what it writes in shared places is its uid's alone
    assert seen["tmpdir"] and not seen["tmpdir"].startswith(("/tmp/course-left", "/dev/shm")), seen
    assert Path(seen["tmpdir"]).parent == Path(seen["cwd"]).parent, seen  # its temp folder, beside its copy
    assert not Path("/tmp/course-left-behind.txt").exists()


@pytest.mark.slow
def test_as_an_ordinary_user_landlock_keeps_steps_from_the_checkout_classmates_and_channels(open_folder: Path,
                                                                                           readable_python: Path) -> None:
    """A laptop: no root, so no uid of its own; with Landlock the step still reads none of the checkout's keys,
    no classmate's copy, and uses no other step's channel."""
    if abi() < 4:
        pytest.skip("this kernel has no Landlock with TCP rules (Linux 6.7)")
    graded = grade(open_folder, readable_python, CLASS, NOBODY, owner=65534)
    assert_the_class_held(graded)
    assert "Landlock" in graded.result.stderr


@pytest.mark.slow
def test_as_an_ordinary_user_without_landlock_channels_still_hold(open_folder: Path, readable_python: Path) -> None:
    """Without Landlock a step can read what the user can, as docs/instructors/the-box.md says; but a channel is still its step's alone:
    another step that holds its port and sends it requests uses none of its budget."""
    learners = {"hold_channels": WEAK / "hold_channels", "honest_one": CORRECT, "honest_two": CORRECT}
    graded = grade(open_folder, readable_python, learners, [*NOBODY, *without_landlock(readable_python)], owner=65534)
    assert graded.result.returncode == 0, graded.result.stderr[-3000:]
    hold = graded.report("hold_channels")
    assert hold is not None and hold["ports"], hold
    assert graded.rows["honest_one"]["percent"] == graded.rows["honest_two"]["percent"] == "100", graded.rows
    with sqlite3.connect(graded.base / "out" / ".offline-api" / "requests.sqlite3") as db:
        foxes = db.execute("SELECT channel, route, status FROM requests WHERE params LIKE '%a fox%'").fetchall()
    assert foxes == [], foxes
    assert "no Landlock" in graded.result.stderr
