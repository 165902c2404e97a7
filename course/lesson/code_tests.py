"""Codio's code tests: run the guide's command on the learner's code and judge what it does.

Two types, as Codio has them:

- `code-output-compare` (Codio's "standard code test"): for each case of `"sequence"`, run `"command"`
  with the case's `"arguments"` and `"input"` on standard input, and compare what it prints with the
  case's `"output"` under the question's `"options"`: `ignoreCase`, `ignoreWhitespaces` (every space,
  tab and line break left out of both sides), `ignoreNewline` (line breaks left out), `matchSubstring`
  (the expected text anywhere in the output). Without options the two must be equal, line endings and
  trailing line breaks aside. A `"preExecuteCommand"` (a compile step) runs first; when it fails, the
  case fails. All cases passing earns the points; with partial points allowed, each case its share.
- `test` (Codio's "advanced code test"): run `"command"`; it passes when it exits with 0, and what it
  prints is the feedback.

Commands run with the shell in the guide's workspace (the folder holding `.guides`, which is where
Codio runs them), with the question's timeout.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .codio_json import Positions, task_fields
from .wording import for_people
from .task import Task
from .verdict import Verdict

DEFAULT_TIMEOUT = 30.0
MAX_SHOWN = 2000


@dataclass(frozen=True)
class Case:
    arguments: str = ""
    input: str = ""
    output: str = ""
    feedback: str = ""
    show_feedback: bool = False


@dataclass(frozen=True)
class Ran:
    """One run of a command: what it printed and how it ended."""

    command: str
    exit_code: int | None  # None: stopped at the timeout
    output: str
    seconds: float

    @property
    def timed_out(self) -> bool:
        return self.exit_code is None


def run_command(command: str, workspace: Path, *, stdin: str = "", timeout: float = DEFAULT_TIMEOUT,
                env: dict[str, str] | None = None) -> Ran:
    """Run `command` with the shell in `workspace`; its output and errors together, as a terminal shows them."""
    started = time.monotonic()
    full_env = {**os.environ, **(env or {})}
    shell = ["/bin/bash", "-c", command] if os.path.exists("/bin/bash") else None
    try:
        done = subprocess.run(shell or command, shell=shell is None, cwd=workspace, input=stdin.encode(),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, env=full_env,
                              start_new_session=sys.platform != "win32")
        code: int | None = done.returncode
        output = done.stdout
    except subprocess.TimeoutExpired as exc:
        code, output = None, exc.stdout or b""
    return Ran(command, code, output.decode("utf-8", "replace"), time.monotonic() - started)


# Runs (command, standard input, timeout): here `run_command` in a workspace; the grader's runs it in its box.
Runner = Callable[[str, str, float], Ran]


def local_runner(workspace: Path) -> Runner:
    return lambda command, stdin, timeout: run_command(command, workspace, stdin=stdin, timeout=timeout)


def tail(text: str) -> str:
    """The end of a command's output, as much as a person reads."""
    text = text.rstrip()
    return text if len(text) <= MAX_SHOWN else "…" + text[-MAX_SHOWN:]


@dataclass(frozen=True)
class CommandTest(Task):
    """What both code tests share: the answer is what a run of the guide's command finds, and an earlier run's
    saved outcome ("2 of 3 cases passed", "passed") is read back rather than run again."""

    answered_by_running = True
    answer_readable = False  # what a run found, not what the learner wrote

    def recorded(self, saved: list[str], *, attempt: int) -> Verdict:
        said = saved[0] if saved else ""
        match = re.match(r"(\d+) of (\d+) cases passed", said)
        correct = said == "passed" or bool(match and match.group(1) == match.group(2) != "0")
        return Verdict(task_id=self.task_id, chosen=tuple(saved), correct=correct,
                       points=self.points if correct else 0.0, max_points=self.points,
                       raw_points=self.points if correct else 0.0,
                       show_guidance=self.shows_guidance(attempt, correct, 100.0 if correct else 0.0),
                       attempt=attempt, note=f"Last run: {said or 'no result'}.")


