"""Does grading on a Dask cluster give the gradebook one machine gives, whatever happens to the workers?

A real scheduler and worker processes on loopback (the `dask` command, as an instructor starts them),
a class of twelve learners of cohort a (scripts, a notebook, a zip, work one folder down, nothing
found, nothing handed in), graded locally once and on the cluster: the gradebooks must be the same
row for row, with a worker killed halfway, with a learner whose grading kills every worker it
reaches, and on `--cluster local:2`. Step output is compared with what differs between any two
runs masked (timings; the offline API's image ids, signed URLs, `created` times and, as it draws
with a seed of its own each run, image sizes).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import REPO, as_nobody

pytestmark = pytest.mark.slow  # Dask schedulers and workers

COHORT = Path(__file__).with_name("fixtures") / "cohorts" / "a"
CLASS = ["amara", "ben.k", "wen_l", "kaito", "mateo.r", "sven.j", "laura.b", "kofi_a", "tara.j", "rhea.s", "nadia.s",
         "eitan_r"]
LESSONS = ("--lesson", "1", "--lesson", "2")
CORRECT = Path(__file__).with_name("fixtures") / "submissions" / "correct_everything"
MAX_SUBMISSION_FILES = 20_000  # the files a submission may hold (grader.handin.MAX_SUBMISSION_FILES)
TIMING = {"execution_time", "duration"}
VOLATILE = [(re.compile(r"http://127\.0\.0\.1:\d+/\S*?(?=['\"\s)]|$)"), "<image url>"),
            (re.compile(r"\bcreated=\d+"), "created=<time>"), (re.compile(r"\bimg-[A-Za-z0-9]+"), "img-<id>"),
            (re.compile(r"\(\d+ bytes\)"), "(<size> bytes)")]  # each run's API draws with a seed of its own


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "DASK_")) and k != "PYTHONUNBUFFERED"}
    out["PYTHONPATH"] = str(REPO)
    out.update(extra)
    return out


def grader(*args: str, cwd: Path, timeout: float = 300, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env=env(**extra))


def grade(*args: str, cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    """`grader grade class --out out` on the two lessons the cohort handed in."""
    return grader("grade", "class", "--out", "out", *LESSONS, *args, cwd=cwd, **extra)


def make_class(into: Path, names: list[str] = CLASS) -> Path:
    for name in names:
        shutil.copytree(COHORT / name, into / name, symlinks=True)
    return into


def rows(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as f:
        return {row["learner"]: row for row in csv.DictReader(f)}


def _mask(value: object) -> object:
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items() if k not in TIMING}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    if isinstance(value, str):
        for pattern, replacement in VOLATILE:
            value = pattern.sub(replacement, value)
    return value


def book(out: Path, run: str = "MAX(id)") -> dict[str, tuple]:
    """The latest run's rows: (content hash, result without timings, reused, complete) by learner."""
    with sqlite3.connect(out / "gradebook.sqlite3") as db:
        found = db.execute(f"SELECT learner, content_hash, result, reused, complete FROM grades WHERE run_id = "
                           f"(SELECT {run} FROM runs)").fetchall()
    assert len(found) == len({r[0] for r in found}), "a learner appears twice"
    return {learner: (digest, _mask(json.loads(result)), reused, complete)
            for learner, digest, result, reused, complete in found}


