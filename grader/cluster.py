"""Grading a class on a Dask cluster: the workers grade, this process keeps the gradebook.

`grader grade SUBMISSIONS --out OUT --cluster tcp://host:8786` (a running scheduler) or
`--cluster local:4` (a LocalCluster of four worker processes on this machine).

- **Submissions travel as data.** Each learner's folder is packed here into a tar (regular files
  only, never a link, within the bounds of a submission, `handin.submission_files`) and unpacked on
  the worker into a private temporary folder: no shared filesystem is needed. A folder past those
  bounds is the learner's fault wherever it is graded: it is graded here, as a worker or a local run
  grades it (nothing of it runs, every lesson fails with the reason), never "not graded".
- **Each worker grades as `grader grade` does on one machine.** A worker plugin starts, once per
  worker, the warm engine (one slot per worker thread), the box and a private offline API, and stops
  them at teardown. Each learner is graded by the same `grade_submission` the local path runs, so a
  result is the same wherever it was computed.
- **Refused workers.** At registration every worker says whether its grading plan (lessons, checks,
  keys, the grader's code and the whole `course` package, the offline API and its data included:
  `Plan.fingerprint_parts`) is this machine's and whether it can build the full box. One that
  differs, or one with the weaker box unless `--allow-weak-box`, stops the run before anything is
  graded, with the reason for each.
- **Only this process writes.** Results come back as plain data and are saved as they arrive, so
  resuming a run and skipping unchanged learners work as they do locally. At most `WINDOW_PER_THREAD`
  learners per worker thread are in flight at once.
- **Faults.** A worker that dies mid-run loses nothing: the scheduler gives its learners to another.
  A learner whose grading kills workers `ALLOWED_FAILURES` + 1 times (`KilledWorker`) is graded once
  more at the end, alone (a dying worker casts suspicion on every learner it held); killing workers
  again alone, it is recorded as not graded, with the reason: a fault of ours, never a zero; the run
  goes on.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import tarfile
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterator, Protocol

from course.errors import CourseError

from .box.copying import TooBig
from .handin import MAX_SUBMISSION_BYTES, check_submission, submission_files
from .submissions import Submission

try:
    from distributed import WorkerPlugin
except ImportError:  # dask is an optional extra: without it, only packing works
    WorkerPlugin = object  # type: ignore[assignment,misc]

NEEDS_DASK = "grading on a cluster needs Dask: pip install -e '.[cluster]'"
PLUGIN = "course-grader"
CRASH_ON = "COURSE_GRADER_CRASH_ON"  # tests only: a worker dies (exit 137) when it grades this learner
ALLOWED_FAILURES = 3  # workers a learner's grading may kill before it is given up as not graded
WINDOW_PER_THREAD = 4  # learners in flight per worker thread
NO_WORKERS_SECONDS = 600.0  # with no worker at all for this long, the learners left are not graded
# A worker is sent what grading may read of a submission, within a submission's bounds: the same bounds as
# on one machine, so that a folder too large to send is one too large to grade anywhere.
MAX_PACK_BYTES = MAX_SUBMISSION_BYTES  # and at most handin.MAX_SUBMISSION_FILES files
MTIME_NS = "COURSE.mtime_ns"  # a pax field: the exact mtime, as "the newest file" decides between copies


def need_dask() -> None:
    """Raise the one-line reason when Dask is not installed."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise CourseError(NEEDS_DASK) from None


# ---------------------------------------------------------------------------------------- packing


def pack(folder: Path) -> bytes:
    """A learner's folder as a tar: its regular files (no links, no special files) with their exact
    modification times, without the folders no grading stage reads; TooBig past the bounds."""
    return pack_files(submission_files(folder))


