"""The notebook's cells as the kernel knows them: their numbers, and whether a step's cell changed since it ran.

- `cell_number(filename)`: the execution count Jupyter shows beside the cell (`[5]`) that IPython compiled
  to `filename` (`/tmp/ipykernel_…/….py`), or None.
- `named_cells(stderr)`: a step's stderr with its tracebacks naming cells (`cell [5]`), not files.
- `note_definitions()`: remember when each step function the kernel holds was defined (a cell run).
- `changed_since_run(step, number)`: a sentence when step N's cell, as the notebook was last saved, holds
  other code than the step function the kernel has, and was saved after that function was defined: the
  learner edited the cell and did not run it again. The kernel cannot see an editor's unsaved text; the
  saved notebook (JupyterLab saves every two minutes, and on Ctrl+S) is what it can read.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import textwrap
import time
from pathlib import Path
from typing import Any, Callable

_DEFINED: dict[int, tuple[Any, float]] = {}  # id(function) → (the function, when the kernel first held it)
_HOOKED: list[Any] = []


def _shell() -> Any:
    with contextlib.suppress(Exception):
        from IPython import get_ipython

        return get_ipython()
    return None


def cell_number(filename: str) -> int | None:
    shell = _shell()
    with contextlib.suppress(Exception):
        named = shell.compile.format_code_name(filename)
        if named:
            return int(named[1].strip("In[]"))
    return None


def named_cells(stderr: str) -> str:
    from ..lesson.explain import name_cells

    return name_cells(stderr, cell_number) if "ipykernel_" in stderr else stderr


def defined(step: Callable[..., object]) -> float:
    """When the kernel first held this step function (now, the first time it is asked)."""
    return _DEFINED.setdefault(id(step), (step, time.time()))[1]


def _note_steps(*_args: Any) -> None:
    shell = _shell()
    for name, value in list(getattr(shell, "user_ns", {}).items()):
        if name.startswith("step") and name[4:].isdigit() and callable(value):
            defined(value)


def note_definitions() -> None:
    """After every cell run, note the step functions it defined (once per kernel)."""
    shell = _shell()
    if shell is None or _HOOKED:
        return
    with contextlib.suppress(Exception):
        shell.events.register("post_run_cell", _note_steps)
        _HOOKED.append(shell)


def notebook_path() -> Path | None:
    """The notebook this kernel runs for, as the Jupyter server told it (None in a plain kernel)."""
    name = os.environ.get("JPY_SESSION_NAME", "")
    return Path(name) if name.endswith(".ipynb") else None


def _normal(code: str) -> str:
    return "\n".join(line.rstrip() for line in textwrap.dedent(code).strip().splitlines())


def _saved_definitions(path: Path, number: int) -> list[str]:
    from ..errors import CourseError
    from .notebooks import read_notebook, step_definitions

    try:
        return step_definitions(read_notebook(path), number)
    except CourseError:
        return []


def changed_since_run(step: Callable[..., object], number: int) -> str | None:
    """Why the button must not run `step`: its cell was edited (and saved) since it ran; else None."""
    path = notebook_path()
    try:
        mine = _normal(inspect.getsource(step))  # type: ignore[arg-type]
        saved_at = path.stat().st_mtime if path is not None else 0.0
    except (OSError, TypeError):
        return None
    if path is None or saved_at <= defined(step):
        return None  # no saved notebook, or saved before the cell last ran: what the kernel has is the newest
    saved = [_normal(code) for code in _saved_definitions(path, number)]
    if not saved or mine in saved:
        return None
    where = cell_number(getattr(getattr(step, "__code__", None), "co_filename", ""))
    ran = f" (it last ran as [{where}])" if where is not None else ""
    return (f"Step {number}'s cell has changed since it last ran{ran}, so this button did not run it: it would run "
            f"the old code. Click in the cell and press Shift+Enter to run your new version (that runs the step "
            "and checks it too).")