class Cluster:
    """A `dask scheduler` and `dask worker` processes on loopback, each in its own process group."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.log = work / "scheduler.log"
        self.procs: list[subprocess.Popen[bytes]] = []
        info = work / "scheduler.json"
        self.scheduler = self._start(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                      "--scheduler-file", str(info)], self.log)
        deadline = time.monotonic() + 60
        while not (info.exists() and info.stat().st_size):
            assert time.monotonic() < deadline and self.scheduler.poll() is None, self.log.read_text()
            time.sleep(0.1)
        time.sleep(0.1)
        self.address = json.loads(info.read_text())["address"]
        self.workers: list[subprocess.Popen[bytes]] = []

    def _start(self, args: list[str], log: Path, prefix: list[str] | None = None,
               environment: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with open(log, "wb") as f:
            proc = subprocess.Popen([*(prefix or []), sys.executable, "-m", "dask", *args], stdout=f, stderr=f,
                                    stdin=subprocess.DEVNULL, env=environment or env(), cwd=self.work,
                                    start_new_session=True)
        self.procs.append(proc)
        return proc

    def add_workers(self, count: int, *, prefix: list[str] | None = None, environment: dict[str, str] | None = None,
                    local: Path | None = None, threads: int = 1) -> None:
        before = self.registered()
        for _ in range(count):
            index = len(self.workers)
            folder = local or self.work / f"worker-{index}"
            folder.mkdir(exist_ok=True)
            self.workers.append(self._start(["worker", self.address, "--nworkers", "1", "--nthreads", str(threads), "--host",
                                             "127.0.0.1", "--no-dashboard", "--local-directory", str(folder)],
                                            self.work / f"worker-{index}.log", prefix, environment))
        deadline = time.monotonic() + 90
        while self.registered() < before + count:
            assert time.monotonic() < deadline, self.log.read_text()[-3000:]
            time.sleep(0.2)

    def registered(self) -> int:
        return self.log.read_text(errors="replace").count("Register worker")

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()

    def close(self) -> None:
        for proc in reversed(self.procs):
            self.kill(proc)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    pytest.importorskip("distributed")
    started = Cluster(tmp_path)
    try:
        yield started
    finally:
        started.close()


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The class graded on this machine, the way `grader grade` always has."""
    work = tmp_path_factory.mktemp("local")
    make_class(work / "class")
    done = grade("--quiet", cwd=work)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return work / "out"


# ---------------------------------------------------------------------------------------- packing


def test_a_submission_travels_as_data(tmp_path: Path) -> None:
    """Do regular files, odd names and exact times survive the trip, and links, caches and FIFOs stay home?"""
    from grader.cluster import pack, unpack
    from grader.submissions import Submission

    learner = tmp_path / "ada"
    make_class(tmp_path / "class", ["mateo.r"])
    shutil.copytree(CORRECT, learner)
    (learner / "lesson1").mkdir()
    (learner / "lesson1" / "notes.txt").write_text("draft", encoding="utf-8")
    (learner / os.fsdecode(b"caf\xe9.py")).write_text("# latin-1 name\n", encoding="utf-8")
    (learner / ".course").mkdir()
    (learner / ".course" / "attempts.json").write_text('{"multiple-choice-1640493267": 2}', encoding="utf-8")
    (learner / "__pycache__").mkdir()
    (learner / "__pycache__" / "imageGen.cpython-311.pyc").write_bytes(b"\0" * 10)
    (learner / "keys.json").symlink_to(REPO / "solutions")
    (learner / "passwd").symlink_to("/etc/passwd")
    os.mkfifo(learner / "pipe")
    os.utime(learner / "imageGen.py", ns=(1_700_000_000_123_456_789, 1_700_000_000_123_456_789))
    shutil.copy(tmp_path / "class" / "mateo.r" / "mateo_lesson1.zip", learner / "mateo_lesson1.zip")

    packed = pack(learner)
    there = tmp_path / "worker" / "ada"
    there.mkdir(parents=True)
    unpack(packed, there)

    def listing(root: Path) -> dict[str, tuple[bytes, int]]:
        found = {}
        for folder, _, names in os.walk(root):  # never through a link
            for name in names:
                path = Path(folder, name)
                if path.is_file() and not path.is_symlink():
                    found[os.fsencode(path.relative_to(root)).decode("latin-1")] = (path.read_bytes(),
                                                                                     path.stat().st_mtime_ns)
        return found

    sent = {k: v for k, v in listing(learner).items() if not k.startswith("__pycache__")}
    got = listing(there)
    assert got == sent
    assert "caf\xe9.py" in got and ".course/attempts.json" in got and "lesson1/notes.txt" in got
    assert got["imageGen.py"][1] == 1_700_000_000_123_456_789
    assert not any(Path(f, n).is_symlink() for f, dirs, names in os.walk(there) for n in dirs + names)
    assert not (there / "keys.json").exists() and not (there / "passwd").exists() and not (there / "pipe").exists()
    assert Submission("ada", learner).content_hash() == Submission("ada", there).content_hash()


