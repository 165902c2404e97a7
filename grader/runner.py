"""Running one step of one submission, in a fresh copy, through a channel of the API of its own.

Whatever the step does (loops forever, floods its output, crashes, never imports), the result is a
judged `StepOutcome` with a clear reason, and the next step runs as usual. Whatever goes wrong on
our side (the box cannot be built, the API stops, the engine dies) gives a step that is *not
graded*, with the reason, never a learner's zero: a re-run grades it.
"""

from __future__ import annotations

import errno
import shutil
import signal
import time
from pathlib import Path
from typing import Any

from course.lesson.advice import explain
from course.lesson.checks import StepRun, snapshot
from course.lesson.explain import Crash, crash_of, learner_traceback
from course.offline.requestlog import read_log

from .api import APIFault, PrivateAPI
from .box.copying import TooBig, copy_tree
from .box.run import MAX_OUTPUT, WORK_SIZE, Folders, GraderFault, box_folders, chown_tree, run_boxed
from .handin import FOUND, NOT_HANDED_IN, Found
from .results import CheckOutcome, StepOutcome

REPO = Path(__file__).resolve().parent.parent
STEP_TIMEOUT = 30.0


def _fresh_copy(source: Path, assets: Path | None, into: Path) -> None:
    """The learner's folder (never through a link, never a special file, within the bounds of `copying`),
    then the lesson's assets if the learner has none."""
    copy_tree(source, into)
    if assets is not None and assets.is_dir() and not (into / "assets").exists():
        shutil.copytree(assets, into / "assets")


def _signal_words(number: int) -> str:
    if number == signal.SIGKILL:
        return ("the step crashed (killed by signal 9): a step is stopped when it uses more memory, processes or "
                "CPU time than it may")
    if number == signal.SIGXCPU:
        return "the step was stopped: it used more CPU time than a step may"
    if number == signal.SIGXFSZ:
        return "the step was stopped: it wrote a file larger than a step may (8 MB)"
    if number == signal.SIGSEGV:
        return "the step crashed inside Python itself"
    name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else f"signal {number}"
    return f"the step was stopped by {name}"


def step_reason(run: StepRun, number: int, script: str, crash: Crash | None) -> str:
    """Why a step could not be judged normally, in the lesson's terms; "" when it can be."""
    if run.timed_out:
        return run.reason
    if run.exit_code is not None and run.exit_code < 0:
        return _signal_words(-run.exit_code)
    if run.exit_code == 3 and "not written yet" in run.stderr:
        line = next((l for l in run.stderr.splitlines() if "not written yet" in l), "")
        sentence = line.split(": ", 1)[-1].split("; replace", 1)[0].split(": replace", 1)[0]
        return sentence or f"step {number} is not written yet"
    if run.exit_code == 2 and "there is no step" in run.stderr:
        return f"{script} has no step {number}: its run_steps([...]) list at the bottom stops before it"
    if run.exit_code not in (0, None) and crash is not None and not crash.steps:
        return f"{script} cannot be run: {crash.exception}"
    last = run.stderr.strip().splitlines()[-1] if run.stderr.strip() else ""
    if run.exit_code not in (0, None) and crash is None and last.startswith(("SyntaxError", "IndentationError", "TabError")):
        return f"{script} cannot be run: {last.split(' in file ')[0]}"  # the interpreter refused the file itself
    return ""


def run_step(found: Found, step: dict[str, Any], column: str, *, slot: Any, api: PrivateAPI | None,
             assets: Path | None = None, timeout: float = STEP_TIMEOUT, public_only: bool = False) -> StepOutcome:
    """Run and judge step `step` of the lesson `found` holds (as `python imageGen.py N` would)."""
    lesson = found.lesson
    number = int(step["number"])
    title = step.get("title", f"step {number}")
    if public_only:
        step = {**step, "checks": [c for c in step.get("checks", []) if not c.get("hidden")]}
    if found.status != FOUND:
        why = (f"{lesson.script} was not handed in" if found.status == NOT_HANDED_IN
               else f"no {lesson.script} was found in the submission")
        return _outcome(step, StepRun(number, "", "", None, reason=why), lesson.number, column, title, 0.0)
    if found.problem or found.script is None or found.folder is None:
        return _outcome(step, StepRun(number, "", "", None, reason=found.problem or "nothing to run"), lesson.number,
                        column, title, 0.0)
    try:
        with box_folders(slot) as folders:
            return _run_in(folders, found, assets, slot, step, number, column, title, api, timeout)
    except (GraderFault, APIFault) as exc:
        return not_graded_step(step, lesson.number, number, column, title, str(exc))
    except Exception as exc:  # noqa: BLE001 - a bug of ours must cost no learner a grade
        return not_graded_step(step, lesson.number, number, column, title,
                           f"the grader failed around this step ({type(exc).__name__}: {exc})")


