"""A guide's code tests, run by the grader on a learner's files, in the same box as a lesson's steps.

A code test's command (`python3 code/loops.py`, `bash .guides/secure/check.sh`) runs a learner's program,
so the grader runs it only in its box (`grader.box`): a fresh copy of the guide's workspace with the
learner's files laid over it, on a size-capped tmpfs, as a uid of its own, without network but the offline
API, under the limits. The command runs with the shell, its input on standard input, its output and errors
together as a terminal shows them. One copy serves one assessment: a compile step and the cases after it see
each other's files.

The guide's own `.guides` (its assessments with their expected outputs, its secure folder, its test scripts)
is for the tests, not for the learner's program, as on Codio:
- the copy holds no `.guides` at all, unless the command names a file in it (`bash .guides/secure/check.sh`);
- then the command gets the guide's `.guides` without its assessments and pages, read-only, laid in again before each
  command from the grader's own copy, so nothing one run changed reaches the next; as root its files are
  root's and the copy's folder is sticky, so the learner's uid can neither change nor replace them;
- a shell script the command runs from `.guides` is read whole before it starts (`bash -c` with its text),
  so a program cannot rewrite the lines bash has not read yet;
- the learner (its copy, `.guides` left out) never brings a `.guides` of its own.

Around each command, Codio's test environment (`course.codio_env`): in the full box the copy is at Codio's
`/home/codio/workspace` too (a mount of the box's), where the command starts, with HOME `/home/codio`; in the
weaker boxes, which cannot make that folder, the command and the scripts it runs read the copy's real path
instead, as `course quiz` does. Codio's helper library for tests (`lib.grade`) is on PYTHONPATH. A test that
allows partial points gets Codio's partial points URLs, on the box's one way out (its channel of the offline
API, `course.offline.routes.codio_points`), with a secret token of the run; what it sent is taken from the API
after the run and handed back in `Ran.sent`, so a score counts for its own run only.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from course.codio_env import helpers_path
from course.codio_env import workspace as codio_workspace
from course.codio_env.points import Sent, environment, new_token, of_run
from course.lesson.code_tests import Ran, Runner

from .api import APIFault
from .box.copying import COPY_SECONDS, GUIDE_DEPENDENCIES, GUIDE_WORKSPACE_SKIPPED, SKIPPED, Entry, copy_tree, walk
from .box.run import GraderFault, box_folders, chown_tree, run_boxed

GUIDE_SKIPPED = (*SKIPPED, ".guides")


GUIDES = ".guides"
# Expected outputs and answers are the grader's alone; the pages are for readers (and the bulk of a large guide).
NOT_FOR_TESTS = ("assessments", "assessments.json", "content")
NAMES_GUIDES = re.compile(r"(^|[\s'\"=/;&|(<>])\.guides(/|\s|$)")
SHELL_SCRIPT = re.compile(r"^\s*(?:bash|sh)\s+(?P<path>\.guides/[^\s;&|<>'\"`$]+)(?P<rest>(?:\s+[^;&|<>`$]*)?)$")


def names_guides(command: str) -> bool:
    """Whether a command uses the guide's `.guides` folder (its test scripts, its secure folder)."""
    return bool(NAMES_GUIDES.search(command))


def _install_tests(pristine: Path, work: Path, owner: int | None) -> None:
    """Lay the guide's test files into the copy, afresh: read-only, and as root, root's."""
    _remove_tests(work)
    target = work / GUIDES
    shutil.copytree(pristine, target, symlinks=False)
    for folder, dirs, files in os.walk(target):
        for name in files:
            os.chmod(os.path.join(folder, name), 0o555 if os.access(os.path.join(folder, name), os.X_OK) else 0o444)
        os.chmod(folder, 0o555)
    if owner is not None:  # the copy's folder: the learner's uid may add and change its own files, never ours
        os.chown(work, 0, owner)
        os.chmod(work, 0o1770)


_TESTS: dict[Path, Path] = {}
_TESTS_LOCK = threading.Lock()


def tests_of(guide_root: Path) -> Path | None:
    """The grader's own copy of the guide's test files (its `.guides` without assessments and pages), made the first
    time a command names `.guides` and kept for the process, for every learner, in a folder only the grader may
    enter: no step ever sees it, each command gets a copy of it. None when the guide has no `.guides`."""
    source = guide_root / GUIDES
    if not source.is_dir():
        return None
    with _TESTS_LOCK:
        found = _TESTS.get(source)
        if found is None or not found.is_dir():
            holder = Path(tempfile.mkdtemp(prefix="guide-tests-"))  # 0700: the grader's
            atexit.register(shutil.rmtree, holder, True)
            found = holder / GUIDES
            found.mkdir()
            copy_tree(source, found, skipped=(*SKIPPED, *NOT_FOR_TESTS))
            _TESTS[source] = found
        return found


_WORKSPACES: dict[Path, list[Entry]] = {}


def guide_files(guide_root: Path) -> list[Entry]:
    """The guide's workspace files as a code test's copy takes them (`.guides` left out; its node_modules with the
    links in node_modules/.bin that stay inside it, so `npx jest` finds jest): listed once per process, for every
    learner and test (the guide does not change while a class is graded). TooBig, as `walk` says it."""
    with _TESTS_LOCK:
        found = _WORKSPACES.get(guide_root)
        if found is None:
            found = walk(guide_root, skipped=(*GUIDE_WORKSPACE_SKIPPED, GUIDES), links_within=GUIDE_DEPENDENCIES,
                         deadline=time.monotonic() + COPY_SECONDS)
            _WORKSPACES[guide_root] = found
        return found