def pack_files(files: list[Any]) -> bytes:
    """Files listed by `box.copying.walk` (each with its `path` and `relative` name) as a tar of their regular files,
    with their exact modification times; TooBig past `MAX_PACK_BYTES`. A guide is packed this way too."""
    total = sum(e.size for e in files)
    if total > MAX_PACK_BYTES:
        raise TooBig(f"the submission holds {total // 2**20} MB, more than the {MAX_PACK_BYTES // 2**20} MB "
                     "sent to a worker")
    buffer = io.BytesIO()
    budget = MAX_PACK_BYTES
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in files:
            try:
                fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError:
                continue  # vanished or unreadable: left out, as a copy leaves it out
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):  # swapped for a FIFO since the walk
                    continue
                data = _read(fd, budget)
            finally:
                os.close(fd)
            budget -= len(data)
            info = tarfile.TarInfo(entry.relative)
            info.size, info.mode, info.mtime = len(data), st.st_mode & 0o755, st.st_mtime_ns // 10**9
            info.pax_headers = {MTIME_NS: str(st.st_mtime_ns)}
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _read(fd: int, budget: int) -> bytes:
    chunks, size = [], 0
    while chunk := os.read(fd, 1024 * 1024):
        size += len(chunk)
        if size > budget:
            raise TooBig(f"the submission holds more than the {MAX_PACK_BYTES // 2**20} MB sent to a worker")
        chunks.append(chunk)
    return b"".join(chunks)


def unpack(packed: bytes, into: Path) -> None:
    """Unpack `pack`'s tar into `into` (which exists): regular files only, nothing outside it, no link followed.
    Written out file by file here rather than by `extractall(filter="data")`, which Python has only from 3.11.4
    (Debian 12's and Ubuntu's 3.11.2 lack it)."""
    with tarfile.open(fileobj=io.BytesIO(packed), mode="r:") as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            relative = PurePosixPath(member.name)
            if relative.is_absolute() or not relative.parts or any(part in ("", ".", "..") for part in relative.parts):
                raise ValueError(f"a packed submission names a file outside its folder: {member.name!r}")
            target = into.joinpath(*relative.parts)
            folder = target.parent
            folder.mkdir(parents=True, exist_ok=True)
            if folder.resolve() != into.resolve().joinpath(*relative.parts[:-1]):
                raise ValueError(f"a packed submission's folder is a link: {member.name!r}")
            source = tar.extractfile(member)
            assert source is not None
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, member.mode & 0o755 | 0o600)
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(source, out)
            mtime = member.pax_headers.get(MTIME_NS)
            if mtime and mtime.isdigit():
                os.utime(target, ns=(int(mtime), int(mtime)), follow_symlinks=False)


@dataclass
class Unpacked(Submission):
    """A submission unpacked on a worker: its content hash is the one computed where it was handed in."""

    known_hash: str = ""

    def content_hash(self) -> str:
        return self.known_hash


# ------------------------------------------------------------------------------ on each worker


class PlanRecipe(Protocol):
    """What a worker makes its grading plan from, sent once by the client: `coordinator.LessonRecipe` (the lessons
    asked for) or `guide.GuideRecipe` (a guide packed with its workspace and test scripts)."""

    what: str  # what must be the same on every worker, in words ("course or grader")
    remedy: str  # what to do about a worker that differs

    def make(self, folder: Path) -> Any: ...  # a `coordinator.ClassPlan`, with `fingerprint_parts()`; `folder` is new


