"""The warm engine: one process per worker that imports the SDK once and forks a boxed child per step.

Protocol on stdin/stdout, one JSON object per line: a job in (see `sandbox.enter` and `engine.py`),
`{"exit_code": int | null, "timed_out": bool}` out. The zygote stays single-threaded, so forking is safe.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time


def _warm_up() -> None:
    """Import now what every step would otherwise import again: about a second per step saved."""
    import base64  # noqa: F401
    import urllib.request  # noqa: F401

    import openai
    import openai.resources.images  # noqa: F401

    import course.connect  # noqa: F401
    import course.lesson.hints
    import course.steps  # noqa: F401

    client = openai.OpenAI(api_key="sk-warm", base_url="http://127.0.0.1:9/v1")
    _ = client.images  # the SDK imports its resources lazily
    client.close()
    course.lesson.hints.catalogue()
    from grader import syscalls

    if syscalls.available()[0]:
        syscalls.prepare()  # importing the binding alone takes ~25 ms: once here, not once per step


def _child(job: dict) -> None:
    from course.scripts import flush_std, run_as_main
    from grader.sandbox import enter

    out = os.open(job["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    err = os.open(job["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(err, 2)
    for fd in (out, err, null):
        os.close(fd)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    enter(job)
    code = run_as_main(job["script"], [str(job["step"])], job["work"])
    flush_std()
    os._exit(code & 0xFF)


def wait(pid: int, timeout: float, uid: int | None, cgroups: list[str] | None = None) -> dict:
    from grader.sandbox import kill_step

    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.003)
    else:
        status = None
    timed_out = status is None
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except (ProcessLookupError, PermissionError):
            pass
    if timed_out:
        _, status = os.waitpid(pid, 0)
    kill_step(uid, cgroups or [])
    if timed_out:
        return {"exit_code": None, "timed_out": True}
    assert status is not None
    code = os.waitstatus_to_exitcode(status)
    return {"exit_code": code, "timed_out": False}


def main() -> None:
    from grader.sandbox import become_subreaper

    _warm_up()
    become_subreaper()
    reply = sys.stdout
    print(json.dumps({"ready": True}), file=reply, flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        reply.flush()
        pid = os.fork()
        if pid == 0:
            _child(job)
        print(json.dumps(wait(pid, float(job.get("timeout", 30)), job.get("uid"), job.get("cgroups"))), file=reply,
              flush=True)


if __name__ == "__main__":
    main()