def not_graded_step(step: dict[str, Any], lesson: int, number: int, column: str, title: str, why: str) -> StepOutcome:
    checks = [CheckOutcome(c["kind"], False, "not graded", 0.0, float(c.get("points", 1)), bool(c.get("hidden")))
              for c in step.get("checks", [])]
    return StepOutcome(lesson, number, title, column, False, 0.0, sum(c.max_points for c in checks), checks,
                       fault=why)


def _copy_in(found: Found, assets: Path | None, work: Path) -> str:
    """Copy the learner's folder in; returns a reason when the submission itself is the problem."""
    assert found.folder is not None and found.script is not None
    try:
        _fresh_copy(found.folder, assets, work)
        target = work / found.lesson.script
        target.unlink(missing_ok=True)
        target.write_bytes(found.script)
    except TooBig as exc:
        return str(exc)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            return f"the submission's folder is larger than the {WORK_SIZE}B a step may use"
        raise GraderFault(f"the submission could not be copied for the step ({exc.strerror or exc})") from None
    return ""


def _run_in(folders: Folders, found: Found, assets: Path | None, slot: Any, step: dict[str, Any], number: int,
            column: str, title: str, api: PrivateAPI | None, timeout: float) -> StepOutcome:
    lesson, work = found.lesson, folders.work
    problem = _copy_in(found, assets, work)
    if problem:
        return _outcome(step, StepRun(number, "", "", None, reason=problem), lesson.number, column, title, 0.0)
    before = snapshot(work)  # the folder as the step finds it: what is new or changed after it, it saved
    if slot.uid is not None:
        chown_tree(work, slot.uid)
    if api is None:
        raise GraderFault("no offline Images API was given to this run")
    # The runner's notes on earlier steps use the lesson's words.
    ran = run_boxed(slot, api, folders, timeout=timeout, script=lesson.script, step=number,
                    env={"COURSE_LESSON": str(lesson.number)})
    if not api.alive():
        raise GraderFault("the offline Images API for grading stopped during the step" +
                          (f" ({api.log_tail(1)})" if api.log_tail(1) else ""))
    run = StepRun(number, ran.stdout, ran.stderr, ran.exit_code, read_log(api.data_dir, channel=ran.channel), work,
                  ran.started, ran.timed_out, source=found.source, before=before)
    crash = crash_of(ran.stderr, str(work))
    if ran.timed_out:
        run.reason = f"the step did not finish within {timeout:g} s"
    elif ran.flooded:
        run.reason = f"the step printed more than {MAX_OUTPUT // 1024} KB"
    else:
        run.reason = step_reason(run, number, lesson.script, crash)
    return _outcome(step, run, lesson.number, column, title, time.time() - ran.started, str(work))


def _outcome(step: dict[str, Any], run: StepRun, lesson: int, column: str, title: str, duration: float,
             workdir: str | None = None) -> StepOutcome:
    result, hint, _ = explain(step, run, workdir)
    checks = [CheckOutcome(c.kind, c.passed, c.message, c.points, c.max_points, c.hidden, c.detail) for c in result.checks]
    stderr = learner_traceback(run.stderr, workdir) if run.stderr else ""
    stdout = run.stdout.replace(workdir.rstrip("/") + "/", "") if workdir else run.stdout
    return StepOutcome(lesson, run.step, title, column, result.passed, result.points, result.max_points, checks,
                       run.exit_code, stdout, stderr, run.reason, hint.to_dict() if hint else None, round(duration, 3))
