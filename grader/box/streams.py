"""A run's standard streams: its output on 1 and 2 and what it is typed on 0 (`open_streams`), set in the freshly
forked child before its box is built, and the signals a command gets as a shell would give them (`restore_signals`).

Each stream is the run's uid's (in a folder only the grader enters), so a program that opens /dev/stdout,
/dev/stderr or /dev/stdin by name (links into /proc/self/fd, which the kernel lets only the owner reopen) reopens
its own stream. A guide's command writes into a pipe, as on Codio, not into the file itself: `echo fail >
/dev/stderr` in a test script then adds a line instead of truncating what was printed before it. The pipe is copied
into the output file (at most `Limits.file_size`, as a file written directly; past it the pipe is closed and the
program's next write fails) by the process that waits for the run (`Capture`): the slot's namespace host, or else
the process the run was forked from, which stays behind outside the box, leads the run's session (so a timeout that
kills the session's group still ends all the run started) and ends as the run ended."""

from __future__ import annotations

import os
import select
import signal

from .job import Job
from .limits import LIMITS
from .pid_namespace import end_as

CHUNK = 65536
PYTHON_IGNORES = ("SIGPIPE", "SIGXFZ", "SIGXFSZ")  # ignored by Python at start-up, and so by what it execs


def restore_signals() -> None:
    """Before a command is exec'd from Python: the signals Python ignores back to their defaults, as a shell or
    Codio's runner gives them (`subprocess`'s restore_signals), so `yes | head -1` ends quietly by SIGPIPE and a
    program past the file size limit is stopped by SIGXFSZ, instead of each seeing an error it may print."""
    for name in PYTHON_IGNORES:
        number = getattr(signal, name, None)
        if number is not None:
            signal.signal(number, signal.SIG_DFL)


def _owner(job: Job) -> int | None:
    uid = job.confinement.uid
    return uid if uid is not None and os.geteuid() == 0 else None


def _open_output(job: Job) -> tuple[int, int]:
    out = os.open(job.stdout, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    err = out if job.stderr == job.stdout else os.open(job.stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    return out, err


class Capture:
    """A command's output through a pipe into each of its files (one pipe where output and errors go together),
    made before the fork by the process that waits for the run, which copies it (`copy`, then `finish`)."""

    def __init__(self, job: Job) -> None:
        self.out, self.err = _open_output(job)
        self.pipes = {fd: os.pipe() for fd in dict.fromkeys((self.out, self.err))}
        owner = _owner(job)
        if owner is not None:
            for _, write in self.pipes.values():
                os.fchown(write, owner, owner)
        self.sources = {read: fd for fd, (read, _) in self.pipes.items()}  # the pipes still open, to their files
        self.written = dict.fromkeys(self.pipes, 0)

    def child_ends(self) -> tuple[int, int]:
        """In the run: the write ends for 1 and 2."""
        return self.pipes[self.out][1], self.pipes[self.err][1]

    def close_in_child(self) -> None:
        """In the run, once 1 and 2 are set: none of the rest."""
        for fd, (read, write) in self.pipes.items():
            for end in (read, write, fd):
                if end > 2:
                    os.close(end)

    def close_in_parent(self) -> None:
        """In the waiting process, after the fork: the write ends are the run's alone."""
        for _, write in self.pipes.values():
            os.close(write)

    def readers(self) -> list[int]:
        return list(self.sources)

    def copy(self, read: int) -> bool:
        """One read of pipe `read` into its file; False (and the pipe closed) once it is done: ended, drained
        after the run ended (`finish`), or full: a flood's next write then fails."""
        try:
            data = os.read(read, CHUNK)
        except BlockingIOError:
            data = None
        target = self.sources[read]
        room = LIMITS.file_size - self.written[target]
        if data and room > 0:
            os.write(target, data[:room])
            self.written[target] += min(len(data), room)
        if data and room > len(data):
            return True
        os.close(read)
        del self.sources[read]
        return False

    def finish(self) -> None:
        """The run has ended: copy what its pipes hold now (not what a leftover of it may write later), then close
        everything."""
        for read in list(self.sources):
            os.set_blocking(read, False)
            while read in self.sources and self.copy(read):
                pass
        for fd in self.pipes:
            os.close(fd)

    def serve(self, child: int) -> None:
        """In the process the run `child` was forked from, where nothing else waits for it: copy its pipes until it
        has ended and they are drained, then end as it ended. Never returns."""
        self.close_in_parent()
        status: int | None = None
        try:
            handle = os.pidfd_open(child)
        except (AttributeError, OSError):
            handle = None
        try:
            while self.sources and status is None:
                waiting = [*self.sources, *([handle] if handle is not None else [])]
                for read in select.select(waiting, [], [], None if handle is not None else 0.005)[0]:
                    if read in self.sources:
                        self.copy(read)
                done, code = os.waitpid(child, os.WNOHANG)
                if done:
                    status = code
            self.finish()
        except BaseException:  # noqa: BLE001 - the copy failed: the run still ends as it ended
            pass
        if status is None:
            status = os.waitpid(child, 0)[1]
        end_as(os.waitstatus_to_exitcode(status))


def open_streams(job: Job, *, null_stdin: bool, capture: Capture | None = None) -> bool:
    """Put the run's output on 1 and 2, and on 0 what it is typed (`job.stdin`), else /dev/null where `null_stdin`
    (else 0 stays as inherited). A guide's command (`job.command`) writes into `capture`'s pipes, made by the
    process that waits for it; without one, this process makes a session of its own and forks, stays behind to copy
    them (`Capture.serve`), and this returns True in its child, which is in that session: killing the session's
    group (as the waiting process does at a timeout) still ends the run and all it started."""
    given = os.open(job.stdin, os.O_RDONLY) if job.stdin else -1
    owner = _owner(job)
    if owner is not None and given != -1:
        os.fchown(given, owner, owner)
    in_session = False
    if job.command and capture is None:
        capture = Capture(job)
        os.setsid()
        pid = os.fork()
        if pid != 0:
            capture.serve(pid)
        in_session = True
    if capture is not None:
        out, err = capture.child_ends()
    else:
        out, err = _open_output(job)
        if owner is not None:
            for fd in {out, err}:
                os.fchown(fd, owner, owner)
    stdin = given if given != -1 else (os.open(os.devnull, os.O_RDONLY) if null_stdin else -1)
    for fd, target in ((stdin, 0), (out, 1), (err, 2)):
        if fd != -1:
            os.dup2(fd, target)
    if capture is not None:
        capture.close_in_child()
    else:
        for fd in {out, err} - {0, 1, 2}:
            os.close(fd)
    if stdin > 2:
        os.close(stdin)
    return in_session
