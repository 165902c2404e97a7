"""Solution blocks in the instructors' scripts: `# BEGIN SOLUTION` ... `# END SOLUTION`.

`strip_solutions()` turns each block into one `todo()` line at its indentation: the learner's copy of a script
(`course build`) and of a notebook cell (`course.jupyter.notebooks`) are made the same way.
"""

from __future__ import annotations

import re

from ..errors import CourseError

BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION\s*$")
END = re.compile(r"^[ \t]*# END SOLUTION\s*$")
TODO_LINE = "{indent}todo()  # your code here: see the lesson page for this step\n"


def strip_solutions(source: str, *, name: str = "<source>") -> str:
    out: list[str] = []
    inside: str | None = None
    for number, line in enumerate(source.splitlines(keepends=True), 1):
        begin = BEGIN.match(line)
        if begin:
            if inside is not None:
                raise CourseError(f"{name}, line {number}: a BEGIN SOLUTION inside another one.")
            inside = begin["indent"]
            out.append(TODO_LINE.format(indent=inside))
        elif END.match(line):
            if inside is None:
                raise CourseError(f"{name}, line {number}: END SOLUTION without a BEGIN SOLUTION.")
            inside = None
        elif inside is None:
            out.append(line)
    if inside is not None:
        raise CourseError(f"{name}: a BEGIN SOLUTION is never closed by an END SOLUTION.")
    return "".join(out)
