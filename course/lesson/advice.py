"""What a learner is told about a step's run: its checks' verdict in the lesson's words, and one hint.

Shared by `course try`, the notebook's Try-it and the grader, so a learner reads the same words in
the terminal, in Jupyter and in the feedback.

Which hint a failed step gets:
- A step that passed gets none, but for the runner's note when an earlier step it called failed and the
  step went on without it (see `course.handoffs`): that note is said, beside any hint of its own.
- A step that could not run normally (not written, timed out, interrupted) gets none: its reason says
  it all; a script that cannot even start gets the catalogue's hint for its error (old SDK calls, say).
- A step that fails inside an earlier step it calls (step 5 calling step4()) is told so: the fix is
  in that step.
- A refusal the step asks for (an invalid size in step 4) is never "explained" by the size hint: if
  the step only failed to catch it, the hint says to catch it.
- Otherwise the catalogue's hint for the last error the run met that nothing later put right: an
  exception that ended the step, or a refused request not followed by a successful one.
"""

from __future__ import annotations

import re
from typing import Any

from ..handoffs import NOTE_ID, handoff
from .checks import StepResult, StepRun, evaluate, matches, params_of
from .explain import Crash, crash_of
from ..hints import Hint, earlier_step_hint, hint_for_text

# The runner's note when it contained an earlier step's failure (see course/handoffs.py).
EARLIER_NOTE = re.compile(rf"^hint \[{NOTE_ID}\]: (Step (\d+) calls step(\d+)\(\), which .+)$", re.M)
# What a failed check says when the thing it looks for never happened: after a crash, the crash is why.
ABSENT = ("the step sent no request", "no request sent", "no new ", "the output does not show", "there was no refusal",
          "no refused request came first", "no valid request followed", "the API issued no", "the API sent no",
          "no file holds")

CATCH_IT = Hint("catch-the-error", "This refusal is what the step asks for. Wrap the call in try/except "
                "openai.BadRequestError and print the error's message, so that the step ends cleanly.")


def explain(step: dict[str, Any], run: StepRun, workdir: str | None = None) -> tuple[StepResult, Hint | None, Crash | None]:
    """Judge `run` against `step`'s checks and choose its hint: (verdict, hint or None, what ended it)."""
    crash = crash_of(run.stderr, workdir) if run.stderr else None
    result = evaluate(step, run)
    crashed = crash is not None and run.exit_code not in (0, None) and not run.reason
    earlier = crash.earlier_step(run.step) if crash and not run.reason else None
    for check in result.checks:
        if check.kind == "exit" and not check.passed and crashed:
            check.detail = (f"step {run.step} calls step{earlier}(), which raised {crash.exception}" if earlier
                            else crash.exception)
        elif earlier and not check.passed:
            check.detail = ""  # what did not happen after step N stopped is no news: the exit check says why
        elif crashed and not check.passed and check.detail.startswith(ABSENT):
            check.detail = f"the step stopped with {crash.exception} before that"
    return result, choose_hint(step, result, run, crash), crash


def earlier_note(run: StepRun) -> Hint | None:
    """The runner's note that this step called an earlier step that failed, and went on without it."""
    found = [m for m in EARLIER_NOTE.finditer(run.stderr or "") if int(m[2]) == run.step]
    return Hint(NOTE_ID, found[-1][1][:1200]) if found else None


def choose_hint(step: dict[str, Any], result: StepResult, run: StepRun, crash: Crash | None) -> Hint | None:
    """The step's own hint (see the module's docstring); when an earlier step it called failed and was
    contained, the runner's note on that too, so the learner knows why the step went on."""
    note = earlier_note(run) if not run.reason else None
    own = _own_hint(step, result, run, crash)
    if note is None or own is None:
        return own or note
    return Hint(own.id, f"{own.text.rstrip()} (Also: {note.text})")


def _expected(step: dict[str, Any], record: Any) -> bool:
    """A refused request this step sets out to cause (an error_shown or caught check's), or to meet first
    (an after_error check's: step 5's run holds step 4's refusal on purpose)."""
    checks = step.get("checks", [])
    if any(spec["kind"] == "after_error" for spec in checks):
        return True
    return any(matches(record, spec, spec.get("status", 400)) for spec in checks
               if spec["kind"] in ("error_shown", "caught"))


def _own_hint(step: dict[str, Any], result: StepResult, run: StepRun, crash: Crash | None) -> Hint | None:
    if result.passed:
        return None
    if run.reason:
        if "cannot be run" in run.reason and crash is not None:
            return hint_for_text(run.stderr)
        return None
    refused = [r for r in run.records if r.method == "POST" and r.status >= 400]
    last_refusal = refused[-1] if refused else None
    recovered = last_refusal is not None and any(
        r.method == "POST" and r.status == 200 and (r.id or 0) > (last_refusal.id or 0) for r in run.records)
    if crash is not None and run.exit_code not in (0, None):
        earlier = crash.earlier_step(run.step)
        if earlier is not None:
            refusal = bool(handoff(step.get("lesson"), earlier).get("refusal"))
            return earlier_step_hint(run.step, earlier, crash.exception_type, hint_for_text(run.stderr), refusal)
        if last_refusal is not None and not recovered and _expected(step, last_refusal):
            return CATCH_IT
        found = hint_for_text(run.stderr, params_of(last_refusal) if last_refusal is not None and not recovered else None)
        if found is not None and found.id == "invalid-size" and (last_refusal is None or recovered):
            return None  # a size message in the output, but no refused size left unfixed: not this step's trouble
        return found
    if last_refusal is not None and not recovered and not _expected(step, last_refusal):
        return hint_for_text(last_refusal.error_message or last_refusal.error_code or "", params_of(last_refusal))
    return None
