"""Does a guide's code test score the same in `course quiz` and in `grader guide`, in any language this machine has?

Five small guides (`tests/fixtures/guides/java`, `node`, `ruby`, `bash`, `python_tests`), each with a code-output
comparison and an advanced test, as Codio's authors write them: Java compiled with `javac` (a `preExecuteCommand`)
and run with `java`, and a Java test class; jest from the guide's `node_modules`; a Ruby check; a Bash check that
compares with `diff <(...) <(...)`; pytest run with `python -m pytest`. For each, a learner with right code and one
with wrong code, checked as the quiz checks them (`answer_task`, unboxed) and graded by `grader guide` in the box:
right code earns every point, wrong code none, and the two agree. What a runtime needs of the box: a /proc of the
step's own PID namespace (the JDK finds its libraries through /proc/self/exe; /dev/fd is a /proc path), an
address-space limit a JVM fits in, the guide's node_modules, `python` beside `python3` with the grader's packages.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from course.lesson.answering import answer_task
from course.lesson.assessments import load_guide_assessments
from tests.conftest import DOCKER_CAPABILITIES, REPO, checkout_copy

pytestmark = pytest.mark.slow  # grader guide in the box, once per language

GUIDES = REPO / "tests" / "fixtures" / "guides"
VENV_BIN = str(Path(sys.executable).parent)

# Each guide: the programs it needs on PATH, the learner's file, right and wrong code.
LANGUAGES: dict[str, dict[str, Any]] = {
    "java": {"needs": ("javac", "java"), "file": "code/Sum.java",
             "right": "public class Sum {\n    public static void main(String[] args) {\n        int sum = 0;\n"
                      "        for (String a : args) sum += Integer.parseInt(a);\n        System.out.println(sum);\n"
                      "    }\n}\n",
             "wrong": "public class Sum {\n    public static void main(String[] args) {\n"
                      "        System.out.println(args.length);\n    }\n}\n"},
    "node": {"needs": ("node", "npm"), "file": "code/total.js",
             "right": "function total(numbers) {\n  return numbers.reduce((a, b) => a + b, 0);\n}\n\n"
                      "module.exports = { total };\n",
             "wrong": "function total(numbers) {\n  return numbers.length;\n}\n\nmodule.exports = { total };\n"},
    "ruby": {"needs": ("ruby",), "file": "code/total.rb",
             "right": "def total(numbers)\n  numbers.sum\nend\n\nputs total(ARGV.map(&:to_i)) if __FILE__ == $0\n",
             "wrong": "def total(numbers)\n  numbers.length\nend\n\nputs total(ARGV.map(&:to_i)) if __FILE__ == $0\n"},
    "bash": {"needs": ("bash", "diff"), "file": "code/count.sh",
             "right": "wc -l | tr -d ' '\n", "wrong": "echo 1\n"},
    "python_tests": {"needs": (), "file": "code/total.py",
                     "right": "import sys\n\n\ndef total(numbers):\n    return sum(numbers)\n\n\n"
                              "if __name__ == \"__main__\":\n    print(total([int(a) for a in sys.argv[1:]]))\n",
                     "wrong": "import sys\n\n\ndef total(numbers):\n    return len(numbers)\n\n\n"
                              "if __name__ == \"__main__\":\n    print(total([int(a) for a in sys.argv[1:]]))\n"},
}


@pytest.fixture(scope="session")
def jest_modules(request: pytest.FixtureRequest) -> Path:
    """A node_modules with jest 29, installed once into pytest's cache (the npm registry is reachable in CI)."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.skip("needs node and npm (for jest), which this machine does not have")
    folder = Path(request.config.cache.mkdir("guide_languages_jest"))
    if not (folder / "node_modules" / "jest" / "bin" / "jest.js").is_file():
        (folder / "package.json").write_text('{"private": true}\n')
        done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "jest@29"], cwd=folder,
                              capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            pytest.skip(f"npm could not install jest here: {done.stderr.strip().splitlines()[-1:]}")
    return folder / "node_modules"


