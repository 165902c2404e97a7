"""The plain engine's launcher: `python -m grader.box.jail JOB` boxes itself, then execs a fresh interpreter
for the step, exactly as `python imageGen.py N` would run, with the same box as the warm engine."""

from __future__ import annotations

import os
import signal
import sys

from grader.box.build import enter
from grader.box.job import Job
from grader.box.kill import become_subreaper, reap
from grader.box.privileges import FIRST_UID
from grader.box.streams import open_streams, restore_signals


def main() -> None:
    job = Job.from_json(sys.argv[1])
    in_session = open_streams(job, null_stdin=False)  # stdin: what a guide's code test types in, else as inherited
    python = sys.executable
    # A lesson step runs as `python imageGen.py N`; a guide's code test runs its own command with the shell.
    argv = ["/bin/sh", "-c", job.command] if job.command else [python, job.script, str(job.step)]
    become_subreaper()
    restore_signals()
    if enter(job, in_session=in_session):  # pid 1 of the step's own PID namespace, its loopback forwarded by the parent: exec
        os.execv(argv[0], argv)
    # Without a PID namespace the loopback forwarder, if any, is a thread of this process: it must outlive
    # the exec, so the fresh interpreter runs in a child while this process keeps forwarding until it ends.
    pid = os.fork()
    if pid == 0:
        os.execv(argv[0], argv)
    _, status = os.waitpid(pid, 0)
    if os.getuid() >= FIRST_UID:  # only as a sandbox uid: kill(-1) then reaches the step's leftovers only
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
    reap()
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


if __name__ == "__main__":
    main()
