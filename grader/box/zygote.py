"""The warm engine: one process per worker that imports the SDK once and forks a boxed child per step.

Protocol on stdin/stdout, one JSON object per line: a job in (`job.Job`, see `build.enter` and `engine.py`),
`{"exit_code": int | null, "timed_out": bool}` out (with `"host": pid` where a namespace host ran the
step, and `"fault"` where it could not). The zygote stays single-threaded, so forking is safe.

With the full box, the zygote forks once per slot a namespace host (`host.host`): pid 1 of the slot's
own PID namespace, in a network namespace with loopback only, which forks each step from its copy of the
zygote's memory and relays the step's loopback to the step's channel. A step then costs one fork of the
zygote's image, and the slot's PID and network namespaces are made once; each step still gets its own
mount, IPC and UTS namespaces, root, copy, limits and filter, and nothing of a step outlives it (the
zygote kills what is left before the next one). Where the host cannot start, each step gets namespaces
of its own as before.

A guide's code test (a job with a `command`) is started the same way, its box built around the forked child, which
then execs the shell with the command as the plain engine's `jail` does: the test's own processes and environment are
the same either way, without a fresh interpreter to start and box each time. A zygote started with `--commands-only`
(an engine for a guide's code tests) imports none of the SDK and the course: a quarter of the memory to fork and
tear down for each run.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import time

from grader.box import syscalls
from grader.box.build import enter
from grader.box.host import host
from grader.box.job import Job
from grader.box.kill import become_subreaper, kill_step, reap
from grader.box.pid_namespace import fork_as_init
from grader.box.privileges import FIRST_UID
from grader.box.streams import Capture, open_streams, restore_signals


def _warm_up() -> None:
    """Import now what every step would otherwise import again: about a second per step saved."""
    import base64  # noqa: F401
    import urllib.request  # noqa: F401

    import openai
    import openai.resources.images  # noqa: F401

    import dis  # noqa: F401  (the runner reads whether an earlier step hands anything back)

    import course.connect  # noqa: F401
    import course.handoffs
    import course.hints
    import course.steps  # noqa: F401

    import course.scripts  # noqa: F401  (what each step runs the learner's script with)

    _share_default_tls_context()
    client = openai.OpenAI(api_key="sk-warm", base_url="http://127.0.0.1:9/v1")
    _ = client.images  # the SDK imports its resources lazily
    client.close()
    _exercise_sdk(openai)
    course.hints.catalogue()
    course.handoffs.handoff(1, 1)  # the lessons' hand-offs read once, for every step
    if syscalls.available()[0]:
        syscalls.prepare()  # importing the binding alone takes ~25 ms: once here, not once per step


def _share_default_tls_context() -> None:
    """Each `OpenAI()` builds the default HTTPS context of its HTTP library, and OpenSSL reads every root
    certificate to do it: about half of a step's own time, though a step in the box only speaks plain HTTP
    to the offline API. Build that default context once, here, and let the steps' clients share it (forked,
    so each step has its own copy); a client asking for anything else (`verify=`, `cert=`, `SSL_CERT_FILE`
    set by the script) gets its own, as before."""
    import importlib

    for package in ("httpx2", "httpx"):  # the SDK's HTTP library, and the one learners' code may use
        try:
            transports = importlib.import_module(f"{package}._transports.default")
        except ImportError:
            continue
        build = transports.create_ssl_context
        shared: dict[tuple, object] = {}

        def create_ssl_context(verify=True, cert=None, trust_env=True, _build=build, _shared=shared):  # type: ignore[no-untyped-def]
            if verify is not True or cert is not None:
                return _build(verify=verify, cert=cert, trust_env=trust_env)
            key = (trust_env, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
            if key not in _shared:
                _shared[key] = _build(verify=True, cert=None, trust_env=trust_env)
            return _shared[key]

        create_ssl_context.__wrapped__ = build  # type: ignore[attr-defined]
        transports.create_ssl_context = create_ssl_context
        create_ssl_context()


def _exercise_sdk(openai) -> None:  # type: ignore[no-untyped-def]
    """One generation and one refusal through the SDK, answered in memory: the SDK's lazy work (its platform
    headers, which run `uname -p` in a subprocess; its response and error types) is done once, here, instead
    of in every step. Nothing is sent anywhere; an SDK this does not fit is simply left cold."""
    import importlib

    try:
        probe = openai.OpenAI(api_key="sk-warm", base_url="http://127.0.0.1:9/v1")
        library = next(c for c in type(probe._client).__mro__ if not c.__module__.startswith("openai"))
        http = importlib.import_module(library.__module__.split(".")[0])  # httpx2, or httpx for older SDKs
        probe.close()

        def answer(request):  # type: ignore[no-untyped-def]
            if b"255x255" in request.content:
                return http.Response(400, json={"error": {"message": "'255x255' is not one of ['256x256', "
                                                          "'512x512', '1024x1024'] - 'size'", "type":
                                                          "invalid_request_error", "param": None, "code": None}})
            return http.Response(200, json={"created": 0, "data": [{"url": "http://127.0.0.1:9/warm.png"}]})

        client = openai.OpenAI(api_key="sk-warm", base_url="http://127.0.0.1:9/v1", max_retries=0,
                               http_client=http.Client(transport=http.MockTransport(answer)))
        client.images.generate(model="dall-e-2", prompt="warm", n=1, size="256x256")
        try:
            client.images.generate(model="dall-e-2", prompt="warm", n=1, size="255x255")
        except openai.BadRequestError:
            pass
        client.close()
    except Exception:  # noqa: BLE001 - a warm-up, not a requirement
        pass


def _child(job: Job, hosted: bool = False, capture: Capture | None = None) -> None:
    """The step: its output in its files, its box built around it (`build.enter`), then the learner's script run
    as `python SCRIPT STEP` would. Never returns."""
    in_session = open_streams(job, null_stdin=True, capture=capture)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    in_namespace = enter(job, hosted=hosted, in_session=in_session)
    if job.command:  # a guide's code test: its shell, exactly as the plain engine's `jail` starts it
        _exec_command(job.command, in_namespace)
    from course.scripts import flush_std, run_as_main  # imported already, unless the zygote is for commands only

    code = run_as_main(job.script, [str(job.step)], job.work)
    flush_std()
    os._exit(code & 0xFF)


def _exec_command(command: str, in_namespace: bool) -> None:
    """Run a guide's command with the shell as `jail` does: exec'd where the step is its PID namespace's, else in a
    child while this process (whose thread may forward the loopback) waits for it. Never returns."""
    argv = ["/bin/sh", "-c", command]
    restore_signals()
    if in_namespace:
        os.execv(argv[0], argv)
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


def _wait_until(pid: int, deadline: float) -> int | None:
    """The wait status of child `pid` once it ends, or None at `deadline`. Woken by the child's end (a pidfd)
    where the kernel has them, else by polling every 3 ms."""
    import select

    try:
        handle = os.pidfd_open(pid)
    except (AttributeError, OSError):
        handle = None
    try:
        while (left := deadline - time.monotonic()) > 0:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status
            if handle is None:
                time.sleep(min(0.003, left))
            else:
                select.select([handle], [], [], left)
        return None
    finally:
        if handle is not None:
            os.close(handle)


def wait(pid: int, timeout: float, uid: int | None, cgroups: tuple[str, ...] = (), keep: tuple[int, ...] = ()) -> dict:
    """Wait for the step's first process `pid`, at most `timeout` seconds; then kill whatever is left of it
    (never the processes in `keep`: the slot's namespace host)."""
    status = _wait_until(pid, time.monotonic() + timeout)
    timed_out = status is None
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except (ProcessLookupError, PermissionError):
            pass
    if timed_out:
        _, status = os.waitpid(pid, 0)
    kill_step(uid, cgroups, keep)
    if timed_out:
        return {"exit_code": None, "timed_out": True}
    assert status is not None
    code = os.waitstatus_to_exitcode(status)
    return {"exit_code": code, "timed_out": False}


class _Host:
    """The slot's namespace host (`host.host`), as the zygote drives it: one job at a time."""

    def __init__(self, pid: int, jobs: int, reports: int) -> None:
        self.pid, self.jobs, self.reports = pid, jobs, reports
        self.buffered = b""

    @classmethod
    def start(cls) -> _Host | None:
        """Fork the host; None where there can be none (the steps then get a namespace each)."""
        jobs_read, jobs_write = os.pipe()
        reports_read, reports_write = os.pipe()
        try:
            pid = fork_as_init()
        except OSError:
            pid = None
        if pid == 0:
            os.close(jobs_write)
            os.close(reports_read)
            sys.stdin.close()
            host(jobs_read, reports_write, lambda job, capture: _child(job, hosted=True, capture=capture))
        os.close(jobs_read)
        os.close(reports_write)
        if pid is None:
            os.close(jobs_write)
            os.close(reports_read)
            return None
        started = cls(pid, jobs_write, reports_read)
        try:
            said = started.receive(time.monotonic() + 10)
        except EOFError:
            said = None
        if not said or not said.get("ready"):
            started.close()
            return None
        return started

    def send(self, line: str) -> None:
        """Send the host one JSON line: a job (as the zygote read it), or a kill."""
        try:
            os.write(self.jobs, (line + "\n").encode())
        except OSError as exc:
            raise EOFError(f"the slot's namespace host is gone ({exc.strerror or exc})") from None

    def alive(self) -> bool:
        try:
            return os.waitpid(self.pid, os.WNOHANG)[0] == 0
        except ChildProcessError:
            return False

    def receive(self, deadline: float) -> dict | None:
        """The host's next message, or None at `deadline`; EOFError if the host is gone."""
        import select

        while b"\n" not in self.buffered:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.reports], [], [], left)[0]:
                return None
            data = os.read(self.reports, 65536)
            if not data:
                raise EOFError("the slot's namespace host ended")
            self.buffered += data
        line, self.buffered = self.buffered.split(b"\n", 1)
        return json.loads(line)

    def run(self, job: Job, line: str) -> dict:
        """Run `job` (`line`, its JSON, handed on as it came) in the host; its end as the zygote reports it."""
        self.send(line)
        said = self.receive(time.monotonic() + job.timeout)
        timed_out = said is None
        if timed_out:
            self.send(json.dumps({"kill": True}))
        kill_step(job.confinement.uid, job.confinement.cgroups, keep=(self.pid,))
        if timed_out:
            said = self.receive(time.monotonic() + 10)
            if said is None:
                raise EOFError("the slot's namespace host did not say how a killed step ended")
        if "error" in said:
            raise EOFError(said["error"])
        reply = {"exit_code": None if timed_out else said["exit_code"], "timed_out": timed_out, "host": self.pid}
        return reply

    def close(self) -> None:
        for fd in (self.jobs, self.reports):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def main() -> None:
    if "--commands-only" in sys.argv[1:]:  # a guide's code tests: shell commands only, no SDK to import for them
        if syscalls.available()[0]:
            syscalls.prepare()
    else:
        _warm_up()
    become_subreaper()
    # Everything imported so far is shared with each step until one of them writes to its page: moved out of
    # the collector's reach, a step's garbage collections no longer touch (and so copy) those pages.
    gc.collect()
    gc.freeze()
    reply = sys.stdout
    print(json.dumps({"ready": True}), file=reply, flush=True)
    slot_host: _Host | None = None
    hosted = True  # until the host fails to start: then each step gets its own namespaces
    for line in sys.stdin:
        job = Job.from_json(line)
        reply.flush()
        if slot_host is not None and not slot_host.alive():  # ended between steps: a new one, nothing lost
            slot_host.close()
            slot_host = None
        if hosted and job.confinement.isolate and job.confinement.pid_namespace:
            if slot_host is None:
                slot_host = _Host.start()
                hosted = slot_host is not None
            if slot_host is not None:
                try:
                    answer = slot_host.run(job, line.rstrip("\n"))
                except EOFError as exc:  # the host is gone: a fault of ours, said; a fresh host for the next step
                    slot_host.close()
                    slot_host = None
                    answer = {"exit_code": None, "timed_out": False, "fault": str(exc)}
                print(json.dumps(answer), file=reply, flush=True)
                continue
        pid = os.fork()
        if pid == 0:
            _child(job)
        keep = (slot_host.pid,) if slot_host is not None else ()
        answer = wait(pid, job.timeout, job.confinement.uid, job.confinement.cgroups, keep)
        print(json.dumps({**answer, "host": keep[0]} if keep else answer), file=reply, flush=True)
    if slot_host is not None:
        slot_host.close()


if __name__ == "__main__":
    main()
