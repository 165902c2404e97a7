"""PID namespaces: a step sees only itself, its children and pid 1 (root, which it cannot signal). Either the slot's
namespace host is that pid 1 (`fork_as_init`, once per slot), or a step makes its own (`enter_pid_namespace`): a
small init there, and a supervisor outside that ends as the step ended."""

from __future__ import annotations

import ctypes
import os
import signal
import socket

from .kernel import CLONE_NEWPID, check, libc

_OWN_PID_NAMESPACE: int | None = None


def fork_as_init() -> int | None:
    """Fork a child that is pid 1 of a PID namespace of its own, while this (single-threaded, root) process
    stays in its own: the child can then build the step's box and fork the step itself, one process fewer
    than `enter` needs when it starts from an ordinary child. Returns as `os.fork` does; None (nothing
    forked) where the kernel refuses, so the caller forks as usual."""
    global _OWN_PID_NAMESPACE
    if _OWN_PID_NAMESPACE is None:
        try:
            _OWN_PID_NAMESPACE = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
    if libc.unshare(CLONE_NEWPID) != 0:
        return None
    pid = -1
    try:
        pid = os.fork()
    finally:
        if pid != 0 and libc.setns(_OWN_PID_NAMESPACE, CLONE_NEWPID) != 0:  # the parent's next children: as before
            errno = ctypes.get_errno()
            raise OSError(errno, f"could not return to the grader's own PID namespace: {os.strerror(errno)}")
    if pid == 0:
        os.close(_OWN_PID_NAMESPACE)
        _OWN_PID_NAMESPACE = None
    return pid


def enter_pid_namespace(listener: socket.socket | None) -> None:
    """Return in the step, in a new PID namespace, in a session of its own. Only this thread joins the new PID
    namespace (for its children): a forwarder thread keeps the old one, where it can still start a thread per
    connection, and this one starts none. This process stays outside and ends as the step ends (`supervise`);
    its child is pid 1 there, a small init (root, so the step can signal it no more than any of ours) whose
    child is the step. `listener`, the forwarder's, is closed inside."""
    report_in, report_out = os.pipe()
    check(libc.unshare(CLONE_NEWPID), "unshare (PID namespace)")
    pid = os.fork()
    if pid != 0:
        os.close(report_out)
        supervise(pid, report_in)
    os.close(report_in)
    if listener is not None:
        listener.close()
    os.setsid()  # pid 1 leads a session inside the namespace, so the step sees its group as 1, not 0
    pid = os.fork()
    if pid != 0:
        run_init(pid, report_out)
    os.close(report_out)
    os.setsid()


def end_as(code: int) -> None:
    """End this process as a step ended: an exit status (0-255), or a signal (negative). Never returns."""
    if code < 0:
        try:
            signal.signal(-code, signal.SIG_DFL)  # SIGKILL and SIGSTOP have no handler to reset
        except (OSError, ValueError):
            pass
        os.kill(os.getpid(), -code)
    os._exit(code & 0xFF)


def supervise(pid: int, report: int | None = None) -> None:
    """Wait for the child `pid`, then end as the step ended: as `report` (a pipe the namespace's init writes
    the step's end into) says, else as the child did. Never returns."""
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except ChildProcessError:
            os._exit(97)
        except InterruptedError:
            continue
    if report is not None:
        said = os.read(report, 32).decode(errors="replace").strip()
        if said.lstrip("-").isdigit():
            end_as(int(said))
    end_as(os.waitstatus_to_exitcode(status))


def run_init(step: int, report: int) -> None:
    """Pid 1 of the step's namespace: reap whatever is orphaned there; when the step ends, write how it ended
    into `report` (no signal can end pid 1 itself) and exit, and the kernel stops all left. Never returns."""
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(97)
        except InterruptedError:
            continue
        if pid == step:
            os.write(report, str(os.waitstatus_to_exitcode(status)).encode())
            os._exit(0)