def test_a_submission_too_big_to_send_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from grader import cluster
    from grader.box.copying import TooBig

    (tmp_path / "ada").mkdir()
    (tmp_path / "ada" / "video.mp4").write_bytes(b"\0" * 4096)
    monkeypatch.setattr(cluster, "MAX_PACK_BYTES", 1024)
    with pytest.raises(TooBig, match="sent to a worker"):
        cluster.pack(tmp_path / "ada")


# --------------------------------------------------------------------------------- on a cluster


def test_a_worker_killed_halfway_costs_nothing(cluster: Cluster, local: Path) -> None:
    """Two workers, one killed (its whole process group) halfway: every learner graded once, the gradebook
    the same as on one machine; then a second run grades no one again."""
    cluster.add_workers(2)
    make_class(cluster.work / "class")
    proc = subprocess.Popen([sys.executable, "-m", "grader", "grade", "class", "--out", "out", *LESSONS, "--quiet",
                             "--cluster", cluster.address], cwd=cluster.work, env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline, saved = time.monotonic() + 180, 0
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with sqlite3.connect(cluster.work / "out" / "gradebook.sqlite3") as db:
                saved = db.execute("SELECT COUNT(*) FROM grades").fetchone()[0]
        except sqlite3.Error:
            saved = 0
        if saved >= len(CLASS) // 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None and saved < len(CLASS), "the run ended before a worker could be killed"
    cluster.kill(cluster.workers[0])
    stdout, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 0, stdout[-2000:] + stderr[-3000:]
    out = cluster.work / "out"
    assert (out / "gradebook.csv").read_text(encoding="utf-8") == (local / "gradebook.csv").read_text(encoding="utf-8")
    assert book(out) == book(local)

    again = grade("--cluster", cluster.address, cwd=cluster.work)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"{len(CLASS)} learners graded ({len(CLASS)} unchanged, not run again)" in again.stdout
    assert all(reused == 1 for _, _, reused, _ in book(out).values())


def test_a_learner_who_kills_every_worker_is_not_graded_and_the_rest_are(cluster: Cluster, local: Path) -> None:
    """COURSE_GRADER_CRASH_ON: the worker dies whenever it grades that learner. After the scheduler's allowed
    failures the learner is 'not graded' with the reason (never a zero), the others are graded, and the
    run ends, non-zero, as it does locally when the grader failed someone. The culprit is graded first and
    one worker of two threads holds the whole small class (the scheduler queues only a large one), so every
    death also casts suspicion on the learner beside it and those behind it: they are graded all the same
    (alone, at the end), never given up with the culprit."""
    cluster.add_workers(1, environment=env(COURSE_GRADER_CRASH_ON="aaa-zed"), threads=2)
    make_class(cluster.work / "class", ["amara", "ben.k", "kofi_a"])
    shutil.copytree(COHORT / "amara", cluster.work / "class" / "aaa-zed")
    done = grade("--quiet", "--cluster", cluster.address, cwd=cluster.work)
    assert done.returncode == 3, done.stdout[-2000:] + done.stderr[-2000:]
    assert "could not be fully graded because of a fault in the grader" in done.stderr
    assert "stopped a grading worker 4 times, and 4 times more when it was graded alone" in done.stderr
    got, expected = rows(cluster.work / "out"), rows(local)
    zed = got["aaa-zed"]
    assert zed["total"] == "" and zed["percent"] == "" and zed["step1"] == ""  # no zero
    assert {k: got[k] for k in ("amara", "ben.k", "kofi_a")} == {k: expected[k] for k in ("amara", "ben.k", "kofi_a")}
    zed = json.loads((cluster.work / "out" / "aaa-zed" / "results.json").read_text(encoding="utf-8"))
    assert all("stopped a grading worker" in t["output"] for t in zed["tests"] if not t["number"].startswith("Q"))
    assert book(cluster.work / "out")["aaa-zed"][3] == 0  # incomplete: the next run grades it again


def test_local_workers_give_the_same_gradebook(tmp_path: Path, local: Path) -> None:
    """`--cluster local:2`: a LocalCluster of two worker processes started and stopped by the grader."""
    pytest.importorskip("distributed")
    make_class(tmp_path / "class")
    done = grade("--quiet", "--cluster", "local:2", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert (tmp_path / "out" / "gradebook.csv").read_text(encoding="utf-8") == \
        (local / "gradebook.csv").read_text(encoding="utf-8")
    assert book(tmp_path / "out") == book(local)


def test_a_cluster_address_that_answers_nothing_is_one_line(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    make_class(tmp_path / "class", ["amara"])
    done = grade("--quiet", "--cluster", "local:none", cwd=tmp_path)
    assert done.returncode == 1 and "local:N takes a number of workers" in done.stderr
    assert "Traceback" not in done.stderr


def test_workers_without_the_full_box_are_refused_unless_allowed(cluster: Cluster) -> None:
    """Workers running as an ordinary user cannot build the full box: the run is refused with the reason,
    and goes on in the weaker box with --allow-weak-box."""
    prefix = as_nobody()
    if prefix is None:
        pytest.skip("needs root to become another user, and a checkout that user can read")
    local = Path(tempfile.mkdtemp(prefix="dask-nobody-", dir="/tmp"))
    try:
        os.chown(local, 65534, 65534)
        cluster.add_workers(1, prefix=prefix, local=local,
                            environment={"PATH": "/usr/bin:/bin", "HOME": str(local), "PYTHONPATH": str(REPO)})
        shutil.copytree(CORRECT, cluster.work / "class" / "ada")
        refused = grader("grade", "class", "--out", "out", "--lesson", "1", "--quiet", "--cluster", cluster.address,
                         cwd=cluster.work)
        assert refused.returncode == 1, refused.stdout[-2000:] + refused.stderr[-2000:]
        assert "is refused: it cannot build the full box (the grading box needs root)" in refused.stderr
        assert "--allow-weak-box" in refused.stderr and "Traceback" not in refused.stderr
        allowed = grader("grade", "class", "--out", "out", "--lesson", "1", "--quiet", "--cluster", cluster.address,
                         "--allow-weak-box", cwd=cluster.work)
        assert allowed.returncode == 0, allowed.stdout[-2000:] + allowed.stderr[-2000:]
        assert "grading with the weaker box" in allowed.stderr and "(on 1 of 1 workers)" in allowed.stderr
        assert rows(cluster.work / "out")["ada"]["percent"] == "100"
    finally:
        cluster.close()
        shutil.rmtree(local, ignore_errors=True)


# ------------------------------------------------------------------------- the same code everywhere


def checkout_copy(into: Path, *, changed: str | None = None) -> Path:
    """The parts of this checkout that grade, copied; with `changed`, one byte of that file differs (a letter
    of its docstring: the code still imports and grades the same)."""
    for tree in ("grader", "course", "solutions"):
        shutil.copytree(REPO / tree, into / tree, ignore=shutil.ignore_patterns("__pycache__"))
    if changed is not None:
        path = into / changed
        data = path.read_bytes()
        assert data.startswith(b'"""V')
        path.write_bytes(b'"""v' + data[4:])
    return into


def test_the_fingerprint_names_a_worker_s_offline_api_when_one_byte_of_it_differs(tmp_path: Path) -> None:
    from grader.grade import Plan, make_plan

    plan = make_plan(["1"])
    here = plan.fingerprint_parts()
    same = Plan(plan.lessons, plan.questions, root=checkout_copy(tmp_path / "same")).fingerprint_parts()
    assert same == here
    assert {"course/offline/params.py", "course/offline/data/models.json", "course/steps.py",
            "solutions/assets/mask.png"} <= set(here)
    other = Plan(plan.lessons, plan.questions,
                 root=checkout_copy(tmp_path / "other", changed="course/offline/params.py")).fingerprint_parts()
    assert [name for name in here if other.get(name) != here[name]] == ["course/offline/params.py"]


def test_a_worker_whose_offline_api_differs_is_refused_before_anything_is_graded(cluster: Cluster) -> None:
    copy = checkout_copy(cluster.work / "checkout", changed="course/offline/params.py")
    cluster.add_workers(1, environment=env(PYTHONPATH=str(copy)))
    shutil.copytree(CORRECT, cluster.work / "class" / "ada")
    refused = grader("grade", "class", "--out", "out", "--lesson", "1", "--quiet", "--cluster", cluster.address,
                     cwd=cluster.work)
    assert refused.returncode == 1, refused.stdout[-2000:] + refused.stderr[-2000:]
    assert "is refused: its course or grader differs from the client's (course/offline/params.py differ)" \
        in refused.stderr
    assert "Traceback" not in refused.stderr and not (cluster.work / "out" / "gradebook.csv").exists()


# -------------------------------------------------------------------------- the same bounds everywhere


def test_a_submission_too_large_to_send_to_a_worker_gets_the_result_it_gets_on_one_machine(tmp_path: Path) -> None:
    """One file more than a submission may hold: on one machine and on a cluster alike, the learner's row is a
    zero with the reason (never "not graded"), and the learner beside them is graded as usual."""
    pytest.importorskip("distributed")
    shutil.copytree(CORRECT, tmp_path / "class" / "ada")
    shutil.copytree(CORRECT, tmp_path / "class" / "ben")
    photos = tmp_path / "class" / "ben" / "photos"
    photos.mkdir()
    for index in range(MAX_SUBMISSION_FILES + 1 - 2):  # with imageGen.py and answers.json: one file too many
        (photos / f"{index:05d}.jpg").touch()
    graded = {}
    for where, extra in (("local", ()), ("cluster", ("--cluster", "local:1"))):
        done = grader("grade", "class", "--out", where, "--lesson", "1", "--quiet", *extra, cwd=tmp_path)
        assert done.returncode == 0, where + done.stdout[-2000:] + done.stderr[-3000:]
        graded[where] = tmp_path / where
    assert (graded["cluster"] / "gradebook.csv").read_text(encoding="utf-8") == \
        (graded["local"] / "gradebook.csv").read_text(encoding="utf-8")
    assert book(graded["cluster"]) == book(graded["local"])
    ben, ada = rows(graded["cluster"])["ben"], rows(graded["cluster"])["ada"]
    assert ben["total"] == "0" and ada["percent"] == "100"
    feedback = (graded["cluster"] / "ben" / "feedback.md").read_text(encoding="utf-8")
    assert f"the submission holds more than {MAX_SUBMISSION_FILES:,} files, too many to grade" in feedback


def test_unpacking_refuses_names_outside_the_folder_on_every_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tar that names `../x` or `/x` is refused, written by hand (no `extractall(filter=...)`, which Python 3.11.2
    lacks): this Python is made to lack it too."""
    import io
    import tarfile

    from grader.cluster import unpack

    monkeypatch.delattr(tarfile.TarFile, "extraction_filter", raising=False)
    monkeypatch.setattr(tarfile.TarFile, "extractall", lambda *a, **k: (_ for _ in ()).throw(TypeError("no filter here")))
    for name in ("../escaped.txt", "/tmp/escaped-absolute.txt", "a/../../escaped.txt"):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"hi"))
        into = tmp_path / "into"
        into.mkdir(exist_ok=True)
        with pytest.raises(ValueError, match="outside its folder"):
            unpack(buffer.getvalue(), into)
        assert not (tmp_path / "escaped.txt").exists() and not Path("/tmp/escaped-absolute.txt").exists()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("lesson1/imageGen.py")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"x = 1"))
    unpack(buffer.getvalue(), tmp_path / "into")
    assert (tmp_path / "into" / "lesson1" / "imageGen.py").read_text() == "x = 1"
