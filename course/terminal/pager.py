"""Long output in a terminal goes through a pager, as git does it: `$PAGER`, else `less -R`, else none.

Only when standard output is a terminal and the text is taller than it; piped or redirected output
stays plain and whole. `LESS` defaults to `FRX` as git sets it: quit when the text fits, keep the
colours, leave the text on the screen.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from typing import Any, Callable


def pager_command() -> list[str] | None:
    """The pager to use: `$PAGER` (empty or `cat`: none), else `less -R` where it exists, else None."""
    chosen = os.environ.get("PAGER")
    if chosen is not None:
        try:
            words = shlex.split(chosen)
        except ValueError:
            return None
        return None if not words or words == ["cat"] else words
    less = shutil.which("less")
    return [less, "-R"] if less else None


def paged(console: Any, render: Callable[[Any], None]) -> None:
    """Render onto `console`, through the pager when it is a terminal the text does not fit on."""
    if not console.is_terminal:
        render(console)
        return
    with console.capture() as captured:
        render(console)
    text = captured.get()
    command = pager_command() if text.count("\n") >= console.size.height - 1 else None
    if command is None:
        console.file.write(text)
        console.file.flush()
        return
    env = dict(os.environ)
    env.setdefault("LESS", "FRX")
    try:
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, env=env)
    except OSError:  # a $PAGER that is not there: the text, unpaged
        console.file.write(text)
        console.file.flush()
        return
    try:
        proc.communicate(text.encode("utf-8", "replace"))
    except (BrokenPipeError, KeyboardInterrupt):  # quit before the end
        pass
    proc.wait()