@dataclass(frozen=True)
class OutputCompare(CommandTest):
    command: str = ""
    pre_command: str = ""
    cases: tuple[Case, ...] = ()
    ignore_case: bool = False
    ignore_whitespace: bool = False
    ignore_newline: bool = False
    substring: bool = False
    timeout: float = DEFAULT_TIMEOUT
    show_expected: bool = True

    def for_grader(self) -> OutputCompare:
        """A case's expected output is the guide's: the grader's feedback says which case failed and what the
        program printed, never what was expected."""
        return replace(self, show_expected=False)

    def options_text(self) -> str:
        said = [name for name, on in (("case ignored", self.ignore_case), ("spaces ignored", self.ignore_whitespace),
                                      ("line breaks ignored", self.ignore_newline),
                                      ("expected text may be part of the output", self.substring)) if on]
        return ", ".join(said) or "exact match"

    def _normal(self, text: str) -> str:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if self.ignore_case:
            text = text.casefold()
        if self.ignore_whitespace:
            text = re.sub(r"\s+", "", text)
        elif self.ignore_newline:
            text = text.replace("\n", "")
        return text if self.substring else text.rstrip("\n")

    def same(self, expected: str, got: str) -> bool:
        want, have = self._normal(expected), self._normal(got)
        return want in have if self.substring else want == have

    def check(self, answer: list[str], *, attempt: int = 1, workspace: Path | None = None,
              runner: Runner | None = None) -> Verdict:
        """Runs each case (the answer is what the runs find; `answer` is not read)."""
        run = runner or local_runner(workspace or Path.cwd())
        lines: list[str] = []
        passed = 0
        for number, case in enumerate(self.cases, 1):
            label = f"case {number}" + (f" (arguments: {case.arguments})" if case.arguments else "") + \
                    (f" (input: {case.input.strip()!r})" if case.input.strip() else "")
            if self.pre_command:
                pre = run(self.pre_command, "", self.timeout)
                if pre.exit_code != 0:
                    lines.append(f"{label}: failed: the preparing command `{self.pre_command}` "
                                 + ("took too long" if pre.timed_out else f"exited with {pre.exit_code}")
                                 + (f":\n{tail(pre.output)}" if pre.output.strip() else ""))
                    continue
            command = f"{self.command} {case.arguments}".strip()
            ran = run(command, case.input, self.timeout)
            if ran.timed_out:
                lines.append(f"{label}: failed: still running after {for_people(self.timeout)} s, so it was stopped")
                continue
            if self.same(case.output, ran.output):
                passed += 1
                lines.append(f"{label}: passed")
                continue
            said = f"{label}: failed"
            if case.show_feedback and case.feedback.strip():
                said += f": {case.feedback.strip()}"
            if self.show_expected:
                said += f"\n  expected: {case.output.rstrip()!r}\n  got:      {tail(ran.output).rstrip()!r}"
            lines.append(said)
        total = len(self.cases)
        correct = total > 0 and passed == total
        points = self.points if correct else (self.points * passed / total if self.partial and total else 0.0)
        summary = f"{passed} of {total} cases passed ({self.options_text()})."
        return Verdict(task_id=self.task_id, chosen=(f"{passed} of {total} cases passed",), correct=correct,
                       points=points, max_points=self.points, raw_points=points,
                       show_guidance=self.shows_guidance(attempt, correct,
                                                              100.0 * passed / total if total else 0.0),
                       attempt=attempt, feedback="\n".join(lines), note=summary)


@dataclass(frozen=True)
class CodeTest(CommandTest):
    command: str = ""
    timeout: float = DEFAULT_TIMEOUT

    def check(self, answer: list[str], *, attempt: int = 1, workspace: Path | None = None,
              runner: Runner | None = None) -> Verdict:
        """Runs the test (the answer is what the run finds; `answer` is not read)."""
        ran = (runner or local_runner(workspace or Path.cwd()))(self.command, "", self.timeout)
        correct = ran.exit_code == 0
        points = self.points if correct else 0.0
        how = ("passed" if correct else f"still running after {for_people(self.timeout)} s, so it was stopped"
               if ran.timed_out else f"failed (the test exited with {ran.exit_code})")
        return Verdict(task_id=self.task_id, chosen=("passed" if correct else "failed",), correct=correct,
                       points=points, max_points=self.points, raw_points=points,
                       show_guidance=self.shows_guidance(attempt, correct, 100.0 if correct else 0.0),
                       attempt=attempt, feedback=tail(ran.output), note=f"`{self.command}` {how}.")


def _seconds(r: Any, parent: dict[str, Any], key: str) -> float:
    value = r.number(parent, key, DEFAULT_TIMEOUT)
    return value if value > 0 else DEFAULT_TIMEOUT


def output_compare_from_json(raw: Any, *, origin: str, positions: Positions | None = None) -> OutputCompare:
    r, src, fields = task_fields(raw, origin=origin, positions=positions)
    options = r.obj(src, "options", required=False)
    cases = []
    sequence = src.get("sequence")
    if not isinstance(sequence, list) or not sequence:
        raise r.fail(src, "sequence" if "sequence" in src else None,
                     '"sequence" must list the cases to run, each {"input", "output"}.')
    for item in sequence:
        if not isinstance(item, dict):
            raise r.fail(sequence, None, 'each case of "sequence" must be an object {"input", "output"}.')
        cases.append(Case(arguments=str(item.get("arguments") or ""), input=str(item.get("input") or ""),
                          output=str(item.get("output") or ""), feedback=str(item.get("feedback") or ""),
                          show_feedback=bool(item.get("showFeedback"))))
    return OutputCompare(**fields, command=r.text(src, "command"), pre_command=str(src.get("preExecuteCommand") or ""),
                         cases=tuple(cases), ignore_case=r.flag(options, "ignoreCase", False),
                         ignore_whitespace=r.flag(options, "ignoreWhitespaces", False),
                         ignore_newline=r.flag(options, "ignoreNewline", False),
                         substring=r.flag(options, "matchSubstring", False),
                         timeout=_seconds(r, options, "timeout"),
                         show_expected=r.flag(src, "showExpectedAnswer", True))


def code_test_from_json(raw: Any, *, origin: str, positions: Positions | None = None) -> CodeTest:
    r, src, fields = task_fields(raw, origin=origin, positions=positions)
    return CodeTest(**fields, command=r.text(src, "command"), timeout=_seconds(r, src, "timeoutSeconds"))
