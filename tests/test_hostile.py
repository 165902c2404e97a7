"""The adversarial suite: does the grading box hold against hostile submissions?

tests/fixtures/hostile/<scenario>/imageGen.py is the honest lesson-1 script with an attack in it
(its header says which). Most attack in step 1 only and keep steps 2 to 5 honest, so each learner
also shows that the attack did not spoil its own later steps. Each attack is bounded should the box
fail (a fork loop stops at 2,000 children, fixed allocations and output, short sleeps, sockets with
timeouts, loopback only; destructive ones only list what they would do when they find themselves
running as root) and prints one `HOSTILE-REPORT {json}` line saying what it managed.

The whole hostile class, plus two honest learners, is graded once (`--timeout 3 --jobs 2`); the
honest two are graded again alone and their rows must be identical. The box needs root (namespaces,
chroot, a uid per worker slot), so the module is skipped without it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

from grader.box.landlock import abi
from tests.conftest import REPO, as_nobody

pytestmark = [pytest.mark.slow,  # whole hostile classes graded in the box
              pytest.mark.skipif(os.geteuid() != 0, reason="the grading box (namespaces, chroot, a uid per worker "
                                "slot) needs root; without root only rlimits, a process group and a fresh copy apply")]

HOSTILE = Path(__file__).with_name("fixtures") / "hostile"
FIXTURES = Path(__file__).with_name("fixtures") / "submissions"
SCENARIOS = sorted(p.name for p in HOSTILE.iterdir() if (p / "imageGen.py").is_file())
HONEST = {"honest_correct": FIXTURES / "correct_everything", "honest_hand_typed": FIXTURES / "step3_hand_typed_url"}
STEPS = [f"step{n}" for n in range(1, 6)]
TIMEOUT = "3"
BATCH_LIMIT_S = 240
FIRST_UID = 62000
MARK = "HOSTILE-WROTE"
MB = 1024 * 1024

# Scenarios whose attack is step 1 only (steps 2 to 5 are the honest code and must score as the honest learner's).
STEP1_ONLY = {"infinite_loop", "sleep_past_limit", "fork_bomb", "allocate_8gb", "print_1gb", "read_answer_keys",
              "read_other_learner", "write_output_folder", "kill_grader", "socket_to_other_loopback",
              "close_stdout_binary_junk", "delete_files", "symlink_keys", "rewrite_checks", "daemon_survivor",
              "markup_injection", "fill_disk", "fork_memory"}
# The steps each of the others fails.
FAILS = {"forged_url": [1, 2, 3], "exit_before_work": [1, 2, 3, 4, 5], "monkeypatch_openai": [1, 2, 3, 4, 5],
         "symlink_answers": []}


def test_every_scenario_has_an_expectation() -> None:
    """Is each hostile folder one of the scenarios this module judges?"""
    assert len(SCENARIOS) >= 15
    assert set(SCENARIOS) == STEP1_ONLY | set(FAILS)


# ------------------------------------------------------------------------------------------- fixtures


class Recorder:
    """A loopback TCP and UDP service on one port that is not the offline API: it records whoever reaches it."""

    def __init__(self) -> None:
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(16)
        self.tcp.settimeout(0.2)
        self.port = self.tcp.getsockname()[1]
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.port))
        self.udp.settimeout(0.2)
        self.seen: list[str] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._tcp, daemon=True), threading.Thread(target=self._udp, daemon=True)]
        for t in self.threads:
            t.start()

    def _tcp(self) -> None:
        while not self.stop.is_set():
            try:
                conn, peer = self.tcp.accept()
            except OSError:
                continue
            conn.settimeout(0.5)
            try:
                data = conn.recv(200)
            except OSError:
                data = b""
            conn.close()
            self.seen.append(f"tcp from {peer}: {data!r}")

    def _udp(self) -> None:
        while not self.stop.is_set():
            try:
                data, peer = self.udp.recvfrom(200)
            except OSError:
                continue
            self.seen.append(f"udp from {peer}: {data!r}")

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(2)
        self.tcp.close()
        self.udp.close()


def tree_digest(*roots: Path) -> dict[str, str]:
    digest = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if "__pycache__" in path.parts or not path.is_file() or path.is_symlink():
                continue
            digest[str(path.relative_to(REPO))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest


def site_packages() -> list[Path]:
    return sorted((REPO / ".venv" / "lib").glob("python3*/site-packages")) + [Path(p) for p in sys.path
                                                                              if p.endswith("site-packages")]


def site_listing() -> set[str]:
    return {str(p / n) for p in site_packages() if p.is_dir() for n in os.listdir(p)}


def sandbox_processes() -> list[tuple[int, str]]:
    """Every live process whose real uid is a grading slot's (the box's uids start at 62000)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        uid = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("Uid:"))
        if uid >= FIRST_UID:
            found.append((uid, f"pid {entry} uid {uid}: {cmdline[:120]}"))
    return found


def grader_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["PYTHONPATH"] = str(REPO)
    return env


def grader(*args: str, timeout: float = 600) -> tuple[subprocess.CompletedProcess[str], float]:
    env = grader_env()
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True, timeout=timeout,
                            cwd=REPO, env=env)
    return result, time.monotonic() - started


def copy_honest(into: Path) -> None:
    for name, source in HONEST.items():
        shutil.copytree(source, into / name)


def build_class(class_dir: Path, port: int) -> None:
    for name in SCENARIOS:
        shutil.copytree(HOSTILE / name, class_dir / name, symlinks=True)
    copy_honest(class_dir)
    (class_dir / "socket_to_other_loopback" / "port.txt").write_text(f"{port}\n")
    # Links a folder of submissions can hold (a zip cannot: the grader refuses links in zips).
    keys = class_dir / "symlink_keys"
    (keys / "data").mkdir()
    (keys / "key_link.json").symlink_to(REPO / "solutions" / "assessments" / "multiple-choice-1558564085.json")
    (keys / "data" / "key.json").symlink_to(REPO / "solutions" / "assessments" / "multiple-choice-1558564085.json")
    (keys / "data" / "checks.json").symlink_to(REPO / "course" / "content" / "lessons" / "1-generating-images" / "checks.json")
    (keys / "data" / "solution.py").symlink_to(REPO / "solutions" / "imageGen.py")
    (keys / "data" / "passwd").symlink_to("/etc/passwd")
    (class_dir / "symlink_answers" / "answers.json").symlink_to(Path("..") / "honest_correct" / "answers.json")


