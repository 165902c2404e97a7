"""`grader guide` never shows the guide to the learner's code: its `.guides` (assessments with their expected
outputs, the secure folder, the test scripts) is the tests', as on Codio.

A small guide (`tests/fixtures/guides/tested`) has a code-output comparison (`python3 code/prog.py` should print
42) and an advanced test (`bash .guides/secure/check.sh`, which runs the program and checks its output).
Learners beside an honest one: one whose program looks the expected output up in the guide's assessments, one
whose program rewrites the test script while bash is still reading it, one that leaves a changed `.guides` for
the next command, one whose output is simply wrong (the expected output must not reach its feedback). Graded as
root with the full box, as root without CAP_SYS_ADMIN, and as an ordinary user.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.box.landlock import abi
from tests.conftest import DOCKER_CAPABILITIES, REPO, checkout_copy

pytestmark = pytest.mark.slow  # grader guide as root, without CAP_SYS_ADMIN and as a user

GUIDE = Path(__file__).with_name("fixtures") / "guides" / "tested"
COMPARE, TEST, RUNNER = "code-output-compare-2002", "test-2001", "code-output-compare-2003"
HONEST = 'import sys\nprint({"1": "one", "2": "two"}.get(sys.argv[1], "?") if len(sys.argv) > 1 else 42)\n'

PEEK = '''import glob, json, os, sys
found = []
for pattern in (".guides/assessments/*.json", "../*/.guides/assessments/*.json"):
    found += glob.glob(pattern)
try:
    pids = os.listdir("/proc")
except OSError:
    pids = []
for pid in pids:
    try:
        argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")
    except OSError:
        continue
    if b"--questions" in argv:
        guide = argv[argv.index(b"--questions") + 1].decode()
        found += glob.glob(guide + "/.guides/assessments/*.json")
for path in found:
    try:
        data = json.load(open(path))
    except (OSError, ValueError):
        continue
    if data.get("type") == "code-output-compare":
        sys.stdout.write(data["source"]["sequence"][0]["output"])
        sys.exit(0)
print("found nothing")
'''

REWRITE = '''import sys
try:
    with open(".guides/secure/check.sh", "r+") as f:
        text = f.read()
        first = text.index("\\n") + 1
        f.seek(0)
        f.write(text[:first] + "exit 0\\n")
        f.truncate()
    print("rewritten")
except OSError as exc:
    print("could not rewrite:", type(exc).__name__)
'''

PLANT = '''import os, shutil
planted = []
for name, text in (("check.sh", "exit 0\\n"), ("run.sh", "echo two\\n")):  # for this command, or the next one
    try:
        if os.path.exists(".guides") and not os.path.exists(".old"):
            os.rename(".guides", ".old")
        os.makedirs(".guides/secure", exist_ok=True)
        with open(".guides/secure/" + name, "w") as f:
            f.write(text)
        planted.append(name)
    except OSError as exc:
        print("could not plant", name, type(exc).__name__)
print("planted", planted)
'''


def make_class(into: Path) -> Path:
    learners = {"honest": HONEST, "peeks": PEEK, "rewrites": REWRITE, "plants": PLANT, "wrong": "print(41)\n"}
    for name, program in learners.items():
        (into / name / "code").mkdir(parents=True)
        (into / name / "code" / "prog.py").write_text(program)
    return into


def grade_guide(base: Path, prefix: list[str], python: str, pythonpath: Path) -> tuple[dict[str, dict[str, str]], Path]:
    guide = base / "guide"
    shutil.copytree(GUIDE, guide)
    make_class(base / "class")
    for path in [base, *base.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)
    env = {"PATH": f"{Path(python).parent}:/usr/bin:/bin", "HOME": str(base), "PYTHONPATH": str(pythonpath)}
    done = subprocess.run([*prefix, python, "-m", "grader", "guide", "class", "--questions", "guide", "--out", "out"],
                          cwd=base, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with (base / "out" / "gradebook.csv").open(encoding="utf-8") as handle:
        return {row["learner"]: row for row in csv.DictReader(handle)}, base / "out"


def assert_the_guide_held(rows: dict[str, dict[str, str]], out: Path) -> None:
    assert rows["honest"][COMPARE] == rows["honest"][TEST] == rows["honest"][RUNNER] == "2", rows["honest"]
    assert rows["peeks"][COMPARE] == "0", "the expected output was found in the guide's assessments"
    assert rows["rewrites"][TEST] == "0", "the test script was rewritten while bash read it"
    assert rows["plants"][TEST] == "0", "a planted .guides replaced the guide's test"
    assert rows["plants"][RUNNER] == "0", "what one case's run planted in .guides ran as the next case's command"
    wrong = (out / "feedback" / "wrong.md").read_text(encoding="utf-8")
    assert rows["wrong"][COMPARE] == "0" and "41" in wrong
    assert "42" not in wrong and "expected" not in wrong.lower(), wrong
    peeks = (out / "feedback" / "peeks.md").read_text(encoding="utf-8")
    assert "found nothing" in peeks


def test_with_the_full_box_the_learners_program_never_sees_the_guides_tests(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the full box needs root")
    rows, out = grade_guide(tmp_path, [], sys.executable, REPO)
    assert_the_guide_held(rows, out)


def test_as_root_without_cap_sys_admin_the_learners_program_never_sees_the_guides_tests(open_folder: Path,
                                                                                         readable_python: Path) -> None:
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv")
    checkout = checkout_copy(open_folder)
    rows, out = grade_guide(open_folder, DOCKER_CAPABILITIES, str(readable_python / "python"), checkout)
    assert_the_guide_held(rows, out)
    assert ((open_folder / "guide" / ".guides").stat().st_mode & 0o077) == 0  # made private to the grader


def test_as_an_ordinary_user_with_landlock_the_learners_program_never_sees_the_guides_tests(
        open_folder: Path, readable_python: Path) -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None or abi() < 1:
        pytest.skip("needs root (to become an ordinary user), setpriv and Landlock")
    checkout = checkout_copy(open_folder)
    for path in [open_folder, *open_folder.rglob("*")]:
        os.lchown(path, 65534, 65534)
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    rows, out = grade_guide(open_folder, nobody, str(readable_python / "python"), checkout)
    assert_the_guide_held(rows, out)


def test_a_shell_test_script_is_read_whole_before_it_starts(tmp_path: Path) -> None:
    """Unit: `bash .guides/…/check.sh ARGS` runs from the script's text, not from the file bash would read as it goes."""
    from grader.commands import names_guides, read_whole

    (tmp_path / ".guides" / "secure").mkdir(parents=True)
    (tmp_path / ".guides" / "secure" / "check.sh").write_text("echo checking\nexit 1\n")
    env: dict[str, str] = {}
    command = read_whole("bash .guides/secure/check.sh one two", tmp_path, env)
    assert command == 'bash -c "$COURSE_TEST_SCRIPT" .guides/secure/check.sh one two'
    assert env["COURSE_TEST_SCRIPT"] == "echo checking\nexit 1\n"
    assert read_whole("python3 code/prog.py", tmp_path, env) == "python3 code/prog.py"
    assert names_guides("bash .guides/secure/check.sh") and names_guides("cd .guides && ./t.sh")
    assert not names_guides("python3 code/prog.py") and not names_guides("cat my.guides.txt")
    done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env={**env, "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True)
    assert done.stdout == "checking\n" and done.returncode == 1
