"""Words for people: what a learner reads about a run, without the machinery around it.

- `learner_traceback()`: a step's stderr with only the learner's own frames in each traceback
  (never the runner's, the grader's, `<frozen runpy>` or the SDK's insides), paths shown as the
  learner knows them, and the runner's own hint lines left to the caller.
- `crash_of()`: what ended a step: the exception in a sentence, and which step function raised it
  (step 5 calling step4(), which raised).
- `name_cells()`: a notebook's tracebacks with each cell named as Jupyter numbers it (`cell [5]`), not by
  the file IPython compiled it to (`/tmp/ipykernel_…/….py`).
- `error_words()`: an `openai` error line as a sentence (`BadRequestError (400): '255x255' is not one of
  [...]`), never the Python dict the SDK prints.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Callable

FRAME = re.compile(r'^  File "(?P<file>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>.+))?$')
HEADER = "Traceback (most recent call last):"
CHAINS = ("During handling of the above exception, another exception occurred:",
          "The above exception was the direct cause of the following exception:")
KERNEL_CELL = re.compile(r"[/\\]ipykernel_\d+[/\\]\d+\.py$")
KERNEL_FRAME = re.compile(r'^(  File ")([^"]*[/\\]ipykernel_\d+[/\\]\d+\.py)(")', re.M)
RUNNER_HINT = re.compile(r"^hint \[[\w-]+\]: ")
STEP_FUNCTION = re.compile(r"step(\d+)")
API_ERROR = re.compile(r"^(?P<type>[\w.]+): Error code: (?P<status>\d{3}) - (?P<body>.*)$", re.S)


@dataclass
class Crash:
    exception: str  # the last exception line, in words (see `error_words`)
    exception_type: str  # its class name alone: BadRequestError
    steps: list[int]  # the step functions it passed through, outermost first (learner frames only)
    in_step: int | None  # the step function nearest to where it was raised

    def earlier_step(self, number: int) -> int | None:
        """The step this one called that raised, when it is not the step itself."""
        if self.in_step is not None and self.in_step != number and number in self.steps:
            return self.in_step
        return None


def error_words(line: str) -> str:
    """`openai.BadRequestError: Error code: 400 - {'error': {...}}` as `BadRequestError (400): the message`."""
    match = API_ERROR.match(line.strip())
    if not match:
        kind, sep, rest = line.strip().partition(": ")
        return f"{kind.rsplit('.', 1)[-1]}{sep}{rest}" if sep else kind.rsplit(".", 1)[-1]
    kind = match["type"].rsplit(".", 1)[-1]
    message = ""
    try:
        body = ast.literal_eval(match["body"])
        if isinstance(body, dict):
            inner = body.get("error", body)
            message = str(inner.get("message") or inner.get("code") or "") if isinstance(inner, dict) else str(inner)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        message = match["body"]
    return f"{kind} ({match['status']}): {message}" if message else f"{kind} ({match['status']})"


def name_cells(stderr: str, cell_number: Callable[[str], int | None]) -> str:
    """stderr with each notebook cell's file (`/tmp/ipykernel_…/….py`) named as Jupyter shows the cell: `cell [5]`,
    its execution count (`cell_number` gives it, or None: then `a notebook cell`). The name is still a relative
    file name, so the frame stays the learner's own."""
    def named(match: re.Match[str]) -> str:
        number = cell_number(match[2])
        return f"{match[1]}{'a notebook cell' if number is None else f'cell [{number}]'}{match[3]}"

    return KERNEL_FRAME.sub(named, stderr)


def _learner_file(path: str, prefix: str | None) -> bool:
    """A frame in the learner's own files: the script run by a relative name, a file in its folder, or a
    notebook cell (IPython names each cell's code `.../ipykernel_<pid>/<hash>.py`, or `<ipython-input-…>`)."""
    if KERNEL_CELL.search(path) or path.startswith("<ipython-input-"):
        return True
    if path.startswith("<"):
        return False
    if not path.startswith("/") and not re.match(r"^[A-Za-z]:\\", path):
        return True
    return prefix is not None and path.startswith(prefix)