class GradingPlugin(WorkerPlugin):  # type: ignore[misc,valid-type]
    """A worker's engine, box and private API, for the worker's whole life; refuses a worker whose
    plan differs from the client's, or whose box is the weaker one unless that is allowed.

    The worker makes its plan from `recipe` (sent by the client, see `PlanRecipe`): the lessons asked for, or a
    guide packed once with its workspace. Its fingerprint, part by part, must be the client's."""

    name = PLUGIN

    def __init__(self, recipe: Any, fingerprint: dict[str, str], *, timeout: float, warm: bool,
                 allow_weak_box: bool) -> None:
        self.recipe, self.fingerprint = recipe, fingerprint  # the client's, part by part
        self.timeout, self.warm, self.allow_weak_box = timeout, warm, allow_weak_box
        self.refused = ""
        self.notes: list[str] = []
        self.full = False
        self.plan: Any = None
        self.engine: Any = None
        self.api: Any = None
        self._stack: ExitStack | None = None

    def setup(self, worker: Any) -> None:
        from course.offline.server import raise_open_files

        from .api import private_api
        from .box.engine import Engine
        from .box.privileges import guard_grader
        from .box.probe import box

        self._stack = ExitStack()
        data = Path(tempfile.mkdtemp(prefix="course-grader-", dir=getattr(worker, "local_directory", None)))
        self._stack.callback(shutil.rmtree, data, ignore_errors=True)
        try:
            plan = self.recipe.make(data / "plan")
            here = plan.fingerprint_parts()
        except (CourseError, OSError, ValueError) as exc:
            self.refused = f"it cannot make the grading plan ({exc})"
            return
        if here != self.fingerprint:
            self.refused = (f"its {self.recipe.what} differs from the client's ({_differences(here, self.fingerprint)}): "
                            f"{self.recipe.remedy}")
            return
        found = box()
        self.full, self.notes = found.full, list(found.notes)
        if not found.full and not self.allow_weak_box:
            why = found.notes[0].split(": grading with")[0] if found.notes else "no full box"
            self.refused = (f"it cannot build the full box ({why}): run the worker as root, or pass "
                            "--allow-weak-box to grade in the weaker box")
            return
        raise_open_files()
        guard_grader()
        self.plan = plan
        try:
            self.api = self._stack.enter_context(private_api(data / "offline-api"))
            self.engine = Engine(max(1, int(worker.state.nthreads)), warm=self.warm and plan.warm,
                                 commands_only=plan.commands_only, private=tuple(plan.private))
            self._stack.callback(self.engine.close)
        except BaseException:
            self._stack.close()
            self._stack = None
            raise

    def teardown(self, worker: Any) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None

    def report(self) -> dict[str, Any]:
        return {"refused": self.refused, "full": self.full, "notes": self.notes}


def _differences(here: dict[str, str], client: dict[str, str]) -> str:
    differ = [name for name in client if name in here and here[name] != client[name]]
    missing = [name for name in client if name not in here]
    extra = [name for name in here if name not in client]
    said = [f"{', '.join(names[:4])}{' and more' if len(names) > 4 else ''} {what}"
            for names, what in ((differ, "differ"), (missing, "missing here"), (extra, "only here")) if names]
    return "; ".join(said)


def _report(dask_worker: Any) -> dict[str, Any]:
    plugin = dask_worker.plugins.get(PLUGIN)
    return plugin.report() if plugin is not None else {"refused": "the grading plugin is not set up on it",
                                                       "full": False, "notes": []}


def grade_packed(learner: str, folder_name: bytes, packed: bytes, content_hash: str) -> dict[str, Any]:
    """One learner, on a worker: unpacked into a private folder, graded as locally, returned as plain data."""
    from distributed import Reschedule, get_worker

    worker = get_worker()
    plugin = worker.plugins.get(PLUGIN)
    if plugin is None or plugin.refused or plugin.engine is None:
        # A worker that joined after the check and was refused: it leaves; the learner goes to another worker.
        worker.loop.add_callback(worker.close, reason=f"course grader: refused ({getattr(plugin, 'refused', '')})")
        raise Reschedule()
    if learner == os.environ.get(CRASH_ON):
        os._exit(137)
    with tempfile.TemporaryDirectory(prefix="cluster-handin-") as scratch:
        folder = Path(scratch) / os.fsdecode(folder_name)
        folder.mkdir()
        unpack(packed, folder)
        sub = Unpacked(learner, folder, known_hash=content_hash)
        result = plugin.plan.grade(sub, engine=plugin.engine, api=plugin.api, timeout=plugin.timeout)
    return result.to_dict()


# ---------------------------------------------------------------------------------- the client


def _tune_scheduler(dask_scheduler: Any, allowed_failures: int, saturation: float) -> tuple[int, float]:
    """For the run: how many worker deaths a learner may cause, and, where the scheduler queues a class (a
    large one), one learner per worker thread at a time, so a dying worker holds few bystanders. Returns
    the settings before, to restore."""
    import math

    previous = (int(dask_scheduler.allowed_failures), float(dask_scheduler.WORKER_SATURATION))
    dask_scheduler.allowed_failures = allowed_failures
    if math.isfinite(previous[1]) and math.isfinite(saturation):  # queuing on: never switched on or off mid-run
        dask_scheduler.WORKER_SATURATION = saturation
    return previous


