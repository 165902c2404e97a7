"""Codio's workspace folder, `/home/codio/workspace`, on a machine that has none.

On Codio a guide's files are in `/home/codio/workspace` (HOME is `/home/codio`), commands run there, and tests
often name the folder outright (`cd /home/codio/workspace && …`, `sys.path.append('/home/codio/workspace')`). The
grader's full box has the folder (the learner's copy, bound there). Elsewhere (`course quiz` on a laptop, the
grader's weaker boxes) making it needs root, so, where the folder does not exist, a run uses the real workspace
instead (`local_command`), and says so where it cannot:

- in the command's text, `/home/codio/workspace` (and `~/workspace`) becomes the workspace's real path;
- a script the command runs with `bash`, `sh`, `python` or `python3` that names the folder is run from its text
  with the path changed (the file itself is never changed: it is the guide's, or the learner's): bash and sh as
  `bash -c TEXT SCRIPT ARGS`, Python through a few lines that run the text as that file would run (its name,
  its folder first on sys.path, its arguments);
- a script run any other way that names the folder (`node .guides/test.js`) cannot be changed like that:
  `unchangeable` names it, and the test is listed as not running here, with the fix (make the folder).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

CODIO_HOME = "/home/codio"
CODIO_WORKSPACE = "/home/codio/workspace"
NAMED = re.compile(r"/home/codio/workspace(?![\w.-])")
IN_COMMAND = re.compile(r"(?:/home/codio/workspace|(?<![\w/.~-])~/workspace)(?![\w.-])")
# `bash SCRIPT`, `python3 SCRIPT`: an interpreter and the script it runs, anywhere in a command.
RUNS_SCRIPT = re.compile(r"(?P<lead>(?:^|[\s;&|(])(?P<how>bash|sh|python3?)\s+)"
                         r"(?P<path>[^\s;&|<>'\"`$()-][^\s;&|<>'\"`$()]*)")
SCRIPT_LIMIT = 1_000_000  # a script larger than this is not read here
# Runs the script whose (changed) text is in the variable named by argv[1], as `python SCRIPT ARGS` would run it.
PYTHON_RUNNER = ("import os, sys; name, path = sys.argv[1], sys.argv[2]; sys.argv = sys.argv[2:]; "
                 "sys.path[0] = os.path.dirname(os.path.abspath(path)); text = os.environ.pop(name); "
                 "exec(compile(text, path, 'exec'), {'__name__': '__main__', '__file__': path})")


def here() -> bool:
    """Whether this machine has Codio's workspace folder (a Codio box, or one made by hand)."""
    return Path(CODIO_WORKSPACE).is_dir()


def with_path(text: str, workspace: Path) -> str:
    """`text` with Codio's workspace folder named by `workspace`'s real path."""
    return NAMED.sub(lambda _: str(workspace), text)


def _script(path: str, workspace: Path) -> Path | None:
    """The file a command's word names, inside the workspace (None: not one)."""
    if NAMED.match(path):
        path = str(workspace) + path[len(CODIO_WORKSPACE):]
    file = (workspace / path) if not path.startswith("/") else Path(path)
    try:
        inside = file.resolve().is_relative_to(workspace.resolve())
        if inside and file.is_file() and file.stat().st_size <= SCRIPT_LIMIT:
            return file
    except OSError:
        pass
    return None


def _names_folder(file: Path) -> bool:
    try:
        return NAMED.search(file.read_bytes().decode("utf-8", "replace")) is not None
    except OSError:
        return False


def local_command(command: str, workspace: Path) -> tuple[str, dict[str, str]]:
    """`command` as it runs here without Codio's folder, and the variables it then needs (the changed scripts)."""
    env: dict[str, str] = {}

    def script(found: re.Match[str]) -> str:
        file = _script(found["path"], workspace)
        if file is None or not _names_folder(file):
            return found[0]
        name = f"COURSE_CODIO_SCRIPT_{len(env) + 1}"
        env[name] = with_path(file.read_text(encoding="utf-8", errors="replace"), workspace)
        if found["how"] in ("bash", "sh"):
            return f'{found["lead"]}-c "${name}" {found["path"]}'
        env["COURSE_CODIO_PYTHON"] = PYTHON_RUNNER
        return f'{found["lead"]}-c "$COURSE_CODIO_PYTHON" {name} {found["path"]}'

    changed = RUNS_SCRIPT.sub(script, command)
    return IN_COMMAND.sub(lambda _: shlex.quote(str(workspace)), changed), env


def unchangeable(command: str, workspace: Path) -> str:
    """A file the command names that names Codio's folder but is not run in a way `local_command` can change
    ("" when there is none)."""
    rewritable = {m["path"] for m in RUNS_SCRIPT.finditer(command)}
    try:
        words = shlex.split(command, comments=False)
    except ValueError:
        words = command.split()
    for word in words:
        if word in rewritable:
            continue
        file = _script(word, workspace)
        if file is not None and _names_folder(file):
            return word
    return ""
