"""A step that calls an earlier step is judged on its own work.

Step 2 calls `step1()`, step 5 calls `step4()`, lesson 3's step 4 calls `step3()`. When the runner runs
step N, every other step function of the script is wrapped (`contain_calls`) so that, when one of them
fails while step N calls it, the failure is contained and step N goes on as if that call had succeeded:

- it raised: its traceback is shown as usual, then step N goes on with what the step was meant to hand
  back (see below), or None when it hands back nothing (step 4);
- it handed back None where the lesson says it hands back a response (no `return` line): step N goes on
  with that response.

What it was meant to hand back is the response the step itself made (read from its variables as it
ended), else, offline only, one the course makes in its place with the request the page asks for
(`content/handoffs.json`: `stand_in`). Either way a note says so (`hint [earlier-step]: ...`), naming
the earlier step's own mistake and its fix; `course try`, the notebook and the grader show it beside
the verdict. A step that is not written yet (`todo()`) is not contained: step N says it calls it.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
import traceback
import types
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

HANDOFFS = Path(__file__).resolve().parent / "content" / "handoffs.json"
STEP_NAME = re.compile(r"step(\d+)")
NOTE_ID = "earlier-step"


@lru_cache(maxsize=1)
def _table() -> dict[str, Any]:
    try:
        return json.loads(HANDOFFS.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def handoff(lesson: int | None, step: int) -> dict[str, Any]:
    """What step `step` of lesson `lesson` hands to the steps that call it ({} when nothing is known)."""
    if lesson is None:
        return {}
    entry = _table().get(str(lesson), {}).get(str(step))
    return entry if isinstance(entry, dict) else {}


def lesson_of(script: str, module_doc: str | None = None) -> int | None:
    """The lesson a script belongs to: `COURSE_LESSON`, else its docstring's "Lesson N:", else its
    name (imageGen.py, imageGen2.py, imagegen3 (1).py)."""
    chosen = os.environ.get("COURSE_LESSON", "")
    if chosen.isdigit():
        return int(chosen)
    found = re.match(r"\s*Lesson (\d+)\b", module_doc or "")
    if found:
        return int(found[1])
    name = re.sub(r"[^a-z0-9]", "", Path(script).stem.lower())
    found = re.match(r"imagegen(\d?)", name)
    if found:
        return int(found[1] or 1) if found[1] in ("", "1", "2", "3") else None
    return None


def offline() -> bool:
    """The SDK talks to the offline Images API (the course never spends a learner's money on a stand-in)."""
    from .connect import OPENAI_HOSTS

    base = os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_BASE") or ""
    return bool(base) and not any(host in base for host in OPENAI_HOSTS)


def error_words(exc: BaseException) -> str:
    """An exception in a sentence: `BadRequestError (400): Invalid value ...`."""
    name = type(exc).__name__
    status = getattr(exc, "status_code", None)
    body = getattr(exc, "body", None)
    message = ""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            message = str(inner.get("message") or inner.get("code") or "")
    message = message or str(getattr(exc, "message", "") or exc)
    if status:
        return f"{name} ({status}): {message}"
    return f"{name}: {message}" if message else name


# ------------------------------------------------------------------------------------- supplying


def _from_variables(variables: dict[str, Any], wanted: str) -> Any:
    """The response a step made, from its variables as it ended: `response` first, else the last of that type."""
    found = [value for value in variables.values() if type(value).__name__ == wanted]
    named = variables.get("response")
    if named is not None and type(named).__name__ == wanted:
        return named
    return found[-1] if found else None


def _stand_in(entry: dict[str, Any]) -> Any:
    """The request the page asks for, made with a client of the course's own (the same connection)."""
    import openai

    target: Any = openai.OpenAI()
    for part in entry["stand_in"]["call"].split("."):
        target = getattr(target, part)
    return target(**entry["stand_in"]["args"])


def _supply(entry: dict[str, Any], variables: dict[str, Any], earlier: int) -> tuple[Any, str]:
    """(what the calling step gets, how that is said)."""
    wanted = entry.get("returns")
    if not wanted:
        return None, f"as if step{earlier}() had succeeded"
    made = _from_variables(variables, wanted)
    if made is not None:
        return made, f"with the response step{earlier}() made"
    if entry.get("stand_in") and offline():
        try:
            return _stand_in(entry), (f"with a response the course made in step{earlier}()'s place "
                                      f"({entry.get('what', 'the request the page asks for')})")
        except Exception as exc:  # noqa: BLE001 - the stand-in is ours; say why it failed and go on with None
            return None, f"with None: the course could not make a response in step{earlier}()'s place ({error_words(exc)})"
    return None, "with None, as step{0}() gave it".format(earlier)


# --------------------------------------------------------------------------------------- the note


def note_text(number: int, earlier: int, happened: str, fix: str, how: str) -> str:
    return (f"Step {number} calls step{earlier}(), which {happened}. {fix} "
            f"Step {number} went on {how}, so that it is judged on its own work.")


def _fix_for(exc: BaseException, entry: dict[str, Any], earlier: int, script: str) -> str:
    from .hints import hint_for_exception

    if entry.get("refusal") and getattr(exc, "status_code", None) == 400:
        return (f"Step {earlier} sets out to be refused, so catch the error there (try/except "
                f"openai.{type(exc).__name__}, then print its message).")
    cause = hint_for_exception(exc)
    if cause is not None:
        return f"Fix step {earlier} on its own: {cause.text}"
    return f"Fix step {earlier} on its own (python {script} {earlier} shows its error)."


def _say_note(number: int, earlier: int, happened: str, fix: str, how: str) -> None:
    text = note_text(number, earlier, happened, fix, how)
    print(f"hint [{NOTE_ID}]: {text}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------ the wrapper


def _contained(function: Callable[..., Any], earlier: int, number: int, lesson: int | None,
               script: str, passes: tuple[type[BaseException], ...]) -> Callable[..., Any]:
    entry = handoff(lesson, earlier)
    code = function.__code__

    # Its variables as it ends are read only where they can be needed: from the traceback when it raises, and
    # through a profile hook (which slows every call the SDK makes) only for a step whose code hands back
    # nothing but None (no `return response` line): a step written as the page asks runs at full speed.
    needs_watch = bool(entry.get("returns")) and returns_only_none(code)

    @functools.wraps(function)
    def contained(*args: Any, **kwargs: Any) -> Any:
        variables: dict[str, Any] = {}

        def watch(frame: types.FrameType, event: str, arg: Any) -> None:
            if event == "return" and frame.f_code is code:
                variables.clear()
                variables.update(frame.f_locals)

        watching = needs_watch and sys.getprofile() is None
        if watching:
            sys.setprofile(watch)
        try:
            result = function(*args, **kwargs)
        except passes:
            raise
        except Exception as exc:  # noqa: BLE001 - the earlier step's own failure: shown, then contained
            if watching:
                sys.setprofile(None)
                watching = False
            sys.stdout.flush()
            traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next if exc.__traceback__ else None)
            variables = variables or _variables_at(exc, code)
            value, how = _supply(entry, variables, earlier)
            _say_note(number, earlier, f"stopped with {error_words(exc)}", _fix_for(exc, entry, earlier, script), how)
            return value
        finally:
            if watching:
                sys.setprofile(None)
        if result is None and entry.get("returns"):
            value, how = _supply(entry, variables, earlier)
            if value is not None:
                sys.stdout.flush()
                _say_note(number, earlier, "handed back None",
                          f"step{earlier}() needs a return line at its end (return response), so that the steps "
                          f"that call it get its response.", how)
                return value
        return result

    return contained


def returns_only_none(code: types.CodeType) -> bool:
    """The function hands back nothing but None: no `return <value>` anywhere in its own code."""
    import dis

    instructions = list(dis.get_instructions(code))
    for index, instruction in enumerate(instructions):
        if instruction.opname == "RETURN_CONST" and instruction.argval is not None:  # Python 3.12 and later
            return False
        if instruction.opname == "RETURN_VALUE":
            before = instructions[index - 1] if index else None
            if before is None or not (before.opname == "LOAD_CONST" and before.argval is None):
                return False
    return True


def _variables_at(exc: BaseException, code: types.CodeType) -> dict[str, Any]:
    """The variables of the frame running `code` when `exc` went through it, from the traceback."""
    tb = exc.__traceback__
    found: dict[str, Any] = {}
    while tb is not None:
        if tb.tb_frame.f_code is code:
            found = dict(tb.tb_frame.f_locals)
        tb = tb.tb_next
    return found


def contain_calls(step: Callable[..., Any], number: int, lesson: int | None, script: str,
                  passes: tuple[type[BaseException], ...] = ()) -> Callable[[], None]:
    """Wrap the script's other step functions (in `step`'s globals) for this run of step `number`; exceptions of
    the `passes` types go through uncontained (the runner's "not written yet"). Returns the function that puts
    them back (the notebook's kernel lives on after a Try-it)."""
    namespace = getattr(step, "__globals__", None)
    if not isinstance(namespace, dict):
        return lambda: None
    wrapped: dict[str, tuple[Any, Any]] = {}
    for name, value in list(namespace.items()):
        found = STEP_NAME.fullmatch(name)
        if not found or int(found[1]) == number or not isinstance(value, types.FunctionType):
            continue
        if value.__code__.co_flags & 0x80 or value.__code__.co_flags & 0x200:  # async def: nothing to contain here
            continue
        namespace[name] = _contained(value, int(found[1]), number, lesson, script, passes)
        wrapped[name] = (value, namespace[name])

    def restore() -> None:
        for name, (original, wrapper) in wrapped.items():
            if namespace.get(name) is wrapper:
                namespace[name] = original

    return restore
