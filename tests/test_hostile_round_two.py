"""The box, round two: what an independent red team broke around the walls, each kind beside honest learners.

tests/fixtures/hostile2/<scenario>/imageGen.py is the honest lesson-1 script with an attack in step 1
(keyrings, a PID scan, forbidden system calls, the grader's environment in inherited memory, a flood
of the shared offline API, CPU hogs in new sessions, links in a submission); the odd folders (a FIFO,
70 MB, 20,000 files, folders a thousand deep, a name that is not UTF-8, learners called
`gradebook.csv` and `=HYPERLINK(...)`) are made at test time, since git keeps none of them. All are
graded once, as root, beside two honest learners whose rows must equal their rows graded alone; the
grader runs with a secret in its environment that no step may find.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the grading box (namespaces, chroot, a uid per worker "
                                "slot) needs root; without root only rlimits, a process group and a fresh copy apply")

HOSTILE = Path(__file__).with_name("fixtures") / "hostile2"
FIXTURES = Path(__file__).with_name("fixtures") / "submissions"
SCENARIOS = sorted(p.name for p in HOSTILE.iterdir() if (p / "imageGen.py").is_file())
HONEST = {"honest_correct": FIXTURES / "correct_everything", "honest_hand_typed": FIXTURES / "step3_hand_typed_url"}
SECRET = "-".join(["course", "grader", "secret", "marker"])
TIMEOUT = "3"
ODD = ["answers_is_a_folder", "answers_deep", "fifo_inside", "seventy_mb", "twenty_thousand_files", "deep_folders",
       "gradebook.csv", "summary.html", '\'=HYPERLINK("evil.example","click")']


def grader(*args: str, cwd: Path, timeout: float = 600) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(PYTHONPATH=str(REPO), COURSE_GRADER_TEST_SECRET=SECRET)  # a secret of the grader's own environment
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True, timeout=timeout,
                            cwd=cwd, env=env)
    return result, time.monotonic() - started


def honest_copy(into: Path) -> None:
    shutil.copytree(FIXTURES / "correct_everything", into)


def build_odd(class_dir: Path) -> None:
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
class Batch:
    out: Path
    alone: Path
    result: subprocess.CompletedProcess[str]
    again: subprocess.CompletedProcess[str]
    zygote_environ_clean: bool | None
    rows: dict[str, dict[str, str]]
    results: dict[str, dict[str, Any]]


def read_rows(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as f:
        return {row["learner"]: row for row in csv.DictReader(f)}


def _zygote_environs() -> list[bytes]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if b"grader.zygote" in (entry / "cmdline").read_bytes():
                    found.append((entry / "environ").read_bytes())
            except OSError:
                continue
    return found


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Batch:
    base = tmp_path_factory.mktemp("hostile2")
    class_dir = base / "class"
    for name in SCENARIOS:
        shutil.copytree(HOSTILE / name, class_dir / name)
    for name, source in HONEST.items():
        shutil.copytree(source, class_dir / name)
    build_odd(class_dir)
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
    again, _ = grader("grade", "class", "--out", "out", "--quiet", "--lesson", "1", "--timeout", TIMEOUT, cwd=base)
    honest_dir = base / "honest"
    for name, source in HONEST.items():
        shutil.copytree(source, honest_dir / name)
    grader("grade", "honest", "--out", "alone", "--quiet", "--lesson", "1", "--timeout", TIMEOUT, "--jobs", "2", cwd=base)
    out = base / "out"
    with sqlite3.connect(out / "gradebook.sqlite3") as db:
        rows = db.execute("SELECT learner, result FROM grades WHERE run_id = (SELECT MIN(id) FROM runs)").fetchall()
    return Batch(out, base / "alone", result, again, (all(SECRET.encode() not in e for e in environs) if environs else None),
                 read_rows(out), {learner: json.loads(text) for learner, text in rows})


def report(batch: Batch, learner: str) -> dict[str, Any] | None:
    step = next(s for s in batch.results[learner]["steps"] if s["step"] == 1)
    found = None
    for line in step["stdout"].splitlines():
        if line.startswith("HOSTILE-REPORT "):
            found = json.loads(line[len("HOSTILE-REPORT "):])
    return found


def test_the_batch_finishes_and_a_second_run_does_too(batch: Batch) -> None:
    assert batch.result.returncode == 0, batch.result.stdout[-2000:] + batch.result.stderr[-2000:]
    assert batch.again.returncode == 0, batch.again.stderr[-2000:]
    expected = set(SCENARIOS) | set(HONEST) | set(ODD)
    assert expected <= set(batch.rows)
    assert any(name.startswith("not-utf8-??-") for name in batch.rows)


def test_honest_learners_grade_exactly_as_when_alone(batch: Batch) -> None:
    alone = read_rows(batch.alone)
    for learner in HONEST:
        assert batch.rows[learner] == alone[learner], learner
    assert batch.rows["honest_correct"]["percent"] == "100"


def test_honest_steps_are_not_slowed(batch: Batch) -> None:
    """A CPU hog in new sessions, a flood of the API: the honest steps still take well under their limit."""
    for learner in HONEST:
        durations = [s["duration"] for s in batch.results[learner]["steps"]]
        assert max(durations) < 2.0, (learner, durations)


def test_keyrings_are_out_of_reach(batch: Batch) -> None:
    found = report(batch, "keyring_share")
    assert found is not None and found["done"] == [] and len(found["refused"]) == 5, found


def test_a_step_sees_no_other_process(batch: Batch) -> None:
    found = report(batch, "pid_scan")
    assert found is not None and found["seen"] <= 1 and found["first"] in ([], [1]), found


def test_the_calls_no_step_needs_are_refused(batch: Batch) -> None:
    found = report(batch, "forbidden_syscalls")
    assert found is not None and found["done"] == [] and len(found["refused"]) >= 8, found


def test_nothing_of_the_graders_environment_reaches_a_step(batch: Batch) -> None:
    found = report(batch, "grader_env_in_memory")
    assert found is not None and found["found"] == [], found
    assert "COURSE_GRADER_TEST_SECRET" not in found["environ_names"]
    assert batch.zygote_environ_clean is not False  # the zygotes (when seen alive) carry no secret


def test_a_flood_of_the_api_gets_nothing_costly(batch: Batch) -> None:
    found = report(batch, "api_flood")
    assert found is not None and found["answered"] == 0, found


def test_links_in_a_submission_are_never_followed(batch: Batch) -> None:
    found = report(batch, "links_in_submission")
    assert found is not None and found["seen"] == ["imageGen.py"] and found["read"] == [], found


def test_each_odd_folder_is_its_own_row_with_a_clear_reason(batch: Batch) -> None:
    honest = batch.rows["honest_correct"]
    for learner in ("answers_is_a_folder", "answers_deep", "fifo_inside", "deep_folders", "gradebook.csv", "summary.html"):
        assert [batch.rows[learner][f"step{n}"] for n in range(1, 6)] == [honest[f"step{n}"] for n in range(1, 6)], learner
    assert batch.rows["answers_is_a_folder"]["total"] == "90"  # its answers are a folder: not answered
    assert batch.rows["answers_deep"]["total"] == "90"  # thirty folders down: past where answers are looked for
    assert batch.rows["fifo_inside"]["total"] == "190"  # the FIFO named imageGen2.py is no lesson 2
    for learner, words in (("seventy_mb", "70 MB"), ("twenty_thousand_files", "more than 10,000 files")):
        steps = batch.results[learner]["steps"]
        assert all(not s["passed"] and words in s["reason"] for s in steps), (learner, steps[0]["reason"])
    assert (batch.out / "gradebook.csv").is_file() and (batch.out / "summary.html").is_file()
    assert json.loads((batch.out / "summary.json").read_text())["learners"] == len(batch.rows)


def test_a_learner_named_like_a_formula_stays_text(batch: Batch) -> None:
    cells = [row[0] for row in csv.reader((batch.out / "gradebook.csv").read_text(encoding="utf-8").splitlines())]
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
    result, _ = grader("grade", "class.zip", "--out", "out", "--quiet", "--lesson", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    rows = read_rows(tmp_path / "out")
    assert rows["ada"]["total"] == "90" and rows["bo"]["total"] == "90"  # every step in full (no answers.json)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert any("left out 1 damaged entry" in note and "notes.txt" in note for note in summary["notes"]), summary["notes"]


def test_gradescope_copies_no_link_and_no_special_file(tmp_path: Path) -> None:
    submission = tmp_path / "submission"
    shutil.copytree(HOSTILE / "links_in_submission", submission)
    (submission / "key.json").symlink_to(REPO / "solutions" / "assessments" / "multiple-choice-1558564085.json")
    (submission / "zero").symlink_to("/dev/zero")
    os.mkfifo(submission / "pipe")
    target = tmp_path / "results" / "results.json"
    result, elapsed = grader("gradescope", str(submission), str(target), "--lesson", "1", cwd=tmp_path, timeout=120)
    assert result.returncode == 0 and elapsed < 60, result.stderr
    output = json.dumps(json.loads(target.read_text()))
    assert '\\"seen\\": [\\"imageGen.py\\"]' in output and '\\"read\\": []' in output


def test_the_zygote_starts_with_a_minimal_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from grader.engine import Engine

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
