"""How a step's process is started: warm (a zygote forks a boxed child) or plain (a fresh interpreter).

Both put the step in the same box (`sandbox.enter`); each worker slot has its own uid, so one
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

from .sandbox import FIRST_UID, box, join_cgroups, kill_step, kill_uid, leftovers, make_cgroups, python_env

UID_COUNT = 1000

REPO = Path(__file__).resolve().parent.parent


class Slot:
    """One worker's place: its uid and, for the warm engine, its zygote."""

    def __init__(self, index: int, warm: bool) -> None:
        self.index = index
        found = box()
        self.isolate = found.full
        self.pid_namespace = found.pid_namespace
        self.seccomp = found.seccomp
        self._uid_lock: int | None = None
        self.cgroups: list[str] = []
        self.uid = self._claim_uid() if self.isolate else None
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
            self.cgroups = make_cgroups(f"uid-{uid}")
            return uid
        raise RuntimeError(f"all {UID_COUNT} sandbox uids are in use by other grading runs")

    def _start_zygote(self) -> None:
        """Start the zygote; its first job waits until it is ready (`_ready`), so the zygotes of an engine
        and the offline API warm up side by side."""
        self.zygote = subprocess.Popen([sys.executable, "-m", "grader.zygote"], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True, env=python_env(), cwd=str(REPO))
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
        step's processes before it when the step runs out of memory (`sandbox.enter` marks them first in
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
            pass  # each step then joins the cgroups itself, as `sandbox.enter` checks

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        job = {**job, "uid": self.uid, "isolate": self.isolate, "cgroups": self.cgroups,
               "pid_namespace": self.pid_namespace, "seccomp": self.seccomp}
        if self.zygote is not None:
            assert self.zygote.stdin is not None and self.zygote.stdout is not None
            if self.zygote.poll() is not None:
                self._start_zygote()
            if self._waiting:
                self._ready()
            self.zygote.stdin.write(json.dumps(job) + "\n")
            self.zygote.stdin.flush()
            reply = json.loads(self.zygote.stdout.readline())
        else:
            reply = self._run_plain(job)
        ours = tuple(pid for pid in (self.zygote.pid if self.zygote else None, reply.get("host")) if pid)
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

    def _run_plain(self, job: dict[str, Any]) -> dict[str, Any]:
        proc = subprocess.Popen([sys.executable, "-m", "grader.jail", json.dumps(job)], env=python_env(),
                                cwd=str(REPO), stdin=subprocess.DEVNULL)
        timed_out = False
        try:
            proc.wait(timeout=float(job.get("timeout", 30)))
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
    """A pool of slots; `slot()` lends one to a learner's steps."""

    def __init__(self, workers: int, *, warm: bool = True) -> None:
        self.slots: queue.Queue[Slot] = queue.Queue()
        self._all = [Slot(i, warm) for i in range(workers)]
        for slot in self._all:
            self.slots.put(slot)

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
