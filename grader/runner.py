"""Running one step of one submission, in a fresh copy, with a key used by that run alone.

Whatever the step does (loops forever, floods its output, crashes, never imports), the result is a
judged `StepOutcome` with a clear reason, and the next step runs as usual.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from course.checks import StepRun, evaluate
from course.hints import hint_for_text
from course.offline.requestlog import read_log

from .results import CheckOutcome, StepOutcome
from .sandbox import mount_tmpfs, unmount

REPO = Path(__file__).resolve().parent.parent
STEP_TIMEOUT = 30.0
MAX_OUTPUT = 1024 * 1024  # per stream
KEEP_OUTPUT = 20_000  # what is kept in the results of a step's output
WORK_SIZE = "64m"  # a step's working copy, on its own tmpfs


def _read_capped(path: Path, limit: int) -> tuple[str, bool]:
    size = path.stat().st_size
    with open(path, "rb") as f:
        data = f.read(min(size, KEEP_OUTPUT))
    text = data.decode("utf-8", "replace")
    if size > KEEP_OUTPUT:
        with open(path, "rb") as f:
            f.seek(max(0, size - KEEP_OUTPUT // 2))
            tail = f.read().decode("utf-8", "replace")
        text = text[: KEEP_OUTPUT // 2] + f"\n[... {size - KEEP_OUTPUT} bytes left out ...]\n" + tail
    return text, size > limit


def _fresh_copy(source: Path, assets: Path | None, into: Path) -> None:
    for item in source.iterdir():
        if item.name in ("__pycache__", ".course", "images"):
            continue
        target = into / item.name
        if item.is_dir() and not item.is_symlink():
            shutil.copytree(item, target, symlinks=True)
        elif item.is_file() and not item.is_symlink():
            shutil.copy2(item, target)
    if assets is not None and assets.is_dir() and not (into / "assets").exists():
        shutil.copytree(assets, into / "assets")


def _env(home: str, base_url: str, key: str) -> dict[str, str]:
    """A small, explicit environment: nothing of the grader's own leaks into the learner's run."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(REPO),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8",
        "COURSE_HOME": home + "/.course-home",
        "OPENAI_BASE_URL": base_url,
        "OPENAI_API_BASE": base_url,
        "OPENAI_API_KEY": key,
    }


def _chown_tree(path: Path, uid: int) -> None:
    os.chown(path, uid, uid)
    for folder, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(folder, name), uid, uid, follow_symlinks=False)


def _reason(run: StepRun, number: int, script: str) -> str:
    if run.timed_out:
        return run.reason
    if run.exit_code is not None and run.exit_code < 0:
        return f"the step crashed (killed by signal {-run.exit_code})"
    if run.exit_code == 3 and "not written yet" in run.stderr:
        return f"step {number} is not written yet"
    last = run.stderr.strip().splitlines()[-1] if run.stderr.strip() else ""
    if run.exit_code not in (0, None) and "hint [" not in run.stderr and last.startswith(
            ("SyntaxError", "IndentationError", "TabError", "ModuleNotFoundError", "ImportError", "NameError")):
        return f"{script} cannot be run: {last}"
    return ""


def run_step(submission: Path, script: str, step: dict[str, Any], lesson: int, column: str, *, slot: Any,
             base_url: str, uds: Path, data_dir: Path, assets: Path | None = None, timeout: float = STEP_TIMEOUT,
             public_only: bool = False, source: Any = None) -> StepOutcome:
    """`source` (a submissions.LessonScript) says when the script comes from a notebook."""
    number = int(step["number"])
    title = step.get("title", f"step {number}")
    if public_only:
        step = {**step, "checks": [c for c in step.get("checks", []) if not c.get("hidden")]}
    text = source.text if source is not None else None
    if source is not None and source.problem:
        return _outcome(step, StepRun(number, "", "", None, reason=source.problem), lesson, column, title, 0.0)
    if text is None and not (submission / script).is_file():
        run = StepRun(number, "", "", None, reason=f"{script} is missing from the submission")
        return _outcome(step, run, lesson, column, title, 0.0)
    with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
        os.chmod(tmp, 0o755)
        work, logs, root = Path(tmp) / "work", Path(tmp) / "logs", Path(tmp) / "root"
        work.mkdir()
        logs.mkdir(mode=0o700)
        root.mkdir()
        # The step's only writable place: a size-capped tmpfs where the box can be built, so no step fills the disk.
        on_tmpfs = slot.isolate and mount_tmpfs(str(work), WORK_SIZE)
        try:
            return _run_in(work, logs, root, submission, assets, slot, script, step, number, lesson, column, title,
                           base_url, uds, data_dir, timeout, text)
        finally:
            if on_tmpfs:
                unmount(str(work))


def _run_in(work: Path, logs: Path, root: Path, submission: Path, assets: Path | None, slot: Any, script: str,
            step: dict[str, Any], number: int, lesson: int, column: str, title: str, base_url: str, uds: Path,
            data_dir: Path, timeout: float, text: str | None = None) -> StepOutcome:
    _fresh_copy(submission, assets, work)
    if text is not None:  # the step cells of a notebook, as the lesson script
        (work / script).unlink(missing_ok=True)
        (work / script).write_text(text, encoding="utf-8")
    if slot.uid is not None:
        _chown_tree(work, slot.uid)
    key = f"sk-grade-{uuid.uuid4().hex}"
    port = int(base_url.rsplit(":", 1)[1].split("/", 1)[0])
    job = {"work": str(work), "script": script, "step": number, "stdout": str(logs / "out"),
           "stderr": str(logs / "err"), "env": _env(str(work), base_url, key), "timeout": timeout,
           "root": str(root), "uds": str(uds), "port": port}
    started = time.time()
    reply = slot.run(job)
    timed_out = bool(reply.get("timed_out"))
    stdout, out_flood = _read_capped(logs / "out", MAX_OUTPUT)
    stderr, err_flood = _read_capped(logs / "err", MAX_OUTPUT)
    run = StepRun(number, stdout, stderr, reply.get("exit_code"), read_log(data_dir, key=key), work, started,
                  timed_out)
    if timed_out:
        run.reason = f"the step did not finish within {timeout:g} s"
    elif out_flood or err_flood:
        run.reason = f"the step printed more than {MAX_OUTPUT // 1024} KB"
    elif run.exit_code == 97 and "grading sandbox could not be set up" in stderr:
        run.reason = stderr.strip().splitlines()[-1]
    else:
        run.reason = _reason(run, number, script)
    return _outcome(step, run, lesson, column, title, time.time() - started)


def _outcome(step: dict[str, Any], run: StepRun, lesson: int, column: str, title: str, duration: float) -> StepOutcome:
    result = evaluate(step, run)
    hint = None
    if not result.passed:
        found = None
        if run.stderr:
            failed = next((r for r in reversed(run.records) if r.status >= 400), None)
            found = hint_for_text(run.stderr, failed.params if failed else None)
        if found is None and run.records:  # an error shown in stdout, or a check that failed quietly
            failed = next((r for r in reversed(run.records) if r.status >= 400), None)
            if failed is not None and failed.error_message:
                found = hint_for_text(failed.error_message, failed.params)
        hint = found.to_dict() if found else None
    checks = [CheckOutcome(c.kind, c.passed, c.message, c.points, c.max_points, c.hidden) for c in result.checks]
    return StepOutcome(lesson, run.step, title, column, result.passed, result.points, result.max_points, checks,
                       run.exit_code, run.stdout, run.stderr, run.reason, hint, round(duration, 3))
