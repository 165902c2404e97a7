"""How a step's process is started: warm (a zygote forks a boxed child) or plain (a fresh interpreter).

Both put the step in the same box (`build.enter`); each worker slot has its own uid, so one
slot's leftovers can be killed without touching another's.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from course.errors import CourseError

from ..public import make_private, public_root, secrets_in_checkout, unreachable
from .cgroups import join_cgroups, make_cgroups
from .environment import python_env
from .job import Confinement, Job
from .kill import kill_step, kill_uid, leftovers
from .privileges import FIRST_UID
from .probe import box
from .weak_box import remove_files_of

UID_COUNT = 1000

REPO = Path(__file__).resolve().parent.parent.parent


class Slot:
    """One worker's place: its uid and, for the warm engine, its zygote."""

    def __init__(self, index: int, warm: bool, course_root: Path = REPO, *, commands_only: bool = False) -> None:
        self.index = index
        self.commands_only = commands_only  # its zygote runs shell commands only, and so imports no SDK
        found = box()
        self.isolate = found.full
        self.pid_namespace = found.pid_namespace
        self.seccomp = found.seccomp
        self.landlock = found.landlock
        self.course_root = course_root  # the folder whose `course` package the steps import
        self._uid_lock: int | None = None
        self.cgroups: list[str] = []
        self.uid = self._claim_uid() if found.own_uid else None
        self.zygote: subprocess.Popen[str] | None = None
        self._waiting = False
        self.lock = threading.Lock()
        if warm:
            self._start_zygote()

    def _claim_uid(self) -> int:
        """A sandbox uid no other slot on this machine holds, even in another grading run: after each step
        every process of the uid is killed, so two runs sharing one would kill each other's steps."""
        import fcntl

        folder = Path(tempfile.gettempdir()) / "course-grader-uids"
        folder.mkdir(mode=0o700, exist_ok=True)
        for uid in range(FIRST_UID, FIRST_UID + UID_COUNT):
            fd = os.open(folder / f"{uid}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            self._uid_lock = fd
            kill_uid(uid)  # leftovers of a run that died without cleaning up
            if not box().full:
                remove_files_of(uid)
            self.cgroups = make_cgroups(f"uid-{uid}")
            return uid
        raise RuntimeError(f"all {UID_COUNT} sandbox uids are in use by other grading runs")

    def _start_zygote(self) -> None:
        """Start the zygote; its first job waits until it is ready (`_ready`), so the zygotes of an engine
        and the offline API warm up side by side."""
        lean = ["--commands-only"] if self.commands_only else []
        self.zygote = subprocess.Popen([sys.executable, "-m", "grader.box.zygote", *lean], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True, env=python_env(self.course_root),
                                       cwd=str(self.course_root))
        self._waiting = True

    def _ready(self) -> None:
        assert self.zygote is not None and self.zygote.stdout is not None
        self._waiting = False
        ready = self.zygote.stdout.readline()
        if '"ready"' not in ready:
            raise RuntimeError("the grading zygote did not start")
        self._zygote_joins()

    def _zygote_joins(self) -> None:
        """The zygote lives in its slot's cgroups, so each step is forked into them instead of moving there
        (a move costs milliseconds). Its own pages stay charged where they were, and the kernel stops a
        step's processes before it when the step runs out of memory (`build.enter` marks them first in
        line); the steps' limits are otherwise unchanged."""
        if self.zygote is None or not self.cgroups:
            return
        try:
            Path(f"/proc/{self.zygote.pid}/oom_score_adj").write_text("-1000")  # where we may: never it
        except OSError:
            pass
        try:
            join_cgroups(self.zygote.pid, self.cgroups)
        except OSError:
            pass  # each step then joins the cgroups itself, as `build.enter` checks

    @property
    def confinement(self) -> Confinement:
        """This slot's box, as its next job carries it."""
        return Confinement(isolate=self.isolate, pid_namespace=self.pid_namespace, seccomp=self.seccomp,
                           landlock=self.landlock, uid=self.uid, cgroups=tuple(self.cgroups),
                           course_root=str(self.course_root), checkout=str(REPO))

    def run(self, job: Job) -> dict[str, Any]:
        """Run `job` in this slot's box (warm: its zygote forks it; else a fresh interpreter); how it ended:
        `exit_code` (None when `timed_out`), and `fault` where the engine could not run it."""
        if self.zygote is not None:
            assert self.zygote.stdin is not None and self.zygote.stdout is not None
            if self.zygote.poll() is not None:
                self._start_zygote()
            if self._waiting:
                self._ready()
            self.zygote.stdin.write(job.to_json() + "\n")
            self.zygote.stdin.flush()
            reply = json.loads(self.zygote.stdout.readline())
        else:
            reply = self._run_plain(job)
        ours = tuple(pid for pid in (self.zygote.pid if self.zygote else None, reply.get("host")) if pid)
        if self.uid is not None and not self.isolate:  # no private /tmp: what the step left there goes with it
            remove_files_of(self.uid)
        if self.uid is not None and leftovers(self.uid, self.cgroups, ours):
            # Something of the step lingers that we cannot reap (a zombie adopted by init): it would count
            # against the next step's limits, so this slot moves on to a fresh uid.
            self._release_uid(keep_locked=True)
            self.uid = self._claim_uid()
            self._zygote_joins()
        return reply

    def _release_uid(self, keep_locked: bool = False) -> None:
        if self._uid_lock is not None and not keep_locked:
            os.close(self._uid_lock)
        self._uid_lock = None

    def _run_plain(self, job: Job) -> dict[str, Any]:
        proc = subprocess.Popen([sys.executable, "-m", "grader.box.jail", job.to_json()], env=python_env(self.course_root),
                                cwd=str(self.course_root), stdin=subprocess.DEVNULL)
        timed_out = False
        try:
            proc.wait(timeout=job.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        for kill in (lambda: os.killpg(proc.pid, signal.SIGKILL), proc.kill):
            try:
                kill()
            except (ProcessLookupError, PermissionError):
                pass
        proc.wait()
        kill_step(self.uid, self.cgroups)
        return {"exit_code": None if timed_out else proc.returncode, "timed_out": timed_out}

    def close(self) -> None:
        if self.zygote is not None:
            try:
                self.zygote.stdin.close()  # type: ignore[union-attr]
                self.zygote.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.zygote.kill()
                self.zygote.wait()
            if self.zygote.stdout is not None:
                self.zygote.stdout.close()
        self._release_uid()


class Engine:
    """A pool of slots; `slot()` lends one to a learner's steps.

    Without the full box, steps import the course from its public copy (`grader.public`); where they run as
    uids of their own (root without CAP_SYS_ADMIN), the checkout's secrets and the folders in `private`
    (submissions, the out folder) are made unreadable to those uids first, and a Python those uids cannot
    read is refused with the reason (`CourseError`) before any step runs. `notes` says what was done.
    `commands_only`: its runs are shell commands only (a guide's code tests), so each zygote imports no SDK
    and each run is forked from a process a quarter the size."""

    def __init__(self, workers: int, *, warm: bool = True, commands_only: bool = False,
                 private: tuple[Path, ...] = ()) -> None:
        self.slots: queue.Queue[Slot] = queue.Queue()
        self.notes: list[str] = []
        found = box()
        course_root = REPO if found.full else public_root()
        self._all: list[Slot] = []
        try:
            for i in range(workers):
                self._all.append(Slot(i, warm, course_root, commands_only=commands_only))
            if found.own_uid and not found.full:
                self._guard(self._all[0].uid, course_root, [*secrets_in_checkout(), *private])
        except BaseException:
            self.close()
            raise
        for slot in self._all:
            self.slots.put(slot)

    def _guard(self, uid: int | None, course_root: Path, private: list[Path]) -> None:
        assert uid is not None
        missing = unreachable(uid, course_root)
        if missing:
            raise CourseError(
                f"steps run as uid {uid} here (root without CAP_SYS_ADMIN, so no box of namespaces), and that uid "
                f"cannot read {missing[0]}: install the course with a Python every user may read (the system's "
                "python3, or one under /usr/local or /opt), or let others enter the folders above it (chmod o+x)")
        changed = make_private(uid, [p.resolve() for p in private])
        if changed:
            self.notes.append(f"made readable by their owner only, so that steps (uid {FIRST_UID} and up) cannot read "
                              f"them: {', '.join(str(p) for p in changed)}")

    @contextmanager
    def slot(self) -> Iterator[Slot]:
        slot = self.slots.get()
        try:
            yield slot
        finally:
            self.slots.put(slot)

    def close(self) -> None:
        for slot in self._all:
            slot.close()
