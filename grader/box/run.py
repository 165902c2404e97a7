"""One run of a program in a slot's box, through a channel of the offline API of its own: `run_boxed`, used alike
by the grader's steps (`runner`) and a guide's code tests (`commands`). The job is built here (`make_job`), in the
run's own folders (`box_folders`); what goes wrong on our side raises `GraderFault`, never a learner's zero."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from . import command_python
from .build import SETUP_FAILED
from .environment import command_path, step_env
from .job import Job
from .kernel import mount_tmpfs, unmount

MAX_OUTPUT = 1024 * 1024  # per stream
KEEP_OUTPUT = 20_000  # what is kept in the results of a step's output
WORK_SIZE = "64m"  # a step's working copy, on its own tmpfs
SCRATCH_SIZE = "24m"  # the run's own folders (the step's stdout and stderr, at most 8 MB each), on another
BOX_PORT = 8765  # inside a box, the API answers on the course's usual port (forwarded to the step's channel)
SETUP_FAILED_SAYS = "grading sandbox could not be set up"  # what `build.enter` writes to the step's stderr


class GraderFault(Exception):
    """Something of ours failed around a step: the step is recorded as not graded."""


class Folders(NamedTuple):
    work: Path  # the run's only writable place
    logs: Path  # its output, and the grader's own files, out of the run's reach
    root: Path  # where the full box builds its root


@dataclass(frozen=True)
class Boxed:
    """How a boxed run ended, and what it printed (each stream capped, `flooded` when one went past MAX_OUTPUT)."""

    exit_code: int | None  # None when it timed out
    timed_out: bool
    stdout: str
    stderr: str  # "" where errors went with the output
    flooded: bool
    channel: str  # the name of its channel: its requests in the API's log
    started: float  # time.time() as it started
    seconds: float  # from its start until its output was read


@contextmanager
def box_folders(slot: Any, prefix: str = "grade-") -> Iterator[Folders]:
    """A run's folders: `work` (its only writable place: a size-capped tmpfs where the box can be built, so
    no run fills the disk), `logs` (its output, the grader's only) and `root` (where the box is built)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        # With the box, the run's folders live on a tmpfs of their own too: creating a file or a folder on a
        # disk's filesystem (ext4 searches for a free inode) cost more than the mount, and the disk sees nothing.
        scratch = slot.isolate and mount_tmpfs(tmp, SCRATCH_SIZE)
        try:
            os.chmod(tmp, 0o755)
            work, logs, root = Path(tmp) / "work", Path(tmp) / "logs", Path(tmp) / "root"
            work.mkdir()
            logs.mkdir(mode=0o700)
            root.mkdir()
            on_tmpfs = slot.isolate and mount_tmpfs(str(work), WORK_SIZE)
            try:
                yield Folders(work, logs, root)
            finally:
                if on_tmpfs:
                    unmount(str(work))
        finally:
            if scratch:
                unmount(tmp)


def chown_tree(path: Path, uid: int) -> None:
    """The step's copy becomes its uid's, and no other uid's: another slot's step may not read it."""
    os.chown(path, uid, uid)
    os.chmod(path, 0o700)
    for folder, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(folder, name), uid, uid, follow_symlinks=False)


def read_capped(path: Path, limit: int = MAX_OUTPUT) -> tuple[str, bool]:
    """What a run wrote to `path` (its first and last KEEP_OUTPUT characters), and whether it went past `limit`."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return "", False
    with open(path, "rb") as f:
        data = f.read(min(size, KEEP_OUTPUT))
    text = data.decode("utf-8", "replace")
    if size > KEEP_OUTPUT:
        with open(path, "rb") as f:
            f.seek(max(0, size - KEEP_OUTPUT // 2))
            tail = f.read().decode("utf-8", "replace")
        text = text[: KEEP_OUTPUT // 2] + f"\n[... {size - KEEP_OUTPUT} bytes left out ...]\n" + tail
    return text, size > limit


def make_job(slot: Any, channel: Any, folders: Folders, *, timeout: float, script: str = "", step: int = 0,
             command: str = "", stdin: str = "", merge_output: bool = False, env: dict[str, str] | None = None) -> Job:
    """The job a slot runs: where it works and writes its output, its environment and its way to the API (inside
    the full box, the usual port forwarded to its channel's Unix socket; else its channel's own port)."""
    box = slot.confinement
    work, logs = folders.work, folders.logs
    base_url = f"http://127.0.0.1:{BOX_PORT}/v1" if box.isolate else channel.base_url
    environment = step_env(str(work), base_url, box.course_root)
    python = command_python.folder() if command and box.isolate else ""
    if command:  # a guide's code test: `python` and `python3` are the grader's Python, with its packages
        environment["PATH"] = command_path(full_box=box.isolate, python=python)
    scratch = ""
    if not box.isolate:  # no private /tmp without the full box: a temp folder of its own (TMPDIR), beside its copy
        scratch = str(work.parent / "scratch")
        os.makedirs(scratch, mode=0o700, exist_ok=True)
        if box.uid is not None:
            os.chown(scratch, box.uid, box.uid)
        environment["TMPDIR"] = scratch
    environment.update(env or {})
    return Job(work=str(work), root=str(folders.root), stdout=str(logs / "out"),
               stderr=str(logs / ("out" if merge_output else "err")), env=environment, timeout=timeout,
               confinement=box, script=script, step=step, command=command, stdin=stdin, scratch=scratch, python=python,
               uds=channel.address if box.isolate else "", port=BOX_PORT,
               connect_port=0 if box.isolate else int(channel.address.rsplit(":", 1)[1]))


def run_boxed(slot: Any, api: Any, folders: Folders, *, timeout: float, script: str = "", step: int = 0,
              command: str = "", stdin: str | None = None, merge_output: bool = False,
              env: dict[str, str] | None = None) -> Boxed:
    """Run a lesson's step (`script`, `step`) or a shell `command` in `slot`'s box, in `folders`, through a channel
    of `api` of its own, at most `timeout` seconds: `stdin` is typed in; with `merge_output` its errors go with its
    output; `env` is added to its environment. Raises GraderFault where the engine or the box failed (ours)."""
    if stdin is not None:
        (folders.logs / "in").write_text(stdin, encoding="utf-8")
    channel = api.open_channel("unix" if slot.isolate else "tcp")
    try:
        job = make_job(slot, channel, folders, timeout=timeout, script=script, step=step, command=command,
                       stdin=str(folders.logs / "in") if stdin is not None else "", merge_output=merge_output, env=env)
        started, clock = time.time(), time.monotonic()
        try:
            reply = slot.run(job)
        except Exception as exc:  # noqa: BLE001 - the engine (our process) failed, not the learner's code
            raise GraderFault(f"the grading engine failed ({type(exc).__name__}: {exc})") from None
    finally:
        api.close_channel(channel)
    if reply.get("fault"):  # the engine could not run the step (its namespace host ended): ours, not the learner's
        raise GraderFault(f"the grading engine failed ({reply['fault']})")
    stdout, out_flood = read_capped(Path(job.stdout))
    stderr, err_flood = ("", False) if merge_output else read_capped(Path(job.stderr))
    errors = stdout if merge_output else stderr
    if reply.get("exit_code") == SETUP_FAILED and SETUP_FAILED_SAYS in errors:
        raise GraderFault(errors.strip().splitlines()[-1])
    timed_out = bool(reply.get("timed_out"))
    return Boxed(None if timed_out else reply.get("exit_code"), timed_out, stdout, stderr, out_flood or err_flood,
                 channel.name, started, time.monotonic() - clock)