def read_whole(command: str, work: Path, env: dict[str, str]) -> str:
    """`bash .guides/…/check.sh ARGS` becomes `bash -c "$COURSE_TEST_SCRIPT" .guides/…/check.sh ARGS`, the script's
    text in the environment: bash no longer reads the file as it goes, so nothing can rewrite what it has not read."""
    found = SHELL_SCRIPT.match(command)
    if not found:
        return command
    try:
        text = (work / found["path"]).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return command  # not there: the command fails as it would on Codio
    if len(text.encode()) > 100_000:
        return command
    env["COURSE_TEST_SCRIPT"] = text
    return f'bash -c "$COURSE_TEST_SCRIPT" {found["path"]}{found["rest"] or ""}'


@contextmanager
def boxed_workspace(slot: Any, api: Any, guide_root: Path, learner_root: Path | None) -> Iterator[Runner]:
    """A runner for commands in a fresh boxed copy of the guide's workspace with the learner's files on top."""
    with box_folders(slot, prefix="guide-test-") as folders:
        work = folders.work
        # The learner's files, then the guide's where the learner has none by that name (the guide's node_modules
        # too, with the links in node_modules/.bin that stay inside it: `npx jest` finds jest).
        if learner_root is not None:
            copy_tree(learner_root, work, skipped=GUIDE_SKIPPED)
        copy_tree(guide_root, work, keep=True, files=guide_files(guide_root))
        if slot.uid is not None:
            chown_tree(work, slot.uid)

        def run(command: str, stdin: str, timeout: float, *, points: bool = False) -> Ran:
            tests = tests_of(guide_root) if names_guides(command) else None
            if tests is not None:
                _install_tests(tests, work, slot.uid)
            else:
                _remove_tests(work)
            env = codio_environment(slot)
            text = command
            if not slot.isolate:  # no mounts: Codio's folder is read as the copy's real path
                text, scripts = codio_workspace.local_command(command, work)
                env.update(scripts)
            token = new_token() if points else ""
            whole = codio_prelude(slot.isolate, token) + read_whole(text, work, env)
            ran = run_boxed(slot, api, folders, timeout=timeout, command=whole, stdin=stdin, merge_output=True, env=env)
            sent = taken_points(api, ran.channel, token) if points else ()
            return Ran(command, ran.exit_code, ran.stdout.replace(str(work) + "/", ""), ran.seconds, sent)

        yield run


def codio_environment(slot: Any) -> dict[str, str]:
    """What a guide's command gets of Codio's environment: its helper library on PYTHONPATH (from the `course` the
    box shows), and in the full box Codio's HOME."""
    course_root = slot.confinement.course_root
    env = {"PYTHONPATH": helpers_path(course_root, Path(course_root) / "course" / "codio_env" / "assessments")}
    if slot.isolate:
        env["HOME"] = codio_workspace.CODIO_HOME
    return env


def codio_prelude(isolated: bool, token: str) -> str:
    """The shell lines before a guide's command: in the full box, start in Codio's folder; with `token`, Codio's
    partial points URLs, on the offline API the box reaches (its base URL is the run's own)."""
    lines = [f"cd {codio_workspace.CODIO_WORKSPACE} || exit 1"] if isolated else []
    if token:
        lines += [f'export {name}="{value}"' for name, value in environment("${OPENAI_BASE_URL%/v1}", token).items()]
    return "".join(line + "\n" for line in lines)


def taken_points(api: Any, channel: str, token: str) -> tuple[Sent, ...]:
    """What the run on `channel`, given `token`, sent to Codio's partial points URLs (a GraderFault when the API
    cannot say: the score would be wrong, so the test is not graded)."""
    try:
        sent = [Sent.from_dict(item) for item in api.codio_points(channel)]
    except (APIFault, KeyError, TypeError, ValueError) as exc:
        raise GraderFault(f"the partial points the test sent could not be read back ({exc})") from None
    return tuple(of_run(sent, token))


def _remove_tests(work: Path) -> None:
    """A command that does not name `.guides` runs without it (and without anything a learner's program made there)."""
    target = work / GUIDES
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.is_dir():
        for folder, dirs, _ in os.walk(target):
            os.chmod(folder, 0o755)
        shutil.rmtree(target)


def learner_workspace(folder: Path, guide_root: Path, answers: Path | None) -> Path:
    """Where a learner's copy of the guide's workspace starts in what they handed in: the folder (at most three
    levels down) holding the most of the guide's own files by the same paths (`code/loops.py`), the shallowest
    of those; else the folder of their answers.json; else the submission's top."""
    wanted = [p.relative_to(guide_root) for p in _files(guide_root, skip_guides=True)]
    best: tuple[int, int, Path] | None = None
    for candidate in _folders(folder, depth=3):
        hits = sum((candidate / relative).is_file() for relative in wanted)
        depth = len(candidate.relative_to(folder).parts)
        if hits and (best is None or (hits, -depth) > (best[0], -best[1])):
            best = (hits, depth, candidate)
    if best is not None:
        return best[2]
    return answers.parent if answers is not None else folder


def _files(root: Path, *, skip_guides: bool) -> list[Path]:
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIPPED and not (skip_guides and d == ".guides")]
        found += [Path(folder) / name for name in files]
        if len(found) > 2000:
            break
    return found


def _folders(root: Path, *, depth: int) -> Iterator[Path]:
    yield root
    if depth == 0:
        return
    try:
        children = sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink() and p.name not in GUIDE_SKIPPED)
    except OSError:
        return
    for child in children:
        yield from _folders(child, depth=depth - 1)
