"""The slot's namespace host: pid 1 of the slot's own PID namespace, in a network namespace of its own
(loopback only), forked once per slot by the zygote (`pid_namespace.fork_as_init`). It forks each step from its
copy of the zygote's memory, relays the step's loopback to the step's channel, and copies a command's output
from its pipes into its files (`streams.Capture`)."""

from __future__ import annotations

import json
import os
import selectors
import signal
from collections.abc import Callable

from .job import Job
from .kernel import CLONE_NEWNET, check, libc
from .relay import Relay, listen_on_loopback, loopback_up
from .streams import Capture


def host(jobs: int, reports: int, run_step: Callable[[Job, Capture | None], None]) -> None:
    """Serve as the slot's namespace host. For each job read from `jobs` (a JSON line) it forks the step, which
    `run_step(job, capture)` runs (`capture`: a command's output pipes, which the host copies into its files) (building the rest of the box: mounts, chroot, IPC and UTS namespaces, limits, uid,
    filter), relays the step's loopback port to the job's channel, reaps whatever is orphaned, and writes
    `{"exit_code": N}` to `reports` when the step ends; `{"kill": true}` kills the running step; `{"ready": true}`
    once it is set up. One thread, so each fork is safe and no thread is a process id a step can see.
    Between steps the zygote kills all the step left (`kill_step`), so a step sees only pid 1 and its own.
    Exits when `jobs` is closed. Never returns."""
    try:
        os.setsid()  # its own session and group (1 and 1, as a step sees them), none of the grader's
        check(libc.unshare(CLONE_NEWNET), "unshare (network)")
        loopback_up()
        serving = _Host(jobs, reports, run_step)
        os.write(reports, b'{"ready": true}\n')
    except BaseException as exc:  # noqa: BLE001 - the zygote reports it and grades with a box per step
        os.write(reports, (json.dumps({"error": f"the slot's namespace host could not start: {exc}"}) + "\n").encode())
        os._exit(97)
    serving.serve()


class _Host:
    """The host's one loop: jobs in, the relay's connections, orphans reaped, each step's end reported."""

    def __init__(self, jobs: int, reports: int, run_step: Callable[[Job, Capture | None], None]) -> None:
        self.jobs, self.reports, self.run_step = jobs, reports, run_step
        self.selector = selectors.DefaultSelector()
        self.wake_read, self.wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self.wake_write)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # an orphan's end wakes the loop, which reaps it
        self.selector.register(jobs, selectors.EVENT_READ, "jobs")
        self.selector.register(self.wake_read, selectors.EVENT_READ, "wake")
        self.relay: Relay | None = None
        self.step = 0  # the running step's pid; 0: none
        self.capture: Capture | None = None  # the running command's output pipes
        self.buffered = b""

    def serve(self) -> None:
        while True:
            for key, mask in self.selector.select(timeout=1.0):
                if key.data == "jobs":
                    self._read_jobs()
                elif key.data == "wake":
                    try:
                        while os.read(self.wake_read, 512):
                            pass
                    except BlockingIOError:
                        pass
                elif isinstance(key.data, Capture):
                    if not key.data.copy(key.fd):
                        self.selector.unregister(key.fd)
                elif key.data is not None:
                    key.data.handle(key.fileobj, mask)
            self._reap()

    def _read_jobs(self) -> None:
        data = os.read(self.jobs, 65536)
        if not data:
            os._exit(0)  # the zygote is gone
        self.buffered += data
        while b"\n" in self.buffered:
            line, self.buffered = self.buffered.split(b"\n", 1)
            message = json.loads(line)
            if message.get("kill"):
                self._kill()
            elif self.step == 0:
                try:
                    self.step = self._start(Job.from_dict(message))
                except OSError as exc:
                    self._report({"error": f"the step could not be started: {exc}"})

    def _kill(self) -> None:
        for kill in (lambda: os.killpg(self.step, signal.SIGKILL), lambda: os.kill(self.step, signal.SIGKILL)):
            try:
                if self.step:
                    kill()
            except (ProcessLookupError, PermissionError):
                pass

    def _start(self, job: Job) -> int:
        """Fork the step, its loopback port relayed to its channel; returns its pid."""
        if self.relay is not None and self.relay.listener.getsockname()[1] != job.port:
            self.relay.drop_all()
            self.selector.unregister(self.relay.listener)
            self.relay.listener.close()
            self.relay = None
        if self.relay is None:
            self.relay = Relay(self.selector, listen_on_loopback(job.port), job.uds)
        self.relay.uds = job.uds
        capture = Capture(job) if job.command else None
        pid = os.fork()
        if pid == 0:  # the step: none of the host's descriptors, signal handling as a fresh process has
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            self.relay.close_in_child()
            self.selector.close()
            for fd in (self.jobs, self.reports, self.wake_read, self.wake_write):
                os.close(fd)
            self.run_step(job, capture)
            os._exit(97)
        if capture is not None:
            capture.close_in_parent()
            for read in capture.readers():
                self.selector.register(read, selectors.EVENT_READ, capture)
            self.capture = capture
        return pid

    def _reap(self) -> None:
        """Reap every child that ended; when the step is one, report how it ended and drop its connections."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            if pid == 0:
                break
            if pid == self.step:
                self.step = 0
                if self.capture is not None:  # what its pipes hold now, then closed
                    for read in self.capture.readers():
                        self.selector.unregister(read)
                    self.capture.finish()
                    self.capture = None
                if self.relay is not None:
                    self.relay.drop_all()
                self._report({"exit_code": os.waitstatus_to_exitcode(status)})

    def _report(self, message: dict[str, object]) -> None:
        os.write(self.reports, (json.dumps(message) + "\n").encode())
