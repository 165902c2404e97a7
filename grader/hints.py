"""Which hint a failed step gets: one about the check that failed, or none.

- A step that passed gets none.
- A step that could not run normally (not written, timed out, stopped) gets none: its reason says it
  all; a script that cannot even start gets the catalogue's hint for its error (old SDK calls, say).
- A step that fails inside an earlier step it calls (step 5 calling step4()) is told so: the fix is
  in that step.
- A refusal the step asks for (an invalid size in step 4) is never "explained" by the size hint: if
  the step only failed to catch it, the hint says to catch it.
- Otherwise the catalogue's hint for the last error the run met that nothing later put right: an
  exception that ended the step, or a refused request not followed by a successful one.
"""

from __future__ import annotations

from typing import Any

from course.lesson.checks import StepResult, StepRun, _matches, params_of
from course.lesson.explain import Crash
from course.lesson.hints import Hint, hint_for_text

# Errors a step is sometimes meant to cause (and catch): in a step that calls it, the advice is to catch them.
REFUSALS_A_STEP_MAY_ASK_FOR = {"invalid-size", "content-policy", "edit-not-png", "edit-not-square", "edit-mask-size",
                               "edit-no-transparency", "n-dalle3", "n-out-of-range"}
CATCH_IT = Hint("catch-the-error", "This refusal is what the step asks for. Wrap the call in try/except "
                "openai.BadRequestError and print the error's message, so that the step ends cleanly.")


def _expected(step: dict[str, Any], record: Any) -> bool:
    """A refused request this step sets out to cause (an error_shown or caught check's)."""
    return any(_matches(record, spec, spec.get("status", 400)) for spec in step.get("checks", [])
               if spec["kind"] in ("error_shown", "caught"))


def choose_hint(step: dict[str, Any], result: StepResult, run: StepRun, crash: Crash | None) -> Hint | None:
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
            text = f"Step {run.step} calls step{earlier}(), and step {earlier} stopped with {crash.exception_type}. "
            cause = hint_for_text(run.stderr)
            if cause is not None and cause.id not in REFUSALS_A_STEP_MAY_ASK_FOR:
                text += f"Fix step {earlier} first ({cause.text})"
            else:
                text += f"Fix step {earlier} first (if the error is one that step asks for, catch it there with try/except)"
            return Hint("earlier-step", text + f", then step {run.step} can go on.")
        if last_refusal is not None and not recovered and _expected(step, last_refusal):
            return CATCH_IT
        found = hint_for_text(run.stderr, params_of(last_refusal) if last_refusal is not None and not recovered else None)
        if found is not None and found.id == "invalid-size" and (last_refusal is None or recovered):
            return None  # a size message in the output, but no refused size left unfixed: not this step's trouble
        return found
    if last_refusal is not None and not recovered and not _expected(step, last_refusal):
        return hint_for_text(last_refusal.error_message or last_refusal.error_code or "", params_of(last_refusal))
    return None
