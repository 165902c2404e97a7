"""A guide's code tests, run by the grader on a learner's files, in the same box as a lesson's steps.

A code test's command (`python3 code/loops.py`, `bash .guides/secure/check.sh`) runs a learner's program,
so the grader runs it only in its box (`grader.sandbox`): a fresh copy of the guide's workspace with the
learner's files laid over it (the learner's own `.guides`, if any, is left out: the tests are the guide's),
on a size-capped tmpfs, as a uid of its own, without network but the offline API, under the limits. The
command runs with the shell, its input on standard input, its output and errors together as a terminal
shows them. One copy serves one assessment: a compile step and the cases after it see each other's files.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from course.lesson.code_tests import Ran

from .copying import SKIPPED, copy_tree
from .runner import BOX_PORT, MAX_OUTPUT, GraderFault, _chown_tree, _env, _read_capped, box_folders

Runner = Callable[[str, str, float], Ran]
GUIDE_SKIPPED = (*SKIPPED, ".guides")


@contextmanager
def boxed_workspace(slot: Any, api: Any, guide_root: Path, learner_root: Path | None) -> Iterator[Runner]:
    """A runner for commands in a fresh boxed copy of the guide's workspace with the learner's files on top."""
    with box_folders(slot, prefix="guide-test-") as (work, logs, root):
        copy_tree(guide_root, work, skipped=SKIPPED)
        if learner_root is not None:
            copy_tree(learner_root, work, skipped=GUIDE_SKIPPED)
        if slot.uid is not None:
            _chown_tree(work, slot.uid)

        def run(command: str, stdin: str, timeout: float) -> Ran:
            (logs / "in").write_text(stdin, encoding="utf-8")
            channel = api.open_channel("unix" if slot.isolate else "tcp")
            base_url = f"http://127.0.0.1:{BOX_PORT}/v1" if slot.isolate else channel.base_url
            job = {"work": str(work), "command": command, "stdin": str(logs / "in"), "stdout": str(logs / "out"),
                   "stderr": str(logs / "out"), "env": _env(str(work), base_url), "timeout": timeout,
                   "root": str(root), "uds": channel.address if slot.isolate else "", "port": BOX_PORT}
            started = time.monotonic()
            try:
                reply = slot.run(job)
            except Exception as exc:  # noqa: BLE001 - the engine (ours) failed, not the learner's code
                raise GraderFault(f"the grading engine failed ({type(exc).__name__}: {exc})") from None
            finally:
                api.close_channel(channel)
            output, _ = _read_capped(logs / "out", MAX_OUTPUT)
            if reply.get("exit_code") == 97 and "grading sandbox could not be set up" in output:
                raise GraderFault(output.strip().splitlines()[-1])
            code = None if reply.get("timed_out") else reply.get("exit_code")
            return Ran(command, code, output.replace(str(work) + "/", ""), time.monotonic() - started)

        yield run


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