@dataclass
class Batch:
    out: Path
    alone: Path
    result: subprocess.CompletedProcess[str]
    elapsed: float
    alone_result: subprocess.CompletedProcess[str]
    digest_before: dict[str, str]
    digest_after: dict[str, str]
    site_before: set[str]
    site_after: set[str]
    survivors: list[tuple[int, str]]
    survivors_later: list[tuple[int, str]]
    connections: list[str]
    rows: dict[str, dict[str, str]] = field(default_factory=dict)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    side: Path | None = None  # the honest pair, graded while a hostile class was graded by another run
    side_result: subprocess.CompletedProcess[str] | None = None


def read_rows(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as f:
        return {row["learner"]: row for row in csv.DictReader(f)}


def read_results(out: Path) -> dict[str, dict[str, Any]]:
    """Every learner's full result (steps with stdout, stderr, reason, checks) from the last run in the gradebook."""
    with sqlite3.connect(out / "gradebook.sqlite3") as db:
        rows = db.execute("SELECT learner, result FROM grades WHERE run_id = (SELECT MAX(id) FROM runs)").fetchall()
    return {learner: json.loads(result) for learner, result in rows}


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Batch:
    """The hostile class graded once, and the two honest learners graded alone."""
    base = tmp_path_factory.mktemp("hostile")
    recorder = Recorder()
    try:
        class_dir = base / "class"
        class_dir.mkdir()
        build_class(class_dir, recorder.port)
        digest_before = tree_digest(REPO / "course", REPO / "solutions")
        site_before = site_listing()
        out = base / "out"
        result, elapsed = grader("grade", str(class_dir), "--out", str(out), "--quiet", "--lesson", "1", "--timeout", TIMEOUT,
                                 "--jobs", "2", timeout=BATCH_LIMIT_S + 120)
        survivors = sandbox_processes()
        time.sleep(1.0)  # a daemon that slipped out would still be there (or would have planted its file by now)
        survivors_later = sandbox_processes()
        connections = list(recorder.seen)
    finally:
        recorder.close()
    honest_dir = base / "honest"
    honest_dir.mkdir()
    copy_honest(honest_dir)
    alone = base / "alone"
    alone_result, _ = grader("grade", str(honest_dir), "--out", str(alone), "--quiet", "--lesson", "1", "--timeout", TIMEOUT,
                             "--jobs", "2")
    # Two grading runs at once on one machine (two classes, or CI jobs): a hostile class beside an honest one.
    rival_dir, side_dir = base / "rival", base / "side"
    for name in ("kill_grader", "fork_bomb", "daemon_survivor", "sleep_past_limit"):
        shutil.copytree(HOSTILE / name, rival_dir / name)
    copy_honest(side_dir)
    rival = subprocess.Popen([sys.executable, "-m", "grader", "grade", str(rival_dir), "--out", str(base / "rival_out"), "--lesson", "1",
                              "--quiet", "--timeout", TIMEOUT, "--jobs", "2"], cwd=REPO, env=grader_env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    side_result, _ = grader("grade", str(side_dir), "--out", str(base / "side_out"), "--quiet", "--lesson", "1", "--timeout", TIMEOUT,
                            "--jobs", "1")
    rival.wait(timeout=300)
    found = Batch(out, alone, result, elapsed, alone_result, digest_before, tree_digest(REPO / "course", REPO / "solutions"),
                  site_before, site_listing(), survivors, survivors_later, connections)
    found.side = base / "side_out"
    found.side_result = side_result
    if (out / "gradebook.csv").exists():
        found.rows = read_rows(out)
    if (out / "gradebook.sqlite3").exists():
        found.results = read_results(out)
    return found


def steps_of(batch: Batch, learner: str) -> dict[int, dict[str, Any]]:
    return {s["step"]: s for s in batch.results[learner]["steps"] if s["lesson"] == 1}


def report(batch: Batch, learner: str, step: int = 1) -> dict[str, Any] | None:
    """The attack's own account of what it managed (its last HOSTILE-REPORT line), if it printed one."""
    found = None
    for line in steps_of(batch, learner)[step]["stdout"].splitlines():
        if line.startswith("HOSTILE-REPORT "):
            found = json.loads(line[len("HOSTILE-REPORT "):])
    return found


def gradescope(batch: Batch, learner: str) -> dict[str, Any]:
    return json.loads((batch.out / learner / "results.json").read_text(encoding="utf-8"))


def key_markers() -> list[str]:
    """Strings only the answer keys, the solutions and the hidden checks hold."""
    markers = ["BEGIN SOLUTION", "judged from its output and the offline API's request log",
               "the URL belongs to a 256x256 dall-e-2 image"]
    for path in (REPO / "solutions" / "assessments").glob("*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        markers += [a["_id"] for a in data.get("source", {}).get("answers", []) if a.get("correct")]
    return markers


# ----------------------------------------------------------------------------------------- the batch


def test_the_batch_finishes_in_time(batch: Batch) -> None:
    """Does grading the hostile class exit 0 within the bound, with a row and a results.json for every learner?"""
    assert batch.result.returncode == 0, batch.result.stdout[-3000:] + batch.result.stderr[-3000:]
    assert batch.elapsed < BATCH_LIMIT_S, f"the batch took {batch.elapsed:.0f} s"
    learners = set(SCENARIOS) | set(HONEST)
    assert set(batch.rows) == learners
    assert set(batch.results) == learners
    for learner in learners:
        data = gradescope(batch, learner)
        assert data["tests"], learner
        assert (batch.out / learner / "feedback.html").is_file()


def test_honest_learners_grade_exactly_as_when_alone(batch: Batch) -> None:
    """Are the honest learners' rows identical to grading them without the hostile class?"""
    assert batch.alone_result.returncode == 0, batch.alone_result.stderr[-3000:]
    alone = read_rows(batch.alone)
    for learner in HONEST:
        assert batch.rows[learner] == alone[learner], learner
    assert batch.rows["honest_correct"]["percent"] == "100"


def test_a_hostile_class_cannot_spoil_another_grading_run(batch: Batch) -> None:
    """Graded while another run grades a hostile class on the same machine, do the honest rows stay the same?"""
    assert batch.side is not None and batch.side_result is not None
    assert batch.side_result.returncode == 0, batch.side_result.stderr[-3000:]
    alone, side = read_rows(batch.alone), read_rows(batch.side)
    assert {k: side[k] for k in HONEST} == {k: alone[k] for k in HONEST}


def test_the_repository_is_unchanged(batch: Batch) -> None:
    """Are course/ and solutions/ byte for byte what they were, and nothing planted in the venv?"""
    changed = {k for k in batch.digest_before.keys() | batch.digest_after.keys()
               if batch.digest_before.get(k) != batch.digest_after.get(k)}
    assert not changed
    assert batch.site_after == batch.site_before, batch.site_after ^ batch.site_before
    for site in site_packages():
        for name in ("sitecustomize.py", "usercustomize.py", "zz_hostile.pth"):
            path = site / name
            assert not (path.is_file() and MARK in path.read_text(errors="replace")), path


def our_uids(batch: Batch) -> set[int]:
    """The slot uids this run's steps ran as (other grading runs on the machine hold other uids)."""
    return {found["uid"] for learner in SCENARIOS for n in range(1, 6) if (found := report(batch, learner, n))}


def survivors(batch: Batch) -> list[str]:
    uids = our_uids(batch)
    return [text for uid, text in batch.survivors + batch.survivors_later if uid in uids]


def test_no_sandboxed_process_outlives_the_batch(batch: Batch) -> None:
    """Is every process that ran as this run's grading uids gone once grading ends (fork bombs, daemons)?"""
    assert len(our_uids(batch)) == 2  # --jobs 2: two slots
    assert survivors(batch) == []


def test_no_loopback_service_was_reached(batch: Batch) -> None:
    """Did the recording service on loopback (not the offline API) see no connection and no datagram?"""
    assert batch.connections == []


def test_the_out_folder_holds_only_what_the_grader_wrote(batch: Batch) -> None:
    """No file in OUT carries a hostile write, and no file was planted in it."""
    planted = []
    for path in batch.out.rglob("*"):
        if path.is_file() and MARK.encode() in path.read_bytes():
            planted.append(str(path.relative_to(batch.out)))
        if path.name.startswith("planted-by"):
            planted.append(str(path.relative_to(batch.out)))
    assert planted == []
    with sqlite3.connect(batch.out / "gradebook.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_every_attack_ran_as_a_grading_uid(batch: Batch) -> None:
    """Did each attack that reports see itself running as a slot's uid, never as root?"""
    uids = {}
    for learner in SCENARIOS:
        for number in range(1, 6):
            found = report(batch, learner, number)
            if found:
                uids[learner] = found["uid"]
    assert len(uids) >= 12, uids
    assert {k: v for k, v in uids.items() if v < FIRST_UID} == {}


def test_nothing_of_the_keys_or_another_learner_shows_in_hostile_output(batch: Batch) -> None:
    """Does no hostile learner's output or report (results.json, feedback) hold a key, a hidden check,
    a solution, or another learner's work?"""
    markers = key_markers() + [
        "Xk7pQ2vN9sLm4RtW8yB3cZ6hJ1fD5gA0eU2iO7nK9qE",  # honest_hand_typed's hand-typed URL (forged_url reuses the sig: excluded below)
        "every lesson-1 question answered right",  # honest_correct's header
        "HOSTILE hello from",  # the loopback probe
    ] + [f'SCENARIO = "{name}"' for name in SCENARIOS]
    leaks = []
    for learner in SCENARIOS:
        texts = {f"step {s['step']} output": s["stdout"] + s["stderr"] for s in batch.results[learner]["steps"]}
        for name in ("results.json", "feedback.md", "feedback.html"):
            texts[name] = (batch.out / learner / name).read_text(encoding="utf-8", errors="replace")
        for where, text in texts.items():
            for marker in markers:
                if marker == f'SCENARIO = "{learner}"':
                    continue
                if learner == "forged_url" and marker.startswith("Xk7pQ2"):
                    continue
                if marker in text:
                    leaks.append(f"{learner} / {where}: {marker}")
    assert leaks == []


# ------------------------------------------------------------------------------------- each scenario


def _failed_with_a_reason(batch: Batch, learner: str, number: int) -> None:
    step = steps_of(batch, learner)[number]
    assert not step["passed"], f"{learner} step {number} passed"
    assert step["points"] < step["max_points"]
    test = next(t for t in gradescope(batch, learner)["tests"] if t["number"] == f"1.{number}")
    assert test["score"] < test["max_score"]
    assert step["reason"] or any(not c["passed"] and c["message"] for c in step["checks"]), step
    assert "Could not be judged normally" in test["output"] or "✗" in test["output"]


@pytest.mark.parametrize("learner", SCENARIOS)
def test_attacked_steps_fail_with_a_reason_and_the_rest_is_graded(batch: Batch, learner: str) -> None:
    """Does each attacked step get a failed row with a reason, while the learner's honest steps score in full?"""
    honest = batch.rows["honest_correct"]
    failing = [1] if learner in STEP1_ONLY else FAILS[learner]
    for number in failing:
        _failed_with_a_reason(batch, learner, number)
    for number in range(1, 6):
        if number not in failing:
            assert batch.rows[learner][f"step{number}"] == honest[f"step{number}"], f"{learner} step {number}"


def test_forged_url(batch: Batch) -> None:
    steps = steps_of(batch, "forged_url")
    assert "img-Forged8NbK2vXm6RpJ3sLc9Ya.png" in steps[3]["stdout"]
    # the forged URL is printed, but the run never asked the API for anything
    assert any("the step sent no request to the Images API" in c.get("detail", "") for c in steps[3]["checks"])


def test_exit_before_work(batch: Batch) -> None:
    steps = steps_of(batch, "exit_before_work")
    assert all(s["exit_code"] == 0 and s["stdout"] == "" for s in steps.values())
    for step in steps.values():  # only the exit checks pass: nothing was asked of the API, nothing printed
        assert [c["kind"] for c in step["checks"] if c["passed"]] in ([], ["exit"]), step["checks"]


@pytest.mark.parametrize("learner", ["infinite_loop", "sleep_past_limit"])
def test_runaway_steps_time_out(batch: Batch, learner: str) -> None:
    step = steps_of(batch, learner)[1]
    assert step["reason"] == f"the step did not finish within {TIMEOUT} s"
    assert step["duration"] < float(TIMEOUT) + 5
    assert "woke" not in step["stdout"]


def test_fork_bomb_stops_at_the_process_limit(batch: Batch) -> None:
    found = report(batch, "fork_bomb")
    assert found is not None and found["forked"] < 100 and found["error"], found


def test_a_fork_bomb_does_not_spoil_the_next_step(batch: Batch) -> None:
    """The step after a fork bomb runs as the same slot uid: it must start clean, its API calls answered."""
    step = steps_of(batch, "fork_bomb")[2]
    assert step["passed"], ("the step after the fork bomb failed: " + (step["stderr"].strip().splitlines() or [""])[-1]
                            + " (the bomb's killed children still count against the uid's process limit)")


def test_allocate_8gb_is_refused(batch: Batch) -> None:
    step = steps_of(batch, "allocate_8gb")[1]
    assert "MemoryError" in step["stderr"]
    assert '"allocated"' not in step["stdout"]


def test_print_1gb_is_cut_off(batch: Batch) -> None:
    step = steps_of(batch, "print_1gb")[1]
    assert step["reason"] == "the step printed more than 1024 KB"
    assert len(step["stdout"]) < 64 * 1024  # what is kept of it


def test_read_answer_keys_reads_nothing(batch: Batch) -> None:
    found = report(batch, "read_answer_keys")
    assert found is not None
    assert found["read"] == [] and found["memory_hits"] == 0, found
    listed = found["listed"]
    # the real repository (wherever the grader runs from) is out of sight, and the lessons are hidden in the box
    assert "solutions" not in str(listed["repo"]) and "solutions" not in str(listed["host"]), listed
    for label in ("host lessons", "repo lessons"):
        assert listed[label] == [] or not isinstance(listed[label], list), listed


def test_read_other_learner_finds_nobody(batch: Batch) -> None:
    found = report(batch, "read_other_learner")
    assert found is not None and found["found"] == [], found


def test_write_output_folder_writes_nothing(batch: Batch) -> None:
    found = report(batch, "write_output_folder")
    assert found is not None and found["wrote"] == [], found


def test_kill_grader_kills_nothing_but_itself(batch: Batch) -> None:
    found = report(batch, "kill_grader")
    assert found is not None and found["done"] == [], found
    # in its own PID namespace, kill(-1) finds nothing it may signal: the attack ends the script, or the step
    # kills itself by its own group
    reason = steps_of(batch, "kill_grader")[1]["reason"]
    assert reason.startswith("the step crashed (killed by signal 9)") or "ProcessLookupError" in reason, reason


def test_socket_to_other_loopback_is_refused(batch: Batch) -> None:
    found = report(batch, "socket_to_other_loopback")
    assert found is not None and found["connected"] is False, found


def test_monkeypatched_openai_fakes_nothing(batch: Batch) -> None:
    assert float(batch.rows["monkeypatch_openai"]["step3"]) <= 5  # the exit check at most
    steps = steps_of(batch, "monkeypatch_openai")
    assert "img-Monkeypatched0000.png" in steps[3]["stdout"]
    assert all(not any(c["kind"] == "request" and c["passed"] for c in s["checks"]) for s in steps.values())


def test_closed_stdout_and_binary_junk(batch: Batch) -> None:
    step = steps_of(batch, "close_stdout_binary_junk")[1]
    assert "junk" in step["stdout"] and "\ufffd" in step["stdout"]
    json.loads((batch.out / "close_stdout_binary_junk" / "results.json").read_text(encoding="utf-8"))
    assert (batch.out / "close_stdout_binary_junk" / "feedback.html").read_text(encoding="utf-8")


def test_delete_files_deletes_nothing_outside_its_copy(batch: Batch) -> None:
    found = report(batch, "delete_files")
    assert found is not None and found["dry_run"] is False, found  # it ran unprivileged, and really tried
    # its gone list may hold only what lives in its own box (its home, which is its copy, and its /tmp)
    assert all(t not in found["gone"] for t in found["targets"][:3]), found
    assert batch.rows["honest_correct"]["percent"] == "100"


def test_symlinks_in_a_submission_reach_nothing(batch: Batch) -> None:
    found = report(batch, "symlink_keys")
    assert found is not None and set(found["read"]) <= {"data/passwd"}, found


def test_answers_linked_from_another_learner_do_not_count(batch: Batch) -> None:
    """A learner folder whose answers.json is a link to another learner's must not score those answers."""
    row = batch.rows["symlink_answers"]
    questions = [c for c in row if c.startswith("multiple-choice-")]
    copied = {q: row[q] for q in questions if row[q] != "0"}
    assert copied == {}, f"answers read through a link to honest_correct/answers.json scored: {copied}"


def test_rewrite_checks_writes_nothing(batch: Batch) -> None:
    found = report(batch, "rewrite_checks")
    assert found is not None and found["wrote"] == [], found


def test_daemon_does_not_survive(batch: Batch) -> None:
    found = report(batch, "daemon_survivor")
    assert found is not None and found["daemon_started"] is True
    assert survivors(batch) == []


def test_markup_injection_is_escaped(batch: Batch) -> None:
    page = (batch.out / "markup_injection" / "feedback.html").read_text(encoding="utf-8")
    assert '<script>alert("HOSTILE")' not in page and "<img src=x" not in page
    assert "&lt;script&gt;" in page
    assert len(read_rows(batch.out)) == len(SCENARIOS) + len(HONEST)
    # the printed verdict counts for nothing, and running cleanly earns nothing without the step's work
    assert batch.rows["markup_injection"]["step1"] == "0"


def test_fill_disk_is_capped(batch: Batch) -> None:
    """A step's own folder and /tmp are capped: a class cannot fill the grading machine's disk."""
    found = report(batch, "fill_disk")
    assert found is not None
    assert found["written"]["/tmp"] <= 16 * MB, found
    assert found["written"]["."] <= 64 * MB, (f"a step wrote {found['written']['.'] // MB} MB into its working copy "
                                              "(the test's own cap is 320 MB): nothing caps a step's disk use")


def test_fork_memory_is_capped_per_step(batch: Batch) -> None:
    """The memory limit holds for a step as a whole, not only per process (64 processes x 2 GB is 128 GB)."""
    found = report(batch, "fork_memory")
    assert found is not None, steps_of(batch, "fork_memory")[1]
    assert found["megabytes_held"] <= 2048, (f"3 children of one step held {found['megabytes_held']} MB "
                                             "at once: the 2 GB limit is per process, nothing caps a step's total memory")


# ------------------------------------------------------------------------------------------------
# Round two: what an independent red team broke around the walls, each kind beside honest learners.
#
# tests/fixtures/hostile2/<scenario>/imageGen.py is the honest lesson-1 script with an attack in step 1
# (keyrings, a PID scan, forbidden system calls, the grader's environment in inherited memory and in
# /proc, a flood of the shared offline API, CPU hogs in new sessions, links in a submission); the odd
# folders (a FIFO, 70 MB, 20,000 files, folders a thousand deep, a name that is not UTF-8, learners
# called `gradebook.csv` and `=HYPERLINK(...)`) are made at test time, since git keeps none of them.
# All are graded once, as root, beside two honest learners whose rows must equal their rows graded
# alone; the grader runs with a secret in its environment that no step may find. The last test grades
# a few of them as an ordinary user, the weaker box.

HOSTILE_TWO = Path(__file__).with_name("fixtures") / "hostile2"
SCENARIOS_TWO = sorted(p.name for p in HOSTILE_TWO.iterdir() if (p / "imageGen.py").is_file())
SECRET = "-".join(["course", "grader", "secret", "marker"])
ODD_FOLDERS = ["answers_is_a_folder", "answers_deep", "fifo_inside", "seventy_mb", "twenty_thousand_files", "deep_folders",
       "gradebook.csv", "summary.html", '\'=HYPERLINK("evil.example","click")']


def grade_in(*args: str, cwd: Path, timeout: float = 600) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(PYTHONPATH=str(REPO), COURSE_GRADER_TEST_SECRET=SECRET)  # a secret of the grader's own environment
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True, timeout=timeout,
                            cwd=cwd, env=env)
    return result, time.monotonic() - started


def honest_copy(into: Path) -> None:
    shutil.copytree(FIXTURES / "correct_everything", into)


def build_odd_folders(class_dir: Path) -> None:
    """The folders git cannot keep, each with the honest script, and the one odd thing."""
    honest_copy(class_dir / "answers_is_a_folder")
    (class_dir / "answers_is_a_folder" / "answers.json").unlink()
    (class_dir / "answers_is_a_folder" / "answers.json").mkdir()
    honest_copy(class_dir / "answers_deep")
    deep = class_dir / "answers_deep" / Path(*["nested"] * 30)
    deep.mkdir(parents=True)
    (class_dir / "answers_deep" / "answers.json").rename(deep / "answers.json")
    honest_copy(class_dir / "fifo_inside")
    os.mkfifo(class_dir / "fifo_inside" / "data.fifo")
    os.mkfifo(class_dir / "fifo_inside" / "imageGen2.py")  # a FIFO under a lesson script's name
    honest_copy(class_dir / "seventy_mb")
    with open(class_dir / "seventy_mb" / "dataset.bin", "wb") as f:
        f.truncate(70 * 1024 * 1024)
    honest_copy(class_dir / "twenty_thousand_files")
    many = class_dir / "twenty_thousand_files" / "cache"
    many.mkdir()
    for i in range(20_000):
        (many / f"{i}.txt").write_bytes(b"x")
    honest_copy(class_dir / "deep_folders")
    deep = class_dir / "deep_folders"
    for _ in range(1000):  # os.makedirs would recurse a thousand deep
        deep = deep / "d"
        deep.mkdir()
    for name in ("gradebook.csv", "summary.html", '=HYPERLINK("evil.example","click")'):
        honest_copy(class_dir / name)
    os.mkdir(os.fsencode(class_dir) + b"/not-utf8-\xff\xfe")
    shutil.copy(FIXTURES / "correct_everything" / "imageGen.py", os.fsdecode(os.fsencode(class_dir) + b"/not-utf8-\xff\xfe/imageGen.py"))


@dataclass
class BatchTwo:
    out: Path
    alone: Path
    result: subprocess.CompletedProcess[str]
    again: subprocess.CompletedProcess[str]
    zygote_environ_clean: bool | None
    rows: dict[str, dict[str, str]]
    results: dict[str, dict[str, Any]]


def _zygote_environs() -> list[bytes]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if b"grader.box.zygote" in (entry / "cmdline").read_bytes():
                    found.append((entry / "environ").read_bytes())
            except OSError:
                continue
    return found


@pytest.fixture(scope="module")
def batch_two(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BatchTwo]:
    base = tmp_path_factory.mktemp("hostile2")
    class_dir = base / "class"
    for name in SCENARIOS_TWO:
        shutil.copytree(HOSTILE_TWO / name, class_dir / name)
    for name, source in HONEST.items():
        shutil.copytree(source, class_dir / name)
    build_odd_folders(class_dir)
    links = class_dir / "links_in_submission"
    (links / "key.json").symlink_to(REPO / "solutions" / "assessments" / "multiple-choice-1558564085.json")
    (links / "solutions").symlink_to(REPO / "solutions")
    (links / "zero").symlink_to("/dev/zero")
    environs: list[bytes] = []
    proc = subprocess.Popen([sys.executable, "-m", "grader", "grade", "class", "--out", "out", "--quiet", "--lesson",
                             "1", "--timeout", TIMEOUT, "--jobs", "2"], cwd=base, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**{k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")},
                                 "PYTHONPATH": str(REPO), "COURSE_GRADER_TEST_SECRET": SECRET})
    while proc.poll() is None:  # look into the zygotes while they live
        environs += _zygote_environs()
        time.sleep(0.2)
    stdout, stderr = proc.communicate()
    result = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    again, _ = grade_in("grade", "class", "--out", "out", "--quiet", "--lesson", "1", "--timeout", TIMEOUT, cwd=base)
    honest_dir = base / "honest"
    for name, source in HONEST.items():
        shutil.copytree(source, honest_dir / name)
    grade_in("grade", "honest", "--out", "alone", "--quiet", "--lesson", "1", "--timeout", TIMEOUT, "--jobs", "2", cwd=base)
    out = base / "out"
    with sqlite3.connect(out / "gradebook.sqlite3") as db:
        rows = db.execute("SELECT learner, result FROM grades WHERE run_id = (SELECT MIN(id) FROM runs)").fetchall()
    yield BatchTwo(out, base / "alone", result, again, (all(SECRET.encode() not in e for e in environs) if environs else None),
                read_rows(out), {learner: json.loads(text) for learner, text in rows})
    remove_chain(class_dir / "deep_folders")


def remove_chain(top: Path) -> None:
    """Remove a folder a thousand deep from the bottom up: shutil.rmtree recurses and would give up on it."""
    chain = [top]
    while (chain[-1] / "d").is_dir():
        chain.append(chain[-1] / "d")
    for folder in reversed(chain):
        shutil.rmtree(folder)


def report_two(batch_two: BatchTwo, learner: str) -> dict[str, Any] | None:
    step = next(s for s in batch_two.results[learner]["steps"] if s["step"] == 1)
    found = None
    for line in step["stdout"].splitlines():
        if line.startswith("HOSTILE-REPORT "):
            found = json.loads(line[len("HOSTILE-REPORT "):])
    return found


def test_round_two_finishes_and_a_second_run_does_too(batch_two: BatchTwo) -> None:
    assert batch_two.result.returncode == 0, batch_two.result.stdout[-2000:] + batch_two.result.stderr[-2000:]
    assert batch_two.again.returncode == 0, batch_two.again.stderr[-2000:]
    expected = set(SCENARIOS_TWO) | set(HONEST) | set(ODD_FOLDERS)
    assert expected <= set(batch_two.rows)
    assert any(name.startswith("not-utf8-??-") for name in batch_two.rows)


def test_honest_learners_beside_round_two_grade_as_when_alone(batch_two: BatchTwo) -> None:
    alone = read_rows(batch_two.alone)
    for learner in HONEST:
        assert batch_two.rows[learner] == alone[learner], learner
    assert batch_two.rows["honest_correct"]["percent"] == "100"


def test_honest_steps_are_not_slowed(batch_two: BatchTwo) -> None:
    """A CPU hog in new sessions, a flood of the API: the honest steps still take well under their limit."""
    for learner in HONEST:
        durations = [s["duration"] for s in batch_two.results[learner]["steps"]]
        assert max(durations) < 2.0, (learner, durations)


def test_keyrings_are_out_of_reach(batch_two: BatchTwo) -> None:
    found = report_two(batch_two, "keyring_share")
    assert found is not None and found["done"] == [] and len(found["refused"]) == 5, found


def test_a_step_sees_no_other_process(batch_two: BatchTwo) -> None:
    found = report_two(batch_two, "pid_scan")
    assert found is not None and found["seen"] <= 1 and found["first"] in ([], [1]), found


def test_the_calls_no_step_needs_are_refused(batch_two: BatchTwo) -> None:
    found = report_two(batch_two, "forbidden_syscalls")
    assert found is not None and found["done"] == [] and len(found["refused"]) >= 8, found


def test_nothing_of_the_graders_environment_reaches_a_step(batch_two: BatchTwo) -> None:
    found = report_two(batch_two, "grader_env_in_memory")
    assert found is not None and found["found"] == [], found
    assert "COURSE_GRADER_TEST_SECRET" not in found["environ_names"]
    assert batch_two.zygote_environ_clean is not False  # the zygotes (when seen alive) carry no secret


def test_a_flood_of_the_api_gets_nothing_costly(batch_two: BatchTwo) -> None:
    found = report_two(batch_two, "api_flood")
    assert found is not None and found["answered"] == 0, found


def test_links_in_a_submission_are_never_followed(batch_two: BatchTwo) -> None:
    found = report_two(batch_two, "links_in_submission")
    assert found is not None and found["seen"] == ["imageGen.py"] and found["read"] == [], found


def test_each_odd_folder_is_its_own_row_with_a_clear_reason(batch_two: BatchTwo) -> None:
    honest = batch_two.rows["honest_correct"]
    for learner in ("answers_is_a_folder", "answers_deep", "fifo_inside", "deep_folders", "gradebook.csv", "summary.html"):
        assert [batch_two.rows[learner][f"step{n}"] for n in range(1, 6)] == [honest[f"step{n}"] for n in range(1, 6)], learner
    assert batch_two.rows["answers_is_a_folder"]["total"] == "90"  # its answers are a folder: not answered
    assert batch_two.rows["answers_deep"]["total"] == "90"  # thirty folders down: past where answers are looked for
    assert batch_two.rows["fifo_inside"]["total"] == "190"  # the FIFO named imageGen2.py is no lesson 2
    for learner, words in (("seventy_mb", "70 MB"), ("twenty_thousand_files", "more than 20,000 files")):
        steps = batch_two.results[learner]["steps"]
        assert all(not s["passed"] and words in s["reason"] for s in steps), (learner, steps[0]["reason"])
    assert (batch_two.out / "gradebook.csv").is_file() and (batch_two.out / "summary.html").is_file()
    assert json.loads((batch_two.out / "summary.json").read_text())["learners"] == len(batch_two.rows)


def test_a_learner_named_like_a_formula_stays_text(batch_two: BatchTwo) -> None:
    cells = [row[0] for row in csv.reader((batch_two.out / "gradebook.csv").read_text(encoding="utf-8").splitlines())]
    assert "'=HYPERLINK(\"evil.example\",\"click\")" in cells
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)


def test_a_class_zip_with_an_entry_that_lies_about_its_size(tmp_path: Path) -> None:
    """One learner's damaged entry is left out, said once, and the class is graded."""
    archive = tmp_path / "class.zip"
    script = (FIXTURES / "correct_everything" / "imageGen.py").read_bytes()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("class/ada/imageGen.py", script)
        zf.writestr("class/bo/imageGen.py", script)
        zf.writestr("class/bo/notes.txt", b"y" * 100_000)
    data = bytearray(archive.read_bytes())
    # make notes.txt lie: its headers claim 10 bytes, its data holds 100,000
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo("class/bo/notes.txt")
    for offset in (info.header_offset + 22,):  # local header: uncompressed size
        data[offset:offset + 4] = (10).to_bytes(4, "little")
    central = data.rfind(b"PK\x01\x02", 0, len(data))
    while central != -1:
        name_length = int.from_bytes(data[central + 28:central + 30], "little")
        if data[central + 46:central + 46 + name_length] == b"class/bo/notes.txt":
            data[central + 24:central + 28] = (10).to_bytes(4, "little")
        central = data.rfind(b"PK\x01\x02", 0, central)
    archive.write_bytes(bytes(data))
    result, _ = grade_in("grade", "class.zip", "--out", "out", "--quiet", "--lesson", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    rows = read_rows(tmp_path / "out")
    assert rows["ada"]["total"] == "90" and rows["bo"]["total"] == "90"  # every step in full (no answers.json)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert any("left out 1 damaged entry" in note and "notes.txt" in note for note in summary["notes"]), summary["notes"]


def test_gradescope_copies_no_link_and_no_special_file(tmp_path: Path) -> None:
    submission = tmp_path / "submission"
    shutil.copytree(HOSTILE_TWO / "links_in_submission", submission)
    (submission / "key.json").symlink_to(REPO / "solutions" / "assessments" / "multiple-choice-1558564085.json")
    (submission / "zero").symlink_to("/dev/zero")
    os.mkfifo(submission / "pipe")
    target = tmp_path / "results" / "results.json"
    result, elapsed = grade_in("gradescope", str(submission), str(target), "--lesson", "1", cwd=tmp_path, timeout=120)
    assert result.returncode == 0 and elapsed < 60, result.stderr
    output = json.dumps(json.loads(target.read_text()))
    assert '\\"seen\\": [\\"imageGen.py\\"]' in output and '\\"read\\": []' in output


def test_the_zygote_starts_with_a_minimal_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from grader.box.engine import Engine

    monkeypatch.setenv("COURSE_GRADER_TEST_SECRET", SECRET)
    engine = Engine(1, warm=True)
    try:
        (slot,) = engine._all
        environ = Path(f"/proc/{slot.zygote.pid}/environ").read_bytes()  # type: ignore[union-attr]
        assert SECRET.encode() not in environ and b"COURSE_GRADER_TEST_SECRET" not in environ
        assert set(entry.split(b"=", 1)[0] for entry in environ.split(b"\0") if entry) <= {
            b"PATH", b"LANG", b"HOME", b"PYTHONPATH", b"PYTHONDONTWRITEBYTECODE", b"PYTHONIOENCODING"}
    finally:
        engine.close()


def test_without_root_the_weaker_box_keeps_what_it_says(tmp_path: Path) -> None:
    """As an ordinary user (the right-hand column of docs/instructors/the-box.md): links are never copied, no step finds the
    grader's environment (its own process undumpable, the zygotes' and the API's minimal), keyrings and
    the calls no step needs are refused, the API's budget holds, a formula stays text, honest work is full."""
    prefix = as_nobody()
    if prefix is None:
        pytest.skip("needs root to become another user, and a checkout that user can read")
    work = Path(tempfile.mkdtemp(prefix="hostile-as-user-", dir="/tmp"))
    try:
        class_dir = work / "class"
        for name in ("links_in_submission", "grader_env_in_memory", "api_flood", "keyring_share", "forbidden_syscalls"):
            shutil.copytree(HOSTILE_TWO / name, class_dir / name)
        honest_copy(class_dir / "honest_correct")
        honest_copy(class_dir / "=cmd|' -C calc'!A0")
        links = class_dir / "links_in_submission"
        (links / "key.json").symlink_to(REPO / "solutions" / "assessments" / "multiple-choice-1558564085.json")
        (links / "zero").symlink_to("/dev/zero")
        os.mkfifo(links / "pipe")
        (work / "home").mkdir()
        for path in [work, *work.rglob("*")]:
            os.lchown(path, 65534, 65534)
        result = subprocess.run([*prefix, sys.executable, "-m", "grader", "grade", "class", "--out", "out", "--quiet",
                                 "--lesson", "1", "--timeout", TIMEOUT, "--jobs", "2"], cwd=work, capture_output=True,
                                text=True, timeout=600,
                                env={"PATH": "/usr/bin:/bin", "HOME": str(work / "home"), "PYTHONPATH": str(REPO),
                                     "COURSE_GRADER_TEST_SECRET": SECRET})
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        assert "grading with the weaker box" in result.stderr
        out = work / "out"
        rows = read_rows(out)
        with sqlite3.connect(out / "gradebook.sqlite3") as db:
            results = {learner: json.loads(text) for learner, text in db.execute("SELECT learner, result FROM grades")}
        got = BatchTwo(out, out, result, result, None, rows, results)
        assert rows["honest_correct"]["percent"] == "100"
        found = report_two(got, "links_in_submission")
        assert found is not None and found["seen"] == ["imageGen.py"] and found["read"] == [], found
        found = report_two(got, "grader_env_in_memory")
        assert found is not None and found["found"] == [] and found["uid"] != 0, found
        if abi() >= 1:  # Landlock: no /proc at all, as in the full box
            assert found["environs_read"] == 0, found
        else:  # it could open other processes' environments: they held nothing
            assert found["environs_read"] >= 1, found
        found = report_two(got, "keyring_share")
        assert found is not None and found["done"] == [], found
        found = report_two(got, "forbidden_syscalls")
        assert found is not None and found["done"] == [], found
        found = report_two(got, "api_flood")
        assert found is not None and found["answered"] == 0, found
        cells = [row[0] for row in csv.reader((out / "gradebook.csv").read_text(encoding="utf-8").splitlines())]
        assert "'=cmd|' -C calc'!A0" in cells
    finally:
        shutil.rmtree(work, ignore_errors=True)


LEAVE_BEHIND = '''
import ctypes, os, socket, sys, time
libc = ctypes.CDLL(None, use_errno=True)
shm = libc.shmget(0x5EED, 4096, 0o1666)  # IPC_CREAT | 0666: a System V segment the next step might find
if os.fork() == 0:  # a daemon: its own session, a listening port, an hour of sleep
    os.setsid()
    if os.fork() == 0:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 9999))
        server.listen(5)
        time.sleep(3600)
    os._exit(0)
time.sleep(0.3)
print("LEFT", shm, os.getpid(), os.getppid(), flush=True)
'''

LOOK_AROUND = '''
import ctypes, errno, os, socket
libc = ctypes.CDLL(None, use_errno=True)
me = os.getpid()
seen = [pid for pid in range(1, 4096) if pid != me and (libc.kill(pid, 0) == 0 or ctypes.get_errno() == errno.EPERM)]
shm = libc.shmget(0x5EED, 0, 0)
try:
    socket.create_connection(("127.0.0.1", 9999), timeout=1).close()
    port = "open"
except OSError:
    port = "closed"
print("SAW", seen, shm, port, os.getppid(), flush=True)
'''


def test_a_slots_steps_share_nothing_through_its_namespaces(tmp_path: Path) -> None:
    """The steps of one worker slot run in its PID and network namespaces, one after another: what a step
    leaves (a daemon with a listening port, a System V segment) is gone for the next, which sees only pid 1
    and itself; a step with namespaces of its own in between leaves the slot's host as it was."""
    from grader.api import private_api
    from grader.box.engine import Engine
    from grader.grade import choose_lessons, step_column
    from grader.handin import find_work
    from grader.runner import run_step

    lesson = choose_lessons(["1"])[0]
    step = lesson.steps[0]
    work = {}
    for name, script in (("leaves", LEAVE_BEHIND), ("looks", LOOK_AROUND)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "imageGen.py").write_text(script, encoding="utf-8")
        work[name] = find_work(tmp_path / name, [lesson], tmp_path / f"scratch-{name}").lessons[lesson.number]
    engine = Engine(1, warm=True)
    (slot,) = engine._all
    if not slot.pid_namespace:
        engine.close()
        pytest.skip("no PID namespace on this machine")
    outputs: list[str] = []
    try:
        with private_api(tmp_path / "api") as api:
            for name, own_namespaces in (("leaves", False), ("looks", False), ("leaves", True), ("looks", False)):
                slot.pid_namespace = not own_namespaces
                outcome = run_step(work[name], step, step_column(lesson, 1), slot=slot, api=api)
                assert not outcome.fault, outcome.fault
                outputs.append(outcome.stdout)
    finally:
        engine.close()
    left = outputs[0].split()
    assert left[0] == "LEFT" and int(left[1]) >= 0 and left[3] == "1", outputs[0]  # it made its segment; parent pid 1
    for seen in (outputs[1], outputs[3]):
        assert seen.startswith("SAW [1] -1 closed 1"), seen  # pid 1 only, no segment, the port gone
    assert outputs[2].startswith("LEFT"), outputs[2]


def test_a_namespace_host_lost_mid_step_is_our_fault_and_the_next_step_runs(tmp_path: Path) -> None:
    """The slot's namespace host killed while a step runs (by us: no step can signal it): that step is not
    graded, with the reason, never a zero; the next step gets a new host and is graded."""
    from grader.api import private_api
    from grader.box.engine import Engine
    from grader.grade import choose_lessons, step_column
    from grader.handin import find_work
    from grader.runner import run_step

    lesson = choose_lessons(["1"])[0]
    (tmp_path / "slow").mkdir()
    (tmp_path / "slow" / "imageGen.py").write_text("import time\ntime.sleep(20)\n", encoding="utf-8")
    slow = find_work(tmp_path / "slow", [lesson], tmp_path / "scratch-slow").lessons[lesson.number]
    honest = find_work(HONEST["honest_correct"], [lesson], tmp_path / "scratch-honest").lessons[lesson.number]
    engine = Engine(1, warm=True)
    (slot,) = engine._all
    if not slot.pid_namespace:
        engine.close()
        pytest.skip("no PID namespace on this machine")
    try:
        with private_api(tmp_path / "api") as api:
            outcomes: list = []
            runner = threading.Thread(target=lambda: outcomes.append(
                run_step(slow, lesson.steps[0], step_column(lesson, 1), slot=slot, api=api, timeout=15)))
            runner.start()
            zygote = slot.zygote.pid  # type: ignore[union-attr]
            deadline = time.monotonic() + 60  # the zygote's warm-up first, on a busy machine
            hosts: list[str] = []
            while not hosts and time.monotonic() < deadline:
                time.sleep(0.1)
                hosts = Path(f"/proc/{zygote}/task/{zygote}/children").read_text().split()
            assert hosts, "the zygote forked no namespace host"
            killed = False
            while not killed and time.monotonic() < deadline:  # a child seen a moment ago may have been a passing one
                time.sleep(0.5)  # the step is asleep in the host
                hosts = Path(f"/proc/{zygote}/task/{zygote}/children").read_text().split()
                try:
                    os.kill(int(hosts[0]), signal.SIGKILL)
                    killed = True
                except (IndexError, ProcessLookupError):
                    continue
            assert killed, "no namespace host to kill"
            runner.join(30)
            (lost,) = outcomes
            assert lost.fault and "namespace host" in lost.fault and not lost.passed, lost
            after = run_step(honest, lesson.steps[0], step_column(lesson, 1), slot=slot, api=api)
            assert not after.fault and after.passed, after
    finally:
        engine.close()