class _Connection:
    """A client for `cluster` (an address, "local:N", or a Client), and what to close after."""

    def __init__(self, cluster: Any) -> None:
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError:
            raise CourseError(NEEDS_DASK) from None
        self.local: Any = None
        self.own = True
        if isinstance(cluster, Client):
            self.client, self.own = cluster, False
            return
        text = str(cluster).strip()
        if text.startswith("local:"):
            count = text.partition(":")[2]
            if not count.isdigit() or int(count) < 1:
                raise CourseError(f"--cluster {text}: local:N takes a number of workers, such as local:4.")
            import logging

            with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
                                  "distributed.scheduler.worker-saturation": 1.0}):
                self.local = LocalCluster(n_workers=int(count), processes=True, threads_per_worker=1,
                                          dashboard_address=None, silence_logs=logging.ERROR)
            self.client = Client(self.local)
            return
        try:
            self.client = Client(text, timeout=30)
        except (OSError, TimeoutError, ValueError) as exc:
            raise CourseError(f"could not reach the Dask scheduler at {text} ({exc}).",
                              hint="start it with `dask scheduler` and give its address (tcp://host:8786), "
                                   "or use --cluster local:N") from None

    def close(self) -> None:
        if self.own:
            self.client.close()
        if self.local is not None:
            self.local.close()


def _register(client: Any, plugin: GradingPlugin) -> list[str]:
    """Set grading up on every worker; refuse the run (with each worker's reason) if any is refused.
    Returns the box's notes, once each, with the workers they concern."""
    client.wait_for_workers(1, timeout=120)
    try:
        client.register_plugin(plugin, name=PLUGIN)
        reports = client.run(_report)
    except Exception as exc:  # noqa: BLE001 - a worker that cannot even load the grader
        raise CourseError(f"the Dask workers could not set grading up ({type(exc).__name__}: {exc}).",
                          hint="every worker needs the same checkout, installed with pip install -e '.[cluster]'") from None
    refused = {address: r["refused"] for address, r in sorted(reports.items()) if r["refused"]}
    if refused:
        lines = "; ".join(f"worker {address} is refused: {why}" for address, why in refused.items())
        raise CourseError(f"{len(refused)} of {len(reports)} Dask workers cannot grade: {lines}.")
    notes: dict[str, list[str]] = {}
    for address, r in sorted(reports.items()):
        for note in r["notes"]:
            notes.setdefault(note, []).append(address)
    return [f"{note} (on {len(where)} of {len(reports)} workers)" for note, where in notes.items()]


def grade_on_cluster(cluster: Any, todo: list[Submission], plan: Any, *, recipe: Any, timeout: float,
                     warm: bool, allow_weak_box: bool, save: Callable[[Submission, Any], None],
                     on_note: Callable[[str], None]) -> None:
    """Grade `todo` on the cluster; `save(sub, result)` each result here, as it arrives. `plan` is this machine's
    (`coordinator.ClassPlan`, with `fingerprint_parts()`); each worker makes its own from `recipe`."""
    connection = _Connection(cluster)
    client = connection.client
    plugin = GradingPlugin(recipe, plan.fingerprint_parts(), timeout=timeout, warm=warm, allow_weak_box=allow_weak_box)

    def unsent(sub: Submission, why: str) -> dict[str, Any] | str:
        return _grade_unsent(sub, plan, why, timeout=timeout)
    previous: tuple[int, float] | None = None
    try:
        for note in _register(client, plugin):
            on_note(note)
        try:
            previous = client.run_on_scheduler(_tune_scheduler, ALLOWED_FAILURES, 1.0)
        except Exception:  # noqa: BLE001 - a scheduler that forbids it keeps its own settings
            previous = None
        for sub, outcome in _results(client, todo, unsent):
            save(sub, plan.read(outcome) if isinstance(outcome, dict) else plan.not_graded(sub, outcome))
    finally:
        try:
            if previous is not None:
                client.run_on_scheduler(_tune_scheduler, *previous)
            client.unregister_worker_plugin(PLUGIN)  # each worker's engine and API stop
        except Exception:  # noqa: BLE001 - a cluster already gone has nothing left to stop
            pass
        connection.close()


