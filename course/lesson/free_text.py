"""Answers in the learner's own words: Codio's free text, free text with an autograde script, and rubric types.

None of them is right or wrong here: the answer is recorded (answers.json keeps `[text]`) and a person
marks it. The grader puts every such answer in the learner's feedback and in one CSV for marking, with
the question, the points it is out of and the guidance (the author's model answer). A free-text-auto
question's own check (`"command"`, which reads the answer from `CODIO_FREE_TEXT_ANSWER`) is run in the
quiz to tell the learner what it says; the points stay a person's to give. The grader runs it only through its
`runner`, in its box: the answer then travels on the command's standard input into that variable, so no text of a
learner's reaches a command outside the box.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .code_tests import DEFAULT_TIMEOUT, run_command, tail
from .codio_json import Positions, task_fields
from .task import Task
from .verdict import Verdict

# Through a runner (the grader's box, whose shell is /bin/sh): the answer comes on standard input into the variable
# Codio names, every byte of it kept (the `x` keeps trailing newlines a command substitution would drop).
ANSWER_FROM_STDIN = ('CODIO_FREE_TEXT_ANSWER="$(cat; echo x)"; CODIO_FREE_TEXT_ANSWER="${CODIO_FREE_TEXT_ANSWER%x}"; '
                     "export CODIO_FREE_TEXT_ANSWER\n")

# The Codio types answered in words and marked by a person, with what each is called.
WRITTEN = {
    "free-text": "free text",
    "free-text-auto": "free text with an autograde script",
    "llm-based-rubric": "free text marked against a rubric",
    "llm-free-text": "free text marked against a rubric",
    "math": "a worked answer (maths)",
}


@dataclass(frozen=True)
class FreeText(Task):
    preview: str = "plaintext"
    command: str = ""  # free-text-auto: the guide's own check
    timeout: float = DEFAULT_TIMEOUT
    rubric: tuple[str, ...] = ()

    def check(self, answer: list[str], *, attempt: int = 1, workspace: Path | None = None,
              runner: Any = None) -> Verdict:
        """Recorded for a person to mark; a free-text-auto question's own check runs through `runner` (the grader's
        box), else in `workspace` (here when None), to say what it finds."""
        text = answer[0] if answer else ""
        feedback, note = "", "Recorded for marking by a person: no points are given here."
        if self.command:
            if runner is not None:
                ran = runner(ANSWER_FROM_STDIN + self.command, text, self.timeout)
            else:
                ran = run_command(self.command, workspace or Path.cwd(), timeout=self.timeout,
                                  env={"CODIO_FREE_TEXT_ANSWER": text})
            said = "passes" if ran.exit_code == 0 else "does not pass yet"
            feedback = f"The question's own check {said}" + (f":\n{tail(ran.output)}" if ran.output.strip() else ".")
        return Verdict(task_id=self.task_id, chosen=(text,), correct=False, points=0.0, max_points=self.points,
                       raw_points=0.0, show_guidance=self.shows_guidance(attempt, False, None),
                       attempt=attempt, feedback=feedback, note=note, by_person=True)


def free_text_from_json(raw: Any, *, origin: str, positions: Positions | None = None) -> FreeText:
    r, src, fields = task_fields(raw, origin=origin, positions=positions)
    rubric = []
    for item in src.get("rubrics") or src.get("rubric") or []:
        if isinstance(item, dict):
            text = item.get("message") or item.get("label") or item.get("description") or ""
            if str(text).strip():
                rubric.append(str(text).strip())
        elif isinstance(item, str) and item.strip():
            rubric.append(item.strip())
    timeout = src.get("timeoutSeconds", DEFAULT_TIMEOUT)
    return FreeText(**fields, preview=str(src.get("previewType") or "plaintext"), command=str(src.get("command") or ""),
                    timeout=float(timeout) if isinstance(timeout, (int, float)) and timeout > 0 else DEFAULT_TIMEOUT,
                    rubric=tuple(rubric))
