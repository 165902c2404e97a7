"""A guide's Try-it button, run outside Codio: its command, with a shell, in the guide's workspace.

Codio runs a button's command in /home/codio/workspace, the folder holding `.guides`; here that is the
guide's folder on this machine. `run_command()` is the one function that does it, for the terminal
(`course try GUIDE PAGE [N]`) and for the Try-it cells of a guide's notebook:

    from course.jupyter.try_buttons import run_command

    run_command("python3 code/loops.py 1", workspace=".")

A relative `workspace` is a path from the notebook's own folder (`course.jupyter.guide_place`), so that a
notebook copied with its guide still finds it; the terminal passes the guide's folder as it found it.

In a terminal the command gets the terminal itself (it may ask for input, and colours stay); in a
notebook its output is read as it comes and printed into the cell. Standard library only: a notebook
cell that runs a button does not import the widgets.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import CourseError
from .guide_place import guide_folder

__all__ = ["Finished", "run_command"]


@dataclass(frozen=True)
class Finished:
    """How a command ended: its exit status (128 + N when signal N ended it, as a shell says it)."""

    command: str
    returncode: int

    def __repr__(self) -> str:
        return f"(exit status {self.returncode}: {self.command})"


def _shell() -> list[str]:
    """bash where there is one (Codio's buttons run in bash), else the system's sh."""
    bash = shutil.which("bash")
    return [bash, "-c"] if bash else ["/bin/sh", "-c"]


def _own_terminal() -> bool:
    """Is sys.stdout this process's real standard output (a terminal or a pipe), not a notebook's cell?"""
    try:
        return sys.stdout is sys.__stdout__ and sys.stdout.fileno() == 1
    except (AttributeError, OSError, ValueError):
        return False


def run_command(command: str, workspace: Path | str) -> Finished:
    """Run `command` with a shell in `workspace`; its output streams to this process's output (a notebook
    cell's too). Returns how it ended. A relative `workspace` is the guide's folder from the notebook's folder."""
    folder = Path(workspace)
    if not folder.is_absolute():  # a guide notebook's cell: its guide, found from the notebook's own folder
        folder = guide_folder(folder)
    if not folder.is_dir():
        raise CourseError(f"the guide's workspace {folder} is not a folder here, so its command can't run there.",
                          hint="Run it from the guide's own copy: course try GUIDE PAGE, with GUIDE the folder "
                               "holding .guides.")
    env = {**os.environ, "PWD": str(folder.resolve())}
    sys.stdout.flush()
    sys.stderr.flush()
    if _own_terminal():
        proc = subprocess.run([*_shell(), command], cwd=folder, env=env, check=False)
        code = proc.returncode
    else:  # a notebook: the cell shows what the command prints, as it prints it
        with subprocess.Popen([*_shell(), command], cwd=folder, env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
            assert proc.stdout is not None
            for line in iter(proc.stdout.readline, b""):
                sys.stdout.write(line.decode("utf-8", "replace"))
                sys.stdout.flush()
            code = proc.wait()
    return Finished(command, 128 - code if code < 0 else code)
