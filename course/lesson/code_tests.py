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
  prints is the feedback. When the assessment allows partial points (`arePartialPointsAllowed`), the test gets
  Codio's partial points URLs (`CODIO_PARTIAL_POINTS_URL`, `CODIO_PARTIAL_POINTS_V2_URL`, see
  `course.codio_env.points`): a score it sends counts, with its feedback, as long as it exits with 0.

Commands run with the shell in the guide's workspace (the folder holding `.guides`, which is where
Codio runs them), with the question's timeout, in Codio's test environment as far as this machine allows
(`course.codio_env`): Codio's helper library for tests (`lib.grade`) on PYTHONPATH, and Codio's workspace
folder, `/home/codio/workspace`, read as the workspace where this machine has none. `not_here` says why a test
cannot run on this machine (a program it needs is not installed, a script that needs Codio's folder), so that
it is listed with the reason instead of failing for everyone.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from ..codio_env import helpers_path
from ..codio_env import workspace as codio_workspace
from ..codio_env.endpoint import PointsEndpoint
from ..codio_env.points import Sent, counted
from .codio_json import Positions, task_fields
from .html_pages import html_to_markdown
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
    sent: tuple[Sent, ...] = field(default=())  # what it sent to Codio's partial points URLs, when it had them

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


class Runner(Protocol):
    """Runs (command, standard input, timeout): here `local_runner` in a workspace; the grader's runs it in its box.
    With `points`, the run gets Codio's partial points URLs, and its `Ran.sent` what the command sent to them."""

    def __call__(self, command: str, stdin: str, timeout: float, *, points: bool = False) -> Ran: ...


def local_runner(workspace: Path) -> Runner:
    """Commands run in `workspace` on this machine, in Codio's test environment as far as it allows: its helper
    library on PYTHONPATH, its workspace folder read as `workspace` where this machine has none, and, with
    `points`, a partial points endpoint of the run's own."""
    def run(command: str, stdin: str, timeout: float, *, points: bool = False) -> Ran:
        env = {"PYTHONPATH": helpers_path(os.environ.get("PYTHONPATH", ""))}
        text = command
        if not codio_workspace.here():
            text, scripts = codio_workspace.local_command(command, workspace)
            env.update(scripts)
        if not points:
            return replace(run_command(text, workspace, stdin=stdin, timeout=timeout, env=env), command=command)
        with PointsEndpoint() as endpoint:
            ran = run_command(text, workspace, stdin=stdin, timeout=timeout, env={**env, **endpoint.environment()})
            return replace(ran, command=command, sent=tuple(endpoint.sent()))

    return run


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
        share = re.fullmatch(r"earned (\d+(?:\.\d+)?) of [\d.]+ points", said)
        points = self.points if correct else min(float(share.group(1)), self.points) if share else 0.0
        return Verdict(task_id=self.task_id, chosen=tuple(saved), correct=correct,
                       points=points, max_points=self.points, raw_points=points,
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
        """Runs the test (the answer is what the run finds; `answer` is not read). It passes when it exits with 0;
        with partial points allowed, a score it sent counts instead, as on Codio (`scored`)."""
        run = runner or local_runner(workspace or Path.cwd())
        ran = run(self.command, "", self.timeout, points=True) if self.partial else run(self.command, "", self.timeout)
        points, chosen, said, feedback = self.scored(ran)
        how = (said if ran.exit_code == 0 else f"still running after {for_people(self.timeout)} s, so it was stopped"
               if ran.timed_out else f"failed (the test exited with {ran.exit_code})")
        correct = ran.exit_code == 0 and points >= self.points
        percent = 100.0 * points / self.points if self.points else 0.0
        return Verdict(task_id=self.task_id, chosen=(chosen,), correct=correct,
                       points=points, max_points=self.points, raw_points=points,
                       show_guidance=self.shows_guidance(attempt, correct, percent),
                       attempt=attempt, feedback=feedback, note=f"`{self.command}` {how}.")

    def scored(self, ran: Ran) -> tuple[float, str, str, str]:
        """(points, the outcome saved, the outcome in words, the feedback) of one run. Codio's rule: a test that
        does not exit with 0 earns nothing, whatever it sent; one that exits with 0 earns the score it sent last
        (points, or a percentage of them), or all the points when it sent none. Feedback it sent comes first."""
        sent = counted(list(ran.sent))
        refused = [s.error for s in ran.sent if s.error]
        parts = [_feedback_text(sent)] if sent is not None and sent.feedback.strip() else []
        parts += [tail(ran.output)] if ran.output.strip() else []
        parts += [f"(a score the test sent was not taken: {refused[-1]})"] if refused else []
        feedback = "\n\n".join(parts)
        if ran.exit_code != 0:
            return 0.0, "failed", "failed", feedback
        if sent is None:
            return self.points, "passed", "passed", feedback
        points = sent.points_of(self.points)
        share = 100.0 * points / self.points if self.points else 0.0
        if points >= self.points:
            return self.points, "passed", "passed (the test sent all the points)", feedback
        return (points, f"earned {for_people(points)} of {for_people(self.points)} points",
                f"sent {for_people(points)} of {for_people(self.points)} points ({for_people(share)}%)", feedback)


def _feedback_text(sent: Sent) -> str:
    """Feedback a test sent, as a person reads it here: HTML as Markdown, Markdown and text as they are."""
    text = sent.feedback.strip()
    return html_to_markdown(text).strip() if sent.format == "html" else text


# Shell words that are no program to look for on PATH.
SHELL_WORDS = {"cd", "echo", "exit", "export", "set", "unset", "true", "false", "test", "[", "[[", "source", ".",
               "if", "then", "else", "elif", "fi", "for", "while", "do", "done", "case", "esac", "in", "!", "{", "}",
               "time", "exec", "env", "printf", "read", "shift", "return", "local", "eval", "ulimit", "umask", "wait",
               "timeout", "command", "type", "trap", "pwd", "let", "declare", "alias", "function"}
OTHER_CODIO = re.compile(r"\bCODIO_(?!PARTIAL_POINTS_(?:V2_)?URL\b)[A-Z0-9_]+\b"
                         r"|/usr/share/codio/(?!assessments\b)[\w.-]+")


def programs(command: str) -> list[str]:
    """The programs a command starts, as its simple commands name them (`javac`, `java`; not `cd` or a path). Words
    are read as the shell reads them: a quoted argument (`python3 -c 'import sys; print(sys.path)'`) is one word,
    never a command of its own."""
    try:
        return _programs_of(_shell_words(command))
    except ValueError:  # quotes left open: the shell would refuse it too; read it split at the operators
        words = [w for part in re.split(r"(&&|\|\||[;|\n(`]|\$\()", command) for w in (part.split() or [part])]
        return _programs_of(words)


def _shell_words(command: str) -> list[str]:
    """The command's words and operators, quotes read as the shell reads them; a line break and a backquote
    separate commands as `;` does."""
    lexer = shlex.shlex(command.replace("\n", " ; ").replace("`", " ; "), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    return list(lexer)


OPERATORS = re.compile(r"[;&|()]+|\$\(|\n")
REDIRECTS = re.compile(r"\d*[<>]+&?")


def _programs_of(words: list[str]) -> list[str]:
    found: list[str] = []
    simple: list[str] = []
    for word in [*words, ";"]:
        if OPERATORS.fullmatch(word):
            program = _program(simple)
            if program and program not in found:
                found.append(program)
            simple = []
        else:
            simple.append(word)
    return found


def _program(words: list[str]) -> str:
    """The program one simple command starts ("" for none: a shell word, a path, a variable)."""
    kept: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
        elif REDIRECTS.fullmatch(word):
            skip = True  # its file follows
        elif not re.fullmatch(r"\d*[<>].*", word) and not (not kept and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", word)):
            kept.append(word)
    while kept and kept[0] in ("env", "time", "exec", "command", "timeout", "nice", "xvfb-run"):
        kept = kept[1:]
        while kept and (kept[0].startswith("-") or re.fullmatch(r"[\d.]+[smhd]?", kept[0])
                        or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", kept[0])):
            kept = kept[1:]
    if kept and kept[0] not in SHELL_WORDS and not re.search(r"[/$]", kept[0]):
        return kept[0]
    return ""


def not_here(task: Any, workspace: Path) -> str:
    """Why a code test cannot run on this machine ("" when it can): a program its command starts that is not on
    PATH, a script that needs Codio's workspace folder and cannot be run with the path changed, or something of
    Codio's own machines (another CODIO_ variable, another folder of /usr/share/codio)."""
    commands = [c for c in (getattr(task, "pre_command", ""), getattr(task, "command", "")) if c]
    missing = [p for c in commands for p in programs(c) if shutil.which(p) is None]
    if missing:
        names = ", ".join(f"`{p}`" for p in dict.fromkeys(missing))
        return (f"it runs {names}, which this machine does not have on its PATH (install it, then run it again)")
    if not codio_workspace.here():
        for command in commands:
            script = codio_workspace.unchangeable(command, workspace)
            if script:
                return (f"its script {script} uses Codio's workspace folder {codio_workspace.CODIO_WORKSPACE}, which "
                        f"this machine lacks, and it is not run by bash or Python, whose scripts are read with the real "
                        f"folder; make that folder a link to {workspace} (needs root), or grade it with `grader "
                        f"guide`, whose box has it")
    for command in commands:
        for text in (command, *_scripts_text(command, workspace)):
            other = OTHER_CODIO.search(text)
            if other:
                return f"it uses {other.group(0)}, which only Codio's own machines provide"
    return ""


def _scripts_text(command: str, workspace: Path) -> list[str]:
    """The text of the files in the workspace a command names (its test scripts), each at most 1 MB."""
    try:
        words = shlex.split(command, comments=False)
    except ValueError:
        words = command.split()
    texts = []
    for word in words:
        file = workspace / word
        try:
            if "\0" not in word and file.is_file() and file.stat().st_size <= 1_000_000:
                texts.append(file.read_text(encoding="utf-8", errors="replace"))
        except (OSError, ValueError):
            continue
    return texts


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