def needs(language: str) -> None:
    missing = [p for p in LANGUAGES[language]["needs"] if shutil.which(p) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}, which this machine does not have on its PATH")


def guide_copy(language: str, into: Path, modules: Path | None) -> Path:
    """The guide's workspace as its author has it: with jest installed in node_modules for the Node guide."""
    shutil.copytree(GUIDES / language, into)
    if modules is not None:
        shutil.copytree(modules, into / "node_modules", symlinks=True)
    return into


def quiz_points(language: str, base: Path, modules: Path | None,
                monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, float]]:
    """Each learner's code tests, checked as `course quiz` checks them, in their own copy of the guide, by a learner
    whose shell finds this Python first (as with the course's virtual environment activated)."""
    monkeypatch.setenv("PATH", f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}")
    found = {}
    for learner in ("right", "wrong"):
        workspace = guide_copy(language, base / "quiz" / learner, modules)
        (workspace / LANGUAGES[language]["file"]).write_text(LANGUAGES[language][learner], encoding="utf-8")
        found[learner] = {}
        for task_id, task in load_guide_assessments(workspace).items():
            verdict, _ = answer_task(task, [], workspace / "answers.json", workspace=workspace)
            found[learner][task_id] = verdict.points
    monkeypatch.undo()
    return found


