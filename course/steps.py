"""The step runner at the bottom of every lesson script: `python imageGen.py N` runs step N.

    from course.steps import run_steps, todo
    ...
    if __name__ == "__main__":
        run_steps([step1, step2, step3])

The learner's own `print` output is the step's output (stdout); everything the runner says goes
to stderr. Exit status: 0 the step ran, 1 it raised (the traceback, then one hint), 2 no such
step, 3 the step is not written yet, 130 interrupted.
"""

from __future__ import annotations

import sys
import traceback
import warnings
from pathlib import Path
from typing import Callable, NoReturn

EXIT_OK, EXIT_FAILED, EXIT_NO_STEP, EXIT_NOT_WRITTEN, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class StepNotWritten(Exception):
    """Raised by `todo()`: the learner has not filled in this step yet."""


def todo(what: str = "") -> NoReturn:
    """Stands where the learner's code goes in `exercises/`; running it says the step is not written."""
    raise StepNotWritten(what)


def _todo_holder(exc: BaseException) -> str | None:
    """The function whose todo() line was reached (step1, when step 2 calls an unwritten step1)."""
    frames = traceback.extract_tb(exc.__traceback__)
    callers = [f for f in frames if f.name != "todo"]
    return callers[-1].name if callers else None


def _raising_step(exc: BaseException, number: int) -> int | None:
    """The earlier step that raised, when step `number` called it (step 5 calling step4()), else None."""
    import re

    steps = [int(f.name[4:]) for f in traceback.extract_tb(exc.__traceback__) if re.fullmatch(r"step\d+", f.name)]
    if steps and number in steps and steps[-1] != number:
        return steps[-1]
    return None


def step_title(step: Callable[[], object]) -> str:
    doc = (step.__doc__ or "").strip()
    return doc.splitlines()[0].rstrip(".") if doc else step.__name__


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_steps(steps: list[Callable[[], object]], argv: list[str] | None = None) -> NoReturn:
    """Run the step named on the command line, or list the steps when none is named."""
    script = Path(sys.argv[0]).name or "the script"
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print(f"{script} has {len(steps)} steps. Run one with: python {script} N")
        for number, step in enumerate(steps, 1):
            print(f"  {number}  {step_title(step)}")
        raise SystemExit(EXIT_OK)
    wanted = args[0]
    if not wanted.isdigit() or not 1 <= int(wanted) <= len(steps):
        _say(f"{script}: there is no step {wanted!r}; the steps are 1 to {len(steps)} (python {script} lists them).")
        raise SystemExit(EXIT_NO_STEP)
    raise SystemExit(call_step(steps[int(wanted) - 1], int(wanted), script))


def call_step(step: Callable[[], object], number: int, script: str, lesson: int | None = None) -> int:
    """Run one step as the runner does and return its exit status; the notebook's Try-it shares this.

    The step's own output goes to sys.stdout; a traceback (the learner's frames only) and one hint to
    sys.stderr. An earlier step it calls that fails is contained (see `handoffs`): the step is judged on
    its own work, and a note says so."""
    from .handoffs import contain_calls, lesson_of

    if lesson is None:
        lesson = lesson_of(script, getattr(sys.modules.get(getattr(step, "__module__", "") or ""), "__doc__", None))
    restore = contain_calls(step, number, lesson, script, passes=(StepNotWritten,))
    try:
        return _call(step, number, script, lesson)
    finally:
        restore()


def _call(step: Callable[[], object], number: int, script: str, lesson: int | None) -> int:
    # The SDK marks images.create_variation deprecated; the lesson teaches it on purpose, as a
    # dall-e-2 feature, and the warning would only puzzle a learner mid-step.
    warnings.filterwarnings("ignore", message="deprecated", category=DeprecationWarning)
    sys.stdout.flush()
    try:
        step()
    except StepNotWritten as exc:
        sys.stdout.flush()
        holder = _todo_holder(exc)
        if holder and holder != getattr(step, "__name__", holder):
            _say(f"{script}: step {number} is not written yet: it calls {holder}(), which still has its todo() "
                 f"line; replace that line in {holder}() with your code, then run step {number} again.")
        else:
            _say(f"{script}: step {number} is not written yet: replace the todo() line in step{number}() "
                 f"with your code, then run it again.")
        return EXIT_NOT_WRITTEN
    except KeyboardInterrupt:
        _say(f"{script}: step {number} interrupted.")
        return EXIT_INTERRUPTED
    except SystemExit:
        raise
    except BaseException as exc:
        sys.stdout.flush()
        # The learner's frames only: the runner's own frame is noise to them.
        traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next if exc.__traceback__ else None)
        from .hints import earlier_step_hint, hint_for_exception

        hint = hint_for_exception(exc)
        earlier = _raising_step(exc, number)
        if earlier is not None:
            from .handoffs import handoff

            hint = earlier_step_hint(number, earlier, type(exc).__name__, hint, bool(handoff(lesson, earlier).get("refusal")))
        if hint is not None:
            _say(hint.render())
        return EXIT_FAILED
    sys.stdout.flush()
    return EXIT_OK