def _blocks(lines: list[str]) -> list[tuple[int, int]]:
    """(start, end) line ranges of each traceback: the header to the exception line included."""
    found = []
    i = 0
    while i < len(lines):
        if lines[i] == HEADER:
            j = i + 1
            while j < len(lines) and (lines[j].startswith("  ") or lines[j].strip() == ""):
                j += 1
            end = j  # the exception line (may run over several lines for a long message)
            while end + 1 < len(lines) and lines[end + 1] and not lines[end + 1].startswith(
                    (HEADER, *CHAINS, "  File ")) and not RUNNER_HINT.match(lines[end + 1]) and lines[end + 1][0] in " \t":
                end += 1
            found.append((i, min(end, len(lines) - 1)))
            i = end + 1
        else:
            i += 1
    return found


def _frames(block: list[str]) -> list[tuple[str, list[str], re.Match[str]]]:
    """Each frame of a traceback block: (first line, the lines under it, its match)."""
    frames = []
    for index, line in enumerate(block):
        match = FRAME.match(line)
        if match:
            body = []
            for follow in block[index + 1:]:
                if FRAME.match(follow) or not follow.startswith("    "):
                    break
                body.append(follow)
            frames.append((line, body, match))
    return frames


def learner_traceback(stderr: str, workdir: str | None) -> str:
    """stderr with each traceback cut to the learner's frames (files under `workdir`), their paths
    relative to it, and the runner's `hint [...]` lines removed (the caller gives its own hint)."""
    lines = [line for line in stderr.splitlines() if not RUNNER_HINT.match(line)]
    prefix = (workdir.rstrip("/") + "/") if workdir else None
    out: list[str] = []
    last = 0
    for start, end in _blocks(lines):
        out += lines[last:start]
        block = lines[start:end + 1]
        out.append(HEADER)
        for first, body, match in _frames(block):
            path = match["file"]
            if _learner_file(path, prefix):
                shown = path[len(prefix):] if prefix and path.startswith(prefix) else path
                out.append(first.replace(f'"{path}"', f'"{shown}"', 1))
                out += body
        tail = [line for line in block[1:] if not line.startswith("  ")]
        out += tail
        last = end + 1
    out += lines[last:]
    text = "\n".join(out)
    if prefix:
        text = text.replace(prefix, "")
    return text + ("\n" if stderr.endswith("\n") and text else "")


def crash_of(stderr: str, workdir: str | None = None) -> Crash | None:
    """What ended the step, from the last traceback in its stderr; None when nothing was raised."""
    lines = [line for line in stderr.splitlines() if not RUNNER_HINT.match(line)]
    blocks = _blocks(lines)
    if not blocks:
        return None
    start, end = blocks[-1]
    block = lines[start:end + 1]
    exception = next((line for line in reversed(block) if line and not line.startswith(" ")), "")
    if exception.rstrip().endswith(":"):  # the message is on the lines below (APIRemovedInV1's, say)
        below = next((line.strip() for line in lines[end + 1:end + 6] if line.strip()), "")
        exception = exception.rstrip() + " " + below
    # the first traceback of a chain shows where it began; every block's learner frames show the path
    steps: list[int] = []
    prefix = (workdir.rstrip("/") + "/") if workdir else None
    for s, e in blocks:
        for _, _, match in _frames(lines[s:e + 1]):
            func = match["func"] or ""
            if _learner_file(match["file"], prefix) and STEP_FUNCTION.fullmatch(func):
                steps.append(int(func[4:]))
    first_block = lines[blocks[0][0]:blocks[0][1] + 1]
    first_steps = [int(m["func"][4:]) for _, _, m in _frames(first_block)
                   if STEP_FUNCTION.fullmatch(m["func"] or "") and _learner_file(m["file"], prefix)]
    ordered = list(dict.fromkeys(first_steps or steps))
    in_step = ordered[-1] if ordered else None
    kind = exception.split(":", 1)[0].rsplit(".", 1)[-1].strip()
    return Crash(error_words(exception), kind, ordered, in_step)