def grader_points(language: str, base: Path, modules: Path | None, prefix: tuple[str, ...] = (),
                  python: str = sys.executable, pythonpath: Path = REPO) -> tuple[dict[str, dict[str, float]], Path]:
    """Each learner's code tests graded by `grader guide`, in its box: the class holds their files only."""
    guide_copy(language, base / "guide", modules)
    for learner in ("right", "wrong"):
        file = base / "class" / learner / LANGUAGES[language]["file"]
        file.parent.mkdir(parents=True)
        file.write_text(LANGUAGES[language][learner], encoding="utf-8")
    for path in [base, *base.rglob("*")]:  # readable by the steps' uid; node_modules' programs stay programs
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() or path.stat().st_mode & 0o100 else 0o644)
    env = {"PATH": f"{Path(python).parent}:/usr/bin:/bin", "HOME": str(base), "PYTHONPATH": str(pythonpath),
           "COURSE_HOME": str(base / "home")}
    done = subprocess.run([*prefix, python, "-m", "grader", "guide", "class", "--questions", "guide", "--out", "out"],
                          cwd=base, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    tasks = list(load_guide_assessments(GUIDES / language))
    with (base / "out" / "gradebook.csv").open(encoding="utf-8") as handle:
        rows = {row["learner"]: row for row in csv.DictReader(handle)}
    return {learner: {t: float(rows[learner][t] or 0) for t in tasks} for learner in ("right", "wrong")}, base / "out"


def full_points(language: str) -> dict[str, float]:
    return {task_id: task.points for task_id, task in load_guide_assessments(GUIDES / language).items()}


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_right_code_passes_and_wrong_code_fails_alike_in_the_quiz_and_the_grader(
        language: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    if os.geteuid() != 0:
        pytest.skip("the full box needs root")
    needs(language)
    modules = request.getfixturevalue("jest_modules") if language == "node" else None
    expected = {"right": full_points(language), "wrong": dict.fromkeys(full_points(language), 0.0)}
    assert len(expected["right"]) == 2 and all(expected["right"].values())
    quiz = quiz_points(language, tmp_path, modules, monkeypatch)
    graded, out = grader_points(language, tmp_path, modules)
    feedback = (out / "feedback" / "right.md").read_text(encoding="utf-8")
    assert quiz == expected, (language, "quiz", quiz)
    assert graded == expected, (language, "grader", graded, feedback[-3000:])


def test_without_cap_sys_admin_java_runs_or_is_refused_with_a_reason(open_folder: Path, readable_python: Path) -> None:
    """As root without CAP_SYS_ADMIN (Docker, Gradescope): no namespaces, so no /proc of its own, but the machine's
    (Landlock leaves it readable); right Java code earns its points, wrong code none."""
    needs("java")
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv")
    graded, out = grader_points("java", open_folder, None, tuple(DOCKER_CAPABILITIES), str(readable_python / "python"),
                                checkout_copy(open_folder))
    feedback = (out / "feedback" / "right.md").read_text(encoding="utf-8")
    assert graded == {"right": full_points("java"), "wrong": dict.fromkeys(full_points("java"), 0.0)}, feedback[-3000:]


def test_as_an_ordinary_user_java_runs_under_the_address_space_limit_it_keeps(open_folder: Path,
                                                                              readable_python: Path) -> None:
    """As an ordinary user there is no cgroup, so a code test keeps a limit on its address space (4 GB), which a
    JVM's default reservation fits: right Java code earns its points, wrong code none."""
    needs("java")
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root (to become an ordinary user) and setpriv")
    checkout = checkout_copy(open_folder)
    for path in [open_folder, *open_folder.rglob("*")]:
        os.lchown(path, 65534, 65534)
    nobody = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--")
    graded, out = grader_points("java", open_folder, None, nobody, str(readable_python / "python"), checkout)
    feedback = (out / "feedback" / "right.md").read_text(encoding="utf-8")
    assert graded == {"right": full_points("java"), "wrong": dict.fromkeys(full_points("java"), 0.0)}, feedback[-3000:]


def test_a_code_test_in_the_box_sees_its_own_processes_only(tmp_path: Path) -> None:
    """The box's /proc is its PID namespace's, with the step's own processes only: nothing of the grader (its
    command line names the guide, its environment holds a secret), not pid 1 (root's)."""
    if os.geteuid() != 0:
        pytest.skip("the full box needs root")
    guide = tmp_path / "guide"
    (guide / ".guides" / "assessments").mkdir(parents=True)
    script = ("import os\npids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
              "mine = {os.getpid(), os.getppid()}\nprint('pids', pids)\n"
              "for pid in pids:\n"
              "    text = open(f'/proc/{pid}/cmdline', 'rb').read() + open(f'/proc/{pid}/environ', 'rb').read()\n"
              "    assert b'--questions' not in text and b'box-secret' not in text, pid\n"
              "assert os.getpid() in pids and set(pids) <= mine, (pids, mine)\n"
              "print('only its own')\n")
    (guide / "look.py").write_text(script)
    (guide / ".guides" / "assessments" / "test-1.json").write_text(
        '{"type": "test", "taskId": "test-1", "source": {"name": "Look around", "command": "python3 look.py", '
        '"points": 1}}')
    (tmp_path / "class" / "someone").mkdir(parents=True)
    (tmp_path / "class" / "someone" / "note.txt").write_text("hello")
    env = {"PATH": f"{VENV_BIN}:/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(REPO),
           "COURSE_HOME": str(tmp_path / "home"), "COURSE_GRADER_TEST_SECRET": "box-secret"}
    done = subprocess.run([sys.executable, "-m", "grader", "guide", "class", "--questions", "guide", "--out", "out"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    feedback = (tmp_path / "out" / "feedback" / "someone.md").read_text(encoding="utf-8")
    assert "only its own" in feedback, feedback


def test_a_code_test_past_its_memory_is_stopped_by_the_cgroup_not_the_machine(tmp_path: Path) -> None:
    """A code test has no address-space limit where a memory cgroup caps it: 3 GB written to is still refused (the
    cgroup's 1.5 GB for all its processes), and the grader goes on to grade it as a failed test."""
    if os.geteuid() != 0:
        pytest.skip("the full box needs root")
    from grader.box.cgroups import caps_memory, make_cgroups

    probe = make_cgroups("uid-languages-probe")
    capped = caps_memory(probe)
    for folder in probe:
        os.rmdir(folder)
    if not capped:
        pytest.skip("this machine lets the grader make no memory cgroup")
    guide = tmp_path / "guide"
    (guide / ".guides" / "assessments").mkdir(parents=True)
    (guide / "big.py").write_text("b = bytearray(3 * 1024 ** 3)\nprint('allocated', len(b))\n")
    (guide / ".guides" / "assessments" / "test-1.json").write_text(
        '{"type": "test", "taskId": "test-1", "source": {"name": "Big", "command": "python3 big.py", "points": 1}}')
    (tmp_path / "class" / "someone").mkdir(parents=True)
    (tmp_path / "class" / "someone" / "note.txt").write_text("hello")
    env = {"PATH": f"{VENV_BIN}:/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(REPO),
           "COURSE_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-m", "grader", "guide", "class", "--questions", "guide", "--out", "out"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    feedback = (tmp_path / "out" / "feedback" / "someone.md").read_text(encoding="utf-8")
    assert "allocated" not in feedback and "0 of 1 points" in feedback, feedback


STREAMS_CHECK = """echo "checking the program"
out=$(python3 code/answer.py)
if [ "$out" = "42" ]; then
  echo "well done" > /dev/stdout
  exit 0
fi
echo "expected 42, got $out" > /dev/stderr
exit 1
"""
STREAMS_PROGRAM = ("import sys\nprint('a', flush=True)\nopen('/dev/stdout', 'w').write('b\\n')\n"
                   "sys.stdout.flush()\nopen('/dev/stderr', 'w').write('c\\n')\nprint(sys.stdin.read().strip())\n")


def _compare(task_id: str, command: str, stdin: str, output: str) -> str:
    import json

    return json.dumps({"type": "code-output-compare", "taskId": task_id, "source": {
        "name": task_id, "command": command, "points": 1, "options": {"timeout": 30},
        "sequence": [{"arguments": "", "input": stdin, "output": output, "feedback": "", "showFeedback": False}]}})


def test_a_code_test_writes_to_its_own_streams_by_name_and_pipes_end_as_in_a_shell(tmp_path: Path) -> None:
    """As on Codio, whose runner reads a test's output from pipes: a test script's `echo ... > /dev/stderr` adds a
    line (nothing printed before it is lost, nor is the line refused), a program may open /dev/stdout, /dev/stderr
    and /dev/stdin by name, and `yes | head -2` ends quietly (SIGPIPE as a shell leaves it, not ignored as Python
    leaves it) so its output compares equal. (The other engines: `test_box_parts`.)"""
    guide = tmp_path / "guide"
    (guide / ".guides" / "assessments").mkdir(parents=True)
    (guide / ".guides" / "secure").mkdir()
    (guide / "code").mkdir()
    (guide / ".guides" / "secure" / "check.sh").write_text(STREAMS_CHECK)
    assessments = guide / ".guides" / "assessments"
    (assessments / "test-1.json").write_text(
        '{"type": "test", "taskId": "test-1", "source": {"name": "Checked by a script", '
        '"command": "bash .guides/secure/check.sh", "points": 1}}')
    (assessments / "code-output-compare-2.json").write_text(
        _compare("code-output-compare-2", "python3 code/streams.py", "typed\n", "a\nb\nc\ntyped\n"))
    (assessments / "code-output-compare-3.json").write_text(
        _compare("code-output-compare-3", "yes | head -2", "", "y\ny\n"))
    for learner, answer in (("right", "print(42)\n"), ("wrong", "print(41)\n")):
        (tmp_path / "class" / learner / "code").mkdir(parents=True)
        (tmp_path / "class" / learner / "code" / "answer.py").write_text(answer)
        (tmp_path / "class" / learner / "code" / "streams.py").write_text(STREAMS_PROGRAM)
    env = {"PATH": f"{VENV_BIN}:/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(REPO),
           "COURSE_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-m", "grader", "guide", "class", "--questions", "guide", "--out", "out"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    right = (tmp_path / "out" / "feedback" / "right.md").read_text(encoding="utf-8")
    wrong = (tmp_path / "out" / "feedback" / "wrong.md").read_text(encoding="utf-8")
    assert "3 of 3 points" in right, right
    assert "2 of 3 points" in wrong and "checking the program" in wrong and "expected 42, got 41" in wrong, wrong
    assert "Broken pipe" not in right + wrong