def _grade_unsent(sub: Submission, plan: Any, why: str, *, timeout: float) -> dict[str, Any] | str:
    """A submission that could not be packed: past a submission's bounds it is the learner's, graded here as
    anywhere (the hand-in search refuses it the same way, so nothing of it runs and no worker is needed);
    else (it changed while it was read, say) why it was not graded."""
    try:
        check_submission(sub.path)
    except TooBig:
        result = plan.grade(sub, engine=None, api=None, timeout=timeout)
        if result.complete:  # it stayed past the bounds while it was graded
            return result.to_dict()
    return f"the submission could not be sent to a grading worker ({why})"


Outcome = dict[str, Any] | str  # a learner's result as data, or why they were not graded


def _results(client: Any, todo: list[Submission],
             unsent: Callable[[Submission, str], Outcome]) -> Iterator[tuple[Submission, Outcome]]:
    """(submission, its result as data, or why it was not graded), as they come, with a bounded window;
    `unsent(sub, why)` gives the outcome of a submission that cannot be sent to a worker.

    A worker that dies takes the suspicion of every learner it held, not only of the one that killed it (a
    small class is not queued by the scheduler, so a worker holds several). So a learner given up
    (`KilledWorker`) in the crowd is graded once more at the end, alone on the cluster: a bystander is then
    graded, and only a learner that kills workers on its own is not."""
    from distributed import KilledWorker, wait

    run = uuid.uuid4().hex[:8]
    queue = iter(enumerate(todo))
    in_flight: dict[Any, tuple[int, Submission]] = {}
    suspects: list[tuple[int, Submission]] = []
    last_worker = time.monotonic()

    def window() -> int:
        return WINDOW_PER_THREAD * max(1, sum(client.nthreads().values()))

    def send(index: int, sub: Submission, key: str) -> Iterator[tuple[Submission, str]]:
        try:
            packed = pack(sub.path)
        except TooBig as exc:
            yield sub, unsent(sub, str(exc))
            return
        future = client.submit(grade_packed, sub.learner, os.fsencode(sub.path.name), packed, sub.content_hash(),
                               key=key, pure=False)
        in_flight[future] = (index, sub)

    def refill(size: int) -> Iterator[tuple[Submission, str]]:
        while len(in_flight) < size:
            item = next(queue, None)
            if item is None:
                if in_flight or not suspects:
                    return
                index, sub = suspects.pop(0)  # the crowd is done: one suspect at a time, alone
                yield from send(index, sub, f"grade-learner-{run}-{index}-alone")
                return
            index, sub = item
            yield from send(index, sub, f"grade-learner-{run}-{index}")

    yield from refill(window())
    while in_flight:
        try:
            done, _ = wait(list(in_flight), timeout=30, return_when="FIRST_COMPLETED")
        except TimeoutError:
            done = set()
        if not done:
            if client.nthreads():
                last_worker = time.monotonic()
            elif time.monotonic() - last_worker > NO_WORKERS_SECONDS:
                why = f"no Dask worker was left to grade this learner for {NO_WORKERS_SECONDS:g} s"
                for future, (_, sub) in list(in_flight.items()):
                    future.cancel()
                    yield sub, why
                in_flight.clear()
                for _, sub in [*queue, *suspects]:
                    yield sub, why
                suspects.clear()
            continue
        last_worker = time.monotonic()
        for future in done:
            index, sub = in_flight.pop(future)
            alone = str(future.key).endswith("-alone")
            try:
                outcome: dict[str, Any] | str = future.result()
            except KilledWorker as exc:
                if not alone:
                    future.release()
                    suspects.append((index, sub))
                    continue
                outcome = (f"grading this learner stopped a grading worker {exc.allowed_failures + 1} times, and "
                           f"{exc.allowed_failures + 1} times more when it was graded alone (its process died: "
                           "killed, or out of memory)")
            except Exception as exc:  # noqa: BLE001 - our fault, in the words the local path uses
                outcome = f"the grader failed ({type(exc).__name__}: {exc})"
            future.release()
            yield sub, outcome
        yield from refill(window())
